"""How the API recognizes its callers: API tokens, the admin session, and (when enabled) HTTP Basic.

``Authorization: Token <key>`` or ``Authorization: Bearer <key>`` (an ``ApiToken``); the session
of a user signed in to the admin, with Django's CSRF protection on unsafe methods (the browsable
API and the Swagger UI use it); HTTP Basic with a password only when
``WECHAT_APP["API_BASIC_AUTH"]`` is true (off by default: a password on every request).

The classes come from the app, not from the project's ``REST_FRAMEWORK`` setting
(``authenticators()``), so the API behaves the same in any project.
"""
from __future__ import annotations

from rest_framework import authentication, exceptions

from ..conf import app_settings
from ..services import api_tokens
from ..services.access import bind_token

KEYWORDS = ("token", "bearer")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>`` (or ``Bearer <key>``). An invalid, revoked or expired key,
    or one whose owner is inactive, answers 401 with the reason; no header: not this method."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: use 'Token <key>' (or 'Bearer <key>'), the key without spaces.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API token.") from None
        try:
            token = api_tokens.authenticate(key)
        except api_tokens.TokenRefused as err:
            raise exceptions.AuthenticationFailed(str(err)) from None
        user = token.user
        bind_token(user, token)
        return user, token

    def authenticate_header(self, request):
        # What a 401 answers in WWW-Authenticate (its presence makes DRF answer 401, not 403).
        return 'Token realm="api"'


def authenticators():
    """The API's authentication, in order (the first one's header is the 401's WWW-Authenticate):
    API tokens, the admin session (DRF's, with CSRF checks on unsafe methods), and HTTP Basic
    only with ``WECHAT_APP["API_BASIC_AUTH"] = True``."""
    classes = [ApiTokenAuthentication, authentication.SessionAuthentication]
    if app_settings.API_BASIC_AUTH:
        classes.append(authentication.BasicAuthentication)
    return [cls() for cls in classes]
