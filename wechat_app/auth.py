"""Logging in with WeChat (OAuth) on an account's H5 pages: the authentication backend and the
view decorator.

Usage in an installing project::

    # settings.py
    AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "wechat_app.auth.WeChatBackend"]

    # views.py
    from wechat_app.auth import wechat_login_required

    @wechat_login_required(account="shop", scope="snsapi_userinfo")
    def profile(request):
        return render(request, "profile.html", {"profile": request.wechat_user.profile})
"""
from __future__ import annotations

import functools
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.shortcuts import redirect
from django.urls import reverse

BACKEND = "wechat_app.auth.WeChatBackend"


class WeChatBackend(ModelBackend):
    """Authenticates a ``WeChatUser`` that completed the OAuth flow (``authenticate(request,
    wechat_user=...)``); never a username and password. Staff users never log in this way: a
    WeChat identity must not become a passwordless way into the admin."""

    def authenticate(self, request, wechat_user=None, **kwargs):
        if wechat_user is None or wechat_user.user_id is None:
            return None
        user = wechat_user.user
        if not self.user_can_authenticate(user) or getattr(user, "is_staff", False):
            return None
        return user


def login_backend() -> str:
    """The backend a WeChat login is recorded with: ours when the project lists it, else the
    project's first (Django's ``get_user`` then loads the user by id as for any login)."""
    backends = list(getattr(settings, "AUTHENTICATION_BACKENDS", None) or [])
    if BACKEND in backends or not backends:
        return BACKEND if BACKEND in backends else "django.contrib.auth.backends.ModelBackend"
    return backends[0]


def current_wechat_user(request, account: str, scope: str = "snsapi_base"):
    """The ``WeChatUser`` of the signed-in user for ``account`` (a name) with ``scope``, or None."""
    from .models import WeChatUser

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    found = (WeChatUser.objects.filter(account__name=account, account__enabled=True, user=user)
             .select_related("account").order_by("-last_login_at").first())
    return found if found is not None and found.has_scope(scope) else None


def login_url(account: str, next_url: str, scope: str = "snsapi_base") -> str:
    return reverse("wechat_app:oauth_login", args=[account]) + "?" + urlencode({"next": next_url, "scope": scope})


def wechat_login_required(view=None, *, account: str, scope: str = "snsapi_base"):
    """Let the view run only for a user logged in with WeChat on ``account`` (with ``scope``:
    snsapi_base gives the openid, snsapi_userinfo the profile too); others are sent through
    WeChat's authorization and come back. The view gets ``request.wechat_user``."""
    if scope not in ("snsapi_base", "snsapi_userinfo"):
        raise ValueError("scope is snsapi_base or snsapi_userinfo")

    def decorate(func):
        @functools.wraps(func)
        def wrapper(request, *args, **kwargs):
            wechat_user = current_wechat_user(request, account, scope)
            if wechat_user is None:
                return redirect(login_url(account, request.get_full_path(), scope))
            request.wechat_user = wechat_user
            return func(request, *args, **kwargs)
        return wrapper

    return decorate(view) if view is not None else decorate
