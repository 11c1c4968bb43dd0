"""Follower tags and the blacklist from the command line (the services of the admin and the API).

Usage::

    python manage.py wechat_tags sync --account NAME          # tags and the blacklist from WeChat
    python manage.py wechat_tags list --account NAME
    python manage.py wechat_tags create --account NAME VIP
    python manage.py wechat_tags rename --account NAME VIP Gold
    python manage.py wechat_tags delete --account NAME Gold
    python manage.py wechat_tags tag --account NAME VIP OPENID [OPENID ...]     # 50 a call to WeChat
    python manage.py wechat_tags untag --account NAME VIP OPENID [OPENID ...]
"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ...client import WeChatAPIError
from ...models import Tag
from ...services import audience
from .wechat_mass import _account, _error


class Command(BaseCommand):
    help = "Sync, list, create, rename and delete follower tags; tag and untag followers."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="command", required=True)
        for name in ("sync", "list", "create", "rename", "delete", "tag", "untag"):
            p = sub.add_parser(name)
            p.add_argument("--account", required=True)
            if name in ("create", "rename", "delete", "tag", "untag"):
                p.add_argument("tag", help="The tag's name (create: the new name).")
            if name == "rename":
                p.add_argument("new_name")
            if name in ("tag", "untag"):
                p.add_argument("openids", nargs="+")

    def handle(self, *args, command, account, **options):
        account = _account(account)
        try:
            getattr(self, f"_{command}")(account, **options)
        except (ValidationError, WeChatAPIError) as err:
            raise CommandError(_error(err)) from err

    def _find(self, account, name):
        tag = Tag.objects.filter(account=account, name=name).first()
        if tag is None:
            raise CommandError(f"No tag {name!r} in {account.name} (wechat_tags sync, then wechat_tags list).")
        return tag

    def _sync(self, account, **options):
        result = audience.sync_tags(account)
        blacklisted = audience.sync_blacklist(account)
        self.stdout.write(self.style.SUCCESS(f"{account.name}: {result['synced']} tag(s) synced, {result['removed']} "
                                             f"gone from WeChat; {blacklisted} follower(s) blacklisted."))

    def _list(self, account, **options):
        for tag in Tag.objects.filter(account=account).order_by("name"):
            self.stdout.write(f"{tag.tag_id:>6}  {tag.name}  ({tag.count} followers)")

    def _create(self, account, tag, **options):
        created = audience.create_tag(account, tag)
        self.stdout.write(self.style.SUCCESS(f"Created tag {created.name!r} (id {created.tag_id})."))

    def _rename(self, account, tag, new_name, **options):
        audience.rename_tag(self._find(account, tag), new_name)
        self.stdout.write(self.style.SUCCESS(f"Renamed {tag!r} to {new_name!r}."))

    def _delete(self, account, tag, **options):
        untagged = audience.delete_tag(self._find(account, tag))
        extra = f" ({untagged} followers untagged first)" if untagged else ""
        self.stdout.write(self.style.SUCCESS(f"Deleted tag {tag!r}{extra}."))

    def _tag(self, account, tag, openids, **options):
        self._report(audience.tag_followers(self._find(account, tag), openids), "Tagged")

    def _untag(self, account, tag, openids, **options):
        self._report(audience.untag_followers(self._find(account, tag), openids), "Untagged")

    def _report(self, result, verb):
        style = self.style.WARNING if result.failed else self.style.SUCCESS
        self.stdout.write(style(f"{verb} {result.summary()}."))
        if result.failed and not result.done:
            raise CommandError("WeChat refused every batch.")
