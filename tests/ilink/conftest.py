import json
import urllib.request

import pytest

from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)


def sandbox_call(sandbox, method, path, body=None):
    request = urllib.request.Request(sandbox.url + "/_sandbox" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


@pytest.fixture
def ilink_sandbox(sandbox, settings, tmp_path):
    """The sandbox with short long polls, and the app pointed at it (ILINK_API_BASE_URL)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WECHAT_APP = {**settings.WECHAT_APP, "ILINK_API_BASE_URL": sandbox.url,
                           "ILINK_CDN_BASE_URL": sandbox.url + "/c2c", "ILINK_LONG_POLL_SECONDS": 1,
                           "ILINK_POLL_BACKOFF": 0.05, "ILINK_POLL_BACKOFF_MAX": 0.2}
    sandbox_call(sandbox, "POST", "/ilink/configure", {"longpoll_seconds": 0.3, "qr_poll_seconds": 0.3})
    return sandbox


def login_bot(sandbox, name="bot", user_id="owner@im.wechat"):
    """A QR login through the services, the sandbox playing the phone; the confirmed login."""
    from wechat_app.services import ilink as service

    login = service.start_login(name)
    sandbox_call(sandbox, "POST", "/ilink/scan", {"qrcode": login.qrcode, "user_id": user_id})
    sandbox_call(sandbox, "POST", "/ilink/confirm", {"qrcode": login.qrcode})
    for _ in range(10):
        login = service.login_status(login, wait=0.5)
        if login.status == "confirmed":
            return login
    raise AssertionError(f"login ended {login.status}")


@pytest.fixture
def bot(db, ilink_sandbox):
    from wechat_app.models import ILinkBot

    login = login_bot(ilink_sandbox)
    return ILinkBot.objects.select_related("account").get(account=login.account)


def inject(sandbox, bot, text=None, user="alice@im.wechat", **fields):
    body = {"bot_id": bot.bot_id, "from_user_id": user, **fields}
    if text is not None:
        body["text"] = text
    return sandbox_call(sandbox, "POST", "/ilink/messages", body)["message"]


def sent(sandbox):
    return sandbox_call(sandbox, "GET", "/ilink/sent")["sent"]
