"""The inbound callback: verify, decrypt, parse, dedupe, run the rules, log, answer.

The view (``wechat_app.views.callback``) only adapts HTTP to ``handle_get`` / ``handle_post``;
everything WeChat-specific happens here, and every refusal is an exception that
``status_for_error`` maps to an HTTP status in one place.
https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html

Retries. WeChat retries a delivery (up to three times) when the answer is slow. The first
delivery claims ``message.dedupe_key`` in the cache (``cache.add``, atomic in Redis, so it holds
across processes), runs the rules once and stores the rendered plaintext reply; a retry answers
that same reply byte for byte (re-encrypted when it arrived encrypted), waiting up to
``DEDUPE_WAIT`` seconds if the first delivery is still being processed, and only increments the
log row's ``retry_count``. The log's unique (account, dedupe_key) constraint is the fallback when
the cache cannot be shared (e.g. local memory in several processes): the losing INSERT finds the
winner's row and answers its reply.

Faults. WeChat gets its answer within 5 s whatever is down. The cache is reached only through
``cachebatch`` (never raises; a failing cache is skipped for a moment): without it the account
and the rules come from this process's memory and the unique constraint dedupes. Without the
database the log row is spooled to local disk (``services.spool``) and written when the database
is back; a delivery for an account this process never loaded is answered "success" and spooled
unverified, to be verified and logged when the database is back.

Replays. In plain mode WeChat's signature covers the query (timestamp, nonce) but not the body,
so a captured query could carry another body within the timestamp window. Each plaintext
delivery's signature is remembered for the window, with the delivery it signed (two operations
in the first round trip); the same signature with another delivery is refused. Safe mode signs
the encrypted body itself.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import IntegrityError, OperationalError, connections, transaction
from django.db.models import F
from django.utils import timezone

from .. import protocol
from ..conf import app_settings
from ..models import Account, MessageLog, Rule
from ..protocol import (
    AppIdMismatchError,
    DecryptError,
    ExpiredTimestampError,
    ForbiddenXMLError,
    InvalidSignatureError,
    MalformedMessageError,
    Message,
    ProtocolError,
    check_signature,
    parse_message,
    parse_wecom_message,
    parse_xml,
    render_reply,
)
from ..protocol.replies import AgentReply
from ..signals import message_received, reply_sent, wecom_contact_changed
from . import accounts, agent, callbackscript, logbuffer, rule_index, rules, spool, stampcheck
from .cachebatch import UNAVAILABLE, CacheBatch, FailSafeCache, django_redis_client
from .cachebatch import health as cache_health

logger = logging.getLogger("wechat_app.inbound")
# A child of django.security: projects that route security warnings somewhere see these too.
security_logger = logging.getLogger("django.security.wechat_app")

SUCCESS = b"success"  # WeChat's "received, no reply"
XML_CONTENT_TYPE = "application/xml; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
_POLL_INTERVALS = (0.01, 0.02, 0.05, 0.1)  # back-off of a retry waiting for the first answer
WECOM = Account.Channel.WECOM.value  # a WeCom app's callback differs from an Official Account's (docs/wecom.md)


# --- refusals ---------------------------------------------------------------------------------
class CallbackRefused(Exception):
    """A callback request refused before anything was logged or run."""


class AccountNotFound(CallbackRefused):
    """No enabled account has that name."""


class PayloadTooLarge(CallbackRefused):
    """The body is larger than ``MAX_BODY_SIZE``."""


class PlaintextRefused(CallbackRefused):
    """A safe-mode account received an unencrypted message."""


class ReplayedQuery(CallbackRefused):
    """A plaintext delivery reused the signed query of another delivery."""


class ServiceUnavailable(CallbackRefused):
    """The database is down and this process has never loaded the account."""


# The one place where refusals become statuses (most specific classes first).
ERROR_STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (AccountNotFound, 404),
    (PayloadTooLarge, 413),
    (PlaintextRefused, 400),
    (ReplayedQuery, 403),
    (ServiceUnavailable, 503),
    (InvalidSignatureError, 403),
    (ExpiredTimestampError, 403),
    (AppIdMismatchError, 400),
    (DecryptError, 400),
    (ForbiddenXMLError, 400),
    (MalformedMessageError, 400),
    (ProtocolError, 400),
)


def status_for_error(err: Exception) -> int | None:
    """The HTTP status of a refusal, or None when ``err`` is not one (a bug: let it raise)."""
    for cls, status in ERROR_STATUSES:
        if isinstance(err, cls):
            return status
    return None


@dataclass
class CallbackResponse:
    """What the view sends back: a status, a body and its content type."""

    status: int = 200
    body: bytes = SUCCESS
    content_type: str = TEXT_CONTENT_TYPE


# --- the reply engine, behind one seam --------------------------------------------------------
def run_rules(account: Account, message: Message, **options):
    """Run the account's rules on a message (``services.rules.respond``); tests replace this.

    ``options`` are ``respond``'s round-trip savers (``prefetched``, ``batch``).
    """
    return rules.respond(account, message, **options)


# --- helpers ----------------------------------------------------------------------------------
def get_account(name: str) -> Account:
    """The enabled account called ``name`` (cached per process, see ``services.accounts``)."""
    try:
        return accounts.get_enabled_account(name)
    except accounts.AccountNotFound:
        raise AccountNotFound(name) from None
    except accounts.AccountUnavailable:
        raise ServiceUnavailable(name) from None


def _lookup(name: str, *, refresh: bool = False) -> tuple[Account, str | None]:
    try:
        return accounts.lookup_account(name, refresh=refresh)
    except accounts.AccountNotFound:
        raise AccountNotFound(name) from None
    except accounts.AccountUnavailable:
        raise ServiceUnavailable(name) from None


class _StaleAccount(Exception):
    """The account changed since this process loaded it: start over with a fresh copy."""


def check_timestamp(timestamp: str | None, now: float | None = None) -> None:
    """Refuse a timestamp outside ``TIMESTAMP_WINDOW`` seconds of the server clock (replays)."""
    protocol.check_timestamp(timestamp, app_settings.TIMESTAMP_WINDOW, now)


def _verify(signature: str | None, account: Account, params, *extra: str, now: float | None = None) -> None:
    try:
        check_signature(signature, account.token, params.get("timestamp", ""), params.get("nonce", ""), *extra)
    except InvalidSignatureError:
        # No secret, no signature value: only who was targeted and that it failed.
        security_logger.warning("Invalid WeChat callback signature for account %r", account.name)
        raise
    check_timestamp(params.get("timestamp"), now)


def _cache():
    # The hot path's cache: never raises (``UNAVAILABLE`` when the cache fails, see cachebatch).
    return FailSafeCache(caches[app_settings.CACHE_ALIAS])


def _replay_cache_key(account: Account, signature: str) -> str:
    digest = hashlib.sha1(signature.encode("utf-8")).hexdigest()
    return f"{app_settings.CACHE_PREFIX}:signed:{account.pk}:{digest}"


def _dedupe_cache_key(account: Account, dedupe_key: str) -> str:
    digest = hashlib.sha1(dedupe_key.encode("utf-8")).hexdigest()
    return f"{app_settings.CACHE_PREFIX}:dedupe:{account.pk}:{digest}"


def _log_dedupe_key(dedupe_key: str) -> str:
    # The column holds 255 characters; an event key can be a long URL (VIEW). Keep it readable
    # and unique by replacing the tail with a digest.
    if len(dedupe_key) <= 255:
        return dedupe_key
    return dedupe_key[:200] + ":" + hashlib.sha1(dedupe_key.encode("utf-8")).hexdigest()


def _clip(value: Any, length: int) -> str:
    return "" if value is None else str(value)[:length]


def _error_summary(err: BaseException) -> str:
    # The last frames and the exception line: enough to find the bug, no locals (no secrets).
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__, limit=-6))
    return text[-4000:]


# --- GET: URL verification --------------------------------------------------------------------
def handle_get(account_name: str, params) -> CallbackResponse:
    """Answer WeChat's URL check: ``echostr`` when ``signature`` is valid (a WeCom app's: echostr
    decrypted, when ``msg_signature`` over token, timestamp, nonce and echostr is valid)."""
    account = get_account(account_name)
    if account.channel == WECOM:
        echostr = params.get("echostr", "")
        _verify(params.get("msg_signature"), account, params, echostr)
        return CallbackResponse(200, account.crypto.decrypt(echostr).encode("utf-8"), TEXT_CONTENT_TYPE)
    _verify(params.get("signature"), account, params)
    return CallbackResponse(200, params.get("echostr", "").encode("utf-8"), TEXT_CONTENT_TYPE)


# --- POST: a message ----------------------------------------------------------------------------
def handle_post(account_name: str, params, body: bytes, *, started: float | None = None) -> CallbackResponse:
    """Verify, decrypt and parse one delivery, answer it (once per dedupe key) and log it.

    The account comes from this process's memory; whether it is still current is checked in
    the cache round trip the dedupe claim makes anyway, and a changed account starts the
    delivery over with a fresh copy (so a new token, key or ``enabled`` flag applies at once).
    """
    started = started if started is not None else time.perf_counter()
    try:
        account, stamp = _lookup(account_name)
    except ServiceUnavailable:
        return _spool_unverified(account_name, params, body)
    try:
        return _handle_post(account, stamp, params, body, started)
    except _StaleAccount:
        account, _ = _lookup(account_name, refresh=True)
        return _handle_post(account, None, params, body, started)


def _handle_post(account: Account, stamp: str | None, params, body: bytes, started: float) -> CallbackResponse:
    # ``stamp`` is the accounts version ``account`` was loaded under; None: just loaded.
    try:
        message, xml, encrypted = _decode(account, params, body)
    except (ProtocolError, CallbackRefused):
        if stamp is not None and not accounts.stamp_is_current(stamp):
            raise _StaleAccount from None  # judged with an outdated token, key or mode
        raise
    reply_xml = _answer_once(account, stamp, message, xml, encrypted, started,
                             signature=None if encrypted else params.get("signature"))
    if not reply_xml:
        return CallbackResponse()
    if encrypted:
        nonce = params.get("nonce", "") or hashlib.sha1(str(time.time()).encode()).hexdigest()[:10]
        return CallbackResponse(200, account.crypto.encrypt_message(reply_xml, nonce).encode("utf-8"),
                                XML_CONTENT_TYPE)
    return CallbackResponse(200, reply_xml.encode("utf-8"), XML_CONTENT_TYPE)


def _decode(account: Account, params, body: bytes, now: float | None = None) -> tuple[Message, str, bool]:
    """Check the signature (and timestamp), decrypt when encrypted, parse: (message, xml, encrypted).

    ``now`` is when the delivery was received (default: now) for the timestamp check.
    """
    if account.channel == WECOM:
        return _decode_wecom(account, params, body, now)
    encrypted = params.get("encrypt_type", "").lower() == "aes"
    mode = account.encrypt_mode
    if mode == Account.EncryptMode.PLAIN:
        encrypted = False  # a plain-mode account speaks plaintext only; the body must be plain
    elif mode == Account.EncryptMode.SAFE and not encrypted:
        raise PlaintextRefused("this account accepts encrypted messages only")
    if encrypted:
        crypto = account.crypto
        if crypto is None:  # pragma: no cover - model validation requires a key outside plain mode
            raise PlaintextRefused("the account has no EncodingAESKey")
        envelope = parse_xml(body)
        encrypt = envelope.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise MalformedMessageError("missing Encrypt")
        _verify(params.get("msg_signature"), account, params, encrypt, now=now)
        xml = crypto.decrypt(encrypt)
        return parse_message(xml), xml, True
    _verify(params.get("signature"), account, params, now=now)
    return parse_message(body), body.decode("utf-8", "replace"), False


def _decode_wecom(account: Account, params, body: bytes, now: float | None = None) -> tuple[Message, str, bool]:
    """A WeCom app's delivery: always encrypted (no ``encrypt_type`` parameter), signed with
    ``msg_signature`` over the Encrypt text; a body without Encrypt is refused as plaintext."""
    envelope = parse_xml(body)
    encrypt = envelope.get("Encrypt")
    if not isinstance(encrypt, str) or not encrypt:
        raise PlaintextRefused("WeCom apps accept encrypted messages only")
    crypto = account.crypto
    if crypto is None:  # pragma: no cover - model validation requires a key for WeCom apps
        raise PlaintextRefused("the account has no EncodingAESKey")
    _verify(params.get("msg_signature"), account, params, encrypt, now=now)
    xml = crypto.decrypt(encrypt)
    return parse_wecom_message(xml), xml, True


def _answer_once(account: Account, stamp: str | None, message: Message, xml: str, encrypted: bool,
                 started: float, signature: str | None = None) -> str:
    """The plaintext reply XML of this delivery ("" for none), computed once per dedupe key.

    With a row per message, a message of stored rules asks the cache nothing: the log row's
    unique key is its claim (``_row_claim``). Otherwise one cache round trip claims the delivery
    and reads what the rules need (the accounts and rules versions, the user's follow-up state)
    and, for a plaintext delivery, who used its
    signed query first; a second stores the answer together with any follow-up state the rules
    changed. On Redis both are one server-side script (``callbackscript``), and with LOG_BUFFER
    a message of stored rules takes a single call: the rules run first on the stamps this
    process knows, and the script claims, checks and stores everything at once. Without the
    cache, the delivery is processed and the log's unique key dedupes.
    """
    cache = _cache()
    rules_key = rules.version_key(account.pk)
    state_key = rules.state_key(account.pk, message.uid)
    session_key = rules.session_key(account.pk, message.uid)
    prefetched = _row_claim(cache, account, stamp, message, signature, rules_key, state_key, session_key)
    if prefetched is not None:
        # No cache claim: the log row's unique key dedupes (a duplicate answers the first row's reply).
        return _process_claimed(cache, None, account, message, xml, encrypted, started, prefetched=prefetched)
    key = _dedupe_cache_key(account, message.dedupe_key)
    # The claim expires soon if its holder dies, so that a later retry can take over; the answer
    # itself is kept for DEDUPE_TTL.
    claim_ttl = int(max(app_settings.DEDUPE_WAIT, app_settings.REPLY_BUDGET)) + 2
    replay_key = fingerprint = None
    replay_ttl = 2 * app_settings.TIMESTAMP_WINDOW + 1  # a signed query is valid that long around its timestamp
    if signature and app_settings.TIMESTAMP_WINDOW:
        fingerprint = hashlib.sha1(message.dedupe_key.encode("utf-8")).hexdigest()
        replay_key = _replay_cache_key(account, signature)
    client = django_redis_client(cache.cache)
    if client is not None:  # Redis: the same work in one server-side script (callbackscript)
        call = callbackscript.Call(
            cache.cache, client, dedupe_key=key, claim_value={"state": "processing"}, claim_ttl=claim_ttl,
            accounts_key=accounts.version_key(), rules_key=rules_key, state_key=state_key, session_key=session_key,
            replay_key=replay_key, fingerprint=fingerprint, replay_ttl=replay_ttl)
        return _answer_by_script(cache, call, key, claim_ttl, account, stamp, message, xml, encrypted, started,
                                 rules_key, state_key, session_key)
    batch = CacheBatch(cache.cache)
    claim = batch.add(key, {"state": "processing"}, claim_ttl)
    accounts_stamp = batch.get(accounts.version_key()) if stamp is not None else None
    rules_stamp, state, session = batch.get(rules_key), batch.get(state_key), batch.get(session_key)
    signed_by = None
    if replay_key is not None:
        batch.add(replay_key, fingerprint, replay_ttl)
        signed_by = batch.get(replay_key)
    batch.execute()
    if batch.failed:
        return _process_unclaimed(cache, account, message, xml, encrypted, started, rules_key, state_key, session_key)
    if signed_by is not None and signed_by.value not in (None, fingerprint):
        if claim.value:
            cache.delete(key)  # unlike the script, the pipeline claimed before it could tell
        status = "replayed"
    else:
        status = "claimed" if claim.value else "taken"
    outcome = callbackscript.Outcome(status, accounts_stamp.value if accounts_stamp is not None else stamp,
                                     rules_stamp.value, state.value, session.value)
    return _after_claim(cache, outcome, key, claim_ttl, account, stamp, message, xml, encrypted, started,
                        rules_key, state_key, session_key)


def _process_unclaimed(cache, account, message, xml, encrypted, started, rules_key, state_key, session_key) -> str:
    # The cache failed: no claim, no stamps, no state. Answer from memory; _save_log's unique key dedupes.
    return _process_claimed(cache, None, account, message, xml, encrypted, started,
                            prefetched={rules_key: UNAVAILABLE, state_key: None, session_key: UNAVAILABLE})


def _after_claim(cache, outcome, key, claim_ttl, account, stamp, message, xml, encrypted, started,
                 rules_key, state_key, session_key) -> str:
    """What follows the claim, on Redis's script and on the pipeline alike: refuse a replayed
    signed query, start over when the account changed, wait for the first delivery's answer when
    another holds the claim, else run the rules on the stamps and state the claim read."""
    if outcome.status == "replayed":
        security_logger.warning("Refused a plaintext delivery reusing another delivery's signed query "
                                "for account %r", account.name)
        raise ReplayedQuery("this signed query was already used for another message")
    claimed = outcome.status == "claimed"
    if stamp is not None and outcome.accounts_stamp != stamp:
        if claimed:
            cache.delete(key)
        raise _StaleAccount
    if not claimed:
        return _await_first_answer(cache, key, claim_ttl, account, message, xml, encrypted, started)
    return _process_claimed(cache, key, account, message, xml, encrypted, started,
                            prefetched={rules_key: outcome.rules_stamp, state_key: outcome.state,
                                        session_key: outcome.session})


def _may_run_unclaimed(account: Account, stamp: str | None, message: Message) -> bool:
    """Whether the rules may answer this message before (or without) a cache claim: running them
    twice must change nothing, so they must be stored rules only (no Python code), no receiver
    but the app's own (which ignore these message types) may see a run, and the account must
    have no agent (its hand-off must follow the claim, not a run that may be discarded)."""
    if stamp is None or message.type not in _ONE_TRIP_TYPES or not cache_health.available():
        return False
    if _receivers_act_on(message) or _runs_code(account.name):
        return False
    return agent.settings_for(account) is None


def _one_trip_stamp(account: Account, stamp: str | None, message: Message) -> str | None:
    """The rules stamp to assume for the one-trip path (LOG_BUFFER: the log entry goes out with
    the script), or None when the message must take the claim first."""
    if not logbuffer.enabled() or not _may_run_unclaimed(account, stamp, message):
        return None
    return rule_index.known_stamp(account)


def _row_claim(cache, account: Account, stamp: str | None, message: Message, signature: str | None,
               rules_key: str, state_key: str, session_key: str) -> dict | None:
    """With a row per message: the cache values to answer this message with, and no cache claim,
    or None when it must take the claim. The committed row is the claim (its unique key): a
    duplicate delivery runs the rules again and answers the first row's reply, so only messages
    that ``_may_run_unclaimed`` qualifies; an encrypted delivery (a plaintext one's signed query
    is checked in the cache); an index whose rules have no follow-ups (no user state to read).
    The account and rules stamps are those this process loaded, read again from the cache when
    it last saw them more than ``STAMP_RECHECK`` seconds ago (``stampcheck``)."""
    if (logbuffer.enabled() or signature is not None or not app_settings.STAMP_RECHECK
            or not _may_run_unclaimed(account, stamp, message)):
        return None
    rules_stamp = rule_index.known_stamp(account, without_follow_ups=True)
    if rules_stamp is None:
        return None
    if not stampcheck.fresh(account.pk, stamp, rules_stamp):
        accounts_key = accounts.version_key()
        current = cache.get_many([accounts_key, rules_key])
        if current is UNAVAILABLE:
            return None  # the usual path copes with the failed cache
        if current.get(accounts_key) != stamp:
            raise _StaleAccount
        if current.get(rules_key) != rules_stamp:
            return None  # the rules changed: the usual path (its index refresh starts there)
        stampcheck.seen(account.pk, stamp, rules_stamp)
    return {rules_key: rules_stamp, state_key: None, session_key: None}


# The app's own receivers act on events (followers, send reports) and media (the file's fetch)
# only: for these message types they do nothing, so running the rules twice is harmless.
_ONE_TRIP_TYPES = frozenset({"text", "location", "link"})
_OWN_RECEIVERS = frozenset({"wechat_app.outbound.on_message", "wechat_app.fetch_incoming_media"})


def _foreign_receivers(signal) -> bool:
    """Whether a receiver other than the app's own is connected to ``signal``."""
    for entry in signal.receivers:
        lookup_key = entry[0]
        if not (isinstance(lookup_key, tuple) and lookup_key[0] in _OWN_RECEIVERS):
            return True
    return False


def _dispatches(signal, message: Message) -> bool:
    """Whether sending ``signal`` about ``message`` can reach a receiver that acts on it: the
    app's own act on events and media only, so for the other message types a send that would
    reach only them is skipped (each costs a dispatch per message)."""
    return bool(signal.receivers) and (message.type not in _ONE_TRIP_TYPES or _foreign_receivers(signal))


def _receivers_act_on(message: Message) -> bool:
    """Whether a receiver of ``message_received`` or ``reply_sent`` acts on ``message``."""
    return _dispatches(message_received, message) or _dispatches(reply_sent, message)


def _answer_by_script(cache, call, key, claim_ttl, account, stamp, message, xml, encrypted, started,
                      rules_key, state_key, session_key) -> str:
    """``_answer_once`` on Redis: one script call per message when the rules could run first
    (``finish``: claim, check, store the answer and the log entry at once), else two (``claim``,
    then the answer stored as in the pipeline path)."""
    rules_stamp = _one_trip_stamp(account, stamp, message)
    if rules_stamp is not None:
        after = CacheBatch(cache.cache)
        reply_xml = _process(account, message, xml, encrypted, started, defer_log=True, batch=after,
                             prefetched={rules_key: rules_stamp, state_key: None, session_key: None})
        ops, fallbacks = after.take()
        outcome = call.finish(accounts_stamp=stamp, rules_stamp=rules_stamp,
                              answer={"state": "done", "reply_xml": reply_xml}, answer_ttl=app_settings.DEDUPE_TTL,
                              ops=ops, fallbacks=fallbacks)
        if outcome is UNAVAILABLE or outcome.status == "done":
            # Done, or the cache failed: the fallback wrote the row directly (its unique key dedupes).
            return reply_xml
        # Otherwise nothing of that run was written: it is discarded.
    else:
        outcome = call.claim()
        if outcome is UNAVAILABLE:
            return _process_unclaimed(cache, account, message, xml, encrypted, started, rules_key, state_key,
                                      session_key)
    return _after_claim(cache, outcome, key, claim_ttl, account, stamp, message, xml, encrypted, started,
                        rules_key, state_key, session_key)


def _process_claimed(cache, key, account, message, xml, encrypted, started, prefetched=None) -> str:
    # ``key``: the dedupe claim this delivery holds (None: the cache is unavailable, no claim).
    after = CacheBatch(cache.cache)  # follow-up state writes and the stored answer: one round trip
    report = {}
    try:
        reply_xml = _process(account, message, xml, encrypted, started, prefetched=prefetched, batch=after,
                             report=report)
    except BaseException:
        if key is not None:
            cache.delete(key)  # let a retry process it rather than wait for an answer that never comes
        raise
    if report.get("duplicate"):
        # Another delivery of this message logged it first (the database said so): its answer
        # and its follow-up state stand; this run's writes are dropped.
        after.take()
    if key is not None and not (report.get("in_database") and not len(after) and _reads_row_on_retry(account, message)):
        after.set(key, {"state": "done", "reply_xml": reply_xml}, app_settings.DEDUPE_TTL)
    # Else the row is in the database with the answer: a retry reads it there (``_logged_answer``),
    # and the message costs one round trip to the cache, not two; the claim expires by itself.
    after.execute()
    return reply_xml


def _reads_row_on_retry(account: Account, message: Message) -> bool:
    """Whether a retry of this delivery may be answered from its log row rather than from the
    cache. A retry that comes after the claim expired runs the rules again before the row's
    unique key stops it: only harmless for stored rules and messages no receiver acts on."""
    return message.type in _ONE_TRIP_TYPES and not _runs_code(account.name) and not _receivers_act_on(message)


def _logged_answer(account: Account, message: Message) -> str | None:
    """The answer recorded in this delivery's log row, or None when there is none yet (or the
    database is away). With LOG_BUFFER the row is not there yet: the answer is in the cache."""
    if logbuffer.enabled():
        return None
    try:
        return (MessageLog.objects.filter(account_id=account.pk, dedupe_key=_log_dedupe_key(message.dedupe_key))
                .order_by().values_list("reply_xml", flat=True).first())
    except spool.DATABASE_DOWN:
        return None


def _await_first_answer(cache, key, claim_ttl, account, message, xml, encrypted, started) -> str:
    """A retry (or a duplicate racing the first delivery): answer what the first one answers."""
    deadline = time.monotonic() + app_settings.DEDUPE_WAIT
    attempt = 0
    while True:
        entry = cache.get(key)
        if entry is UNAVAILABLE:  # the cache failed meanwhile: the log's unique key dedupes
            return _process_claimed(cache, None, account, message, xml, encrypted, started)
        if entry is None or entry.get("state") != "done":
            # A row per message: the first delivery's row carries its answer, not the cache.
            answer = _logged_answer(account, message)
            if answer is not None:
                _count_retry(account, message)
                return answer
        if entry is None:
            claimed = cache.add(key, {"state": "processing"}, claim_ttl)
            if claimed or claimed is UNAVAILABLE:
                # The first delivery's claim expired (its process died): take it over.
                return _process_claimed(cache, key if claimed else None, account, message, xml, encrypted, started)
            continue
        if entry.get("state") == "done":
            _count_retry(account, message)
            return entry["reply_xml"]
        if time.monotonic() >= deadline:
            # Still processing after the wait: answer nothing now; the first delivery logs it.
            logger.info("Retry of %s on %r still processing after %.1fs; answered success",
                        message.dedupe_key, account.name, app_settings.DEDUPE_WAIT)
            return ""
        time.sleep(_POLL_INTERVALS[min(attempt, len(_POLL_INTERVALS) - 1)])
        attempt += 1


def _count_retry(account: Account, message: Message) -> None:
    dedupe_key = _log_dedupe_key(message.dedupe_key)
    if logbuffer.enabled() and logbuffer.enqueue_retry(account.pk, dedupe_key):
        return  # counted when the row is drained (it may still be in the buffer)
    try:
        MessageLog.objects.filter(account=account, dedupe_key=dedupe_key).update(retry_count=F("retry_count") + 1)
    except spool.DATABASE_DOWN:  # a statistic, not a message: not worth spooling
        logger.info("Could not count a retry of %s on %r: the database is unreachable", dedupe_key, account.name)


def _process(account: Account, message: Message, xml: str, encrypted: bool, started: float, *,
             defer_log: bool = False, report: dict | None = None, **rule_options) -> str:
    """Run the rules once, render the reply, log the delivery; return the plaintext reply XML.

    ``defer_log``: the log entry is queued on ``rule_options["batch"]`` whatever the cache's
    health (the one-trip path: the caller sends the batch's operations in its script).
    ``report["in_database"]`` is set when the delivery's row (with the answer) is in the database,
    ``report["duplicate"]`` when that row was written by another delivery of the message.
    """
    if _dispatches(message_received, message):
        message_received.send_robust(sender=Account, account=account, message=message)
    contact_change = account.channel == WECOM and message.event == "change_contact"
    rule = reply = late = None
    reply_xml = error = ""
    to_agent = False
    try:
        if _runs_code(account.name):
            result = _run_within_budget(account, message, rule_options.get("prefetched"))
        else:
            result = run_rules(account, message, **rule_options)
        rule = result.rule
        reply, status = rules.outcome(account, message, result)
        reply, status, to_agent = agent_outcome(account, message, reply, status)
        if status == MessageLog.Status.REPLIED:
            reply_xml = render_reply(reply, to_user=message.uid, from_user=message.sp)
    except _LateReply as pending:
        late, status = pending.future, MessageLog.Status.DEFERRED
    except Exception as err:  # a rule's bug must not lose the message nor answer garbage
        logger.exception("Reply rules failed for %s on account %r", message.dedupe_key, account.name)
        reply_xml, error = "", _error_summary(err)
        reply, status = rules.outcome(account, message, None, failed=True)
    if reply is not None and not reply_xml and not isinstance(reply, AgentReply):
        # the account's answer to "no rule" or "a rule failed"
        reply_xml = render_reply(reply, to_user=message.uid, from_user=message.sp)

    values = _log_values(message, xml, encrypted, rule=rule, reply=reply, reply_xml=reply_xml, status=status,
                         error=error, latency_ms=(time.perf_counter() - started) * 1000)
    after = rule_options.get("batch")
    if defer_log or (late is None and after is not None and logbuffer.enabled() and cache_health.available()):
        # Queued as column values, with the stored answer; drained in bulk. A model instance is
        # only made when something needs one: the cache failed (the row is written directly) or
        # a receiver of ``reply_sent`` gets it.
        logbuffer.enqueue_values(after, account.pk, values)
        log = _log_model(account, values) if _dispatches(reply_sent, message) else None
        after.on_failure(lambda: _save_log(log if log is not None else _log_model(account, values)))
    else:
        log = _log_model(account, values)
        saved, reply_xml = _save_log(log)
        if report is not None and saved.pk is not None:
            report["in_database"] = True
            report["duplicate"] = saved is not log
        if saved is not log:  # another process logged (and announced) this delivery first
            contact_change = False
        log = saved
    if contact_change:
        wecom_contact_changed.send_robust(sender=Account, account=account, message=message)
    if to_agent:
        _hand_to_agent(account, message)
    if late is not None:
        late.add_done_callback(lambda future: _late_pool().submit(
            _in_thread, _finish_late_logged, future, account, message, log.pk, started))
        return reply_xml
    if _dispatches(reply_sent, message):
        reply_sent.send_robust(sender=Account, account=account, message=message, reply=reply,
                               rule_name=values["rule_name"] or None, log=log)
    return reply_xml


# --- the agent gateway (services/agent.py) ---------------------------------------------------------
def agent_outcome(account: Account, message: Message, reply, status: str):
    """``(reply, status, to_agent)``: whether the account's agent takes this message, and what is
    answered then (the callback's passive reply, a polled channel's sent reply); every channel
    decides here. A rule's ``agent`` reply and a message no rule answered (the
    no-match reply is not sent) go to the agent; with the scope "every message" a rule's own
    reply is answered too. Without an agent (no query: the settings come with the account) an
    ``agent`` reply answers nothing."""
    agent_rule = isinstance(reply, AgentReply)
    if agent.settings_for(account) is None:
        return (None, MessageLog.Status.NO_REPLY, False) if agent_rule else (reply, status, False)
    unanswered = status == MessageLog.Status.UNMATCHED
    if not agent.wants(account, message, unanswered=unanswered, agent_rule=agent_rule):
        return (None, MessageLog.Status.NO_REPLY, False) if agent_rule else (reply, status, False)
    if agent_rule:
        return reply, MessageLog.Status.NO_REPLY, True  # logged as the rule's reply, rendered as nothing
    if unanswered:
        return None, status, True
    return reply, status, True


def logged_for_agent(account: Account, message: Message, log: MessageLog) -> bool:
    """Whether the agent takes a message logged before (a polled batch read again after a crash):
    ``agent_outcome``'s decision, read back from the row (its status and logged reply)."""
    if agent.settings_for(account) is None:
        return False
    agent_rule = isinstance(log.reply, dict) and log.reply.get("type") == AgentReply.type
    return agent.wants(account, message, unanswered=log.status == MessageLog.Status.UNMATCHED, agent_rule=agent_rule)


def _hand_to_agent(account: Account, message: Message) -> None:
    # WeChat has its answer whatever happens here. With the database down the hand-off is spooled
    # (services.spool) and made when it is back; any other failure is logged with the message's key.
    try:
        agent.hand_off(account, message)
    except spool.DATABASE_DOWN:
        try:
            spool.spool_hand_off(account, message)
        except OSError:
            logger.exception("Handing %s on account %r to the agent failed: the database is unreachable and "
                             "the spool directory is not writable", message.dedupe_key, account.name)
    except Exception:
        logger.exception("Handing %s on account %r to the agent failed", message.dedupe_key, account.name)


# --- the 5-second rule ---------------------------------------------------------------------------
# WeChat waits 5 s for a passive reply. Rules written in Python may call slow services, so on
# accounts that have code rules or hooks the engine runs in a worker thread: what has not
# answered within REPLY_BUDGET gets "success" now, and its reply goes out later as a
# customer-service message. Accounts with stored rules only are fast and run inline.
_pool = None
_pool_lock = threading.Lock()
_code_accounts: dict[tuple[int, str], bool] = {}


class _LateReply(Exception):
    def __init__(self, future):
        super().__init__("the rules overran REPLY_BUDGET")
        self.future = future


def _runs_code(account_name: str) -> bool:
    """Whether Python rules or hooks apply to the account (cached per registry version)."""
    key = (rules.registry.version, account_name)
    known = _code_accounts.get(key)
    if known is None:
        known = bool(rules.registry.rules_for(account_name) or rules.registry.before_hooks(account_name)
                     or rules.registry.after_hooks(account_name))
        if len(_code_accounts) > 10_000:
            _code_accounts.clear()
        _code_accounts[key] = known
    return known


def _late_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wechat-rules")
    return _pool


def _in_thread(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    finally:
        connections.close_all()  # this worker thread's own connections


def _run_within_budget(account: Account, message: Message, prefetched):
    # Without the batch: the follow-up state is written when the rules finish, however late.
    future = _late_pool().submit(_in_thread, run_rules, account, message, prefetched=prefetched)
    try:
        return future.result(timeout=app_settings.REPLY_BUDGET)
    except FutureTimeout:
        raise _LateReply(future) from None


def _finish_late_logged(*args) -> None:
    # Nobody reads this pool future's result: an error must at least reach the log.
    try:
        _finish_late(*args)
    except Exception:
        logger.exception("Finishing a late reply failed (log row %s)", args[3])


def _update_with_retries(log_id: int, fields: dict, attempts: int = 5) -> None:
    # A locked database (SQLite under concurrent writers, a PostgreSQL failover) is transient: the
    # reply has gone out already, so its log row is worth a few tries.
    for attempt in range(attempts):
        try:
            MessageLog.objects.filter(pk=log_id).update(**fields)
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            connections.close_all()
            time.sleep(0.1 * 2 ** attempt)


def _finish_late(future, account: Account, message: Message, log_id: int, started: float) -> None:
    """The deferred rules finished: send their reply as a customer-service message, update the log,
    and hand the message to the account's agent as the callback would have (no rule answered, a
    rule's ``agent`` reply, or every message): once, after the log row has its outcome."""
    from .outbound import send_reply_later

    fields = {"latency_ms": (time.perf_counter() - started) * 1000}
    key = hashlib.sha1(f"{account.pk}:{message.dedupe_key}".encode()).hexdigest()
    reply, to_agent = None, False
    try:
        result = future.result()
        fields.update(rule_name=_clip(getattr(result.rule, "name", ""), 100),
                      reply=result.reply.to_dict() if result.reply is not None else None)
        rule_id = getattr(result.rule, "id", None)
        if isinstance(rule_id, int) and Rule.objects.filter(pk=rule_id).exists():
            fields["rule_id"] = rule_id
        reply, status = rules.outcome(account, message, result)
        reply, status, to_agent = agent_outcome(account, message, reply, status)
        fields["status"] = status
        if isinstance(reply, AgentReply):
            reply = None  # logged as the rule's reply (above); nothing is sent: the agent answers
        elif reply is not None and status == MessageLog.Status.REPLIED:
            send_reply_later(account, message.uid, reply, idempotency_key=f"late:{key}")
    except Exception as err:
        logger.exception("Late reply failed for %s on account %r", message.dedupe_key, account.name)
        fields.update(status=MessageLog.Status.ERROR, error=_error_summary(err))
        reply = rules.error_reply(account, message, failed=True)
    if reply is not None and fields["status"] != MessageLog.Status.REPLIED:
        # The account's answer to "no rule" or "a rule failed", sent late like the rules' own.
        try:
            send_reply_later(account, message.uid, reply, idempotency_key=f"late:{key}")
            fields["reply"] = reply.to_dict()
        except Exception:
            logger.exception("The error reply for %s on account %r could not be queued", message.dedupe_key,
                             account.name)
            reply = None
    _update_with_retries(log_id, fields)
    if to_agent:
        _hand_to_agent(account, message)
    log = MessageLog.objects.filter(pk=log_id).first()
    reply_sent.send_robust(sender=Account, account=account, message=message, reply=reply,
                           rule_name=fields.get("rule_name") or None, log=log)


def _log_values(message: Message, xml: str, encrypted: bool, *, rule=None, reply=None, reply_xml: str = "",
                status: str, error: str = "", latency_ms: float | None = None) -> dict:
    """The log row of one delivery as column values (attname -> value), without the account:
    the buffer queues these as they are (``logbuffer.enqueue_values``), with no model instance."""
    rule_id = getattr(rule, "id", None)
    return {
        "dedupe_key": _log_dedupe_key(message.dedupe_key),
        "msg_id": _clip(message.id, 64),
        "user": _clip(message.uid, 128),
        "msg_type": _clip(message.type, 32),
        "event": _clip(message.event, 64),
        "event_key": _clip(message.event_key, 255),
        "text": message.text or "",
        "message": message.to_dict(),
        "raw_xml": xml if app_settings.LOG_RAW_XML else "",
        "encrypted": encrypted,
        "rule_id": rule_id if isinstance(rule_id, int) else None,
        "rule_name": _clip(getattr(rule, "name", ""), 100),
        "reply": reply.to_dict() if reply is not None else None,
        "reply_xml": reply_xml,
        "status": status,
        "error": error,
        "latency_ms": latency_ms,
    }


def _log_row(account: Account, message: Message, xml: str, encrypted: bool, **fields) -> MessageLog:
    """The (unsaved) log row of one delivery (``_log_values``' keyword arguments)."""
    return _log_model(account, _log_values(message, xml, encrypted, **fields))


def _log_model(account: Account, values: dict) -> MessageLog:
    """The (unsaved) log row of ``_log_values``."""
    return MessageLog(account=account, **values)


def _save_log(log: MessageLog) -> tuple[MessageLog, str]:
    """INSERT the row; if another process logged this delivery first, answer its reply instead.

    With the database down the row is spooled (services.spool) and written once it is back.
    """
    try:
        saved = _insert_log(log)
    except spool.DATABASE_DOWN:
        try:
            spool.spool_row(log)
        except OSError:
            logger.exception("Message %s on account %s could not be logged: the database is unreachable and "
                             "the spool directory is not writable", log.dedupe_key, log.account_id)
        return log, log.reply_xml
    spool.drain_soon()  # the database answers: write what this process spooled meanwhile
    return saved


def _insert_log(log: MessageLog) -> tuple[MessageLog, str]:
    try:
        # Inside an outer transaction (ATOMIC_REQUESTS) a savepoint keeps a duplicate's
        # IntegrityError from poisoning it; in autocommit the single INSERT is its own
        # transaction, and BEGIN/COMMIT would only add two round trips per message.
        with transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext():
            MessageLog.objects.insert(log)
        return log, log.reply_xml
    except IntegrityError:
        existing = MessageLog.objects.filter(account_id=log.account_id, dedupe_key=log.dedupe_key).first()
        if existing is not None:  # a duplicate delivery raced us past the cache
            MessageLog.objects.filter(pk=existing.pk).update(retry_count=F("retry_count") + 1)
            return existing, existing.reply_xml
        if log.rule_id is None:
            raise
        # The matched rule was deleted meanwhile (foreign key): keep the row, lose the link.
        log.pk, log.rule_id = None, None
        with transaction.atomic():
            MessageLog.objects.insert(log)
        return log, log.reply_xml


# --- deliveries that could not be verified (the database was down) --------------------------------
def _spool_unverified(account_name: str, params, body: bytes) -> CallbackResponse:
    """The database is down and this process never loaded the account: answer "success" (WeChat's
    "received, no reply") and keep the delivery, to be verified and logged when the database is
    back. Only what looks like a delivery is kept (anyone can post here)."""
    try:
        accounts.check_name(account_name)
    except accounts.AccountNotFound:
        raise AccountNotFound(account_name) from None
    check_timestamp(params.get("timestamp"))
    if not (params.get("msg_signature") or params.get("signature")):
        raise InvalidSignatureError("no signature")
    try:
        kept = spool.spool_unverified(account_name, params, body)
    except OSError:
        logger.exception("A delivery for %r was lost: the database is unreachable and the spool directory is "
                         "not writable", account_name)
        raise ServiceUnavailable(account_name) from None
    if not kept:
        logger.error("A delivery for %r was not kept: the database is unreachable and the spool holds "
                     "SPOOL_MAX_UNVERIFIED_BYTES already", account_name)
        raise ServiceUnavailable(account_name)
    return CallbackResponse()


def row_from_unverified(account_name: str, params, body: bytes, received_at: float) -> MessageLog | None:
    """The log row of a delivery spooled unverified, once verified; None (with a warning) when it
    fails verification or its account no longer exists. Its status is "received": its rules
    never ran (WeChat was answered "success")."""
    found = unverified_delivery(account_name, params, body, received_at)
    return None if found is None else found[0]


def unverified_delivery(account_name: str, params, body: bytes, received_at: float):
    """``(log row, message)`` of a delivery spooled unverified, once verified (see
    ``row_from_unverified``); None when it fails verification or its account is gone."""
    account = Account.objects.filter(name=account_name).first()
    if account is None:
        logger.warning("Dropped a spooled delivery for %r: no such account", account_name)
        return None
    try:
        message, xml, encrypted = _decode(account, params, body, now=received_at)
    except (ProtocolError, CallbackRefused) as err:
        security_logger.warning("Dropped a spooled delivery for account %r that failed verification (%s)",
                                account_name, type(err).__name__)
        return None
    log = _log_row(account, message, xml, encrypted, status=MessageLog.Status.RECEIVED)
    received = datetime.fromtimestamp(received_at, tz=dt_timezone.utc)  # when WeChat delivered it
    log.created_at = received if settings.USE_TZ else timezone.make_naive(received)
    return log, message


# --- polled messages (iLink bots) -------------------------------------------------------------------
@dataclass
class PolledOutcome:
    """What became of one polled message: its log row, whether this call stored it (False: it was
    logged before, e.g. a batch delivered again after a crash, and nothing more is to be done but
    the agent hand-off, which is idempotent), the reply to send through the channel (the rules',
    or the account's error replies; never an ``agent`` reply), and whether the agent takes it."""

    log: MessageLog
    created: bool
    reply: Any = None
    to_agent: bool = False


def already_logged(account: Account, message: Message) -> bool:
    return MessageLog.objects.filter(account=account, dedupe_key=_log_dedupe_key(message.dedupe_key)).exists()


def process_polled(account: Account, message: Message, *, started: float | None = None) -> PolledOutcome:
    """Dedupe, run the rules and log one message a poller fetched (channels that do not answer in
    the HTTP response: the reply, if any, is for the caller to send through the channel, and the
    agent hand-off, when ``to_agent``, for the caller to make once the message's media are in).

    The same log row, dedupe key, rules and agent decision (``agent_outcome``) as the callback: a
    message seen before (its row exists) runs nothing and answers ``created=False``, with
    ``to_agent`` read back from the row; two processes racing on one message end on the unique
    (account, dedupe_key) with one row.
    """
    started = started if started is not None else time.perf_counter()
    if already_logged(account, message):
        return _logged_before(account, message)
    message_received.send_robust(sender=Account, account=account, message=message)
    rule, error, to_agent = None, "", False
    try:
        result = run_rules(account, message)
        rule = result.rule
        reply, status = rules.outcome(account, message, result)
        reply, status, to_agent = agent_outcome(account, message, reply, status)
    except Exception as err:  # a rule's bug must not lose the message
        logger.exception("Reply rules failed for %s on account %r", message.dedupe_key, account.name)
        error = _error_summary(err)
        reply, status = rules.outcome(account, message, None, failed=True)
    log = _log_row(account, message, "", False, rule=rule, reply=reply, status=status, error=error,
                   latency_ms=(time.perf_counter() - started) * 1000)
    saved, _ = _insert_log(log)
    if saved is not log:  # another process logged it first: its reply is its own business
        return _logged_before(account, message, saved)
    return PolledOutcome(saved, True, None if isinstance(reply, AgentReply) else reply, to_agent)


def _logged_before(account: Account, message: Message, log: MessageLog | None = None) -> PolledOutcome:
    log = log or MessageLog.objects.get(account=account, dedupe_key=_log_dedupe_key(message.dedupe_key))
    return PolledOutcome(log, False, to_agent=logged_for_agent(account, message, log))
