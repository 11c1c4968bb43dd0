"""The spool: message-log rows kept on local disk while the database is down, written once it is back.

When the callback cannot INSERT its log row (the database is unreachable) it still answers
WeChat from the rules in memory, and appends the row to a file in ``SPOOL_DIR``: one JSON line
per message, fsynced before the answer goes out, so an answered message survives a crash of the
process or of the machine. A delivery that could not even be verified (the database was down
and this process had never loaded the account) is spooled raw and verified when drained. A
message due to the account's agent whose event could not be written is spooled too, and handed
off when drained; so is an unverified delivery of an account with an agent (nothing answered it).

Files. Each process appends to a file of its own (``<ms>-<pid>-<random>.jsonl``) under an
exclusive ``flock`` held for one write and its fsync. ``drain()`` runs one at a time per
directory (``flock`` on ``.drain.lock``, released by the kernel if the drainer dies): it takes
each file by renaming it to ``*.draining`` under the file's lock (a writer that finds its file
renamed starts a new one), INSERTs its rows in one transaction skipping those already present
(the log's unique account + dedupe key), and deletes the file only after the commit. A drain
that dies half-way leaves the ``.draining`` file for the next one, whose INSERT then skips what
was written: every row reaches the database once.

Who drains: the next callback of the process that writes to the database again (in a
background thread), the ``wechat_app.drain_spool`` beat task, and ``manage.py wechat_spool``.
"""
from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError, connections

from ..conf import app_settings
from ..models import MessageLog
from . import logbuffer

logger = logging.getLogger("wechat_app.spool")

# Errors that mean "the database is unreachable" (not a bug): the callback carries on without it.
DATABASE_DOWN = (OperationalError, InterfaceError)
LIVE_SUFFIX, CLAIMED_SUFFIX, LOCK_NAME = ".jsonl", ".draining", ".drain.lock"


def directory() -> Path:
    """The spool directory (``SPOOL_DIR``, or its documented default)."""
    if app_settings.SPOOL_DIR:
        return Path(app_settings.SPOOL_DIR)
    base = getattr(settings, "BASE_DIR", None)
    if base:
        return Path(base) / "var" / "wechat_spool"
    return Path(tempfile.gettempdir()) / "wechat_app_spool"


# --- writing -----------------------------------------------------------------------------------
class _Writer:
    """This process's spool file: appends under the file's lock, fsynced."""

    def __init__(self):
        self.lock = threading.Lock()
        self.fd = None
        self.path = None
        self.pid = None
        self.written = 0  # records written by this process (see drain_soon)

    def write(self, record: dict) -> None:
        data = (json.dumps(record, cls=DjangoJSONEncoder, separators=(",", ":")) + "\n").encode("utf-8")
        with self.lock:
            while True:
                if self.fd is None or self.pid != os.getpid() or self.path.parent != directory():
                    self._close()
                    self._open()  # also after a fork (never share a file) or a change of SPOOL_DIR
                fcntl.flock(self.fd, fcntl.LOCK_EX)
                try:
                    if self._still_ours():
                        view = memoryview(data)
                        while view:
                            view = view[os.write(self.fd, view):]
                        os.fsync(self.fd)
                        self.written += 1
                        return
                finally:
                    fcntl.flock(self.fd, fcntl.LOCK_UN)
                self._close()  # a drain took the file: start a new one

    def _open(self):
        folder = directory()
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{int(time.time() * 1000):013d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{LIVE_SUFFIX}"
        self.path = folder / name
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        self.pid = os.getpid()
        _fsync_directory(folder)  # the new file's name survives a crash too

    def _still_ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
        except FileNotFoundError:
            return False

    def _close(self):
        if self.fd is not None and self.pid == os.getpid():
            os.close(self.fd)
        self.fd = self.path = None


_writer = _Writer()


def _fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def spool_row(log: MessageLog) -> None:
    """Keep an unsaved log row on disk until the database is back (raises OSError if it cannot)."""
    _writer.write({"row": logbuffer.row_of(log)})
    _warn_spooling()


def _warn_spooling() -> None:
    # One warning a minute while the database is down, not one per message.
    now = time.monotonic()
    with _writer.lock:
        _state["spooled_unreported"] += 1
        if now - _state["warned_at"] < 60:
            return
        count, _state["spooled_unreported"], _state["warned_at"] = _state["spooled_unreported"], 0, now
    logger.warning("The database is unreachable: %d message(s) spooled to %s since the last warning",
                   count, directory())


def spool_hand_off(account, message) -> None:
    """Keep a message due to the account's agent whose event could not be written (the database
    is down); ``drain`` hands it off once the database is back (raises OSError if it cannot keep it)."""
    _writer.write({"agent": {"account_id": account.pk, "message": message.to_dict()}})
    _warn_spooling()


def spool_unverified(account_name: str, params, body: bytes) -> bool:
    """Keep a delivery that could not be verified yet (the database is down) for ``drain`` to verify.

    Returns False, keeping nothing, when the spool already holds ``SPOOL_MAX_UNVERIFIED_BYTES``:
    anyone can post to the callback, and the disk must not fill up.
    """
    if size() + len(body) > app_settings.SPOOL_MAX_UNVERIFIED_BYTES:
        return False
    wanted = ("signature", "msg_signature", "timestamp", "nonce", "encrypt_type", "openid")
    _writer.write({"unverified": {
        "account": account_name, "params": {k: params.get(k) for k in wanted if params.get(k) is not None},
        "body": base64.b64encode(body).decode("ascii"), "received_at": time.time(),
    }})
    _warn_spooling()
    return True


# --- reading back ------------------------------------------------------------------------------
def files() -> list[Path]:
    """The spool files waiting to be drained (claimed ones first, then by age)."""
    folder = directory()
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"*{CLAIMED_SUFFIX}")) + sorted(folder.glob(f"*{LIVE_SUFFIX}"))


def size() -> int:
    """Bytes waiting in the spool."""
    total = 0
    for path in files():
        try:
            total += path.stat().st_size
        except FileNotFoundError:  # drained meanwhile
            pass
    return total


def _read(path: Path) -> list[dict]:
    records = []
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                # Only the last line of a process that died while writing can be torn, and that
                # message was never answered (the answer waits for the fsync).
                logger.warning("Skipping an unreadable line %d of the spool file %s", number, path.name)
    return records


def _row_from_record(record: dict) -> tuple[dict | None, object | None]:
    """``(log row, message)``: the row to write, and for a delivery spooled unverified its
    message (handed to the agent if its row is new: its rules never ran, nothing answered it)."""
    if "row" in record:
        fields = {field.attname: field for field in MessageLog._meta.concrete_fields}
        return {name: fields[name].to_python(value) for name, value in record["row"].items() if name in fields}, None
    if "unverified" in record:
        # Verified with the account's token and turned into a row by the callback's own code.
        from .inbound import unverified_delivery

        entry = record["unverified"]
        found = unverified_delivery(entry["account"], entry["params"], base64.b64decode(entry["body"]),
                                    entry["received_at"])
        return (None, None) if found is None else (logbuffer.row_of(found[0]), found[1])
    return None, None


def _hand_offs(hand_offs: list[tuple[int, dict, bool]]) -> None:
    """Hand the spooled messages to their accounts' agents (after the rows' commit). Each event is
    unique per (account, dedupe key): a drain replayed after a crash, or a message handed off
    already by a retry of WeChat's, makes no second event."""
    from ..models import Account
    from ..protocol import Message
    from . import agent

    accounts = {a.pk: a for a in Account.objects.filter(pk__in={pk for pk, _, _ in hand_offs})
                .select_related("agent_settings")}
    for account_id, data, unanswered_only in hand_offs:
        account = accounts.get(account_id)
        if account is None:
            continue  # deleted meanwhile
        message = Message.from_dict(data)
        if unanswered_only and not agent.wants(account, message, unanswered=True, agent_rule=False):
            continue
        agent.hand_off(account, message)


def _drain_file(path: Path) -> int:
    rows, seen, hand_offs, unverified = [], Counter(), [], {}
    for record in _read(path):
        if "agent" in record:  # the callback's hand-off, made while the database was down
            entry = record["agent"]
            hand_offs.append((entry["account_id"], entry["message"], False))
            continue
        row, message = _row_from_record(record)
        if row is None:
            continue
        key = (row["account_id"], row["dedupe_key"])
        seen[key] += 1
        if seen[key] == 1:
            rows.append(row)
            if message is not None:
                unverified[key] = message
    for row in rows:  # the same delivery spooled again is one of WeChat's retries
        row["retry_count"] = (row.get("retry_count") or 0) + seen[(row["account_id"], row["dedupe_key"])] - 1
    if unverified:  # a delivery logged meanwhile (WeChat's retry, once the database was back) was answered
        present = set(MessageLog.objects.filter(
            account_id__in={a for a, _ in unverified}, dedupe_key__in={k for _, k in unverified})
            .values_list("account_id", "dedupe_key"))
        hand_offs += [(key[0], message.to_dict(), True) for key, message in unverified.items() if key not in present]
    logbuffer.write_rows(rows)  # one transaction; rows already present are skipped
    if hand_offs:
        _hand_offs(hand_offs)
    path.unlink()  # only after the commit: a crash before this replays the file harmlessly
    return len(rows)


def _claim(path: Path) -> Path | None:
    """Rename a live file to ``*.draining`` under its lock (its writer then starts a new file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for at most one write and its fsync
        claimed = path.with_suffix(CLAIMED_SUFFIX)
        os.rename(path, claimed)
        return claimed
    finally:
        os.close(fd)


def drain() -> int:
    """Write every spooled row to the database; return how many rows were handled.

    Returns 0 at once if another drain of the same directory is running. Raises the database's
    error if it is still down (the files stay for the next drain).
    """
    return _drain() or 0


def _drain() -> int | None:
    # None: another drain holds the directory.
    folder = directory()
    if not folder.is_dir():
        return 0
    lock = os.open(folder / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        for path in sorted(folder.glob(f"*{LIVE_SUFFIX}")):
            _claim(path)
        total = 0
        for path in sorted(folder.glob(f"*{CLAIMED_SUFFIX}")):
            total += _drain_file(path)
        if total:
            logger.warning("Wrote %d spooled message-log rows to the database", total)
        return total
    finally:
        os.close(lock)  # releases the flock


# --- draining opportunistically -----------------------------------------------------------------
_background = threading.Lock()
_state = {"drained_upto": 0, "next_try": 0.0, "checked_dir": False, "warned_at": -60.0, "spooled_unreported": 0}


def drain_soon() -> None:
    """After a successful database write: drain in a background thread if this process spooled
    something since its last drain (or, once per process, if the directory holds files left
    by another process). Cheap when there is nothing to do: two comparisons."""
    pending = _writer.written > _state["drained_upto"]
    if not pending and _state["checked_dir"]:
        return
    now = time.monotonic()
    if now < _state["next_try"] or _background.locked():
        return
    _state["next_try"] = now + 1.0
    if not pending:
        _state["checked_dir"] = True
        if not files():
            return
    threading.Thread(target=_drain_in_background, name="wechat-spool-drain", daemon=True).start()


def _drain_in_background() -> None:
    if not _background.acquire(blocking=False):
        return
    try:
        upto = _writer.written
        if _drain() is not None:
            _state["drained_upto"] = upto
    except Exception as err:  # the database went down again: the beat task or the next callback retries
        logger.warning("Draining the spool failed (%s: %s); it will be retried", type(err).__name__, err)
    finally:
        _background.release()
        connections.close_all()  # this thread's own connections
