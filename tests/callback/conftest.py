"""Fixtures of the callback tests: accounts in every mode, a WeChat-side client, a stand-in engine.

Tests of the transport replace ``services.inbound.run_rules`` with ``FakeEngine``, which keeps
the engine's contract (``respond(account, message, **options) -> EngineResult(rule, reply,
matched)``) with a few fixed rules and counts its calls; other tests run the real engine.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.wechat_client import WeChatServer
from wechat_app.protocol import TextReply

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TOKEN = "tok123abc"


@dataclass
class FakeRule:
    name: str
    id: Any = None


@dataclass
class FakeResult:
    rule: FakeRule | None
    reply: Any
    matched: bool


class FakeEngine:
    """text "slow" sleeps, "boom" raises, "quiet" matches without reply, "nothing" is unmatched;
    other text echoes; every other type or event answers with a description of it."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()
        self.slow_seconds = 1.0

    def __call__(self, account, message, **options):
        with self.lock:
            self.calls.append(message)
        if message.text == "slow":
            time.sleep(self.slow_seconds)
        if message.text == "boom":
            raise RuntimeError("rule exploded")
        if message.text == "quiet":
            return FakeResult(FakeRule("quiet"), None, True)
        if message.text == "nothing":
            return FakeResult(None, None, False)
        if message.text == "random":  # a different reply each run: retries must not re-run it
            return FakeResult(FakeRule("random"), TextReply(content=f"r{time.perf_counter_ns()}"), True)
        if message.type == "text":
            return FakeResult(FakeRule("echo"), TextReply(content=f"echo: {message.text}"), True)
        if message.is_event:
            return FakeResult(FakeRule("event"), TextReply(content=f"event {message.event} {message.event_key or ''}".strip()), True)
        return FakeResult(FakeRule("type"), TextReply(content=f"type {message.type} {message.text or ''}".strip()), True)


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine()
    monkeypatch.setattr("wechat_app.services.inbound.run_rules", fake)
    return fake


@pytest.fixture
def make_account(db):
    from wechat_app.models import Account

    def make(name="acme", mode="plain", **extra):
        values = dict(name=name, app_id="wx1234567890abcd", app_secret="s3cr3t-app-secret", token=TOKEN,
                      encoding_aes_key=AES_KEY if mode != "plain" else extra.pop("encoding_aes_key", ""),
                      encrypt_mode=mode)
        values.update(extra)
        account = Account(**values)
        account.full_clean()
        account.save()
        return account

    return make


@pytest.fixture
def wechat(live_server):
    """``wechat(account)`` -> a WeChatServer client for that account on the live server."""

    def client(account, **overrides):
        return WeChatServer(live_server.url, overrides.get("name", account.name), overrides.get("token", account.token),
                            overrides.get("app_id", account.app_id),
                            overrides.get("aes_key", account.encoding_aes_key or None))

    return client
