from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from wechat_app.models import Account, Rule

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
    assert "< [music] Song" in out.getvalue()


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
