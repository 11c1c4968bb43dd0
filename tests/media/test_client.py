"""The media and material wx calls against the sandbox, over real HTTP, with WeChat's error codes."""
import pytest

from tests.media.conftest import JPEG, PNG, put_user_media, sandbox_admin
from wechat_app.client import WeChatAPIError
from wechat_app.client.errors import WeChatPayloadError
from wechat_app.client.material import MediaContent


def code(excinfo):
    return excinfo.value.errcode


def test_temporary_upload_then_get_returns_the_same_bytes(wx):
    answer = wx.media.upload("image", ("a.png", PNG))
    assert answer["type"] == "image" and len(answer["media_id"]) == 64
    got = wx.media.get(answer["media_id"])
    assert isinstance(got, MediaContent) and got.data == PNG and got.content_type == "image/png"


def test_temporary_upload_errors(wx):
    with pytest.raises(WeChatPayloadError):
        wx.media.upload("gif", ("a.gif", PNG))
    with pytest.raises(WeChatAPIError) as err:
        wx.media.upload("image", ("a.txt", b"hello"))
    assert code(err) == 40005
    with pytest.raises(WeChatAPIError) as err:
        wx.media.upload("thumb", ("t.jpg", b"x" * (64 * 1024 + 1)))
    assert code(err) == 40006
    with pytest.raises(WeChatAPIError) as err:
        wx.media.upload("voice", ("v.mp3", b""))
    assert code(err) == 41005
    thumb = wx.media.upload("thumb", ("t.jpg", JPEG))
    assert thumb["thumb_media_id"]


def test_media_get_unknown_id_is_40007(wx):
    with pytest.raises(WeChatAPIError) as err:
        wx.media.get("no-such-media")
    assert code(err) == 40007


def test_user_media_put_in_the_sandbox_is_fetched(wx, sandbox):
    media_id = put_user_media(sandbox, JPEG)
    got = wx.media.get(media_id)
    assert got.data == JPEG and got.content_type == "image/jpeg"
    video = put_user_media(sandbox, b"\x00\x00\x00\x18ftypmp42", kind="video", filename="v.mp4",
                           content_type="video/mp4")
    link = wx.media.get(video)
    assert set(link) == {"video_url"}
    content_type, body = sandbox_admin(sandbox, "GET", link["video_url"].split("/_sandbox", 1)[1])
    assert body == b"\x00\x00\x00\x18ftypmp42" and content_type == "video/mp4"


def test_material_add_list_count_get_delete(wx):
    image = wx.material.add("image", ("cat.png", PNG))
    assert image["url"].startswith("http://mmbiz.qpic.cn/")
    voice = wx.material.add("voice", ("hello.mp3", b"ID3" + b"\x00" * 100))
    video = wx.material.add("video", ("clip.mp4", b"\x00" * 50), title="Clip", introduction="intro 视频")
    assert wx.material.count() == {"image_count": 1, "voice_count": 1, "video_count": 1, "news_count": 0}
    assert wx.material.get(image["media_id"]).data == PNG
    assert wx.material.get(voice["media_id"]).data.startswith(b"ID3")
    info = wx.material.get(video["media_id"])
    assert info["title"] == "Clip" and info["description"] == "intro 视频" and info["down_url"]
    items = list(wx.material.iter_items("image"))
    assert [i["media_id"] for i in items] == [image["media_id"]] and items[0]["name"] == "cat.png"
    wx.material.delete(image["media_id"])
    with pytest.raises(WeChatAPIError) as err:
        wx.material.get(image["media_id"])
    assert code(err) == 40007
    with pytest.raises(WeChatAPIError) as err:
        wx.material.delete(image["media_id"])
    assert code(err) == 40007


def test_material_pages_of_twenty(wx):
    ids = {wx.material.add("image", (f"i{n}.png", PNG))["media_id"] for n in range(45)}
    page = wx.material.batchget("image", 40, 20)
    assert page["total_count"] == 45 and page["item_count"] == 5
    assert {i["media_id"] for i in wx.material.iter_items("image")} == ids


def test_material_errors(wx, sandbox):
    cases = [
        (lambda: wx.material.add("image", ("a.exe", PNG)), 40005),
        (lambda: wx.material.add("image", ("big.png", b"x" * (10 * 1024 * 1024 + 1))), 40006),
        (lambda: wx.material.add("voice", ("long.mp3", b"x" * (2 * 1024 * 1024 + 1))), 40006),
        (lambda: wx.material.add("video", ("v.avi", b"x"), title="t"), 40005),
        (lambda: wx.material.batchget("image", 0, 21), 47001),
    ]
    for call, expected in cases:
        with pytest.raises(WeChatAPIError) as err:
            call()
        assert code(err) == expected
    with pytest.raises(WeChatAPIError) as err:  # a type WeChat does not know
        wx.request("POST", "/cgi-bin/material/add_material", params={"type": "file"},
                       files={"media": ("a.png", PNG)})
    assert code(err) == 40004
    with pytest.raises(WeChatAPIError) as err:
        wx.request("POST", "/cgi-bin/material/batchget_material", json={"type": "thumb"})
    assert code(err) == 40004


def test_material_daily_quota_is_45009(wx, sandbox):
    sandbox_admin(sandbox, "POST", "/media/quota", {"daily_quota": 1})
    wx.material.add("image", ("a.png", PNG))
    with pytest.raises(WeChatAPIError) as err:
        wx.material.add("image", ("b.png", PNG))
    assert code(err) == 45009 and err.value.is_quota
    assert wx.material.count()["image_count"] == 1
