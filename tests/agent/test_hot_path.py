"""The callback's hot path: whether an account hands messages over costs no query, and a change
of its agent settings reaches the processes that serve it."""
import pytest

from tests.agent.conftest import agent_settings
from wechat_app.services import accounts, agent

pytestmark = pytest.mark.django_db


def test_an_account_without_an_agent_costs_no_query(shop, django_assert_num_queries):
    account, _ = accounts.lookup_account(shop.name, refresh=True)
    with django_assert_num_queries(0):
        assert agent.settings_for(account) is None


def test_new_settings_reach_a_process_that_serves_the_account(shop, django_assert_num_queries):
    account = accounts.get_enabled_account(shop.name)
    assert agent.settings_for(account) is None
    agent_settings(shop, mode="inbox")  # saving bumps the accounts version
    account = accounts.get_enabled_account(shop.name)
    with django_assert_num_queries(0):
        assert agent.settings_for(account).mode == "inbox"
    agent_settings(shop, mode="off")
    assert agent.settings_for(accounts.get_enabled_account(shop.name)) is None
