"""Celery application of the demo project.

With CELERY_BROKER_URL (or REDIS_URL) set, run a worker with ``celery -A project worker -B``
(``-B`` embeds the beat scheduler that refreshes tokens ahead of expiry); without one, tasks run
eagerly in the calling process (see settings.CELERY_TASK_ALWAYS_EAGER).
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Tokens are refreshed TOKEN_REFRESH_MARGIN seconds before expiry; checking every minute
    # keeps callers from ever waiting on a refresh in steady state.
    "wechat-refresh-tokens": {"task": "wechat_app.refresh_tokens", "schedule": 60.0},
    # The safety net of delivery: due retries, lost enqueues, messages of crashed workers.
    "wechat-resume-outbound": {"task": "wechat_app.resume_outbound", "schedule": 30.0},
    # Only does work with WECHAT_APP["LOG_BUFFER"] on.
    "wechat-drain-message-log": {"task": "wechat_app.drain_message_log", "schedule": 1.0},
    # Log rows spooled to local disk while the database was down (a no-op when there are none).
    "wechat-drain-spool": {"task": "wechat_app.drain_spool", "schedule": 15.0},
}
