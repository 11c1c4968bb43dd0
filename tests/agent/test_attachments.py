"""Official Account media for the agent: an image, voice or video message's event carries, besides
WeChat's media id, the stored file's REST URL (fetched with the agent's API token) and, once
FETCH_INCOMING_MEDIA stored it, its local path — the same attachment fields as iLink bots'."""
import base64
import json
import urllib.request
from pathlib import Path

import pytest

from tests.agent.conftest import API, APP_ID, USER, agent_settings
from tests.polling import wait_until
from tests.wechat_client import WeChatServer, message_xml
from wechat_app.models import AgentEvent, IncomingMedia
from wechat_app.sandbox.agent import FakeAgent

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
SECRET = "agent-shared-secret-2"
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/"
    "yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k=")


def user_media(sandbox, data, kind="image", filename="photo.jpg", content_type="image/jpeg"):
    """Put a file a user sent into the sandbox (its control API); return the MediaId."""
    body = json.dumps({"app_id": APP_ID, "kind": kind, "filename": filename, "content_type": content_type,
                       "data_base64": base64.b64encode(data).decode()}).encode()
    request = urllib.request.Request(sandbox.url + "/_sandbox/media", method="POST", data=body)
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        return json.loads(response.read())["media_id"]


@pytest.fixture
def fetch_on(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WECHAT_APP = {**getattr(settings, "WECHAT_APP", {}), "FETCH_INCOMING_MEDIA": True}


def test_an_image_event_carries_the_stored_file_s_url_and_path(live_server, sandbox, shop, api_key, fetch_on, client):
    media_id = user_media(sandbox, JPEG)
    with FakeAgent(SECRET, reply=None) as fake:
        agent_settings(shop, mode="callback", callback_url=fake.url, shared_secret=SECRET)
        wechat = WeChatServer(live_server.url, shop.name, shop.token, shop.app_id)
        xml = message_xml("image", user=USER, sp="gh_agent", PicUrl="http://mmbiz.qpic.cn/pic1", MediaId=media_id,
                          msg_id=9900001)
        for _ in range(2):  # and WeChat's retry
            assert wechat.send(xml).response.status_code == 200
        assert fake.wait_for(events=1)
    row = IncomingMedia.objects.get()
    (sent,) = fake.events
    (item,) = sent["event"]["attachments"]
    assert item["kind"] == "image" and item["type"] == "image" and item["media_id"] == media_id
    assert item["pic_url"] == "http://mmbiz.qpic.cn/pic1"
    assert item["incoming_media_id"] == row.pk and item["url"] == f"{API}/incoming-media/{row.pk}/file/"
    # The fetch runs after the hand-off: the file is stored once, and the REST URL serves it to the
    # agent's token.
    assert wait_until(lambda: IncomingMedia.objects.get().status == IncomingMedia.Status.DONE)
    assert len(sandbox.state.list_calls("/cgi-bin/media/get")) == 1
    fetched = client.get(item["url"], HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert fetched.status_code == 200 and b"".join(fetched.streaming_content if fetched.streaming else
                                                   [fetched.content]) == JPEG
    # The inbox shows the event as it is now: the absolute URL, the status and the local path.
    event = AgentEvent.objects.get()
    listed = client.get(f"{API}/agent/inbox/{event.pk}/", HTTP_AUTHORIZATION=f"Bearer {api_key}").json()
    (now,) = listed["attachments"]
    assert now["url"] == f"http://testserver{API}/incoming-media/{row.pk}/file/"
    assert now["status"] == "done" and now["size"] == len(JPEG) and now["content_type"] == "image/jpeg"
    assert Path(now["path"]).read_bytes() == JPEG and now["media_id"] == media_id
    # A redelivery (an operator's retry) sends the path too.
    from wechat_app.services import agent

    payload = agent.event_payload(event)
    assert Path(payload["attachments"][0]["path"]).read_bytes() == JPEG


def test_a_voice_event_in_the_inbox_names_its_format_and_file(sandbox, shop, api_key, fetch_on, client):
    from wechat_app.protocol import parse_message
    from wechat_app.services import agent

    agent_settings(shop, mode="inbox")
    media_id = user_media(sandbox, b"#!AMR\n" + b"\x00" * 40, kind="voice", filename="v.amr",
                          content_type="audio/amr")
    event = agent.hand_off(shop, parse_message(message_xml("voice", user=USER, MediaId=media_id, Format="amr",
                                                           Recognition="hello")))
    (item,) = event.attachments
    assert item["kind"] == "voice" and item["format"] == "amr" and item["status"] == "pending"
    assert item["path"] is None and item["url"].endswith(f"/incoming-media/{item['incoming_media_id']}/file/")
    assert IncomingMedia.objects.get().pk == item["incoming_media_id"]  # the fetch will find this row


def test_without_fetch_incoming_media_only_wechat_s_media_id(sandbox, shop, settings):
    from wechat_app.protocol import parse_message
    from wechat_app.services import agent

    agent_settings(shop, mode="inbox")
    event = agent.hand_off(shop, parse_message(message_xml("image", user=USER, PicUrl="http://mmbiz.qpic.cn/p",
                                                           MediaId="m-1")))
    assert event.attachments == [{"kind": "image", "type": "image", "media_id": "m-1", "url": None, "path": None,
                                  "pic_url": "http://mmbiz.qpic.cn/p"}]
    assert not IncomingMedia.objects.exists()
    assert agent.event_payload(event)["attachments"] == event.attachments


def test_the_inbox_lists_a_page_of_media_events_in_a_fixed_number_of_queries(
        sandbox, shop, api_key, fetch_on, client, django_assert_max_num_queries):
    from wechat_app.protocol import parse_message
    from wechat_app.services import agent

    agent_settings(shop, mode="inbox")

    def add(n):
        for i in range(n):
            agent.hand_off(shop, parse_message(message_xml("image", user=USER, MediaId=f"m-{i}-{n}",
                                                           PicUrl="http://mmbiz.qpic.cn/p")))

    def listed():
        resp = client.get(f"{API}/agent/inbox/", HTTP_AUTHORIZATION=f"Bearer {api_key}")
        assert resp.status_code == 200
        return resp.json()["results"]

    add(2)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert len(listed()) == 2
    add(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = listed()
    assert len(page) == 10
    assert all(item["attachments"][0]["url"].startswith("http://testserver/") for item in page)
