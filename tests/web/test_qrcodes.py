"""QR codes: both kinds created through the sandbox, images, the linked rule answering scans and
subscribes through the real signed (encrypted) callback, and figures counted once per event
under WeChat's retries."""
import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from wechat_app.client import WeChatAPIError
from wechat_app.models import Account, QRCode
from wechat_app.services import qrcodes

APP_ID, SECRET, TOKEN = "wxqrcodes00001", "qr-app-secret-0001", "qrtoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def make_account(sandbox, **extra):
    account = Account.objects.create(name="qr", app_id=APP_ID, app_secret=SECRET, token=TOKEN,
                                     encoding_aes_key=AES_KEY, encrypt_mode="safe", api_base_url=sandbox.url)
    sandbox.state.add_app(APP_ID, SECRET, original_id="gh_qr", **extra)
    return account


def new_code(account, **fields):
    qr = QRCode(account=account, **fields)
    qr.full_clean(exclude=["ticket", "url", "scene"])
    return qrcodes.create_qrcode(qr)


@pytest.mark.django_db
def test_both_kinds_are_created_with_a_ticket_url_and_image(sandbox):
    account = make_account(sandbox)
    temporary = new_code(account, name="Poster", kind="temporary", scene_id=123456789, expire_seconds=3600)
    permanent = new_code(account, name="Shop door", kind="permanent", scene_str="door")
    assert temporary.ticket and temporary.url.startswith("http://weixin.qq.com/q/") and temporary.scene == "123456789"
    assert 3590 < (temporary.expires_at - temporary.created_at).total_seconds() <= 3601
    assert permanent.expires_at is None and permanent.scene == "door"
    bodies = [c["body"]["action_name"] for c in sandbox.state.calls if c["path"] == "/cgi-bin/qrcode/create"]
    assert bodies == ["QR_SCENE", "QR_LIMIT_STR_SCENE"]
    image = qrcodes.png(permanent)
    assert image.startswith(b"\x89PNG")
    from wechat_app.services.tokens import get_client

    assert get_client(account).qrcode.fetch_image(permanent.ticket).startswith(b"\x89PNG")  # showqrcode


@pytest.mark.django_db
@pytest.mark.parametrize("fields, field", [
    ({"kind": "permanent", "scene_id": 100001}, "scene_id"),
    ({"kind": "temporary", "scene_id": 0}, "scene_id"),
    ({"kind": "temporary"}, "scene_id"),
    ({"kind": "temporary", "scene_id": 5, "scene_str": "x"}, "scene_id"),
    ({"kind": "temporary", "scene_str": "x" * 65}, "scene_str"),
    ({"kind": "temporary", "scene_str": " padded"}, "scene_str"),
    ({"kind": "temporary", "scene_id": 5, "expire_seconds": 30}, "expire_seconds"),
    ({"kind": "temporary", "scene_id": 5, "expire_seconds": 2592001}, "expire_seconds"),
    ({"kind": "permanent", "scene_id": 5, "expire_seconds": 600}, "expire_seconds"),
])
def test_invalid_codes_are_refused_by_field(sandbox, fields, field):
    account = make_account(sandbox)
    with pytest.raises(ValidationError) as err:
        QRCode(account=account, name="x", **fields).full_clean(exclude=["ticket", "url", "scene"])
    assert field in err.value.message_dict


@pytest.mark.django_db
def test_a_duplicate_scene_and_a_wechat_refusal(sandbox):
    account = make_account(sandbox)
    new_code(account, name="A", kind="permanent", scene_id=7)
    with pytest.raises(ValidationError) as err:
        QRCode(account=account, name="B", kind="temporary", scene_id=7).full_clean(exclude=["ticket", "url", "scene"])
    assert "could not be told apart" in str(err.value.message_dict["scene_id"])
    sandbox.state.add_fault("/cgi-bin/qrcode/create", errcode=45009)
    with pytest.raises(WeChatAPIError):
        new_code(account, name="C", kind="permanent", scene_id=8)
    assert not QRCode.objects.filter(name="C").exists()


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_scans_reach_the_linked_rule_and_are_counted_once_under_retries(sandbox, live_server):
    account = make_account(sandbox)
    callback = live_server.url + reverse("wechat_app:callback", kwargs={"account_name": account.name})
    sandbox.state.add_app(APP_ID, SECRET, callback_url=callback, token=TOKEN, encoding_aes_key=AES_KEY,
                          encrypt_mode="safe", original_id="gh_qr")
    poster = new_code(account, name="Poster", kind="temporary", scene_id=42, expire_seconds=600)
    door = new_code(account, name="Door", kind="permanent", scene_str="door")
    qrcodes.link_rule(poster, "Thanks for scanning the poster!")
    fan, newcomer, other = "oFan000000000001", "oNew000000000002", "oOther0000000003"
    now = int(time.time())

    def push(openid, event, key, create_time):
        fields = {"Event": event, "EventKey": key, "Ticket": poster.ticket, "CreateTime": create_time}
        return sandbox.push_event(APP_ID, openid, fields)

    # A follower scans (SCAN <scene>), WeChat retries twice: one reply, one log row.
    answers = [push(fan, "SCAN", "42", now) for _ in range(3)]
    assert all(a["status"] == 200 for a in answers)
    assert all("Thanks for scanning the poster!" not in a["body"] for a in answers)  # encrypted
    from wechat_app.protocol import MessageCrypto
    from wechat_app.protocol.simulator import read_reply

    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    replies = {read_reply(a["body"].encode(), crypto)[0]["Content"] for a in answers}
    assert replies == {"Thanks for scanning the poster!"}
    # A new follower subscribes through the code (qrscene_<scene>), retried once: same rule.
    answers = [push(newcomer, "subscribe", "qrscene_42", now + 1) for _ in range(2)]
    assert {read_reply(a["body"].encode(), crypto)[0]["Content"] for a in answers} == {"Thanks for scanning the poster!"}
    # The newcomer scans again later (now a follower); another code's scans count for it.
    push(newcomer, "SCAN", "42", now + 5)
    sandbox.push_event(APP_ID, other, {"Event": "subscribe", "EventKey": "qrscene_door", "CreateTime": now + 2})
    sandbox.push_event(APP_ID, other, {"Event": "subscribe", "CreateTime": now + 3})  # not through a code
    assert qrcodes.figures(poster) == {"scans": 3, "new_followers": 1, "users": 2}
    assert qrcodes.figures(door) == {"scans": 1, "new_followers": 1, "users": 1}
    both = qrcodes.figures_for([poster, door])
    assert both[poster.pk]["scans"] == 3 and both[poster.pk]["new_followers"] == 1 and both[door.pk]["scans"] == 1
