"""WeCom's callback crypto and messages (pure protocol): WeCom's published sample values, and both
ways with wechatpy's enterprise crypto."""
import pytest
import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto

from wechat_app.protocol import (
    AppIdMismatchError,
    InvalidSignatureError,
    WeComCrypto,
    parse_wecom_message,
)

from .wecom_client import wecom_xml

# The values of WeCom's WXBizMsgCrypt sample (Sample.py of the official library).
SAMPLE_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
SAMPLE_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
SAMPLE_CORP = "ww1436e0e65a779aee"
VERIFY = dict(msg_signature="012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", timestamp="1476416373", nonce="47744683",
              echostr="fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==")
REQUEST = dict(msg_signature="0c3914025cb4b4d68103f6bfc8db550f79dcf48e", timestamp="1476422779", nonce="1597212914")
REQUEST_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew"
    "+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24Yhm"
    "ZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwo"
    "cugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+")


@pytest.fixture
def sample():
    return WeComCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_CORP)


def test_sample_url_check_answers_echostr_decrypted(sample):
    echo = sample.verify_url(VERIFY["msg_signature"], VERIFY["timestamp"], VERIFY["nonce"], VERIFY["echostr"])
    assert echo == "1288432023552776189"
    with pytest.raises(InvalidSignatureError):
        sample.verify_url("0" * 40, VERIFY["timestamp"], VERIFY["nonce"], VERIFY["echostr"])


def test_sample_message_decrypts_and_parses(sample):
    xml = sample.decrypt_message(REQUEST_ENCRYPT, REQUEST["msg_signature"], REQUEST["timestamp"], REQUEST["nonce"])
    message = parse_wecom_message(xml)
    assert (message.uid, message.sp, message.type, message.text) == ("ChenJiaShun", SAMPLE_CORP, "text", "你好")
    assert message.id == "1456453720" and message.param["agent_id"] == 1000002
    with pytest.raises(InvalidSignatureError):
        sample.decrypt_message(REQUEST_ENCRYPT, REQUEST["msg_signature"], "1476422780", REQUEST["nonce"])


def test_another_corps_payload_is_refused():
    other = WeComCrypto(SAMPLE_TOKEN, SAMPLE_KEY, "ww0000000000000000")
    with pytest.raises(AppIdMismatchError):
        other.decrypt(VERIFY["echostr"])


def test_both_ways_with_wechatpy(sample):
    theirs = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_CORP)
    reply = "<xml><ToUserName>zhangsan</ToUserName><Content>你好 ✓</Content></xml>"
    ours = sample.encrypt_message(reply, "nonce1", "1476422779")
    outer = xmltodict.parse(ours)["xml"]
    assert theirs.decrypt_message(ours, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"]) == reply
    envelope = theirs.encrypt_message(reply, "nonce2", "1476422800")
    outer = xmltodict.parse(envelope)["xml"]
    assert sample.decrypt_message(outer["Encrypt"], outer["MsgSignature"], "1476422800", "nonce2") == reply
    # wechatpy's URL check agrees with ours on the sample
    assert theirs.check_signature(VERIFY["msg_signature"], VERIFY["timestamp"], VERIFY["nonce"],
                                  VERIFY["echostr"]) == "1288432023552776189"


@pytest.mark.parametrize(("msg_type", "fields", "param"), [
    ("text", {"Content": "hi"}, {}),
    ("image", {"PicUrl": "http://p/1.jpg", "MediaId": "m1"}, {"pic_url": "http://p/1.jpg", "media_id": "m1"}),
    ("voice", {"MediaId": "m2", "Format": "amr"}, {"media_id": "m2", "format": "amr"}),
    ("video", {"MediaId": "m3", "ThumbMediaId": "t3"}, {"media_id": "m3", "thumb_media_id": "t3"}),
    ("location", {"Location_X": "23.1", "Location_Y": "113.3", "Scale": "15", "Label": "Guangzhou"},
     {"lat": 23.1, "lng": 113.3, "scale": 15, "label": "Guangzhou"}),
    ("link", {"Title": "T", "Description": "D", "Url": "http://x", "PicUrl": "http://p"},
     {"title": "T", "description": "D", "url": "http://x"}),
])
def test_message_types(msg_type, fields, param):
    message = parse_wecom_message(wecom_xml(msg_type, **fields))
    assert message.type == msg_type and message.param["agent_id"] == 1000002
    assert {k: message.param[k] for k in param} == param


@pytest.mark.parametrize(("event", "fields", "raw", "param"), [
    ("enter_agent", {"EventKey": ""}, "", {}),
    ("click", {"EventKey": "MENU_1"}, "", {"event_key": "MENU_1"}),
    ("view", {"EventKey": "https://example.com/"}, "", {"url": "https://example.com/"}),
    ("scancode_push", {"EventKey": "s1"}, "<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>R</ScanResult>"
     "</ScanCodeInfo>", {"scan_type": "qrcode", "scan_result": "R"}),
    ("scancode_waitmsg", {"EventKey": "s2"}, "<ScanCodeInfo><ScanType>barcode</ScanType><ScanResult>B</ScanResult>"
     "</ScanCodeInfo>", {"scan_type": "barcode", "scan_result": "B"}),
    ("pic_sysphoto", {"EventKey": "p"}, "<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum>abc</PicMd5Sum>"
     "</item></PicList></SendPicsInfo>", {"count": 1, "pic_list": ["abc"]}),
    ("pic_photo_or_album", {"EventKey": "p"}, "<SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum>a</PicMd5Sum>"
     "</item><item><PicMd5Sum>b</PicMd5Sum></item></PicList></SendPicsInfo>", {"count": 2, "pic_list": ["a", "b"]}),
    ("pic_weixin", {"EventKey": "p"}, "<SendPicsInfo><Count>0</Count></SendPicsInfo>", {"count": 0}),
    ("location_select", {"EventKey": "l"}, "<SendLocationInfo><Location_X>23</Location_X><Location_Y>113</Location_Y>"
     "<Scale>15</Scale><Label>L</Label><Poiname>P</Poiname></SendLocationInfo>", {"lat": 23.0, "poiname": "P"}),
    ("batch_job_result", {}, "<BatchJob><JobId>J1</JobId><JobType>sync_user</JobType><ErrCode>0</ErrCode>"
     "<ErrMsg>ok</ErrMsg></BatchJob>", {"job_id": "J1", "job_type": "sync_user", "errcode": 0}),
])
def test_events(event, fields, raw, param):
    message = parse_wecom_message(wecom_xml("event", Event=event, raw_fields=raw, **fields))
    assert message.is_event and message.event == event
    assert {k: message.param[k] for k in param} == param


@pytest.mark.parametrize(("change_type", "fields", "param"), [
    ("create_user", {"UserID": "u1", "Name": "Zhang", "Department": "1,2", "Mobile": "138"},
     {"user_id": "u1", "name": "Zhang", "department": "1,2"}),
    ("update_user", {"UserID": "u1", "NewUserID": "u2"}, {"user_id": "u1", "new_user_id": "u2"}),
    ("delete_user", {"UserID": "u1"}, {"user_id": "u1"}),
    ("create_party", {"Id": "2", "Name": "R&D", "ParentId": "1", "Order": "1"}, {"party_id": "2", "parent_id": "1"}),
    ("update_party", {"Id": "2", "Name": "RD"}, {"party_id": "2", "name": "RD"}),
    ("delete_party", {"Id": "2"}, {"party_id": "2"}),
    ("update_tag", {"TagId": "1", "AddUserItems": "u1,u2", "DelPartyItems": "3"},
     {"tag_id": "1", "add_user_items": "u1,u2", "del_party_items": "3"}),
])
def test_change_contact_events(change_type, fields, param):
    message = parse_wecom_message(wecom_xml("event", user="sys", agent_id=None, Event="change_contact",
                                            ChangeType=change_type, **fields))
    assert message.param["change_type"] == change_type and message.param["agent_id"] is None
    assert {k: message.param[k] for k in param} == param


def test_changes_in_one_second_are_distinct_deliveries():
    one = parse_wecom_message(wecom_xml("event", user="sys", create_time=1700000000, Event="change_contact",
                                        ChangeType="create_user", UserID="u1"))
    two = parse_wecom_message(wecom_xml("event", user="sys", create_time=1700000000, Event="change_contact",
                                        ChangeType="create_user", UserID="u2"))
    again = parse_wecom_message(wecom_xml("event", user="sys", create_time=1700000000, Event="change_contact",
                                          ChangeType="create_user", UserID="u1"))
    assert one.dedupe_key != two.dedupe_key and one.dedupe_key == again.dedupe_key
