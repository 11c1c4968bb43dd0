"""WeCom contacts from the command line (the services of the admin and the API).

Usage::

    python manage.py wechat_wecom_contacts sync --account NAME            # departments, members, tags
    python manage.py wechat_wecom_contacts tree --account NAME
    python manage.py wechat_wecom_contacts department-create --account NAME Sales [--parent 1] [--order N]
    python manage.py wechat_wecom_contacts department-update --account NAME 2 [--name N] [--parent P] [--order N]
    python manage.py wechat_wecom_contacts department-delete --account NAME 2
    python manage.py wechat_wecom_contacts member-create --account NAME zhangsan "Zhang San" --departments 1 2 \
        [--mobile M] [--email E] [--position P]
    python manage.py wechat_wecom_contacts member-update --account NAME zhangsan [--name N] [--departments ...] ...
    python manage.py wechat_wecom_contacts member-delete --account NAME zhangsan
    python manage.py wechat_wecom_contacts members --account NAME [--department 2] [--search TEXT]
    python manage.py wechat_wecom_contacts tag-create --account NAME Managers
    python manage.py wechat_wecom_contacts tag-rename --account NAME Managers Leads
    python manage.py wechat_wecom_contacts tag-delete --account NAME Leads
    python manage.py wechat_wecom_contacts tag-add --account NAME Leads zhangsan lisi [--departments 2]
    python manage.py wechat_wecom_contacts tag-remove --account NAME Leads zhangsan
"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from ...client import WeChatAPIError
from ...models import WeComDepartment, WeComMember, WeComTag
from ...services import wecom_contacts as service
from .wechat_mass import _account, _error

MEMBER_OPTIONS = ("name", "mobile", "email", "position", "alias", "telephone")


class Command(BaseCommand):
    help = "Sync WeCom contacts; create, change and delete departments, members and tags; tag members."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="command", required=True)
        commands = {}
        for name in ("sync", "tree", "members", "department-create", "department-update", "department-delete",
                     "member-create", "member-update", "member-delete", "tag-create", "tag-rename", "tag-delete",
                     "tag-add", "tag-remove"):
            commands[name] = p = sub.add_parser(name)
            p.add_argument("--account", required=True)
        commands["members"].add_argument("--department", type=int)
        commands["members"].add_argument("--search")
        commands["department-create"].add_argument("name")
        commands["department-create"].add_argument("--parent", type=int, default=1)
        commands["department-create"].add_argument("--order", type=int)
        for name in ("department-update", "department-delete"):
            commands[name].add_argument("department_id", type=int)
        commands["department-update"].add_argument("--name")
        commands["department-update"].add_argument("--parent", type=int)
        commands["department-update"].add_argument("--order", type=int)
        for name in ("member-create", "member-update", "member-delete"):
            commands[name].add_argument("userid")
        commands["member-create"].add_argument("member_name")
        for name in ("member-create", "member-update"):
            commands[name].add_argument("--departments", type=int, nargs="+")
            for option in MEMBER_OPTIONS:
                if not (name == "member-create" and option == "name"):
                    commands[name].add_argument(f"--{option}")
        for name in ("tag-create", "tag-rename", "tag-delete", "tag-add", "tag-remove"):
            commands[name].add_argument("tag", help="The tag's name (tag-create: the new one).")
        commands["tag-rename"].add_argument("new_name")
        for name in ("tag-add", "tag-remove"):
            commands[name].add_argument("userids", nargs="*")
            commands[name].add_argument("--departments", type=int, nargs="+")

    def handle(self, *args, command, account, **options):
        account = _account(account)
        if account.channel != "wecom":
            raise CommandError(f"{account.name} is not a WeCom app: contacts are WeCom's.")
        try:
            getattr(self, "_" + command.replace("-", "_"))(account, **options)
        except (ValidationError, WeChatAPIError) as err:
            raise CommandError(_error(err).replace("WeChat refused", "WeCom refused")) from err

    def _ok(self, text):
        self.stdout.write(self.style.SUCCESS(text))

    def _sync(self, account, **options):
        def progress(done, total):
            if total and (done == total or done % 1000 == 0):
                self.stdout.write(f"  {done}/{total}")

        result = service.sync_contacts(account, progress=progress)
        self._ok(f"{account.name}: {result['departments']} department(s), {result['members']} member(s), "
                 f"{result['tags']} tag(s) synced.")

    def _tree(self, account, **options):
        for row in service.department_tree(account):
            department = row["department"]
            self.stdout.write(f"{'  ' * row['depth']}{department.name} ({department.department_id}): "
                              f"{row['members']} member(s)")

    def _members(self, account, department=None, search=None, **options):
        members = WeComMember.objects.filter(account=account)
        if department is not None:
            members = service.members_in_department(members, department)
        if search:
            members = members.filter(Q(userid__icontains=search) | Q(name__icontains=search))
        for member in members.order_by("userid"):
            self.stdout.write(f"{member.userid}  {member.name}  {','.join(map(str, member.departments))}")

    def _department(self, account, department_id):
        department = WeComDepartment.objects.filter(account=account, department_id=department_id).first()
        if department is None:
            raise CommandError(f"No department {department_id} in {account.name} (sync first).")
        return department

    def _department_create(self, account, name, parent, order, **options):
        department = service.create_department(account, name, parent, order)
        self._ok(f"Department {department.name} created ({department.department_id}).")

    def _department_update(self, account, department_id, name=None, parent=None, order=None, **options):
        department = service.update_department(self._department(account, department_id), name=name,
                                               parent_id=parent, order=order)
        self._ok(f"Department {department.department_id} updated.")

    def _department_delete(self, account, department_id, **options):
        service.delete_department(self._department(account, department_id))
        self._ok(f"Department {department_id} deleted.")

    def _member_fields(self, options):
        data = {k: options[k] for k in MEMBER_OPTIONS if options.get(k) is not None}
        if options.get("departments"):
            data["departments"] = options["departments"]
        return data

    def _member(self, account, userid):
        member = WeComMember.objects.filter(account=account, userid=userid).first()
        if member is None:
            raise CommandError(f"No member {userid!r} in {account.name} (sync first).")
        return member

    def _member_create(self, account, userid, member_name, **options):
        member = service.create_member(account, {"userid": userid, "name": member_name,
                                                 **self._member_fields(options)})
        self._ok(f"Member {member} created.")

    def _member_update(self, account, userid, **options):
        member = service.update_member(self._member(account, userid), self._member_fields(options))
        self._ok(f"Member {member} updated.")

    def _member_delete(self, account, userid, **options):
        service.delete_member(self._member(account, userid))
        self._ok(f"Member {userid} deleted.")

    def _tag(self, account, name):
        tag = WeComTag.objects.filter(account=account, name=name).first()
        if tag is None:
            raise CommandError(f"No WeCom tag {name!r} in {account.name} (sync first).")
        return tag

    def _tag_create(self, account, tag, **options):
        created = service.create_tag(account, tag)
        self._ok(f"Tag {created.name} created ({created.tag_id}).")

    def _tag_rename(self, account, tag, new_name, **options):
        service.rename_tag(self._tag(account, tag), new_name)
        self._ok(f"Tag {tag} renamed {new_name}.")

    def _tag_delete(self, account, tag, **options):
        service.delete_tag(self._tag(account, tag))
        self._ok(f"Tag {tag} deleted.")

    def _members_change(self, account, tag, userids, departments, add):
        result = service.change_tag_members(self._tag(account, tag), userids, departments or [], add=add)
        self._ok(f"{result['changed_users']} member(s), {result['changed_departments']} department(s) "
                 f"{'tagged' if add else 'untagged'}.")
        if result["invalid_users"] or result["invalid_parties"]:
            self.stdout.write(self.style.WARNING(
                f"WeCom does not know: {', '.join(result['invalid_users'] + list(map(str, result['invalid_parties'])))}"))

    def _tag_add(self, account, tag, userids, departments=None, **options):
        self._members_change(account, tag, userids, departments, True)

    def _tag_remove(self, account, tag, userids, departments=None, **options):
        self._members_change(account, tag, userids, departments, False)
