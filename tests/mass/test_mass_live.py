"""A mass send to a tag of 10,000 sandbox followers, the MASSSENDJOBFINISH report pushed by the
sandbox over HTTP to the real callback (live server, AES-encrypted), reconciled once even when
WeChat pushes it again."""
import pytest
from django.urls import reverse

from tests.polling import wait_until
from wechat_app.models import Account, MassMessage
from wechat_app.services import audience
from wechat_app.services import mass as mass_service

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

APP_ID, SECRET, TOKEN = "wxmasslive0001", "mass-live-secret", "masstoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def account(live_server, sandbox):
    account = Account.objects.create(name="masslive", app_id=APP_ID, app_secret=SECRET, token=TOKEN,
                                     encoding_aes_key=AES_KEY, encrypt_mode="safe", api_base_url=sandbox.url,
                                     kind="subscription")
    callback = live_server.url + reverse("wechat_app:callback", kwargs={"account_name": account.name})
    sandbox.state.add_app(APP_ID, SECRET, callback_url=callback, token=TOKEN, encoding_aes_key=AES_KEY,
                          encrypt_mode="safe", original_id="gh_masslive")
    return account


def test_mass_send_to_a_tag_of_10000_followers_is_reconciled_once(sandbox, account):
    state = sandbox.state
    openids = state.add_followers(APP_ID, count=10_000)
    others = state.add_followers(APP_ID, count=50, prefix="x")  # not tagged: not sent to
    tag_id = state.add_tag(APP_ID, "Members")
    for openid in openids:
        state.followers[APP_ID][openid].tagid_list.append(tag_id)
    for openid in openids[:30]:  # blacklisted: WeChat filters them out
        state.followers[APP_ID][openid].blacklisted = True
    state.mass.config.update(mass_error_count=12, job_finish_delay=1.0)
    audience.sync_tags(account)
    tag = account.tags.get(tag_id=tag_id)
    assert tag.count == 10_000

    mass = mass_service.create_mass(account, name="Members' news", kind="mpnews",
                                    content={"media_id": "news_media_1"}, audience="tag", tag=tag)
    mass_service.queue_mass(mass)  # autocommit: the task runs (eagerly) at once
    # Waiting on the sandbox, not the database: with SQLite the live server shares the connection.
    assert wait_until(lambda: len(state.pushes) == 1)
    assert state.pushes[0]["status"] == 200
    send = state.mass.sends[MassMessage.objects.get(pk=mass.pk).msg_id]
    assert len(send["recipients"]) == 9_970 and not set(others) & set(send["recipients"])
    mass.refresh_from_db()
    assert mass.status == MassMessage.Status.DONE
    assert (mass.total_count, mass.filter_count, mass.sent_count, mass.error_count) == (10_000, 9_970, 9_958, 12)
    reported_at = mass.reported_at

    # WeChat pushes the report again (a new delivery, not a retry of the same one): nothing changes.
    send["sent"] = 1
    answer = sandbox.push_event(APP_ID, "o_sandbox_mass_report", {
        "Event": "MASSSENDJOBFINISH", "MsgID": send["msg_id"], "Status": "send success", "TotalCount": 10_000,
        "FilterCount": 9_970, "SentCount": 1, "ErrorCount": 9_969})
    assert answer["status"] == 200
    mass.refresh_from_db()
    assert (mass.sent_count, mass.error_count, mass.reported_at) == (9_958, 12, reported_at)

    # A subscription account: one mass send a day, refused before WeChat is called.
    second = mass_service.create_mass(account, name="Again", kind="text", content={"content": "x"}, audience="all")
    with pytest.raises(Exception, match="1 of 1 mass send"):
        mass_service.queue_mass(second)
    assert len(state.mass.sends) == 1
