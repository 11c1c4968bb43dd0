"""The operator's commands against the sandbox: wechat_sync, wechat_push's exit status, wechat_token."""
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from wechat_app.models import Follower, OutboundMessage, Template
from wechat_app.services import tokens

from .conftest import APP_ID

CONTENT = "{{first.DATA}}\nOrder: {{order.DATA}}\n{{remark.DATA}}"


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue()


def test_wechat_sync_templates_lists_what_to_push(sandbox, account):
    sandbox.state.add_template(APP_ID, "Order paid", CONTENT, template_id="tpl_order_paid")
    output = run("wechat_sync", "templates", "--account", "demo")
    assert "Synced 1 template(s) of demo." in output
    assert "tpl_order_paid  Order paid  --data first=... --data order=... --data remark=..." in output
    sandbox.state.templates[APP_ID].clear()
    assert "no longer on WeChat" in run("wechat_sync", "templates", "--account", "demo")
    assert not Template.objects.get(template_id="tpl_order_paid").active


def test_wechat_sync_followers(sandbox, account, followers):
    output = run("wechat_sync", "followers", "--account", "demo")
    assert "Synced 5 follower(s) of demo (5 on WeChat); 0 marked unsubscribed." in output
    assert set(Follower.objects.filter(account=account).values_list("openid", flat=True)) == set(followers)


def test_wechat_sync_errors(sandbox, account):
    with pytest.raises(CommandError, match=r"No account named 'nope' \(known: demo\)"):
        run("wechat_sync", "templates", "--account", "nope")
    sandbox.state.apps[APP_ID].secret = "changed"
    with pytest.raises(CommandError, match="WeChat refused: 40125"):
        run("wechat_sync", "followers", "--account", "demo")


def test_push_of_an_unknown_template_names_the_sync_command(account, followers):
    with pytest.raises(CommandError, match="wechat_sync templates --account demo"):
        run("wechat_push", "template", "BADID", "--data", "first=x", "--account", "demo", "--to", followers[0])


@pytest.mark.django_db(transaction=True)
def test_wechat_push_exits_non_zero_when_wechat_refuses(sandbox, account, followers):
    # Without a worker the message is delivered during the command (on commit).
    assert ": sent" in run("wechat_push", "text", "Hi", "--account", "demo", "--to", followers[0])
    sandbox.state.followers[APP_ID][followers[1]].subscribe = 0
    with pytest.raises(CommandError, match=r"WeChat refused message \d+ .*: failed: errcode 43004"):
        run("wechat_push", "text", "Hi", "--account", "demo", "--to", followers[1])
    sandbox.state.add_fault("/cgi-bin/message/custom/send", errcode=-1, count=1)
    with pytest.raises(CommandError, match="errcode -1.*retried from .* by the delivery sweeper"):
        run("wechat_push", "text", "Later", "--account", "demo", "--to", followers[0])
    assert OutboundMessage.objects.get(payload__content="Later").status == OutboundMessage.Status.QUEUED


def test_wechat_token_show_reads_what_refresh_stored(sandbox, account, settings, tmp_path):
    # A cache shared by processes (files here, Redis in production): what one command stored,
    # the next one (another process) reads.
    settings.CACHES = {**settings.CACHES, "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}}
    refreshed = run("wechat_token", "refresh", "--account", "demo")
    value = tokens.token_status(account)["value"]
    assert f"Refreshed demo: {value[:4]}…{value[-4:]}" in refreshed
    settings.CACHES = {**settings.CACHES}  # new cache objects, as in a new process
    shown = run("wechat_token", "show", "--account", "demo")
    assert f"demo: {value[:4]}…{value[-4:]}" in shown and "expires in" in shown and value not in shown


def test_wechat_token_says_when_the_cache_is_private_to_each_process(sandbox, account, settings):
    settings.CACHES = {**settings.CACHES, "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    shown = run("wechat_token", "show", "--account", "demo")
    assert "no cached token (the cache 'default' is LocMemCache, private to each process" in shown
    out, err = StringIO(), StringIO()
    call_command("wechat_token", "refresh", "--account", "demo", stdout=out, stderr=err)
    assert "Refreshed demo" in out.getvalue() and "private to this process" in err.getvalue()
