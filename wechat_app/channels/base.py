"""The interface every account kind implements, and the registry that finds an account's."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import ClassVar


class ChannelError(Exception):
    """The channel cannot do what was asked (unsupported on this kind, or the platform refused)."""


@dataclass(frozen=True)
class OutgoingFile:
    """A file to send: its bytes, its name and what it is (``image``, ``video``, ``voice``, ``file``)."""

    kind: str
    name: str
    data: bytes
    content_type: str = "application/octet-stream"


class Channel:
    """What one kind of account does its own way. Subclasses set ``code`` and override what they support.

    ``receives`` is ``"callback"`` (the platform POSTs to ``/wechat/callback/<name>/``) or
    ``"polling"`` (a process fetches messages: ``manage.py wechat_gateway run``).
    ``context_token`` is the conversation token a platform may require on replies (iLink); the
    others ignore it.
    """

    code: ClassVar[str] = ""
    receives: ClassVar[str] = "callback"

    def send_reply(self, account, to_user: str, reply, *, context_token: str = "",
                   idempotency_key: str | None = None):
        """Deliver a rule's reply (a ``protocol.replies.Reply``) outside a passive answer."""
        raise ChannelError(f"{self.code} accounts cannot send replies")

    def send_text(self, account, to_user: str, text: str, *, context_token: str = "",
                  idempotency_key: str | None = None):
        raise ChannelError(f"{self.code} accounts cannot send text")

    def send_file(self, account, to_user: str, file: OutgoingFile, *, context_token: str = "",
                  idempotency_key: str | None = None):
        raise ChannelError(f"{self.code} accounts cannot send {file.kind} files")

    def typing(self, account, to_user: str, *, on: bool, context_token: str = "") -> None:
        raise ChannelError(f"{self.code} accounts have no typing indicator")


_channels: dict[str, Channel] = {}
# The modules that register the built-in kinds, imported on first use (they import models).
BUILTIN_MODULES = {"mp": "wechat_app.channels.mp", "wecom": "wechat_app.channels.wecom",
                   "ilink": "wechat_app.channels.ilink"}


def register(cls: type[Channel]) -> type[Channel]:
    """Class decorator: make ``cls`` the channel of accounts whose ``channel`` is ``cls.code``."""
    if not cls.code:
        raise ValueError("a channel needs a code")
    _channels[cls.code] = cls()
    return cls


def get(code: str) -> Channel:
    if code not in _channels and code in BUILTIN_MODULES:
        importlib.import_module(BUILTIN_MODULES[code])
    try:
        return _channels[code]
    except KeyError:
        raise ChannelError(f"no channel {code!r} is registered") from None


def for_account(account) -> Channel:
    return get(account.channel)


def registered() -> dict[str, Channel]:
    for code in BUILTIN_MODULES:
        try:
            get(code)
        except (ChannelError, ModuleNotFoundError):  # a kind not built yet
            pass
    return dict(_channels)
