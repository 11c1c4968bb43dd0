"""webot's meaning kept: plain string patterns, Y/N, a rule's name as its pattern, follow-ups
as lists and functions, and get/delete/reset on the code-rule registry (issue 12, items 1, 2, 4, 8)."""
import pytest

from wechat_app.engine import Engine, MatchKind, MemoryStateStore, RuleIndex, RuleRegistry, RuleSpecError
from wechat_app.engine.dialect import WEBOT_SHORTHANDS, parse_rules, rule_warnings, specs_from_defs, webot_pattern
from wechat_app.protocol.replies import ReplyError, reply_from_dict

from .helpers import content, event, text


def engine_for(source):
    return Engine(RuleIndex(specs_from_defs(parse_rules(source))), store=MemoryStateStore())


def code_engine(registry):
    return Engine(RuleIndex(registry.rules_for()), store=MemoryStateStore())


def answer(engine, words, uid="u1"):
    return content(engine.respond(text(words, uid=uid), state_key=uid))


class TestPlainPatterns:
    @pytest.mark.parametrize("pattern,expected", [
        ("是机器人", ("contains", "是机器人", "")),
        ("both|不男不女", ("regex", "both|不男不女", "")),
        ("你好?", ("regex", "你好?", "")),
        ("=a", ("exact", "a", "")),
        ("/^hi$/gi", ("regex", "^hi$", "i")),
        ("Y", ("regex", WEBOT_SHORTHANDS["Y"], "i")),
        ("N", ("regex", WEBOT_SHORTHANDS["N"], "i")),
        ("yes", ("contains", "yes", "")),
    ])
    def test_webot_pattern(self, pattern, expected):
        assert webot_pattern(pattern) == expected

    def test_alternation_key_matches_each_alternative(self):
        engine = engine_for({"both|不男不女": "你丫才不男不女呢"})
        assert answer(engine, "both") == "你丫才不男不女呢"
        assert answer(engine, "你才不男不女") == "你丫才不男不女呢"
        assert answer(engine, "男") is None

    def test_keyword_without_metacharacters_stays_a_keyword(self):
        defs = parse_rules({"是机器人": "是的"})
        assert defs[0].kind == MatchKind.CONTAINS
        engine = engine_for({"是机器人": "是的"})
        assert [answer(engine, t) for t in ("你是机器人吗", "难道你是机器人?", "你是不是机器人?", "机器人")] == \
            ["是的", "是的", "是的", None]

    def test_regex_pattern_is_case_sensitive_as_in_webot(self):
        engine = engine_for({"both|none": "x"})
        assert answer(engine, "both") == "x" and answer(engine, "BOTH") is None

    @pytest.mark.parametrize("said,expected", [
        ("好", "Y"), ("yes!", "Y"), ("OK", "Y"), ("可以啊", "Y"), ("嗯", "Y"),
        ("不", "N"), ("no", "N"), ("不要了", "N"), ("算了吧", "N"), ("nope", "N"),
        ("maybe", None), ("不知道", None),
    ])
    def test_y_and_n_shorthands(self, said, expected):
        engine = engine_for("- {name: say-yes, match: {pattern: 'Y'}, reply: 'Y'}\n"
                            "- {name: say-no, match: {pattern: 'N'}, reply: 'N'}\n")
        assert answer(engine, said) == expected

    def test_invalid_regex_pattern_names_the_rule_and_the_way_out(self):
        with pytest.raises(RuleSpecError, match=r"'c\+\+'.*contains") as info:
            parse_rules({"c++": "C plus plus"})
        assert info.value.rule == "c++"
        assert parse_rules("- {name: cpp, match: {contains: 'c++'}, reply: x}")[0].kind == MatchKind.CONTAINS

    def test_refused_regex_pattern(self):
        with pytest.raises(RuleSpecError, match="look-ahead"):
            parse_rules({"a(?=b)": "x"})

    def test_export_round_trips_the_meaning(self):
        from wechat_app.engine.dialect import dump_rules

        defs = parse_rules({"both|不男不女": "x", "是机器人": "y", "Y": "z"})
        again = parse_rules(dump_rules(defs))
        assert [(d.kind, d.value, d.flags) for d in again] == [(d.kind, d.value, d.flags) for d in defs]


class TestNameAsPattern:
    def test_named_rule_without_condition_matches_its_name(self):
        registry = RuleRegistry()
        registry.rule("你好")(lambda m, c: ["你也好", "你好", "很高兴认识你"])
        spec = registry.get("你好")
        assert (spec.kind, spec.value) == (MatchKind.CONTAINS, "你好")
        engine = code_engine(registry)
        assert answer(engine, "你好呀") in {"你也好", "你好", "很高兴认识你"}
        assert not engine.respond(text("hello"), state_key="u1").matched

    def test_name_with_regex_characters_is_a_regex(self):
        registry = RuleRegistry()
        registry.rule("/(good\\s*)morning/i")(lambda m, c: "早上好, 先生")
        assert answer(code_engine(registry), "Good Morning") == "早上好, 先生"

    def test_always_keeps_the_every_message_meaning(self):
        registry = RuleRegistry()
        registry.rule("catch-all", always=True)(lambda m, c: "seen")
        engine = code_engine(registry)
        assert answer(engine, "anything") == "seen"
        assert content(engine.respond(event("subscribe"), state_key="u1")) == "seen"

    def test_unnamed_rule_runs_for_every_message(self):
        registry = RuleRegistry()

        @registry.rule()
        def test_A(message, context):
            return "You said A." if message.text == "A" else None

        spec = registry.get("test_A")
        assert spec.kind is None
        assert answer(code_engine(registry), "A") == "You said A."

    def test_predicate_alone_is_the_condition(self):
        registry = RuleRegistry()
        registry.rule("vip", predicate=lambda m: m.uid == "vip")(lambda m, c: "VIP")
        assert registry.get("vip").kind is None
        assert answer(code_engine(registry), "hello", uid="vip") == "VIP"

    def test_pattern_keyword(self):
        registry = RuleRegistry()
        registry.rule("Exact match", pattern="=a")(lambda m, c: "只有回复「a」时才会看到本消息")
        engine = code_engine(registry)
        assert answer(engine, "a") == "只有回复「a」时才会看到本消息" and answer(engine, "ab") is None

    @pytest.mark.parametrize("kwargs,message", [
        ({"always": True, "exact": "x"}, "at most one"),
        ({"pattern": "x", "contains": "y"}, "at most one"),
        ({"pattern": ""}, "non-empty"),
        ({"pattern": "/a/", "flags": "i"}, "/regex/flags"),
    ])
    def test_invalid(self, kwargs, message):
        with pytest.raises(RuleSpecError, match=message):
            RuleRegistry().rule("broken", **kwargs)


class TestFollowUpForms:
    def test_list_of_pattern_handler_in_the_dialect(self):
        source = r"""
guess my sex:
  pattern: /是男.还是女.|你.*男的女的/
  handler: 你猜猜看吶
  replies:
    - {pattern: '/^g(irl)?\??$/i', handler: 猜错}
    - {pattern: '/^b(oy)?\??$/i', handler: 猜对了}
    - {pattern: both, handler: 对你无语...}
"""
        defs = parse_rules(source)
        assert [child.name for child in defs[0].follow_ups] == ["guess my sex.1", "guess my sex.2", "guess my sex.3"]
        for said, expected in (("g?", "猜错"), ("boy", "猜对了"), ("both", "对你无语...")):
            engine = engine_for(source)
            assert answer(engine, "你是男的女的") == "你猜猜看吶"
            assert answer(engine, said) == expected

    def test_list_form_accepts_webot_keys(self):
        defs = parse_rules("- {name: hi, pattern: '=hi', handler: hello, replies: [{pattern: Y, reply: good}]}")
        assert (defs[0].kind, defs[0].value, defs[0].replies[0]["content"]) == (MatchKind.EXACT, "hi", "hello")
        assert defs[0].follow_ups[0].kind == MatchKind.REGEX

    def test_webot_and_own_key_together_is_an_error(self):
        with pytest.raises(RuleSpecError, match="either handler or reply"):
            parse_rules("- {name: hi, pattern: hi, handler: a, reply: b}")

    def test_a_file_cannot_leave_out_the_pattern_of_a_follow_up(self):
        with pytest.raises(RuleSpecError, match="needs a match"):
            parse_rules("- {name: q, match: {exact: q}, reply: Q, follow_ups: [{reply: A}]}")

    def test_python_list_with_handlers(self):
        registry = RuleRegistry()
        seen = []

        def girl(message, context):
            seen.append(context.rule.name)
            return "猜错"

        registry.rule("guess", pattern="guess", follow_ups=[
            {"pattern": "/^g(irl)?\\??$/i", "handler": girl},
            {"pattern": "/^b(oy)?\\??$/i", "handler": "猜对了"},
            {"pattern": lambda message: message.text == "both", "handler": lambda m, c: "对你无语..."},
        ])(lambda m, c: "你猜猜看吶")
        for said, expected in (("girl", "猜错"), ("b", "猜对了"), ("both", "对你无语..."), ("?", None)):
            engine = code_engine(registry)
            assert answer(engine, "guess") == "你猜猜看吶"
            assert answer(engine, said) == expected
        assert seen == ["guess.1"]

    def test_python_function_answers_any_reply(self):
        registry = RuleRegistry()
        registry.rule("secret", follow_ups=lambda m, c: "嘻嘻, 不告诉你")(lambda m, c: "你想知道吗?")
        engine = code_engine(registry)
        assert answer(engine, "tell me the secret") == "你想知道吗?"
        assert answer(engine, "yes") == "嘻嘻, 不告诉你"
        assert answer(engine, "yes") is None  # the conversation ended

    def test_python_function_with_timeout_and_retries(self):
        registry = RuleRegistry()
        registry.rule("secret", follow_ups={"timeout": 60, "retries": 1, "rules": lambda m, c: "ok"})(
            lambda m, c: "?")
        follow_up = registry.get("secret").follow_up
        assert (follow_up.timeout, follow_up.retries, follow_up.rules[0].kind) == (60, 1, None)

    def test_python_mapping_with_function_values(self):
        registry = RuleRegistry()
        registry.rule("guess my sex", pattern="/男的女的/", follow_ups={
            "/女|girl/i": "人家才不是女人呢",
            "/.*/": lambda m, c: "看来你真的不想猜啊",
        })(lambda m, c: "你猜猜看吶")
        engine = code_engine(registry)
        assert answer(engine, "男的女的") == "你猜猜看吶"
        assert answer(engine, "whatever") == "看来你真的不想猜啊"

    def test_files_cannot_smuggle_functions(self):
        with pytest.raises(RuleSpecError):
            parse_rules([{"name": "x", "pattern": "x", "handler": print}])


class TestRegistryGetDeleteReset:
    def test_get_delete_reset(self):
        registry = RuleRegistry()
        registry.rule("rule1", pattern="hello")(lambda m, c: "hello")
        registry.rule("rule2", pattern="bye")(lambda m, c: "bye")
        registry.before_reply(lambda m, c: None)
        registry.wait_rule("wait_guess")(lambda m, c: "guess")
        assert registry.get("rule1").name == "rule1" and registry.get("nope") is None
        version = registry.version
        assert registry.delete("rule1") is True and registry.delete("rule1") is False
        assert registry.version > version and registry.get("rule1") is None
        assert [s.name for s in registry.rules_for()] == ["rule2"]
        assert list(registry.wait_rules_for(None)) == ["wait_guess"]
        registry.reset()
        assert registry.rules_for() == [] and registry.before_hooks() == []
        assert registry.wait_rules_for(None) == {}

    def test_update_is_registering_again(self):
        registry = RuleRegistry()
        registry.rule("rule1", pattern="a")(lambda m, c: "a")
        registry.rule("other", pattern="b")(lambda m, c: "b")
        registry.rule("rule1", pattern="hello")(lambda m, c: "hello")  # webot.update('rule1', {...})
        assert [s.name for s in registry.rules_for()] == ["rule1", "other"]
        assert answer(code_engine(registry), "hello") == "hello"


class TestReplyShorthands:
    ARTICLE = {"title": "消息标题", "url": "http://example.com/a", "picUrl": "http://example.com/a.jpg",
               "description": "对消息的描述出现在这里"}

    def test_object_without_type_is_a_news_article(self):
        reply = reply_from_dict(self.ARTICLE)
        assert reply.type == "news" and reply.articles[0].pic_url == "http://example.com/a.jpg"
        assert reply.to_dict() == {"type": "news", "articles": [
            {"title": "消息标题", "description": "对消息的描述出现在这里", "url": "http://example.com/a",
             "pic_url": "http://example.com/a.jpg"}]}

    def test_list_of_articles_is_one_multi_article_reply(self):
        second = dict(self.ARTICLE, title="消息2")
        registry = RuleRegistry()
        registry.rule("news", pattern="=news")(lambda m, c: [self.ARTICLE, second])
        reply = code_engine(registry).respond(text("news"), state_key="u1").reply
        assert [a.title for a in reply.articles] == ["消息标题", "消息2"]
        defs = parse_rules({"news": {"handler": [self.ARTICLE, second]}})
        assert len(defs[0].replies) == 1 and len(defs[0].replies[0]["articles"]) == 2

    def test_article_in_a_dialog_mapping_is_a_reply_not_a_rule_object(self):
        defs = parse_rules({"about": {"title": "About", "description": "Who we are", "url": "http://x/about"}})
        assert defs[0].replies == [{"type": "news", "articles": [
            {"title": "About", "description": "Who we are", "url": "http://x/about"}]}]

    def test_list_of_strings_stays_a_random_pick(self):
        assert len(parse_rules({"hi": ["好吧", "你好"]})[0].replies) == 2

    def test_music_camel_case_and_url_shorthands(self):
        reply = reply_from_dict({"type": "music", "title": "Music 101", "musicUrl": "http://x/x.mp3",
                                 "hqMusicUrl": "http://x/x.m4a", "thumbMediaId": "T"})
        assert (reply.music_url, reply.hq_music_url, reply.thumb_media_id) == ("http://x/x.mp3", "http://x/x.m4a", "T")
        short = reply_from_dict({"type": "music", "url": "http://x/a.mp3", "hqUrl": "http://x/a.m4a"})
        assert (short.music_url, short.hq_music_url) == ("http://x/a.mp3", "http://x/a.m4a")

    def test_same_field_twice_is_an_error(self):
        with pytest.raises(ReplyError, match="twice"):
            reply_from_dict({"type": "music", "url": "http://x/a.mp3", "music_url": "http://x/b.mp3"})

    def test_music_without_thumb_media_id_is_a_warning(self):
        defs = parse_rules({"test music message": {"type": "music", "url": "http://example.com/a.mp3"}})
        assert defs[0].replies == [{"type": "music", "music_url": "http://example.com/a.mp3"}]
        assert rule_warnings(defs) == ["rule 'test music message': music reply has no thumb_media_id: WeChat "
                                       "expects the media id of a cover image (ThumbMediaId) and may not show "
                                       "the music without it"]
        assert rule_warnings(parse_rules({"m": {"type": "music", "url": "http://x/a", "thumb_media_id": "T"}})) == []

    def test_unknown_article_field_is_named(self):
        with pytest.raises(RuleSpecError, match="article 1 has unknown field"):
            parse_rules({"x": {"handler": {"title": "t", "colour": "red"}}})


def test_shipped_dialog_example_keeps_webot_meaning():
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "examples" / "dialog.yaml").read_text(encoding="utf-8")
    for said, expected in (("both", "你丫才不男不女呢"), ("BOY", "是的,我就是翩翩公子一枚")):
        engine = engine_for(source)
        assert answer(engine, "guess my sex") == "你猜猜看吶"
        assert answer(engine, said) == expected
    for said, expected in (("girl?", "Wrong"), ("b", "Right"), ("不要", "OK, maybe later")):
        engine = engine_for(source)
        assert answer(engine, "boy or girl") == "Guess!"
        assert answer(engine, said) == expected


def test_follow_ups_of_an_unnamed_rule_are_named_after_the_function():
    registry = RuleRegistry()

    @registry.rule(always=True, follow_ups=lambda m, c: "thanks")
    def survey(message, context):
        return "How was it?" if message.text == "survey" else None

    assert [r.name for r in registry.get("survey").follow_up.rules] == ["survey.1"]


def test_a_name_that_is_no_valid_pattern_says_how_to_keep_the_old_meaning():
    with pytest.raises(RuleSpecError, match=r"'c\+\+ help'.*always=True"):
        RuleRegistry().rule("c++ help")
    RuleRegistry().rule("c++ help", always=True)
