"""OAuth 2.0 web authorization (网页授权) for an account's H5 pages.

The shape of django-allauth's OAuth2 providers, small: ``begin`` makes the authorize URL with a
single-use ``state`` kept in the session; ``complete`` checks the state, exchanges the code,
fetches the profile (snsapi_userinfo), records the ``WeChatUser`` and returns the Django user to
log in. Every failure is an ``OAuthFailure`` with a kind the views turn into a clear page.
https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
"""
from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from ..client import WeChatAPIError, WeChatTransportError
from ..client.errors import DisallowedBaseURL
from ..client.hosts import WECHAT_API_BASE_URLS
from ..conf import app_settings
from ..models import WeChatUser
from .tokens import get_client

logger = logging.getLogger("wechat_app.oauth")

SESSION_KEY = "wechat_oauth_states"
MAX_PENDING = 8  # logins begun and not finished that a session keeps (the oldest are dropped)
SCOPES = ("snsapi_base", "snsapi_userinfo")
REFRESH_TOKEN_DAYS = 30
CODE_ERRORS = {40029: "invalid", 40163: "used", 42003: "expired"}


class OAuthFailure(Exception):
    """A login that cannot complete. ``kind``: denied, state, code, unavailable, not_linked, scope,
    account; ``status``: the HTTP status of the page that says so."""

    STATUS = {"denied": 403, "state": 400, "code": 400, "unavailable": 502, "not_linked": 403, "scope": 400,
              "account": 404}

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail

    @property
    def status(self) -> int:
        return self.STATUS.get(self.kind, 400)


def authorize_base_url(account) -> str:
    """WeChat's authorize page for accounts on WeChat's hosts; otherwise (the sandbox) the
    account's own API base URL, which the installation's allow-list already trusts."""
    base = account.effective_api_base_url
    if base in WECHAT_API_BASE_URLS:
        return app_settings.OAUTH_AUTHORIZE_URL
    return f"{base}/connect/oauth2/authorize"


def safe_next(request, next_url: str | None) -> str:
    """``next`` if it stays on this site (no open redirect), else ``/``."""
    if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                                    require_https=request.is_secure()):
        return next_url
    return "/"


def begin(request, account, scope: str, next_url: str, redirect_uri: str) -> str:
    """The authorize URL to send the browser to; remembers a new single-use state in the session."""
    if scope not in SCOPES:
        raise OAuthFailure("scope", f"scope is {' or '.join(SCOPES)}")
    state = secrets.token_hex(16)  # WeChat takes a-zA-Z0-9, at most 128 bytes
    pending = _pending(request)
    pending[state] = {"account": account.pk, "scope": scope, "next": next_url, "at": time.time()}
    for old in sorted(pending, key=lambda s: pending[s]["at"])[:-MAX_PENDING]:
        del pending[old]
    request.session[SESSION_KEY] = pending
    params = {"appid": account.app_id, "redirect_uri": redirect_uri, "response_type": "code",
              "scope": scope, "state": state}
    if is_wecom(account):
        # WeCom's page login: the corp id and the app's agentid; WeCom's snsapi_base gives the
        # member's user id (the profile then comes from the contacts).
        params.update(scope="snsapi_base", agentid=str(account.agent_id))
    query = urlencode(params)
    return f"{authorize_base_url(account)}?{query}#wechat_redirect"


def is_wecom(account) -> bool:
    return getattr(account, "channel", "mp") == "wecom"


def _pending(request) -> dict:
    pending = request.session.get(SESSION_KEY)
    if not isinstance(pending, dict):
        return {}
    ttl = app_settings.OAUTH_STATE_TTL
    now = time.time()
    return {s: v for s, v in pending.items() if isinstance(v, dict) and now - v.get("at", 0) < ttl}


def take_state(request, account, state: str) -> dict:
    """The pending login of ``state`` (consumed: a state works once), or OAuthFailure("state")."""
    pending = _pending(request)
    raw = request.session.get(SESSION_KEY)
    entry = pending.pop(state, None) if state else None
    if isinstance(raw, dict) and state in raw:
        request.session[SESSION_KEY] = pending  # consumed, expired or not
    if entry is None:
        raise OAuthFailure("state", "This login link was already used, has expired or was started in "
                                    "another browser.")
    if entry.get("account") != account.pk:
        raise OAuthFailure("state", "This login was started for another account.")
    return entry


def complete(request, account, query) -> tuple[WeChatUser, str]:
    """Finish a login from WeChat's redirect (``?code=&state=``): returns the ``WeChatUser`` (its
    ``user`` set) and where to go next. Raises ``OAuthFailure``."""
    entry = take_state(request, account, query.get("state", ""))
    code = query.get("code", "")
    if not code:
        raise OAuthFailure("denied", "You did not allow the login.")
    if len(code) > 512:
        raise OAuthFailure("code", "The code WeChat sent is not valid.")
    if is_wecom(account):
        return complete_wecom(request, account, entry, code), entry["next"]
    try:
        client = get_client(account)
        grant = client.oauth.exchange_code(code)
        openid = str(grant["openid"])
        profile = {}
        if grant.get("scope", entry["scope"]) == "snsapi_userinfo" or entry["scope"] == "snsapi_userinfo":
            profile = client.oauth.userinfo(grant["access_token"], openid)
    except (WeChatTransportError, DisallowedBaseURL, KeyError, TypeError) as err:
        logger.warning("OAuth login for %s failed: %s", account.name, type(err).__name__)
        raise OAuthFailure("unavailable", "WeChat could not be reached; try again in a moment.") from None
    except WeChatAPIError as err:
        if err.errcode in CODE_ERRORS:
            raise OAuthFailure("code", f"The login code is {CODE_ERRORS[err.errcode]} "
                                       f"({err.errcode}): start again.") from None
        logger.warning("OAuth login for %s refused by WeChat: %s", account.name, err.errcode)
        raise OAuthFailure("unavailable", f"WeChat refused the login ({err.errcode}).") from None
    scope = entry["scope"] if not profile else "snsapi_userinfo"
    wechat_user = record_login(request, account, openid, grant, profile, scope)
    return wechat_user, entry["next"]


WECOM_CODE_ERRORS = {40029: "invalid, used or expired"}


def complete_wecom(request, account, entry, code) -> WeChatUser:
    """WeCom's half of ``complete``: the code is exchanged for the member's user id
    (/cgi-bin/auth/getuserinfo), which must be a member of the corp (someone outside it gets an
    openid only: "not_linked"); the ``WeChatUser`` is keyed by the user id and carries the
    member's profile from the contacts (read from WeCom when not mirrored yet)."""
    from . import wecom_contacts

    try:
        info = get_client(account).oauth.get_user_info(code)
    except (WeChatTransportError, DisallowedBaseURL) as err:
        logger.warning("WeCom login for %s failed: %s", account.name, type(err).__name__)
        raise OAuthFailure("unavailable", "WeCom could not be reached; try again in a moment.") from None
    except WeChatAPIError as err:
        if err.errcode in WECOM_CODE_ERRORS:
            raise OAuthFailure("code", f"The login code is {WECOM_CODE_ERRORS[err.errcode]} "
                                       f"({err.errcode}): start again.") from None
        logger.warning("WeCom login for %s refused: %s", account.name, err.errcode)
        raise OAuthFailure("unavailable", f"WeCom refused the login ({err.errcode}).") from None
    userid = str(info.get("userid") or info.get("UserId") or "")[:64]
    if not userid:
        raise OAuthFailure("not_linked", "Only members of this WeCom corp can log in here.")
    try:
        member = wecom_contacts.member_for_login(account, userid)
    except WeChatAPIError as err:
        logger.warning("WeCom login for %s: the member could not be read (%s)", account.name, err.errcode)
        raise OAuthFailure("unavailable", "WeCom could not be reached; try again in a moment.") from None
    if member is None:
        raise OAuthFailure("not_linked", "WeCom does not know this member any more.")
    profile = {"userid": member.userid, "name": member.name, "nickname": member.name, "departments": member.departments,
               "position": member.position, "email": member.email, "avatar": member.raw.get("avatar", "")}
    return record_login(request, account, userid, {}, profile, entry["scope"])


def record_login(request, account, openid, grant, profile, scope) -> WeChatUser:
    """Create or update the ``WeChatUser`` and link it to a Django user (``OAUTH_CREATE_USERS``)."""
    unionid = str(grant.get("unionid") or profile.get("unionid") or "")[:128]
    with transaction.atomic():
        try:
            with transaction.atomic():
                wechat_user, _ = WeChatUser.objects.select_for_update().get_or_create(account=account, openid=openid)
        except IntegrityError:  # a concurrent first login of the same user
            wechat_user = WeChatUser.objects.select_for_update().get(account=account, openid=openid)
        if unionid:
            wechat_user.unionid = unionid
        if profile:
            wechat_user.profile = {k: v for k, v in profile.items() if k not in ("access_token", "refresh_token")}
        if scope == WeChatUser.Scope.USERINFO or not wechat_user.scope:
            wechat_user.scope = scope
        if grant.get("refresh_token"):
            wechat_user.refresh_token_encrypted = encrypt(str(grant["refresh_token"]))
            wechat_user.refresh_token_expires_at = timezone.now() + timedelta(days=REFRESH_TOKEN_DAYS)
        wechat_user.last_login_at = timezone.now()
        if wechat_user.user_id is None:
            wechat_user.user = _user_for(request, account, wechat_user)
        wechat_user.save()
    if wechat_user.user_id is None:
        raise OAuthFailure("not_linked", "This WeChat user is not linked to an account of this site. Sign in "
                                         "first, then log in with WeChat to link them.")
    return wechat_user


def _user_for(request, account, wechat_user):
    current = getattr(request, "user", None)
    if current is not None and current.is_authenticated and not current.is_staff:
        return current  # a signed-in user links their WeChat identity (never a staff user: see auth.py)
    if wechat_user.unionid:
        sibling = (WeChatUser.objects.filter(unionid=wechat_user.unionid, user__isnull=False)
                   .exclude(pk=wechat_user.pk).select_related("user").first())
        if sibling is not None:
            return sibling.user  # the same person through another account of the same open platform
    if not app_settings.OAUTH_CREATE_USERS:
        return None
    User = get_user_model()
    base = f"wx_{account.name}_{wechat_user.openid}"[: User._meta.get_field(User.USERNAME_FIELD).max_length]
    user = User(**{User.USERNAME_FIELD: base})
    if hasattr(user, "first_name") and wechat_user.nickname:
        user.first_name = wechat_user.nickname[:150]
    user.set_unusable_password()
    user.save()
    return user


def refresh_profile(wechat_user: WeChatUser) -> WeChatUser:
    """Refresh the OAuth token with the stored refresh token, check it (/sns/auth) and re-read
    the profile (snsapi_userinfo). Raises OAuthFailure("unavailable") or ("code") when the user
    must log in again."""
    token = decrypt(wechat_user.refresh_token_encrypted)
    if not token:
        raise OAuthFailure("code", "No refresh token is kept for this user: they must log in again.")
    client = get_client(wechat_user.account)
    try:
        grant = client.oauth.refresh(token)
        if not client.oauth.check(grant["access_token"], wechat_user.openid):
            raise OAuthFailure("code", "WeChat refused the refreshed token.")
        if wechat_user.scope == WeChatUser.Scope.USERINFO:
            wechat_user.profile = client.oauth.userinfo(grant["access_token"], wechat_user.openid)
    except WeChatTransportError:
        raise OAuthFailure("unavailable", "WeChat could not be reached.") from None
    except WeChatAPIError as err:
        raise OAuthFailure("code", f"The refresh token is no longer valid ({err.errcode}).") from None
    if grant.get("refresh_token") and grant["refresh_token"] != token:
        wechat_user.refresh_token_encrypted = encrypt(grant["refresh_token"])
    wechat_user.save(update_fields=["profile", "refresh_token_encrypted"])
    return wechat_user


# --- the refresh token at rest ------------------------------------------------------------------
def _fernet():
    from cryptography.fernet import Fernet

    digest = hashlib.sha256(b"wechat_app.oauth.refresh_token\x00" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    """The plain value, or '' when there is none or it cannot be read (SECRET_KEY changed)."""
    if not value:
        return ""
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken:
        return ""
