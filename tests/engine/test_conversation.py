"""Follow-up conversations (webot replies / wait rules), code rules and reply hooks."""
import pytest

from wechat_app.engine import (
    NO_REPLY, Engine, EngineContext, FollowUp, MemoryStateStore, RuleIndex, RuleRegistry, RuleSpec,
    RuleSpecError,
)
from wechat_app.protocol.replies import TextReply

from .helpers import content, event, spec, text


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def game_rules(retries=2, timeout=300):
    pick = spec("game.1", "regex", r"^([1-9])$", "You picked {1}")
    return [
        spec("game", "regex", "^game$", "Pick a number from 1 to 9",
             follow_up=FollowUp(rules=(pick,), timeout=timeout, retries=retries)),
        spec("hello", "contains", "hello", "hi there"),
        spec("menu", "event", "CLICK", "menu clicked"),
        spec("fallback", "default", reply="Sorry?"),
    ]


@pytest.fixture
def clock():
    return Clock()


def make_engine(rules, clock, **kwargs):
    return Engine(RuleIndex(rules), store=MemoryStateStore(clock=clock), **kwargs)


class TestFollowUps:
    def test_answer_within_the_conversation(self, clock):
        engine = make_engine(game_rules(), clock)
        first = engine.respond(text("game"), state_key="u1")
        assert content(first) == "Pick a number from 1 to 9" and first.follow_up_pending
        second = engine.respond(text("7"), state_key="u1")
        assert content(second) == "You picked 7" and second.rule.name == "game.1"
        assert not second.follow_up_pending
        # The conversation is over: "7" alone is now an ordinary message.
        assert content(engine.respond(text("7"), state_key="u1")) == "Sorry?"

    def test_follow_up_rules_only_apply_while_waiting(self, clock):
        engine = make_engine(game_rules(), clock)
        assert content(engine.respond(text("5"), state_key="u1")) == "Sorry?"

    def test_follow_up_beats_a_higher_priority_rule(self, clock):
        rules = game_rules() + [spec("urgent", "regex", "^[0-9]$", "urgent", priority=99)]
        engine = make_engine(rules, clock)
        engine.respond(text("game"), state_key="u1")
        assert content(engine.respond(text("3"), state_key="u1")) == "You picked 3"

    def test_retries_re_ask_then_give_up(self, clock):
        engine = make_engine(game_rules(retries=2), clock)
        engine.respond(text("game"), state_key="u1")
        for _ in range(2):
            again = engine.respond(text("banana"), state_key="u1")
            assert content(again) == "Pick a number from 1 to 9"
            assert again.rule.name == "game" and again.follow_up_pending
        # Retries exhausted: processed normally, and the state is gone.
        given_up = engine.respond(text("hello"), state_key="u1")
        assert content(given_up) == "hi there" and not given_up.follow_up_pending
        assert content(engine.respond(text("4"), state_key="u1")) == "Sorry?"

    def test_retries_left_is_visible_to_handlers(self, clock):
        seen = []

        def answer(message, context):
            seen.append(context.retries_left)
            return None

        rules = [spec("q", "exact", "q", "Question?", follow_up=FollowUp(
            rules=(RuleSpec(name="q.1", kind=None, handler=answer),), retries=1))]
        engine = make_engine(rules, clock)
        engine.respond(text("q"), state_key="u1")
        engine.respond(text("x"), state_key="u1")
        assert seen == [1]

    def test_no_retries_processes_normally_at_once(self, clock):
        engine = make_engine(game_rules(retries=0), clock)
        engine.respond(text("game"), state_key="u1")
        assert content(engine.respond(text("hello"), state_key="u1")) == "hi there"
        assert content(engine.respond(text("4"), state_key="u1")) == "Sorry?"

    def test_timeout(self, clock):
        engine = make_engine(game_rules(timeout=60), clock)
        engine.respond(text("game"), state_key="u1")
        clock.now += 61
        assert content(engine.respond(text("4"), state_key="u1")) == "Sorry?"

    def test_default_timeout_applies_when_the_rule_has_none(self, clock):
        engine = make_engine(game_rules(timeout=None), clock, default_timeout=10)
        engine.respond(text("game"), state_key="u1")
        clock.now += 9
        assert content(engine.respond(text("4"), state_key="u1")) == "You picked 4"
        engine.respond(text("game"), state_key="u1")
        clock.now += 11
        assert content(engine.respond(text("4"), state_key="u1")) == "Sorry?"

    def test_events_do_not_consume_the_state(self, clock):
        engine = make_engine(game_rules(retries=0), clock)
        engine.respond(text("game"), state_key="u1")
        clicked = engine.respond(event("CLICK", "K"), state_key="u1")
        assert content(clicked) == "menu clicked" and clicked.follow_up_pending
        assert content(engine.respond(text("2"), state_key="u1")) == "You picked 2"

    def test_state_is_per_user(self, clock):
        engine = make_engine(game_rules(), clock)
        engine.respond(text("game"), state_key="u1")
        assert content(engine.respond(text("2"), state_key="u2")) == "Sorry?"
        assert content(engine.respond(text("2"), state_key="u1")) == "You picked 2"

    def test_chained_follow_ups(self, clock):
        confirm = spec("size.yes", "exact", "yes", "Ordered {1}")
        size = spec("order.size", "regex", "^(small|large)$", "Confirm {1}?",
                    follow_up=FollowUp(rules=(confirm,), retries=0))
        rules = [spec("order", "exact", "order", "Which size?", follow_up=FollowUp(rules=(size,)))]
        engine = make_engine(rules, clock)
        engine.respond(text("order"), state_key="u1")
        chained = engine.respond(text("large"), state_key="u1")
        assert content(chained) == "Confirm large?" and chained.follow_up_pending
        done = engine.respond(text("yes"), state_key="u1")
        assert content(done) == "Ordered {1}" and not done.follow_up_pending  # no captures at that step

    def test_pending_rule_removed_meanwhile(self, clock):
        store = MemoryStateStore(clock=clock)
        Engine(RuleIndex(game_rules()), store=store).respond(text("game"), state_key="u1")
        others = [r for r in game_rules() if r.name != "game"]
        result = Engine(RuleIndex(others), store=store).respond(text("5"), state_key="u1")
        assert content(result) == "Sorry?" and len(store) == 0

    def test_re_ask_repeats_the_same_question(self, clock):
        rules = [spec("q", "exact", "q", replies=["Q1?", "Q2?", "Q3?", "Q4?"],
                      follow_up=FollowUp(rules=(spec("q.1", "exact", "a", "A"),), retries=5))]
        engine = make_engine(rules, clock)
        asked = content(engine.respond(text("q"), state_key="u1"))
        assert {content(engine.respond(text("?"), state_key="u1")) for _ in range(5)} == {asked}


class TestCodeRules:
    def test_handler_returning_none_passes_to_the_next_candidate(self):
        calls = []

        def maybe(message, context):
            calls.append(context.rule.name)
            return None

        registry = RuleRegistry()
        registry.rule("maybe", contains="weather", priority=5)(maybe)
        registry.rule("city", regex=r"weather in (\w+)", priority=5)(
            lambda message, context: f"Sunny in {context.captures[1]}")
        rules = registry.rules_for("shop") + [spec("fallback", "default", reply="?")]
        result = Engine(RuleIndex(rules), store=MemoryStateStore()).respond(text("weather in Paris"), state_key="k")
        assert calls == ["maybe"] and content(result) == "Sunny in Paris" and result.rule.name == "city"

    def test_return_kinds(self):
        registry = RuleRegistry()
        registry.rule("music", exact="music")(lambda m, c: {"type": "music", "title": "T", "thumb_media_id": "M"})
        registry.rule("reply", exact="reply")(lambda m, c: TextReply(content="obj"))
        registry.rule("quiet", exact="quiet")(lambda m, c: NO_REPLY)
        registry.rule("pick", exact="pick")(lambda m, c: ["only"])
        registry.rule("bad", exact="bad")(lambda m, c: 42)
        engine = Engine(RuleIndex(registry.rules_for()), store=MemoryStateStore())
        assert engine.respond(text("music"), state_key="k").reply.title == "T"
        assert content(engine.respond(text("reply"), state_key="k")) == "obj"
        quiet = engine.respond(text("quiet"), state_key="k")
        assert quiet.matched and quiet.reply is None
        assert content(engine.respond(text("pick"), state_key="k")) == "only"
        with pytest.raises(TypeError):
            engine.respond(text("bad"), state_key="k")

    def test_predicate_and_no_condition(self):
        registry = RuleRegistry()

        @registry.rule("vip", predicate=lambda message: message.uid == "vip")
        def vip(message, context):
            return "Welcome, VIP"

        engine = Engine(RuleIndex(registry.rules_for()), store=MemoryStateStore())
        assert content(engine.respond(text("anything", uid="vip"), state_key="k")) == "Welcome, VIP"
        assert content(engine.respond(event("subscribe", uid="vip"), state_key="k")) == "Welcome, VIP"
        assert not engine.respond(text("anything", uid="other"), state_key="k").matched

    def test_accounts_filter_and_replacement_by_name(self):
        registry = RuleRegistry()
        registry.rule("shop-only", exact="x", accounts=["shop"])(lambda m, c: "shop")
        registry.rule("everyone", exact="y")(lambda m, c: "v1")
        version = registry.version
        registry.rule("everyone", exact="y")(lambda m, c: "v2")
        assert registry.version > version
        assert [s.name for s in registry.rules_for("shop")] == ["shop-only", "everyone"]
        assert [s.name for s in registry.rules_for("blog")] == ["everyone"]
        engine = Engine(RuleIndex(registry.rules_for("blog")), store=MemoryStateStore())
        assert content(engine.respond(text("y"), state_key="k")) == "v2"

    def test_exceptions_propagate(self):
        registry = RuleRegistry()

        @registry.rule("boom", exact="boom")
        def boom(message, context):
            raise RuntimeError("handler failed")

        with pytest.raises(RuntimeError, match="handler failed"):
            Engine(RuleIndex(registry.rules_for()), store=MemoryStateStore()).respond(text("boom"), state_key="k")

    def test_follow_ups_in_the_file_dialect(self):
        registry = RuleRegistry()
        registry.rule("guess", exact="guess", follow_ups={"retries": 1, "rules": {"/^(boy|girl)$/i": "It's a {1}"}})(
            lambda m, c: "Boy or girl?")
        engine = Engine(RuleIndex(registry.rules_for()), store=MemoryStateStore())
        engine.respond(text("guess"), state_key="k")
        assert content(engine.respond(text("Girl"), state_key="k")) == "It's a Girl"

    @pytest.mark.parametrize("kwargs,message", [
        ({"exact": "a", "contains": "b"}, "at most one"),
        ({"regex": "("}, "invalid regular expression"),
        ({"type": "sticker"}, "unknown message type"),
        ({"key": "K"}, "key and flags"),
    ])
    def test_invalid_code_rules(self, kwargs, message):
        with pytest.raises(RuleSpecError, match=message) as info:
            RuleRegistry().rule("broken", **kwargs)
        assert "broken" in str(info.value)


class TestHooks:
    def test_before_reply_short_circuits(self):
        rules = [spec("hi", "contains", "hi", "hello")]
        engine = Engine(RuleIndex(rules), store=MemoryStateStore(),
                        before=[lambda m, c: "maintenance" if m.uid == "blocked" else None])
        result = engine.respond(text("hi", uid="blocked"), state_key="k")
        assert content(result) == "maintenance" and result.rule is None and result.matched
        assert content(engine.respond(text("hi"), state_key="k")) == "hello"

    def test_before_reply_shares_data_with_handlers(self):
        def load_user(message, context):
            context.data["user"] = "Ada"

        rules = [spec("me", "exact", "me", handler=lambda m, c: f"You are {c.data['user']}")]
        engine = Engine(RuleIndex(rules), store=MemoryStateStore(), before=[load_user])
        assert content(engine.respond(text("me"), state_key="k", context=EngineContext())) == "You are Ada"

    def test_after_reply_may_replace_the_reply(self):
        seen = []

        def shout(message, context, reply):
            seen.append(reply)
            return reply.content.upper() if reply else None

        rules = [spec("hi", "contains", "hi", "hello")]
        engine = Engine(RuleIndex(rules), store=MemoryStateStore(), after=[shout])
        assert content(engine.respond(text("hi"), state_key="k")) == "HELLO"
        unmatched = engine.respond(text("zzz"), state_key="k")
        assert unmatched.reply is None and seen[-1] is None

    def test_after_reply_can_silence(self):
        rules = [spec("hi", "contains", "hi", "hello")]
        engine = Engine(RuleIndex(rules), store=MemoryStateStore(), after=[lambda m, c, r: NO_REPLY])
        result = engine.respond(text("hi"), state_key="k")
        assert result.matched and result.reply is None
