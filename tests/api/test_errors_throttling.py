"""Every error of the API in one JSON shape (docs/api.md), and throttling with 429 + Retry-After."""
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from wechat_app.models import Account
from wechat_app.services import api_tokens

pytestmark = pytest.mark.django_db
API = "/wechat/api"


@pytest.fixture
def root():
    return get_user_model().objects.create_superuser("root", "root@example.com", None)


@pytest.fixture
def admin_client(root):
    client = Client()
    client.force_login(root)
    return client


def shape(resp, status, code):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_validation_errors_keep_their_fields_and_precision(admin_client):
    Account.objects.create(name="shop", app_id="wx1234567890abcdef", app_secret="S3cr3tValue0001",
                           token="tok123", encrypt_mode="plain")
    resp = admin_client.post(f"{API}/rules/", json.dumps({"account": "shop", "name": "r", "match_kind": "regex",
                                                          "match_value": "(?<=a)b", "replies": ["x"]}),
                             content_type="application/json")
    error = shape(resp, 400, "invalid")
    assert "look-behind" in error["fields"]["match_value"][0]
    assert error["message"].startswith("match_value: ")
    resp = admin_client.post(f"{API}/accounts/", json.dumps({}), content_type="application/json")
    error = shape(resp, 400, "invalid")
    assert error["fields"]["name"] == ["This field is required."] and error["message"].endswith("required.")
    error = shape(admin_client.get(f"{API}/messages/?status=nonsense"), 400, "invalid")
    assert "status" in error["fields"]


def test_each_status_answers_the_one_shape(admin_client):
    shape(Client().get(f"{API}/accounts/"), 401, "not_authenticated")
    plain = get_user_model().objects.create_user("plain", password=None)
    client = Client()
    client.force_login(plain)
    shape(client.get(f"{API}/accounts/"), 403, "permission_denied")
    shape(admin_client.get(f"{API}/accounts/nobody/"), 404, "not_found")
    shape(admin_client.get(f"{API}/no-such-thing/"), 404, "not_found")
    assert "end with a slash" in shape(admin_client.get(f"{API}/accounts"), 404, "not_found")["message"]
    shape(admin_client.put(f"{API}/messages/1/", "{}", content_type="application/json"), 405, "method_not_allowed")
    shape(admin_client.post(f"{API}/rules/", "x", content_type="text/plain"), 415, "unsupported_media_type")
    shape(admin_client.post(f"{API}/rules/", "{", content_type="application/json"), 400, "parse_error")
    shape(admin_client.get(f"{API}/accounts/", HTTP_ACCEPT="text/csv"), 406, "not_acceptable")


def test_a_body_over_django_s_limit_is_413(admin_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000})
    shape(admin_client.post(f"{API}/accounts/", body, content_type="application/json"), 413, "payload_too_large")


def test_an_unexpected_exception_is_a_json_500_and_is_logged(root, monkeypatch, caplog):
    from wechat_app.api import views

    def broken(self):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(views.AccountViewSet, "get_queryset", broken)
    client = Client(raise_request_exception=False)
    client.force_login(root)
    error = shape(client.get(f"{API}/accounts/"), 500, "server_error")
    assert "fire" not in error["message"]  # no internals in the answer...
    assert any("database on fire" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)  # ...but logged


# ---- throttling -------------------------------------------------------------------------------------

def test_a_token_past_its_rate_gets_429_with_retry_after(settings, root):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "API_THROTTLE_RATES": {"token": "3/minute", "user": None,
                                                                          "anon": None}}
    _, key = api_tokens.create_token(root, "busy")
    _, other_key = api_tokens.create_token(root, "quiet")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert [client.get(f"{API}/accounts/").status_code for _ in range(3)] == [200, 200, 200]
    resp = client.get(f"{API}/accounts/")
    error = shape(resp, 429, "throttled")
    assert 1 <= int(resp["Retry-After"]) <= 60 and error["retry_after"] == int(resp["Retry-After"])
    # Counted per token: another token of the same user is not throttled.
    assert Client(HTTP_AUTHORIZATION=f"Bearer {other_key}").get(f"{API}/accounts/").status_code == 200


def test_sessions_are_counted_per_user_and_anonymous_per_address(settings, admin_client):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "API_THROTTLE_RATES": {"token": None, "user": "2/hour",
                                                                          "anon": "1/day"}}
    assert [admin_client.get(f"{API}/accounts/").status_code for _ in range(3)] == [200, 200, 429]
    assert 1 <= int(admin_client.get(f"{API}/accounts/")["Retry-After"]) <= 3600
    assert [Client().get(f"{API}/accounts/").status_code for _ in range(2)] == [401, 429]


def test_no_rate_means_no_limit(settings, admin_client):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "API_THROTTLE_RATES": {"token": None, "user": None, "anon": None}}
    assert {admin_client.get(f"{API}/accounts/").status_code for _ in range(30)} == {200}


def test_a_failing_cache_lets_requests_through(settings, admin_client, monkeypatch):
    from django.core.cache import caches

    settings.WECHAT_APP = {**settings.WECHAT_APP, "API_THROTTLE_RATES": {"user": "1/hour"}}
    cache = caches["default"]

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "add", down)
    assert {admin_client.get(f"{API}/accounts/").status_code for _ in range(3)} == {200}


@pytest.mark.parametrize("rates, text", [
    ("100/minute", "must be a dict"),
    ({"tokens": "1/s"}, "unknown scope(s) tokens"),
    ({"token": "fast"}, "'fast' is not a rate"),
    ({"user": "0/minute"}, "is not a rate"),
])
def test_bad_rates_are_reported_by_the_check(settings, rates, text):
    from wechat_app.checks import check_settings

    settings.WECHAT_APP = {**settings.WECHAT_APP, "API_THROTTLE_RATES": rates}
    found = [e for e in check_settings(None) if e.id == "wechat_app.E040"]
    assert found and text in found[0].msg
