"""The Django glue: rules from the database, the compiled-index cache, respond, import/export."""
import pytest
from django.core.cache import cache

from wechat_app import signals
from wechat_app.engine import RuleSpecError, registry
from wechat_app.models import Account, Rule
from wechat_app.services import rules as service

from .helpers import content, event, text

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_indexes():
    service.clear_local_indexes()
    yield
    service.clear_local_indexes()


@pytest.fixture
def account():
    return Account.objects.create(name="shop", app_id="wx1234567890", app_secret="s" * 32, token="tok123")


def add(account, name, kind, value="", replies=("ok",), **kwargs):
    return Rule.objects.create(account=account, name=name, match_kind=kind, match_value=value,
                               replies=[{"type": "text", "content": r} for r in replies], **kwargs)


class TestRespond:
    def test_rules_from_the_database(self, account):
        add(account, "hi", "contains", "hello", ["Hi!"])
        add(account, "fallback", "default", replies=["?"])
        assert content(service.respond(account, text("hello there"))) == "Hi!"
        assert content(service.respond(account, text("zzz"))) == "?"

    def test_disabled_rules_and_their_follow_ups_are_left_out(self, account):
        parent = add(account, "q", "exact", "q", ["Question?"], enabled=False)
        add(account, "q.1", "exact", "a", ["Answer"], parent=parent)
        add(account, "a-anyway", "exact", "a", ["top-level a"])
        assert not service.respond(account, text("q")).matched
        assert content(service.respond(account, text("a"))) == "top-level a"

    def test_saving_a_rule_changes_the_next_reply(self, account):
        rule = add(account, "hi", "contains", "hello", ["v1"])
        assert content(service.respond(account, text("hello"))) == "v1"
        rule.replies = [{"type": "text", "content": "v2"}]
        rule.save()
        assert content(service.respond(account, text("hello"))) == "v2"
        rule.delete()
        assert not service.respond(account, text("hello")).matched

    def test_other_processes_see_the_change_through_the_stamp(self, account):
        add(account, "hi", "contains", "hello", ["v1"])
        service.respond(account, text("hello"))
        # Another process changed the rules: only the stamp in the shared cache tells us.
        Rule.objects.filter(name="hi").update(replies=[{"type": "text", "content": "v2"}])
        assert content(service.respond(account, text("hello"))) == "v1"
        service.bump_rules_version(account.pk)
        assert content(service.respond(account, text("hello"))) == "v2"

    def test_no_query_per_message_once_warm(self, account, django_assert_num_queries):
        for n in range(50):
            add(account, f"r{n}", "contains", f"keyword{n}", [f"reply {n}"])
        service.respond(account, text("warm up"))
        with django_assert_num_queries(0):
            for n in range(10):
                assert content(service.respond(account, text(f"say keyword{n}!"))) == f"reply {n}"

    def test_cache_flush_rebuilds(self, account):
        add(account, "hi", "contains", "hello", ["v1"])
        service.respond(account, text("hello"))
        Rule.objects.filter(name="hi").update(replies=[{"type": "text", "content": "v2"}])
        cache.clear()
        assert content(service.respond(account, text("hello"))) == "v2"

    def test_rules_changed_signal(self, account, django_capture_on_commit_callbacks):
        received = []

        def listener(sender, account_id, **kwargs):
            received.append(account_id)

        signals.rules_changed.connect(listener)
        try:
            with django_capture_on_commit_callbacks(execute=True):  # sent once the change is committed
                add(account, "hi", "contains", "hello")
        finally:
            signals.rules_changed.disconnect(listener)
        assert received == [account.pk]

    def test_follow_up_state_in_the_cache_per_namespace(self, account):
        game = add(account, "game", "regex", "^game$", ["Pick 1-9"], follow_up_retries=1, follow_up_timeout=60)
        add(account, "game.pick", "regex", "^([1-9])$", ["You picked {1}"], parent=game)
        add(account, "fallback", "default", replies=["?"])
        first = service.respond(account, text("game"))
        assert first.follow_up_pending
        stored = cache.get(service.state_key(account.pk, "user-1"))
        assert stored["path"] == ["game"] and stored["retries"] == 1
        # The simulator's namespace knows nothing of the live conversation.
        assert content(service.respond(account, text("3"), state_namespace="simulator")) == "?"
        assert content(service.respond(account, text("x"))) == "Pick 1-9"  # re-ask
        assert content(service.respond(account, text("3"))) == "You picked 3"

    def test_code_rules_and_hooks_with_account_filter(self, account):
        other = Account.objects.create(name="blog", app_id="wx0987654321", app_secret="s" * 32, token="tok456")
        add(account, "stored", "contains", "ping", ["stored pong"], priority=-1)
        with registry.isolated():
            @registry.rule("code-ping", contains="ping", accounts=["shop"])
            def ping(message, context):
                return f"code pong for {context.account.name}"

            @registry.after_reply(accounts=["blog"])
            def sign(message, context, reply):
                return (reply.content + " -- blog") if reply else "blog says hi"

            assert content(service.respond(account, text("ping"))) == "code pong for shop"
            assert content(service.respond(other, text("ping"))) == "blog says hi"
        # Unregistered again: the index is rebuilt without the code rule.
        assert content(service.respond(account, text("ping"))) == "stored pong"

    def test_code_rule_exceptions_propagate(self, account):
        with registry.isolated():
            @registry.rule("boom", exact="boom")
            def boom(message, context):
                raise ValueError("broken handler")

            with pytest.raises(ValueError, match="broken handler"):
                service.respond(account, text("boom"))

    def test_invalid_stored_rule_is_skipped(self, account):
        Rule.objects.create(account=account, name="bad", match_kind="contains", match_value="x",
                            replies=[{"type": "sticker"}])
        add(account, "good", "contains", "x", ["fine"])
        assert content(service.respond(account, text("x"))) == "fine"


ISSUE_YAML = """
- name: welcome
  match: {event: subscribe}
  reply: Welcome aboard!
- name: game
  match: {regex: '^game$'}
  reply: Pick a number from 1 to 9
  follow_ups: {timeout: 300, retries: 2, rules: [{match: {regex: '^([1-9])$'}, reply: 'You picked {1}'}]}
- name: fallback
  match: {default: true}
  reply: [Sorry?, Say again?]
"""


class TestImportExport:
    def test_import_then_answer(self, account):
        summary = service.import_rules(account, ISSUE_YAML)
        assert summary == {"created": 3, "updated": 0, "deleted": 0, "follow_ups": 1, "warnings": []}
        game = Rule.objects.get(account=account, name="game")
        assert game.follow_up_retries == 2 and game.follow_ups.get().name == "game.1"
        assert content(service.respond(account, event("subscribe"))) == "Welcome aboard!"
        service.respond(account, text("game"))
        assert content(service.respond(account, text("5"))) == "You picked 5"

    def test_round_trip(self, account):
        service.import_rules(account, ISSUE_YAML)
        exported = service.export_rules(account)
        other = Account.objects.create(name="copy", app_id="wx1111111111", app_secret="s" * 32, token="tok789")
        service.import_rules(other, exported)
        assert service.export_rules(other) == exported

    def test_update_by_name_keeps_others(self, account):
        add(account, "keep", "contains", "k", ["kept"])
        service.import_rules(account, ISSUE_YAML)
        summary = service.import_rules(account, "- {name: game, match: {exact: play}, reply: Go}")
        assert summary == {"created": 0, "updated": 1, "deleted": 0, "follow_ups": 0, "warnings": []}
        game = Rule.objects.get(account=account, name="game")
        assert game.match_kind == "exact" and not game.follow_ups.exists()
        assert Rule.objects.filter(account=account).count() == 4  # keep, welcome, game, fallback
        assert content(service.respond(account, text("play"))) == "Go"

    def test_replace(self, account):
        add(account, "old", "contains", "k")
        summary = service.import_rules(account, ISSUE_YAML, replace=True)
        assert summary["deleted"] == 1 and summary["created"] == 3
        assert not Rule.objects.filter(account=account, name="old").exists()

    def test_invalid_file_changes_nothing(self, account):
        add(account, "old", "contains", "k")
        bad = ISSUE_YAML + "- {name: broken, match: {regex: '(('}, reply: x}\n"
        with pytest.raises(RuleSpecError, match="broken"):
            service.import_rules(account, bad, replace=True)
        assert list(Rule.objects.filter(account=account).values_list("name", flat=True)) == ["old"]

    def test_name_clash_with_a_kept_follow_up(self, account):
        parent = add(account, "q", "exact", "q")
        add(account, "answer", "exact", "a", parent=parent)
        with pytest.raises(RuleSpecError, match="'answer'"):
            service.import_rules(account, "- {name: answer, match: {exact: x}, reply: y}")
        assert Rule.objects.filter(account=account).count() == 2
