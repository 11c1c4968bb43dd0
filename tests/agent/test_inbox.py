"""The inbox: list, claim (exclusive), complete, fail, an ended lease returns to pending; failed
callback deliveries are parked after the limit and retried through the API."""
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from tests.agent.conftest import API, USER, agent_settings, post
from tests.api_errors import code
from wechat_app.models import AgentDeliveryAttempt, AgentEvent
from wechat_app.protocol import parse_message
from wechat_app.sandbox.agent import FakeAgent
from tests.wechat_client import message_xml
from wechat_app.services import agent

INBOX = f"{API}/agent/inbox"


def hand(account, text="hello", msg_id=None, user=USER):
    message = parse_message(message_xml("text", user=user, Content=text, msg_id=msg_id))
    return agent.hand_off(account, message)


@pytest.fixture
def inbox(shop):
    agent_settings(shop, mode="inbox")
    return shop


@pytest.mark.django_db
def test_one_event_per_message_even_when_handed_twice(inbox):
    first = hand(inbox, msg_id=42)
    again = hand(inbox, msg_id=42)
    assert first.pk == again.pk and AgentEvent.objects.count() == 1
    assert first.delivery == "inbox" and first.status == "pending"


@pytest.mark.django_db
def test_list_claim_complete_and_fail(api, inbox):
    one, two = hand(inbox, "one"), hand(inbox, "two")
    listed = api.get(f"{INBOX}/?status=pending&account=shop").json()
    assert [e["text"] for e in listed["results"]] == ["one", "two"]
    assert listed["results"][0]["claim"] is None and listed["results"][0]["account_id"] == "shop"
    claimed = post(api, f"{INBOX}/{one.pk}/claim/", {"worker_id": "w1", "lease_seconds": 30})
    assert claimed.status_code == 200, claimed.content
    assert claimed.json()["status"] == "claimed" and claimed.json()["claim"]["worker_id"] == "w1"
    taken = post(api, f"{INBOX}/{one.pk}/claim/", {"worker_id": "w2"})
    assert taken.status_code == 409 and code(taken) == "not_claimable"
    done = post(api, f"{INBOX}/{one.pk}/complete/", {"completion_note": "reply sent", "worker_id": "w1"})
    assert done.status_code == 200 and done.json()["status"] == "completed" and done.json()["note"] == "reply sent"
    assert post(api, f"{INBOX}/{two.pk}/fail/", {"error": "x"}).status_code == 409  # not claimed
    post(api, f"{INBOX}/{two.pk}/claim/", {"worker_id": "w2"})
    failed = post(api, f"{INBOX}/{two.pk}/fail/", {"error": "temporary failure"})
    assert failed.json()["status"] == "failed" and failed.json()["error"] == "temporary failure"
    assert [e["text"] for e in api.get(f"{INBOX}/?status=failed").json()["results"]] == ["two"]
    retried = post(api, f"{INBOX}/{two.pk}/retry/")
    assert retried.status_code == 200 and retried.json()["status"] == "pending"


@pytest.mark.django_db
def test_bad_input_is_a_clear_400(api, inbox):
    event = hand(inbox)
    assert code(post(api, f"{INBOX}/{event.pk}/claim/", {})) == "invalid"
    resp = post(api, f"{INBOX}/{event.pk}/claim/", {"worker_id": "w", "lease_seconds": 10**6})
    assert resp.status_code == 400 and "lease_seconds" in resp.json()["error"]["message"]
    assert api.get(f"{INBOX}/?status=lost").status_code == 400
    assert api.get(f"{INBOX}/?account=nobody").status_code == 400


@pytest.mark.django_db
def test_competing_workers_claim_each_event_once(api, inbox):
    events = [hand(inbox, f"m{i}") for i in range(6)]
    got = {"a": [], "b": []}
    while True:
        progressed = False
        for worker in ("a", "b"):
            resp = post(api, f"{INBOX}/claim-next/", {"worker_id": worker})
            if resp.status_code == 200:
                got[worker].append(resp.json()["id"])
                progressed = True
        if not progressed:
            break
    assert sorted(got["a"] + got["b"]) == sorted(e.pk for e in events)
    assert len(got["a"]) == len(got["b"]) == 3


@pytest.mark.django_db(transaction=True)
def test_competing_threads_claim_each_event_once(inbox):
    """Four threads race for the same events with their own connections (PostgreSQL: SKIP LOCKED
    and row locks; SQLite: the conditional UPDATE)."""
    if connection.vendor != "postgresql":
        pytest.skip("threads with their own connections need a server database (run with DATABASE_URL)")
    from wechat_app.models import Account

    ids = {hand(inbox, f"m{i}").pk for i in range(40)}
    claimed, errors = [], []
    lock = threading.Lock()

    def work(worker):
        try:
            while True:
                event = agent.claim_next(Account.objects.all(), worker, 60)
                if event is None:
                    return
                with lock:
                    claimed.append(event.pk)
        except Exception as err:  # reported below
            errors.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(claimed) == sorted(ids)

    # Two workers claiming one given event: exactly one wins.
    event = hand(inbox, "contested")
    barrier, wins = threading.Barrier(2), []

    def claim_it(worker):
        barrier.wait()
        try:
            agent.claim(AgentEvent.objects.get(pk=event.pk), worker)
            wins.append(worker)
        except agent.AgentError:
            pass
        finally:
            connections.close_all()

    racers = [threading.Thread(target=claim_it, args=(w,)) for w in ("x", "y")]
    for thread in racers:
        thread.start()
    for thread in racers:
        thread.join(30)
    assert len(wins) == 1


@pytest.mark.django_db
def test_an_ended_lease_returns_the_event_to_pending(api, inbox):
    event = hand(inbox)
    post(api, f"{INBOX}/{event.pk}/claim/", {"worker_id": "sleepy", "lease_seconds": 30})
    AgentEvent.objects.filter(pk=event.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    listed = api.get(f"{INBOX}/?status=pending").json()["results"]
    assert [e["id"] for e in listed] == [event.pk]
    again = post(api, f"{INBOX}/claim-next/", {"worker_id": "awake"})
    assert again.status_code == 200 and again.json()["claim"]["worker_id"] == "awake"
    late = post(api, f"{INBOX}/{event.pk}/complete/", {"worker_id": "sleepy"})
    assert late.status_code == 409 and code(late) == "not_yours"
    assert post(api, f"{INBOX}/{event.pk}/release/").json()["status"] == "pending"


@pytest.mark.django_db
def test_failed_callback_is_parked_after_the_limit_and_retried_from_the_api(api, shop, settings,
                                                                            django_capture_on_commit_callbacks):
    settings.WECHAT_APP = {**getattr(settings, "WECHAT_APP", {}), "AGENT_RETRY_DELAY": 0}
    with FakeAgent("s3cret", reply=None) as fake:
        agent_settings(shop, mode="callback", callback_url=fake.url, shared_secret="s3cret", max_attempts=3)
        fake.fail_next = 10
        with django_capture_on_commit_callbacks(execute=True):
            event = hand(shop)
        for _ in range(5):
            agent.resume()
        event.refresh_from_db()
        assert event.status == "failed" and event.attempts == 3 and "HTTP 500" in event.error
        assert [a.status_code for a in AgentDeliveryAttempt.objects.order_by("number")] == [500, 500, 500]
        detail = api.get(f"{INBOX}/{event.pk}/").json()
        assert [a["number"] for a in detail["delivery_attempts"]] == [1, 2, 3]
        fake.fail_next = 0
        with django_capture_on_commit_callbacks(execute=True):
            resp = post(api, f"{INBOX}/{event.pk}/retry/")
        assert resp.status_code == 200, resp.content
        assert fake.wait_for(events=1)
    event.refresh_from_db()
    assert event.status == "completed" and event.attempts == 1
    assert AgentDeliveryAttempt.objects.filter(event=event).count() == 4


@pytest.mark.django_db
def test_network_errors_are_retried_too(shop, settings, django_capture_on_commit_callbacks):
    settings.WECHAT_APP = {**getattr(settings, "WECHAT_APP", {}), "AGENT_RETRY_DELAY": 0,
                           "AGENT_CALLBACK_TIMEOUT": 2}
    fake = FakeAgent("s").start()
    url = fake.url
    fake.stop()  # nothing listens there any more
    agent_settings(shop, mode="callback", callback_url=url, shared_secret="s", max_attempts=2)
    with django_capture_on_commit_callbacks(execute=True):
        event = hand(shop)
    agent.resume()
    event.refresh_from_db()
    assert event.status == "failed" and "ConnectionError" in event.error
    assert AgentDeliveryAttempt.objects.filter(event=event, status_code__isnull=True).count() == 2


@pytest.mark.django_db
def test_other_accounts_events_are_not_found(client, inbox, django_user_model):
    from django.contrib.auth.models import Permission

    event = hand(inbox)
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_agentevent", "change_agentevent"]))
    client.force_login(staff)
    assert client.get(f"{INBOX}/{event.pk}/").status_code == 404
    assert post(client, f"{INBOX}/{event.pk}/claim/", {"worker_id": "w"}).status_code == 404
    assert client.get(f"{INBOX}/").json()["results"] == []
    assert post(client, f"{INBOX}/claim-next/", {"worker_id": "w"}).status_code == 204


def test_the_agent_reply_kind_in_rule_files_and_the_api(api, shop):
    from wechat_app.engine.spec import validate_replies

    (reply,) = validate_replies([{"type": "agent"}])
    assert reply.to_dict() == {"type": "agent"}
    resp = post(api, f"{API}/rules/", {"account": "shop", "name": "to the agent", "match_kind": "contains",
                                      "match_value": "human", "replies": [{"type": "agent"}]})
    assert resp.status_code == 201, resp.content
    assert resp.json()["replies"] == [{"type": "agent"}]
    bad = post(api, f"{API}/rules/", {"account": "shop", "name": "bad", "match_kind": "contains",
                                     "match_value": "x", "replies": [{"type": "agent", "url": "x"}]})
    assert bad.status_code == 400


@pytest.mark.django_db
def test_without_an_agent_an_agent_rule_answers_nothing(shop, client):
    from tests.wechat_client import wechat_signature
    from wechat_app.models import MessageLog, Rule
    import time

    Rule.objects.create(account=shop, name="human", match_kind="exact", match_value="human",
                        replies=[{"type": "agent"}])
    ts, nonce = str(int(time.time())), "12345"
    resp = client.post(f"/wechat/callback/shop/?timestamp={ts}&nonce={nonce}&signature="
                       f"{wechat_signature(shop.token, ts, nonce)}",
                       message_xml("text", user=USER, Content="human"), content_type="text/xml")
    assert resp.status_code == 200 and resp.content == b"success"
    assert MessageLog.objects.get().status == "no_reply" and not AgentEvent.objects.exists()


@pytest.mark.django_db
def test_odd_ids_are_not_found(api, inbox):
    for odd in ("abc", "0", "99999999999999999999999", "1e3"):
        resp = api.get(f"{INBOX}/{odd}/")
        assert resp.status_code == 404, (odd, resp.status_code)
    assert api.get(f"{API}/agent/send/tasks/{'-' * 36}/").status_code == 404
