"""Callback signatures.

WeChat signs a callback with ``sha1(''.join(sorted([token, timestamp, nonce])))``; encrypted
messages add the ``Encrypt`` payload to the sorted list (``msg_signature``).
https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import time

from .errors import ExpiredTimestampError, InvalidSignatureError

# WeChat sends Unix seconds (10 digits); 12 leave room for any clock and keep the arithmetic exact.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def new_token(length: int = 32) -> str:
    """A random callback Token: letters and digits, 32 by default (the console allows 3 to 32)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def make_signature(*parts: str) -> str:
    """SHA-1 hex digest of the parts sorted and concatenated, as WeChat computes it."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode("utf-8")).hexdigest()


def check_signature(signature: str | None, *parts: str) -> None:
    """Raise ``InvalidSignatureError`` unless ``signature`` signs ``parts``.

    The comparison is constant-time so that a forger learns nothing from response timing.
    """
    if not signature:
        raise InvalidSignatureError("missing signature")
    expected = make_signature(*parts)
    if not hmac.compare_digest(expected.encode("ascii"), str(signature).lower().encode("utf-8")):
        raise InvalidSignatureError("signature mismatch")


def check_timestamp(timestamp: str | None, window: float, now: float | None = None) -> None:
    """Raise ``ExpiredTimestampError`` unless ``timestamp`` is within ``window`` seconds of ``now``.

    Only plain digits are read (at most 12): a signed 400-digit timestamp is refused like any
    other bad one, before any arithmetic could overflow. ``window`` 0 disables the check.
    """
    if not window:
        return
    if not isinstance(timestamp, str) or not _TIMESTAMP.fullmatch(timestamp):
        raise ExpiredTimestampError("timestamp is missing or not an integer")
    if abs((now if now is not None else time.time()) - int(timestamp)) > window:
        raise ExpiredTimestampError("timestamp outside the accepted window")
