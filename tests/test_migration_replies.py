"""The data migration that types rule replies stored as plain strings (issue 7, item 12)."""
import importlib

import pytest
from django.apps import apps

from wechat_app.models import Account, Rule

pytestmark = pytest.mark.django_db
migration = importlib.import_module("wechat_app.migrations.0007_rule_replies_typed")


def test_plain_string_replies_become_typed_and_typed_ones_are_kept():
    account = Account.objects.create(name="shop", app_id="wx1234567890abcdef", app_secret="x" * 16, token="tok123")
    news = {"type": "news", "articles": [{"title": "t", "url": "https://example.com/"}]}
    old = Rule.objects.create(account=account, name="old", match_kind="exact", match_value="a",
                              replies=["Hello", news])
    bare = Rule.objects.create(account=account, name="bare", match_kind="exact", match_value="b", replies="Hi")
    silent = Rule.objects.create(account=account, name="silent", match_kind="exact", match_value="c", replies=[],
                                 no_reply=True)
    migration.normalize_replies(apps, None)
    for rule in (old, bare, silent):
        rule.refresh_from_db()
    assert old.replies == [{"type": "text", "content": "Hello"}, news]
    assert bare.replies == [{"type": "text", "content": "Hi"}]
    assert silent.replies == []
    from wechat_app.services import rule_files

    assert "Hello" in rule_files.export_text(account, "yaml")
