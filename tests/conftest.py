import os

import pytest


@pytest.fixture(autouse=True)
def _clear_cache():
    """Every test starts with an empty cache (Redis database 15 in CI, local memory otherwise)."""
    from django.core.cache import cache

    cache.clear()
    yield


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
