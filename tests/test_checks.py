"""System checks on the app's settings: each wrong value is reported with its stable id."""
import pytest
from django.core import checks

from wechat_app.checks import check_settings


def ids(**overrides):
    from django.test import override_settings

    with override_settings(WECHAT_APP=overrides):
        return sorted(message.id for message in check_settings(None))


def provider(account):
    return "a-shared-token"


def test_the_defaults_pass():
    assert ids() == []
    assert not [m for m in checks.run_checks() if m.id.startswith("wechat_app.")]


def test_unreadable_settings():
    assert ids(NOT_A_SETTING=1) == ["wechat_app.E001"]


@pytest.mark.parametrize(("name", "value", "check_id"), [
    ("TIMESTAMP_WINDOW", -1, "E002"),
    ("MAX_BODY_SIZE", 0, "E003"),
    ("CALLBACK_FAST_PATH", "yes", "E004"),
    ("API_BASE_URL", "api.weixin.qq.com", "E010"),
    ("API_TIMEOUT", (3, 0), "E011"),
    ("API_TIMEOUT", "10", "E011"),
    ("USE_STABLE_TOKEN", "yes", "E012"),
    ("TOKEN_PROVIDER", "no.such.module.get_token", "E013"),
    ("TOKEN_PROVIDER", "tests.test_checks.RULES_THAT_DO_NOT_EXIST", "E013"),
    ("TOKEN_PROVIDER", "wechat_app.conf.SETTINGS_NAME", "E013"),  # importable, not callable
    ("TOKEN_REFRESH_MARGIN", 7200, "E014"),
    ("OUTBOUND_MAX_ATTEMPTS", 0, "E015"),
    ("OUTBOUND_RETRY_DELAY", 0, "E016"),
    ("OUTBOUND_RETRY_MAX_DELAY", None, "E017"),
    ("OUTBOUND_QUOTA_DELAY", -5, "E018"),
    ("OUTBOUND_LEASE", "60", "E019"),
    ("CAMPAIGN_RATE_LIMIT", 2.5, "E020"),
    ("CAMPAIGN_CHUNK_SIZE", 0, "E021"),
    ("CAMPAIGN_CONCURRENCY", True, "E022"),
    ("REPLY_BUDGET", 0, "E023"),
    ("CACHE_ALIAS", "nowhere", "E024"),
    ("RULE_FILE_MAX_SIZE", 0, "E030"),
    ("RULE_FILE_MAX_NESTING", 1000, "E031"),
    ("RULE_FILE_MAX_RULES", "10000", "E032"),
    ("RULE_MAX_DEPTH", 0, "E033"),
    ("SESSION_TIMEOUT", 0, "E037"),
])
def test_each_wrong_value_has_its_id(name, value, check_id):
    assert ids(**{name: value}) == [f"wechat_app.{check_id}"]


def test_valid_alternatives_pass():
    assert ids(API_TIMEOUT=5, TOKEN_PROVIDER="tests.test_checks.provider", USE_STABLE_TOKEN=False,
               CAMPAIGN_RATE_LIMIT=0, OUTBOUND_LEASE=30, API_BASE_URL="http://127.0.0.1:8081") == []


def test_relations_between_settings():
    assert ids(OUTBOUND_RETRY_DELAY=10, OUTBOUND_RETRY_MAX_DELAY=5) == ["wechat_app.E017"]
    assert ids(OUTBOUND_LEASE=10, API_TIMEOUT=(3, 10)) == ["wechat_app.W001"]  # a send may outlive its lease
    assert ids(REPLY_BUDGET=5) == ["wechat_app.W002"]


def test_the_message_names_the_setting_and_the_value():
    from django.test import override_settings

    with override_settings(WECHAT_APP={"CAMPAIGN_CHUNK_SIZE": -3}):
        (error,) = check_settings(None)
    assert "WECHAT_APP['CAMPAIGN_CHUNK_SIZE']" in error.msg and "-3" in error.msg


def test_log_buffer_without_django_redis_warns(settings):
    from django.core.cache import cache

    from wechat_app.checks import check_settings
    from wechat_app.services.cachebatch import django_redis_client

    settings.WECHAT_APP = {"LOG_BUFFER": True}
    ids = [m.id for m in check_settings(None)]
    if django_redis_client(cache) is None:
        assert "wechat_app.W003" in ids
    else:
        assert "wechat_app.W003" not in ids


@pytest.mark.parametrize(("entries", "expected"), [
    (["https://api.weixin.qq.com", "http://127.0.0.1:*", "http://localhost:8081", "http://[::1]:*"], []),
    (["https://api.weixin.qq.com", "ftp://files.example.com"], ["wechat_app.E025"]),
    (["api.weixin.qq.com"], ["wechat_app.E025"]),  # no scheme
    (["https://user:pw@api.weixin.qq.com"], ["wechat_app.E025"]),
    (["https://api.weixin.qq.com:http"], ["wechat_app.E025"]),  # a bad port
    ("https://api.weixin.qq.com", ["wechat_app.E025"]),  # a string, not a list
    (["http://api.weixin.qq.com"], ["wechat_app.W004"]),  # the secret in clear over the network
    (["http://10.1.2.3:*", "https://10.1.2.3:*"], ["wechat_app.W004"]),
])
def test_api_base_url_allow_list_entries(entries, expected):
    assert ids(ALLOWED_API_BASE_URLS=entries) == expected
