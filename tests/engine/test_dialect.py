"""The webot-compatible rule-file dialect: both forms, errors naming the rule, round trip."""
import json

import pytest

from wechat_app.engine import Engine, MatchKind, MemoryStateStore, RuleIndex, RuleSpecError
from wechat_app.engine.dialect import dump_rules, dump_text, parse_rules, specs_from_defs

from .helpers import content, event, text

ISSUE_EXAMPLE = """
- name: welcome
  match: {event: subscribe}
  reply: Welcome aboard!
- name: today-music
  match: {event: CLICK, key: V1001_TODAY_MUSIC}
  reply: {type: music, title: Song, description: Desc, music_url: 'http://x/a.mp3', hq_music_url: 'http://x/a.m4a', thumb_media_id: T1}
- name: news
  priority: 5
  match: {exact: news}
  reply: {type: news, articles: [{title: A, description: a, url: 'http://x/1', pic_url: 'http://x/1.jpg'}]}
- name: game
  match: {regex: '^game$'}
  reply: Pick a number from 1 to 9
  follow_ups: {timeout: 300, retries: 2, rules: [{match: {regex: '^([1-9])$'}, reply: 'You picked {1}'}]}
- name: quiet
  match: {exact: shh}
  no_reply: true
- name: fallback
  match: {default: true}
  reply: [Sorry?, Say again?]
"""

WEBOT_DIALOG = r"""
hi: 'hi,I am robot'
hello:
- 你好
- fine
=exact: only exactly
/key (.*)/i: '你输入了: {1}, \{1}这样写就不会被替换'
music: {type: music, title: Song, thumb_media_id: T1}
yaml:
  name: test_yaml_object
  handler: 这是一个yaml的object配置
guess my sex:
  handler: 你猜猜看吶
  replies:
    /女|girl/i: 人家才不是女人呢
    /男|boy/i: 是的
"""


def engine_for(source):
    return Engine(RuleIndex(specs_from_defs(parse_rules(source))), store=MemoryStateStore())


class TestListForm:
    def test_issue_example(self):
        defs = parse_rules(ISSUE_EXAMPLE)
        assert [d.name for d in defs] == ["welcome", "today-music", "news", "game", "quiet", "fallback"]
        assert defs[1].kind == MatchKind.EVENT and defs[1].key == "V1001_TODAY_MUSIC"
        assert defs[2].priority == 5 and defs[2].replies[0]["type"] == "news"
        assert defs[3].follow_up_timeout == 300 and defs[3].follow_up_retries == 2
        assert defs[3].follow_ups[0].name == "game.1"
        assert defs[4].no_reply and defs[5].kind == MatchKind.DEFAULT and len(defs[5].replies) == 2

    def test_issue_example_behaviour(self):
        engine = engine_for(ISSUE_EXAMPLE)
        assert content(engine.respond(event("subscribe"), state_key="u")) == "Welcome aboard!"
        assert engine.respond(event("CLICK", "V1001_TODAY_MUSIC"), state_key="u").reply.type == "music"
        assert engine.respond(text("NEWS"), state_key="u").reply.type == "news"
        assert content(engine.respond(text("game"), state_key="u")) == "Pick a number from 1 to 9"
        assert content(engine.respond(text("8"), state_key="u")) == "You picked 8"
        quiet = engine.respond(text("shh"), state_key="u")
        assert quiet.matched and quiet.reply is None
        assert content(engine.respond(text("??"), state_key="u")) in {"Sorry?", "Say again?"}

    def test_json(self):
        defs = parse_rules(json.dumps([{"name": "a", "match": {"contains": "x"}, "reply": "y"}]))
        assert defs[0].kind == MatchKind.CONTAINS and defs[0].replies == [{"type": "text", "content": "y"}]

    def test_other_match_keys(self):
        defs = parse_rules("""
- {name: t, match: {type: Image}, reply: pic}
- {name: p1, match: {pattern: '=hi'}, reply: x}
- {name: p2, match: {pattern: '/^a(b)$/i'}, reply: x}
- {name: p3, match: {pattern: 'plain'}, reply: x}
- {name: p4, match: '/x/', reply: x}
- {name: disabled, enabled: false, match: {contains: z}, reply: z}
""")
        assert [(d.kind, d.value, d.flags) for d in defs[:5]] == [
            ("type", "image", ""), ("exact", "hi", ""), ("regex", "^a(b)$", "i"),
            ("contains", "plain", ""), ("regex", "x", "")]
        assert not defs[5].enabled and [s.name for s in specs_from_defs(defs)] == ["t", "p1", "p2", "p3", "p4"]


class TestMappingForm:
    def test_webot_dialog(self):
        defs = {d.name: d for d in parse_rules(WEBOT_DIALOG)}
        assert defs["hi"].kind == MatchKind.CONTAINS
        assert len(defs["hello"].replies) == 2
        assert defs["=exact"].kind == MatchKind.EXACT and defs["=exact"].value == "exact"
        assert defs["/key (.*)/i"].kind == MatchKind.REGEX and defs["/key (.*)/i"].flags == "i"
        assert defs["music"].replies[0]["type"] == "music"
        assert defs["test_yaml_object"].value == "yaml"
        assert [c.kind for c in defs["guess my sex"].follow_ups] == [MatchKind.REGEX, MatchKind.REGEX]

    def test_webot_dialog_behaviour(self):
        engine = engine_for(WEBOT_DIALOG)
        assert content(engine.respond(text("KEY abc"), state_key="u")) == "你输入了: abc, {1}这样写就不会被替换"
        assert content(engine.respond(text("say hi"), state_key="u")) == "hi,I am robot"
        assert not engine.respond(text("=exact!"), state_key="u").matched
        assert content(engine.respond(text("exact"), state_key="u")) == "only exactly"
        assert content(engine.respond(text("guess my sex"), state_key="u")) == "你猜猜看吶"
        assert content(engine.respond(text("BOY"), state_key="u")) == "是的"


class TestErrors:
    @pytest.mark.parametrize("source,fragment", [
        ("- {name: bad, match: {regex: '(('}, reply: x}", "invalid regular expression"),
        ("- {name: bad, match: {contains: x}, reply: x, colour: red}", "unknown key(s) colour"),
        ("- {name: bad, match: {contain: x}, reply: x}", "unknown match key(s) contain"),
        ("- {name: bad, match: {contains: x, exact: y}, reply: x}", "exactly one"),
        ("- {name: bad, match: {contains: [x]}, reply: x}", "contains must be text"),
        ("- {name: bad, match: {contains: x}, reply: x, priority: high}", "priority must be an integer"),
        ("- {name: bad, match: {contains: x}, reply: x, enabled: 'yes'}", "enabled must be true or false"),
        ("- {name: bad, match: {contains: x}}", "needs at least one reply"),
        ("- {name: bad, match: {contains: x}, reply: x, no_reply: true}", "cannot also have replies"),
        ("- {name: bad, match: {contains: x}, reply: {type: sticker}}", "unknown reply type"),
        ("- {name: bad, match: {contains: x}, reply: {type: news, articles: []}}", "1 to 8 articles"),
        ("- {name: bad, match: {exact: x, key: K}, reply: x}", "event key only applies"),
        ("- {name: bad, match: {type: sticker}, reply: x}", "unknown message type"),
        ("- {name: bad, match: {default: false}, reply: x}", "default must be true"),
        ("- {name: bad, match: {regex: x, flags: q}, reply: x}", "unknown regex flag"),
        ("- {name: bad, match: {contains: x}, reply: y, follow_ups: {retries: -1, rules: []}}", "retries must be"),
        ("- {name: bad, match: {contains: x}, reply: y, follow_ups: {rules: [{match: {regex: '['}, reply: z}]}}",
         "invalid regular expression"),
    ])
    def test_error_names_the_rule(self, source, fragment):
        source = "- {name: good, match: {contains: ok}, reply: fine}\n" + source
        with pytest.raises(RuleSpecError) as info:
            parse_rules(source)
        assert fragment in str(info.value)
        assert "'bad" in str(info.value) and info.value.rule.startswith("bad")

    def test_follow_up_error_names_the_follow_up(self):
        with pytest.raises(RuleSpecError) as info:
            parse_rules("- {name: q, match: {exact: q}, reply: Q, follow_ups: [{match: {regex: '('}, reply: A}]}")
        assert info.value.rule == "q.1"

    @pytest.mark.parametrize("source,fragment", [
        ("", "empty"),
        ("42", "a mapping"),
        ("- [1]", "rule '#1'"),
        ("- {match: {contains: x}, reply: y}", "needs a name"),
        ("- {name: a, match: {contains: x}, reply: y}\n- {name: a, match: {contains: z}, reply: y}", "used by another"),
        ("key: [unclosed", "invalid YAML"),
        ("/x(/: reply", "invalid regular expression"),
    ])
    def test_file_level_errors(self, source, fragment):
        with pytest.raises(RuleSpecError, match=fragment.replace("(", r"\(")):
            parse_rules(source)


class TestRoundTrip:
    @pytest.mark.parametrize("source", [ISSUE_EXAMPLE, WEBOT_DIALOG])
    def test_export_import_round_trip(self, source):
        defs = parse_rules(source)
        exported = dump_rules(defs)
        assert parse_rules(exported) == defs
        for fmt in ("yaml", "json"):
            assert parse_rules(dump_text(exported, fmt)) == defs

    def test_export_is_the_list_form(self):
        exported = dump_rules(parse_rules(ISSUE_EXAMPLE))
        assert exported[0] == {"name": "welcome", "match": {"event": "subscribe"}, "reply": "Welcome aboard!"}
        assert exported[3]["follow_ups"] == {"timeout": 300, "retries": 2, "rules": [
            {"name": "game.1", "match": {"regex": "^([1-9])$"}, "reply": "You picked {1}"}]}
        assert exported[4] == {"name": "quiet", "match": {"exact": "shh"}, "no_reply": True}
        assert exported[5]["reply"] == ["Sorry?", "Say again?"]
