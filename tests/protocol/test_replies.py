"""Passive replies: our XML read by wechatpy (plain and encrypted) and compared with wechatpy's own."""
import pytest
import wechatpy
from wechatpy import replies as wr
from wechatpy.crypto import WeChatCrypto

from wechat_app.protocol import MessageCrypto, parse_xml, render_reply, reply_from_dict
from wechat_app.protocol.replies import ReplyError, cdata

TOKEN, KEY, APPID = "tok123", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx1234567890abcd"
TO, FROM, NOW = "oUser0001", "gh_0123456789ab", 1700000000

CASES = {
    # (wechatpy cannot render "]]>" in text: its XML breaks; ours is tested on its own below)
    "text": ({"type": "text", "content": "Hello <b> & 中文"}, wr.TextReply(content="Hello <b> & 中文")),
    "image": ({"type": "image", "media_id": "M1"}, wr.ImageReply(media_id="M1")),
    "voice": ({"type": "voice", "media_id": "V1"}, wr.VoiceReply(media_id="V1")),
    "video": ({"type": "video", "media_id": "VD", "title": "T", "description": "D"},
              wr.VideoReply(media_id="VD", title="T", description="D")),
    "music": ({"type": "music", "title": "Song", "description": "Desc", "music_url": "http://x/a.mp3",
               "hq_music_url": "http://x/a.m4a", "thumb_media_id": "T1"},
              wr.MusicReply(title="Song", description="Desc", music_url="http://x/a.mp3",
                            hq_music_url="http://x/a.m4a", thumb_media_id="T1")),
    "news": ({"type": "news", "articles": [
                {"title": "A", "description": "a", "url": "http://x/1", "pic_url": "http://x/1.jpg"},
                {"title": "B", "description": "b", "url": "http://x/2", "pic_url": "http://x/2.jpg"}]},
             wr.ArticlesReply(articles=[
                {"title": "A", "description": "a", "url": "http://x/1", "image": "http://x/1.jpg"},
                {"title": "B", "description": "b", "url": "http://x/2", "image": "http://x/2.jpg"}])),
    "transfer_customer_service": ({"type": "transfer_customer_service"}, wr.TransferCustomerServiceReply()),
}


def ours(name):
    return render_reply(reply_from_dict(CASES[name][0]), to_user=TO, from_user=FROM, create_time=NOW)


def theirs(name):
    reply = CASES[name][1]
    reply.source, reply.target, reply.time = FROM, TO, NOW
    return reply.render()


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_fields_as_wechatpy(name):
    assert parse_xml(ours(name)) == parse_xml(theirs(name))


@pytest.mark.parametrize("name", sorted(CASES))
def test_wechatpy_parses_ours(name):
    message = wechatpy.parse_message(ours(name))
    assert message.source == FROM and message.target == TO
    assert message.type in (CASES[name][1].type, "unknown")
    if name == "text":
        assert message.content == CASES["text"][0]["content"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_encrypted_reply_decrypted_by_wechatpy(name):
    envelope = MessageCrypto(TOKEN, KEY, APPID).encrypt_message(ours(name), "n0nce", "1700000001")
    fields = parse_xml(envelope)
    plain = WeChatCrypto(TOKEN, KEY, APPID).decrypt_message(envelope, fields["MsgSignature"], "1700000001", "n0nce")
    assert plain == ours(name)


def test_cdata_terminator_survives_both_parsers():
    for text in ["]]>", "a]]>b]]>c", "]]]]>", "<![CDATA[x]]>"]:
        xml = render_reply(reply_from_dict(text), to_user=TO, from_user=FROM, create_time=NOW)
        assert parse_xml(xml)["Content"] == text
        assert wechatpy.parse_message(xml).content == text


def test_invalid_xml_characters_dropped():
    assert cdata("a\x00b\x1fc\ud800d") == "<![CDATA[abcd]]>"
    xml = render_reply(reply_from_dict("a\x00b"), to_user=TO, from_user=FROM, create_time=NOW)
    assert parse_xml(xml.encode("utf-8"))["Content"] == "ab"
    # a lone surrogate is refused as a reply definition (it used to raise UnicodeEncodeError)
    with pytest.raises(ReplyError):
        reply_from_dict("a\ud83d")


@pytest.mark.parametrize("bad", [
    {"type": "news", "articles": []},
    {"type": "news", "articles": [{"title": str(i)} for i in range(9)]},
    {"type": "image"}, {"type": "text", "content": ""}, {"type": "text", "content": "x" * 2049},
    {"type": "nope"}, {"type": "text", "content": "x", "extra": 1}, 42,
])
def test_invalid_replies_refused(bad):
    with pytest.raises(ReplyError):
        reply_from_dict(bad)
