"""Official Accounts: replies outside the passive answer go out as customer-service messages."""
from .base import Channel, register


@register
class OfficialAccountChannel(Channel):
    code = "mp"
    receives = "callback"

    def send_reply(self, account, to_user, reply, *, context_token="", idempotency_key=None):
        from ..services.outbound import send_reply_later

        return send_reply_later(account, to_user, reply, idempotency_key=idempotency_key)

    def send_text(self, account, to_user, text, *, context_token="", idempotency_key=None):
        from ..services.outbound import queue_custom

        return queue_custom(account, to_user, "text", {"content": text}, idempotency_key=idempotency_key)
