"""OAuth login views for an account's H5 pages (``services.oauth`` does the work).

``/wechat/oauth/<account>/login/?next=/page&scope=snsapi_userinfo`` sends the browser to WeChat's
authorize page; WeChat sends it back to ``/wechat/oauth/<account>/callback/?code=&state=``, which
logs the user in and goes on to ``next`` (only a URL of this site). Every failure ends on a page
that says what happened (``wechat_app/web/oauth_error.html``), never a 500.
"""
from __future__ import annotations

from django.contrib.auth import login
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .auth import WeChatBackend, login_backend
from .models import Account
from .services import oauth

TITLES = {
    "denied": "Login cancelled",
    "state": "This login link is no longer valid",
    "code": "The login did not complete",
    "unavailable": "WeChat is not answering",
    "not_linked": "No account of this site is linked",
    "scope": "Bad login request",
    "account": "No such WeChat account",
}


def _failure(request, failure: oauth.OAuthFailure, account_name: str):
    retry = None
    if failure.kind not in ("account", "not_linked"):
        retry = reverse("wechat_app:oauth_login", args=[account_name])
    context = {"title": TITLES.get(failure.kind, "Login failed"), "detail": failure.detail, "kind": failure.kind,
               "retry_url": retry}
    return render(request, "wechat_app/web/oauth_error.html", context, status=failure.status)


def _account(account_name) -> Account:
    try:
        return Account.objects.get(name=account_name, enabled=True)
    except Account.DoesNotExist:
        raise oauth.OAuthFailure("account", "This page belongs to no enabled WeChat account.") from None


@never_cache
@require_GET
def oauth_login(request, account_name):
    try:
        account = _account(account_name)
        next_url = oauth.safe_next(request, request.GET.get("next"))
        redirect_uri = request.build_absolute_uri(reverse("wechat_app:oauth_callback", args=[account.name]))
        target = oauth.begin(request, account, request.GET.get("scope", "snsapi_base"), next_url, redirect_uri)
    except oauth.OAuthFailure as failure:
        return _failure(request, failure, account_name)
    return HttpResponseRedirect(target)


@never_cache
@require_GET
def oauth_callback(request, account_name):
    try:
        account = _account(account_name)
        wechat_user, next_url = oauth.complete(request, account, request.GET)
        # The backend decides even when the project does not list it in AUTHENTICATION_BACKENDS.
        user = WeChatBackend().authenticate(request, wechat_user=wechat_user)
        if user is None:
            raise oauth.OAuthFailure("not_linked", "The user linked to this WeChat user cannot log in with "
                                                   "WeChat (disabled, or a staff user).")
        login(request, user, backend=login_backend())
    except oauth.OAuthFailure as failure:
        return _failure(request, failure, account_name)
    return HttpResponseRedirect(oauth.safe_next(request, next_url))
