import pytest

from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

APP_ID, APP_SECRET = "wxmass00000001", "mass-app-secret"


@pytest.fixture
def account(db, sandbox):
    """A service account whose API base URL is the sandbox, with 5 followers there (and here)."""
    from wechat_app.models import Account, Follower

    sandbox.state.add_app(APP_ID, APP_SECRET)
    openids = sandbox.state.add_followers(APP_ID, count=5)
    account = Account.objects.create(name="massdemo", app_id=APP_ID, app_secret=APP_SECRET, token="tok123",
                                     api_base_url=sandbox.url)
    Follower.objects.bulk_create([Follower(account=account, openid=o) for o in openids])
    return account


@pytest.fixture
def followers(sandbox, account):
    return list(sandbox.state.followers[APP_ID])


@pytest.fixture(autouse=True)
def _eager_celery(eager_celery):
    """Tasks run in-process (CI's second pass configures a Redis broker with no worker here)."""


@pytest.fixture
def queue(django_capture_on_commit_callbacks):
    """``queue(mass)``: queue_mass, with the send task (enqueued on commit) run at once."""
    from wechat_app.services.mass import queue_mass

    def run(mass):
        with django_capture_on_commit_callbacks(execute=True):
            return queue_mass(mass)
    return run
