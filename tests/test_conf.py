import pytest
from django.core.exceptions import ImproperlyConfigured

from wechat_app.conf import app_settings


def test_defaults_are_documented_values():
    assert app_settings.TIMESTAMP_WINDOW == 300
    assert app_settings.MAX_BODY_SIZE == 1024 * 1024


def test_override_is_seen_and_reverted(settings):
    settings.WECHAT_APP = {"TIMESTAMP_WINDOW": 10}
    assert app_settings.TIMESTAMP_WINDOW == 10
    settings.WECHAT_APP = {}
    assert app_settings.TIMESTAMP_WINDOW == 300


def test_unknown_name_is_rejected(settings):
    settings.WECHAT_APP = {"TIMESTAMP_WINDOW_TYPO": 10}
    with pytest.raises(ImproperlyConfigured, match="TIMESTAMP_WINDOW_TYPO"):
        app_settings.MAX_BODY_SIZE


def test_dotted_path_is_imported(settings):
    settings.WECHAT_APP = {"TOKEN_PROVIDER": "os.path.join"}
    import os.path

    assert app_settings.TOKEN_PROVIDER is os.path.join
    settings.WECHAT_APP = {"TOKEN_PROVIDER": "no.such.module"}
    with pytest.raises(ImproperlyConfigured, match="TOKEN_PROVIDER"):
        app_settings.TOKEN_PROVIDER
