"""services.enqueue: tasks start with any Celery app, or none (tests/test_install.py runs a real
project without a Celery app); the beat schedule the app provides."""
from unittest import mock

import pytest
from celery import Celery

from wechat_app.models import OutboundMessage
from wechat_app.services import enqueue as enqueue_module
from wechat_app.services import outbound
from wechat_app.tasks import beat_schedule, deliver_message

Status = OutboundMessage.Status


@pytest.fixture
def no_broker_env(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery reads it for every app


def test_an_app_without_a_broker_runs_tasks_here(no_broker_env):
    assert enqueue_module.runs_here(Celery("bare", set_as_current=False))  # Celery's fallback app is like this
    assert not enqueue_module.runs_here(Celery("sending", broker="redis://127.0.0.1:1/0", set_as_current=False))
    eager = Celery("eager", broker="redis://127.0.0.1:1/0", set_as_current=False)
    eager.conf.task_always_eager = True
    assert enqueue_module.runs_here(eager)


def sending():
    """As with a project's Celery app that has a broker: tasks are sent, not run here."""
    return mock.patch.object(enqueue_module, "runs_here", return_value=False)


def test_a_broker_app_gets_the_task_after_commit(account, followers, django_capture_on_commit_callbacks):
    task = deliver_message._get_current_object()
    with sending(), mock.patch.object(task, "apply_async") as apply_async:
        with django_capture_on_commit_callbacks() as callbacks:
            message = outbound.queue_custom(account, followers[0], "text", {"content": "Hi"})
        assert not apply_async.called and len(callbacks) == 1  # sent once the row is committed
        callbacks[0]()
    apply_async.assert_called_once_with((message.pk,), countdown=None)


def test_a_broker_that_is_down_loses_nothing(account, followers, caplog, django_capture_on_commit_callbacks):
    task = deliver_message._get_current_object()
    with sending(), mock.patch.object(task, "apply_async", side_effect=ConnectionError("broker down")), \
            django_capture_on_commit_callbacks(execute=True):
        message = outbound.queue_custom(account, followers[0], "text", {"content": "Hi"})
    message.refresh_from_db()
    assert message.status == Status.QUEUED  # the sweeper (resume_outbound) sends it later
    assert "could not run task deliver_message" in caplog.text


def test_beat_schedule_drains_the_log_only_with_log_buffer(settings):
    settings.WECHAT_APP = {"LOG_BUFFER": False}
    schedule = beat_schedule()
    assert {entry["task"] for entry in schedule.values()} == {"wechat_app.refresh_tokens",
                                                                "wechat_app.resume_outbound",
                                                                "wechat_app.drain_spool",
                                                                "wechat_app.resume_agent_events"}
    settings.WECHAT_APP = {"LOG_BUFFER": True}
    assert "wechat_app.drain_message_log" in {entry["task"] for entry in beat_schedule().values()}


def test_the_demo_celery_app_merges_the_schedule():
    from project.celery import app

    assert {"wechat-refresh-tokens", "wechat-resume-outbound"} <= set(app.conf.beat_schedule)
