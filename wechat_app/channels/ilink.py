"""iLink bots (personal WeChat): messages come by polling; everything goes out with ``sendmessage``,
echoing the conversation's context token; files through ``getuploadurl`` and the CDN (AES-128-ECB);
typing through ``getconfig`` + ``sendtyping``."""
from __future__ import annotations

import hashlib

from .base import Channel, ChannelError, OutgoingFile, register

# What the sandbox and iLink accept per item: the kinds of OutgoingFile.
FILE_KINDS = ("image", "video", "voice", "file")


def _client(account):
    from ..services.ilink import ILinkError, bot_client, get_bot

    try:
        bot = get_bot(account)
        if bot.status == bot.Status.EXPIRED:
            raise ChannelError(f"the session of {account.name} expired: log in again")
        return bot_client(bot)
    except ILinkError as err:
        raise ChannelError(str(err)) from None


def _client_id(idempotency_key: str | None) -> str | None:
    # The same key gives the same client id: a resend is recognisably the same message.
    if not idempotency_key:
        return None
    return hashlib.sha1(idempotency_key.encode()).hexdigest()[:32]


def _call(account, func, *args, **kwargs):
    from ..client.errors import WeChatAPIError
    from ..client.ilink import ILinkSessionExpired
    from ..services.ilink import get_bot, mark_expired

    try:
        return func(*args, **kwargs)
    except ILinkSessionExpired as err:
        mark_expired(get_bot(account), str(err))
        raise ChannelError(f"session timeout (-14): {err}") from None
    except WeChatAPIError as err:
        raise ChannelError(str(err)) from None


@register
class ILinkChannel(Channel):
    code = "ilink"
    receives = "polling"

    def send_text(self, account, to_user, text, *, context_token="", idempotency_key=None):
        if not text:
            raise ChannelError("empty text")
        client = _client(account)
        return _call(account, client.send_text, to_user, text, context_token=context_token,
                     client_id=_client_id(idempotency_key))

    def send_file(self, account, to_user, file: OutgoingFile, *, context_token="", idempotency_key=None):
        if file.kind not in FILE_KINDS:
            raise ChannelError(f"iLink sends image, video, voice or file, not {file.kind!r}")
        if not file.data:
            raise ChannelError("the file is empty")
        client = _client(account)
        uploaded = _call(account, client.upload, file.kind, file.data, to_user, file_name=file.name)
        return _call(account, client.sendmessage, to_user, uploaded.item(), context_token=context_token,
                     client_id=_client_id(idempotency_key))

    def send_reply(self, account, to_user, reply, *, context_token="", idempotency_key=None):
        kind = getattr(reply, "type", "")
        if kind == "text":
            return self.send_text(account, to_user, reply.content, context_token=context_token,
                                  idempotency_key=idempotency_key)
        if kind in ("image", "voice", "video"):
            return self.send_file(account, to_user, _material_file(kind, reply.media_id),
                                  context_token=context_token, idempotency_key=idempotency_key)
        if kind == "news":
            lines = [f"{a.title}\n{a.url}".strip() for a in reply.articles]
            return self.send_text(account, to_user, "\n\n".join(lines), context_token=context_token,
                                  idempotency_key=idempotency_key)
        if kind == "music":
            return self.send_text(account, to_user, f"{reply.title}\n{reply.music_url}".strip(),
                                  context_token=context_token, idempotency_key=idempotency_key)
        raise ChannelError(f"iLink bots cannot send {kind or type(reply).__name__} replies")

    def typing(self, account, to_user, *, on, context_token=""):
        client = _client(account)
        _call(account, client.typing, to_user, on=on, context_token=context_token)


def _material_file(kind: str, media_id: str) -> OutgoingFile:
    """The file of a media reply: the material library's local copy of ``media_id``."""
    from ..models import Material
    from ..services.media import storage

    material = Material.objects.filter(media_id=media_id).exclude(local_path="").first()
    if material is None:
        raise ChannelError(f"no local copy of media {media_id!r} to send to an iLink bot's user")
    with storage().open(material.local_path) as handle:
        data = handle.read()
    name = material.name or material.local_path.rsplit("/", 1)[-1]
    return OutgoingFile(kind, name, data, material.content_type or "application/octet-stream")

