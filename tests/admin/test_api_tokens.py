"""API tokens in the admin: the key shown once, the list without it, revoking, who sees whose tokens."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from wechat_app.models import Account, AccountMembership, ApiToken
from wechat_app.models.api_tokens import hash_key
from wechat_app.services import api_tokens

pytestmark = pytest.mark.django_db
URL = "/admin/wechat_app/apitoken/"


@pytest.fixture
def shop():
    return Account.objects.create(name="shop", app_id="wx1234567890abcdef", app_secret="S3cr3tValue0001",
                                  token="tok123", encrypt_mode="plain")


def staff(name, *accounts, perms=()):
    user = get_user_model().objects.create_user(name, password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wechat_app", codename__in=perms))
    for account in accounts:
        AccountMembership.objects.create(user=user, account=account)
    return user


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_a_staff_user_creates_a_token_and_sees_its_key_once(shop):
    alice = staff("alice", shop, perms=["view_account"])
    client = signed_in(alice)
    assert client.get(URL + "add/").status_code == 200
    resp = client.post(URL + "add/", {"user": alice.pk, "name": "CRM", "accounts": [shop.pk], "read_only": "on"})
    assert resp.status_code == 200, resp.content[:500]
    page = resp.content.decode()
    key = re.search(r'id="api-token-key" value="([^"]+)"', page).group(1)
    token = ApiToken.objects.get()
    assert token.user == alice and token.read_only and list(token.accounts.all()) == [shop]
    assert token.key_hash == hash_key(key) and "no-store" in resp["Cache-Control"]
    listing = client.get(URL).content.decode()
    assert token.prefix in listing and "CRM" in listing and key not in listing
    detail = client.get(f"{URL}{token.pk}/change/").content.decode()
    assert key not in detail and key[len(token.prefix):] not in detail
    assert Client(HTTP_AUTHORIZATION=f"Token {key}").get("/wechat/api/accounts/").status_code == 200


def test_bad_values_are_form_errors_and_nothing_is_saved(shop):
    alice = staff("alice")
    client = signed_in(alice)
    resp = client.post(URL + "add/", {"user": alice.pk, "name": "x", "accounts": [shop.pk]})
    assert resp.status_code == 200 and resp.context["adminform"].form.errors
    bob = staff("bob")
    resp = client.post(URL + "add/", {"user": bob.pk, "name": "x"})  # not alice's to choose
    assert resp.status_code == 200 and "user" in resp.context["adminform"].form.errors
    assert not ApiToken.objects.exists()


def test_users_see_and_revoke_only_their_own_tokens(shop):
    alice, bob = staff("alice", shop), staff("bob", shop)
    mine, _ = api_tokens.create_token(alice, "mine")
    theirs, _ = api_tokens.create_token(bob, "theirs")
    client = signed_in(alice)
    listing = client.get(URL).content.decode()
    assert mine.prefix in listing and theirs.prefix not in listing
    assert client.get(f"{URL}{theirs.pk}/change/").status_code in (302, 404)
    client.post(URL, {"action": "revoke", "_selected_action": [mine.pk, theirs.pk]})
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.is_revoked and not theirs.is_revoked


def test_the_manage_permission_and_superusers_see_every_token(shop):
    alice, bob = staff("alice", shop), staff("bob", shop, perms=["manage_all_api_tokens"])
    token, _ = api_tokens.create_token(alice, "mine")
    assert token.prefix in signed_in(bob).get(URL).content.decode()
    root = get_user_model().objects.create_superuser("root", "root@example.com", None)
    client = signed_in(root)
    assert token.prefix in client.get(URL).content.decode()
    resp = client.post(URL + "add/", {"user": alice.pk, "name": "for alice"})  # only superusers do this
    assert resp.status_code == 200 and ApiToken.objects.filter(user=alice, name="for alice").exists()
