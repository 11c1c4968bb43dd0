"""The message log API: cursor pagination, filters (bad values are 400 naming the parameter, on
every list), one user's conversation (the admin's thread) and stats (the dashboard's figures)."""
import itertools
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.api_errors import error_fields
from wechat_app.models import Account, AccountMembership, MessageLog, OutboundMessage, Rule

pytestmark = pytest.mark.django_db
API = "/wechat/api"
_keys = itertools.count(1)


def make_account(name):
    return Account.objects.create(name=name, app_id=f"wx{name}0000000001"[:18], app_secret="S3cr3tValue0001",
                                  token="tok123", encrypt_mode="plain")


def log(account, user="u1", text="hello", *, status="replied", rule=None, ago=None, **fields):
    row = MessageLog.objects.create(account=account, dedupe_key=f"k{next(_keys)}", user=user, msg_type=fields.pop(
        "msg_type", "text"), text=text, status=status, rule=rule, rule_name=rule.name if rule else "", **fields)
    if ago is not None:
        MessageLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - ago)
        row.refresh_from_db()
    return row


@pytest.fixture
def shop():
    return make_account("shop")


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", None))
    return client


def ids(resp):
    assert resp.status_code == 200, resp.content
    return [row["id"] for row in resp.json()["results"]]


# ---- cursor pagination ------------------------------------------------------------------------------

def test_cursor_pages_are_stable_while_messages_arrive(admin_client, shop):
    rows = [log(shop, text=f"m{i}") for i in range(23)]
    expected = [row.pk for row in reversed(rows)]  # newest logged first
    seen, url, params = [], f"{API}/messages/", {"account": "shop", "limit": 10}
    while url:
        resp = admin_client.get(url, params)
        seen += ids(resp)
        for i in range(3):  # messages keep arriving between pages
            log(shop, text=f"late{len(seen)}-{i}")
        url, params = resp.json()["next"], None
    assert seen == expected  # every row exactly once, in order, none of the late ones pushed in
    assert "count" not in resp.json()  # no COUNT(*) over the whole log
    # The previous link of a page goes back to the page before.
    first = admin_client.get(f"{API}/messages/", {"account": "shop", "limit": 10})
    second = admin_client.get(first.json()["next"])
    log(shop, text="later still")
    back = admin_client.get(second.json()["previous"])
    assert ids(back) == ids(first)  # the same rows: what arrived meanwhile is on a newer page
    newest = admin_client.get(back.json()["previous"])
    assert len(ids(newest)) > 0 and min(ids(newest)) > max(ids(first))


def test_bad_cursor_and_limit_are_400(admin_client, shop):
    for params, name in (({"cursor": "garbage"}, "cursor"), ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
                         ({"limit": "ten"}, "limit")):
        resp = admin_client.get(f"{API}/messages/", params)
        assert resp.status_code == 400 and list(error_fields(resp)) == [name], resp.content


# ---- filters -------------------------------------------------------------------------------------------

def test_message_filters(admin_client, shop):
    other = make_account("other")
    greet = Rule.objects.create(account=shop, name="greet", match_kind="contains", match_value="hi", replies=["Hi"])
    fallback = Rule.objects.create(account=shop, name="fallback", match_kind="default", replies=["Sorry?"])
    a = log(shop, "alice", "hi there", rule=greet, ago=timedelta(days=3))
    b = log(shop, "bob", "what?", status="unmatched", ago=timedelta(days=1))
    c = log(shop, "bob", "huh", rule=fallback)
    d = log(shop, "alice", "", msg_type="event", event="subscribe", status="no_reply")
    e = log(other, "carol", "hi")
    get = lambda **params: set(ids(admin_client.get(f"{API}/messages/", params)))  # noqa: E731
    assert get() == {a.pk, b.pk, c.pk, d.pk, e.pk}
    assert get(account="shop") == {a.pk, b.pk, c.pk, d.pk}
    assert get(account="shop", user="bob") == {b.pk, c.pk}
    assert get(type="event") == get(event="SUBSCRIBE") == {d.pk}
    assert get(rule=str(greet.pk)) == get(rule="greet") == {a.pk}
    assert get(status="unmatched") == {b.pk}
    # answered=false: the dashboard's unanswered questions (no rule, or only the fallback)
    assert get(account="shop", answered="false") == {b.pk, c.pk}
    assert get(account="shop", answered="true") == {a.pk, d.pk}
    since = (timezone.now() - timedelta(days=2)).isoformat()
    until = (timezone.now() - timedelta(hours=12)).isoformat()
    assert get(account="shop", since=since) == {b.pk, c.pk, d.pk}
    assert get(account="shop", since=since, until=until) == {b.pk}
    assert get(q="HI") == get(search="hi") == {a.pk, e.pk}


@pytest.fixture
def two_teams(client):
    """A staff user with every view permission, member of ``shop`` only; ``other`` exists too."""
    shop = make_account("shop")
    make_account("other")
    user = get_user_model().objects.create_user("staff", password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=[
        "view_rule", "view_messagelog", "view_account", "view_menu", "view_menuversion"]))
    AccountMembership.objects.create(user=user, account=shop)
    client.force_login(user)
    return client


LISTS = ["accounts", "rules", "messages", "menus", "menu-versions"]
BAD = [
    ("account", "nope"),  # does not exist
    ("account", "other"),  # exists, not the user's: the same answer
    ("account", "sh\x00op"),
    ("account", "x" * 300),
]
BAD_BY_LIST = {
    "accounts": [("enabled", "on"), ("encrypt_mode", "rot13"), ("search", "\x00"), ("limit", "0"), ("offset", "-1"),
                 ("offset", "9" * 30)],
    "rules": [("enabled", "yes"), ("kind", "fuzzy"), ("top_level", "1"), ("search", "a\x00")],
    "messages": [("status", "lost"), ("since", "yesterday"), ("until", "2024-13-01T00:00:00"), ("q", "a\x00b"),
                 ("user", "\x00"), ("answered", "maybe"), ("rule", "r\x00"), ("event", "e" * 201)],
    "menus": [("kind", "round")],
    "menu-versions": [("status", "lost"), ("menu", "-1"), ("source", "x")],
}
CASES = [(name, param, value) for name in LISTS for param, value in BAD_BY_LIST[name] + (
    BAD if name != "accounts" else [])]


@pytest.mark.parametrize("name, param, value", CASES, ids=[f"{n}-{p}-{v[:8]!r}" for n, p, v in CASES])
def test_bad_filter_values_are_400_naming_the_parameter(two_teams, name, param, value):
    resp = two_teams.get(f"{API}/{name}/", {param: value})
    assert resp.status_code == 400, resp.content
    assert list(error_fields(resp)) == [param]


def test_a_date_range_that_ends_before_it_starts_is_400(admin_client, shop):
    resp = admin_client.get(f"{API}/messages/", {"since": "2024-05-02T00:00:00", "until": "2024-05-01T00:00:00"})
    assert resp.status_code == 400 and list(error_fields(resp)) == ["until"]


def test_account_filters(admin_client):
    make_account("shop")
    quiet = make_account("quiet")
    Account.objects.filter(pk=quiet.pk).update(enabled=False)
    names = lambda **params: [r["name"] for r in admin_client.get(f"{API}/accounts/", params).json()["results"]]  # noqa: E731
    assert names() == ["quiet", "shop"]
    assert names(enabled="false") == ["quiet"] and names(search="SHO") == ["shop"]
    assert names(encrypt_mode="plain") == ["quiet", "shop"] and names(encrypt_mode="safe") == []


def test_the_accounts_own_filter_answers_their_rows(two_teams):
    shop = Account.objects.get(name="shop")
    row = log(shop)
    assert ids(two_teams.get(f"{API}/messages/", {"account": "shop"})) == [row.pk]


# ---- conversation ----------------------------------------------------------------------------------------

def test_the_conversation_is_the_admins_thread(admin_client, shop):
    log(shop, "alice", "first", ago=timedelta(minutes=10))
    OutboundMessage.objects.create(account=shop, kind="text", to_user="alice", payload={"content": "an answer"},
                                   status="sent", idempotency_key="k-answer")
    OutboundMessage.objects.filter(idempotency_key="k-answer").update(
        created_at=timezone.now() - timedelta(minutes=5))
    log(shop, "alice", "second")
    log(shop, "bob", "not alice's")
    resp = admin_client.get(f"{API}/messages/conversation/", {"account": "shop", "user": "alice"})
    assert resp.status_code == 200, resp.content
    data = resp.json()
    api_items = [(item["kind"], (item["received"] or {}).get("id") if item["kind"] == "received"
                  else item["sent"]["id"]) for item in data["items"]]
    admin = admin_client.get(f"/admin/wechat_app/messagelog/conversation/{shop.pk}/", {"user": "alice"})
    admin_items = [("received" if kind == "log" else "sent", obj.pk) for kind, obj in admin.context["items"]]
    assert api_items == admin_items
    assert [item["kind"] for item in data["items"]] == ["received", "sent", "received"]
    assert data["items"][1]["sent"]["payload"] == {"content": "an answer"}
    assert (data["page"], data["pages"], data["count"], data["older"], data["newer"]) == (1, 1, 2, None, None)


def test_the_conversation_pages_back_from_the_newest(admin_client, shop):
    rows = [log(shop, "alice", f"m{i}") for i in range(105)]
    first = admin_client.get(f"{API}/messages/conversation/", {"account": "shop", "user": "alice"}).json()
    assert (first["pages"], first["older"], first["newer"]) == (2, 2, None)
    assert [i["received"]["id"] for i in first["items"]] == [row.pk for row in rows[5:]]
    older = admin_client.get(f"{API}/messages/conversation/", {"account": "shop", "user": "alice",
                                                               "page": 2}).json()
    assert [i["received"]["id"] for i in older["items"]] == [row.pk for row in rows[:5]]


@pytest.mark.parametrize("params, name", [
    ({"user": "alice"}, "account"), ({"account": "shop"}, "user"), ({"account": "nope", "user": "a"}, "account"),
    ({"account": "shop", "user": "a\x00"}, "user"), ({"account": "shop", "user": "a", "page": "2"}, "page"),
    ({"account": "shop", "user": "a", "page": "0"}, "page"),
])
def test_conversation_parameters_are_checked(admin_client, shop, params, name):
    resp = admin_client.get(f"{API}/messages/conversation/", params)
    assert resp.status_code == 400 and list(error_fields(resp)) == [name], resp.content


# ---- stats ---------------------------------------------------------------------------------------------

def test_stats_are_the_dashboards_figures(admin_client, shop):
    greet = Rule.objects.create(account=shop, name="greet", match_kind="contains", match_value="hi", replies=["Hi"])
    fallback = Rule.objects.create(account=shop, name="fallback", match_kind="default", replies=["Sorry?"])
    for day in range(4):
        for n in range(day + 1):
            log(shop, f"u{n}", "hi", rule=greet, ago=timedelta(days=day), latency_ms=float(10 * n + day))
    log(shop, "u9", "what?", status="unmatched", ago=timedelta(days=2))
    log(shop, "u9", "what?", status="unmatched")
    log(shop, "u8", "huh", rule=fallback, latency_ms=3.0)
    log(shop, "u7", "", msg_type="event", event="subscribe", status="no_reply")
    log(shop, "sys", "", msg_type="event", event="TEMPLATESENDJOBFINISH", status="no_reply")
    log(shop, "old", "hi", rule=greet, ago=timedelta(days=40))

    api = admin_client.get(f"{API}/messages/stats/", {"account": "shop"})
    assert api.status_code == 200, api.content
    api = api.json()
    board = admin_client.get(f"/admin/wechat_app/account/{shop.pk}/dashboard/").context
    assert api["days"] == board["days"] == 30
    assert api["totals"] == json.loads(json.dumps(board["totals"]))
    assert api["totals"]["messages"] == 10 + 2 + 1 + 1 and api["totals"]["system_events"] == 1
    assert api["latency"] == {"n": board["latency"]["n"], "p50": board["p50"], "p95": board["p95"]}
    assert api["answer_rate"] == board["answer_rate"]
    assert [(r["rule_name"], r["n"]) for r in api["top_rules"]] == [(r["rule_name"], r["n"])
                                                                    for r in board["top_rules"]]
    assert [(r["text"], r["n"], r["fallback"], r["users"]) for r in api["unanswered"]] == [
        (r["text"], r["n"], r["fallback"], r["users"]) for r in board["unmatched"]]
    assert [(r["text"], r["n"]) for r in api["unanswered"]] == [("what?", 2), ("huh", 1)]
    # The dashboard's chart is drawn from the same series.
    assert [d["data"] for d in board["chart"]["datasets"]] == list(api["per_day"]["series"].values())
    assert len(api["per_day"]["days"]) == 30 and api["per_day"]["series"]["text"][-4:] == [4, 3 + 1, 2, 1 + 2]
    # A shorter window: the same code, fewer days.
    week = admin_client.get(f"{API}/messages/stats/", {"account": "shop", "days": 2}).json()
    assert len(week["per_day"]["days"]) == 2 and week["totals"]["messages"] < api["totals"]["messages"]


@pytest.mark.parametrize("params, name", [
    ({}, "account"), ({"account": "nope"}, "account"), ({"account": "shop", "days": "0"}, "days"),
    ({"account": "shop", "days": "367"}, "days"), ({"account": "shop", "days": "x"}, "days"),
])
def test_stats_parameters_are_checked(admin_client, shop, params, name):
    resp = admin_client.get(f"{API}/messages/stats/", params)
    assert resp.status_code == 400 and list(error_fields(resp)) == [name], resp.content


def test_log_permissions(client, shop):
    other = make_account("other")
    log(other, "carol", "secret")
    assert client.get(f"{API}/messages/stats/", {"account": "other"}).status_code in (401, 403)
    assert client.get(f"{API}/messages/").status_code in (401, 403)
    user = get_user_model().objects.create_user("staff", password=None, is_staff=True)
    client.force_login(user)
    assert client.get(f"{API}/messages/", {"account": "shop"}).status_code == 403  # no view permission
    user.user_permissions.add(Permission.objects.get(codename="view_messagelog"))
    AccountMembership.objects.create(user=user, account=shop)
    assert ids(client.get(f"{API}/messages/")) == []  # other's rows are not listed
    for url in ("messages/stats/", "messages/conversation/"):
        resp = client.get(f"{API}/{url}", {"account": "other", "user": "carol"})
        assert resp.status_code == 400 and list(error_fields(resp)) == ["account"]
    row = MessageLog.objects.get(user="carol")
    assert client.get(f"{API}/messages/{row.pk}/").status_code == 404


@pytest.mark.parametrize("value", ["4925-02-02T10:47:26-17:30", "9999-12-31T23:59:59-10:00",
                                   "0001-01-01T00:00:00+10:00"])
def test_dates_the_database_cannot_hold_are_400_or_answered(admin_client, shop, value):
    # Found by the fuzzer on PostgreSQL: an offset beyond ±15:59 was a 500.
    resp = admin_client.get(f"{API}/messages/", {"until": value})
    assert resp.status_code in (200, 400), resp.content
    if resp.status_code == 400:
        assert list(error_fields(resp)) == ["until"]
