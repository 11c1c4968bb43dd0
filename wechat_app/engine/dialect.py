"""The rule-file dialect: webot-dialog compatible YAML/JSON, parsed into ``RuleDef``s and back.

Pure Python. A file is either

* a **mapping pattern → reply** (webot ``dialog``): a pattern is read as webot reads it
  (``webot_pattern``): ``=text`` *exact*, ``/regex/flags`` a *regex*, ``Y`` / ``N`` webot's
  yes / no regexes, a string with regex metacharacters a *regex* (webot's ``new RegExp(p)``),
  any other string *contains*; the reply is a string, a list (one picked at random) or
  a typed mapping (``{type: music, ...}``). The value may also be a webot rule object
  (``{name, pattern, handler|reply, replies|follow_ups, no_reply, priority, ...}``) whose
  pattern defaults to the key; webot ``replies`` are follow-up rules. The rule is named after
  its pattern. Or
* a **list of rules** (the form ``export`` writes)::

    - name: game
      priority: 0                    # optional, higher first
      enabled: true                  # optional
      match: {regex: '^game$', flags: i}   # one of exact, contains, regex (+flags),
                                           # event (+key), type, pattern, default: true
      reply: Pick a number           # string | list (random) | typed mapping
      no_reply: false                # match and answer nothing instead
      follow_ups: {timeout: 300, retries: 2, rules: [{match: {regex: '^([1-9])$'}, reply: 'You picked {1}'}]}

A rule of either form may use webot's key names: ``pattern`` (for ``match: {pattern: ...}``),
``handler`` (for ``reply``) and ``replies`` (for ``follow_ups``), so webot's list of follow-ups
``[{pattern, handler}]`` reads as written.

Every error is a ``RuleSpecError`` naming the rule; a file is validated completely before the
caller writes anything. Follow-up rules without a name are named ``<parent>.<n>``.

A file is untrusted input, so reading it is bounded (``FileLimits``): its size, how deeply its
lists and mappings nest, how many rules it holds and how deep follow-ups go. YAML anchors and
aliases are refused: a few hundred bytes of nested aliases expand to gigabytes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from ..protocol.replies import ARTICLE_FIELDS, TextReply, field_name, reply_from_dict
from .spec import FollowUp, MatchKind, RuleSpec, RuleSpecError, validate_match, validate_replies

# Field sizes of the Rule model (the dialect rejects what the database could not store).
MAX_NAME = 100
MAX_VALUE = 1024
MAX_KEY = 255
MAX_FLAGS = 8
MAX_RETRIES = 32767

RULE_KEYS = {"name", "description", "priority", "enabled", "match", "reply", "no_reply", "follow_ups"}
MATCH_KINDS = ("exact", "contains", "regex", "event", "type", "pattern", "default")
MATCH_EXTRAS = {"flags", "key"}
FOLLOW_UP_KEYS = {"timeout", "retries", "rules"}
# Keys of a webot rule object inside a mapping-form file (webot names beside ours).
WEBOT_RULE_KEYS = RULE_KEYS | {"pattern", "handler", "replies"}

_WEBOT_REGEX = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)
# A plain webot pattern with one of these is a regular expression (webot: ``new RegExp(p)``).
_REGEX_METACHARACTERS = frozenset(".^$*+?()[]{}|\\")

WEBOT_SHORTHANDS = {
    # webot's Rule.shorthands: yes / no answers (Chinese and English), case-insensitive.
    "Y": r"^(是|yes|yep|yeah|Y|阔以|可以|要得|好|需?要|OK|恩|嗯|找|搜|搞起)[啊的吧嘛诶啦唉哎!.。]*$",
    "N": r"^(不(是|需?要|必|用|需|行|可以)?了?|no?|nope|不好|否|算了)[啊的吧嘛诶啦唉哎!.。]*$",
}

_PLAIN_END = "\0 \t\r\n\x85\u2028\u2029,[]{}#"


@dataclass(frozen=True)
class FileLimits:
    """Bounds on reading one rule file (``services.rules`` passes the ``RULE_*`` settings)."""

    max_size: int = 1024 * 1024  # bytes of text
    max_nesting: int = 40  # lists and mappings inside each other (a follow-up level takes 3)
    max_rules: int = 10_000  # rules, follow-ups included
    max_depth: int = 10  # a top-level rule is at depth 1, its follow-ups at 2...


DEFAULT_LIMITS = FileLimits()


class _RuleFileLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases, nesting at most ``max_nesting`` deep,
    and reading ``[Sorry?, Say again?]`` as YAML 1.2 does.

    PyYAML follows YAML 1.1 and ends a plain scalar at ``?`` inside ``[...]``/``{...}``; in
    YAML 1.2 (and js-yaml, which webot used) ``?`` inside a plain scalar is an ordinary
    character, and the issue's own example relies on it.
    """

    max_nesting = DEFAULT_LIMITS.max_nesting
    _nesting = 0

    def compose_node(self, parent, index):
        # Refused before anything is expanded: an alias bomb costs no more than its own bytes.
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            line = event.start_mark.line + 1
            raise RuleSpecError(f"YAML anchors and aliases (&name, *name) are not allowed in rule files "
                                f"(line {line}): write each rule out in full")
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if self._nesting >= self.max_nesting:
                raise RuleSpecError(f"the rule file nests lists and mappings more than {self.max_nesting} deep "
                                    f"(line {event.start_mark.line + 1})")
            self._nesting += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._nesting -= 1
        return super().compose_node(parent, index)

    def scan_plain(self):
        token = super().scan_plain()
        while self.flow_level and self.peek() == "?" and self.get_mark().index == token.end_mark.index:
            length = 0
            while self.peek(length) == "?":
                length += 1
            value = token.value + self.prefix(length)
            self.forward(length)
            end_mark = self.get_mark()
            spaces = self.scan_plain_spaces(self.indent + 1, token.start_mark)
            if self.peek() not in _PLAIN_END and not (self.peek() == ":" and self.peek(1) in _PLAIN_END):
                more = super().scan_plain()
                value += "".join(spaces or ()) + more.value
                end_mark = more.end_mark
            token = yaml.ScalarToken(value, True, token.start_mark, end_mark)
        return token


@dataclass
class RuleDef:
    """A rule as files, the database and the admin see it (``to_spec`` makes the engine's form).

    ``replies`` are normalized typed mappings (``Reply.to_dict()``).
    """

    name: str
    kind: MatchKind
    value: str = ""
    key: str = ""
    flags: str = ""
    replies: list[dict[str, Any]] = field(default_factory=list)
    no_reply: bool = False
    priority: int = 0
    enabled: bool = True
    description: str = ""
    follow_up_timeout: int | None = None
    follow_up_retries: int = 0
    follow_ups: list[RuleDef] = field(default_factory=list)
    id: Any = field(default=None, compare=False)
    # Only for follow-ups given in Python (``parse_follow_ups``); files cannot hold functions.
    handler: Callable | None = field(default=None, compare=False)
    predicate: Callable | None = field(default=None, compare=False)

    def to_spec(self, position: int = 0) -> RuleSpec:
        """The engine's form; disabled follow-ups are left out."""
        follow_up = None
        children = [child for child in self.follow_ups if child.enabled]
        if children:
            follow_up = FollowUp(
                rules=tuple(child.to_spec(number) for number, child in enumerate(children, 1)),
                timeout=self.follow_up_timeout, retries=self.follow_up_retries,
            )
        return RuleSpec(
            name=self.name, kind=None if self.kind is None else MatchKind(self.kind), value=self.value,
            key=self.key, flags=self.flags, replies=tuple(reply_from_dict(item) for item in self.replies),
            no_reply=self.no_reply, priority=self.priority, position=position, follow_up=follow_up, id=self.id,
            handler=self.handler, predicate=self.predicate,
        )


# --- reading ---------------------------------------------------------------------------------

def load_text(text: str | bytes, limits: FileLimits = DEFAULT_LIMITS) -> Any:
    """Parse YAML or JSON text (JSON is tried first when the text looks like it)."""
    size = len(text)
    if isinstance(text, str) and size <= limits.max_size:
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_size:
        raise RuleSpecError(f"the rule file is {size} bytes long; at most {limits.max_size} bytes are accepted")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise RuleSpecError(f"the rule file is not UTF-8: {err}") from None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            pass  # YAML flow style also starts with { or [
        except RecursionError:
            raise _too_deep(limits) from None
        else:
            _check_nesting(data, limits)
            return data
    loader = _RuleFileLoader(stripped)
    loader.max_nesting = limits.max_nesting
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise RuleSpecError(f"invalid YAML/JSON: {err}") from None
    finally:
        loader.dispose()


def _too_deep(limits: FileLimits) -> RuleSpecError:
    return RuleSpecError(f"the rule file nests lists and mappings more than {limits.max_nesting} deep")


def _check_nesting(data: Any, limits: FileLimits) -> None:
    """Refuse loaded data nested deeper than ``limits.max_nesting`` (walked without recursion)."""
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= limits.max_nesting:
                raise _too_deep(limits)
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))


class _Budget:
    """Counts the rules of one file as they are parsed, against ``FileLimits``.

    ``code``: the rules come from Python (``parse_follow_ups``), where a reply or a pattern may
    be a function (webot's handler and pattern functions); a file never holds one.
    """

    def __init__(self, limits: FileLimits, code: bool = False):
        self.limits = limits
        self.rules = 0
        self.code = code

    def take(self, name: str, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise _error(name, f"follow-ups nest more than {self.limits.max_depth} levels deep", "follow_ups")
        self.rules += 1
        if self.rules > self.limits.max_rules:
            raise RuleSpecError(f"the rule file holds more than {self.limits.max_rules} rules (follow-ups included)")


def parse_rules(data: Any, limits: FileLimits = DEFAULT_LIMITS) -> list[RuleDef]:
    """Validate a whole rule file (text or loaded data) and return its top-level ``RuleDef``s.

    Raises ``RuleSpecError`` naming the first invalid rule; nothing is returned partially.
    """
    if isinstance(data, (str, bytes)):
        data = load_text(data, limits)
    else:
        _check_nesting(data, limits)
    if data is None:
        raise RuleSpecError("the rule file is empty")
    budget = _Budget(limits)
    if isinstance(data, (dict, list)) and len(data) > limits.max_rules:
        raise RuleSpecError(f"the rule file holds more than {limits.max_rules} rules (follow-ups included)")
    if isinstance(data, dict):
        defs = _parse_mapping(data, None, budget, 1)
    elif isinstance(data, list):
        defs = [_parse_rule(item, number, None, budget, 1) for number, item in enumerate(data, 1)]
    else:
        raise RuleSpecError("a rule file is a mapping (pattern: reply) or a list of rules, "
                            f"not {type(data).__name__}")
    _check_unique(defs)
    return defs


def parse_follow_ups(data: Any, parent: str) -> FollowUp:
    """Follow-ups given to a code rule (``@rule(..., follow_ups=...)``) in the file dialect.

    Beside the file forms, a reply (``handler``) may be a function ``(message, context)`` and a
    ``pattern`` a function ``message -> bool``; ``data`` itself may be one function, which then
    answers whatever the user says next (webot's ``replies: function(info) {...}``).
    """
    holder = RuleDef(name=parent, kind=MatchKind.DEFAULT, no_reply=True)
    if callable(data):
        data = [{"handler": data}]
    elif isinstance(data, dict) and "rules" in data and set(data) <= FOLLOW_UP_KEYS and callable(data["rules"]):
        data = {**data, "rules": [{"handler": data["rules"]}]}
    _check_nesting(data, DEFAULT_LIMITS)
    _apply_follow_ups(holder, data, _Budget(DEFAULT_LIMITS, code=True), depth=1)
    _check_unique([holder])
    spec = holder.to_spec()
    if spec.follow_up is None:
        raise RuleSpecError(f"rule {parent!r}: follow_ups has no enabled rules", rule=parent)
    return spec.follow_up


def _error(name, message, field=None):
    return RuleSpecError(f"rule {name!r}: {message}", field=field, rule=name)


def _text(name, what, value, max_length, *, required=True) -> str:
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int, float)):
        if value is None and not required:
            return ""
        raise _error(name, f"{what} must be text, not {_type_name(value)}", what)
    value = str(value)
    if "\x00" in value:  # PostgreSQL cannot store it, and no WeChat message carries one
        raise _error(name, f"{what} must not contain a NUL character", what)
    if required and not value.strip():
        raise _error(name, f"{what} must not be empty", what)
    if len(value) > max_length:
        raise _error(name, f"{what} is longer than {max_length} characters", what)
    return value


def _type_name(value):
    return "null" if value is None else type(value).__name__


def _integer(name, what, value, minimum, maximum=None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(name, f"{what} must be an integer, not {_type_name(value)}", what)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum}" + (f" to {maximum}" if maximum is not None else "")
        raise _error(name, f"{what} must be {bounds}, got {value}", what)
    return value


def _boolean(name, what, value) -> bool:
    if not isinstance(value, bool):
        raise _error(name, f"{what} must be true or false, not {_type_name(value)}", what)
    return value


def _pattern_name(pattern: Any) -> str:
    if isinstance(pattern, bool) or not isinstance(pattern, (str, int, float)):
        raise RuleSpecError(f"pattern {pattern!r} must be text (quote it in YAML)")
    return str(pattern)[:MAX_NAME]


def _parse_mapping(data: dict, parent: str | None, budget: _Budget, depth: int) -> list[RuleDef]:
    """webot dialog: ``{pattern: reply | rule object}`` (``depth``: of these rules in the tree)."""
    defs = []
    for number, (pattern, value) in enumerate(data.items(), 1):
        name = _pattern_name(pattern) if parent is None else f"{parent}.{number}"
        # A webot rule object, unless it is a news article written without type (its
        # ``description`` is also a rule key).
        if (isinstance(value, dict) and (set(value) & WEBOT_RULE_KEYS) and "type" not in value
                and not {field_name(key) for key in value} <= ARTICLE_FIELDS):
            rule = dict(value)
            if "match" not in rule and "pattern" not in rule:
                rule["pattern"] = pattern
            rule.setdefault("name", name)
        else:
            rule = {"name": name, "match": {"pattern": pattern}, "reply": value}
        defs.append(_parse_rule(rule, number, parent, budget, depth))
    return defs


def _webot_keys(item: dict, name: str) -> dict:
    """A rule object with webot's key names (``pattern``, ``handler``, ``replies``) in ours."""
    if not set(item) & {"pattern", "handler", "replies"}:
        return item
    rule = dict(item)
    for webot_key, key in (("handler", "reply"), ("replies", "follow_ups"), ("pattern", "match")):
        if webot_key in rule:
            if key in rule:
                raise _error(name, f"give either {webot_key} or {key}, not both", key)
            value = rule.pop(webot_key)
            rule[key] = {"pattern": value} if webot_key == "pattern" else value
    return rule


def _parse_rule(item: Any, number: int, parent: str | None, budget: _Budget, depth: int) -> RuleDef:
    label = f"#{number}" if parent is None else f"{parent}.{number}"
    if not isinstance(item, dict):
        raise _error(label, f"a rule is a mapping, not {_type_name(item)}")
    item = _webot_keys(item, str(item.get("name", label)))
    if "name" in item:
        name = _text(label, "name", item["name"], MAX_NAME)
    elif parent is not None:
        name = label
    else:
        raise _error(label, "a rule needs a name")
    unknown = sorted(set(item) - RULE_KEYS, key=str)
    if unknown:
        raise _error(name, f"unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(RULE_KEYS))}")
    budget.take(name, depth)
    definition = RuleDef(name=name, kind=MatchKind.DEFAULT)
    match = item.get("match")
    if budget.code and (match is None or callable(match.get("pattern") if isinstance(match, dict) else None)):
        # Python follow-ups: no pattern answers anything, a function pattern decides.
        definition.kind, definition.predicate = None, (match or {}).get("pattern")
    elif "match" not in item:
        raise _error(name, "a rule needs a match", "match")
    else:
        _apply_match(definition, match)
    if "priority" in item:
        definition.priority = _integer(name, "priority", item["priority"], -(2**31), 2**31 - 1)
    if "enabled" in item:
        definition.enabled = _boolean(name, "enabled", item["enabled"])
    if "description" in item:
        definition.description = _text(name, "description", item["description"], 10_000, required=False)
    if "no_reply" in item:
        definition.no_reply = _boolean(name, "no_reply", item["no_reply"])
    if budget.code and callable(item.get("reply")):
        definition.handler = item["reply"]
        if "follow_ups" in item:
            _apply_follow_ups(definition, item["follow_ups"], budget, depth)
        return definition
    try:
        built = validate_replies(item.get("reply"), definition.no_reply)
    except RuleSpecError as err:
        raise _error(name, err, "reply") from None
    definition.replies = [reply.to_dict() for reply in built]
    if "follow_ups" in item:
        _apply_follow_ups(definition, item["follow_ups"], budget, depth)
    return definition


def _apply_match(definition: RuleDef, match: Any) -> None:
    name = definition.name
    if isinstance(match, str):
        match = {"pattern": match}
    if not isinstance(match, dict):
        raise _error(name, f"match must be a mapping such as {{contains: hello}}, not {_type_name(match)}", "match")
    unknown = sorted(set(match) - set(MATCH_KINDS) - MATCH_EXTRAS, key=str)
    if unknown:
        raise _error(name, f"unknown match key(s) {', '.join(map(str, unknown))}; "
                           f"known: {', '.join(MATCH_KINDS)}, flags, key", "match")
    kinds = [kind for kind in MATCH_KINDS if kind in match]
    if len(kinds) != 1:
        raise _error(name, f"match needs exactly one of {', '.join(MATCH_KINDS)}", "match")
    kind = kinds[0]
    flags = _text(name, "flags", match["flags"], MAX_FLAGS, required=False) if "flags" in match else ""
    key = _text(name, "key", match["key"], MAX_KEY, required=False) if "key" in match else ""
    if kind == "default":
        if match["default"] is not True:
            raise _error(name, "match default must be true", "match")
        value = ""
    else:
        value = _text(name, kind, match[kind], MAX_VALUE)
    if kind == "pattern":
        written = value
        kind, value, pattern_flags = webot_pattern(value)
        if pattern_flags and flags:
            raise _error(name, "give regex flags either in the /pattern/ or in flags, not both", "match")
        flags = flags or pattern_flags
        if kind == "regex" and not _WEBOT_REGEX.match(written):
            try:
                validate_match(kind, value, key, flags)
            except RuleSpecError as err:
                raise _error(name, f"{err} (a webot pattern with regex characters is a regular expression; "
                                   "for a literal keyword write match: {contains: ...})", "match") from None
    if kind == "type":
        value = value.strip().lower()
    try:
        validate_match(kind, value, key, flags)
    except RuleSpecError as err:
        raise _error(name, err, "match") from None
    definition.kind, definition.value, definition.key, definition.flags = MatchKind(kind), value, key, flags


def webot_pattern(pattern: str) -> tuple[str, str, str]:
    """webot's string pattern as ``(kind, value, flags)``, with webot's meaning.

    ``/re/flags`` is a regex, ``=text`` exact, ``Y`` and ``N`` webot's yes / no shorthands; any
    other string is, as webot's ``new RegExp(p)``, a (case-sensitive) regex when it holds a
    regex metacharacter (``'both|不男不女'``), else a keyword (``'是机器人'``: *contains*, which
    finds the same messages and stays in the keyword automaton).
    """
    match = _WEBOT_REGEX.match(pattern)
    if match:
        # webot (JavaScript) allows g, which means nothing for a single match.
        return "regex", match.group(1), match.group(2).replace("g", "")
    if pattern.startswith("=") and len(pattern) > 1:
        return "exact", pattern[1:], ""
    if pattern in WEBOT_SHORTHANDS:
        return "regex", WEBOT_SHORTHANDS[pattern], "i"
    if _REGEX_METACHARACTERS.intersection(pattern):
        return "regex", pattern, ""
    return "contains", pattern, ""


def _apply_follow_ups(definition: RuleDef, data: Any, budget: _Budget, depth: int) -> None:
    """Parse ``definition``'s follow-ups (``depth``: of ``definition`` in the rule tree)."""
    name = definition.name
    timeout, retries = None, 0
    if isinstance(data, dict) and "rules" in data and set(data) <= FOLLOW_UP_KEYS:
        if data.get("timeout") is not None:
            timeout = _integer(name, "follow_ups timeout", data["timeout"], 1, 2**31 - 1)
        if "retries" in data:
            retries = _integer(name, "follow_ups retries", data["retries"], 0, MAX_RETRIES)
        rules = data["rules"]
    else:
        rules = data
    if isinstance(rules, dict):
        children = _parse_mapping(rules, name, budget, depth + 1)
    elif isinstance(rules, list):
        children = [_parse_rule(item, number, name, budget, depth + 1) for number, item in enumerate(rules, 1)]
    else:
        raise _error(name, "follow_ups is {timeout, retries, rules: [...]}, a list of rules or a mapping "
                           f"pattern: reply, not {_type_name(rules)}", "follow_ups")
    if not children:
        raise _error(name, "follow_ups needs at least one rule", "follow_ups")
    definition.follow_ups = children
    definition.follow_up_timeout = timeout
    definition.follow_up_retries = retries


def _check_unique(defs: list[RuleDef]) -> None:
    # Rule names are unique per account, follow-ups included (a database constraint).
    seen: set[str] = set()

    def walk(items):
        for item in items:
            if item.name in seen:
                raise _error(item.name, "the name is used by another rule in this file", "name")
            seen.add(item.name)
            walk(item.follow_ups)

    walk(defs)


def rule_warnings(defs: list[RuleDef]) -> list[str]:
    """What WeChat expects and the rules' valid replies lack (music without a cover…), one line
    per reply naming the rule: shown on import, which still goes ahead."""
    found = []
    for definition in _names(defs):
        for number, item in enumerate(definition.replies, 1):
            for warning in reply_from_dict(item).warnings():
                prefix = f"reply {number}: " if len(definition.replies) > 1 else ""
                found.append(f"rule {definition.name!r}: {prefix}{warning}")
    return found


def _names(defs):
    for definition in defs:
        yield definition
        yield from _names(definition.follow_ups)


def specs_from_defs(defs: list[RuleDef]) -> list[RuleSpec]:
    """The enabled rules as ``RuleSpec``s, positioned in definition order."""
    return [d.to_spec(number) for number, d in enumerate(defs, 1) if d.enabled]


# --- writing ---------------------------------------------------------------------------------

def _reply_out(item: dict[str, Any]):
    if item.get("type") == TextReply.type and set(item) <= {"type", "content"}:
        return item.get("content", "")
    return dict(item)


def dump_rule(definition: RuleDef) -> dict[str, Any]:
    """The list-form mapping of one rule (what ``parse_rules`` reads back identically)."""
    out: dict[str, Any] = {"name": definition.name}
    if definition.description:
        out["description"] = definition.description
    if definition.priority:
        out["priority"] = definition.priority
    if not definition.enabled:
        out["enabled"] = False
    kind = MatchKind(definition.kind)
    match: dict[str, Any] = {kind.value: True if kind == MatchKind.DEFAULT else definition.value}
    if definition.flags:
        match["flags"] = definition.flags
    if definition.key:
        match["key"] = definition.key
    out["match"] = match
    if definition.no_reply:
        out["no_reply"] = True
    else:
        replies = [_reply_out(item) for item in definition.replies]
        out["reply"] = replies[0] if len(replies) == 1 else replies
    if definition.follow_ups:
        follow_ups: dict[str, Any] = {}
        if definition.follow_up_timeout:
            follow_ups["timeout"] = definition.follow_up_timeout
        if definition.follow_up_retries:
            follow_ups["retries"] = definition.follow_up_retries
        follow_ups["rules"] = [dump_rule(child) for child in definition.follow_ups]
        out["follow_ups"] = follow_ups
    return out


def dump_rules(defs: list[RuleDef]) -> list[dict[str, Any]]:
    return [dump_rule(d) for d in defs]


def dump_text(data: list[dict[str, Any]], fmt: str = "yaml") -> str:
    """Serialize exported rules as YAML (default) or JSON."""
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)
    raise ValueError(f"unknown format {fmt!r} (use yaml or json)")
