"""WeCom apps against the sandbox's WeCom side: a corp, one app, a few members."""
import pytest

from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

CORP_ID, AGENT_ID, SECRET = "ww0123456789abcdef", 1000002, "wecom-app-secret-0001"
TOKEN, AES_KEY = "wecomtok123", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
MEMBERS = ("zhangsan", "lisi", "wangwu")


@pytest.fixture
def corp_app(sandbox):
    app = sandbox.state.add_corp_app(CORP_ID, SECRET, AGENT_ID, token=TOKEN, encoding_aes_key=AES_KEY)
    sandbox.state.wecom.add_users(CORP_ID, MEMBERS)
    return app


@pytest.fixture
def wecom_account(db, sandbox, corp_app):
    from wechat_app.models import Account

    account = Account(name="hr", channel="wecom", app_id=CORP_ID, agent_id=AGENT_ID, app_secret=SECRET,
                      token=TOKEN, encoding_aes_key=AES_KEY, api_base_url=sandbox.url)
    account.full_clean()
    account.save()
    return account


@pytest.fixture(autouse=True)
def _eager_celery(eager_celery):
    """Tasks run in-process (tests/conftest.py)."""
