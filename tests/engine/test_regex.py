"""Regex rules on RE2 (issue 7 item 4): Python's syntax and meaning, linear time, clear refusals."""
import logging
import re

import pytest

from wechat_app.engine import RuleIndex
from wechat_app.engine import regex as regex_module
from wechat_app.engine.regex import MAX_REGEX_TEXT, RegexRefused, compile_stored
from wechat_app.engine.spec import RuleSpecError, compile_regex, validate_match

from .helpers import spec, text

REDOS = r"^(a+)+$"
REDOS_TEXT = "a" * 28 + "!"  # 20 s of backtracking on Python's re


@pytest.fixture
def without_re2(monkeypatch):
    """An installation where google-re2 is missing: Python's re with the backtracking heuristic."""
    monkeypatch.setattr(regex_module, "re2", None)
    regex_module.compile_stored.cache_clear()
    yield
    regex_module.compile_stored.cache_clear()


def test_rules_run_on_re2():
    assert regex_module.engine_name() == "re2"
    assert compile_regex("^game$").engine == "re2"


def test_the_issue_pattern_is_accepted_and_answers_at_once():
    validate_match("regex", REDOS)
    compiled = compile_regex(REDOS)
    assert compiled.engine == "re2"
    assert compiled.search(REDOS_TEXT) is None  # on Python's re this line takes 20 s
    assert compiled.search("aaaa").group(0) == "aaaa"
    index = RuleIndex([spec("bomb", "regex", REDOS, "boom")])
    assert list(index.candidates(text(REDOS_TEXT))) == []


@pytest.mark.parametrize("pattern,flags,samples", [
    (r"^my name is (\w+)(?: (\w+))?$", re.I, ["My name is Ada", "my name is 小明 王", "my name is"]),
    (r"^天气(\w+)$", 0, ["天气北京", "天气 北京"]),
    (r"(\d+)元", 0, ["一共１２３元", "一共 42 元", "没有"]),
    (r"a\s+b", 0, ["a\u3000b", "a\x0bb", "ab"]),
    (r"^a$", re.M, ["x\na\ny", "xa"]),
    (r" order \s (\d+) # the order number", re.X, ["order 42", "order42"]),
    (r"(?i)straße", 0, ["STRASSE", "STRAẞE"]),
    (r"[\S\s]+?!", 0, ["a\nb!"]),
    (r"[^\d\s]+", 0, ["12ab 3"]),
    (r"a{,3}b", 0, ["aaaab"]),
    (r"x\Z", 0, ["x", "x\n"]),
    (r"(?i:A)b", 0, ["ab", "AB"]),
    (r"(?s)<(.+)>", 0, ["<a\nb>"]),
    (r"<(.+)>", 0, ["<a\nb>", "<ab>"]),
    (r"\.\*\[\]\{\}\(\)\|\^\$\\", 0, [".*[]{}()|^$\\"]),
    (r"[\]\-^]+", 0, ["a^-]"]),
    (r"(?a)\w+", 0, ["é abc"]),
    (r"\bhi\b", 0, ["oh hi there", "high"]),
    (r"\N{SNOWMAN}|\u2603|\x41", 0, ["☃", "A"]),
    (r"(a)|(b)", 0, ["b"]),
    (r"(?#a comment)x", 0, ["x"]),
    (r"^(hi|hello|hey)\W", re.I, ["Hey! you", "hey"]),
])
def test_same_matches_and_groups_as_python(pattern, flags, samples):
    ours = compile_stored(pattern, flags)
    for sample in samples:
        expected = re.search(pattern, sample, flags)
        got = ours.search(sample)
        assert (got is None) == (expected is None), sample
        if expected is not None:
            assert got.group(0) == expected.group(0) and got.groups() == expected.groups(), sample


def test_dollar_before_a_final_newline_matches_as_in_python():
    # Python's $ also matches before a final newline; the groups are the same, {0} keeps the newline.
    match = compile_stored(r"^(\d+)$").search("42\n")
    assert match.groups() == ("42",)
    assert compile_stored(r"^(\d+)$").search("42\n\n") is None


@pytest.mark.parametrize("shorthand", [r"\d", r"\w", r"\s", r"\D", r"\W", r"\S"])
def test_unicode_classes_mean_what_they_mean_in_python(shorthand):
    ours, python = compile_stored(shorthand), re.compile(shorthand)
    # Every code point below U+3100 (Latin to CJK punctuation), then a sample of the rest of the BMP.
    points = [*range(0x3100), *range(0x3100, 0xD800, 97), *range(0xE000, 0x10000, 89)]
    differ = [hex(cp) for cp in points if bool(ours.search(chr(cp))) != bool(python.search(chr(cp)))]
    assert differ == []


@pytest.mark.parametrize("pattern,reason", [
    (r"(a)\1", "back-references"),
    (r"(?P<w>\w+) (?P=w)", "back-references"),
    (r"foo(?=bar)", "look-ahead"),
    (r"(?<=\$)\d+", "look-ahead and look-behind"),
    (r"(?<!x)y", "negative look-ahead"),
    (r"(a)?(?(1)b|c)", "conditional groups"),
    (r"(?>ab|a)c", "atomic groups"),
    (r"a++", "possessive quantifiers"),
    (r"[^\W\d]", "negated class"),
    (r"a{1001}", "repetition"),
    (r"((a{100}){100})", "repetition"),
    (r"\w{200}", "too large"),
])
def test_refused_constructs_say_why(pattern, reason):
    with pytest.raises(RegexRefused, match=re.escape(reason)):
        compile_stored(pattern)
    with pytest.raises(RuleSpecError) as err:
        validate_match("regex", pattern)
    assert err.value.field == "match_value"
    assert "refused" in str(err.value) and reason in str(err.value) and "linear-time" in str(err.value)


def test_invalid_syntax_is_still_reported_as_invalid():
    with pytest.raises(RuleSpecError, match="invalid regular expression"):
        validate_match("regex", "(unclosed")


def test_texts_longer_than_the_cap_are_not_tried():
    compiled = compile_stored("x$")
    assert compiled.search("a" * (MAX_REGEX_TEXT - 1) + "x")
    assert compiled.search("a" * MAX_REGEX_TEXT + "x") is None
    index = RuleIndex([spec("r", "regex", "x$", "hit"), spec("k", "contains", "x", "kw")])
    assert [c.spec.name for c in index.candidates(text("a" * MAX_REGEX_TEXT + "x"))] == ["k"]


def test_a_stored_row_with_a_refused_pattern_is_skipped_with_a_warning(caplog):
    # Saved before this check existed (or written around validation): the index skips it.
    index = RuleIndex([spec("old", "regex", r"(a)\1", "old"), spec("ok", "regex", "aa", "ok")])
    with caplog.at_level(logging.WARNING, logger="wechat_app.engine.index"):
        assert [c.spec.name for c in index.candidates(text("aa"))] == ["ok"]
    assert "refused" in caplog.text


class TestWithoutRE2:
    @pytest.mark.parametrize("pattern", [REDOS, r"(\d+,)*x", r"^(\w+\s?)*$", r"(a|ab)*c", r"(a?){3,}",
                                         r"(x+x+)+y"])
    def test_patterns_that_can_backtrack_exponentially_are_refused(self, without_re2, pattern):
        assert regex_module.engine_name() == "python"
        with pytest.raises(RuleSpecError, match="exponential time without google-re2"):
            validate_match("regex", pattern)

    @pytest.mark.parametrize("pattern,sample", [
        (r"^(foo|bar)+$", "foobar"), (r"^my name is (\w+)$", "my name is Ada"), (r"(ab){2}", "abab"),
        (r"^\d+(?:\.\d+)?$", "3.14"),
    ])
    def test_other_patterns_run_on_python_re(self, without_re2, pattern, sample):
        compiled = compile_regex(pattern)
        assert compiled.engine == "python"
        assert compiled.search(sample)

    def test_what_re2_refuses_is_refused_too(self, without_re2):
        with pytest.raises(RuleSpecError, match="back-references"):
            validate_match("regex", r"(a)\1")

    def test_a_system_check_warns(self, without_re2):
        from wechat_app.checks import check_settings

        assert "wechat_app.W010" in [message.id for message in check_settings(None)]


@pytest.mark.skipif(regex_module.re2 is None, reason="google-re2 is not installed")
def test_the_miss_fast_path_agrees_with_the_full_search():
    stored = regex_module.compile_stored(r"价格\s*(\d+)元", 0)
    assert stored._match_bytes is not None  # failing candidates skip the wrapper's match object
    assert stored.search("请问价格 42元吗").groups() == ("42",)
    assert stored.search("请问价格 42元吗").group(0) == "价格 42元"
    assert stored.search("no price here") is None
    assert stored.search("\ud800 价格 1元") is None  # a lone surrogate cannot reach RE2
