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


@app.on_after_configure.connect
def add_wechat_schedule(sender, **kwargs):
    # The periodic tasks of django-wechat-app (token refresh, delivery sweeper, and the log drain
    # when LOG_BUFFER is on), read from the settings when Celery loads its configuration.
    from wechat_app.tasks import beat_schedule

    sender.conf.beat_schedule = {**beat_schedule(), **sender.conf.beat_schedule}
