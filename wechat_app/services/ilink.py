"""iLink bots: QR login, the poller, inbound messages and media (docs/ilink.md).

QR login. ``start_login`` asks iLink for a QR code and keeps an ``ILinkLogin`` (it expires after
``ILINK_LOGIN_TTL``, 10 minutes); ``login_status`` long-polls iLink and moves the login along (wait,
scanned, confirmed, expired); on "confirmed" ``complete_login`` stores the bot token, bot id, user
id and API base URL into the account's ``ILinkBot`` (creating the account when it is new).

Polling. One process (``manage.py wechat_gateway poll run``) runs ``Poller``: a thread per pollable
bot long-polls ``getupdates`` with the bot's cursor; each message of a batch goes through
``inbound.process_polled`` (dedupe on the log's key, the rules, the log), its media are fetched,
its reply sent, and the message handed to the account's agent when the agent takes it (the
callback's decision, ``inbound.agent_outcome``; the event carries the context token, the media as
attachments and chat_type "c2c"). The batch's cursor is persisted only after every message of it
is stored (a crash mid-batch has the next poll deliver the batch again: the dedupe skips what was
stored, and makes only a missing hand-off), and an answer with an empty cursor keeps the old one.
Errors back off (``ILINK_POLL_BACKOFF`` doubling up to ``ILINK_POLL_BACKOFF_MAX``); errcode -14 marks the bot ``expired`` and stops polling it until a
new login.
"""
from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.db import close_old_connections, connections, transaction
from django.db.models import F
from django.utils import timezone

from ..client.errors import WeChatAPIError
from ..client.hosts import base_url_allowed
from ..client.ilink import ILinkClient, ILinkSessionExpired
from ..client.material import MediaContent
from ..conf import app_settings
from ..models import Account, ILinkBot, ILinkLogin, IncomingMedia, MessageLog
from ..protocol import ilink
from ..protocol.errors import ProtocolError
from ..signals import reply_sent
from . import agent, inbound

logger = logging.getLogger("wechat_app.ilink")


class ILinkError(Exception):
    """An iLink operation refused (bad input, wrong state); the message says why."""


# --- clients -----------------------------------------------------------------------------------------
def api_base_url_allowed(url: str) -> bool:
    """The bot token may be sent to ``url``: ILINK_API_BASE_URL or one of ALLOWED_API_BASE_URLS."""
    return base_url_allowed(url, [*app_settings.ALLOWED_API_BASE_URLS, app_settings.ILINK_API_BASE_URL])


def login_client(api_base_url: str | None = None) -> ILinkClient:
    url = (api_base_url or app_settings.ILINK_API_BASE_URL).rstrip("/")
    if not api_base_url_allowed(url):
        raise ILinkError(f"the iLink API base URL {url} is not allowed (ILINK_API_BASE_URL, ALLOWED_API_BASE_URLS)")
    return ILinkClient(url, long_poll_seconds=float(app_settings.ILINK_LONG_POLL_SECONDS))


def bot_client(bot: ILinkBot) -> ILinkClient:
    if not api_base_url_allowed(bot.api_base_url):
        raise ILinkError(f"the iLink API base URL {bot.api_base_url} is not allowed")
    return ILinkClient(bot.api_base_url, bot_token=bot.bot_token, cdn_base_url=bot.effective_cdn_base_url,
                       long_poll_seconds=float(app_settings.ILINK_LONG_POLL_SECONDS))


def get_bot(account: Account) -> ILinkBot:
    if account.channel != Account.Channel.ILINK:
        raise ILinkError(f"{account.name} is not an iLink bot account")
    try:
        return ILinkBot.objects.select_related("account").get(account=account)
    except ILinkBot.DoesNotExist:
        raise ILinkError(f"{account.name} has not logged in yet (wechat_gateway login start)") from None


# --- QR login ----------------------------------------------------------------------------------------
def start_login(account_name: str, *, api_base_url: str | None = None, user=None) -> ILinkLogin:
    """A new QR login for the account ``account_name`` (an existing iLink account logs in again; a
    new name becomes an account when the login completes)."""
    from ..models.accounts import name_validator
    from django.core.exceptions import ValidationError

    try:
        name_validator(account_name or "")
    except ValidationError as err:
        raise ILinkError(f"account name: {err.messages[0]}") from None
    existing = Account.objects.filter(name=account_name).first()
    if existing is not None and existing.channel != Account.Channel.ILINK:
        raise ILinkError(f"{account_name} is an account of another kind ({existing.get_channel_display()})")
    client = login_client(api_base_url)
    answer = client.get_bot_qrcode()
    return ILinkLogin.objects.create(
        account_name=account_name, account=existing, api_base_url=client.base_url, qrcode=answer["qrcode"],
        qrcode_content=answer["qrcode_img_content"] or answer["qrcode"], created_by=user if getattr(
            user, "pk", None) else None,
        expires_at=timezone.now() + timedelta(seconds=float(app_settings.ILINK_LOGIN_TTL)))


def login_status(login: ILinkLogin, *, wait: float | None = None) -> ILinkLogin:
    """Long-poll iLink for the login's status (up to ``wait`` seconds) and record it; "confirmed"
    completes the login. A login that is over (confirmed, expired, cancelled) answers at once."""
    login.refresh_from_db()
    if login.status not in ILinkLogin.OPEN:
        return login
    if login.is_past_expiry:
        return _set_status(login, ILinkLogin.Status.EXPIRED)
    left = (login.expires_at - timezone.now()).total_seconds()
    client = login_client(login.api_base_url)
    poll = min(float(app_settings.ILINK_LONG_POLL_SECONDS if wait is None else wait), max(left, 0.1))
    try:
        answer = client.get_qrcode_status(login.qrcode, wait=poll)
    except WeChatAPIError as err:
        ILinkLogin.objects.filter(pk=login.pk).update(error=str(err)[:2000])
        raise ILinkError(f"iLink refused the status query: {err}") from None
    login.refresh_from_db()
    if login.status not in ILinkLogin.OPEN:  # cancelled meanwhile
        return login
    status = answer["status"]
    if status == "confirmed":
        return complete_login(login, answer)
    if status == "expired" or login.is_past_expiry:
        return _set_status(login, ILinkLogin.Status.EXPIRED)
    if status != login.status:
        return _set_status(login, status)
    return login


def _set_status(login: ILinkLogin, status: str) -> ILinkLogin:
    ILinkLogin.objects.filter(pk=login.pk, status__in=ILinkLogin.OPEN).update(status=status)
    login.refresh_from_db()
    return login


def cancel_login(login: ILinkLogin) -> ILinkLogin:
    return _set_status(login, ILinkLogin.Status.CANCELLED)


def complete_login(login: ILinkLogin, answer: dict) -> ILinkLogin:
    """Store a confirmed login: the account (created when new) and its bot session, active again."""
    token, bot_id = str(answer.get("bot_token") or ""), str(answer.get("ilink_bot_id") or "")
    if not token or not bot_id:
        ILinkLogin.objects.filter(pk=login.pk).update(error="confirmed without bot_token or ilink_bot_id")
        raise ILinkError("iLink confirmed the login without a bot token or bot id")
    base_url = str(answer.get("baseurl") or login.api_base_url).rstrip("/")
    if not api_base_url_allowed(base_url):
        ILinkLogin.objects.filter(pk=login.pk).update(error=f"API base URL {base_url} not allowed")
        raise ILinkError(f"iLink answered an API base URL that is not allowed: {base_url}")
    now = timezone.now()
    with transaction.atomic():
        account = Account.objects.select_for_update().filter(name=login.account_name).first()
        if account is None:
            account = Account(name=login.account_name, channel=Account.Channel.ILINK, app_id=bot_id[:64])
            account.full_clean(exclude=["app_id"])
            account.save()
        elif account.channel != Account.Channel.ILINK:
            raise ILinkError(f"{account.name} became an account of another kind")
        else:
            Account.objects.filter(pk=account.pk).update(app_id=bot_id[:64])
        # The same bot logged in under another account before: that session is over.
        ILinkBot.objects.filter(bot_id=bot_id).exclude(account=account).delete()
        ILinkBot.objects.update_or_create(account=account, defaults={
            "bot_token": token, "bot_id": bot_id, "ilink_user_id": str(answer.get("ilink_user_id") or ""),
            "api_base_url": base_url, "status": ILinkBot.Status.ACTIVE, "polling_enabled": True,
            "logged_in_at": now, "consecutive_errors": 0, "last_error": ""})
        ILinkLogin.objects.filter(pk=login.pk).update(status=ILinkLogin.Status.CONFIRMED, account=account,
                                                      completed_at=now, error="")
    from .accounts import bump_accounts_version

    bump_accounts_version()
    login.refresh_from_db()
    return login


# --- one batch -----------------------------------------------------------------------------------------
@dataclass
class PollResult:
    received: int = 0
    stored: int = 0
    expired: bool = False
    error: str = ""


def poll_once(bot: ILinkBot, client: ILinkClient | None = None) -> PollResult:
    """One ``getupdates`` long poll for ``bot``: store the batch, then persist its cursor."""
    client = client or bot_client(bot)
    now = timezone.now()
    try:
        updates = client.getupdates(bot.cursor)
    except ILinkSessionExpired as err:
        mark_expired(bot, str(err))
        return PollResult(expired=True, error=str(err))
    ILinkBot.objects.filter(pk=bot.pk).update(last_poll_at=now)
    result = PollResult(received=len(updates.msgs))
    for raw in updates.msgs:
        if handle_message(bot, raw, client):
            result.stored += 1
    # Only now is the batch stored: the cursor may move past it. An empty cursor keeps the old one.
    fields = {"consecutive_errors": 0}
    if updates.cursor:
        fields["cursor"] = bot.cursor = updates.cursor
    if result.stored:
        fields.update(last_message_at=timezone.now(), messages_received=F("messages_received") + result.stored)
    ILinkBot.objects.filter(pk=bot.pk).update(**fields)
    return result


def mark_expired(bot: ILinkBot, error: str = "") -> None:
    logger.warning("iLink bot %s of account %r: session timeout (-14); it needs a new QR login",
                   bot.bot_id, bot.account.name)
    ILinkBot.objects.filter(pk=bot.pk).update(status=ILinkBot.Status.EXPIRED, last_error=error[:2000],
                                              last_error_at=timezone.now())
    bot.status = ILinkBot.Status.EXPIRED


def handle_message(bot: ILinkBot, raw: dict, client: ILinkClient) -> bool:
    """Log one polled message (once), fetch its media, send the rules' reply. True when this call
    stored it (False: seen before, or not a message from a user)."""
    account = bot.account
    if raw.get("message_type") == ilink.MESSAGE_TYPE_BOT:
        return False  # the bot's own messages echoed back
    try:
        message = ilink.to_message(raw, bot.bot_id)
    except ProtocolError as err:
        logger.warning("Skipped an iLink message of %r that cannot be read: %s", account.name, err)
        return False
    outcome = inbound.process_polled(account, message)
    if not outcome.created:
        # Read again (a crash mid-batch): the hand-off may be all that is missing.
        if outcome.to_agent and not agent.hand_off_exists(account, outcome.log.dedupe_key):
            _hand_to_agent(account, message, outcome.log)
        return False
    if "media" in message.param:
        row = record_media(account, outcome.log, message)
        from .media import fetch_incoming

        try:
            fetch_incoming(row.pk)
        except Exception:  # stays pending: the media sweeper retries it
            logger.exception("Fetching the media of %s on %r failed", message.dedupe_key, account.name)
    reply = outcome.reply
    if reply is not None:
        _send_rule_reply(account, message, outcome.log, reply, client)
    reply_sent.send_robust(sender=Account, account=account, message=message, reply=reply,
                           rule_name=outcome.log.rule_name or None, log=outcome.log)
    if outcome.to_agent:  # after the media: the event lists them fetched
        _hand_to_agent(account, message, outcome.log)
    return True


# The seed's chat type of iLink conversations: one user and the bot.
CHAT_TYPE = "c2c"


def _hand_to_agent(account, message, log) -> None:
    """The message's agent event (once per message: ``hand_off`` is idempotent on the log's key),
    with the conversation's context token (the agent's ``/send`` echoes it) and the media.

    Unlike the callback's, a failure here (the database) is not swallowed: it ends the poll before
    the batch's cursor is saved, so the next poll reads the batch again and makes the hand-off."""
    agent.hand_off(account, message, context_token=message.param.get("context_token", ""),
                   attachments=attachments(log), chat_type=CHAT_TYPE)


def _send_rule_reply(account, message, log, reply, client) -> None:
    from .. import channels

    key = hashlib.sha1(f"{account.pk}:{message.dedupe_key}".encode()).hexdigest()
    try:
        channels.for_account(account).send_reply(account, message.uid, reply,
                                                 context_token=message.param.get("context_token", ""),
                                                 idempotency_key=f"rule:{key}")
    except Exception as err:
        logger.warning("The reply to %s on %r could not be sent: %s", message.dedupe_key, account.name, err)
        MessageLog.objects.filter(pk=log.pk).update(error=f"sending the reply failed: {err}"[:4000])


# --- media -----------------------------------------------------------------------------------------------
def media_id_of(message) -> str:
    param = message.param["media"]["download_param"] or message.param["media"]["full_url"]
    return "ilink:" + hashlib.sha1(param.encode()).hexdigest()


def record_media(account, log, message) -> IncomingMedia:
    from .media import record_incoming

    row = record_incoming(account.pk, log.dedupe_key, message.type, media_id_of(message))
    if row.log_id is None:
        IncomingMedia.objects.filter(pk=row.pk).update(log=log)
    return row


_SNIFF = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
          (b"#!SILK", "audio/silk"), (b"\x02#!SILK", "audio/silk"), (b"#!AMR", "audio/amr"))


def download_media(media_row: IncomingMedia) -> MediaContent:
    """The decrypted bytes of an iLink message's media (``services.media.fetch_incoming`` asks)."""
    log = MessageLog.objects.filter(account_id=media_row.account_id, dedupe_key=media_row.dedupe_key).first()
    media = ((log.message or {}).get("param") or {}).get("media") if log else None
    if not media:
        raise WeChatAPIError(None, "the message's media reference is gone", "GET /cdn/download")
    bot = get_bot(media_row.account)
    client = bot_client(bot)
    try:
        data = client.download(media, max_size=int(app_settings.MEDIA_MAX_FETCH_SIZE))
    except ProtocolError as err:
        raise WeChatAPIError(-1, f"the media does not decrypt: {err}", "GET /cdn/download") from None
    content_type = next((ct for magic, ct in _SNIFF if data.startswith(magic)), "")
    if not content_type:
        guessed = mimetypes.guess_type(media.get("file_name") or "")[0]
        content_type = guessed or {"video": "video/mp4", "voice": "audio/silk"}.get(media["kind"],
                                                                                    "application/octet-stream")
    return MediaContent(data, content_type)


# --- the poller ----------------------------------------------------------------------------------------
HEARTBEAT_KEY = "wechat_app:ilink:poller"
HEARTBEAT_TTL = 30


def backoff(errors: int) -> float:
    base, top = float(app_settings.ILINK_POLL_BACKOFF), float(app_settings.ILINK_POLL_BACKOFF_MAX)
    return min(top, base * 2 ** max(0, errors - 1)) * random.uniform(0.8, 1.2)


def pollable_bots():
    return ILinkBot.objects.select_related("account", "account__agent_settings").filter(
        status=ILinkBot.Status.ACTIVE, polling_enabled=True, account__enabled=True,
        account__channel=Account.Channel.ILINK)


class Poller:
    """The one polling process: a thread per pollable bot; the set is re-read every ``refresh``
    seconds (a new login starts polling, an expired or stopped bot stops). ``stop()`` ends it."""

    def __init__(self, *, refresh: float = 2.0, stdout=None):
        self.refresh = refresh
        self.stop_event = threading.Event()
        self.threads: dict[int, tuple[threading.Thread, threading.Event]] = {}
        self.stdout = stdout

    def _say(self, text: str) -> None:
        logger.info(text)
        if self.stdout is not None:
            self.stdout.write(text)

    def run(self) -> None:
        self._say("iLink poller running (pid %d)" % os.getpid())
        try:
            while not self.stop_event.is_set():
                try:
                    self.sync()
                except Exception:  # the database is unreachable a moment: keep the threads, retry
                    logger.exception("The iLink poller could not read the bots to poll")
                    connections.close_all()
                cache.set(HEARTBEAT_KEY, {"pid": os.getpid(), "at": time.time(),
                                          "bots": sorted(self.threads)}, HEARTBEAT_TTL)
                self.stop_event.wait(self.refresh)
        finally:
            for thread, stop in self.threads.values():
                stop.set()
            for thread, stop in self.threads.values():
                thread.join(timeout=5)
            cache.delete(HEARTBEAT_KEY)
            connections.close_all()
            self._say("iLink poller stopped")

    def stop(self) -> None:
        self.stop_event.set()

    def sync(self) -> None:
        close_old_connections()
        wanted = set(pollable_bots().values_list("pk", flat=True))
        for pk in list(self.threads):
            thread, stop = self.threads[pk]
            if pk not in wanted or not thread.is_alive():
                stop.set()
                if not thread.is_alive():
                    del self.threads[pk]
        for pk in wanted - set(self.threads):
            stop = threading.Event()
            thread = threading.Thread(target=self._loop, args=(pk, stop), name=f"ilink-poll-{pk}", daemon=True)
            self.threads[pk] = (thread, stop)
            thread.start()

    def _loop(self, pk: int, stop: threading.Event) -> None:
        try:
            errors = 0
            while not stop.is_set() and not self.stop_event.is_set():
                try:
                    bot = pollable_bots().filter(pk=pk).first()
                    if bot is None:
                        return
                    result = poll_once(bot)
                    errors = 0
                except Exception as err:  # back off, keep the cursor, try again
                    errors += 1
                    logger.warning("Polling iLink bot #%d failed (%d in a row): %s", pk, errors, err)
                    try:
                        ILinkBot.objects.filter(pk=pk).update(consecutive_errors=errors, last_error=str(err)[:2000],
                                                              last_error_at=timezone.now())
                    except Exception:  # the database itself failed; the log line above says so
                        connections.close_all()
                    stop.wait(backoff(errors))
                    continue
                if result.expired:
                    self._say(f"{bot.account.name}: session expired (-14); polling stopped, log in again")
                    return
        finally:
            connections.close_all()


# --- control (CLI and REST) ------------------------------------------------------------------------------
def set_polling(enabled: bool, accounts=None) -> list[str]:
    """Enable or disable polling of the given accounts' bots (all when None); their names."""
    qs = ILinkBot.objects.select_related("account")
    if accounts is not None:
        qs = qs.filter(account__in=list(accounts))
    names = [bot.account.name for bot in qs]
    qs.update(polling_enabled=enabled)
    return names


def poller_heartbeat() -> dict | None:
    beat = cache.get(HEARTBEAT_KEY)
    if beat and time.time() - beat.get("at", 0) <= HEARTBEAT_TTL:
        return beat
    return None


def bot_summary(bot: ILinkBot) -> dict:
    return {"account": bot.account.name, "bot_id": bot.bot_id, "ilink_user_id": bot.ilink_user_id,
            "status": bot.status, "polling_enabled": bot.polling_enabled, "api_base_url": bot.api_base_url,
            "last_poll_at": bot.last_poll_at, "last_message_at": bot.last_message_at,
            "messages_received": bot.messages_received, "consecutive_errors": bot.consecutive_errors,
            "last_error": bot.last_error, "logged_in_at": bot.logged_in_at}


def poll_status(accounts=None) -> dict:
    qs = ILinkBot.objects.select_related("account").order_by("account__name")
    if accounts is not None:
        qs = qs.filter(account__in=list(accounts))
    beat = poller_heartbeat()
    return {"poller": {"running": beat is not None, "pid": beat and beat.get("pid")},
            "bots": [bot_summary(bot) for bot in qs]}


def run_once(accounts=None) -> dict[str, dict]:
    """One poll of every pollable bot (of ``accounts``), in this process: name -> result."""
    qs = pollable_bots()
    if accounts is not None:
        qs = qs.filter(account__in=list(accounts))
    results = {}
    for bot in qs:
        try:
            result = poll_once(bot)
            results[bot.account.name] = {"received": result.received, "stored": result.stored,
                                         "expired": result.expired, "error": result.error}
        except Exception as err:
            ILinkBot.objects.filter(pk=bot.pk).update(consecutive_errors=F("consecutive_errors") + 1,
                                                      last_error=str(err)[:2000], last_error_at=timezone.now())
            results[bot.account.name] = {"received": 0, "stored": 0, "expired": False, "error": str(err)}
    return results


# --- for the admin, the REST API and the agent hand-off --------------------------------------------------
def qrcode_png(login: ILinkLogin, scale: int = 6) -> bytes:
    """The login's QR code as a PNG, drawn from its content."""
    import io

    import segno

    out = io.BytesIO()
    segno.make(login.qrcode_content, error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def attachments(log: MessageLog, request=None) -> list[dict]:
    """The media of a logged message as an agent sees them (``media.incoming_attachment``); an iLink
    file keeps the name the user gave it."""
    from .media import incoming_attachments

    file_name = (log.message or {}).get("param", {}).get("file_name", "")
    return incoming_attachments(log.account_id, log.dedupe_key, request=request, file_name=file_name)
