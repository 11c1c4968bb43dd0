"""API tokens: created and revoked by the command and the admin, stored hashed, and what a request
with one may do (the full user x action table with tokens is in tests/test_access_matrix.py)."""
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from tests.api_errors import code, error_fields, message
from wechat_app.models import Account, AccountMembership, ApiToken, Rule
from wechat_app.models.api_tokens import hash_key
from wechat_app.services import api_tokens

pytestmark = pytest.mark.django_db
API = "/wechat/api"


@pytest.fixture
def shop():
    return Account.objects.create(name="shop", app_id="wx1234567890abcdef", app_secret="S3cr3tValue0001",
                                  token="tok123", encrypt_mode="plain")


@pytest.fixture
def other():
    return Account.objects.create(name="other", app_id="wx1234567890abcde0", app_secret="S3cr3tValue0002",
                                  token="tok456", encrypt_mode="plain")


@pytest.fixture
def editor(shop, other):
    user = get_user_model().objects.create_user("editor", password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="wechat_app", codename__in=["view_account", "view_rule", "add_rule", "change_rule"]))
    AccountMembership.objects.create(user=user, account=shop)
    AccountMembership.objects.create(user=user, account=other)
    return user


def command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("wechat_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def with_key(key, scheme="Bearer"):
    return Client(HTTP_AUTHORIZATION=f"{scheme} {key}")


# ---- the command -------------------------------------------------------------------------------

def test_create_prints_the_key_once_and_stores_only_its_hash(editor):
    out, err = command("create", "--user", "editor", "--name", "CRM sync", "--account", "shop", "--read-only",
                       "--expires-days", "30")
    key = out.strip()
    token = ApiToken.objects.get()
    assert key.startswith(token.prefix + "_") and len(key) > 40
    assert token.key_hash == hash_key(key) and key not in token.key_hash
    assert token.read_only and [a.name for a in token.accounts.all()] == ["shop"]
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert token.prefix in err and "shop" in err and key not in err
    listing, _ = command("list")
    assert token.prefix in listing and "CRM sync" in listing and "read-only" in listing and key not in listing
    assert key[len(token.prefix):] not in listing


@pytest.mark.parametrize("args, text", [
    (["--user", "nobody", "--name", "x"], "no user named 'nobody'"),
    (["--user", "editor", "--name", " "], "name: Give the token a name"),
    (["--user", "editor", "--name", "x", "--account", "ghost"], "No account named 'ghost'"),
    (["--user", "editor", "--name", "x", "--expires-days", "0"], "expires_at: Use a number of days"),
])
def test_create_refuses_bad_values_naming_them(editor, args, text):
    with pytest.raises(CommandError, match=text):
        command("create", *args)
    assert not ApiToken.objects.exists()


def test_a_token_is_limited_to_accounts_its_owner_may_access(editor):
    Account.objects.create(name="foreign", app_id="wx1234567890abcde1", app_secret="S3cr3tValue0003",
                           token="tok789", encrypt_mode="plain")
    with pytest.raises(CommandError, match="editor may not access foreign"):
        command("create", "--user", "editor", "--name", "x", "--account", "foreign")
    get_user_model().objects.create_user("plain", password=None)
    with pytest.raises(CommandError, match="not an active staff user"):
        command("create", "--user", "plain", "--name", "x")


def test_revoke_by_prefix_or_id(editor):
    key = command("create", "--user", "editor", "--name", "a")[0].strip()
    token = ApiToken.objects.get()
    assert with_key(key).get(f"{API}/accounts/").status_code == 200
    out, _ = command("revoke", token.prefix)
    assert "Revoked" in out
    resp = with_key(key).get(f"{API}/accounts/")
    assert resp.status_code == 401 and message(resp) == "This API token was revoked."
    assert "already revoked" in command("revoke", str(token.pk))[0]
    with pytest.raises(CommandError, match="No token"):
        command("revoke", "wat_00000000")
    assert "revoked" in command("list", "--user", "editor")[0]


# ---- authentication ------------------------------------------------------------------------------

def test_token_and_bearer_schemes_authenticate_and_record_last_use(editor, shop):
    token, key = api_tokens.create_token(editor, "t")
    for scheme in ("Token", "Bearer", "bearer"):
        resp = with_key(key, scheme).get(f"{API}/accounts/")
        assert resp.status_code == 200, resp.content
        assert [row["name"] for row in resp.json()["results"]] == ["other", "shop"]
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    with_key(key).get(f"{API}/accounts/")
    token.refresh_from_db()
    assert token.last_used_at == first_use  # written at most once a minute, not per request


@pytest.mark.parametrize("header, text", [
    ("Token", "Invalid Authorization header"),
    ("Token a b", "Invalid Authorization header"),
    ("Bearer wat_00000000_nope", "Invalid API token."),
    ("Bearer garbage", "Invalid API token."),
])
def test_bad_keys_answer_401_with_the_reason(editor, header, text):
    resp = Client(HTTP_AUTHORIZATION=header).get(f"{API}/accounts/")
    assert resp.status_code == 401 and code(resp) == "authentication_failed" and text in message(resp)
    assert resp["WWW-Authenticate"] == 'Token realm="api"'


def test_a_wrong_secret_with_a_real_prefix_is_refused(editor):
    token, key = api_tokens.create_token(editor, "t")
    resp = with_key(key[:-1] + ("A" if key[-1] != "A" else "B")).get(f"{API}/accounts/")
    assert resp.status_code == 401 and message(resp) == "Invalid API token."


def test_expired_token_and_inactive_owner_answer_401(editor):
    token, key = api_tokens.create_token(editor, "t")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    resp = with_key(key).get(f"{API}/accounts/")
    assert resp.status_code == 401 and message(resp) == "This API token expired."
    token2, key2 = api_tokens.create_token(editor, "t2")
    get_user_model().objects.filter(pk=editor.pk).update(is_active=False)
    resp = with_key(key2).get(f"{API}/accounts/")
    assert resp.status_code == 401 and message(resp) == "The owner of this API token is inactive."


def test_anonymous_answers_401_in_the_error_shape():
    resp = Client().get(f"{API}/rules/")
    assert resp.status_code == 401 and resp.json() == {"error": {
        "code": "not_authenticated", "message": "Authentication credentials were not provided."}}


def test_basic_auth_is_off_unless_enabled(settings, editor):
    import base64

    editor.set_password("pw-123456789")
    editor.save()
    basic = "Basic " + base64.b64encode(b"editor:pw-123456789").decode()
    assert Client(HTTP_AUTHORIZATION=basic).get(f"{API}/accounts/").status_code == 401
    settings.WECHAT_APP = {**settings.WECHAT_APP, "API_BASIC_AUTH": True}
    assert Client(HTTP_AUTHORIZATION=basic).get(f"{API}/accounts/").status_code == 200


def test_session_writes_need_the_csrf_token(editor, shop):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    data = json.dumps({"account": "shop", "name": "r", "match_kind": "contains", "match_value": "x",
                       "replies": ["y"]})
    resp = client.post(f"{API}/rules/", data, content_type="application/json")
    assert resp.status_code == 403 and "CSRF" in message(resp)
    assert not Rule.objects.exists()


# ---- what a token may do ----------------------------------------------------------------------------

def test_a_read_only_token_reads_but_never_writes(editor, shop):
    token, key = api_tokens.create_token(editor, "ro", read_only=True)
    client = with_key(key)
    assert client.get(f"{API}/rules/").status_code == 200
    resp = client.post(f"{API}/rules/", json.dumps({"account": "shop", "name": "r", "match_kind": "contains",
                                                    "match_value": "x", "replies": ["y"]}),
                       content_type="application/json")
    assert resp.status_code == 403 and code(resp) == "read_only_token"
    assert "read-only" in message(resp)
    assert not Rule.objects.exists()


def test_a_token_limited_to_one_account_sees_and_writes_only_there(editor, shop, other):
    Rule.objects.create(account=other, name="theirs", match_kind="contains", match_value="x",
                        replies=[{"type": "text", "content": "y"}])
    token, key = api_tokens.create_token(editor, "shop only", accounts=[shop])
    client = with_key(key)
    assert [row["name"] for row in client.get(f"{API}/accounts/").json()["results"]] == ["shop"]
    assert client.get(f"{API}/accounts/other/").status_code == 404
    assert client.get(f"{API}/rules/").json()["results"] == []
    resp = client.post(f"{API}/rules/", json.dumps({"account": "other", "name": "r", "match_kind": "contains",
                                                    "match_value": "x", "replies": ["y"]}),
                       content_type="application/json")
    assert resp.status_code == 400 and "account" in error_fields(resp)
    resp = client.post(f"{API}/rules/", json.dumps({"account": "shop", "name": "r", "match_kind": "contains",
                                                    "match_value": "x", "replies": ["y"]}),
                       content_type="application/json")
    assert resp.status_code == 201, resp.content
    # The owner's own session still sees both accounts: the limit is the token's.
    session = Client()
    session.force_login(editor)
    assert len(session.get(f"{API}/accounts/").json()["results"]) == 2


def test_tokens_cannot_manage_tokens(editor):
    from wechat_app.services.access import bind_token, can_manage_api_token

    token, _ = api_tokens.create_token(editor, "t")
    assert can_manage_api_token(editor)
    bind_token(editor, token)
    assert not can_manage_api_token(editor)
