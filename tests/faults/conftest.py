"""Fixtures of the fault tests: a cache that can fail, a database that can fail, a private spool."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.db import OperationalError, connection
from django.test import Client

from tests.faults.flaky_cache import FlakyCache
from wechat_app.models import Account
from wechat_app.protocol.simulator import build_message, read_reply, sign_request
from wechat_app.services import accounts, rules
from wechat_app.services.cachebatch import health
from wechat_app.services.rules import import_rules

RULES = """
- name: hi
  match: {exact: hi}
  reply: hello
- name: fallback
  match: {default: true}
  reply: what?
"""


@pytest.fixture(autouse=True)
def _fresh_process_state(settings, tmp_path):
    """Each test starts as a fresh process would: nothing in memory, a spool of its own."""
    settings.WECHAT_APP = {**settings.WECHAT_APP, "SPOOL_DIR": str(tmp_path / "spool")}
    accounts._accounts.clear()
    rules.clear_local_indexes()
    health.reset()
    FlakyCache.down = False
    yield
    FlakyCache.down = False
    health.reset()
    accounts._accounts.clear()
    rules.clear_local_indexes()


@pytest.fixture
def flaky_cache(settings):
    """The default cache becomes a FlakyCache (``.down = True`` plays Redis being down)."""
    settings.CACHES = {"default": {"BACKEND": "tests.faults.flaky_cache.FlakyCache", "LOCATION": "faults"}}
    # No pause after a failure: each test step sees the cache as it is at that moment.
    settings.WECHAT_APP = {**settings.WECHAT_APP, "CACHE_RETRY_INTERVAL": 0}
    return FlakyCache


class DatabaseSwitch:
    """Plays the database going down (every new connection is refused) and coming back."""

    def __init__(self):
        self.monkeypatch = pytest.MonkeyPatch()

    def down(self):
        def refuse(*args, **kwargs):
            raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

        # Every query of this thread's connection goes through ensure_connection() first.
        self.monkeypatch.setattr(connection, "ensure_connection", refuse)

    def up(self):
        self.monkeypatch.undo()


@pytest.fixture
def database(transactional_db):
    switch = DatabaseSwitch()
    yield switch
    switch.up()  # before the test database is flushed


@pytest.fixture
def account(db):
    account = Account.objects.create(name="shop", app_id="wx00000000000000aa", app_secret="s" * 32, token="tok123")
    import_rules(account, RULES)
    return account


def post(account_or_name, text, msg_id, *, token=None, query=None, user="oUser000001"):
    """POST a plaintext delivery (signed, or with the given ``query``); (response, reply fields or None)."""
    name = getattr(account_or_name, "name", account_or_name)
    token = token or account_or_name.token
    xml = build_message("text", [text], user=user, sp="gh_shop", msg_id=msg_id)
    signed, data = sign_request(xml, token)
    signed = query or signed
    response = Client().post(f"/wechat/callback/{name}/?{urlencode(signed)}", data=data, content_type="text/xml")
    fields = read_reply(response.content, None)[0] if response.status_code == 200 and response.content.startswith(
        b"<xml>") else None
    return response, fields
