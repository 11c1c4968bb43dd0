"""Text helpers of the engine: case folding, regex literal extraction and capture substitution.

Pure Python. The regex prefilter relies on two facts proved here:

* ``regex_fold`` maps every character to one representative of its class under Python's
  ``re.IGNORECASE`` (simple lower case plus ``re``'s extra case equivalences), character by
  character, so a literal that a regex must match (with or without IGNORECASE) always occurs in
  ``regex_fold(text)`` as ``regex_fold(literal)``;
* ``required_literals`` returns a set of literals at least one of which every match of the
  regex contains (or ``None`` when it cannot tell), so skipping a regex whose literals are
  absent never changes the result.
"""
from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace

try:  # Python 3.11+
    import re._casefix as _casefix
    import re._parser as sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_parse  # type: ignore[no-redef]
    _casefix = None
import _sre

# Highest code point that has a case mapping in the Unicode database Python ships
# (checked at build: nothing above U+1E943 changes under lower()/upper()).
_LAST_CASED = 0x1E944


def _build_fold_table() -> dict[int, int]:
    extra = getattr(_casefix, "_EXTRA_CASES", {}) if _casefix else {}
    table = {}
    for cp in range(_LAST_CASED):
        lower = _sre.unicode_tolower(cp)
        canon = min((lower, *extra.get(lower, ())))
        if canon != cp:
            table[cp] = canon
    return table


_FOLD_TABLE = _build_fold_table()


def regex_fold(text: str) -> str:
    """Fold ``text`` the way ``re.IGNORECASE`` compares characters (one char in, one char out)."""
    if text.isascii():
        # For ASCII the representative is the lower-case letter ('s' < 'ſ', 'k' < 'K').
        return text.lower()
    return text.translate(_FOLD_TABLE)


def fold(text: str) -> str:
    """The normalization of exact and contains matching: surrounding space removed, case folded."""
    return text.strip().casefold()


# --- required literals of a regex ------------------------------------------------------------

_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT}
if hasattr(sre_parse, "POSSESSIVE_REPEAT"):
    _REPEATS.add(sre_parse.POSSESSIVE_REPEAT)
_ATOMIC = getattr(sre_parse, "ATOMIC_GROUP", None)


def _quality(literals):
    # A set of alternatives is as selective as its shortest member; fewer alternatives is better.
    return (min(len(x) for x in literals), -len(literals))


def _better(current, candidate):
    if not candidate or any(not x for x in candidate):
        return current
    if current is None or _quality(candidate) > _quality(current):
        return candidate
    return current


def _only_literals(items) -> str | None:
    chars = []
    for op, av in items:
        if op is not sre_parse.LITERAL:
            return None
        chars.append(chr(av))
    return "".join(chars)


def _required(items) -> frozenset[str] | None:
    """Literal alternatives one of which every match of the sequence ``items`` contains."""
    best = None
    run: list[str] = []

    def flush():
        nonlocal best
        if run:
            best = _better(best, frozenset(["".join(run)]))
            run.clear()

    for op, av in items:
        if op is sre_parse.LITERAL:
            run.append(chr(av))
            continue
        if op is sre_parse.SUBPATTERN:
            body = av[-1].data
            literal = _only_literals(body)
            if literal is not None:  # "(hello) world": the group continues the run
                run.append(literal)
                continue
            flush()
            best = _better(best, _required(body))
            continue
        flush()
        if _ATOMIC is not None and op is _ATOMIC:
            best = _better(best, _required(av.data))
        elif op in _REPEATS:
            low, _high, body = av
            if low >= 1:
                best = _better(best, _required(body.data))
        elif op is sre_parse.BRANCH:
            alternatives = [_required(branch.data) for branch in av[1]]
            if all(alternatives):
                best = _better(best, frozenset().union(*alternatives))
        # Anything else (anchors, classes, any-char, lookarounds, back-references) breaks a run
        # and requires nothing we can use.
    flush()
    return best


def required_literals(pattern: str, flags: int = 0) -> frozenset[str] | None:
    """Folded literals, one of which occurs in ``regex_fold(text)`` whenever the regex matches.

    ``None`` when the regex has no mandatory literal (such a regex is always tried).
    """
    parsed = sre_parse.parse(pattern, flags)
    literals = _required(parsed.data)
    if not literals:
        return None
    return frozenset(regex_fold(x) for x in literals)


# --- captures in replies ---------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\\\{(\d+)\}|\{(\d+)\}")


def fill_captures(text: str, captures: tuple[str, ...]) -> str:
    """Replace ``{1}``, ``{2}``… by regex captures; ``\\{1}`` stays a literal ``{1}``.

    ``{0}`` is the whole match. A placeholder without such a capture is left as written.
    """
    if "{" not in text:
        return text

    def substitute(match):
        if match.group(1) is not None:
            return "{" + match.group(1) + "}"
        number = int(match.group(2))
        if number < len(captures):
            return captures[number]
        return match.group(0)

    return _PLACEHOLDER.sub(substitute, text)


def fill_reply(reply, captures: tuple[str, ...]):
    """A copy of a typed reply with captures filled into its text fields (nested articles too)."""
    changes = {}
    for f in fields(reply):
        value = getattr(reply, f.name)
        if isinstance(value, str):
            filled = fill_captures(value, captures)
            if filled != value:
                changes[f.name] = filled
        elif isinstance(value, list) and value and is_dataclass(value[0]):
            items = [fill_reply(item, captures) for item in value]
            if items != value:
                changes[f.name] = items
    return replace(reply, **changes) if changes else reply
