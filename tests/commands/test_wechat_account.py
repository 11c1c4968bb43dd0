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
    return run("add", name, "--app-id", "wx1234567890abcdef", "--app-secret", "very-secret-value",
               "--token", "Tok3nValue", *extra)


def test_add_and_list_masks_secrets():
    assert "Added account 'shop'" in add("shop", "--aes-key", KEY, "--encrypt-mode", "safe")
    account = Account.objects.get(name="shop")
    assert (account.encrypt_mode, account.encoding_aes_key, account.token) == ("safe", KEY, "Tok3nValue")
    listing = run("list")
    assert "shop" in listing and "wx1234567890abcdef" in listing and "safe" in listing
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
        run("add", "shop", "--app-id", "wx1234567890abcdef", "--app-secret", "s", "--token", "a b")
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


class Terminal:
    """A standard input that is a terminal (the command may ask for secrets)."""

    @staticmethod
    def isatty():
        return True


@pytest.mark.parametrize("app_id", ["wx1234567890abcd", "wx1234567890ABCDEF", "gh_1234567890ab", "1234567890abcdef12"])
def test_add_refuses_an_app_id_of_the_wrong_format(app_id):
    with pytest.raises(CommandError, match="app_id.*'wx' and 16 hexadecimal digits.*Nothing was saved"):
        run("add", "shop", "--app-id", app_id, "--app-secret", "s", "--token", "Tok3nValue")
    assert not Account.objects.exists()


def test_secrets_from_the_environment(monkeypatch):
    monkeypatch.setenv("WECHAT_APP_SECRET", "secret-from-env")
    monkeypatch.setenv("WECHAT_TOKEN", "TokenFromEnv")
    monkeypatch.setenv("WECHAT_AES_KEY", KEY)
    output = run("add", "shop", "--app-id", "wx1234567890abcdef", "--encrypt-mode", "safe")
    account = Account.objects.get(name="shop")
    assert (account.app_secret, account.token, account.encoding_aes_key) == ("secret-from-env", "TokenFromEnv", KEY)
    assert "secret-from-env" not in output and "TokenFromEnv" not in output and KEY not in output
    monkeypatch.setenv("WECHAT_APP_SECRET", "another-secret")
    run("update", "shop", "--disable")  # an update changes only what it is told to
    assert Account.objects.get(name="shop").app_secret == "secret-from-env"
    run("update", "shop", "--app-secret")  # a bare option reads the environment
    assert Account.objects.get(name="shop").app_secret == "another-secret"


def test_secrets_are_asked_for_with_hidden_input(monkeypatch):
    monkeypatch.delenv("WECHAT_APP_SECRET", raising=False)
    monkeypatch.delenv("WECHAT_TOKEN", raising=False)
    monkeypatch.setattr("sys.stdin", Terminal())
    prompts = []
    answers = {"App secret (AppSecret): ": "typed-secret", "Token: ": "TypedToken1"}
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or answers[prompt])
    output = run("add", "shop", "--app-id", "wx1234567890abcdef")
    account = Account.objects.get(name="shop")
    assert (account.app_secret, account.token) == ("typed-secret", "TypedToken1")
    assert prompts == list(answers) and "typed-secret" not in output
    answers["App secret (AppSecret): "] = "new-typed-secret"
    run("update", "shop", "--app-secret")
    assert Account.objects.get(name="shop").app_secret == "new-typed-secret"


def test_a_missing_secret_without_a_terminal_is_an_error(monkeypatch):
    monkeypatch.delenv("WECHAT_APP_SECRET", raising=False)
    monkeypatch.setattr("sys.stdin", StringIO(""))
    with pytest.raises(CommandError, match="App secret.*WECHAT_APP_SECRET.*Nothing was saved"):
        run("add", "shop", "--app-id", "wx1234567890abcdef", "--token", "Tok3nValue")
    assert not Account.objects.exists()


def test_generated_token_and_aes_key_are_printed_once():
    output = run("add", "shop", "--app-id", "wx1234567890abcdef", "--app-secret", "very-secret-value",
                 "--generate-token", "--generate-aes-key", "--encrypt-mode", "safe")
    account = Account.objects.get(name="shop")
    account.full_clean()
    assert len(account.token) == 32 and len(account.encoding_aes_key) == 43 and account.crypto is not None
    assert f"Generated Token (enter it in the WeChat console; it is not shown again): {account.token}" in output
    assert f"Generated EncodingAESKey (enter it in the WeChat console; it is not shown again): " \
           f"{account.encoding_aes_key}" in output
    listing = run("list")
    assert account.token not in listing and account.encoding_aes_key not in listing
    run("update", "shop", "--generate-aes-key")
    assert Account.objects.get(name="shop").encoding_aes_key != account.encoding_aes_key
    with pytest.raises(CommandError):  # one or the other
        run("update", "shop", "--token", "Tok3nValue", "--generate-token")
