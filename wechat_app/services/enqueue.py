"""The one way services start the app's Celery tasks, whatever Celery app the project has.

``Task.delay_on_commit`` exists only on the task class of a Celery app configured for Django;
an installing project may have another Celery app, or none at all. ``enqueue`` works with any:

- it sends after the current transaction commits (a worker must find the rows it is given);
- with a broker it sends the task to the project's workers;
- in eager mode, or when no broker is configured (no Celery app: Celery's fallback app would
  try a RabbitMQ on localhost that nobody runs), it runs the task here, in this process.

A send that fails (the broker is down) is logged and otherwise ignored: the rows are saved
already, and the ``resume_outbound`` beat task picks up anything queued that no worker took.

Services name the task (a function of ``wechat_app.tasks``) rather than importing it, so that
``tasks`` and ``services`` do not import each other in a circle.
"""
from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger("wechat_app.tasks")


def has_broker(app) -> bool:
    """Whether ``app`` has a broker configured (settings or CELERY_BROKER_URL), so a worker can exist."""
    conf = app.conf
    return bool(conf.broker_url or conf.get("broker_write_url"))


def runs_here(app) -> bool:
    """Whether tasks run in the calling process: eager mode, or no broker to send them to."""
    return bool(app.conf.task_always_eager) or not has_broker(app)


def enqueue(name: str, *args, countdown: float | None = None, on_commit: bool = True) -> None:
    """Run ``wechat_app.tasks.<name>(*args)`` in a worker, or here when no worker can take it.

    ``on_commit`` (default): after the current transaction commits, at once outside one.
    ``countdown`` delays a sent task; a task run here runs at once.
    """
    from .. import tasks

    task = getattr(tasks, name)

    def send():
        try:
            app = task.app
            if runs_here(app):
                result = task.apply(args)
                if result.failed():  # Celery logged the traceback; the rows stay for the sweeper
                    logger.warning("task %s%r failed in-process: %s", name, args, result.result)
            else:
                task.apply_async(args, countdown=countdown)
        except Exception:  # the caller's committed work stands; a broker or task failure must not undo it
            logger.exception("could not run task %s%r", name, args)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()
