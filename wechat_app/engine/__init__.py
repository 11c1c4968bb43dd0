"""The reply engine: rules compiled into an index, follow-up state, hooks and the rule dialect.

Pure Python (no Django). ``services.rules`` wires it to the database and the cache.
"""
from .core import Engine, EngineContext, EngineResult, to_reply
from .dialect import RuleDef, dump_rules, dump_text, load_text, parse_rules, specs_from_defs
from .index import Candidate, RuleIndex
from .registry import NO_REPLY, RuleRegistry, after_reply, before_reply, registry, rule, wait_rule
from .spec import FollowUp, MatchKind, RuleSpec, RuleSpecError
from .state import MemoryStateStore, StateStore

__all__ = [
    "NO_REPLY", "Candidate", "Engine", "EngineContext", "EngineResult", "FollowUp", "MatchKind",
    "MemoryStateStore", "RuleDef", "RuleIndex", "RuleRegistry", "RuleSpec", "RuleSpecError",
    "StateStore", "after_reply", "before_reply", "dump_rules", "dump_text", "load_text",
    "parse_rules", "registry", "rule", "specs_from_defs", "to_reply", "wait_rule",
]
