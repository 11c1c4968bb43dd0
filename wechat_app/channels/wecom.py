"""WeCom apps: replies, text and files go out as app messages (应用消息) to the member."""
from .base import Channel, ChannelError, register


@register
class WeComAppChannel(Channel):
    code = "wecom"
    receives = "callback"

    def send_reply(self, account, to_user, reply, *, context_token="", idempotency_key=None):
        from ..services.wecom import send_reply_later

        return send_reply_later(account, to_user, reply, idempotency_key=idempotency_key)

    def send_text(self, account, to_user, text, *, context_token="", idempotency_key=None):
        from ..services.wecom import queue_app_message

        return queue_app_message(account, "text", {"content": text}, touser=[to_user], idempotency_key=idempotency_key)

    def send_file(self, account, to_user, file, *, context_token="", idempotency_key=None):
        from ..services.wecom import send_file

        if file.kind not in ("image", "voice", "video", "file"):
            raise ChannelError(f"WeCom apps cannot send {file.kind} files")
        return send_file(account, to_user, file.kind, file.name, file.data, idempotency_key=idempotency_key)
