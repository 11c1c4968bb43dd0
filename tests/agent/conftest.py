"""Fixtures of the agent gateway tests: an Official Account on a sandbox with followers, an API
token of a superuser, and helpers to post JSON."""
import json

import pytest
from django.contrib.auth import get_user_model

from wechat_app.models import Account, AgentSettings
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

APP_ID, APP_SECRET, TOKEN = "wxagentgateway01", "agent-gateway-secret", "tok123agent"
API = "/wechat/api"
USER = "oAgentUser0001"


@pytest.fixture(autouse=True)
def _eager_celery(eager_celery):
    """Tasks run in-process (also in the PostgreSQL + Redis pass, whose broker has no worker here)."""


@pytest.fixture
def shop(db, sandbox):
    sandbox.state.add_app(APP_ID, APP_SECRET)
    sandbox.state.add_followers(APP_ID, followers=[USER, "oAgentUser0002"])
    return Account.objects.create(name="shop", app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN,
                                  api_base_url=sandbox.url)


def agent_settings(account, **values):
    settings, _ = AgentSettings.objects.update_or_create(account=account, defaults=values)
    return settings


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", None)


@pytest.fixture
def api_key(root):
    from wechat_app.services import api_tokens

    _, key = api_tokens.create_token(root, "agent")
    return key


@pytest.fixture
def api(client, root):
    client.force_login(root)
    return client


def post(client, url, data=None):
    return client.post(url, json.dumps(data if data is not None else {}), content_type="application/json")


def competing_inbox_workers(api_url, api_key, **worker_options) -> dict[str, list]:
    """Two inbox workers ("w1", "w2") draining the inbox: at once where the database serves
    concurrent connections (PostgreSQL), one after the other on SQLite (the live server shares one
    in-memory connection between threads). Answers what each worker handled."""
    import threading

    from django.db import connection

    from wechat_app.sandbox.agent import inbox_worker

    handled = {}

    def work(name):
        handled[name] = inbox_worker(api_url, api_key, name, idle_rounds=2, **worker_options)

    concurrent = connection.vendor == "postgresql"
    threads = [threading.Thread(target=work, args=(name,)) for name in ("w1", "w2")]
    for thread in threads:
        thread.start()
        if not concurrent:
            thread.join()
    for thread in threads:
        thread.join(60)
    return handled
