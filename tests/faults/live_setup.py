"""Prepares the live fault test's own database (``setup``) or changes a rule there (``change``).

Run as ``python -m tests.faults.live_setup setup [plain|safe]|change`` with DATABASE_URL / REDIS_URL /
DJANGO_SETTINGS_MODULE of the test's servers.
"""
import sys

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from wechat_app.models import Account, Rule  # noqa: E402
from wechat_app.services.rules import import_rules  # noqa: E402

if __name__ == "__main__":
    if sys.argv[1] == "setup":
        call_command("migrate", verbosity=0)
        safe = sys.argv[2:] == ["safe"]  # the account's mode: plain (default) or safe (encrypted)
        account = Account.objects.create(name="shop", app_id="wx00000000000000aa", app_secret="s" * 32,
                                         token="tok123", encrypt_mode="safe" if safe else "plain",
                                         encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" if safe else "")
        import_rules(account, "- name: hi\n  match: {exact: hi}\n  reply: hello\n"
                              "- name: fallback\n  match: {default: true}\n  reply: what?\n")
    else:
        rule = Rule.objects.get(name="hi")
        rule.replies = [{"type": "text", "content": "hello v2"}]
        rule.save()
