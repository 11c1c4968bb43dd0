"""Queue a customer-service or template message to one user.

Usage::

    python manage.py wechat_push text "Hello" --account demo --to OPENID
    python manage.py wechat_push image MEDIA_ID --account demo --to OPENID
    python manage.py wechat_push template TEMPLATE_ID --data first=Hi --data keyword1=A1 \\
        [--url https://...] --account demo --to OPENID

For a WeCom app the message is an app message (docs/wecom.md): ``--to`` takes userids separated
by "|" (or @all), ``--party`` and ``--tag`` department and tag ids; the kinds are text, markdown,
image, voice, video and file (a media id)::

    python manage.py wechat_push markdown "**Build** passed" --account hr --to "zhangsan|lisi" --party 2

Without a worker the message is delivered here: the command exits with an error when WeChat
refuses it. With workers it is queued and they deliver it (see the admin's Outbound messages).
Template ids come from ``manage.py wechat_sync templates --account NAME``.
"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ...models import Account, OutboundMessage
from ...services import outbound

MEDIA_KINDS = ("image", "voice", "mpnews")
WECOM_KINDS = ("text", "markdown", "image", "voice", "video", "file")


class Command(BaseCommand):
    help = ("Queue a customer-service (text, image, voice, mpnews) or template message to one user; for a WeCom "
            "app, an app message (text, markdown, image, voice, video, file) to members, departments and tags.")

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted({"text", *MEDIA_KINDS, "template", *WECOM_KINDS}))
        parser.add_argument("value", help="The text, the media id, or the template id.")
        parser.add_argument("--account", required=True)
        parser.add_argument("--to", default="", metavar="OPENID",
                            help="The openid; for a WeCom app userids separated by | (or @all).")
        parser.add_argument("--party", default="", help="WeCom apps: department ids separated by |.")
        parser.add_argument("--tag", default="", help="WeCom apps: tag ids separated by |.")
        parser.add_argument("--data", action="append", default=[], metavar="NAME=VALUE",
                            help="template: a keyword value (repeatable); NAME=VALUE#RRGGBB sets a color.")
        parser.add_argument("--url", default=None, help="template: the link.")
        parser.add_argument("--key", default=None, help="Idempotency key (the same key never sends twice).")

    def handle(self, *args, kind, value, account, to, data, url, key, party="", tag="", **options):
        try:
            acc = Account.objects.get(name=account)
        except Account.DoesNotExist:
            raise CommandError(f"No account named {account!r}.") from None
        if acc.channel != "wecom" and not to:
            raise CommandError("--to OPENID is required.")
        if acc.channel != "wecom" and kind not in ("text", *MEDIA_KINDS, "template"):
            raise CommandError(f"{kind} messages are sent by WeCom apps only.")
        try:
            if acc.channel == "wecom":
                from ...services.wecom import queue_app_message

                if kind not in WECOM_KINDS:
                    raise CommandError(f"A WeCom app sends {', '.join(WECOM_KINDS)} messages (not {kind}).")
                content = {"content": value} if kind in ("text", "markdown") else {"media_id": value}
                message = queue_app_message(acc, kind, content, touser=to or None, toparty=party or None,
                                            totag=tag or None, idempotency_key=key)
            elif kind == "template":
                message = outbound.queue_template(acc, to, value, self._parse_data(data), url=url,
                                                  idempotency_key=key)
            elif kind == "text":
                message = outbound.queue_custom(acc, to, "text", {"content": value}, idempotency_key=key)
            else:
                message = outbound.queue_custom(acc, to, kind, {"media_id": value}, idempotency_key=key)
        except ValidationError as err:
            raise CommandError("; ".join(err.messages)) from err
        message.refresh_from_db()
        line = f"message {message.pk} ({message.get_kind_display()} to {message.to_user}): {message.status}"
        if message.status == OutboundMessage.Status.SENT:
            self.stdout.write(self.style.SUCCESS(line))
        elif message.errcode:
            # Delivered here (no worker) and WeChat said no: a script must see it in the exit status.
            retry = (f"; retried from {message.next_attempt_at:%Y-%m-%d %H:%M:%S} by the delivery sweeper"
                     if message.status == OutboundMessage.Status.QUEUED and message.next_attempt_at else "")
            raise CommandError(f"WeChat refused {line}: errcode {message.errcode}: {message.errmsg}{retry}")
        else:
            self.stdout.write(self.style.SUCCESS(line + " (a worker delivers it)"))

    @staticmethod
    def _parse_data(items):
        data = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise CommandError(f"--data expects NAME=VALUE, got {item!r}.")
            if "#" in value and len(value.rsplit("#", 1)[1]) == 6:
                text, color = value.rsplit("#", 1)
                data[name] = {"value": text, "color": "#" + color}
            else:
                data[name] = value
        return data
