"""Issue 11: no message waits for an index build; incremental refreshes match full builds."""
import gc
import logging
import random
import threading
import weakref

import pytest

from wechat_app.engine import MatchKind, RuleIndex, RuleSpec
from wechat_app.engine import index as index_module
from wechat_app.models import Account, Rule
from wechat_app.protocol.messages import Message
from wechat_app.protocol.replies import TextReply
from wechat_app.services import rule_index, rules


def text(content):
    return Message(uid="u", sp="gh", type="text", create_time=1, id="1", text=content)


def answer(account, content):
    result = rules.respond(account, text(content))
    return result.reply.content if result.reply is not None else None


@pytest.fixture
def background(settings):
    """Every account is built in the background (as if it had 100,000 rules)."""
    settings.WECHAT_APP = {**settings.WECHAT_APP, "INDEX_BACKGROUND_RULES": 0, "INDEX_FIRST_BUILD_WAIT": 5.0}
    rule_index.clear_local_indexes()
    yield
    for thread in threading.enumerate():
        if thread.name.startswith("wechat-rule-index"):
            thread.join(10)
    rule_index.clear_local_indexes()


@pytest.fixture
def gate():
    """Holds background builds until the test opens it."""
    opened = threading.Event()
    original = rule_index._build

    def held(*args, **kwargs):
        opened.wait(10)
        return original(*args, **kwargs)

    rule_index._build = held
    yield opened
    opened.set()
    rule_index._build = original


@pytest.fixture
def shop(db):
    account = Account.objects.create(name="shop", app_id="wx1", app_secret="s", token="t")
    Rule.objects.create(account=account, name="hi", match_kind="exact", match_value="hi",
                        replies=[{"type": "text", "content": "hello"}])
    return account


def wait_built(account):
    slot = rule_index._slot(account.pk)
    assert slot.done.wait(10)


@pytest.mark.django_db(transaction=True)
def test_a_message_during_a_rebuild_is_answered_by_the_old_index_then_the_new_rule(shop, background, gate):
    gate.set()
    assert answer(shop, "hi") == "hello"  # the first build: waited for (no older index)
    gate.clear()
    Rule.objects.create(account=shop, name="new", match_kind="exact", match_value="new",
                        replies=[{"type": "text", "content": "brand new"}])
    old = rule_index._indexes[shop.pk].index
    assert answer(shop, "new") is None  # the rebuild is held: the old index answers at once
    assert answer(shop, "hi") == "hello"
    assert rule_index._indexes[shop.pk].index.__class__ is RuleIndex and rule_index._slot(shop.pk).building
    gate.set()
    wait_built(shop)
    assert rule_index._indexes[shop.pk].index is not old
    assert answer(shop, "new") == "brand new"
    assert answer(shop, "hi") == "hello"


@pytest.mark.django_db(transaction=True)
def test_a_failed_build_keeps_the_old_index_and_logs(shop, background, caplog, monkeypatch):
    assert answer(shop, "hi") == "hello"
    wait_built(shop)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(rule_index, "_load_rows", broken)
    Rule.objects.filter(name="hi").update(replies=[{"type": "text", "content": "changed"}])
    rules.bump_rules_version(shop.pk)
    with caplog.at_level(logging.ERROR, logger="wechat_app.services.rules"):
        assert answer(shop, "hi") == "hello"
        wait_built(shop)
    assert "disk on fire" in caplog.text and "previous index keeps answering" in caplog.text
    assert answer(shop, "hi") == "hello"  # still the old one (and no retry within a second)
    monkeypatch.undo()
    rule_index._slot(shop.pk).retry_after = 0
    answer(shop, "hi")
    wait_built(shop)
    assert answer(shop, "hi") == "changed"


@pytest.mark.django_db(transaction=True)
def test_at_most_two_indexes_of_an_account_are_alive(shop, background, gate):
    gate.set()
    answer(shop, "hi")
    alive = weakref.WeakSet()
    original = RuleIndex.__init__

    def tracked(self, *args, **kwargs):
        original(self, *args, **kwargs)
        alive.add(self)

    RuleIndex.__init__ = tracked
    try:
        alive.add(rule_index._indexes[shop.pk].index)
        for n in range(6):
            gate.clear()
            Rule.objects.create(account=shop, name=f"r{n}", match_kind="exact", match_value=f"r{n}",
                                replies=[{"type": "text", "content": f"reply {n}"}])
            for _ in range(3):  # more messages, more changes: still one build at a time
                answer(shop, f"r{n}")
            gc.collect()
            # The serving index and the one being built, each a patch sharing one large index.
            assert len([i for i in alive if isinstance(i, index_module.PatchedIndex)]) <= 2
            bases = {id(getattr(i, "base", i)) for i in alive if isinstance(i, index_module.PatchedIndex)}
            assert len(bases) <= 2
            gate.set()
            wait_built(shop)
        gc.collect()
        assert answer(shop, "r5") == "reply 5"
        patched = [i for i in alive if isinstance(i, index_module.PatchedIndex)]
        assert len(patched) <= 2
    finally:
        RuleIndex.__init__ = original


@pytest.mark.django_db(transaction=True)
def test_warm_up_builds_before_the_first_message(shop, background, monkeypatch):
    built = []
    original = rule_index._build
    monkeypatch.setattr(rule_index, "_build", lambda *a, **k: built.append(a[0]) or original(*a, **k))
    from wechat_app.engine.registry import warm

    warm(wait=True)
    assert built == [shop.pk]
    assert answer(shop, "hi") == "hello"
    assert built == [shop.pk]  # the message found the index ready

    rule_index.clear_local_indexes()
    warm().join(10)  # the background form (wsgi.py, post_fork)
    assert built == [shop.pk, shop.pk]
    assert answer(shop, "hi") == "hello" and len(built) == 2


@pytest.mark.django_db(transaction=True)
def test_the_first_request_of_a_process_warms_up(shop, background, client, monkeypatch):
    monkeypatch.setattr(rule_index, "_warmed", False)
    client.get("/wechat/callback/shop/")  # any request
    for thread in threading.enumerate():
        if thread.name == "wechat-rule-index-warm-up":
            thread.join(10)
    assert shop.pk in rule_index._indexes


@pytest.mark.django_db(transaction=True)
def test_a_message_during_the_first_build_gets_the_no_match_path_in_time(shop, background, gate, settings,
                                                                        caplog):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "INDEX_FIRST_BUILD_WAIT": 0.05}
    with caplog.at_level(logging.WARNING, logger="wechat_app.services.rules"):
        result = rules.respond(shop, text("hi"))
    assert result.reply is None and not result.matched  # answered (the account's no-match reply)
    assert "still being built" in caplog.text
    gate.set()
    wait_built(shop)
    assert answer(shop, "hi") == "hello"


def test_small_accounts_are_built_inline(shop, settings):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "INDEX_BACKGROUND_RULES": 2000}
    rule_index.clear_local_indexes()
    assert answer(shop, "hi") == "hello"
    Rule.objects.create(account=shop, name="new", match_kind="exact", match_value="new",
                        replies=[{"type": "text", "content": "brand new"}])
    assert answer(shop, "new") == "brand new"  # this process sees its own change at once
    assert not rule_index._slot(shop.pk).building


# --- incremental updates = full builds --------------------------------------------------------------

KINDS = ["exact", "contains", "regex", "event", "default"]
WORDS = ["tea", "cake", "milk", "tea cake", "order", "help"]


def random_row(rng, account, name, parents):
    kind = rng.choice(KINDS)
    word = rng.choice(WORDS)
    value = {"exact": word, "contains": word, "regex": rf"^{word} (\d+)$" if rng.random() < .7 else r"^\d+$",
             "event": "CLICK", "default": ""}[kind]
    parent = rng.choice(parents) if parents and rng.random() < 0.3 else None
    return dict(account=account, name=name, match_kind=kind, match_value=value, parent=parent,
                match_key=f"K{rng.randrange(3)}" if kind == "event" else "",
                priority=rng.choice([0, 0, 1, 5]), enabled=rng.random() < 0.9,
                position=rng.choice([None, rng.randrange(50)]) if rng.random() < 0.2 else None,
                replies=[{"type": "text", "content": f"{name} {{1}}"}])


def fingerprint(index, messages):
    return [[(c.spec.name, c.spec.id, c.captures, c.spec.follow_up is not None) for c in index.candidates(m)]
            for m in messages]


@pytest.mark.django_db
@pytest.mark.parametrize("bucket", [1024, 4])
def test_incremental_updates_give_the_same_matches_as_a_full_build(shop, bucket, monkeypatch):
    """On PostgreSQL a refresh reads only the rows of the id buckets whose hash changed (small
    buckets here: follow-ups in other buckets than their changed parent); elsewhere all rows."""
    monkeypatch.setattr(rule_index, "BUCKET", bucket)
    rng = random.Random(11)
    made = [Rule.objects.create(**random_row(rng, shop, f"r{n}", [])) for n in range(40)]
    messages = [text(f"{a} {b}") for a in WORDS for b in ("1", "x", "")] + [text("42"), text("TEA")]
    messages += [Message(uid="u", sp="gh", type="event", create_time=1, event="CLICK", event_key=f"K{k}")
                 for k in range(3)]
    entry = rule_index._build(shop.pk, shop.name, "s", None)
    for step in range(60):
        action = rng.random()
        if action < 0.4:
            made.append(Rule.objects.create(**random_row(rng, shop, f"n{step}", made[:20])))
        elif action < 0.7 and made:
            row = rng.choice(made)
            fields = random_row(rng, shop, row.name, [])
            fields.pop("parent")
            Rule.objects.filter(pk=row.pk).update(**{k: v for k, v in fields.items() if k != "account"})
        elif made:
            row = made.pop(rng.randrange(len(made)))
            Rule.objects.filter(pk=row.pk).delete()
            made = [r for r in made if Rule.objects.filter(pk=r.pk).exists()]
        entry = rule_index._build(shop.pk, shop.name, "s", entry)
        full = rule_index._build(shop.pk, shop.name, "s", None)
        assert fingerprint(entry.index, messages) == fingerprint(full.index, messages), step
        for name in {r.name for r in made}:
            assert (entry.index.named(name) or RuleSpec("", None)).id == (full.index.named(name)
                                                                          or RuleSpec("", None)).id
    assert isinstance(entry.index, index_module.PatchedIndex)  # it did patch, not rebuild


def test_patched_engine_index_equals_a_full_build_over_random_changes():
    rng = random.Random(5)

    def make(n):
        kind = rng.choice([MatchKind.EXACT, MatchKind.CONTAINS, MatchKind.REGEX, MatchKind.DEFAULT])
        word = rng.choice(WORDS)
        value = {MatchKind.EXACT: word, MatchKind.CONTAINS: word, MatchKind.DEFAULT: "",
                 MatchKind.REGEX: rng.choice([rf"^{word} (\d+)$", r"^\d+$", r"^(\w)\w*$", r"x?\d$"])}[kind]
        return RuleSpec(name=f"s{n}", kind=kind, value=value, replies=(TextReply(content="r"),), id=n,
                        priority=rng.choice([0, 1]), position=rng.randrange(1000) * 10_000 + n)

    specs = {n: make(n) for n in range(200)}
    index = RuleIndex(specs.values())
    messages = [text(f"{a} {b}") for a in WORDS for b in ("7", "q")] + [text("123"), text("x9")]
    for step in range(300, 340):
        removed = set(rng.sample(sorted(specs), 3))
        added = [make(step * 10 + k) for k in range(2)] + [make(n) for n in removed if rng.random() < 0.5]
        for n in removed:
            specs.pop(n)
        specs.update({spec.id: spec for spec in added})
        index = index.patched(removed, added)
        assert fingerprint(index, messages) == fingerprint(RuleIndex(specs.values()), messages)
        assert len(index) == len(specs)


def test_literal_less_regexes_behind_a_gate_still_answer():
    specs = [RuleSpec(name=f"d{n}", kind=MatchKind.REGEX, value=rf"^\d{{{n + 1}}}$", replies=(TextReply(content="d"),),
                      position=n) for n in range(70)]
    index = RuleIndex(specs)
    assert [c.spec.name for c in index.candidates(text("12345"))] == ["d4"]
    assert [c.spec.name for c in index.candidates(text("1" * 70))] == ["d69"]
    assert list(index.candidates(text("no digits"))) == []


def test_a_worker_forked_during_a_build_can_build():
    """gunicorn --preload: the master's warm-up thread may hold the build lock when a worker forks."""
    import os

    held, release = threading.Event(), threading.Event()

    def builder():
        with rule_index._build_lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=builder)
    thread.start()
    held.wait(10)
    pid = os.fork()
    if pid == 0:  # the worker: the lock is free for it
        os._exit(0 if rule_index._build_lock.acquire(timeout=2) else 1)
    release.set()
    thread.join()
    assert os.waitpid(pid, 0)[1] == 0


@pytest.mark.parametrize("name, value, check_id", [
    ("INDEX_BACKGROUND_RULES", -1, "E050"), ("INDEX_BACKGROUND_RULES", "many", "E050"),
    ("INDEX_FIRST_BUILD_WAIT", 6, "E051"), ("INDEX_FIRST_BUILD_WAIT", True, "E051"),
    ("INDEX_WARM_UP", "yes", "E052"),
])
def test_index_settings_are_checked(settings, name, value, check_id):
    from wechat_app.checks import check_rule_index_settings

    settings.WECHAT_APP = {**settings.WECHAT_APP, name: value}
    assert [error.id for error in check_rule_index_settings(None)] == [f"wechat_app.{check_id}"]
    settings.WECHAT_APP = {**settings.WECHAT_APP, name: {"INDEX_BACKGROUND_RULES": None,
                                                         "INDEX_FIRST_BUILD_WAIT": 0,
                                                         "INDEX_WARM_UP": False}[name]}
    assert check_rule_index_settings(None) == []
