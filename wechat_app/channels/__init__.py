"""Channels: what differs between the kinds of account (``Account.channel``).

An Official Account receives by callback and sends customer-service messages; a WeCom app receives
by callback and sends app messages; an iLink bot long-polls and sends with ``sendmessage``. The rule
engine, the message log, the admin, the REST API and the agent gateway deal with normalized
messages (``protocol.Message``) and ask the account's channel to do the kind-specific part::

    from wechat_app import channels

    channels.for_account(account).send_text(account, user, "hello", context_token=token)

Each kind registers its ``Channel`` subclass with ``@channels.register`` in its own module.
"""
from .base import (
    Channel,
    ChannelError,
    OutgoingFile,
    for_account,
    get,
    register,
    registered,
)

__all__ = ["Channel", "ChannelError", "OutgoingFile", "for_account", "get", "register", "registered"]
