"""Rule matching through the compiled index: each match kind, case folding, precedence."""

import pytest

from wechat_app.engine import Engine, MemoryStateStore, RuleIndex
from wechat_app.engine import index as index_module
from wechat_app.engine.spec import compile_regex

from .helpers import content, event, spec, text, typed, voice


def answer(specs, message):
    return Engine(RuleIndex(specs), store=MemoryStateStore()).respond(message, state_key="k")


def names(specs, message):
    return [c.spec.name for c in RuleIndex(specs).candidates(message)]


class TestExact:
    def test_case_folded_and_stripped(self):
        rules = [spec("hi", "exact", "Hello", "exact hit")]
        assert content(answer(rules, text("  hELLO \n"))) == "exact hit"

    def test_whole_text_only(self):
        rules = [spec("hi", "exact", "hello", "exact hit")]
        assert not answer(rules, text("hello there")).matched

    def test_unicode_case_folding(self):
        rules = [spec("street", "exact", "STRASSE", "ok")]
        assert content(answer(rules, text("straße"))) == "ok"


class TestContains:
    def test_keyword_anywhere_case_insensitive(self):
        rules = [spec("robot", "contains", "是机器人", "yes"), spec("hello", "contains", "HeLLo", "hi")]
        assert content(answer(rules, text("你是机器人吗"))) == "yes"
        assert content(answer(rules, text("well, hello!"))) == "hi"
        assert not answer(rules, text("nothing here")).matched

    def test_every_matching_keyword_is_a_candidate(self):
        rules = [spec("a", "contains", "apple", "A"), spec("b", "contains", "banana", "B"),
                 spec("c", "contains", "cherry", "C")]
        assert names(rules, text("banana and apple")) == ["a", "b"]

    def test_rules_sharing_a_keyword(self):
        rules = [spec("one", "contains", "x", "1"), spec("two", "contains", "X", "2")]
        assert names(rules, text("xx")) == ["one", "two"]


class TestRegex:
    def test_captures_fill_reply(self):
        rules = [spec("name", "regex", r"^my name is (\w+)(?: (\w+))?$", "Hi {1} {2}, not \\{1}", flags="i")]
        result = answer(rules, text("My name is Ada"))
        assert content(result) == "Hi Ada , not {1}"
        assert result.captures == ("My name is Ada", "Ada", "")

    def test_case_sensitive_without_flag(self):
        rules = [spec("g", "regex", "^Game$", "ok")]
        assert not answer(rules, text("game")).matched
        assert answer(rules, text("Game")).matched

    def test_regex_without_literal_is_always_tried(self):
        rules = [spec("digits", "regex", r"^\d+$", "number {0}")]
        assert content(answer(rules, text("42"))) == "number 42"

    def test_alternatives_prefilter(self):
        rules = [spec("greet", "regex", r"^(hi|hello|hey)\b", "greeted")]
        assert content(answer(rules, text("hey you"))) == "greeted"
        assert content(answer(rules, text("hello"))) == "greeted"
        assert not answer(rules, text("yo")).matched

    @pytest.mark.parametrize("pattern,flags,sample", [
        ("σοφία", "i", "ΣΟΦΊΑ"),            # Greek capital sigma
        ("λόγος", "i", "ΛΌΓΟς"),           # final sigma is an extra case of σ
        ("kelvin", "i", "\u212aELVIN"),   # Kelvin sign folds to k
        ("(?i)mass", "", "MA\u017fS"),    # long s is an extra case of s
        ("straße", "i", "STRAẞE"),
        ("x y", "x", "xy"),               # verbose flag: whitespace is not a literal
    ])
    def test_prefilter_never_hides_a_match(self, pattern, flags, sample):
        assert compile_regex(pattern, flags).search(sample)  # the engine's own regex matches
        rules = [spec("r", "regex", pattern, "hit", flags=flags)]
        assert content(answer(rules, text(sample))) == "hit"

    def test_regexes_whose_literal_is_absent_are_not_run(self, monkeypatch):
        calls = []
        original = index_module._Regex.captures

        def spy(self, value, *args):
            calls.append(self.source)
            return original(self, value, *args)

        monkeypatch.setattr(index_module._Regex, "captures", spy)
        rules = [spec(f"r{n}", "regex", f"^order {n}$", "x") for n in range(500)]
        rules.append(spec("digits", "regex", r"^\d+$", "y"))
        idx = RuleIndex(rules)
        list(idx.candidates(text("order 7")))
        # Only the regexes with a literal in the text ("order 7" contains "order 7", "order 70"… do not)
        # and the literal-less one run.
        assert sorted(calls) == sorted(["^order 7$", r"^\d+$"])


class TestEvents:
    def test_event_name_case_folded_and_keyless_matches_any_key(self):
        rules = [spec("any-click", "event", "click", "clicked")]
        assert content(answer(rules, event("CLICK", "V1"))) == "clicked"
        assert content(answer(rules, event("CLICK", "V2"))) == "clicked"

    def test_key(self):
        rules = [spec("music", "event", "CLICK", "music", key="V1001_TODAY_MUSIC"),
                 spec("other", "event", "CLICK", "other", key="V2")]
        assert content(answer(rules, event("CLICK", "V1001_TODAY_MUSIC"))) == "music"
        assert content(answer(rules, event("CLICK", "V2"))) == "other"
        assert not answer(rules, event("CLICK", "V3")).matched
        assert not answer(rules, event("VIEW", "V2")).matched

    def test_subscribe_scene_key_with_or_without_prefix(self):
        rules = [spec("scene", "event", "subscribe", "from scene 123", key="123", priority=1),
                 spec("prefixed", "event", "subscribe", "prefixed", key="qrscene_9"),
                 spec("welcome", "event", "subscribe", "welcome")]
        assert content(answer(rules, event("subscribe", "qrscene_123"))) == "from scene 123"
        assert content(answer(rules, event("subscribe", "qrscene_9"))) == "prefixed"
        assert content(answer(rules, event("subscribe", ""))) == "welcome"
        assert content(answer(rules, event("subscribe", "qrscene_5"))) == "welcome"

    def test_events_do_not_match_text_rules_or_defaults(self):
        rules = [spec("kw", "contains", "subscribe", "kw"), spec("fallback", "default", reply="?")]
        assert not answer(rules, event("subscribe")).matched


class TestTypesAndVoice:
    def test_type(self):
        rules = [spec("img", "type", "image", "nice picture"), spec("loc", "type", "location", "where")]
        assert content(answer(rules, typed("image"))) == "nice picture"
        assert content(answer(rules, typed("location", lat=1.0))) == "where"
        assert not answer(rules, typed("link")).matched

    def test_voice_recognition_is_matched_as_text(self):
        rules = [spec("hello", "contains", "hello", "heard you"), spec("voice", "type", "voice", "a voice")]
        assert content(answer(rules, voice("Hello robot"))) == "heard you"
        assert content(answer(rules, voice())) == "a voice"


class TestPrecedence:
    def test_priority_then_definition_order(self):
        rules = [spec("first", "contains", "a", "first", position=1),
                 spec("second", "contains", "a", "second", position=2),
                 spec("urgent", "exact", "a", "urgent", priority=10, position=3)]
        assert names(rules, text("a")) == ["urgent", "first", "second"]

    def test_position_not_kind_decides(self):
        rules = [spec("contains", "contains", "ping", "c", position=1),
                 spec("exact", "exact", "ping", "e", position=2),
                 spec("regex", "regex", "^ping$", "r", position=3)]
        assert names(rules, text("ping")) == ["contains", "exact", "regex"]

    def test_default_rules_last_even_with_high_priority(self):
        rules = [spec("fallback", "default", reply="fallback", priority=100),
                 spec("low", "contains", "x", "low", priority=-5)]
        assert names(rules, text("x")) == ["low", "fallback"]
        assert content(answer(rules, text("nothing"))) == "fallback"
        assert content(answer(rules, typed("image"))) == "fallback"

    def test_code_rules_after_stored_rules_of_equal_priority(self):
        rules = [spec("code", "contains", "x", position=1, handler=lambda m, c: "code"),
                 spec("stored", "contains", "x", "stored", position=5)]
        assert names(rules, text("x")) == ["stored", "code"]


class TestReplies:
    def test_random_pick_from_the_list(self):
        import random

        rules = [spec("hi", "contains", "hi", replies=["one", "two", "three"])]
        engine = Engine(RuleIndex(rules), store=MemoryStateStore(), rng=random.Random(3))
        seen = {content(engine.respond(text("hi"), state_key="k")) for _ in range(60)}
        assert seen == {"one", "two", "three"}

    def test_typed_reply_and_captures_in_its_text_fields(self):
        news = {"type": "news", "articles": [{"title": "About {1}", "url": "http://x/{1}"}]}
        rules = [spec("news", "regex", r"^news (\w+)$", news)]
        reply = answer(rules, text("news cats")).reply
        assert reply.type == "news"
        assert reply.articles[0].title == "About cats" and reply.articles[0].url == "http://x/cats"
        # The compiled rule itself is untouched.
        assert rules[0].replies[0].articles[0].title == "About {1}"

    def test_no_reply_matches_and_stops(self):
        rules = [spec("quiet", "exact", "shh", no_reply=True), spec("fallback", "default", reply="?")]
        result = answer(rules, text("shh"))
        assert result.matched and result.reply is None and result.rule.name == "quiet"

    def test_unmatched(self):
        result = answer([spec("a", "exact", "a", "A")], text("b"))
        assert (result.matched, result.rule, result.reply) == (False, None, None)
