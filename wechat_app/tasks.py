"""Celery tasks (thin: they call services).

With a broker (``celery -A yourproject worker -B``) they run in workers; without one they run
in the calling process (``services.enqueue``). Delivery tasks are idempotent, so ``acks_late``
is safe. The periodic ones are in ``beat_schedule()``, which the project's Celery app merges
when it loads its configuration (the README's ``celery.py``)::

    @app.on_after_configure.connect
    def add_wechat_schedule(sender, **kwargs):
        from wechat_app.tasks import beat_schedule

        sender.conf.beat_schedule = {**beat_schedule(), **sender.conf.beat_schedule}
"""
from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger("wechat_app.tasks")


def beat_schedule() -> dict[str, dict]:
    """The periodic tasks the app needs, as a Celery ``beat_schedule`` (seconds).

    - ``wechat-refresh-tokens``: tokens are refreshed TOKEN_REFRESH_MARGIN seconds before they
      expire; checking every minute keeps callers from ever waiting on a refresh.
    - ``wechat-resume-outbound``: the safety net of delivery (due retries, lost enqueues,
      messages of crashed workers).
    - ``wechat-drain-message-log``: writes the buffered message log every second, only with
      ``WECHAT_APP["LOG_BUFFER"]`` on (otherwise there is nothing to drain).
    - ``wechat-drain-spool``: writes the log rows this host spooled to disk while the database
      was down (a no-op when there are none). Each host that serves callbacks needs it.
    - ``wechat-resume-agent-events``: the agent gateway's safety net (callback retries that are
      due, lost enqueues, inbox claims whose lease ended).
    - ``wechat-resume-incoming-media``: with ``FETCH_INCOMING_MEDIA`` on, due fetch retries and
      media messages logged without a queued fetch.

    Read when called (at the Celery app's start): change LOG_BUFFER, restart the beat.
    """
    from .conf import app_settings

    schedule = {
        "wechat-refresh-tokens": {"task": "wechat_app.refresh_tokens", "schedule": 60.0},
        "wechat-resume-outbound": {"task": "wechat_app.resume_outbound", "schedule": 30.0},
        "wechat-drain-spool": {"task": "wechat_app.drain_spool", "schedule": 15.0},
        "wechat-resume-agent-events": {"task": "wechat_app.resume_agent_events", "schedule": 15.0},
    }
    if app_settings.FETCH_INCOMING_MEDIA:
        schedule["wechat-resume-incoming-media"] = {"task": "wechat_app.resume_incoming_media", "schedule": 60.0}
    if app_settings.LOG_BUFFER:
        schedule["wechat-drain-message-log"] = {"task": "wechat_app.drain_message_log", "schedule": 1.0}
    return schedule


@shared_task(name="wechat_app.refresh_tokens", ignore_result=True)
def refresh_tokens():
    """Beat: refresh every enabled account's token (and JS-SDK ticket) ahead of expiry."""
    from .models import Account
    from .services.tokens import refresh_due_credentials

    refreshed = {}
    for account in Account.objects.filter(enabled=True):
        try:
            refreshed[account.name] = refresh_due_credentials(account)
        except Exception as err:  # one account's failure must not stop the others
            logger.warning("token refresh for %s failed: %s", account.name, err)
            refreshed[account.name] = {"error": str(err)}
    return refreshed


@shared_task(bind=True, name="wechat_app.deliver_message", acks_late=True, reject_on_worker_lost=True,
             max_retries=None, ignore_result=True)
def deliver_message(self, message_id):
    """Send one outbound message (idempotent: a second run sends nothing).

    Transient and quota failures retry with the delay the service chose; in eager mode (no
    broker) the row stays queued with ``next_attempt_at`` and the sweeper picks it up.
    """
    from .services.outbound import deliver

    outcome = deliver(message_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(bind=True, name="wechat_app.deliver_campaign_chunk", acks_late=True, reject_on_worker_lost=True,
             ignore_result=True)
def deliver_campaign_chunk(self, campaign_id):
    """One lane of a campaign: send a chunk of its recipients (rate-limited per account), then
    enqueue the next chunk while work remains, so other tasks interleave between chunks.

    Idempotent (rows are claimed); retries not due yet come back with a countdown. In eager
    mode (no broker) the lane loops in place and due retries are left to the sweeper.
    """
    from .services.outbound import deliver_chunk

    result = deliver_chunk(campaign_id)
    if self.request.is_eager:
        while result.more:
            result = deliver_chunk(campaign_id)
    elif result.more:
        deliver_campaign_chunk.delay(campaign_id)
    elif result.retry_in is not None:
        deliver_campaign_chunk.apply_async((campaign_id,), countdown=result.retry_in)
    return result.tally


@shared_task(name="wechat_app.resume_outbound", ignore_result=True)
def resume_outbound():
    """Beat: re-enqueue due retries, lost enqueues and messages of crashed workers (single
    messages one task each; campaigns one lane each), and menu versions whose publish task was lost."""
    from .services.menus import due_version_ids
    from .services.outbound import due_campaign_ids, due_message_ids

    ids = due_message_ids()
    for message_id in ids:
        deliver_message.delay(message_id)
    campaigns = due_campaign_ids()
    for campaign_id in campaigns:
        deliver_campaign_chunk.delay(campaign_id)
    versions = due_version_ids()
    for version_id in versions:
        publish_menu_version.delay(version_id)
    from .services.mass import due_mass_ids

    masses = due_mass_ids()
    for mass_id in masses:
        send_mass.delay(mass_id)
    return len(ids) + len(campaigns) + len(versions) + len(masses)


@shared_task(name="wechat_app.sync_templates", ignore_result=True)
def sync_templates(account_id):
    from .models import Account
    from .services.outbound import sync_templates as sync

    return sync(Account.objects.get(pk=account_id))


@shared_task(name="wechat_app.sync_followers", acks_late=True, ignore_result=True)
def sync_followers(account_id):
    """Page the follower list and batch-fetch user info; progress in the cache."""
    from .models import Account
    from .services import outbound

    return outbound.sync_followers_tracked(Account.objects.get(pk=account_id))


@shared_task(name="wechat_app.drain_message_log", ignore_result=True)
def drain_message_log():
    """Write buffered message-log rows to the database (LOG_BUFFER; a beat task every second)."""
    from .services import logbuffer

    if logbuffer.enabled():
        logbuffer.drain_all()


@shared_task(name="wechat_app.drain_spool", ignore_result=True)
def drain_spool():
    """Beat: write the log rows spooled while the database was down (services/spool.py).

    The spool is a local directory: on several hosts, each runs its own beat or a periodic
    ``manage.py wechat_spool`` (the callback also drains its own process's rows).
    """
    from .services import spool

    return spool.drain()


@shared_task(name="wechat_app.publish_menu_version", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def publish_menu_version(version_id):
    """Send one menu version to WeChat and store the answer (idempotent: an answered version is
    left alone, so a redelivered task sends nothing)."""
    from .services.menus import send_version

    return send_version(version_id).status


@shared_task(name="wechat_app.run_sync_job", acks_late=True, ignore_result=True)
def run_sync_job(job_id):
    """Sync an account's templates or followers for a ``SyncJob`` (REST API); progress on the row."""
    from .services.sync_jobs import run

    return run(job_id)
@shared_task(bind=True, name="wechat_app.send_mass", acks_late=True, reject_on_worker_lost=True,
             max_retries=None, ignore_result=True)
def send_mass(self, mass_id):
    """Send one mass message (idempotent: claimed, and WeChat's clientmsgid drops a second send).

    Transient failures retry with the delay the service chose; in eager mode the row stays
    queued and the ``resume_outbound`` sweeper picks it up."""
    from .services.mass import send_mass as send

    outcome = send(mass_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status
@shared_task(bind=True, name="wechat_app.fetch_incoming_media", acks_late=True, reject_on_worker_lost=True,
             max_retries=None, ignore_result=True)
def fetch_incoming_media(self, account_id, dedupe_key, msg_type, media_id, thumb_media_id=""):
    """Fetch the file of a media message a user sent into storage (services/media.py).

    Idempotent: one row per logged message, fetched once; failures retry with back-off (in
    eager mode the row stays pending and ``resume_incoming_media`` picks it up).
    """
    from .services import media

    row = media.record_incoming(account_id, dedupe_key, msg_type, media_id, thumb_media_id)
    outcome = media.fetch_incoming(row.pk)
    if outcome.retry_in is not None and not self.request.is_eager:
        fetch_incoming_media_row.apply_async((row.pk,), countdown=outcome.retry_in)
    return outcome.status


@shared_task(bind=True, name="wechat_app.fetch_incoming_media_row", acks_late=True, reject_on_worker_lost=True,
             ignore_result=True)
def fetch_incoming_media_row(self, media_pk):
    """A retry (or a sweep) of one ``IncomingMedia`` row."""
    from .services import media

    outcome = media.fetch_incoming(media_pk)
    if outcome.retry_in is not None and not self.request.is_eager:
        fetch_incoming_media_row.apply_async((media_pk,), countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="wechat_app.resume_incoming_media", ignore_result=True)
def resume_incoming_media():
    """Beat: rows for media messages logged without a queued fetch, then every due retry."""
    from .services import media

    media.record_unqueued()
    ids = media.due_incoming_ids()
    for media_pk in ids:
        fetch_incoming_media_row.delay(media_pk)
    return len(ids)


@shared_task(name="wechat_app.sync_materials", ignore_result=True)
def sync_materials(account_id):
    from .models import Account
    from .services.media import sync_materials as sync

    return sync(Account.objects.get(pk=account_id))


@shared_task(bind=True, name="wechat_app.deliver_agent_event", acks_late=True, reject_on_worker_lost=True,
             max_retries=None, ignore_result=True)
def deliver_agent_event(self, event_pk):
    """POST one agent event to the account's callback URL (idempotent: a delivered event is not
    sent again). Failures retry with back-off; in eager mode the beat's sweeper retries."""
    from .services.agent import deliver

    outcome = deliver(event_pk)
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="wechat_app.agent_send", acks_late=True, ignore_result=True)
def agent_send(task_id):
    """Send a reply queued by ``agent/send/async/`` (once: the task row is claimed)."""
    from .services.agent import run_send_task

    return run_send_task(task_id)


@shared_task(name="wechat_app.resume_agent_events", ignore_result=True)
def resume_agent_events():
    """Beat: due callback retries and lost enqueues; inbox claims whose lease ended go back to pending."""
    from .services.agent import resume

    return resume()
