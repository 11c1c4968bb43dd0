"""System checks of the agent gateway's settings (E080, E081)."""
import pytest
from django.test import override_settings

from wechat_app.checks import check_agent_settings


def ids(**overrides):
    with override_settings(WECHAT_APP=overrides):
        return sorted(message.id for message in check_agent_settings(None))


def test_the_defaults_pass():
    assert ids() == []


def test_the_file_root_must_be_an_existing_absolute_directory(tmp_path):
    assert ids(AGENT_FILE_ROOT=str(tmp_path)) == []
    assert ids(AGENT_FILE_ROOT="relative/dir") == ["wechat_app.E080"]
    assert ids(AGENT_FILE_ROOT=str(tmp_path / "missing")) == ["wechat_app.E080"]


@pytest.mark.parametrize("name, value", [("AGENT_CALLBACK_TIMEOUT", 0), ("AGENT_RETRY_DELAY", "2"),
                                         ("AGENT_DEFAULT_LEASE", 0), ("AGENT_MAX_LEASE", 1.5),
                                         ("AGENT_MAX_FILE_SIZE", -1), ("AGENT_RETRY_MAX_DELAY", None)])
def test_numbers_of_the_wrong_kind(name, value):
    assert ids(**{name: value}) == ["wechat_app.E081"]


def test_the_default_lease_fits_the_longest():
    assert ids(AGENT_DEFAULT_LEASE=600, AGENT_MAX_LEASE=300) == ["wechat_app.E081"]
