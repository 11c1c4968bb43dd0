"""System checks E060-E062 on the media settings."""
import pytest
from django.test import override_settings

from wechat_app.checks import check_media_settings


def ids(**overrides):
    with override_settings(WECHAT_APP=overrides):
        return sorted(message.id for message in check_media_settings(None))


def test_the_defaults_pass():
    assert ids() == []
    assert ids(FETCH_INCOMING_MEDIA=True, MEDIA_PATH_PREFIX="private/wechat") == []


@pytest.mark.parametrize(("name", "value", "check_id"), [
    ("MEDIA_STORAGE", "nowhere", "E060"),
    ("MEDIA_STORAGE", None, "E060"),
    ("MEDIA_PATH_PREFIX", "/etc", "E061"),
    ("MEDIA_PATH_PREFIX", "a/../../b", "E061"),
    ("MEDIA_PATH_PREFIX", 3, "E061"),
    ("FETCH_INCOMING_MEDIA", "yes", "E062"),
    ("MEDIA_FETCH_MAX_ATTEMPTS", 0, "E062"),
    ("MEDIA_MAX_FETCH_SIZE", -1, "E062"),
])
def test_wrong_values(name, value, check_id):
    assert ids(**{name: value}) == [f"wechat_app.{check_id}"]
