"""Regex rules on a linear-time engine: Python's regex syntax, run by RE2.

Pure Python. A regex rule is written in Python's syntax (flags ``i``, ``m``, ``s``, ``x``;
``{1}`` in a reply is the first group) and parsed by Python's own parser, so syntax errors read
as usual and the literal pre-filter (``text.required_literals``) reads the same tree. The tree is
then translated to RE2 syntax and compiled by RE2 (the ``google-re2`` package), whose matching
time is linear in the text: no stored pattern can stall the callback, whatever the message.
Matching is further bounded by ``MAX_REGEX_TEXT``: longer texts are not tried against regexes.

Refused, with the reason (RE2 cannot run them in linear time): back-references (``\\1``,
``(?P=name)``), look-ahead and look-behind, conditional groups, atomic groups, possessive
quantifiers, and negated classes holding ``\\W``, ``\\S`` or ``\\D``. The translation keeps
Python's meaning of ``\\d``, ``\\w``, ``\\s`` (Unicode: ``\\w`` matches 汉字) and of ``$``;
``\\b`` and ``\\B`` use ASCII word characters (RE2 has no Unicode word boundary), and where
Python's ``$`` matches before a final newline, that newline is part of the whole match ``{0}``.

Without ``google-re2`` (a platform with no wheel) the patterns run on Python's ``re``; then, on
top of the refusals above, patterns that can backtrack exponentially are refused: a quantifier
inside a repeated group (``(a+)+``, ``(\\d+,)*``), and alternatives that can start with the same
character inside a repeated group (``(a|ab)*``). That check is a heuristic: install google-re2.
"""
from __future__ import annotations

import functools
import re

try:  # Python 3.11+
    import re._constants as sre
    import re._parser as sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as sre  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

try:
    import re2
except ImportError:  # pragma: no cover - exercised by monkeypatching ``re2`` to None in tests
    re2 = None

try:  # google-re2's C++ binding: a search that fails costs half of what the Python wrapper's does
    from re2 import _re2

    _UNANCHORED = _re2.RE2.Anchor.UNANCHORED
except (ImportError, AttributeError):  # pragma: no cover - another re2 release: the wrapper alone
    _UNANCHORED = None

MAX_REGEX_TEXT = 4096
"""Longest message text (in characters) that regex rules are tried on; longer texts only meet
exact, contains and default rules. With RE2 a match costs time linear in the text, so this bounds
the time every regex may take."""

MAX_REGEX_MEMORY = 1024 * 1024
"""Memory budget of one compiled regex (RE2's ``max_mem``), in bytes: a compiled pattern with its
match caches stays within it, so stored rules cannot exhaust a process's memory either. A typical
rule takes 5 to 40 KiB; a pattern that does not fit (many dozens of Unicode classes such as ``\\w``)
is refused."""

_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT}
_POSSESSIVE = getattr(sre, "POSSESSIVE_REPEAT", None)
_ATOMIC = getattr(sre, "ATOMIC_GROUP", None)

_WHY = {
    sre.GROUPREF: "back-references (\\1, (?P=name)) are not supported",
    sre.GROUPREF_EXISTS: "conditional groups (?(1)...) are not supported",
    sre.ASSERT: "look-ahead and look-behind assertions ((?=...), (?<=...)) are not supported",
    sre.ASSERT_NOT: "negative look-ahead and look-behind assertions ((?!...), (?<!...)) are not supported",
}
if _ATOMIC is not None:
    _WHY[_ATOMIC] = "atomic groups (?>...) are not supported"
if _POSSESSIVE is not None:
    _WHY[_POSSESSIVE] = "possessive quantifiers (*+, ++, ?+) are not supported"

# Python's Unicode classes in RE2 syntax (inside a character class). \s is str.isspace().
_UNICODE_CLASSES = {
    sre.CATEGORY_DIGIT: r"\p{Nd}",
    sre.CATEGORY_WORD: r"\p{L}\p{N}_",
    sre.CATEGORY_SPACE: r"\t\n\x{b}\x{c}\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}"
                        r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}",
}
_ASCII_CLASSES = {
    sre.CATEGORY_DIGIT: "0-9",
    sre.CATEGORY_WORD: "0-9A-Za-z_",
    sre.CATEGORY_SPACE: r"\t\n\x{b}\x{c}\r ",
}
_NEGATED = {
    sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT,
    sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD,
    sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE,
}


class RegexRefused(ValueError):
    """A pattern that is valid for Python but refused for stored rules; the message says why."""


def engine_name() -> str:
    """``"re2"``, or ``"python"`` when google-re2 is not installed (see the module doc)."""
    return "python" if re2 is None else "re2"


def _literal(code: int) -> str:
    char = chr(code)
    if char.isascii():
        if char.isalnum():
            return char
        if char.isprintable() and char != " ":
            return "\\" + char
    elif char.isprintable() and not 0xD800 <= code <= 0xDFFF:
        return char
    return "\\x{%x}" % code


class _Translator:
    """Walks Python's parse tree, refusing what RE2 cannot run and writing RE2 syntax."""

    def __init__(self, check_backtracking: bool):
        self.check_backtracking = check_backtracking

    def sequence(self, items, flags: int, repeated: bool) -> str:
        return "".join(self.item(op, av, flags, repeated) for op, av in items)

    def item(self, op, av, flags: int, repeated: bool) -> str:
        if op in _WHY:
            raise RegexRefused(_WHY[op])
        if op is sre.LITERAL:
            return _literal(av)
        if op is sre.NOT_LITERAL:
            return "[^" + _literal(av) + "]"
        if op is sre.ANY:
            return "(?s:.)" if flags & re.DOTALL else "."
        if op is sre.IN:
            return self.char_class(av, flags)
        if op is sre.AT:
            return self.anchor(av, flags)
        if op is sre.BRANCH:
            if repeated and self.check_backtracking:
                _check_disjoint_starts(av[1])
            return "(?:" + "|".join(self.sequence(branch.data, flags, repeated) for branch in av[1]) + ")"
        if op is sre.SUBPATTERN:
            group, add_flags, del_flags, body = av
            inner_flags = (flags | add_flags) & ~del_flags
            inner = self.sequence(body.data, inner_flags, repeated)
            if group is not None:
                return "(" + inner + ")"
            case = inner_flags & re.IGNORECASE
            if case != flags & re.IGNORECASE:
                return ("(?i:" if case else "(?-i:") + inner + ")"
            return "(?:" + inner + ")"
        if op in _REPEATS:
            low, high, body = av
            if self.check_backtracking and repeated and low != high:
                raise RegexRefused("nested quantifiers (a quantifier inside a repeated group, as in (a+)+) "
                                   "can take exponential time without google-re2")
            inner = self.sequence(body.data, flags, repeated or high > 1)
            return "(?:" + inner + ")" + _quantifier(low, high) + ("?" if op is sre.MIN_REPEAT else "")
        raise RegexRefused(f"the construct {op} is not supported")  # pragma: no cover - defensive

    def anchor(self, code, flags: int) -> str:
        multiline = flags & re.MULTILINE
        if code is sre.AT_BEGINNING:
            return "(?m:^)" if multiline else r"\A"
        if code is sre.AT_END:
            # Python's $ also matches before a final newline (the newline joins the match).
            return "(?m:$)" if multiline else r"(?:\n?\z)"
        return {sre.AT_BEGINNING_STRING: r"\A", sre.AT_END_STRING: r"\z",
                sre.AT_BOUNDARY: r"\b", sre.AT_NON_BOUNDARY: r"\B"}[code]

    def char_class(self, items, flags: int) -> str:
        classes = _ASCII_CLASSES if flags & re.ASCII else _UNICODE_CLASSES
        negate = bool(items) and items[0][0] is sre.NEGATE
        parts, complements = [], []
        for op, av in items[negate:]:
            if op is sre.LITERAL:
                parts.append(_literal(av))
            elif op is sre.RANGE:
                parts.append(_literal(av[0]) + "-" + _literal(av[1]))
            elif op is sre.CATEGORY and av in classes:
                parts.append(classes[av])
            elif op is sre.CATEGORY and av in _NEGATED:
                complements.append(classes[_NEGATED[av]])
            else:  # pragma: no cover - the parser emits nothing else in a class
                raise RegexRefused(f"the class item {op} is not supported")
        if not complements:
            return ("[^" if negate else "[") + "".join(parts) + "]"
        if negate:
            raise RegexRefused("a negated class cannot contain \\W, \\S or \\D (RE2 has no class intersection)")
        # [\S\s] or [\Wx]: the union of a class and complements, as alternatives.
        alternatives = (["[" + "".join(parts) + "]"] if parts else []) + ["[^" + c + "]" for c in complements]
        return "(?:" + "|".join(alternatives) + ")"


def _quantifier(low: int, high) -> str:
    if high is sre.MAXREPEAT:
        return {0: "*", 1: "+"}.get(low, "{%d,}" % low)
    if (low, high) == (0, 1):
        return "?"
    return "{%d}" % low if low == high else "{%d,%d}" % (low, high)


def _first_chars(items) -> set[int] | None:
    """The characters a sequence can start with, or None for "any" (conservative)."""
    for op, av in items:
        if op is sre.LITERAL:
            return {av}
        if op is sre.SUBPATTERN:
            return _first_chars(av[-1].data)
        if op is sre.IN and all(kind is sre.LITERAL for kind, _ in av):
            return {value for _, value in av}
        if op is sre.AT:
            continue
        return None
    return None


def _check_disjoint_starts(branches) -> None:
    seen: set[int] = set()
    for branch in branches:
        first = _first_chars(branch.data)
        if first is None or first & seen:
            raise RegexRefused("alternatives that can start with the same character inside a repeated group "
                               "(as in (a|ab)*) can take exponential time without google-re2")
        seen |= first


def _re2_options():
    options = re2.Options()
    options.log_errors = False  # refusals are reported to the user, not printed on stderr
    options.max_mem = MAX_REGEX_MEMORY
    options.case_sensitive = True  # case is written into the translated pattern
    return options


class StoredRegex:
    """A compiled regex rule: ``search(text)`` gives a match (``group(0)``, ``groups()``) or None."""

    __slots__ = ("pattern", "engine", "translated", "_compiled", "_match_bytes")

    def __init__(self, pattern: str, flags: int):
        self.pattern = pattern
        parsed = sre_parse.parse(pattern, flags)  # re.error for invalid syntax
        flags = parsed.state.flags  # with the inline global flags, (?i) etc.
        translated = _Translator(check_backtracking=re2 is None).sequence(parsed.data, flags, False)
        self._match_bytes = None
        self.translated = None
        if re2 is None:
            self.engine = "python"
            self._compiled = re.compile(pattern, flags)
            return
        self.engine = "re2"
        if flags & re.IGNORECASE:
            translated = "(?i)" + translated
        self.translated = translated
        try:
            self._compiled = re2.compile(translated, _re2_options())
        except re2.error as err:
            reason = err.args[0] if err.args else err
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            if "repetition" in str(reason):
                reason = f"{reason}; repetition counts, nested ones multiplied, may reach 1000"
            elif "too large" in str(reason):
                reason = f"{reason}: it needs more than {MAX_REGEX_MEMORY // 1024} KiB compiled; use fewer " \
                         "repetitions of classes such as \\w"
            raise RegexRefused(f"RE2 cannot run it ({reason})") from None
        regexp = getattr(self._compiled, "_regexp", None)
        if _UNANCHORED is not None and regexp is not None:
            self._match_bytes = regexp.Match

    def search(self, text: str, encoded: bytes | None = None):
        """The match of this regex in ``text``, or None.

        ``encoded`` is ``text`` in UTF-8 when the caller has it already (the index encodes a
        message once, not once per regex candidate).
        """
        if len(text) > MAX_REGEX_TEXT:
            return None
        try:
            if self._match_bytes is not None:
                # Most candidates fail: ask the binding directly (the same call the wrapper makes)
                # and build the match object only for a hit.
                if encoded is None:
                    encoded = text.encode("utf-8")
                if self._match_bytes(_UNANCHORED, encoded, 0, len(encoded))[0][0] == -1:
                    return None
            return self._compiled.search(text)
        except UnicodeEncodeError:  # a lone surrogate cannot reach RE2 (UTF-8); it matches nothing
            return None

    def captures(self, text: str, encoded: bytes | None = None) -> tuple[str, ...] | None:
        """``(whole match, group 1, group 2…)`` (an unmatched group is ``""``), or None: no match.

        With RE2 one call of its binding gives the groups' byte spans (no match object built).
        """
        if self._match_bytes is None or len(text) > MAX_REGEX_TEXT:
            match = self.search(text, encoded)
            return None if match is None else (match.group(0), *(group or "" for group in match.groups()))
        try:
            if encoded is None:
                encoded = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate cannot reach RE2 (UTF-8); it matches nothing
            return None
        spans = self._match_bytes(_UNANCHORED, encoded, 0, len(encoded))
        if spans[0][0] == -1:
            return None
        return tuple("" if start == -1 else encoded[start:end].decode("utf-8") for start, end in spans)


GATE_SIZE = 32
"""Regexes without a mandatory literal are tried on every text; the index tests them this many at
a time with one RE2 search of their alternation (a miss, the usual case, then costs one call)."""

GATE_MEMORY = 8 * 1024 * 1024


class RegexGate:
    """One RE2 search telling whether any of a few stored regexes can match a text.

    The alternation of their translations: it matches exactly when one of them does (RE2 falls
    back from its DFA to its NFA when memory runs short, so a miss is never a false negative).
    ``None`` from ``make`` when there is nothing to gain (Python's ``re``) or RE2 refuses it.
    """

    __slots__ = ("_match",)

    def __init__(self, match):
        self._match = match

    @classmethod
    def make(cls, regexes) -> RegexGate | None:
        translated = [regex.translated for regex in regexes]
        if re2 is None or _UNANCHORED is None or not translated or None in translated:
            return None
        options = _re2_options()
        options.max_mem = GATE_MEMORY
        try:
            compiled = re2.compile("|".join(f"(?:{pattern})" for pattern in translated), options)
        except re2.error:
            return None
        regexp = getattr(compiled, "_regexp", None)
        return None if regexp is None else cls(regexp.Match)

    def may_match(self, encoded: bytes) -> bool:
        return self._match(_UNANCHORED, encoded, 0, len(encoded))[0][0] != -1


@functools.lru_cache(maxsize=2048)
def compile_stored(pattern: str, flags: int = 0) -> StoredRegex:
    """Compile a regex rule. Raises ``re.error`` (invalid syntax) or ``RegexRefused`` (why).

    Cached (compiled regexes are immutable and thread-safe): an RE2 compile of a Unicode class
    takes a millisecond or two, and the index is rebuilt after every rule change.
    """
    return StoredRegex(pattern, flags)
