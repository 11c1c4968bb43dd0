import pytest

from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

APP_ID, APP_SECRET = "wxoutbound0001", "outbound-app-secret"


@pytest.fixture
def account(db, sandbox):
    """An account whose API base URL is the sandbox, with 5 followers there."""
    from wechat_app.models import Account

    sandbox.state.add_app(APP_ID, APP_SECRET)
    sandbox.state.add_followers(APP_ID, count=5)
    return Account.objects.create(name="demo", app_id=APP_ID, app_secret=APP_SECRET, token="tok123",
                                  api_base_url=sandbox.url)


@pytest.fixture
def followers(sandbox, account):
    return list(sandbox.state.followers[APP_ID])


def redis_cache_configured():
    from django.conf import settings

    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


@pytest.fixture(autouse=True)
def _eager_celery(request):
    """Tasks run in-process unless the test runs a real worker (marked ``celery_worker``).

    CI's second pass configures a Redis broker; without this, queued tasks would wait there.
    """
    from project.celery import app

    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
