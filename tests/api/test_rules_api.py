"""The rules API: nested follow-ups as one document (the rule-file dialect's tree), unknown fields
refused, and the rule test (answers as the callback does, writes nothing)."""
import json
import random
import re
import time

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from tests.api_errors import error_fields
from tests.wechat_client import message_xml, wechat_signature
from wechat_app.models import Account, AccountMembership, MessageLog, Rule
from wechat_app.services import rules as rule_services
from wechat_app.services.rules import import_rules

pytestmark = pytest.mark.django_db
API = "/wechat/api"

GAME = {
    "account": "shop", "name": "game", "match_kind": "exact", "match_value": "game",
    "replies": ["Pick a number from 1 to 9"], "follow_up_timeout": 300, "follow_up_retries": 1,
    "follow_ups": [
        {"name": "game.pick", "match_kind": "regex", "match_value": "^([1-9])$",
         "replies": [{"type": "text", "content": "You picked {1}. Again?"}],
         "follow_ups": [{"name": "game.again", "match_kind": "exact", "match_value": "yes",
                         "replies": [{"type": "news", "articles": [{"title": "Round 2", "url": "https://x/2"}]}]}]},
        {"name": "game.other", "match_kind": "default", "replies": ["Only 1 to 9, please"]},
    ],
}
# The same rule as the rule-file dialect writes it (export) and reads it (import).
GAME_DIALECT = {
    "name": "game", "match": {"exact": "game"}, "reply": "Pick a number from 1 to 9",
    "follow_ups": {"timeout": 300, "retries": 1, "rules": [
        {"name": "game.pick", "match": {"regex": "^([1-9])$"}, "reply": "You picked {1}. Again?",
         "follow_ups": {"rules": [{"name": "game.again", "match": {"exact": "yes"},
                                   "reply": {"type": "news", "articles": [{"title": "Round 2",
                                                                          "url": "https://x/2"}]}}]}},
        {"name": "game.other", "match": {"default": True}, "reply": "Only 1 to 9, please"},
    ]},
}
VOLATILE = {"id", "account", "parent", "position", "created_at", "updated_at"}


def make_account(name="shop", mode="plain"):
    return Account.objects.create(name=name, app_id=f"wx{name}0000000001"[:18], app_secret="S3cr3tValue0001",
                                  token="tok123", encrypt_mode=mode)


@pytest.fixture
def account():
    return make_account()


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", None)
    client.force_login(user)
    return client


def send(client, url, data, method="post"):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json")


def stable(doc):
    """A rule document without what the server assigns (ids, positions, times)."""
    out = {key: value for key, value in doc.items() if key not in VOLATILE}
    out["follow_ups"] = [stable(child) for child in doc.get("follow_ups", [])]
    return out


# ---- nested follow-ups ------------------------------------------------------------------------------

def test_nested_follow_ups_round_trip_and_agree_with_the_rule_file_dialect(admin_client, account):
    resp = send(admin_client, f"{API}/rules/", GAME)
    assert resp.status_code == 201, resp.content
    created = resp.json()
    assert [child["name"] for child in created["follow_ups"]] == ["game.pick", "game.other"]
    assert created["follow_ups"][0]["follow_ups"][0]["name"] == "game.again"
    # Stored as rows, children under their parent, replies typed.
    pick = Rule.objects.get(name="game.pick")
    assert pick.parent.name == "game" and Rule.objects.get(name="game.again").parent == pick
    assert pick.replies == [{"type": "text", "content": "You picked {1}. Again?"}]

    fetched = admin_client.get(f"{API}/rules/{created['id']}/").json()
    assert fetched == created
    assert fetched["replies"] == [{"type": "text", "content": "Pick a number from 1 to 9"}]

    # Export writes the dialect's tree, with the same names, matches and replies.
    exported = yaml.safe_load(admin_client.get(f"{API}/accounts/shop/rules/export/").content)
    assert exported == [GAME_DIALECT]
    # Import of that file into another account reads back as the same API document.
    other = make_account("other")
    import_rules(other, exported)
    (imported,) = admin_client.get(f"{API}/rules/", {"account": "other", "top_level": "true"}).json()["results"]
    assert stable(imported) == stable(created)


def test_follow_ups_answer_like_the_rule_file_does(admin_client, account):
    assert send(admin_client, f"{API}/rules/", GAME).status_code == 201
    answers = []
    for text in ("game", "7", "yes"):
        resp = send(admin_client, f"{API}/rules/test/", {"account": "shop", "user": "u1", "text": text})
        answers.append((resp.json()["rule"] or {}).get("name"))
    # The rule test changes no state: no conversation starts, follow-ups do not answer.
    assert answers == ["game", None, None]
    # With the conversation really started (as a callback would), the follow-ups answer.
    rule_services.respond(account, _message("game", "u2"))
    resp = send(admin_client, f"{API}/rules/test/", {"account": "shop", "user": "u2", "text": "7"})
    assert resp.json()["rule"]["name"] == "game.pick"
    assert resp.json()["reply"] == {"type": "text", "content": "You picked 7. Again?"}


def _message(text, user):
    from wechat_app.protocol import parse_message

    return parse_message(message_xml("text", user=user, sp="gh_shop", Content=text))


def test_put_replaces_the_follow_ups_and_patch_without_them_keeps_them(admin_client, account):
    rule = send(admin_client, f"{API}/rules/", GAME).json()
    doc = {**GAME, "follow_ups": [{"name": "game.only", "match_kind": "contains", "match_value": "x",
                                   "replies": ["X!"]}]}
    resp = send(admin_client, f"{API}/rules/{rule['id']}/", doc, "put")
    assert resp.status_code == 200, resp.content
    assert [child["name"] for child in resp.json()["follow_ups"]] == ["game.only"]
    assert set(Rule.objects.values_list("name", flat=True)) == {"game", "game.only"}
    resp = send(admin_client, f"{API}/rules/{rule['id']}/", {"priority": 3}, "patch")
    assert resp.status_code == 200 and [c["name"] for c in resp.json()["follow_ups"]] == ["game.only"]
    # A document read with GET goes back with PUT as it is (read-only fields are known, and ignored).
    again = admin_client.get(f"{API}/rules/{rule['id']}/").json()
    resp = send(admin_client, f"{API}/rules/{rule['id']}/", again, "put")
    assert resp.status_code == 200, resp.content
    assert stable(resp.json()) == stable(again)


def test_errors_in_follow_ups_name_their_path_and_nothing_is_written(admin_client, account):
    bad = json.loads(json.dumps(GAME))
    bad["follow_ups"][1]["match_kind"] = "regex"
    bad["follow_ups"][1]["match_value"] = "(unclosed"
    resp = send(admin_client, f"{API}/rules/", bad)
    assert resp.status_code == 400
    assert list(error_fields(resp)) == ["follow_ups[1].match_value"]

    bad = json.loads(json.dumps(GAME))
    bad["follow_ups"][0]["follow_ups"][0]["pattern"] = "yes"  # webot's key name: not a field of the API
    resp = send(admin_client, f"{API}/rules/", bad)
    assert resp.status_code == 400
    assert list(error_fields(resp)) == ["follow_ups[0].follow_ups[0].pattern"]
    assert "Unknown field" in error_fields(resp)["follow_ups[0].follow_ups[0].pattern"][0]

    bad = json.loads(json.dumps(GAME))
    bad["follow_ups"][0]["replies"] = [{"type": "news", "articles": []}]
    resp = send(admin_client, f"{API}/rules/", bad)
    assert resp.status_code == 400 and "1 to 8 articles" in error_fields(resp)["follow_ups[0].replies"][0]
    assert not Rule.objects.exists()


def test_a_failed_put_keeps_the_old_follow_ups(admin_client, account):
    rule = send(admin_client, f"{API}/rules/", GAME).json()
    doc = {**GAME, "follow_ups": [{"name": "a", "match_kind": "default", "replies": ["A"]},
                                  {"name": "a", "match_kind": "default", "replies": ["B"]}]}
    resp = send(admin_client, f"{API}/rules/{rule['id']}/", doc, "put")
    assert resp.status_code == 400 and "used twice" in error_fields(resp)["follow_ups[1].name"][0]
    assert Rule.objects.filter(parent_id=rule["id"]).count() == 2


def test_follow_up_names_must_be_free_in_the_account(admin_client, account):
    Rule.objects.create(account=account, name="taken", match_kind="exact", match_value="t", replies=["T"])
    doc = {**GAME, "follow_ups": [{"name": "taken", "match_kind": "default", "replies": ["A"]}]}
    resp = send(admin_client, f"{API}/rules/", doc)
    assert resp.status_code == 400 and "already has a rule named 'taken'" in error_fields(resp)["follow_ups[0].name"][0]


def test_follow_ups_nest_at_most_rule_max_depth(admin_client, account, settings):
    settings.WECHAT_APP = {**getattr(settings, "WECHAT_APP", {}), "RULE_MAX_DEPTH": 3}
    deep = {"name": "l4", "match_kind": "default", "replies": ["4"]}
    for level in (3, 2):
        deep = {"name": f"l{level}", "match_kind": "default", "replies": [str(level)], "follow_ups": [deep]}
    top = {"account": "shop", "name": "l1", "match_kind": "exact", "match_value": "1", "replies": ["1"]}
    resp = send(admin_client, f"{API}/rules/", {**top, "follow_ups": [deep]})
    assert resp.status_code == 400
    assert list(error_fields(resp)) == ["follow_ups[0].follow_ups[0].follow_ups[0]"]
    assert "at most 3 levels" in error_fields(resp)["follow_ups[0].follow_ups[0].follow_ups[0]"][0]
    del deep["follow_ups"][0]["follow_ups"]
    resp = send(admin_client, f"{API}/rules/", {**top, "follow_ups": [deep]})
    assert resp.status_code == 201, resp.content


def test_unknown_fields_are_refused_everywhere(admin_client, account):
    resp = send(admin_client, f"{API}/rules/", {"account": "shop", "name": "x", "replies": ["X"], "patern": "x"})
    assert resp.status_code == 400 and list(error_fields(resp)) == ["patern"]
    assert "match_value" in error_fields(resp)["patern"][0]  # the message lists the fields there are
    resp = send(admin_client, f"{API}/accounts/shop/", {"enabeld": False}, "patch")
    assert resp.status_code == 400 and list(error_fields(resp)) == ["enabeld"]
    resp = send(admin_client, f"{API}/accounts/shop/rules/import/", {"rules": "- name: a\n  reply: A\n",
                                                                    "dryrun": True})
    assert resp.status_code == 400 and list(error_fields(resp)) == ["dryrun"]
    resp = send(admin_client, f"{API}/menus/", {"account": "shop", "name": "m", "buttons": [], "colour": "red"})
    assert resp.status_code == 400 and list(error_fields(resp)) == ["colour"]
    resp = send(admin_client, f"{API}/rules/test/", {"account": "shop", "text": "hi", "msg": "x"})
    assert resp.status_code == 400 and list(error_fields(resp)) == ["msg"]
    assert not Rule.objects.exists()


# ---- the rule test -----------------------------------------------------------------------------------

RULES = """
- name: welcome
  match: {event: subscribe}
  reply: Welcome aboard!
- name: menu-news
  match: {event: CLICK, key: NEWS}
  reply: {type: news, articles: [{title: Today, url: 'https://x/today'}]}
- name: echo
  match: {regex: '^say (\\w+)$'}
  reply: 'You said {1}'
- name: picture
  match: {type: image}
  reply: {type: image, media_id: IMG1}
- name: where
  match: {type: location}
  reply: Nice place
- name: quiet
  match: {exact: shh}
  no_reply: true
"""


def strip(xml):
    return re.sub(r"<CreateTime>\d+</CreateTime>|<FromUserName>.*?</FromUserName>", "", xml)


def callback(client, account, xml):
    timestamp, nonce = str(int(time.time())), str(random.randint(10**8, 10**9))
    query = f"signature={wechat_signature(account.token, timestamp, nonce)}&timestamp={timestamp}&nonce={nonce}"
    resp = client.post(f"/wechat/callback/{account.name}/?{query}", xml, content_type="text/xml")
    assert resp.status_code == 200, resp.content
    return resp


CASES = [
    ({"type": "text", "text": "say hello"}, message_xml("text", Content="say hello"), "echo"),
    ({"type": "event", "event": "subscribe"}, message_xml("event", Event="subscribe"), "welcome"),
    ({"type": "event", "event": "CLICK", "key": "NEWS"}, message_xml("event", Event="CLICK", EventKey="NEWS"),
     "menu-news"),
    ({"type": "image"}, message_xml("image", PicUrl="https://x/p.jpg", MediaId="M1"), "picture"),
    ({"type": "location", "lat": 23.1, "lng": 113.3, "text": "Home"},
     message_xml("location", Location_X="23.1", Location_Y="113.3", Scale="15", Label="Home"), "where"),
    ({"type": "text", "text": "shh"}, message_xml("text", Content="shh"), "quiet"),
    ({"type": "text", "text": "anything else"}, message_xml("text", Content="anything else"), None),
]


@pytest.mark.parametrize("body, xml, rule_name", CASES, ids=[c[2] or "unmatched" for c in CASES])
def test_the_rule_test_answers_like_a_signed_callback_and_writes_nothing(admin_client, client, body, xml,
                                                                         rule_name):
    account = make_account()
    account.no_match_reply = "Sorry, I did not get that."
    account.save()
    import_rules(account, RULES)
    resp = send(admin_client, f"{API}/rules/test/", {"account": "shop", "user": "oUser0001", **body})
    assert resp.status_code == 200, resp.content
    answer = resp.json()
    assert MessageLog.objects.count() == 0  # nothing logged

    real = callback(client, account, xml)
    assert real.status_code == 200
    log = MessageLog.objects.get()
    assert (answer["rule"] or {}).get("name") == (rule_name or None) == (log.rule_name or None)
    if rule_name:
        assert answer["rule"]["id"] == log.rule_id == Rule.objects.get(name=rule_name).pk
    assert answer["status"] == log.status
    assert answer["reply"] == log.reply
    assert answer["matched"] == (rule_name is not None)
    if answer["reply"] is None:
        assert answer["xml"] == "" and real.content == b"success"
    else:  # the same reply XML but for CreateTime
        # the same reply XML but for the time and the account's own id (the test says gh_<name>)
        assert strip(answer["xml"]) == strip(real.content.decode())


def test_the_rule_test_reads_a_pending_conversation_and_leaves_it(admin_client, client):
    account = make_account()
    import_rules(account, [GAME_DIALECT])
    callback(client, account, message_xml("text", user="oUser0001", Content="game"))
    for _ in range(3):  # repeated tests all see the conversation, untouched
        resp = send(admin_client, f"{API}/rules/test/", {"account": "shop", "user": "oUser0001", "text": "nope"})
        assert resp.json()["rule"]["name"] == "game.other"
        assert resp.json()["follow_up_pending"] is False
    # ...and the real next message still finds it pending.
    callback(client, account, message_xml("text", user="oUser0001", Content="7"))
    assert MessageLog.objects.order_by("-id").first().rule_name == "game.pick"
    assert MessageLog.objects.count() == 2


@pytest.mark.parametrize("body, field", [
    ({"account": "shop", "type": "text"}, "text"),
    ({"account": "shop", "type": "event"}, "event"),
    ({"account": "shop", "type": "location", "lat": 1}, "lng"),
    ({"account": "shop", "type": "link"}, "url"),
    ({"account": "shop", "type": "sticker"}, "type"),
    ({"account": "shop", "text": "a\x00b"}, "text"),
    ({"account": "nope", "text": "hi"}, "account"),
    ({"account": "shop", "type": "location", "lat": 91, "lng": 0}, "lat"),
])
def test_the_rule_test_validates_its_message(admin_client, account, body, field):
    resp = send(admin_client, f"{API}/rules/test/", body)
    assert resp.status_code == 400 and field in error_fields(resp), resp.content


def test_the_rule_test_permissions(client, account):
    other = make_account("other")
    Rule.objects.create(account=other, name="secret", match_kind="contains", match_value="hi", replies=["S"])
    body = {"account": "other", "text": "hi"}
    assert send(client, f"{API}/rules/test/", body).status_code in (401, 403)  # anonymous
    user = get_user_model().objects.create_user("staff", password=None, is_staff=True)
    client.force_login(user)
    assert send(client, f"{API}/rules/test/", body).status_code == 403  # no view_rule permission
    user.user_permissions.add(Permission.objects.get(codename="view_rule"))
    AccountMembership.objects.create(user=user, account=account)
    resp = send(client, f"{API}/rules/test/", body)  # not granted: as if the account did not exist
    assert resp.status_code == 400 and error_fields(resp) == {
        "account": ["No account named 'other' that you can access."]}
    AccountMembership.objects.create(user=user, account=other)
    resp = send(client, f"{API}/rules/test/", body)
    assert resp.status_code == 200 and resp.json()["rule"]["name"] == "secret"
