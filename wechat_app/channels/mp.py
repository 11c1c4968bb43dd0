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

    # file kinds -> (temporary media type, customer-service message kind); WeChat has no
    # customer-service message for other files.
    FILE_KINDS = {"image": "image", "voice": "voice", "video": "video"}

    def send_file(self, account, to_user, file, *, context_token="", idempotency_key=None):
        """Upload ``file`` as temporary media (/cgi-bin/media/upload), then queue the
        customer-service message of its kind carrying the media id."""
        from ..client import WeChatAPIError
        from ..services.outbound import queue_custom
        from ..services.tokens import get_client
        from .base import ChannelError

        kind = self.FILE_KINDS.get(file.kind)
        if kind is None:
            raise ChannelError("Official Accounts cannot send files of this kind (WeChat's customer-service "
                               "messages carry images, voice and video only); send a link as text instead")
        try:
            uploaded = get_client(account).media.upload(kind, (file.name, file.data))
        except WeChatAPIError as err:
            raise ChannelError(f"WeChat refused the {kind} upload: {err}") from None
        media_id = uploaded.get("media_id") if isinstance(uploaded, dict) else None
        if not media_id:
            raise ChannelError(f"WeChat answered the {kind} upload without a media id")
        return queue_custom(account, to_user, kind, {"media_id": media_id}, idempotency_key=idempotency_key)

    def typing(self, account, to_user, *, on, context_token=""):
        """The customer-service typing indicator (/cgi-bin/message/custom/typing)."""
        from ..client import WeChatAPIError
        from ..services.tokens import get_client
        from .base import ChannelError

        try:
            get_client(account).message.custom.typing(to_user, on=on)
        except WeChatAPIError as err:
            raise ChannelError(f"WeChat refused the typing indicator: {err}") from None
