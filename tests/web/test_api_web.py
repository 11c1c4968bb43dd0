"""REST API: QR codes (CRUD, figures, image, short key) and short links, limited to the user's accounts."""
import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from wechat_app.models import AccountMembership, MessageLog, QRCode
from tests.api_errors import error_fields

pytestmark = pytest.mark.django_db

BASE = "/wechat/api/qrcodes/"


def test_qrcode_crud_and_figures(admin_client, account, sandbox):
    response = admin_client.post(BASE, {"account": "web", "name": "Flyer", "kind": "temporary", "scene_str": "flyer",
                                        "expire_seconds": 600}, content_type="application/json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["ticket"] and data["url"] and data["scene"] == "flyer" and data["expires_at"]
    assert data["figures"] == {"scans": 0, "new_followers": 0, "users": 0}
    permanent = admin_client.post(BASE, {"account": "web", "name": "Door", "kind": "permanent", "scene_id": 9},
                                  content_type="application/json").json()
    assert permanent["expire_seconds"] is None and permanent["expires_at"] is None
    MessageLog.objects.create(account=account, dedupe_key="a", user="u1", msg_type="event", event="subscribe",
                              event_key="qrscene_flyer")
    MessageLog.objects.create(account=account, dedupe_key="b", user="u1", msg_type="event", event="SCAN",
                              event_key="flyer")
    listed = {row["name"]: row for row in admin_client.get(BASE, {"account": "web"}).json()["results"]}
    assert listed["Flyer"]["figures"] == {"scans": 2, "new_followers": 1, "users": 2}  # users: an upper bound
    detail = admin_client.get(f"{BASE}{data['id']}/").json()
    assert detail["figures"] == {"scans": 2, "new_followers": 1, "users": 1}
    assert admin_client.patch(f"{BASE}{data['id']}/", {"name": "Flyer 2"},
                              content_type="application/json").json()["name"] == "Flyer 2"
    refused = admin_client.patch(f"{BASE}{data['id']}/", {"scene_str": "other"}, content_type="application/json")
    assert refused.status_code == 400 and "scene_str" in error_fields(refused)
    png = admin_client.get(f"{BASE}{data['id']}/png/")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    short = admin_client.post(f"{BASE}{data['id']}/shorten/")
    assert short.status_code == 200 and QRCode.objects.get(pk=data["id"]).short_key == short.json()["short_key"]
    assert admin_client.delete(f"{BASE}{data['id']}/").status_code == 204


@pytest.mark.parametrize("body, field", [
    ({"kind": "permanent", "scene_id": 0}, "scene_id"),
    ({"kind": "temporary", "scene_id": 1, "scene_str": "x"}, "scene_id"),
    ({"kind": "temporary", "scene_str": "x", "expire_seconds": 10}, "expire_seconds"),
    ({"kind": "bogus", "scene_id": 1}, "kind"),
    ({"account": "nope", "kind": "permanent", "scene_id": 1}, "account"),
])
def test_invalid_qrcodes_answer_400_by_field(admin_client, account, sandbox, body, field):
    response = admin_client.post(BASE, {"account": "web", "name": "x", **body}, content_type="application/json")
    assert response.status_code == 400 and field in error_fields(response)
    assert not QRCode.objects.exists()


def test_wechat_refusal_and_outage(admin_client, account, sandbox):
    sandbox.state.add_fault("/cgi-bin/qrcode/create", errcode=45009)
    body = {"account": "web", "name": "x", "kind": "permanent", "scene_id": 1}
    response = admin_client.post(BASE, body, content_type="application/json")
    assert response.status_code in (400, 502) and "45009" in str(response.json())
    sandbox.state.add_fault("/cgi-bin/qrcode/create", kind="drop")
    assert admin_client.post(BASE, body, content_type="application/json").status_code == 502
    assert not QRCode.objects.exists()


def test_short_links(admin_client, account, sandbox):
    response = admin_client.post("/wechat/api/short-links/", {"account": "web", "long_data": "https://shop.example.com/a",
                                                              "expire_seconds": 3600}, content_type="application/json")
    assert response.status_code == 201, response.json()
    link = response.json()
    assert link["short_key"] and link["expires_at"]
    expanded = admin_client.get(f"/wechat/api/short-links/{link['id']}/expand/").json()
    assert expanded["long_data"] == "https://shop.example.com/a" and expanded["expire_seconds"] == 3600
    too_long = admin_client.post("/wechat/api/short-links/", {"account": "web", "long_data": "x" * 4097},
                                 content_type="application/json")
    assert too_long.status_code == 400 and "long_data" in error_fields(too_long)


def test_other_accounts_are_404_and_permissions_apply(admin_client, account, sandbox, django_user_model):
    qr = admin_client.post(BASE, {"account": "web", "name": "Door", "kind": "permanent", "scene_id": 9},
                           content_type="application/json").json()
    staff = django_user_model.objects.create_user("staff", password="pw-123456789", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_qrcode"))
    client = Client()
    client.force_login(staff)
    assert client.get(f"{BASE}{qr['id']}/").status_code == 404
    AccountMembership.objects.create(user=staff, account=account)
    assert client.get(f"{BASE}{qr['id']}/").status_code == 200
    assert client.post(f"{BASE}{qr['id']}/shorten/").status_code == 403
    assert client.delete(f"{BASE}{qr['id']}/").status_code == 403


def test_the_wechat_shorturl_command(account, sandbox):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    call_command("wechat_shorturl", "gen", "https://shop.example.com/b", "--account", "web", "--expire", "60",
                 stdout=out)
    key = out.getvalue().strip()
    assert sandbox.state.web.short_keys[key]["expire_seconds"] == 60
    out = StringIO()
    call_command("wechat_shorturl", "fetch", key, "--account", "web", stdout=out)
    assert "https://shop.example.com/b" in out.getvalue()
    with pytest.raises(CommandError, match="long_data"):
        call_command("wechat_shorturl", "gen", "x" * 5000, "--account", "web")
    with pytest.raises(CommandError) as refused:
        call_command("wechat_shorturl", "fetch", "nope", "--account", "web")
    assert refused.value.returncode == 4
    with pytest.raises(CommandError, match="No account"):
        call_command("wechat_shorturl", "fetch", key, "--account", "nope")
