"""The agent's replies: /send (text and files), /send/async with its task, /typing, and the
file root that keeps the agent from sending arbitrary files of the server."""
import base64
import os

import pytest

from tests.agent.conftest import API, USER, post
from tests.api_errors import code
from wechat_app.models import OutboundMessage

pytestmark = pytest.mark.django_db
SEND = f"{API}/agent/send/"
# A 1x1 PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==")


def body(**changes):
    data = {"account_id": "shop", "to_user_id": USER, "context_token": "ctx-1", "chat_type": "direct",
            "items": [{"type": "text", "text": "hello from the agent"}]}
    data.update(changes)
    return data


@pytest.fixture
def file_root(tmp_path, settings):
    root = tmp_path / "outbox"
    root.mkdir()
    (root / "pic.png").write_bytes(PNG)
    (tmp_path / "secret.png").write_bytes(PNG)
    os.symlink(tmp_path / "secret.png", root / "link.png")
    settings.WECHAT_APP = {**getattr(settings, "WECHAT_APP", {}), "AGENT_FILE_ROOT": str(root)}
    return root


def test_text_reply_becomes_a_customer_service_message(api, shop, sandbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, SEND, body())
    assert resp.status_code == 200, resp.content
    assert resp.json()["ok"] is True
    (sent,) = resp.json()["sent"]
    assert OutboundMessage.objects.get(pk=sent["outbound_message"]).status == "sent"
    (received,) = sandbox.state.list_messages(app_id=shop.app_id, touser=USER)
    assert received["payload"]["text"]["content"] == "hello from the agent"


def test_image_under_the_root_is_uploaded_then_sent(api, shop, sandbox, file_root,
                                                    django_capture_on_commit_callbacks):
    items = [{"type": "file", "file_type": 1, "url": f"file://{file_root / 'pic.png'}"},
             {"type": "file", "file_type": 1, "url": str(file_root / "pic.png")}]
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, SEND, body(items=items))
    assert resp.status_code == 200, resp.content
    received = sandbox.state.list_messages(app_id=shop.app_id, touser=USER)
    assert [m["msgtype"] for m in received] == ["image", "image"]
    media = sandbox.state.media.get(shop.app_id, received[0]["payload"]["image"]["media_id"], permanent=False)
    assert media.data == PNG


@pytest.mark.parametrize("url", ["/etc/passwd", "file:///etc/hostname", "{root}/../secret.png", "{root}/link.png",
                                 "relative/pic.png", "ftp://example.com/a.png"])
def test_paths_outside_the_root_are_refused(api, shop, sandbox, file_root, url):
    resp = post(api, SEND, body(items=[{"type": "file", "file_type": 1, "url": url.format(root=file_root)}]))
    assert resp.status_code == 400, resp.content
    assert code(resp) in ("path_refused", "bad_url")
    assert sandbox.state.list_messages(app_id=shop.app_id) == []
    assert OutboundMessage.objects.count() == 0


def test_local_files_are_refused_without_a_root(api, shop, tmp_path):
    (tmp_path / "pic.png").write_bytes(PNG)
    resp = post(api, SEND, body(items=[{"type": "file", "file_type": 1, "url": str(tmp_path / "pic.png")}]))
    assert resp.status_code == 400 and code(resp) == "path_refused"
    assert "AGENT_FILE_ROOT" in resp.json()["error"]["message"]


def test_too_large_files_are_refused(api, shop, file_root, settings):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "AGENT_MAX_FILE_SIZE": 10}
    resp = post(api, SEND, body(items=[{"type": "file", "file_type": 1, "url": str(file_root / "pic.png")}]))
    assert resp.status_code == 400 and code(resp) == "file_too_large"


@pytest.mark.parametrize("items, words", [
    ([], "non-empty"),
    ([{"type": "text"}], "needs text"),
    ([{"type": "file", "file_type": 9, "url": "https://e.com/a"}], "unsupported file_type"),
    ([{"type": "file", "file_type": 1}], "missing file item"),
    ([{"type": "file", "file_type": 3, "url": "https://e.com/a.wav"}], "voice format"),
    ([{"type": "sticker"}], "'text' or 'file'"),
])
def test_bad_items_are_refused_with_the_reason(api, shop, items, words):
    resp = post(api, SEND, body(items=items))
    assert resp.status_code == 400 and words in resp.json()["error"]["message"], resp.content


def test_files_official_accounts_cannot_send_are_refused(api, shop, file_root):
    (file_root / "report.pdf").write_bytes(b"%PDF-1.4")
    resp = post(api, SEND, body(items=[{"type": "file", "file_type": 4, "url": str(file_root / "report.pdf")}]))
    assert resp.status_code == 400 and code(resp) == "channel_refused"


def test_unknown_account_is_a_400(api, shop):
    resp = post(api, SEND, body(account_id="nope"))
    assert resp.status_code == 400 and "nope" in resp.json()["error"]["message"]


def test_async_send_answers_a_task_to_poll(api, shop, sandbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, f"{API}/agent/send/async/", body())
    assert resp.status_code == 202, resp.content
    task = api.get(f"{API}/agent/send/tasks/{resp.json()['id']}/").json()
    assert task["status"] == "done" and task["result"]["sent"][0]["kind"] == "text"
    assert len(sandbox.state.list_messages(app_id=shop.app_id, touser=USER)) == 1
    missing = api.get(f"{API}/agent/send/tasks/00000000-0000-0000-0000-000000000000/")
    assert missing.status_code == 404


def test_async_send_checks_the_request_first(api, shop):
    resp = post(api, f"{API}/agent/send/async/", body(items=[{"type": "file", "file_type": 7, "url": "x"}]))
    assert resp.status_code == 400


def test_typing_start_and_cancel(api, shop, sandbox):
    for status in ("typing", "cancel"):
        resp = post(api, f"{API}/agent/typing/", {"account_id": "shop", "to_user_id": USER, "status": status})
        assert resp.status_code == 200, resp.content
        assert resp.json() == {"ok": True, "typing": {"account_id": "shop", "to_user_id": USER, "status": status}}
    assert [t["command"] for t in sandbox.state.typing] == ["Typing", "CancelTyping"]
    refused = post(api, f"{API}/agent/typing/", {"account_id": "shop", "to_user_id": "oStranger", "status": "typing"})
    assert refused.status_code == 400 and code(refused) == "channel_refused"


def test_the_conversation_view_shows_the_agents_reply(api, shop, sandbox, django_capture_on_commit_callbacks):
    from wechat_app.models import MessageLog

    MessageLog.objects.create(account=shop, dedupe_key="msg:1", user=USER, msg_type="text", text="hi", status="unmatched")
    with django_capture_on_commit_callbacks(execute=True):
        post(api, SEND, body(items=[{"type": "text", "text": "the agent says hi"}]))
    page = api.get(f"/admin/wechat_app/messagelog/conversation/{shop.pk}/?user={USER}").content.decode()
    assert "the agent says hi" in page and "sent by the agent" in page


def test_an_http_file_is_downloaded_then_sent(api, shop, sandbox, django_capture_on_commit_callbacks):
    stored = sandbox.state.media.put(shop.app_id, "image", PNG, filename="remote.png", content_type="image/png")
    url = f"{sandbox.url}/_sandbox/media/download?app_id={shop.app_id}&media_id={stored.media_id}"
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, SEND, body(items=[{"type": "file", "file_type": 1, "url": url}]))
    assert resp.status_code == 200, resp.content
    (received,) = sandbox.state.list_messages(app_id=shop.app_id, touser=USER)
    media_id = received["payload"]["image"]["media_id"]
    assert media_id != stored.media_id
    assert sandbox.state.media.get(shop.app_id, media_id, permanent=False).data == PNG
    missing = post(api, SEND, body(items=[{"type": "file", "file_type": 1, "url": f"{sandbox.url}/nothing.png"}]))
    assert missing.status_code == 400 and code(missing) == "file_unavailable"
