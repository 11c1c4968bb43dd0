"""change_contact through the real callback: the sandbox's WeCom console pushes encrypted events
(and WeCom's retries of them) to the app's live callback URL; the mirror applies each once."""
import pytest
from django.core.cache import cache

from wechat_app.models import Account, WeComContactEvent, WeComMember, WeComTag
from wechat_app.sandbox.wecom_contacts import console
from wechat_app.services import wecom_contacts as service

from .conftest import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_account(live_server, sandbox, book):
    app = sandbox.state.wecom.apps[f"{CORP_ID}/{AGENT_ID}"]
    app.callback_url = live_server.url + "/wechat/callback/hr/"
    account = Account(name="hr", channel="wecom", app_id=CORP_ID, agent_id=AGENT_ID, app_secret=SECRET, token=TOKEN,
                      encoding_aes_key=AES_KEY, api_base_url=sandbox.url)
    account.full_clean()
    account.save()
    service.sync_contacts(account)
    return account


def push(sandbox, op, retries=0, **data):
    result = console(sandbox.state, CORP_ID, op, data, retries=retries)
    assert all(p.get("status") == 200 for p in result["pushes"]), result["pushes"]
    return result


def test_events_through_the_callback_apply_once_under_retries(sandbox, live_account):
    push(sandbox, "create_user", retries=2, userid="alice", name="Alice", department=[1], email="alice@corp.example")
    alice = WeComMember.objects.get(account=live_account, userid="alice")
    assert (alice.name, alice.email) == ("Alice", "alice@corp.example")
    push(sandbox, "update_user", retries=1, userid="alice", position="lead")
    tag = None
    with sandbox.state.lock:
        from wechat_app.sandbox.wecom_contacts import contact_book

        tag = contact_book(sandbox.state, CORP_ID).create_tag({"tagname": "Managers"})["tagid"]
    push(sandbox, "update_tag", retries=2, tagid=tag, add_users=["alice", "zhangsan"])
    alice.refresh_from_db()
    assert alice.position == "lead"
    assert set(WeComTag.objects.get(account=live_account, tag_id=tag).memberships.values_list("userid", flat=True)) \
        == {"alice", "zhangsan"}
    assert WeComContactEvent.objects.filter(account=live_account).count() == 3
    assert len(sandbox.state.wecom.pushes) == 3 + 2 + 3


def test_a_retry_after_the_dedupe_window_is_still_applied_once(sandbox, live_account):
    """The callback's dedupe forgot the delivery (cache cleared, as after a restart of a cache
    server): the signal fires again, the ledger still refuses the second application."""
    result = push(sandbox, "update_user", userid="zhangsan", position="engineer")
    push(sandbox, "update_user", userid="zhangsan", position="manager")  # the same second, most likely
    assert WeComMember.objects.get(account=live_account, userid="zhangsan").position == "manager"
    cache.clear()
    from wechat_app.sandbox.wecom_contacts import push_contact_event

    app = sandbox.state.wecom.apps[f"{CORP_ID}/{AGENT_ID}"]
    assert push_contact_event(sandbox.state, app, result["xml"])["status"] == 200  # the first, late
    assert WeComMember.objects.get(account=live_account, userid="zhangsan").position == "manager"
    assert WeComContactEvent.objects.filter(account=live_account).count() == 2
