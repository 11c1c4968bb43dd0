"""Bad input to the REST API answers 400 (or 404) and changes nothing; what it stores is normalized.

NUL bytes reach PostgreSQL as a 500 unless refused first, so these tests expect the refusal on
every database (SQLite would accept them silently).
"""
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from wechat_app.models import Account, AccountMembership, MessageLog, Rule
from tests.api_errors import error_fields, message

pytestmark = pytest.mark.django_db
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def account():
    return Account.objects.create(name="shop", app_id="wx1234567890abcdef", app_secret="S3cr3tValue0001",
                                  token="tok123", encoding_aes_key=AES_KEY, encrypt_mode="safe")


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789"))
    return client


def post_json(client, url, data, method="post"):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json")


@pytest.mark.parametrize("query", [
    "search=%00", "search=a%00b", "user=%00", "type=%00", "rule=%00", "account=%00", "status=%00",
    "status=nonsense", "since=2020-13-45T00:00:00", "until=2020-02-30T00:00:00", "since=yesterday",
    "since=%00", "until=99999-01-01T00:00:00", "search=" + "x" * 300,
])
def test_bad_message_log_filters_answer_400_naming_the_parameter(admin_client, account, query):
    MessageLog.objects.create(account=account, dedupe_key="msg:1", user="u1", msg_type="text", text="hello")
    resp = admin_client.get(f"/wechat/api/messages/?{query}")
    assert resp.status_code == 400, resp.content
    assert query.split("=")[0] in error_fields(resp)


@pytest.mark.parametrize("query", [
    "search=%00", "account=%00", "enabled=maybe", "kind=%00", "kind=nonsense", "top_level=%00",
])
def test_bad_rule_filters_answer_400_naming_the_parameter(admin_client, account, query):
    resp = admin_client.get(f"/wechat/api/rules/?{query}")
    assert resp.status_code == 400, resp.content
    assert query.split("=")[0] in error_fields(resp)


def test_good_filters_still_filter(admin_client, account):
    MessageLog.objects.create(account=account, dedupe_key="msg:1", user="u1", msg_type="text", text="hello")
    MessageLog.objects.create(account=account, dedupe_key="msg:2", user="u2", msg_type="image")
    rows = admin_client.get("/wechat/api/messages/?since=2000-01-01T00:00:00&user=u1&search=ell").json()["results"]
    assert [row["user"] for row in rows] == ["u1"]
    assert admin_client.get("/wechat/api/messages/?until=2000-01-01T00:00:00Z").json()["results"] == []
    parent = Rule.objects.create(account=account, name="game", match_kind="exact", match_value="game", replies=["x"])
    Rule.objects.create(account=account, name="pick", parent=parent, match_kind="contains", match_value="1",
                        replies=["y"], enabled=False)
    names = lambda query: [r["name"] for r in admin_client.get(f"/wechat/api/rules/?{query}").json()["results"]]  # noqa: E731
    assert names("top_level=true") == ["game"]
    assert names("top_level=false") == ["pick"]
    assert names("enabled=false&kind=contains&account=shop") == ["pick"]


def test_account_name_with_nul_is_not_found_or_refused(admin_client, account):
    assert admin_client.get("/wechat/api/accounts/shop%00/").status_code == 404
    assert admin_client.get("/wechat/api/accounts/sh%00op/rules/export/").status_code == 404
    resp = post_json(admin_client, "/wechat/api/accounts/", {
        "name": "bad\x00name", "app_id": "wxabcdef1234567890", "app_secret": "x" * 16, "token": "tok456",
        "encrypt_mode": "plain"})
    assert resp.status_code == 400 and "name" in error_fields(resp)
    rule = {"account": "sh\x00op", "name": "r", "match_kind": "exact", "match_value": "a", "replies": ["b"]}
    resp = post_json(admin_client, "/wechat/api/rules/", rule)
    assert resp.status_code == 400 and "account" in error_fields(resp)
    assert Account.objects.count() == 1 and not Rule.objects.exists()


@pytest.mark.parametrize("url", ["/wechat/api/rules/", "/wechat/api/accounts/shop/rules/import/"])
def test_deeply_nested_json_answers_400(admin_client, account, url):
    for depth in (100, 100_000):  # past the parser's limit; past Python's recursion limit
        body = "[" * depth + "]" * depth
        resp = admin_client.post(url, body, content_type="application/json")
        assert resp.status_code == 400, (depth, resp.content[:200])
        assert "nested" in message(resp)
    assert not Rule.objects.exists()


def test_plain_string_replies_are_stored_typed_and_export_works(admin_client, account):
    """A rule created with ``"replies": ["text"]`` used to make the export answer 500."""
    resp = post_json(admin_client, "/wechat/api/rules/", {
        "account": "shop", "name": "hello", "match_kind": "contains", "match_value": "hi",
        "replies": ["Hello!", {"type": "text", "content": "Hi there"}]})
    assert resp.status_code == 201, resp.content
    assert resp.json()["replies"] == [{"type": "text", "content": "Hello!"}, {"type": "text", "content": "Hi there"}]
    rule = Rule.objects.get(name="hello")
    assert rule.replies == [{"type": "text", "content": "Hello!"}, {"type": "text", "content": "Hi there"}]
    resp = post_json(admin_client, f"/wechat/api/rules/{rule.pk}/", {"replies": "Bye"}, method="patch")
    assert resp.status_code == 200, resp.content
    rule.refresh_from_db()
    assert rule.replies == [{"type": "text", "content": "Bye"}]
    export = admin_client.get("/wechat/api/accounts/shop/rules/export/?as=json")
    assert export.status_code == 200
    assert json.loads(export.content)[0]["reply"] == "Bye"
    assert admin_client.get(f"/admin/wechat_app/rule/export/{account.pk}/").status_code == 200


def test_parent_gives_one_answer_for_missing_and_other_accounts_rules(client, account):
    """A member of one account cannot tell another account's rule ids from ids that do not exist."""
    other = Account.objects.create(name="other", app_id="wx0000000000000002", app_secret="x" * 16, token="tok789")
    theirs = Rule.objects.create(account=other, name="theirs", match_kind="exact", match_value="x", replies=["y"])
    mine = Rule.objects.create(account=account, name="mine", match_kind="exact", match_value="x", replies=["y"])
    user = get_user_model().objects.create_user("editor", password="pw-123456789", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_rule", "add_rule", "change_rule"]))
    AccountMembership.objects.create(user=user, account=account)
    client.force_login(user)
    missing = Rule.objects.order_by("-pk").first().pk + 1000

    def answer(parent_id, method="post", url="/wechat/api/rules/"):
        resp = post_json(client, url, {"account": "shop", "name": f"f{parent_id}", "match_kind": "contains",
                                       "match_value": "a", "replies": ["b"], "parent": parent_id}, method=method)
        assert resp.status_code == 400, resp.content
        return error_fields(resp)["parent"][0].replace(str(parent_id), "<id>")

    assert answer(theirs.pk) == answer(missing) == "No rule with id <id> in this account."
    assert answer(theirs.pk, "patch", f"/wechat/api/rules/{mine.pk}/") == answer(missing, "patch",
                                                                                f"/wechat/api/rules/{mine.pk}/")
    # A superuser sees both accounts: a rule of the other account gets the same answer.
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(admin)
    assert answer(theirs.pk) == answer(missing)
    assert Rule.objects.count() == 2


def test_permissions_are_checked_before_filters(client, account):
    user = get_user_model().objects.create_user("nobody", password=None, is_staff=True)
    AccountMembership.objects.create(user=user, account=account)
    client.force_login(user)
    assert client.get("/wechat/api/messages/?search=%00").status_code == 403
    assert client.get("/wechat/api/rules/?kind=nonsense").status_code == 403


def test_every_api_view_uses_the_apps_permissions_and_parsers():
    from wechat_app.api.parsers import BoundedJSONParser
    from wechat_app.api.permissions import AccountModelPermissions
    from wechat_app.api.urls import router

    for prefix, viewset, _basename in router.registry:
        assert viewset.permission_classes == [AccountModelPermissions], prefix
        assert BoundedJSONParser in viewset.parser_classes, prefix
        assert not any(parser.media_type == "application/json" and parser is not BoundedJSONParser
                       for parser in viewset.parser_classes), prefix
