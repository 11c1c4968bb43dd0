"""Items 9 and 10: the rules version lives in the database, bumped with the change it announces."""
import pytest
from django.core.cache import cache

from wechat_app import signals
from wechat_app.models import Account, Rule
from wechat_app.services import rule_files, rules

pytestmark = pytest.mark.django_db(transaction=True)

NEW_FILE = "- name: added\n  match: {exact: added}\n  reply: new\n"


def revision(account):
    return Account.objects.get(pk=account.pk).rules_revision


@pytest.fixture
def announced():
    received = []

    def listener(sender, account_id, **kwargs):
        received.append(account_id)

    signals.rules_changed.connect(listener)
    yield received
    signals.rules_changed.disconnect(listener)


def test_a_dry_run_import_bumps_nothing(account, announced):
    rules.get_index(account)
    stamp, before = cache.get(rules.version_key(account.pk)), revision(account)
    preview = rule_files.preview_import(account, NEW_FILE)
    assert [row["name"] for row in preview.created] == ["added"]
    assert not Rule.objects.filter(name="added").exists()
    assert revision(account) == before
    assert cache.get(rules.version_key(account.pk)) == stamp  # no process is made to rebuild
    assert announced == []

    rule_files.apply_import(account, NEW_FILE)
    assert revision(account) == before + 1
    assert cache.get(rules.version_key(account.pk)) != stamp
    assert announced == [account.pk]


def test_every_rule_change_bumps_the_revision_in_its_transaction(account):
    before = revision(account)
    rule = Rule.objects.create(account=account, name="r", match_kind="exact", match_value="r",
                               replies=[{"type": "text", "content": "r"}])
    rule.priority = 3
    rule.save()
    rule.delete()
    assert revision(account) == before + 3


def test_saving_a_stale_account_instance_keeps_the_revision(account):
    stale = Account.objects.get(pk=account.pk)
    Rule.objects.create(account=account, name="r", match_kind="exact", match_value="r",
                        replies=[{"type": "text", "content": "r"}])
    bumped = revision(account)
    stale.enabled = True
    stale.save()  # an admin form loaded before the rule change
    assert revision(account) > bumped  # never back to the value the stale instance holds


def test_a_process_without_the_cache_sees_the_revision(account, flaky_cache):
    """With the cache down, the index is trusted as long as the account's revision allows it."""
    from tests.engine.helpers import content, text

    assert content(rules.respond(account, text("hi"))) == "hello"
    flaky_cache.down = True
    Rule.objects.filter(account=account, name="hi").update(replies=[{"type": "text", "content": "v2"}])
    assert content(rules.respond(account, text("hi"))) == "hello"  # nothing says it changed
    Account.objects.filter(pk=account.pk).update(rules_revision=revision(account) + 1)
    fresh = Account.objects.get(pk=account.pk)  # as the periodic recheck reads it
    assert content(rules.respond(fresh, text("hi"))) == "v2"
