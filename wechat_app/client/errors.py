"""WeChat API error codes and the client's exceptions.

One root, ``WeChatAPIError``, carries ``errcode``, ``errmsg`` and ``request`` (method and path,
never the access token or the secret). Callers decide with the classification properties
(``is_token_error``, ``is_transient``, ``is_quota``, ``is_permanent``) rather than by listing
codes in many places.
https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
"""
from __future__ import annotations

from enum import IntEnum


class WeChatErrorCode(IntEnum):
    """Named return codes of the WeChat API (the ones this app handles; others stay ints)."""

    SYSTEM_BUSY = -1
    OK = 0
    INVALID_CREDENTIAL = 40001
    INVALID_GRANT_TYPE = 40002
    INVALID_OPENID = 40003
    INVALID_MESSAGE_TYPE = 40008
    INVALID_APPID = 40013
    INVALID_ACCESS_TOKEN = 40014
    INVALID_OPENID_LIST_SIZE = 40032
    INVALID_TEMPLATE_ID = 40037
    INVALID_APPSECRET = 40125
    INVALID_IP = 40164
    ACCESS_TOKEN_MISSING = 41001
    ACCESS_TOKEN_EXPIRED = 42001
    REQUIRE_SUBSCRIBE = 43004
    USER_BLOCKED = 43019
    EMPTY_POST_DATA = 44002
    API_DAILY_QUOTA = 45009
    API_MINUTE_QUOTA = 45011
    REPLY_TIME_LIMIT = 45015
    CUSTOMER_SERVICE_LIMIT = 45047
    DATA_FORMAT_ERROR = 47001
    API_UNAUTHORIZED = 48001
    FORCE_REFRESH_TOO_FREQUENT = 89503


# "Refresh the token and retry once": the token was revoked, is not the latest, or expired.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Retry later with backoff: WeChat's own transient failure.
TRANSIENT_ERRORS = frozenset({-1})
# Retry when the quota comes back (may be long): never fail a message for these.
QUOTA_ERRORS = frozenset({45009, 45011, 45047, 45033})  # 45033: WeCom's concurrent-calls limit
# The request will never succeed as it is: fail at once with the reason.
PERMANENT_ERRORS = frozenset({40003, 40008, 40013, 40037, 40125, 43004, 43019, 45015, 47001, 48001})


def describe(errcode: int | None) -> str:
    """The code's name (``REQUIRE_SUBSCRIBE``) or its number as text."""
    try:
        return WeChatErrorCode(errcode).name
    except ValueError:
        return str(errcode)


class WeChatAPIError(Exception):
    """An API call failed; the root of every client error.

    ``errcode`` is WeChat's code (None for transport and HTTP failures), ``errmsg`` its message,
    ``request`` a ``"METHOD /path"`` string; no secret or token is ever part of the message.
    """

    # The other fields of WeChat's error answer, if any (e.g. 45065 "clientmsgid exist" names the
    # earlier send's msg_id); never a token or a secret: WeChat does not echo them.
    payload: dict | None = None

    def __init__(self, errcode: int | None, errmsg: str = "", request: str = "", status: int | None = None):
        self.errcode = errcode
        self.errmsg = errmsg
        self.request = request
        self.status = status
        super().__init__(str(self))

    def __str__(self):
        code = "" if self.errcode is None else f"{self.errcode} {describe(self.errcode)}: "
        where = f" ({self.request})" if self.request else ""
        return f"{code}{self.errmsg}{where}"

    def __repr__(self):
        return f"{type(self).__name__}(errcode={self.errcode!r}, errmsg={self.errmsg!r}, request={self.request!r})"

    def __reduce__(self):  # picklable, so that Celery can carry it
        return (type(self), (self.errcode, self.errmsg, self.request, self.status))

    @property
    def is_token_error(self) -> bool:
        return self.errcode in TOKEN_ERRORS

    @property
    def is_quota(self) -> bool:
        return self.errcode in QUOTA_ERRORS

    @property
    def is_transient(self) -> bool:
        return self.errcode in TRANSIENT_ERRORS

    @property
    def is_permanent(self) -> bool:
        return self.errcode in PERMANENT_ERRORS


class WeChatTransportError(WeChatAPIError):
    """No usable answer: connection refused or dropped, timeout, or an HTTP error status.

    ``maybe_applied`` is False when the request certainly never reached WeChat (connection
    could not be opened); otherwise WeChat may have acted on it before the answer was lost.
    Always transient.
    """

    def __init__(self, errcode=None, errmsg="", request="", status=None, maybe_applied: bool = True):
        self.maybe_applied = maybe_applied
        super().__init__(errcode, errmsg, request, status)

    def __reduce__(self):
        return (type(self), (self.errcode, self.errmsg, self.request, self.status, self.maybe_applied))

    @property
    def is_transient(self) -> bool:
        return True


class WeChatPayloadError(WeChatAPIError, ValueError):
    """A message or parameter the client refuses to send (it would be rejected)."""

    def __init__(self, errmsg: str, request: str = ""):
        super().__init__(None, errmsg, request)

    def __reduce__(self):
        return (type(self), (self.errmsg, self.request))

    @property
    def is_permanent(self) -> bool:
        return True


class DisallowedBaseURL(WeChatAPIError):
    """The base URL is not one the installation allows (``ALLOWED_API_BASE_URLS``): nothing was
    sent, neither the secret nor a token. Permanent until the account or the settings change."""

    def __init__(self, errmsg: str = "the API base URL is not allowed", request: str = ""):
        super().__init__(None, errmsg, request)

    def __reduce__(self):
        return (type(self), (self.errmsg, self.request))

    @property
    def is_permanent(self) -> bool:
        return True
