"""WeCom contacts against the sandbox's WeCom side: a corp app (tests/wecom's fixtures) and an account."""
from tests.wecom.conftest import AES_KEY, AGENT_ID, CORP_ID, MEMBERS, SECRET, TOKEN, corp_app, wecom_account  # noqa: F401
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)
from wechat_app.sandbox.wecom_contacts import contact_book

import pytest


@pytest.fixture(autouse=True)
def _eager_celery(eager_celery):
    """Tasks run in-process (tests/conftest.py)."""


@pytest.fixture
def book(sandbox, corp_app):
    """The corp's contacts in the sandbox (the console's side)."""
    return contact_book(sandbox.state, CORP_ID)
