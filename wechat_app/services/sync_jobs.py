"""Syncs of templates, followers and WeCom contacts asked for through the REST API: a ``SyncJob`` row to poll.

``request_sync`` writes the row and enqueues ``tasks.run_sync_job`` on commit; ``run`` does the
work (``outbound.sync_templates`` / ``outbound.sync_followers_tracked`` /
``wecom_contacts.sync_contacts``) and records the progress,
the result or the error on the row. One sync of a kind runs per account at a time: asking again
while one is queued or running answers that one (a job untouched for ``STALE_AFTER`` seconds, its
worker presumably gone, no longer counts).
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ..models import SyncJob
from . import outbound
from .enqueue import enqueue

logger = logging.getLogger("wechat_app.outbound")
STALE_AFTER = 15 * 60
ACTIVE = (SyncJob.Status.QUEUED, SyncJob.Status.RUNNING)


def active_job(account, kind: str) -> SyncJob | None:
    fresh = timezone.now() - timedelta(seconds=STALE_AFTER)
    return (SyncJob.objects.filter(account=account, kind=kind, status__in=ACTIVE, updated_at__gte=fresh)
            .order_by("-id").first())


def request_sync(account, kind: str) -> tuple[SyncJob, bool]:
    """The job syncing ``kind`` for ``account``: a new one queued, or the one already under way;
    returns ``(job, created)``."""
    with transaction.atomic():
        # Serializes two requests for the same account (a row lock on PostgreSQL; SQLite has one writer).
        type(account).objects.select_for_update().filter(pk=account.pk).first()
        job = active_job(account, kind)
        if job is not None:
            return job, False
        job = SyncJob.objects.create(account=account, kind=kind)
        enqueue("run_sync_job", job.pk)
    return job, True


def _update(job_id: int, **fields) -> None:
    fields["updated_at"] = timezone.now()
    SyncJob.objects.filter(pk=job_id).update(**fields)


def run(job_id: int) -> str:
    """Run a queued job (a finished one is left alone); return its final status."""
    now = timezone.now()
    if not SyncJob.objects.filter(pk=job_id, status__in=ACTIVE).update(status=SyncJob.Status.RUNNING,
                                                                         started_at=now, updated_at=now):
        return SyncJob.objects.filter(pk=job_id).values_list("status", flat=True).first() or "missing"
    job = SyncJob.objects.select_related("account").get(pk=job_id)
    try:
        if job.kind == SyncJob.Kind.TEMPLATES:
            result = outbound.sync_templates(job.account)
            done, total = result["synced"], result["synced"]
        elif job.kind == SyncJob.Kind.WECOM_CONTACTS:
            from . import wecom_contacts

            result = wecom_contacts.sync_contacts(job.account, progress=lambda d, t: _update(job_id, done=d, total=t))
            done, total = result["synced"], result["total"]
        else:
            result = outbound.sync_followers_tracked(
                job.account, progress=lambda d, t: _update(job_id, done=d, total=t))
            done, total = result["synced"], result["total"]
    except Exception as err:  # WeChat refused or could not be reached: the job says why
        logger.warning("%s sync of account %s failed: %s", job.kind, job.account_id, err)
        _update(job_id, status=SyncJob.Status.FAILED, error=str(err)[:1000], finished_at=timezone.now())
        return SyncJob.Status.FAILED
    _update(job_id, status=SyncJob.Status.DONE, done=done, total=total, result=result, finished_at=timezone.now())
    return SyncJob.Status.DONE
