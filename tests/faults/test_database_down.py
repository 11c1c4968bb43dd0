"""Item 8: with the database down, the callback answers from memory and spools the log rows, which
reach the database once it is back, exactly once, also when a drain dies half-way."""
import json
import logging
import os
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from wechat_app.models import MessageLog
from wechat_app.services import spool

from .conftest import post

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_background_drain(monkeypatch):
    """Drains run when the test says so (the background thread is exercised by the live test)."""
    calls = []
    monkeypatch.setattr(spool, "drain_soon", lambda: calls.append(1))
    return calls


def logged():
    return sorted(MessageLog.objects.values_list("msg_id", "status", "retry_count"))


def test_answers_from_memory_and_writes_the_rows_once_back(account, database, no_background_drain):
    assert post(account, "hi", 1)[1]["Content"] == "hello"
    database.down()
    assert post(account, "hi", 2)[1]["Content"] == "hello"
    assert post(account, "else", 3)[1]["Content"] == "what?"
    assert post(account, "hi", 2)[1]["Content"] == "hello"  # a retry: answered from the cache
    assert len(spool.files()) == 1
    database.up()
    calls = len(no_background_drain)
    assert post(account, "hi", 4)[1]["Content"] == "hello"
    assert len(no_background_drain) == calls + 1  # the first successful write asks for a drain
    time.sleep(0.01)
    drained = timezone.now()
    assert spool.drain() == 2  # rows 2 and 3, dated when they were received (before row 4)
    assert logged() == [("1", "replied", 0), ("2", "replied", 0), ("3", "replied", 0), ("4", "replied", 0)]
    assert spool.files() == [] and spool.drain() == 0
    assert MessageLog.objects.get(msg_id="3").created_at < MessageLog.objects.get(msg_id="4").created_at < drained
    row = MessageLog.objects.get(msg_id="3")
    assert row.text == "else" and row.rule_name == "fallback" and row.reply == {"type": "text", "content": "what?"}
    assert row.created_at is not None and row.latency_ms > 0 and "<Content><![CDATA[else]]>" in row.raw_xml


def test_spooled_retries_become_one_row(account, database, flaky_cache):
    post(account, "hi", 1)
    database.down()
    flaky_cache.down = True  # no cache either: each retry is processed and spooled again
    for _ in range(3):
        assert post(account, "hi", 2)[1]["Content"] == "hello"
    flaky_cache.down = False
    database.up()
    assert spool.drain() == 1
    assert logged() == [("1", "replied", 0), ("2", "replied", 2)]


def test_an_account_never_loaded_gets_success_and_is_logged_once_verified(account, database, caplog):
    database.down()
    response, fields = post(account, "hi", 7)  # this process has never served "shop"
    assert response.status_code == 200 and response.content == b"success"
    forged, _ = post("shop", "hi", 8, token="notthetoken")  # looks like a delivery: kept, to be checked
    assert forged.status_code == 200
    assert post("x" * 65, "hi", 9, token="tok123")[0].status_code == 404  # not even a name: refused
    stale = post(account, "hi", 10, query={"timestamp": "1", "nonce": "1", "signature": "0" * 40})[0]
    assert stale.status_code == 403  # not a current delivery: refused
    received_by = timezone.now()
    time.sleep(0.01)
    database.up()
    with caplog.at_level(logging.WARNING, logger="django.security.wechat_app"):
        assert spool.drain() == 1
    assert logged() == [("7", "received", 0)]  # its rules never ran: WeChat was answered "success"
    # Dated when WeChat delivered it, not when the database came back.
    assert MessageLog.objects.get().created_at < received_by
    assert "failed verification" in caplog.text


def test_unverified_deliveries_are_capped(account, database, settings):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "SPOOL_MAX_UNVERIFIED_BYTES": 100}
    database.down()
    response, _ = post(account, "hi", 7)
    assert response.status_code == 503  # not kept: the body alone is larger than the cap
    assert spool.files() == []


def test_a_drain_that_dies_after_its_commit_writes_nothing_twice(account, database, monkeypatch):
    post(account, "hi", 1)
    database.down()
    post(account, "hi", 2)
    post(account, "hi", 3)
    database.up()

    def crash(self, *args, **kwargs):
        raise SystemExit("killed between the commit and the removal of the file")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "unlink", crash)
        with pytest.raises(SystemExit):
            spool.drain()
    assert [p.suffix for p in spool.files()] == [".draining"]  # claimed, written, not removed
    assert spool.drain() == 2
    assert logged() == [("1", "replied", 0), ("2", "replied", 0), ("3", "replied", 0)]


def test_a_drain_that_fails_before_its_commit_loses_nothing(account, database, monkeypatch):
    post(account, "hi", 1)
    database.down()
    post(account, "hi", 2)
    with pytest.raises(Exception):  # the database is still down
        spool.drain()
    database.up()
    assert spool.drain() == 1
    assert logged() == [("1", "replied", 0), ("2", "replied", 0)]


def test_a_torn_last_line_is_skipped(account, database, caplog):
    post(account, "hi", 1)
    database.down()
    post(account, "hi", 2)
    database.up()
    (path,) = spool.files()
    with open(path, "ab") as stream:
        stream.write(b'{"row": {"account_id": ')  # a process died in the middle of a write
    assert spool.drain() == 1
    assert "unreadable line 2" in caplog.text
    assert logged() == [("1", "replied", 0), ("2", "replied", 0)]


def test_a_writer_whose_file_was_taken_starts_a_new_one(account, database):
    post(account, "hi", 1)
    database.down()
    post(account, "hi", 2)
    (first,) = spool.files()
    spool._claim(first)  # a drain took the file while this process still holds it open
    post(account, "hi", 3)
    names = sorted(p.name for p in spool.files())
    assert len(names) == 2 and names[0].endswith(".draining") and names[1].endswith(".jsonl")
    lines = [json.loads(line) for p in spool.files() for line in p.read_text().splitlines()]
    assert sorted(entry["row"]["msg_id"] for entry in lines) == ["2", "3"]
    database.up()
    assert spool.drain() == 2


def test_spool_files_are_private_and_fsynced_per_message(account, database, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    post(account, "hi", 1)
    database.down()
    post(account, "hi", 2)
    post(account, "hi", 3)
    (path,) = spool.files()
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(synced) >= 2 + 1  # one per message, and the directory once for the new file


def test_the_command_and_the_task_drain(account, database, capsys):
    from wechat_app.tasks import drain_spool

    post(account, "hi", 1)
    database.down()
    post(account, "hi", 2)
    call_command("wechat_spool", "status")
    assert "1 file(s)" in capsys.readouterr().out
    post(account, "hi", 3)
    database.up()
    call_command("wechat_spool", "drain")
    assert "Drained 2 row(s)" in capsys.readouterr().out
    database.down()
    post(account, "hi", 4)
    database.up()
    assert drain_spool() == 1
    assert [m for m, _, _ in logged()] == ["1", "2", "3", "4"]


def test_rules_that_cannot_be_rebuilt_answer_as_they_were(account, database):
    from django.core.cache import cache

    from wechat_app.services import rules

    post(account, "hi", 1)
    cache.set(rules.version_key(account.pk), "changed by another process", None)
    database.down()
    assert post(account, "hi", 2)[1]["Content"] == "hello"
    assert post(account, "hi", 3)[1]["Content"] == "hello"


def test_url_verification_of_an_account_never_loaded_is_503(account, database):
    from django.test import Client

    from wechat_app.protocol.simulator import make_signature

    database.down()
    query = {"timestamp": "1700000000", "nonce": "1", "echostr": "e",
             "signature": make_signature(account.token, "1700000000", "1")}
    assert Client().get(f"/wechat/callback/{account.name}/", query).status_code == 503
