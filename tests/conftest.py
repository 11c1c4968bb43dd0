import os

import pytest


@pytest.fixture(autouse=True)
def _clear_cache():
    """Every test starts with an empty cache (Redis database 15 in CI, local memory otherwise)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _sandbox_allowed(request, monkeypatch):
    """The suite's sandboxes listen on loopback ports chosen at run time. The project's settings
    allow them (WECHAT_SANDBOX); this keeps them allowed in tests that replace
    ``settings.WECHAT_APP`` wholesale. A test that needs the shipped default asks for the
    ``shipped_api_allow_list`` fixture."""
    if "shipped_api_allow_list" in request.fixturenames:
        yield
        return
    from wechat_app import conf
    from wechat_app.client.hosts import LOOPBACK_SANDBOX_BASE_URLS, WECHAT_API_BASE_URLS, WECOM_API_BASE_URLS

    monkeypatch.setitem(conf.DEFAULTS, "ALLOWED_API_BASE_URLS",
                        [*WECHAT_API_BASE_URLS, *WECOM_API_BASE_URLS, *LOOPBACK_SANDBOX_BASE_URLS])
    conf.app_settings.reload()
    yield
    monkeypatch.undo()
    conf.app_settings.reload()


@pytest.fixture
def eager_celery():
    """Celery tasks run in-process for the test, also in CI's second pass, whose Redis broker has no
    worker here. A test module makes it autouse with ``_eager_celery(eager_celery)``."""
    from project.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def shipped_api_allow_list(settings):
    """The app's own default allow-list (WeChat's hosts only), without the project's sandbox opt-in."""
    settings.WECHAT_APP = {}


def pytest_report_header(config):
    from django.conf import settings

    return [
        f"database: {settings.DATABASES['default']['ENGINE']}",
        f"cache: {settings.CACHES['default']['BACKEND']}",
    ]


def pytest_sessionstart(session):
    # In CI's second pass the real services must be in use; fail loudly rather than silently
    # testing the embedded defaults twice.
    if os.environ.get("CI_REQUIRE_SERVICES"):
        from django.conf import settings

        assert "postgresql" in settings.DATABASES["default"]["ENGINE"], "PostgreSQL is not configured"
        assert "redis" in settings.CACHES["default"]["BACKEND"].lower(), "Redis is not configured"


@pytest.fixture(autouse=True, scope="session")
def _rule_indexes_inline():
    """Rule indexes are built inline, by the message that needs them, whatever the account's size,
    and the first request starts no warm-up thread: a thread has a database connection of its own,
    which does not see what a test wrote in its transaction. tests/engine/test_rule_index.py
    turns the background builds on (with transactional tests)."""
    from wechat_app import conf
    from wechat_app.services import rule_index

    rule_index._warmed = True
    conf.DEFAULTS["INDEX_BACKGROUND_RULES"] = None
    conf.app_settings.reload()
    yield
