"""Mass send (群发) from the command line, through the same services as the admin and the API.

Usage::

    python manage.py wechat_mass send --account NAME --name "Spring sale" --tag VIP --text "20% off"
    python manage.py wechat_mass send --account NAME --name News --all --kind mpnews --media-id MEDIA_ID
    python manage.py wechat_mass send --account NAME --name Test --openid o1 --openid o2 --text Hi --draft
    python manage.py wechat_mass preview ID --openid OPENID
    python manage.py wechat_mass status [ID] [--refresh]
    python manage.py wechat_mass quota --account NAME

``send`` saves the message and sends it (``--draft``: only saves it); beyond the account's quota
(subscription accounts: 1 a day; service accounts: 4 a month) it is refused before WeChat is
called. The send runs in a worker, or here when there is none.
"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ...client import WeChatAPIError
from ...models import Account, MassMessage, Tag
from ...services import mass as mass_service


def _account(name):
    try:
        return Account.objects.get(name=name)
    except Account.DoesNotExist:
        names = ", ".join(Account.objects.order_by("name").values_list("name", flat=True)) or "none"
        raise CommandError(f"No account named {name!r} (known: {names}).") from None


def _error(err) -> str:
    if isinstance(err, ValidationError):
        if hasattr(err, "error_dict"):
            return "; ".join(f"{k}: {' '.join(v)}" for k, v in err.message_dict.items())
        return " ".join(err.messages)
    return f"WeChat refused: {err}"


class Command(BaseCommand):
    help = "Send, preview and follow mass messages (群发)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="command", required=True)
        send = sub.add_parser("send", help="Save a mass message and send it.")
        send.add_argument("--account", required=True)
        send.add_argument("--name", required=True, help="A name for you (followers do not see it).")
        audience = send.add_mutually_exclusive_group(required=True)
        audience.add_argument("--all", action="store_true", help="All followers.")
        audience.add_argument("--tag", help="A tag's name or WeChat id (sync the tags first: wechat_tags sync).")
        audience.add_argument("--openid", action="append", help="A recipient (repeat: 2 to 10,000).")
        send.add_argument("--kind", choices=MassMessage.Kind.values, default="text")
        send.add_argument("--text", help="kind text: the message.")
        send.add_argument("--media-id", action="append", help="voice, mpvideo, mpnews (image: repeat up to 8).")
        send.add_argument("--card-id", help="kind wxcard.")
        send.add_argument("--ignore-reprint", action="store_true",
                          help="mpnews: send even when WeChat judges an article a reprint.")
        send.add_argument("--draft", action="store_true", help="Only save it (send it later).")
        preview = sub.add_parser("preview", help="Send a saved mass message to one follower.")
        preview.add_argument("id", type=int)
        preview.add_argument("--openid", required=True)
        status = sub.add_parser("status", help="Recent mass messages, or one (--refresh: ask WeChat).")
        status.add_argument("id", type=int, nargs="?")
        status.add_argument("--account")
        status.add_argument("--refresh", action="store_true")
        quota = sub.add_parser("quota", help="The account's quota and its use.")
        quota.add_argument("--account", required=True)

    def handle(self, *args, command, **options):
        try:
            getattr(self, f"_{command}")(**options)
        except (ValidationError, WeChatAPIError) as err:
            raise CommandError(_error(err)) from err

    def _tag(self, account, value):
        tags = Tag.objects.filter(account=account)
        tag = tags.filter(name=value).first() or (tags.filter(tag_id=int(value)).first() if value.isdigit() else None)
        if tag is None:
            known = ", ".join(tags.values_list("name", flat=True)) or "none: run wechat_tags sync"
            raise CommandError(f"No tag {value!r} in {account.name} (known: {known}).")
        return tag

    def _send(self, *, account, name, all, tag, openid, kind, text, media_id, card_id, ignore_reprint, draft,
              **options):
        account = _account(account)
        media = media_id or []
        content = ({"content": text or ""} if kind == "text" else {"media_ids": media} if kind == "image"
                   else {"card_id": card_id or ""} if kind == "wxcard" else {"media_id": media[0] if media else ""})
        audience = "all" if all else "tag" if tag else "list"
        mass = mass_service.create_mass(account, name=name, kind=kind, content=content, audience=audience,
                                        tag=self._tag(account, tag) if tag else None, openids=openid,
                                        send_ignore_reprint=ignore_reprint)
        if draft:
            self.stdout.write(self.style.SUCCESS(f"Saved draft #{mass.pk}. Preview: wechat_mass preview {mass.pk} "
                                                 f"--openid OPENID"))
            return
        mass_service.queue_mass(mass)
        mass.refresh_from_db()
        self._show(mass)

    def _preview(self, *, id, openid, **options):
        mass = self._get(id)
        msg_id = mass_service.preview_mass(mass, openid)
        self.stdout.write(self.style.SUCCESS(f"Preview of #{mass.pk} sent to {openid} (msg_id {msg_id})."))

    def _get(self, pk):
        try:
            return MassMessage.objects.select_related("account").get(pk=pk)
        except MassMessage.DoesNotExist:
            raise CommandError(f"No mass message #{pk}.") from None

    def _status(self, *, id, account, refresh, **options):
        if id is not None:
            mass = self._get(id)
            if refresh:
                mass = mass_service.refresh_status(mass)
            self._show(mass)
            return
        masses = MassMessage.objects.select_related("account").order_by("-created_at", "-id")
        if account:
            masses = masses.filter(account=_account(account))
        for mass in masses[:20]:
            self._show(mass)

    def _show(self, mass):
        line = f"#{mass.pk} {mass.account.name} {mass.name!r}: {mass.status}"
        if mass.msg_id:
            line += f", msg_id {mass.msg_id}"
        if mass.wechat_status:
            line += f", WeChat: {mass.wechat_status}"
        if mass.total_count is not None:
            line += (f", sent {mass.sent_count} of {mass.total_count} (after filtering {mass.filter_count}, "
                     f"errors {mass.error_count})")
        if mass.errmsg:
            line += f" — {mass.errmsg}"
        style = self.style.ERROR if mass.status == MassMessage.Status.FAILED else self.style.SUCCESS
        self.stdout.write(style(line))

    def _quota(self, *, account, **options):
        account = _account(account)
        q = mass_service.quota(account)
        self.stdout.write(f"{account.name} ({account.get_kind_display()}): {q.describe()}; {q.left} left.")
