"""Issue 7 items 4, 5, 6, 13, 14 through the Django layers: ``Rule.full_clean`` (the admin's and the
API's judge), ``import_rules`` (admin, API, ``wechat_rules``) and the bounded walks of the rule tree."""
import logging

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.test import override_settings

from wechat_app.engine import RuleSpecError
from wechat_app.models import Rule
from wechat_app.services import rules as service

from .helpers import content, text
from .test_file_limits import ALIAS_BOMB
from .test_services import _fresh_indexes, account  # noqa: F401  (fixtures: fresh indexes, the shop account)

pytestmark = pytest.mark.django_db


def rule(account, name, kind="contains", value="x", replies=None, **kwargs):
    replies = [{"type": "text", "content": "ok"}] if replies is None else replies
    return Rule(account=account, name=name, match_kind=kind, match_value=value, replies=replies, **kwargs)


def saved_chain(account, depth, prefix="c"):
    """Rules ``c1`` (top-level) ... ``c<depth>``, each a follow-up of the previous one."""
    rows, parent = [], None
    for level in range(1, depth + 1):
        parent = Rule.objects.create(account=account, name=f"{prefix}{level}", match_kind="contains",
                                     match_value=f"k{level}", replies=[{"type": "text", "content": "ok"}],
                                     parent=parent)
        rows.append(parent)
    return rows


def errors_of(instance):
    with pytest.raises(ValidationError) as err:
        instance.full_clean()
    return err.value.message_dict


# --- item 4: regexes -------------------------------------------------------------------------------

def test_full_clean_refuses_a_pattern_re2_cannot_run_and_says_why(account):
    errors = errors_of(rule(account, "dup", "regex", r"(\w+) \1"))
    assert "back-references" in errors["match_value"][0] and "linear-time" in errors["match_value"][0]
    rule(account, "redos", "regex", r"^(a+)+$").full_clean()  # accepted: RE2 runs it in linear time


def test_import_refuses_it_naming_the_rule_and_writes_nothing(account):
    file = "- {name: ok, match: {contains: a}, reply: b}\n- {name: look, match: {regex: 'a(?=b)'}, reply: c}\n"
    with pytest.raises(RuleSpecError, match=r"rule 'look'.*look-ahead"):
        service.import_rules(account, file)
    assert not Rule.objects.exists()


def test_the_redos_rule_answers_through_the_stored_rules(account):
    service.import_rules(account, "- {name: bomb, match: {regex: '^(a+)+$'}, reply: all a}\n"
                                  "- {name: fallback, match: {default: true}, reply: other}\n")
    assert content(service.respond(account, text("a" * 28 + "!"))) == "other"
    assert content(service.respond(account, text("aaaa"))) == "all a"


# --- item 5: rule files ------------------------------------------------------------------------------

def test_import_refuses_the_alias_bomb(account):
    with pytest.raises(RuleSpecError, match="aliases"):
        service.import_rules(account, ALIAS_BOMB)


@pytest.mark.parametrize("setting,value,file,message", [
    ("RULE_FILE_MAX_SIZE", 100, "- {name: a, match: {contains: a}, reply: '" + "x" * 100 + "'}", "at most 100 bytes"),
    ("RULE_FILE_MAX_RULES", 1,
     "- {name: a, match: {contains: a}, reply: b}\n- {name: c, match: {contains: c}, reply: d}", "more than 1 rules"),
    ("RULE_FILE_MAX_NESTING", 2, "- {name: a, match: {contains: a}, reply: b}", "more than 2 deep"),
    ("RULE_MAX_DEPTH", 1, "- {name: a, match: {contains: a}, reply: b, follow_ups: [{match: {contains: c}, reply: d}]}",
     "more than 1 levels"),
])
def test_import_limits_come_from_the_settings(account, setting, value, file, message):
    with override_settings(WECHAT_APP={setting: value}):
        with pytest.raises(RuleSpecError, match=message):
            service.import_rules(account, file)
    assert not Rule.objects.exists()


def test_a_deeply_nested_document_is_a_rule_error_not_a_recursion_error(account):
    with pytest.raises(RuleSpecError, match="deep"):
        service.import_rules(account, "[" * 50_000 + "]" * 50_000)
    with pytest.raises(RuleSpecError, match="deep"):
        service.import_rules(account, "x: " + "[" * 50_000 + "]" * 50_000)


# --- item 6: the rule tree ---------------------------------------------------------------------------

def test_a_rule_cannot_be_its_own_parent(account):
    top = saved_chain(account, 1)[0]
    top.parent = top
    assert "follow-up of itself" in errors_of(top)[NON_FIELD_ERRORS][0]


def test_a_rule_cannot_move_below_its_own_follow_up(account):
    first, _, third = saved_chain(account, 3)
    first.parent = third
    assert "its own follow-ups" in errors_of(first)[NON_FIELD_ERRORS][0]


def test_depth_is_bounded_by_rule_max_depth(account):
    rows = saved_chain(account, 10)
    assert "at most 10 levels" in errors_of(rule(account, "c11", parent=rows[-1]))[NON_FIELD_ERRORS][0]
    with override_settings(WECHAT_APP={"RULE_MAX_DEPTH": 11}):
        rule(account, "c11", parent=rows[-1]).full_clean()


def test_moving_a_rule_takes_its_follow_ups_along(account):
    deep = saved_chain(account, 8, prefix="d")  # d8 is at depth 8
    subtree = saved_chain(account, 3, prefix="s")  # s1 > s2 > s3
    subtree[0].parent = deep[6]  # s1 at 8, s3 at 10: fine
    subtree[0].full_clean()
    subtree[0].parent = deep[7]  # s3 would be at 11
    assert "at most 10 levels" in errors_of(subtree[0])[NON_FIELD_ERRORS][0]


def test_walks_end_on_a_cycle_saved_before_it_was_refused(account, caplog):
    # Written around validation (as the API allowed): a > b > a, and c below a.
    a, b = saved_chain(account, 2, prefix="loop")
    Rule.objects.filter(pk=a.pk).update(parent=b)
    Rule.objects.create(account=account, name="c", match_kind="contains", match_value="c", parent=a,
                        replies=[{"type": "text", "content": "c"}])
    Rule.objects.create(account=account, name="top", match_kind="contains", match_value="top",
                        replies=[{"type": "text", "content": "top"}])
    a.refresh_from_db()
    errors_of(a)  # judging it terminates (and refuses it)
    with caplog.at_level(logging.WARNING, logger="wechat_app.services.rules"):
        assert [d["name"] for d in service.export_rules(account)] == ["top"]
    assert "parent cycle" in caplog.text
    assert content(service.respond(account, text("top"))) == "top"
    summary = service.import_rules(account, "- {name: top, match: {contains: new}, reply: new}\n")  # used to spin
    assert summary["updated"] == 1
    service.import_rules(account, "- {name: fresh, match: {contains: f}, reply: f}\n", replace=True)
    assert list(Rule.objects.values_list("name", flat=True)) == ["fresh"]


def test_rows_deeper_than_the_limit_are_left_out_of_exports_and_the_index(account, caplog):
    rows = saved_chain(account, 12)
    with caplog.at_level(logging.WARNING, logger="wechat_app.services.rules"):
        exported = service.export_rules(account)
    depth, node = 1, exported[0]
    while "follow_ups" in node:
        node, depth = node["follow_ups"]["rules"][0], depth + 1
    assert depth == 10 and "deeper than RULE_MAX_DEPTH" in caplog.text
    assert service.respond(account, text("k1")).matched
    assert rows[-1].name == "c12"


# --- items 13 and 14: reply values ------------------------------------------------------------------

@pytest.mark.parametrize("replies,message", [
    ([{"type": "news", "articles": [{"title": "t", "url": "javascript:alert(document.cookie)"}]}],
     "url must be an http"),
    ([{"type": "news", "articles": [{"title": "t", "pic_url": "data:image/svg+xml,<svg onload=alert(1)>"}]}],
     "pic_url must be an http"),
    ([{"type": "music", "thumb_media_id": "m", "music_url": "JaVaScRiPt:alert(1)"}], "music_url must be an http"),
    ([{"type": "music", "thumb_media_id": "m", "hq_music_url": "java\tscript:alert(1)"}],
     "hq_music_url must be an http"),
    ([{"type": "text", "content": "nul \u0000 byte"}], "U+0000"),
])
def test_full_clean_refuses_unsafe_reply_values(account, replies, message):
    assert message in errors_of(rule(account, "r", replies=replies))["replies"][0]


def test_http_links_are_accepted(account):
    rule(account, "r", replies=[
        {"type": "news", "articles": [{"title": "t", "url": "https://example.com/a?b=1",
                                       "pic_url": "http://x.cn/p.jpg"}]},
        {"type": "music", "thumb_media_id": "m", "music_url": "https://x.cn/a.mp3", "hq_music_url": "HTTP://x.cn/b"},
    ]).full_clean()


def test_import_refuses_nul_characters_in_any_field(account):
    for file in ("- {name: \"a\\0\", match: {contains: a}, reply: b}",
                 "- {name: a, match: {contains: \"a\\0\"}, reply: b}",
                 "- {name: a, match: {contains: a}, reply: \"b\\0\"}",
                 '[{"name": "a", "description": "d\\u0000", "match": {"contains": "a"}, "reply": "b"}]'):
        with pytest.raises(RuleSpecError, match="NUL|U\\+0000"):
            service.import_rules(account, file)
    assert not Rule.objects.exists()
