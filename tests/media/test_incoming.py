"""Media users send: fetched once into storage by a task, whatever WeChat retries; retried on errors."""
import json

import pytest

from tests.media.conftest import APP_ID, JPEG, put_user_media, sandbox_admin
from tests.polling import wait_until
from tests.wechat_client import WeChatServer, message_xml
from wechat_app.models import IncomingMedia, MessageLog
from wechat_app.services import media as media_service


def media_calls(sandbox):
    return [c for c in sandbox.state.list_calls("/cgi-bin/media/get")]


def settled(count=1):
    """Wait for the in-process fetches (no broker: a thread of the server) to finish."""
    assert wait_until(lambda: IncomingMedia.objects.filter(status__in=["done", "failed"]).count()
                      + IncomingMedia.objects.filter(status="pending", attempts__gt=0).count() >= count)


@pytest.fixture
def wechat(live_server, account):
    return WeChatServer(live_server.url, account.name, account.token, account.app_id)


@pytest.mark.django_db(transaction=True)
def test_image_fetched_once_under_callback_retries(fetch_on, account, sandbox, wechat):
    media_id = put_user_media(sandbox, JPEG)
    xml = message_xml("image", PicUrl="http://mmbiz.qpic.cn/x", MediaId=media_id, msg_id=7001)
    for _ in range(3):  # WeChat's first delivery and its two retries, signed like WeChat signs them
        assert wechat.send(xml).response.status_code == 200
    settled()
    log = MessageLog.objects.get(account=account, msg_id="7001")
    assert log.retry_count == 2
    row = IncomingMedia.objects.get(account=account)
    assert row.status == IncomingMedia.Status.DONE and row.log_id == log.pk
    assert row.size == len(JPEG) and row.content_type == "image/jpeg" and row.attempts == 1
    with media_service.storage().open(row.path) as stored:
        assert stored.read() == JPEG
    assert len(media_calls(sandbox)) == 1


@pytest.mark.django_db(transaction=True)
def test_voice_and_video_kinds_are_fetched(fetch_on, account, sandbox, wechat):
    voice = put_user_media(sandbox, b"#!AMR\n" + b"\x00" * 40, kind="voice", filename="v.amr", content_type="audio/amr")
    video = put_user_media(sandbox, b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 64, kind="video", filename="v.mp4",
                           content_type="video/mp4")
    wechat.send(message_xml("voice", MediaId=voice, Format="amr", Recognition="你好"))
    wechat.send(message_xml("shortvideo", MediaId=video, ThumbMediaId="thumb1"))
    settled(2)
    rows = {r.msg_type: r for r in IncomingMedia.objects.all()}
    assert rows["voice"].status == "done" and rows["voice"].path.endswith(".amr")
    assert rows["shortvideo"].status == "done" and rows["shortvideo"].size == 76
    assert rows["shortvideo"].content_type == "video/mp4" and rows["shortvideo"].thumb_media_id == "thumb1"


@pytest.mark.django_db(transaction=True)
def test_nothing_fetched_when_the_setting_is_off(account, sandbox, wechat):
    wechat.send(message_xml("image", MediaId=put_user_media(sandbox, JPEG)))
    assert not IncomingMedia.objects.exists() and not media_calls(sandbox)


@pytest.mark.django_db(transaction=True)
def test_unknown_media_id_fails_for_good(fetch_on, account, sandbox, wechat):
    wechat.send(message_xml("image", MediaId="expired-media-id"))
    settled()
    row = IncomingMedia.objects.get()
    assert row.status == "failed" and "40007" in row.error and row.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_transient_errors_are_retried_with_backoff(fetch_on, account, sandbox, wechat, settings):
    media_id = put_user_media(sandbox, JPEG)
    sandbox_admin(sandbox, "POST", "/faults", {"path": "/cgi-bin/media/get", "kind": "error", "errcode": -1,
                                               "count": 2})
    wechat.send(message_xml("image", MediaId=media_id))
    settled()
    row = IncomingMedia.objects.get()
    assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at is not None
    # the sweeper takes due rows: make it due, run the beat task twice (second fault, then success)
    from wechat_app.tasks import resume_incoming_media

    for expected in ("pending", "done"):
        IncomingMedia.objects.update(next_attempt_at=None)
        resume_incoming_media.apply()
        row.refresh_from_db()
        assert row.status == expected
    assert row.attempts == 3
    with media_service.storage().open(row.path) as stored:
        assert stored.read() == JPEG


@pytest.mark.django_db
def test_sweeper_records_media_messages_logged_without_a_fetch(fetch_on, account, sandbox):
    media_id = put_user_media(sandbox, JPEG)
    log = MessageLog.objects.create(account=account, dedupe_key="k1", user="oUser", msg_type="image",
                                    message={"type": "image", "param": {"media_id": media_id}})
    from wechat_app.tasks import resume_incoming_media

    resume_incoming_media.apply()
    row = IncomingMedia.objects.get()
    assert row.log_id == log.pk and row.status == "done"
    resume_incoming_media.apply()  # nothing twice
    assert IncomingMedia.objects.count() == 1 and len(media_calls(sandbox)) == 1


@pytest.mark.django_db
def test_concurrent_claims_fetch_once(fetch_on, account, sandbox):
    media_id = put_user_media(sandbox, JPEG)
    row = media_service.record_incoming(account.pk, "k2", "image", media_id)
    again = media_service.record_incoming(account.pk, "k2", "image", media_id)
    assert again.pk == row.pk
    assert media_service.fetch_incoming(row.pk).status == "done"
    assert media_service.fetch_incoming(row.pk).status == "done"
    assert len(media_calls(sandbox)) == 1
    assert json.loads(sandbox_admin(sandbox, "GET", f"/media?app_id={APP_ID}")[1])["media"][0]["size"] == len(JPEG)


@pytest.mark.django_db(transaction=True)
def test_with_a_broker_one_task_is_queued_per_logged_message(fetch_on, account, sandbox, wechat, monkeypatch):
    """WeChat's first delivery and two retries queue exactly one fetch task (sent to the broker)."""
    from project.celery import app
    from wechat_app import tasks

    sent = []
    monkeypatch.setattr(tasks.fetch_incoming_media, "apply_async", lambda args, **kw: sent.append(args))
    previous = app.conf.broker_url
    app.conf.task_always_eager, app.conf.broker_url = False, "memory://"  # a worker would take it
    try:
        xml = message_xml("image", MediaId="media-x", msg_id=7002)
        for _ in range(3):
            assert wechat.send(xml).response.status_code == 200
    finally:
        app.conf.broker_url = previous  # task_always_eager: restored by the autouse fixture
    log = MessageLog.objects.get(msg_id="7002")
    assert sent == [(account.pk, log.dedupe_key, "image", "media-x", "")]


@pytest.mark.django_db
def test_a_row_fetched_before_its_log_row_was_written_is_linked_later(fetch_on, account, sandbox):
    """With the log buffer or the spool the log row arrives after the fetch; the sweeper links them."""
    media_id = put_user_media(sandbox, JPEG)
    row = media_service.record_incoming(account.pk, "late-key", "image", media_id)
    media_service.fetch_incoming(row.pk)
    row.refresh_from_db()
    assert row.status == "done" and row.log_id is None
    log = MessageLog.objects.create(account=account, dedupe_key="late-key", user="u", msg_type="image",
                                    message={"type": "image", "param": {"media_id": media_id}})
    from wechat_app.tasks import resume_incoming_media

    resume_incoming_media.apply()
    row.refresh_from_db()
    assert row.log_id == log.pk and IncomingMedia.objects.count() == 1 and len(media_calls(sandbox)) == 1


@pytest.mark.django_db(transaction=True)
def test_without_a_worker_the_callback_answers_before_the_fetch(fetch_on, account, sandbox, wechat, monkeypatch):
    """No broker: the fetch is handed to a thread of the process, the callback does not wait for it."""
    handed = []

    class Recorder:
        def submit(self, func, *args, **kwargs):
            handed.append((func, args, kwargs))

    monkeypatch.setattr(media_service, "_local_pool", lambda: Recorder())
    media_id = put_user_media(sandbox, JPEG)
    assert wechat.send(message_xml("image", MediaId=media_id)).response.status_code == 200
    assert len(handed) == 1 and not IncomingMedia.objects.exists() and not media_calls(sandbox)
    func, args, kwargs = handed[0]
    func(*args, **kwargs)  # what the thread runs
    assert IncomingMedia.objects.get().status == "done" and len(media_calls(sandbox)) == 1
