"""The 5-second rule: a code rule that overruns REPLY_BUDGET answers "success" at once and its
reply follows as a customer-service message; fast rules still answer passively."""
import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from tests.polling import wait_until
from wechat_app.engine import registry
from wechat_app.models import MessageLog
from wechat_app.protocol.simulator import build_message, read_reply, sign_request
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.django_db(transaction=True)  # the rules run in another thread


@pytest.fixture(autouse=True)
def _eager_celery(eager_celery):
    """Tasks run in-process (CI's second pass configures a Redis broker with no worker here)."""


@pytest.fixture
def slow_account(make_account, sandbox, settings):
    settings.WECHAT_APP = {"REPLY_BUDGET": 0.3}
    account = make_account(name="slowpoke", mode="plain", api_base_url=sandbox.url)
    sandbox.state.add_app(account.app_id, account.app_secret)
    sandbox.state.add_followers(account.app_id, followers=["oFan0001"])
    with registry.isolated():
        @registry.rule("slow", exact="slow", accounts=["slowpoke"])
        def slow(message, context):
            time.sleep(2.0)
            return f"sorry for the wait, {message.uid}"

        @registry.rule("slow-bug", exact="slow bug", accounts=["slowpoke"])
        def slow_bug(message, context):
            time.sleep(1.0)
            raise RuntimeError("a slow rule with a bug")

        @registry.rule("quick", exact="quick", accounts=["slowpoke"])
        def quick(message, context):
            return "right away"

        yield account


def post(account, text):
    params, body = sign_request(build_message("text", [text], user="oFan0001", sp="gh_test"), account.token)
    began = time.perf_counter()
    response = Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body,
                             content_type="text/xml")
    return response, time.perf_counter() - began


def test_slow_code_rule_answers_success_then_a_customer_service_message(slow_account, sandbox):
    response, elapsed = post(slow_account, "slow")
    assert response.content == b"success"
    assert elapsed < 1.5  # the budget (0.3 s), not the rule (2 s)
    log = MessageLog.objects.get()
    assert log.status == MessageLog.Status.DEFERRED
    assert wait_until(lambda: MessageLog.objects.get().status == MessageLog.Status.REPLIED)
    log.refresh_from_db()
    assert log.rule_name == "slow" and log.reply == {"type": "text", "content": "sorry for the wait, oFan0001"}
    assert wait_until(lambda: sandbox.state.list_messages(app_id=slow_account.app_id))
    (sent,) = sandbox.state.list_messages(app_id=slow_account.app_id)
    assert sent["touser"] == "oFan0001" and sent["payload"]["text"]["content"] == "sorry for the wait, oFan0001"


def test_retry_of_a_deferred_message_sends_nothing_more(slow_account, sandbox):
    params, body = sign_request(build_message("text", ["slow"], user="oFan0001", sp="gh_test"), slow_account.token)
    url = f"/wechat/callback/{slow_account.name}/?{urlencode(params)}"
    first = Client().post(url, data=body, content_type="text/xml")
    second = Client().post(url, data=body, content_type="text/xml")  # WeChat's retry
    assert first.content == second.content == b"success"
    assert wait_until(lambda: sandbox.state.list_messages(app_id=slow_account.app_id))
    time.sleep(0.3)
    assert len(sandbox.state.list_messages(app_id=slow_account.app_id)) == 1
    assert MessageLog.objects.get().retry_count == 1


def test_fast_code_rule_still_answers_passively(slow_account, sandbox):
    response, _ = post(slow_account, "quick")
    fields, _, _ = read_reply(response.content, None)
    assert fields["Content"] == "right away"
    assert MessageLog.objects.get().status == MessageLog.Status.REPLIED
    assert sandbox.state.list_messages(app_id=slow_account.app_id) == []


def test_slow_rule_that_fails_sends_the_error_reply_late(slow_account, sandbox):
    """Issue 12 item 6: the account's error reply also reaches a user whose rule overran and failed."""
    slow_account.error_reply = "Oops, try again later."
    slow_account.save()
    response, _ = post(slow_account, "slow bug")
    assert response.content == b"success"
    assert wait_until(lambda: MessageLog.objects.get().status == MessageLog.Status.ERROR)
    log = MessageLog.objects.get()
    assert "a slow rule with a bug" in log.error and log.reply == {"type": "text", "content": "Oops, try again later."}
    assert wait_until(lambda: sandbox.state.list_messages(app_id=slow_account.app_id))
    (sent,) = sandbox.state.list_messages(app_id=slow_account.app_id)
    assert sent["payload"]["text"]["content"] == "Oops, try again later."
