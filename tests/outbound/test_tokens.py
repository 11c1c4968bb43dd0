"""Tokens in the cache: single-flight, stable vs classic, refresh ahead, external provider."""
import json
import os
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from wechat_app.models import Account
from wechat_app.client import WeChatAPIError
from wechat_app.services import tokens
from wechat_app.tasks import refresh_tokens

from .conftest import APP_ID, APP_SECRET, redis_cache_configured

TOKEN_PATHS = ("/cgi-bin/stable_token", "/cgi-bin/token")


def token_calls(sandbox):
    return [c for c in sandbox.state.calls if c["path"] in TOKEN_PATHS]


def test_token_is_cached_with_its_expiry(sandbox, account):
    first = tokens.get_access_token(account)
    assert tokens.get_access_token(account) == first
    entry = tokens.token_status(account)
    assert entry["value"] == first and 7150 < entry["expires_at"] - time.time() <= 7200
    assert [c["path"] for c in token_calls(sandbox)] == ["/cgi-bin/stable_token"]


def test_cold_token_with_many_threads_makes_one_request(sandbox, account):
    sandbox.state.add_fault("/cgi-bin/stable_token", "latency", seconds=0.2)  # widen the race
    results, barrier = [], threading.Barrier(20)

    def call():
        barrier.wait()
        results.append(tokens.get_access_token(account))

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20 and len(set(results)) == 1
    assert len(token_calls(sandbox)) == 1


def test_classic_token_option(sandbox, account, settings):
    settings.WECHAT_APP = {"USE_STABLE_TOKEN": False}
    tokens.get_access_token(account)
    assert [c["path"] for c in token_calls(sandbox)] == ["/cgi-bin/token"]


def test_revoked_token_is_replaced_and_the_call_retried(sandbox, account, followers):
    client = tokens.get_client(account)
    client.message.custom.send_text(followers[0], "one")
    old = tokens.token_status(account)["value"]
    sandbox.state.issue_stable(APP_ID, APP_SECRET, force_refresh=True)  # another system revokes ours
    client.message.custom.send_text(followers[0], "two")
    assert tokens.token_status(account)["value"] != old
    codes = [c["errcode"] for c in sandbox.state.calls if c["path"] == "/cgi-bin/message/custom/send"]
    assert codes == [0, 40001, 0]


def test_refused_token_handed_out_again_forces_a_refresh(sandbox, account, followers):
    client = tokens.get_client(account)
    client.message.custom.send_text(followers[0], "one")
    # WeChat says 40001 for a token that stable_token keeps handing out: ask for a new one.
    sandbox.state.add_fault("/cgi-bin/message/custom/send", errcode=40001)
    client.message.custom.send_text(followers[0], "two")
    bodies = [c["body"] for c in token_calls(sandbox)]
    assert [b["force_refresh"] for b in bodies] == [False, False, True]


def test_beat_task_refreshes_ahead_of_expiry_without_breaking_the_old_token(sandbox, account, followers):
    sandbox.state.configure(token_ttl=250)  # inside stable_token's 300 s renewal window
    old = tokens.get_access_token(account)
    assert refresh_tokens()["demo"] == {"access_token": True}
    new = tokens.get_access_token(account)
    assert new != old
    # The old one keeps working until its own expiry (stable_token never revokes in normal mode).
    assert sandbox.state.check_token(old) == APP_ID
    sandbox.state.configure(token_ttl=7200)
    assert refresh_tokens()["demo"] == {"access_token": True}  # 250 s left < 300 s margin
    assert refresh_tokens()["demo"] == {"access_token": False}  # fresh now
    assert len(token_calls(sandbox)) == 3


EXTERNAL = {}


def provide_token(account):
    EXTERNAL["calls"] += 1
    return EXTERNAL["token"]


provide_token.invalidate = lambda account, token: EXTERNAL["refused"].append(token)


def test_external_token_provider(sandbox, account, followers, settings):
    # Another system owns the token; we only read it (node-wechat's getToken/saveToken).
    EXTERNAL.update(token=sandbox.state.issue_classic(APP_ID, APP_SECRET)["access_token"], calls=0, refused=[])
    settings.WECHAT_APP = {"TOKEN_PROVIDER": "tests.outbound.test_tokens.provide_token"}
    client = tokens.get_client(account)
    client.message.custom.send_text(followers[0], "ok")
    assert token_calls(sandbox) == []  # the app never asked WeChat for a token
    EXTERNAL["token"] = "y" * 100  # the other system's token went stale
    with pytest.raises(WeChatAPIError) as info:
        client.message.custom.send_text(followers[0], "stale")
    assert info.value.errcode == 40001
    assert EXTERNAL["calls"] == 3 and EXTERNAL["refused"] == ["y" * 100]  # told once, asked again once


def test_jssdk_config_view(sandbox, account, client):
    Account.objects.filter(pk=account.pk).update(js_domains="example.com")
    response = client.get("/wechat/jssdk/demo/", {"url": "https://example.com/page?a=1#frag"})
    assert response.status_code == 200
    data = response.json()
    ticket = sandbox.state.tickets[APP_ID][0]
    from wechat_app.client import jssdk_signature

    expected = jssdk_signature(ticket, "https://example.com/page?a=1", data["nonceStr"], data["timestamp"])
    assert data["signature"] == expected["signature"] and data["appId"] == APP_ID
    assert client.get("/wechat/jssdk/demo/", {"url": "javascript:alert(1)"}).status_code == 400
    assert client.get("/wechat/jssdk/nope/", {"url": "https://example.com"}).status_code == 404
    client.get("/wechat/jssdk/demo/", {"url": "https://example.com/other"})
    assert len([c for c in sandbox.state.calls if c["path"] == "/cgi-bin/ticket/getticket"]) == 1


def test_jssdk_view_reports_upstream_failure(sandbox, account, client):
    Account.objects.filter(pk=account.pk).update(js_domains="example.com")
    sandbox.state.add_fault("/cgi-bin/ticket/getticket", errcode=-1)
    response = client.get("/wechat/jssdk/demo/", {"url": "https://example.com/"})
    assert response.status_code == 502 and "ticket" in response.json()["error"]


def test_wechat_token_command_masks_the_token(sandbox, account):
    out = StringIO()
    call_command("wechat_token", "show", "--account", "demo", stdout=out)
    assert "no cached token" in out.getvalue()
    call_command("wechat_token", "refresh", "--account", "demo", stdout=out)
    call_command("wechat_token", "show", "--account", "demo", stdout=out)
    value = tokens.token_status(account)["value"]
    assert value not in out.getvalue() and value[-4:] in out.getvalue() and "expires in" in out.getvalue()
    with pytest.raises(CommandError, match="No account named 'nope'"):
        call_command("wechat_token", "show", "--account", "nope")
    sandbox.state.apps[APP_ID].secret = "changed"
    with pytest.raises(CommandError, match="40125"):
        call_command("wechat_token", "refresh", "--account", "demo", stdout=out)


WORKER = Path(__file__).with_name("token_worker.py")


@pytest.mark.skipif(not redis_cache_configured(), reason="cross-process single-flight needs a shared (Redis) cache")
def test_cold_token_across_processes_makes_one_request(sandbox, account):
    sandbox.state.add_fault("/cgi-bin/stable_token", "latency", seconds=0.3)
    start_at = time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, str(WORKER), sandbox.url, APP_ID, APP_SECRET, "10", str(start_at)],
                              stdout=subprocess.PIPE, env=dict(os.environ), cwd=Path(__file__).parents[2])
             for _ in range(4)]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    values = {v for out in outputs for v in out["tokens"]}
    assert sum(len(out["tokens"]) for out in outputs) == 40 and len(values) == 1
    assert len(token_calls(sandbox)) == 1
