"""Exceptions of the protocol core.

One root, ``ProtocolError``; each refusal of the callback has its own subclass so that the view
maps it to a status code in one place. ``InvalidAESKeyError`` is a configuration error and is
kept apart (a ``ValueError``) so that nothing that handles bad requests swallows it.
"""


class ProtocolError(Exception):
    """A callback request that does not follow the WeChat protocol."""


class InvalidSignatureError(ProtocolError):
    """``signature`` or ``msg_signature`` does not match (or is missing)."""


class ExpiredTimestampError(ProtocolError):
    """The request's timestamp is outside the accepted window (a replay, or a wrong clock)."""


class MalformedMessageError(ProtocolError):
    """The body is not well-formed XML, or lacks a required field."""


class ForbiddenXMLError(MalformedMessageError):
    """The XML carries a DOCTYPE or entity declaration; refused without resolving anything."""


class DecryptError(ProtocolError):
    """The ``Encrypt`` payload cannot be decrypted (bad base64, bad padding, bad length)."""


class AppIdMismatchError(DecryptError):
    """The payload decrypts, but was encrypted for another app id."""

    def __init__(self, expected, received):
        super().__init__(f"payload encrypted for another app id ({received!r})")
        self.expected = expected
        self.received = received


class InvalidAESKeyError(ValueError):
    """An EncodingAESKey that is not 43 characters of base64 encoding 32 bytes."""
