"""The row-claim path: with a row per message, a message of stored rules is answered with no cache
claim; the log row's unique key dedupes, and the version stamps are read at STAMP_RECHECK intervals
(docs/callback-performance.md). Runs on the embedded cache and, in CI's second pass, on Redis."""
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import Client, override_settings

from tests.concurrency import run_in_threads
from wechat_app.conf import app_settings
from wechat_app.models import MessageLog
from wechat_app.protocol import parse_message
from wechat_app.protocol.simulator import build_message, read_reply, sign_request
from wechat_app.services import accounts, callbackscript, inbound, stampcheck
from wechat_app.services.cachebatch import CacheBatch, FailSafeCache
from wechat_app.services.rules import import_rules

pytestmark = pytest.mark.django_db(transaction=True)  # autocommit, as in production

RULES = "- name: hello\n  match: {contains: hello}\n  reply: hi there\n- name: other\n  match: {default: true}\n  reply: what?\n"


def post(account, xml, encrypted=True):
    params, body = sign_request(xml, account.token, crypto=account.crypto if encrypted else None)
    response = Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body,
                             content_type="text/xml")
    assert response.status_code == 200, response.content
    return read_reply(response.content, account.crypto)[1]


@pytest.fixture
def cache_calls(monkeypatch):
    """Every cache operation the callback makes: (kind, what)."""
    calls = []
    run, execute, call = FailSafeCache._run, CacheBatch.execute, callbackscript.Call._call

    def spy_run(self, method, *args):
        calls.append(("single", method))
        return run(self, method, *args)

    def spy_execute(self):
        if self._ops:
            calls.append(("batch", tuple(op[0] for op in self._ops)))
        return execute(self)

    def spy_call(self, keys, args, fallbacks=()):
        calls.append(("script", args[0]))
        return call(self, keys, args, fallbacks)

    monkeypatch.setattr(FailSafeCache, "_run", spy_run)
    monkeypatch.setattr(CacheBatch, "execute", spy_execute)
    monkeypatch.setattr(callbackscript.Call, "_call", spy_call)
    return calls


@pytest.fixture
def account(make_account):
    stampcheck.forget()
    account = make_account(mode="safe")
    import_rules(account, RULES)
    post(account, build_message("text", ["warm up"], user="u", sp="s"))  # the account and its index loaded
    return account


def dedupe_claim(account, xml):
    key = inbound._dedupe_cache_key(account, parse_message(xml).dedupe_key)
    return caches[app_settings.CACHE_ALIAS].get(key)


def test_stored_rules_answer_without_a_cache_claim_and_log_one_row(account, cache_calls):
    xml = build_message("text", ["hello you"], user="u1", sp="s")
    assert "<Content><![CDATA[hi there]]></Content>" in post(account, xml)
    assert dedupe_claim(account, xml) is None  # nothing claimed in the cache
    row = MessageLog.objects.get(text="hello you")
    assert row.rule_name == "hello" and row.retry_count == 0 and "hi there" in row.reply_xml
    # The stamps were seen a moment ago (the warm-up's claim path does not count: this path's own read).
    assert [c for c in cache_calls if c[0] != "single" or c[1] != "get_many"] == []
    cache_calls.clear()
    for text in ("hello again", "something else"):
        post(account, build_message("text", [text], user="u1", sp="s"))
    assert cache_calls == []  # within STAMP_RECHECK: not a single cache operation per message


def test_a_duplicate_delivery_answers_the_first_rows_reply_and_counts_a_retry(account):
    xml = build_message("text", ["hello"], user="u2", sp="s")
    first = post(account, xml)
    again = post(account, xml)
    plain_again = post(account, xml, encrypted=True)
    assert first == again == plain_again
    row = MessageLog.objects.get(text="hello", user="u2")
    assert row.retry_count == 2 and row.reply_xml == first


@pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                    reason="concurrent writers need PostgreSQL (the SQLite test database refuses them at once)")
def test_concurrent_duplicates_leave_one_row_and_the_same_answer(account):
    xml = build_message("text", ["hello race"], user="u3", sp="s")
    answers = run_in_threads(lambda: post(account, xml), 4)
    assert len(set(answers)) == 1
    row = MessageLog.objects.get(text="hello race")
    assert row.retry_count == 3 and row.reply_xml == answers[0]


def test_stamps_are_read_again_after_the_interval_and_another_process_change_applies(account, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(stampcheck.time, "monotonic", lambda: clock[0])
    post(account, build_message("text", ["hello"], user="u4", sp="s"))  # stamps seen at t=1000
    # Another process disables the account: the database row and the cache stamp change, this
    # process's memory does not (no forget here).
    type(account).objects.filter(pk=account.pk).update(enabled=False)
    caches[app_settings.CACHE_ALIAS].set(accounts.version_key(), "changed elsewhere", None)
    clock[0] += app_settings.STAMP_RECHECK / 2
    assert "hi there" in post(account, build_message("text", ["hello"], user="u4", sp="s"))  # still trusted
    clock[0] += app_settings.STAMP_RECHECK
    params, body = sign_request(build_message("text", ["hello"], user="u4", sp="s"), account.token,
                                crypto=account.crypto)
    response = Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body,
                             content_type="text/xml")
    assert response.status_code == 404  # read again, found stale, reloaded: disabled


def test_a_change_saved_by_this_process_applies_at_once(account):
    assert "hi there" in post(account, build_message("text", ["hello"], user="u5", sp="s"))
    account.enabled = False
    account.save()
    params, body = sign_request(build_message("text", ["hello"], user="u5", sp="s"), account.token,
                                crypto=account.crypto)
    response = Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body,
                             content_type="text/xml")
    assert response.status_code == 404
    account.enabled = True
    account.save()
    import_rules(account, "- name: new\n  match: {contains: hello}\n  reply: the new reply\n", replace=True)
    assert "the new reply" in post(account, build_message("text", ["hello"], user="u5", sp="s"))


def test_follow_ups_plaintext_and_the_setting_take_the_claim(make_account, cache_calls):
    stampcheck.forget()
    account = make_account(name="followups", mode="safe")
    import_rules(account, "- name: ask\n  match: {exact: order}\n  reply: which size?\n"
                          "  follow_ups:\n    rules:\n    - name: size\n      match: {default: true}\n      reply: noted\n")
    post(account, build_message("text", ["warm up"], user="u", sp="s"))
    xml = build_message("text", ["order"], user="u6", sp="s")
    post(account, xml)
    assert dedupe_claim(account, xml) is not None  # a user may be in a conversation: the claim path
    assert "noted" in post(account, build_message("text", ["large"], user="u6", sp="s"))

    plain_account = make_account(name="plainacct", mode="plain", app_id="wx1234567890abc2")
    import_rules(plain_account, RULES)
    post(plain_account, build_message("text", ["warm up"], user="u", sp="s"), encrypted=False)
    xml = build_message("text", ["hello"], user="u7", sp="s")
    post(plain_account, xml, encrypted=False)
    assert dedupe_claim(plain_account, xml) is not None  # a signed query is checked in the cache

    safe_account = make_account(name="safeacct", mode="safe", app_id="wx1234567890abc3")
    import_rules(safe_account, RULES)
    post(safe_account, build_message("text", ["warm up"], user="u", sp="s"))
    with override_settings(WECHAT_APP={**_user_settings(), "STAMP_RECHECK": 0}):
        xml = build_message("text", ["hello"], user="u8", sp="s")
        post(safe_account, xml)
        assert dedupe_claim(safe_account, xml) is not None
    xml = build_message("text", ["hello"], user="u9", sp="s")
    post(safe_account, xml)
    assert dedupe_claim(safe_account, xml) is None


def test_events_take_the_claim(account):
    xml = build_message("event", ["subscribe"], user="u10", sp="s")
    post(account, xml)
    assert dedupe_claim(account, xml) is not None


def _user_settings():
    from django.conf import settings

    return dict(getattr(settings, "WECHAT_APP", {}))
