"""Every message type and event WeChat pushes, parsed and normalized (webot/wechat-mp mapping).

Each fixture is checked against the expected normalized fields and, where wechatpy knows the
type, against wechatpy's independent parser.
"""
from pathlib import Path

import pytest
import wechatpy

from wechat_app.protocol import ForbiddenXMLError, MalformedMessageError, parse_message, parse_xml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "messages"

# fixture -> (type, text, event, event_key, expected param subset, has MsgId)
EXPECTED = {
    "text": ("text", "你好 hello", None, None, {}, True),
    "image": ("image", None, None, None, {"pic_url": "http://mmbiz.qpic.cn/pic.jpg", "media_id": "media_image_1"}, True),
    "voice": ("voice", None, None, None, {"media_id": "media_voice_1", "format": "amr"}, True),
    "voice_recognition": ("voice", "今天天气", None, None,
                          {"recognition": "今天天气", "media_id": "media_voice_2", "media_id_16k": "media_voice_16k"}, True),
    "video": ("video", None, None, None, {"media_id": "media_video_1", "thumb_media_id": "thumb_video_1"}, True),
    "shortvideo": ("shortvideo", None, None, None, {"media_id": "media_short_1", "thumb_media_id": "thumb_short_1"}, True),
    "location": ("location", None, None, None,
                 {"lat": 23.134521, "lng": 113.358803, "scale": 20, "label": "广州市天河区"}, True),
    "link": ("link", None, None, None,
             {"title": "A title", "description": "A description", "url": "https://example.com/a?b=1&c=2"}, True),
    "file": ("file", None, None, None,
             {"title": "report.pdf", "file_key": "filekey1", "file_md5": "5a4d0a1c", "file_total_len": 12345}, True),
    "event_subscribe": ("event", None, "subscribe", None, {"event": "subscribe"}, False),
    "event_subscribe_qrscene": ("event", None, "subscribe", "qrscene_123123",
                                {"ticket": "TICKET1", "scene": "123123", "event_key": "qrscene_123123"}, False),
    "event_unsubscribe": ("event", None, "unsubscribe", None, {"event": "unsubscribe"}, False),
    "event_scan": ("event", None, "SCAN", "123123", {"ticket": "TICKET2", "scene": "123123"}, False),
    "event_location": ("event", None, "LOCATION", None,
                       {"lat": 23.137466, "lng": 113.352425, "precision": 119.38504}, False),
    "event_click": ("event", None, "CLICK", "V1001_TODAY_MUSIC", {"event_key": "V1001_TODAY_MUSIC"}, False),
    "event_view": ("event", None, "VIEW", "https://example.com/menu",
                   {"url": "https://example.com/menu", "menu_id": "208379533"}, False),
    "event_scancode_push": ("event", None, "scancode_push", "rselfmenu_0_1",
                            {"scan_type": "qrcode", "scan_result": "http://weixin.qq.com/r/abc"}, False),
    "event_scancode_waitmsg": ("event", None, "scancode_waitmsg", "rselfmenu_0_0",
                               {"scan_type": "barcode", "scan_result": "EAN_13,6901234567892"}, False),
    "event_pic_sysphoto": ("event", None, "pic_sysphoto", "rselfmenu_1_0",
                           {"count": 1, "pic_list": ["1b5f7c23b5bf75682a53e7b6d163e185"]}, False),
    "event_pic_photo_or_album": ("event", None, "pic_photo_or_album", "rselfmenu_1_1",
                                 {"count": 2, "pic_list": ["aaa", "bbb"]}, False),
    "event_pic_weixin": ("event", None, "pic_weixin", "rselfmenu_1_2", {"count": 1, "pic_list": ["ccc"]}, False),
    "event_location_select": ("event", None, "location_select", "rselfmenu_2_0",
                              {"lat": 23.0, "lng": 113.0, "scale": 15, "label": " 广州市海珠区客村艺苑路 106号",
                               "poiname": ""}, False),
    "event_view_miniprogram": ("event", None, "view_miniprogram", "pages/index/index",
                               {"url": "pages/index/index", "menu_id": "MENUID"}, False),
    "event_templatesendjobfinish": ("event", None, "TEMPLATESENDJOBFINISH", None,
                                    {"msg_id": "200163836", "status": "success"}, True),
    "event_masssendjobfinish": ("event", None, "MASSSENDJOBFINISH", None,
                                {"msg_id": "1988", "status": "send success", "total_count": 100,
                                 "filter_count": 80, "sent_count": 75, "error_count": 5}, True),
    "unknown": ("miniprogrampage", None, None, None, {}, True),
}


def load(name):
    return (FIXTURES / f"{name}.xml").read_bytes()


def test_every_fixture_has_expectations():
    assert sorted(p.stem for p in FIXTURES.glob("*.xml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_normalized(name):
    msg_type, text, event, event_key, param, has_id = EXPECTED[name]
    msg = parse_message(load(name))
    assert msg.uid == "oUser0001"
    assert msg.sp == "gh_0123456789ab"
    assert msg.create_time == 1700000000
    assert msg.type == msg_type
    assert msg.text == text
    assert msg.event == event
    assert msg.event_key == event_key
    for key, value in param.items():
        assert msg.param[key] == value, key
    assert (msg.id is not None) == has_id
    # raw keeps every field as sent
    assert msg.raw["MsgType"] == msg_type if msg_type != "event" else msg.raw["Event"] == event
    assert msg.to_dict()["param"] == msg.param


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_agrees_with_wechatpy(name):
    ours = parse_message(load(name))
    theirs = wechatpy.parse_message(load(name).decode("utf-8"))
    assert theirs.source == ours.uid
    assert theirs.target == ours.sp
    assert int(theirs.create_time.timestamp()) == ours.create_time
    if ours.type == "text":
        assert theirs.content == ours.text
    if ours.type in ("image", "voice", "video", "shortvideo"):
        assert theirs.media_id == ours.param["media_id"]
    if ours.type == "location":
        assert (float(theirs.location_x), float(theirs.location_y)) == (ours.param["lat"], ours.param["lng"])
        assert theirs.label == ours.param["label"]
    if ours.type == "link":
        assert (theirs.title, theirs.url) == (ours.param["title"], ours.param["url"])
    if ours.type == "event" and hasattr(theirs, "event"):
        # wechatpy renames a subscribe through a QR code "subscribe_scan"
        assert theirs.event.lower().startswith(ours.event.lower())
    if name == "event_click":
        assert theirs.key == ours.event_key
    if name == "event_view":
        assert theirs.url == ours.param["url"]
    if name == "event_scan":
        assert theirs.scene_id == ours.param["scene"]
    if name == "event_subscribe_qrscene":
        assert theirs.scene_id == ours.param["scene"]


def test_dedupe_keys():
    assert parse_message(load("text")).dedupe_key == "msg:1234567890123456"
    assert parse_message(load("event_click")).dedupe_key == "evt:oUser0001:1700000000:CLICK:V1001_TODAY_MUSIC"
    # TEMPLATESENDJOBFINISH carries a MsgID but is an event: identified like every event
    assert parse_message(load("event_templatesendjobfinish")).dedupe_key.startswith("evt:")


@pytest.mark.parametrize("body", [
    b"", b"   ", b"not xml", b"<xml><a></xml>", b"<root><MsgType>text</MsgType></root>",
    b"<xml><ToUserName>a</ToUserName></xml>",
    b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>x</CreateTime>"
    b"<MsgType>text</MsgType></xml>",
    b"<xml><ToUserName>a</ToUserName><FromUserName><x>1</x></FromUserName><CreateTime>1</CreateTime>"
    b"<MsgType>text</MsgType></xml>",
])
def test_malformed_refused(body):
    with pytest.raises(MalformedMessageError):
        parse_message(body)


XXE = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content></xml>"""
LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><Content>&lol3;</Content></xml>"""


@pytest.mark.parametrize("body", [
    XXE, LAUGHS,
    b'<!doctype xml SYSTEM "http://127.0.0.1:1/x.dtd"><xml/>',
    b"<!DOCTYPE xml><xml/>",
    b"<xml><!ENTITY a 'b'></xml>",
    # the same attack in UTF-16: the byte-level guard cannot see it, the parser check must
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE xml [<!ENTITY a "b">]><xml><C>&a;</C></xml>'.encode("utf-16"),
])
def test_dtd_and_entities_refused(body):
    with pytest.raises(ForbiddenXMLError):
        parse_xml(body)


def test_external_entity_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    body = (f'<!DOCTYPE xml [<!ENTITY x SYSTEM "file://{secret}">]><xml><Content>&x;</Content></xml>').encode()
    with pytest.raises(ForbiddenXMLError) as info:
        parse_xml(body)
    assert "TOPSECRET" not in str(info.value)


def test_cdata_terminator_survives_in_content():
    body = ("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
            "<MsgType>text</MsgType><Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>")
    assert parse_message(body).text == "a]]>b"


@pytest.mark.parametrize("field,value", [
    ("Event", "<x>1</x>"), ("Event", "<![CDATA[CLICK]]></Event><Event>VIEW"),
    ("Content", "<a>1</a>"), ("Recognition", "<a>1</a>"), ("EventKey", "<a/>"),
])
def test_nested_or_repeated_fields_do_not_crash(field, value):
    """Hostile shapes normalize to strings (the fix of a crash on `<Event><x/></Event>`)."""
    msg_type = "voice" if field == "Recognition" else ("text" if field == "Content" else "event")
    body = (f"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
            f"<MsgType>{msg_type}</MsgType><{field}>{value}</{field}></xml>")
    msg = parse_message(body)
    for attr in (msg.text, msg.event, msg.event_key):
        assert attr is None or isinstance(attr, str)


def test_non_finite_coordinates_dropped():
    body = ("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
            "<MsgType>location</MsgType><Location_X>nan</Location_X><Location_Y>inf</Location_Y></xml>")
    msg = parse_message(body)
    assert msg.param["lat"] is None and msg.param["lng"] is None
