"""The admin's QR codes (create through WeChat, list with image and figures, PNG, short keys, a
linked rule), short links and WeChat web users, limited to the user's accounts."""
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from wechat_app.models import AccountMembership, QRCode, Rule, ShortLink
from wechat_app.protocol.simulator import build_message, sign_request

pytestmark = pytest.mark.django_db

ADD = reverse("admin:wechat_app_qrcode_add")
LIST = reverse("admin:wechat_app_qrcode_changelist")


def add_code(admin_client, account, **fields):
    data = {"account": account.pk, "name": "Poster", "kind": "temporary", "scene_id": "42", "scene_str": "",
            "expire_seconds": "3600", "rule": "", "reply": ""}
    data.update(fields)
    return admin_client.post(ADD, data)


def test_create_a_code_with_a_reply_then_see_its_figures(admin_client, account, sandbox, client):
    response = add_code(admin_client, account, reply="Welcome, poster reader!")
    assert response.status_code == 302, response.content.decode()[:3000]
    qr = QRCode.objects.get()
    assert qr.ticket and qr.url and qr.rule.match_value == "SCAN" and qr.rule.match_key == "42"
    # Two scans through the signed callback (one retried), one subscribe through the code.
    for kind, args, create_time in (("scan", ["42"], 1000), ("scan", ["42"], 1000), ("subscribe", ["42"], 1001)):
        params, body = sign_request(build_message(kind, args, user="oReader00000001", sp="gh_x",
                                                  create_time=create_time), account.token)
        answer = client.post("/wechat/callback/web/?" + "&".join(f"{k}={v}" for k, v in params.items()), body,
                             content_type="text/xml")
        assert b"Welcome, poster reader!" in answer.content
    page = admin_client.get(LIST).content.decode()
    assert "Poster" in page and reverse("admin:wechat_app_qrcode_png", args=[qr.pk]) in page
    assert '<td class="field-scans">2</td>' in page and '<td class="field-new_followers">1</td>' in page
    detail = admin_client.get(reverse("admin:wechat_app_qrcode_change", args=[qr.pk])).content.decode()
    assert "data:image/png;base64," in detail and "2 scans by 1 users, 1 new followers" in detail
    png = admin_client.get(reverse("admin:wechat_app_qrcode_png", args=[qr.pk]) + "?download=1")
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert "attachment" in png["Content-Disposition"]


def test_errors_are_shown_on_the_form(admin_client, account, sandbox):
    response = add_code(admin_client, account, kind="permanent", scene_id="100001", expire_seconds="")
    assert response.status_code == 200 and "scene id is 1 to 100000" in response.content.decode()
    sandbox.state.add_fault("/cgi-bin/qrcode/create", errcode=45009)
    response = add_code(admin_client, account)
    assert response.status_code == 200 and "WeChat refused it: 45009" in response.content.decode()
    sandbox.state.add_fault("/cgi-bin/qrcode/create", kind="drop")
    response = add_code(admin_client, account)
    assert response.status_code == 200 and "could not be reached" in response.content.decode(), re.findall(r"errornote.*|errorlist.*", response.content.decode())
    assert not QRCode.objects.exists()


def test_shorten_action_and_short_links(admin_client, account, sandbox):
    add_code(admin_client, account)
    qr = QRCode.objects.get()
    response = admin_client.post(LIST, {"action": "shorten", "_selected_action": [qr.pk]})
    assert response.status_code == 302
    qr.refresh_from_db()
    assert qr.short_key and sandbox.state.web.short_keys[qr.short_key]["long_data"] == qr.url
    response = admin_client.post(reverse("admin:wechat_app_shortlink_add"),
                                 {"account": account.pk, "long_data": "https://shop.example.com/p/1",
                                  "expire_seconds": "86400"})
    assert response.status_code == 302
    link = ShortLink.objects.exclude(long_data=qr.url).get()
    assert sandbox.state.web.short_keys[link.short_key]["expire_seconds"] == 86400


def test_other_accounts_codes_are_hidden(admin_client, account, sandbox, django_user_model):
    add_code(admin_client, account)
    qr = QRCode.objects.get()
    staff = django_user_model.objects.create_user("staff", password="pw-123456789", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_qrcode", "change_qrcode"]))
    from django.test import Client

    other = Client()
    other.force_login(staff)
    assert other.get(reverse("admin:wechat_app_qrcode_png", args=[qr.pk])).status_code == 404
    AccountMembership.objects.create(user=staff, account=account)
    assert other.get(reverse("admin:wechat_app_qrcode_png", args=[qr.pk])).status_code == 200
    assert not Rule.objects.exists()


def test_web_users_are_read_only_and_refresh_from_wechat(admin_client, account, sandbox, client):
    from .conftest import ALICE, authorize
    from wechat_app.models import WeChatUser

    login = client.get("/wechat/oauth/web/login/", {"scope": "snsapi_userinfo"})
    client.get(authorize(login["Location"], ALICE["openid"]))
    wechat_user = WeChatUser.objects.get()
    page = admin_client.get(reverse("admin:wechat_app_wechatuser_change", args=[wechat_user.pk])).content.decode()
    assert ALICE["openid"] in page and 'name="openid"' not in page and "refresh_token" not in page
    sandbox.state.followers[account.app_id][ALICE["openid"]].nickname = "Alice 2"
    response = admin_client.post(reverse("admin:wechat_app_wechatuser_changelist"),
                                 {"action": "refresh_profiles", "_selected_action": [wechat_user.pk]})
    assert response.status_code == 302
    assert WeChatUser.objects.get().profile["nickname"] == "Alice 2"
