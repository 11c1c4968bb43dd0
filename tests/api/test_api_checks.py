"""System checks of the REST API's settings: wechat_app.E040-E044, W040-W041."""
import pytest

from wechat_app.checks import check_settings


def ids(settings, **app):
    settings.WECHAT_APP = {**settings.WECHAT_APP, **app}
    return {e.id: e.msg for e in check_settings(None)}


def test_the_demo_settings_are_clean(settings):
    found = ids(settings)
    assert not {i for i in found if i[len("wechat_app."):][:3] in ("E04", "W04")}


@pytest.mark.parametrize("app, check_id, text", [
    ({"API_BASIC_AUTH": "yes"}, "E042", "True or False"),
    ({"API_DOCS_PUBLIC": 1}, "E042", "True or False"),
    ({"API_PAGE_SIZE": 0}, "E043", "an integer >= 1"),
    ({"API_PAGE_SIZE": 100, "API_MAX_PAGE_SIZE": 10}, "E043", "not be larger than API_MAX_PAGE_SIZE"),
    ({"API_SCHEMA_SETTINGS": []}, "E044", "must be a dict"),
    ({"API_SCHEMA_SETTINGS": {"PREPROCESSING_HOOKS": []}}, "E044", "may not set PREPROCESSING_HOOKS"),
])
def test_bad_values_are_reported_by_name(settings, app, check_id, text):
    found = ids(settings, **app)
    assert f"wechat_app.{check_id}" in found and text in found[f"wechat_app.{check_id}"]


def test_missing_apps_and_staticfiles(settings):
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS
                               if a not in ("drf_spectacular_sidecar", "django.contrib.staticfiles")]
    found = ids(settings)
    assert "drf_spectacular_sidecar" in found["wechat_app.E041"] and "wechat_app.W040" in found


def test_public_docs_in_production_warn(settings):
    settings.DEBUG = False
    assert "wechat_app.W041" in ids(settings, API_DOCS_PUBLIC=True)
    settings.DEBUG = True
    assert "wechat_app.W041" not in ids(settings, API_DOCS_PUBLIC=True)
