"""Rule files are untrusted input (issue 7 items 5 and 13): no YAML aliases, bounded size, nesting,
rule count and follow-up depth, and a clear ``RuleSpecError`` instead of a RecursionError."""
import json

import pytest

from wechat_app.engine.dialect import DEFAULT_LIMITS, FileLimits, parse_rules
from wechat_app.engine.spec import RuleSpecError

# The shape: 9 aliases of 9 aliases of ... a few hundred bytes, gigabytes once expanded.
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))


def chain(depth, name="r"):
    """A rule with ``depth - 1`` levels of follow-ups below it (list form)."""
    rule = {"name": f"{name}{depth}", "match": {"contains": f"k{depth}"}, "reply": "x"}
    for level in range(depth - 1, 0, -1):
        rule = {"name": f"{name}{level}", "match": {"contains": f"k{level}"}, "reply": "x", "follow_ups": [rule]}
    return [rule]


def test_the_alias_bomb_is_refused_before_anything_expands():
    assert len(ALIAS_BOMB) < 800
    with pytest.raises(RuleSpecError, match=r"anchors and aliases .* not allowed"):
        parse_rules(ALIAS_BOMB)


def test_even_a_harmless_alias_is_refused_with_its_line():
    text = "- {name: a, match: {contains: a}, reply: &r hello}\n- {name: b, match: {contains: b}, reply: *r}\n"
    with pytest.raises(RuleSpecError, match=r"line 1"):
        parse_rules(text)


def test_size_is_capped_in_bytes():
    text = "- {name: a, match: {contains: a}, reply: '" + "好" * 400 + "'}\n"  # 3 bytes a character
    limits = FileLimits(max_size=1000)
    assert len(text) < 1000 < len(text.encode())
    with pytest.raises(RuleSpecError, match="at most 1000 bytes"):
        parse_rules(text, limits)
    with pytest.raises(RuleSpecError, match="at most 1000 bytes"):
        parse_rules(text.encode(), limits)
    assert parse_rules(text, FileLimits(max_size=2000))


@pytest.mark.parametrize("document", [
    "x: " + "[" * 5000 + "]" * 5000,                     # YAML flow
    "x:\n" + "".join("  " * i + "- \n" for i in range(1, 300)),  # YAML block
    "[" * 100_000 + "]" * 100_000,                       # JSON: Python's parser would raise RecursionError
    '{"a":' * 600 + "1" + "}" * 600,                     # JSON under the recursion limit
])
def test_deep_nesting_is_refused_not_a_recursion_error(document):
    with pytest.raises(RuleSpecError, match="nests lists and mappings more than 40 deep"):
        parse_rules(document)


def test_loaded_data_is_bounded_too():
    # The REST API passes the parsed JSON body: walked without recursion.
    data = current = []
    for _ in range(5000):
        current.append([])
        current = current[0]
    with pytest.raises(RuleSpecError, match="more than 40 deep"):
        parse_rules(data)


def test_rule_count_is_capped_follow_ups_included():
    limits = FileLimits(max_rules=5)
    five = [{"name": f"r{n}", "match": {"contains": f"k{n}"}, "reply": "x"} for n in range(5)]
    assert len(parse_rules(five, limits)) == 5
    with pytest.raises(RuleSpecError, match="more than 5 rules"):
        parse_rules([*five, {"name": "r6", "match": {"contains": "k"}, "reply": "x"}], limits)
    five[0]["follow_ups"] = [{"match": {"contains": "y"}, "reply": "y"}]
    with pytest.raises(RuleSpecError, match="more than 5 rules"):
        parse_rules(five, limits)


def test_follow_up_depth_is_capped_and_names_the_rule():
    assert parse_rules(chain(DEFAULT_LIMITS.max_depth))
    with pytest.raises(RuleSpecError, match=r"rule 'r11': follow-ups nest more than 10 levels deep"):
        parse_rules(chain(DEFAULT_LIMITS.max_depth + 1))
    with pytest.raises(RuleSpecError, match="more than 3 levels"):
        parse_rules(chain(4), FileLimits(max_depth=3))


def test_the_deepest_allowed_chain_fits_the_default_nesting_in_both_forms():
    # A follow-up chain of RULE_MAX_DEPTH levels with a news reply at the bottom, in the list
    # form and in webot's mapping form, fits the default nesting limit.
    deepest = chain(DEFAULT_LIMITS.max_depth)
    leaf = deepest[0]
    while "follow_ups" in leaf:
        leaf = leaf["follow_ups"][0]
    leaf["reply"] = [{"type": "news", "articles": [{"title": "t", "url": "https://example.com/"}]}]
    assert parse_rules(json.dumps(deepest))
    mapping = {"k10": "x"}
    for level in range(9, 0, -1):
        mapping = {f"k{level}": {"reply": "x", "replies": mapping}}
    assert parse_rules(mapping)


def test_deep_follow_ups_of_a_huge_document_are_refused_not_recursed():
    with pytest.raises(RuleSpecError):
        parse_rules(json.dumps(chain(400)))


def test_the_engine_defaults_are_the_settings_defaults():
    from wechat_app.conf import DEFAULTS

    assert DEFAULT_LIMITS == FileLimits(max_size=DEFAULTS["RULE_FILE_MAX_SIZE"],
                                        max_nesting=DEFAULTS["RULE_FILE_MAX_NESTING"],
                                        max_rules=DEFAULTS["RULE_FILE_MAX_RULES"], max_depth=DEFAULTS["RULE_MAX_DEPTH"])
