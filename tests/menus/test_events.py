"""Every kind of button that pushes an event reaches its rule by its key (button → rule), through
the real callback, and the clicks are counted from the message log."""
from urllib.parse import urlencode

import pytest
from django.test import Client

from wechat_app.models import Menu, MessageLog, Rule
from wechat_app.protocol.simulator import sign_request
from wechat_app.services import menus

pytestmark = pytest.mark.django_db

USER = "oMgHVjngRipVsoxg6TuX3vz6glDg"
# The extra XML WeChat sends with each event (from the WeChat documentation's examples).
EXTRA = {
    "scancode_push": "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
                     "<ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>",
    "scancode_waitmsg": "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
                        "<ScanResult><![CDATA[2]]></ScanResult></ScanCodeInfo>",
    "pic_sysphoto": "<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA["
                    "1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item></PicList></SendPicsInfo>",
    "pic_photo_or_album": "<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA["
                          "5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item></PicList></SendPicsInfo>",
    "pic_weixin": "<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA["
                  "5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item></PicList></SendPicsInfo>",
    "location_select": "<SendLocationInfo><Location_X><![CDATA[23]]></Location_X><Location_Y><![CDATA[113]]>"
                       "</Location_Y><Scale><![CDATA[15]]></Scale><Label><![CDATA[ 广州市海珠区客村艺苑路 106号]]>"
                       "</Label><Poiname><![CDATA[]]></Poiname></SendLocationInfo>",
    "VIEW": "<MenuId>401234567</MenuId>",
    "view_miniprogram": "<MenuId>401234567</MenuId>",
}
BUTTONS = [
    {"type": "click", "name": "click", "key": "K_CLICK"},
    {"type": "scancode_push", "name": "scancode_push", "key": "K_SCAN_PUSH"},
    {"type": "scancode_waitmsg", "name": "scancode_waitmsg", "key": "K_SCAN_WAIT"},
    {"type": "pic_sysphoto", "name": "pic_sysphoto", "key": "K_PIC_SYS"},
    {"type": "pic_photo_or_album", "name": "pic_photo_or_album", "key": "K_PIC_ALBUM"},
    {"type": "pic_weixin", "name": "pic_weixin", "key": "K_PIC_WX"},
    {"type": "location_select", "name": "location_select", "key": "K_LOCATION"},
    {"type": "view", "name": "view", "url": "https://example.com/shop"},
    {"type": "miniprogram", "name": "miniprogram", "url": "https://example.com", "appid": "wx286b93c14bbf93aa",
     "pagepath": "pages/index/index"},
]
# (the event WeChat pushes, the EventKey it carries) per button above
PUSHED = [("CLICK", "K_CLICK"), ("scancode_push", "K_SCAN_PUSH"), ("scancode_waitmsg", "K_SCAN_WAIT"),
          ("pic_sysphoto", "K_PIC_SYS"), ("pic_photo_or_album", "K_PIC_ALBUM"), ("pic_weixin", "K_PIC_WX"),
          ("location_select", "K_LOCATION"), ("VIEW", "https://example.com/shop"),
          ("view_miniprogram", "pages/index/index")]


@pytest.fixture
def menu(account):
    return Menu.objects.create(account=account, name="All kinds", kind=Menu.Kind.CONDITIONAL, buttons=[
        {"name": "A", "sub_button": BUTTONS[:5]}, {"name": "B", "sub_button": BUTTONS[5:]}],
        matchrule={"sex": "1"})


def push(account, event, key, create_time=1408090502):
    xml = (f"<xml><ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName><FromUserName><![CDATA[{USER}]]>"
           f"</FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey>{EXTRA.get(event, '')}</xml>")
    params, body = sign_request(xml, account.token, user=USER)
    response = Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body,
                             content_type="text/xml")
    assert response.status_code == 200
    return response.content.decode()


def test_the_menu_is_valid():
    from wechat_app.client.menus import validate_menu

    validate_menu({"button": [{"name": "A", "sub_button": BUTTONS[:5]}, {"name": "B", "sub_button": BUTTONS[5:]}]})


@pytest.mark.parametrize("index", range(len(BUTTONS)))
def test_every_event_button_reaches_the_rule_linked_to_it(account, menu, index):
    event, key = PUSHED[index]
    rule = menus.link_rule(account, key, reply_text=f"reply to {BUTTONS[index]['name']}")
    assert (rule.match_kind, rule.match_value, rule.match_key) == ("event", event, key)
    answer = push(account, event, key)
    assert f"<![CDATA[reply to {BUTTONS[index]['name']}]]>" in answer
    log = MessageLog.objects.get()
    assert log.rule_id == rule.pk and log.event_key == key


def test_an_existing_rule_can_be_linked_and_other_keys_do_not_match(account, menu):
    rule = Rule.objects.create(account=account, name="scan", match_kind="contains", match_value="scan",
                               replies=[{"type": "text", "content": "Scanned!"}])
    linked = menus.link_rule(account, "K_SCAN_WAIT", rule)
    assert linked.pk == rule.pk and (linked.match_value, linked.match_key) == ("scancode_waitmsg", "K_SCAN_WAIT")
    assert "Scanned!" in push(account, "scancode_waitmsg", "K_SCAN_WAIT")
    assert push(account, "scancode_waitmsg", "K_OTHER", create_time=1408090503) == "success"


def test_link_rule_refuses_bad_input(account, menu, django_user_model):
    from wechat_app.models import Account

    with pytest.raises(ValueError, match="no key"):
        menus.link_rule(account, " ", reply_text="x")
    with pytest.raises(ValueError, match="reply text"):
        menus.link_rule(account, "K_CLICK")
    other = Account.objects.create(name="other", app_id="wxother00001", app_secret="s", token="tok456")
    foreign = Rule.objects.create(account=other, name="r", match_kind="exact", match_value="x",
                                  replies=[{"type": "text", "content": "x"}])
    with pytest.raises(ValueError, match="another account"):
        menus.link_rule(account, "K_CLICK", foreign)
    # A second new rule for the same key gets its own name.
    first = menus.link_rule(account, "K_CLICK", reply_text="one")
    second = menus.link_rule(account, "K_CLICK", reply_text="two")
    assert first.name == "Menu button K_CLICK" and second.name == "Menu button K_CLICK (2)"


def test_button_clicks_counts_menu_events_of_the_last_days(account, menu):
    from datetime import timedelta

    from django.utils import timezone

    push(account, "CLICK", "K_CLICK", 1408090502)
    push(account, "CLICK", "K_CLICK", 1408090503)
    push(account, "VIEW", "https://example.com/shop", 1408090504)
    push(account, "scancode_push", "K_SCAN_PUSH", 1408090505)
    push(account, "subscribe", "", 1408090506)  # not a menu event
    assert menus.button_clicks(account) == {"K_CLICK": 2, "https://example.com/shop": 1, "K_SCAN_PUSH": 1}
    MessageLog.objects.filter(event_key="K_SCAN_PUSH").update(created_at=timezone.now() - timedelta(days=8))
    assert menus.button_clicks(account, days=7) == {"K_CLICK": 2, "https://example.com/shop": 1}


@pytest.mark.parametrize("args, reply", [
    (["scancode_push", "K_SCAN_PUSH", "https://example.com/code"], "scanned"),
    (["pic_weixin", "K_PIC_WX"], "pictures"),
    (["location_select", "K_LOCATION", "23.1", "113.3", "Canton"], "located"),
    (["view_miniprogram", "pages/index/index"], "mini program"),
])
def test_wechat_send_simulates_each_menu_event(account, menu, args, reply):
    """``wechat_send event NAME KEY [DETAILS]`` sends what WeChat sends for a menu button."""
    from io import StringIO

    from django.core.management import call_command

    menus.link_rule(account, args[1], reply_text=reply)
    out = StringIO()
    call_command("wechat_send", "event", *args, "--account", account.name, stdout=out, stderr=StringIO())
    assert reply in out.getvalue()
    log = MessageLog.objects.get()
    assert log.event == args[0] and log.event_key == args[1]
    if args[0] == "location_select":
        assert log.message["param"]["label"] == "Canton"
    if args[0] == "scancode_push":
        assert log.message["param"]["scan_result"] == "https://example.com/code"
