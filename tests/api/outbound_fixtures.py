"""Fixtures of the outbound API tests: an account on a sandbox, followers, a template, an admin.

Imported by the test modules (``from tests.api.outbound_fixtures import *``) rather than from a
conftest, so that other API test modules are unaffected.
"""
import json

import pytest
from django.contrib.auth import get_user_model

from wechat_app.models import Account
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

APP_ID, APP_SECRET = "wxoutboundapi001", "outbound-api-secret-01"
API = "/wechat/api"
TEMPLATE_CONTENT = "{{first.DATA}}\nOrder: {{order.DATA}}\n{{remark.DATA}}"


@pytest.fixture(autouse=True)
def _eager_celery(eager_celery):
    """Tasks run in-process (also in the PostgreSQL + Redis pass, whose broker has no worker here)."""


@pytest.fixture
def shop(db, sandbox):
    """The account ``shop`` on the sandbox, with 3 followers there and one template."""
    sandbox.state.add_app(APP_ID, APP_SECRET)
    sandbox.state.add_followers(APP_ID, count=3)
    sandbox.state.add_template(APP_ID, "Order shipped", TEMPLATE_CONTENT, template_id="tpl-shipped")
    return Account.objects.create(name="shop", app_id=APP_ID, app_secret=APP_SECRET, token="tok123",
                                  api_base_url=sandbox.url)


@pytest.fixture
def fans(sandbox, shop):
    return list(sandbox.state.followers[APP_ID])


@pytest.fixture
def api(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", None)
    client.force_login(user)
    return client


def post(client, url, data, **headers):
    return client.post(url, json.dumps(data), content_type="application/json",
                       **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
