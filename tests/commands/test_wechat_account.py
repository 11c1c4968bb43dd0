from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from wechat_app.models import Account, MessageLog

pytestmark = pytest.mark.django_db

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def run(*args, stdin=None):
    out = StringIO()
    call_command("wechat_account", *args, stdout=out)
    return out.getvalue()


def add(name="shop", *extra):
    return run("add", name, "--app-id", "wx1234567890abcd", "--app-secret", "very-secret-value",
               "--token", "Tok3nValue", *extra)


def test_add_and_list_masks_secrets():
    assert "Added account 'shop'" in add("shop", "--aes-key", KEY, "--encrypt-mode", "safe")
    account = Account.objects.get(name="shop")
    assert (account.encrypt_mode, account.encoding_aes_key, account.token) == ("safe", KEY, "Tok3nValue")
    listing = run("list")
    assert "shop" in listing and "wx1234567890abcd" in listing and "safe" in listing
    for secret in ("very-secret-value", "Tok3nValue", KEY):
        assert secret not in listing


@pytest.mark.parametrize("extra,field", [
    (("--aes-key", "tooshort", "--encrypt-mode", "safe"), "encoding_aes_key"),
    (("--aes-key", KEY[:-1] + "!"), "encoding_aes_key"),
    (("--encrypt-mode", "safe"), "encoding_aes_key"),  # safe mode needs a key
    (("--api-base-url", "not a url"), "api_base_url"),
])
def test_add_bad_values_write_nothing(extra, field):
    with pytest.raises(CommandError) as info:
        add("shop", *extra)
    assert field in str(info.value) and "Nothing was saved" in str(info.value)
    assert KEY not in str(info.value)
    assert not Account.objects.exists()


def test_add_bad_token_and_name():
    with pytest.raises(CommandError, match="token"):
        run("add", "shop", "--app-id", "wx1234567890abcd", "--app-secret", "s", "--token", "a b")
    with pytest.raises(CommandError, match="name"):
        add("bad name/with slash")
    assert not Account.objects.exists()


def test_add_duplicate_name():
    add("shop")
    with pytest.raises(CommandError, match="already exists"):
        add("shop")
    assert Account.objects.count() == 1


def test_bad_mode_is_an_argument_error():
    with pytest.raises(CommandError):
        add("shop", "--encrypt-mode", "weird")


def test_update_and_disable():
    add("shop")
    run("update", "shop", "--aes-key", KEY, "--encrypt-mode", "compatible", "--disable")
    account = Account.objects.get(name="shop")
    assert (account.encrypt_mode, account.enabled) == ("compatible", False)
    with pytest.raises(CommandError, match="encoding_aes_key"):
        run("update", "shop", "--aes-key", "bad")
    assert Account.objects.get(name="shop").encoding_aes_key == KEY
    with pytest.raises(CommandError, match="No account named"):
        run("update", "ghost", "--enable")


def test_remove_needs_confirmation(monkeypatch):
    add("shop")
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(CommandError, match="Cancelled"):
        run("remove", "shop")
    assert Account.objects.filter(name="shop").exists()
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert "Removed account 'shop'" in run("remove", "shop")
    assert not Account.objects.exists()


def test_remove_with_yes_cascades():
    add("shop")
    account = Account.objects.get()
    MessageLog.objects.create(account=account, dedupe_key="msg:1", user="u", msg_type="text")
    assert "1 log entries" in run("remove", "shop", "--yes")
    assert not MessageLog.objects.exists()
    with pytest.raises(CommandError, match="No account named"):
        run("remove", "shop", "--yes")


def test_list_empty():
    assert "No accounts" in run("list")
