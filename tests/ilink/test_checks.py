import pytest
from django.core.checks import run_checks
from django.test import override_settings


@pytest.mark.parametrize("overrides,check_id", [
    ({"ILINK_API_BASE_URL": "ftp://x"}, "wechat_app.E090"),
    ({"ILINK_CDN_BASE_URL": "https://cdn/?q=1"}, "wechat_app.E090"),
    ({"ILINK_LONG_POLL_SECONDS": 0}, "wechat_app.E091"),
    ({"ILINK_LOGIN_TTL": "600"}, "wechat_app.E091"),
    ({"ILINK_POLL_BACKOFF_MAX": -1}, "wechat_app.E091"),
])
def test_wrong_ilink_settings_are_reported(settings, overrides, check_id):
    with override_settings(WECHAT_APP={**settings.WECHAT_APP, **overrides}):
        ids = {e.id for e in run_checks()}
    assert check_id in ids


def test_the_defaults_pass(settings):
    assert not {e.id for e in run_checks()} & {"wechat_app.E090", "wechat_app.E091"}
