"""Celery tasks (thin: they call services).

With a broker (``celery -A project worker -B``) they run in workers; without one they run
eagerly in the calling process. Delivery tasks are idempotent, so ``acks_late`` is safe.
"""
from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger("wechat_app.tasks")


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
