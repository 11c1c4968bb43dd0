import json
import os
import re
import shlex
import shutil
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command

from wechat_app.models import Account, Rule
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.django_db


def demo(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    out = StringIO()
    call_command("wechat_demo", "--host", "127.0.0.1", "--port", "8001", stdout=out)
    return out.getvalue()


def test_demo_is_idempotent_and_prints_the_same_credentials(tmp_path, settings):
    first = demo(tmp_path, settings)
    account = Account.objects.get(name="demo")
    account.full_clean()
    assert account.encrypt_mode == "compatible" and account.crypto is not None
    assert "http://127.0.0.1:8001/admin/" in first
    assert "http://127.0.0.1:8001/wechat/callback/demo/" in first
    assert account.token in first and account.encoding_aes_key in first
    assert "wechat_send text help --account demo --url http://127.0.0.1:8001" in first
    password = (tmp_path / "var" / "demo-admin-password").read_text().strip()
    assert f"password: {password}" in first
    assert get_user_model().objects.get(username="admin").check_password(password)
    rules = Rule.objects.filter(account=account).count()
    assert rules >= 5

    second = demo(tmp_path, settings)
    assert Account.objects.count() == 1 and Rule.objects.count() == rules
    assert f"password: {password}" in second and account.token in second


def test_demo_does_not_touch_a_foreign_admin(tmp_path, settings):
    get_user_model().objects.create_superuser("admin", "a@example.com", "mine-not-yours")
    output = demo(tmp_path, settings)
    assert "password: (unchanged" in output
    assert get_user_model().objects.get(username="admin").check_password("mine-not-yours")


def test_demo_rules_are_valid(tmp_path, settings):
    demo(tmp_path, settings)
    for rule in Rule.objects.all():
        rule.full_clean()
    assert Rule.objects.filter(parent__isnull=False).exists()  # the follow-up sample


def test_demo_imports_the_example_rule_file_and_answers(tmp_path, settings):
    import shutil
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples" / "rules.yaml"
    (tmp_path / "examples").mkdir()
    shutil.copy(examples, tmp_path / "examples" / "rules.yaml")
    output = demo(tmp_path, settings)
    assert "imported" in output and "examples/rules.yaml" in output
    assert Rule.objects.filter(account__name="demo", name="welcome").exists()

    out = StringIO()
    call_command("wechat_send", "subscribe", "--account", "demo", stdout=out)
    assert "< [text] Welcome aboard!" in out.getvalue()
    out = StringIO()
    call_command("wechat_send", "click", "V1001_TODAY_MUSIC", "--account", "demo", stdout=out)
    assert "< [music] Morning Coffee Jazz" in out.getvalue()


def test_demo_points_its_account_at_the_sandbox_and_prints_it(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    out = StringIO()
    call_command("wechat_demo", "--sandbox-url", "http://127.0.0.1:8081/", stdout=out)
    account = Account.objects.get(name="demo")
    assert account.api_base_url == "http://127.0.0.1:8081"
    output = out.getvalue()
    assert "WeChat API:    http://127.0.0.1:8081 (sandbox; inspection API: http://127.0.0.1:8081/_sandbox)" in output
    assert f"wechat_push text Hello --account demo --to o{account.app_id[-6:]}0000000000" in output
    # Pointed at a real API by hand: the demo leaves it alone.
    Account.objects.filter(pk=account.pk).update(api_base_url="https://api.weixin.qq.com")
    out = StringIO()
    call_command("wechat_demo", "--sandbox-url", "http://127.0.0.1:8081", stdout=out)
    assert Account.objects.get(pk=account.pk).api_base_url == "https://api.weixin.qq.com"
    assert "WeChat API:    https://api.weixin.qq.com" in out.getvalue() and "wechat_push" not in out.getvalue()


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
USER = "oSimulatedUser000000000000001"


def with_example_rules(tmp_path):
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "rules.yaml", tmp_path / "examples" / "rules.yaml")


def answer(account, kind, *args, user=USER):
    """What the demo account's rules answer (engine result), as the callback would."""
    from wechat_app.protocol import parse_message
    from wechat_app.protocol.simulator import build_message
    from wechat_app.services.rules import respond

    return respond(account, parse_message(build_message(kind, list(args), user=user, sp="gh_demo")))


def promises(help_text):
    """The things the help reply tells the user to try: 'Try: a, b, or c or d.' -> [a, b, c, d]."""
    body = help_text.split("Try:", 1)[1].strip().rstrip(".")
    items = [re.sub(r"^(or|send)\s+", "", item.strip()) for item in re.split(r",|\s+or\s+", body)]
    return [re.sub(r"^send\s+", "", item) for item in items if item]


@pytest.mark.parametrize("rules", ["examples/rules.yaml", "built-in rules"])
def test_every_promise_of_the_help_reply_is_answered_by_a_rule(tmp_path, settings, rules):
    if rules != "built-in rules":
        with_example_rules(tmp_path)
    demo(tmp_path, settings)
    account = Account.objects.get(name="demo")
    help_reply = answer(account, "text", "help")
    assert help_reply.rule.name == "help"
    tried = promises(help_reply.reply.content)
    assert len(tried) >= 4
    for i, promise in enumerate(tried):
        user = f"oPromise{i:021d}"  # a user each: "game" starts a conversation that would hold the next
        if promise == "a picture":
            result = answer(account, "image", user=user)
        elif promise == "your location":
            result = answer(account, "location", "23.13", "113.35", "Guangzhou", user=user)
        else:  # a word to send; <placeholders> filled in
            result = answer(account, "text", re.sub(r"<[^>]+>", "Ann", promise), user=user)
        assert result.rule is not None and result.rule.name not in ("fallback", "help"), promise
        assert result.reply is not None, promise
        if promise == "music":
            assert result.reply.type == "music" and result.reply.music_url.startswith("https://")


def test_sample_rules_have_real_looking_links(tmp_path, settings):
    for rules in ("examples", "built-in"):
        Account.objects.all().delete()
        if rules == "examples":
            with_example_rules(tmp_path)
        demo(tmp_path, settings)
        for rule in Rule.objects.all():
            for reply in rule.replies:
                links = [reply.get(k) for k in ("url", "pic_url", "music_url", "hq_music_url")]
                links += [a.get(k) for a in reply.get("articles", []) for k in ("url", "pic_url")]
                for link in filter(None, links):
                    assert re.match(r"^https://[a-z0-9.-]+\.[a-z]{2,}/\S+", link), (rule.name, link)
                assert reply.get("title", "x") not in ("Song", "A"), rule.name
        shutil.rmtree(tmp_path / "examples", ignore_errors=True)
    for path in EXAMPLES.iterdir():
        assert "http://x/" not in path.read_text() and "issue" not in path.read_text().lower(), path.name


@pytest.fixture
def eager_celery():
    """As with `make run` (no broker); CI's second pass configures one."""
    from project.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.mark.django_db(transaction=True)
def test_the_printed_try_lines_work_as_printed(tmp_path, settings, sandbox, eager_celery):
    from wechat_app.management.commands.wechat_demo import python_command
    from wechat_app.management.commands.wechat_sandbox import DEMO_TEMPLATE

    with_example_rules(tmp_path)
    settings.BASE_DIR = tmp_path
    out = StringIO()
    call_command("wechat_demo", "--port", "8001", "--sandbox-url", sandbox.url, stdout=out)
    account = Account.objects.get(name="demo")
    # What `make run`'s sandbox (manage.py wechat_sandbox) knows about the demo account.
    sandbox.state.add_app(account.app_id, account.app_secret)
    sandbox.state.add_followers(account.app_id, count=5)
    sandbox.state.add_template(account.app_id, "订单支付成功", *DEMO_TEMPLATE)

    python = python_command()
    assert python == "python" or os.access(python, os.X_OK)  # .venv/bin/python from the checkout
    lines = out.getvalue().split("Try it from another shell:\n", 1)[1].strip().splitlines()
    assert len(lines) == 8
    for line in lines:
        command = shlex.split(line.split("  # ")[0])
        if command[0] == "curl":
            delivered = requests.get(command[1], timeout=10).json()
            assert "Hello" in json.dumps(delivered)
            continue
        assert command[:2] == [python, "manage.py"], line
        args = command[2:]
        if "--url" in args:  # a running server: here the callback is called in-process
            del args[args.index("--url"):args.index("--url") + 2]
        printed = StringIO()
        call_command(*args, stdout=printed, stderr=StringIO())
        if args[0] == "wechat_send":
            assert "Sorry?" not in printed.getvalue() and "Say again?" not in printed.getvalue(), line
        if args[:3] == ["wechat_send", "text", "7"]:
            assert "You picked 7" in printed.getvalue()
        if args[0] == "wechat_push":
            assert ": sent" in printed.getvalue()
