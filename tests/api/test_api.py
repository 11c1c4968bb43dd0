import json

import pytest
from django.contrib.auth import get_user_model

from wechat_app.models import Account, MessageLog, Rule
from tests.api_errors import error_fields, message

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(user)
    return client


@pytest.fixture
def account():
    return Account.objects.create(name="shop", app_id="wx1234567890abcdef", app_secret="S3cr3tValue0001",
                                  token="tok123", encoding_aes_key=AES_KEY, encrypt_mode="safe")


def post_json(client, url, data, method="post"):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json")


def test_account_secrets_are_write_only(admin_client):
    resp = post_json(admin_client, "/wechat/api/accounts/", {
        "name": "news", "app_id": "wxabcdef1234567890", "app_secret": "TopSecretValue42",
        "token": "tok456", "encoding_aes_key": AES_KEY, "encrypt_mode": "compatible"})
    assert resp.status_code == 201, resp.content
    body = resp.content.decode()
    for secret in ("TopSecretValue42", "tok456", AES_KEY):
        assert secret not in body
    assert resp.json()["app_secret_set"] is True
    assert resp.json()["callback_path"] == "/wechat/callback/news/"
    listing = admin_client.get("/wechat/api/accounts/").content.decode()
    assert "TopSecretValue42" not in listing and "tok456" not in listing


def test_account_with_bad_aes_key_is_refused_and_nothing_written(admin_client):
    resp = post_json(admin_client, "/wechat/api/accounts/", {
        "name": "bad", "app_id": "wxabcdef1234567890", "app_secret": "x" * 16, "token": "tok456",
        "encoding_aes_key": "too-short", "encrypt_mode": "safe"})
    assert resp.status_code == 400
    assert "43 characters" in json.dumps(resp.json())
    assert not Account.objects.filter(name="bad").exists()


def test_safe_mode_without_key_is_refused(admin_client):
    resp = post_json(admin_client, "/wechat/api/accounts/", {
        "name": "nokey", "app_id": "wxabcdef1234567890", "app_secret": "x" * 16, "token": "tok456",
        "encrypt_mode": "safe"})
    assert resp.status_code == 400
    assert "encoding_aes_key" in error_fields(resp)


def test_rule_validation_errors_name_the_field(admin_client, account):
    bad_regex = {"account": "shop", "name": "r1", "match_kind": "regex", "match_value": "(unclosed",
                 "replies": ["x"]}
    resp = post_json(admin_client, "/wechat/api/rules/", bad_regex)
    assert resp.status_code == 400 and "match_value" in error_fields(resp)
    too_many = {"account": "shop", "name": "r2", "match_kind": "exact", "match_value": "news",
                "replies": [{"type": "news", "articles": [{"title": f"t{i}"} for i in range(9)]}]}
    resp = post_json(admin_client, "/wechat/api/rules/", too_many)
    assert resp.status_code == 400 and "1 to 8 articles" in error_fields(resp)["replies"][0]
    assert not Rule.objects.exists()


def test_rule_create_and_duplicate_name(admin_client, account):
    rule = {"account": "shop", "name": "hello", "match_kind": "contains", "match_value": "hi",
            "replies": ["Hello!", {"type": "text", "content": "Hi there"}]}
    resp = post_json(admin_client, "/wechat/api/rules/", rule)
    assert resp.status_code == 201, resp.content
    assert Rule.objects.get(name="hello").position == 1
    resp = post_json(admin_client, "/wechat/api/rules/", rule)
    assert resp.status_code == 400 and "already has a rule" in error_fields(resp)["name"][0]
    assert Rule.objects.count() == 1


def grant(user, *codenames):
    from django.contrib.auth.models import Permission

    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="wechat_app",
                                                         codename__in=codenames))


def test_staff_without_access_sees_nothing(client, account):
    user = get_user_model().objects.create_user("staff", password="pw-123456789", is_staff=True)
    grant(user, "view_account")
    client.force_login(user)
    assert client.get("/wechat/api/accounts/").json()["results"] == []
    assert client.get("/wechat/api/accounts/shop/").status_code == 404


def test_anonymous_is_refused(client, account):
    assert client.get("/wechat/api/accounts/").status_code in (401, 403)


def test_message_log_filters(admin_client, account):
    MessageLog.objects.create(account=account, dedupe_key="msg:1", user="u1", msg_type="text", text="hello")
    MessageLog.objects.create(account=account, dedupe_key="msg:2", user="u2", msg_type="image")
    data = admin_client.get("/wechat/api/messages/?type=text").json()
    assert [row["user"] for row in data["results"]] == ["u1"]
    assert admin_client.get("/wechat/api/messages/?since=yesterday").status_code == 400
    assert admin_client.post("/wechat/api/messages/", {}).status_code == 405


def test_openapi_schema_is_served(admin_client):
    resp = admin_client.get("/wechat/api/schema/")
    assert resp.status_code == 200
    assert b"/wechat/api/rules/" in resp.content


def test_member_sees_and_writes_only_granted_accounts(client, account):
    from wechat_app.models import AccountMembership

    other = Account.objects.create(name="other", app_id="wx0000000000000002", app_secret="x" * 16, token="tok789")
    Rule.objects.create(account=other, name="secret-rule", match_kind="exact", match_value="x", replies=["y"])
    user = get_user_model().objects.create_user("member", password="pw-123456789", is_staff=True)
    grant(user, "view_account", "view_rule", "add_rule")
    AccountMembership.objects.create(user=user, account=account)
    client.force_login(user)
    names = [row["name"] for row in client.get("/wechat/api/accounts/").json()["results"]]
    assert names == ["shop"]
    assert client.get("/wechat/api/rules/").json()["results"] == []
    resp = post_json(client, "/wechat/api/rules/", {"account": "other", "name": "sneaky", "match_kind": "exact",
                                                   "match_value": "a", "replies": ["b"]})
    assert resp.status_code == 400 and "account" in error_fields(resp)
    resp = post_json(client, "/wechat/api/rules/", {"account": "shop", "name": "mine", "match_kind": "exact",
                                                   "match_value": "a", "replies": ["b"]})
    assert resp.status_code == 201
    assert not Rule.objects.filter(name="sneaky").exists()


RULE_FILE = """
- name: welcome
  match: {event: subscribe}
  reply: Welcome!
- name: game
  match: {regex: '^game$'}
  reply: Pick a number
  follow_ups: {retries: 1, rules: [{match: {regex: '^([1-9])$'}, reply: 'You picked {1}'}]}
"""


CREATED = ["game", "game.1", "welcome"]  # a follow-up without a name is named after its parent


def test_rule_import_dry_run_then_apply_then_export(admin_client, account):
    url = "/wechat/api/accounts/shop/rules/import/"
    resp = post_json(admin_client, url, {"rules": RULE_FILE, "dry_run": True})
    assert resp.status_code == 200, resp.content
    assert sorted(resp.json()["created"]) == CREATED, resp.json()
    assert resp.json()["dry_run"] is True and not Rule.objects.exists()
    resp = post_json(admin_client, url, {"rules": RULE_FILE})
    assert resp.status_code == 200 and Rule.objects.filter(account=account, parent=None).count() == 2
    export = admin_client.get("/wechat/api/accounts/shop/rules/export/?as=json")
    assert export.status_code == 200 and export["Content-Type"].startswith("application/json")
    names = [rule["name"] for rule in json.loads(export.content)]
    assert names == ["welcome", "game"]
    # The export imports back unchanged.
    again = post_json(admin_client, url, {"rules": json.loads(export.content), "dry_run": True}).json()
    assert again["created"] == [] and again["updated"] == [] and set(again["unchanged"]) >= {"welcome", "game"}


def test_invalid_rule_file_names_the_rule_and_writes_nothing(admin_client, account):
    bad = "- name: broken\n  match: {regex: '(unclosed'}\n  reply: x\n"
    resp = post_json(admin_client, "/wechat/api/accounts/shop/rules/import/", {"rules": bad})
    assert resp.status_code == 400 and "broken" in error_fields(resp)["rules"][0]
    assert not Rule.objects.exists()
    assert admin_client.get("/wechat/api/accounts/shop/rules/export/?as=xml").status_code == 400


def test_rule_import_needs_access_and_permissions(client, account):
    from wechat_app.models import AccountMembership

    user = get_user_model().objects.create_user("viewer", password="pw-123456789", is_staff=True)
    grant(user, "view_account", "view_rule")
    client.force_login(user)
    url = "/wechat/api/accounts/shop/rules/import/"
    assert client.get("/wechat/api/accounts/shop/rules/export/").status_code == 404  # not a member
    AccountMembership.objects.create(user=user, account=account)
    assert client.get("/wechat/api/accounts/shop/rules/export/").status_code == 200
    # A dry run needs the import's permissions too (it does all of an import's work).
    assert post_json(client, url, {"rules": RULE_FILE, "dry_run": True}).status_code == 403
    assert post_json(client, url, {"rules": RULE_FILE}).status_code == 403
    grant(user, "add_rule", "change_rule")
    user = get_user_model().objects.get(pk=user.pk)  # forget the cached permissions
    client.force_login(user)
    replace = post_json(client, url, {"rules": RULE_FILE, "dry_run": True, "replace": True})
    assert replace.status_code == 403 and "delete" in message(replace)
    assert post_json(client, url, {"rules": RULE_FILE, "dry_run": True}).status_code == 200
    assert not Rule.objects.exists()
    assert post_json(client, url, {"rules": RULE_FILE}).status_code == 200
    assert Rule.objects.filter(account=account, parent=None).count() == 2


def test_rule_import_reports_warnings(admin_client, account):
    url = "/wechat/api/accounts/shop/rules/import/"
    music = [{"name": "song", "pattern": "=song", "handler": {"type": "music", "url": "http://example.com/a.mp3"}}]
    resp = post_json(admin_client, url, {"rules": music})
    assert resp.status_code == 200, resp.content
    assert resp.json()["created"] == ["song"]
    assert len(resp.json()["warnings"]) == 1 and "thumb_media_id" in resp.json()["warnings"][0]


def test_account_error_replies_through_the_api(admin_client, account):
    """Issue 12 item 6: readable and writable, validated (400 and nothing changed on bad input)."""
    url = f"/wechat/api/accounts/{account.name}/"
    assert admin_client.get(url).json()["no_match_reply"] == ""
    resp = post_json(admin_client, url, {"error_reply": "bad\x00"}, method="patch")
    assert resp.status_code == 400 and "error_reply" in error_fields(resp)
    resp = post_json(admin_client, url, {"no_match_reply": "Sorry?", "error_reply": "Oops"}, method="patch")
    assert resp.status_code == 200, resp.content
    account.refresh_from_db()
    assert (account.no_match_reply, account.error_reply) == ("Sorry?", "Oops")
