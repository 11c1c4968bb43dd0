"""Dynamic waits (webot info.wait / waitRule / rewait / resolve / skipReplies) and the per-user
session (webot info.session), on the pure engine with an in-memory store and a fake clock."""
import pathlib
import runpy

import pytest

from wechat_app.engine import (
    Engine, FollowUp, MemoryStateStore, RuleIndex, RuleRegistry, RuleSpecError, registry,
)

from .helpers import content, event, spec, text

GUESS_MODULE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "guess_number.py"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def engine_for(reg, clock, stored=(), **kwargs):
    return Engine(RuleIndex([*stored, *reg.rules_for(None)]), store=MemoryStateStore(clock=clock),
                  wait_rules=reg.wait_rules_for(None), before=reg.before_hooks(None), **kwargs)


def talk(engine, *texts, uid="u1"):
    replies = []
    for item in texts:
        message = item if not isinstance(item, str) else text(item, uid=uid)
        result = engine.respond(message, state_key=f"state:{uid}", session_key=f"session:{uid}")
        replies.append(content(result))
    return replies


FALLBACK = spec("fallback", "default", reply="Sorry?")


# --- the seed's guess-a-number game (examples/guess_number.py) -------------------------------------

@pytest.fixture
def game(clock):
    with registry.isolated():
        runpy.run_path(str(GUESS_MODULE))
        yield engine_for(registry, clock, stored=[FALLBACK, spec("hello", "contains", "hello", "hi")])


def test_game_right_guess(game):
    assert talk(game, "game 7", "3", "9", "7") == [
        "玩玩猜数字的游戏吧, 1~9,选一个", "小了, 还有 2 次机会, 再猜.", "大了, 还有 1 次机会, 再猜.", "你真聪明!"]
    assert talk(game, "7") == ["Sorry?"]  # the game is over: ordinary rules again


def test_game_limit_on_guesses(game):
    assert talk(game, "玩游戏 5", "1", "2", "3", "4") == [
        "玩玩猜数字的游戏吧, 1~9,选一个", "小了, 还有 2 次机会, 再猜.", "小了, 还有 1 次机会, 再猜.",
        "怎么这样都猜不出来!答案是 5 啊!", "Sorry?"]


def test_game_quit_goes_to_ordinary_rules(game):
    assert talk(game, "game 4", "hello", "4") == ["玩玩猜数字的游戏吧, 1~9,选一个", "hi", "Sorry?"]


def test_game_random_answer_is_in_session(game):
    talk(game, "game")
    answer = game.store.get("session:u1")["guess_answer"]
    assert 1 <= answer <= 9
    assert talk(game, str(answer)) == ["你真聪明!"]


def test_game_two_users_apart(game):
    assert talk(game, "game 2", uid="a") == ["玩玩猜数字的游戏吧, 1~9,选一个"]
    assert talk(game, "game 8", uid="b") == ["玩玩猜数字的游戏吧, 1~9,选一个"]
    assert talk(game, "8", uid="a") == ["大了, 还有 2 次机会, 再猜."]
    assert talk(game, "8", uid="b") == ["你真聪明!"]
    assert talk(game, "2", uid="a") == ["你真聪明!"]


def test_game_wait_times_out(game, clock):
    talk(game, "game 3")
    clock.now += 301  # FOLLOW_UP_TIMEOUT's default
    assert talk(game, "3") == ["Sorry?"]


# --- waits ---------------------------------------------------------------------------------------

def test_wait_with_inline_follow_ups_and_retries(clock):
    reg = RuleRegistry()

    @reg.rule("ask", exact="coffee?")
    def ask(message, context):
        context.wait({"/^y(es)?$/i": "Brewing", "/^no?$/i": "OK, tea then"}, retries=1)
        return "Coffee? yes/no"

    engine = engine_for(reg, clock, stored=[FALLBACK])
    assert talk(engine, "coffee?", "maybe", "YES", "yes") == ["Coffee? yes/no", "Coffee? yes/no", "Brewing", "Sorry?"]
    assert talk(engine, "coffee?", "maybe", "maybe") == ["Coffee? yes/no", "Coffee? yes/no", "Sorry?"]


def test_wait_takes_the_function_and_checks_names(clock):
    reg = RuleRegistry()

    @reg.wait_rule("confirm")
    def confirm(message, context):
        return f"confirmed {message.text}"

    @reg.rule("order", exact="order")
    def order(message, context):
        context.wait(confirm, timeout=60)
        return "Which size?"

    @reg.rule("bad", exact="bad")
    def bad(message, context):
        context.wait("nope")

    engine = engine_for(reg, clock, stored=[FALLBACK])
    assert talk(engine, "order", "large", "large") == ["Which size?", "confirmed large", "Sorry?"]
    talk(engine, "order")
    clock.now += 61  # the wait's own timeout
    assert talk(engine, "small") == ["Sorry?"]
    with pytest.raises(LookupError, match="nope"):
        talk(engine, "bad")


def test_wait_refuses_what_cannot_be_stored():
    from wechat_app.engine import EngineContext

    context = EngineContext()
    with pytest.raises(TypeError, match="@wait_rule"):
        context.wait(lambda message, context: "x")
    with pytest.raises(TypeError, match="plain data"):
        context.wait({"/x/": object()})
    with pytest.raises(RuleSpecError):
        context.wait({"/(/": "bad regex"})
    with pytest.raises(ValueError):
        context.wait({"x": "y"}, retries=-1)


def test_rewait_in_static_follow_up_counts(clock):
    """The seed's 'guess my sex': a catch-all follow-up re-asks twice, then gives up."""
    def catch_all(message, context):
        if context.rewait_count < 2:
            return context.rewait("你到底还猜不猜嘛!")
        return "看来你真的不想猜啊"

    from wechat_app.engine import RuleSpec
    from wechat_app.engine.spec import MatchKind

    follow_ups = FollowUp(rules=(
        spec("sex.girl", "regex", "女|girl", "人家才不是女人呢", flags=""),
        RuleSpec(name="sex.any", kind=MatchKind.REGEX, value=".*", handler=catch_all),
    ))
    rules = [spec("sex", "regex", "你.*男的女的", "你猜猜看吶", follow_up=follow_ups), FALLBACK]
    engine = Engine(RuleIndex(rules), store=MemoryStateStore(clock=clock))
    assert talk(engine, "你是男的女的", "?", "??", "???", "girl") == [
        "你猜猜看吶", "你到底还猜不猜嘛!", "你到底还猜不猜嘛!", "看来你真的不想猜啊", "Sorry?"]
    assert talk(engine, "你是男的女的", "?", "girl") == ["你猜猜看吶", "你到底还猜不猜嘛!", "人家才不是女人呢"]


def test_rewait_count_seen_on_automatic_re_asks(clock):
    seen = []

    def answer(message, context):
        seen.append((context.rewait_count, context.retries_left))
        return "got it"

    from wechat_app.engine import RuleSpec
    from wechat_app.engine.spec import MatchKind

    follow = FollowUp(rules=(RuleSpec(name="q.1", kind=MatchKind.REGEX, value=r"^\d$", handler=answer),),
                      retries=2)
    engine = Engine(RuleIndex([spec("q", "exact", "q", "Number?", follow_up=follow), FALLBACK]),
                    store=MemoryStateStore(clock=clock))
    assert talk(engine, "q", "x", "y", "5") == ["Number?", "Number?", "Number?", "got it"]
    assert seen == [(2, 0)]


def test_skip_replies_answers_without_waiting(clock):
    reg = RuleRegistry()

    @reg.rule("menu", exact="menu", follow_ups={"1": "one"})
    def menu(message, context):
        context.skip_replies = context.session.get("seen_menu", False)
        context.session["seen_menu"] = True
        return "1: one"

    engine = engine_for(reg, clock, stored=[FALLBACK])
    assert talk(engine, "menu", "1") == ["1: one", "one"]
    assert talk(engine, "menu", "1") == ["1: one", "Sorry?"]


def test_resolve_in_follow_up_passes_to_ordinary_rules(clock):
    reg = RuleRegistry()

    @reg.wait_rule("w")
    def w(message, context):
        if message.text == "stop":
            context.resolve()
            return None
        return context.rewait(f"again ({context.rewait_count})")

    @reg.rule("start", exact="start")
    def start(message, context):
        context.wait("w")
        return "started"

    engine = engine_for(reg, clock, stored=[FALLBACK, spec("stop", "exact", "stop", "stopped")])
    assert talk(engine, "start", "a", "b", "stop", "a") == ["started", "again (0)", "again (1)", "stopped", "Sorry?"]


def test_wait_from_a_before_hook_and_events_keep_waiting(clock):
    reg = RuleRegistry()

    @reg.wait_rule("name")
    def name(message, context):
        if message.type != "text":
            return None  # not the answer: an event leaves the wait alone
        context.session["name"] = message.text
        return f"Hello {message.text}"

    @reg.before_reply
    def ask_name(message, context):
        if message.type == "text" and "name" not in context.session and message.text == "hi":
            context.wait("name")
            return "What is your name?"

    engine = engine_for(reg, clock, stored=[FALLBACK, spec("menu", "event", "CLICK", "menu clicked")])
    assert talk(engine, "hi", event("CLICK", "K"), "Ann", "hi") == [
        "What is your name?", "menu clicked", "Hello Ann", "Sorry?"]


# --- sessions ------------------------------------------------------------------------------------

def counter_engine(clock, **kwargs):
    reg = RuleRegistry()

    @reg.rule("count", exact="count")
    def count(message, context):
        context.session["n"] = context.session.get("n", 0) + 1
        return str(context.session["n"])

    @reg.rule("peek", exact="peek")
    def peek(message, context):
        return repr(context.session)

    @reg.rule("forget", exact="forget")
    def forget(message, context):
        context.session.clear()
        return "forgotten"

    return engine_for(reg, clock, **kwargs)


class CountingStore(MemoryStateStore):
    def __init__(self, clock):
        super().__init__(clock=clock)
        self.writes = []

    def set(self, key, value, ttl):
        self.writes.append((key, ttl))
        super().set(key, value, ttl)


def test_session_per_user_saved_only_when_changed(clock):
    engine = counter_engine(clock, session_timeout=100)
    engine.store = store = CountingStore(clock)
    assert talk(engine, "count", "count", uid="a") == ["1", "2"]
    assert talk(engine, "count", uid="b") == ["1"]
    assert store.writes == [("session:a", 100), ("session:a", 100), ("session:b", 100)]
    assert talk(engine, "peek", "peek", uid="a") == ["{'n': 2}", "{'n': 2}"]
    assert len(store.writes) == 3  # reading changes nothing, writes nothing
    assert talk(engine, "forget", "peek", uid="a") == ["forgotten", "{}"]
    assert store.get("session:a") is None  # emptied: deleted


def test_session_expires_after_ttl(clock):
    engine = counter_engine(clock, session_timeout=100)
    assert talk(engine, "count", "count") == ["1", "2"]
    clock.now += 99
    assert talk(engine, "count") == ["3"]  # a change refreshes the TTL
    clock.now += 99
    assert talk(engine, "count") == ["4"]
    clock.now += 101
    assert talk(engine, "count") == ["1"]


def test_session_not_saved_when_a_rule_raises(clock):
    reg = RuleRegistry()

    @reg.rule("boom", exact="boom")
    def boom(message, context):
        context.session["half"] = True
        raise RuntimeError("bug")

    engine = engine_for(reg, clock)
    with pytest.raises(RuntimeError):
        talk(engine, "boom")
    assert engine.store.get("session:u1") is None


def test_session_nested_values_are_copies(clock):
    reg = RuleRegistry()

    @reg.rule("add", exact="add")
    def add(message, context):
        context.session.setdefault("items", []).append(len(context.session.get("items", [])))
        return str(context.session["items"])

    engine = engine_for(reg, clock)
    assert talk(engine, "add", "add", "add") == ["[0]", "[0, 1]", "[0, 1, 2]"]


def test_ended_stops_the_rules_unmatched(clock):
    """webot's info.ended: no further rule runs and the message counts as unmatched."""
    reg = RuleRegistry()

    @reg.rule("gate", regex=r"^secret")
    def gate(message, context):
        context.ended = True

    engine = engine_for(reg, clock, stored=[FALLBACK])
    result = engine.respond(text("secret stuff"), state_key="s")
    assert (result.reply, result.matched, result.rule.name) == (None, False, "gate")
    assert talk(engine, "other") == ["Sorry?"]
