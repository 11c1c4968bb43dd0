"""Benchmark of the reply engine alone (no Django, no HTTP): index build and per-message matching.

    python bench/engine_bench.py [--sizes 10,1000,100000] [--messages 2000]

Builds indexes of mixed rules (40% contains, 25% exact, 20% regex — a few without a literal —,
10% events with keys, the rest types and one default) and prints the build time and the time to
answer one message (p50/p99, microseconds) for hits of each kind and for misses (answered by
the default rule, i.e. every candidate list is walked to the end).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wechat_app.engine import Engine, MatchKind, MemoryStateStore, RuleIndex, RuleSpec  # noqa: E402
from wechat_app.protocol.messages import Message  # noqa: E402
from wechat_app.protocol.replies import TextReply  # noqa: E402

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu 天气 音乐 新闻 游戏 订单 帮助").split()


def make_rules(count: int, rng: random.Random) -> list[RuleSpec]:
    rules = []
    for n in range(count):
        roll = n % 20
        reply = (TextReply(content=f"reply {n} {{1}}"),)
        word = f"{rng.choice(WORDS)}{n}"
        if roll < 8:
            kind, value, key = MatchKind.CONTAINS, f"kw{word}", ""
        elif roll < 13:
            kind, value, key = MatchKind.EXACT, f"exact {word}", ""
        elif roll < 17:
            kind, value, key = MatchKind.REGEX, rf"^order (\d+) {word}$", ""
        elif roll == 17:
            # Regexes without a mandatory literal run for every text: keep them rare, as in practice.
            kind, value, key = (MatchKind.REGEX, rf"^\d{{{3 + n % 5}}}-\d{{{n % 7 + 1}}}$", "") if n % 1000 == 17 \
                else (MatchKind.REGEX, rf"(?i)^track\s+(\w+)\s+{word}$", "")
        elif roll == 18:
            kind, value, key = MatchKind.EVENT, "CLICK", f"KEY_{n}"
        else:
            kind, value, key = MatchKind.TYPE, rng.choice(["image", "location", "link", "voice"]), ""
        rules.append(RuleSpec(name=f"r{n}", kind=kind, value=value, key=key, replies=reply,
                              priority=rng.choice([0, 0, 0, 1, 5]), position=n))
    rules.append(RuleSpec(name="fallback", kind=MatchKind.DEFAULT, replies=(TextReply(content="?"),),
                          position=count))
    return rules


def text(content: str) -> Message:
    return Message(uid="bench-user", sp="gh", type="text", create_time=1, id="1", text=content)


def click(key: str) -> Message:
    return Message(uid="bench-user", sp="gh", type="event", create_time=1, event="CLICK", event_key=key)


def messages_for(rules: list[RuleSpec], rng: random.Random, count: int):
    by_kind: dict[str, list[Message]] = {"contains hit": [], "exact hit": [], "regex hit": [],
                                         "event hit": [], "miss": []}
    for spec in rules:
        if spec.kind == MatchKind.CONTAINS:
            by_kind["contains hit"].append(text(f"please tell me about {spec.value} today"))
        elif spec.kind == MatchKind.EXACT:
            by_kind["exact hit"].append(text(spec.value.upper()))
        elif spec.kind == MatchKind.REGEX and spec.value.startswith("^order"):
            word = spec.value.rsplit(" ", 1)[1].rstrip("$")
            by_kind["regex hit"].append(text(f"order 123 {word}"))
        elif spec.kind == MatchKind.EVENT:
            by_kind["event hit"].append(click(spec.key))
    by_kind["miss"] = [text(f"just chatting about {rng.choice(WORDS)} and {rng.choice(WORDS)}, nothing else")
                       for _ in range(200)]
    return {kind: [rng.choice(items) for _ in range(count)] for kind, items in by_kind.items() if items}


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,1000,100000")
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(42)
    print(f"{'rules':>8} {'build s':>8} {'case':>13} {'p50 us':>8} {'p99 us':>8} {'answered':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        rules = make_rules(size, rng)
        started = time.perf_counter()
        index = RuleIndex(rules)
        build = time.perf_counter() - started
        engine = Engine(index, store=MemoryStateStore(), rng=rng)
        for kind, messages in messages_for(rules, rng, args.messages).items():
            timings, answered = [], 0
            for message in messages:
                started = time.perf_counter()
                result = engine.respond(message, state_key="bench-user")
                timings.append((time.perf_counter() - started) * 1e6)
                answered += result.rule is not None and result.rule.name != "fallback"
            print(f"{size:>8} {build:>8.3f} {kind:>13} {statistics.median(timings):>8.1f} "
                  f"{percentile(timings, 0.99):>8.1f} {answered / len(messages):>8.0%}")


if __name__ == "__main__":
    main()
