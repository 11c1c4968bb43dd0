"""Item 7: with the cache down, the callback answers from memory, dedupes through the log, warns."""
import logging

import pytest

from wechat_app.models import MessageLog
from wechat_app.services import accounts, rules

from .conftest import post

pytestmark = pytest.mark.django_db(transaction=True)  # autocommit, as in production


def replies(account, *messages):
    return [post(account, text, msg_id)[1]["Content"] for text, msg_id in messages]


def test_cache_down_answers_with_the_rules_and_logs_every_message(account, flaky_cache):
    assert replies(account, ("hi", 1)) == ["hello"]  # warm: account and rules in memory
    flaky_cache.down = True
    assert replies(account, ("hi", 2), ("something", 3)) == ["hello", "what?"]
    # WeChat's retry while the cache is down: the same answer, and still one row (unique key).
    response, fields = post(account, "hi", 2)
    assert response.status_code == 200 and fields["Content"] == "hello"
    flaky_cache.down = False  # recovery without restart
    assert replies(account, ("hi", 4)) == ["hello"]
    assert replies(account, ("hi", 4)) == ["hello"]  # deduped through the cache again
    logged = dict(MessageLog.objects.values_list("msg_id", "retry_count"))
    assert logged == {"1": 0, "2": 1, "3": 0, "4": 1}


def test_a_fresh_process_serves_with_the_cache_down(account, flaky_cache):
    flaky_cache.down = True
    response, fields = post(account, "hi", 1)
    assert response.status_code == 200 and fields["Content"] == "hello"
    assert MessageLog.objects.get().status == "replied"


def test_a_failing_cache_is_reported_once_then_its_recovery(account, flaky_cache, caplog):
    post(account, "hi", 1)
    flaky_cache.down = True
    with caplog.at_level(logging.WARNING, logger="wechat_app.cache"):
        for msg_id in range(2, 6):
            post(account, "hi", msg_id)
        failures = [r for r in caplog.records if r.name == "wechat_app.cache"]
        assert len(failures) == 1 and "The cache failed (CacheDown" in failures[0].getMessage()
        flaky_cache.down = False
        post(account, "hi", 9)
    assert [r.getMessage() for r in caplog.records if r.name == "wechat_app.cache"][-1] == "The cache is back"


def test_a_failed_cache_is_left_alone_for_a_moment(account, flaky_cache, settings):
    """A frozen Redis costs one socket timeout per process per CACHE_RETRY_INTERVAL, not one per call."""
    settings.WECHAT_APP = {**settings.WECHAT_APP, "CACHE_RETRY_INTERVAL": 60}
    post(account, "hi", 1)
    flaky_cache.down = True
    post(account, "hi", 2)
    calls = flaky_cache.calls
    for msg_id in range(3, 8):
        assert post(account, "hi", msg_id)[1]["Content"] == "hello"
    assert flaky_cache.calls == calls  # not tried again within the interval
    assert MessageLog.objects.count() == 7


def test_follow_up_state_is_lost_not_the_reply(account, flaky_cache):
    """The conversation state lives in the cache: without it the top-level rules answer."""
    from wechat_app.services.rules import import_rules

    import_rules(account, "- name: game\n  match: {exact: game}\n  reply: Pick 1-9\n"
                          "  follow_ups:\n    - name: pick\n      match: {regex: '^[1-9]$'}\n      reply: Picked\n")
    assert replies(account, ("game", 1), ("3", 2)) == ["Pick 1-9", "Picked"]
    flaky_cache.down = True
    assert replies(account, ("game", 3), ("3", 4)) == ["Pick 1-9", "what?"]


def test_a_rule_saved_while_the_cache_is_down_reaches_other_processes(account, flaky_cache, settings):
    """Item 9: the stamp in the cache could not be replaced; the database revision heals it."""
    settings.WECHAT_APP = {**settings.WECHAT_APP, "RECHECK_INTERVAL": 3600}
    assert replies(account, ("hi", 1)) == ["hello"]
    served = rules._indexes[account.pk]  # what this process (playing "another process") has built

    flaky_cache.down = True
    rule = account.rules.get(name="hi")
    rule.replies = [{"type": "text", "content": "hello v2"}]
    rule.save()  # the stamp bump after commit fails; the revision is bumped in the database
    flaky_cache.down = False
    rules._indexes[account.pk] = served  # the other process never heard of the change
    assert replies(account, ("hi", 2)) == ["hello"]  # the cache still holds the old stamp

    settings.WECHAT_APP = {**settings.WECHAT_APP, "RECHECK_INTERVAL": 0}  # the interval has passed
    assert replies(account, ("hi", 3)) == ["hello v2"]
    settings.WECHAT_APP = {**settings.WECHAT_APP, "RECHECK_INTERVAL": 3600}
    assert replies(account, ("hi", 4)) == ["hello v2"]


def test_recheck_reads_the_account_from_the_database_only_once_per_interval(account, flaky_cache, settings,
                                                                           django_assert_num_queries):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "RECHECK_INTERVAL": 3600}
    post(account, "hi", 1)
    with django_assert_num_queries(1):  # the log row only
        post(account, "hi", 2)
    accounts._accounts[account.name].checked_at -= 3600
    with django_assert_num_queries(2):  # the account, then the log row; the rules did not change
        post(account, "hi", 3)


def test_session_is_lost_not_the_reply_and_never_overwritten(account, flaky_cache):
    """Issue 12 item 5: with the cache down a handler sees an empty session, and the stored one is
    not overwritten with what it wrote (the cache comes back with the session it had)."""
    from wechat_app.engine import registry

    with registry.isolated():
        @registry.rule("count", exact="count", priority=10)
        def count(message, context):
            context.session["n"] = context.session.get("n", 0) + 1
            return f"count {context.session['n']}"

        assert replies(account, ("count", 11), ("count", 12)) == ["count 1", "count 2"]
        flaky_cache.down = True
        assert replies(account, ("count", 13)) == ["count 1"]
        flaky_cache.down = False
        assert rules.get_session(account, "oUser000001") == {"n": 2}
        assert replies(account, ("count", 14)) == ["count 3"]
