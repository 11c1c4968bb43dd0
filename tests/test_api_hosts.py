"""The API base URL allow-list (``wechat_app.client.hosts``): what matches an entry."""
import pytest

from wechat_app.client.hosts import WECHAT_API_BASE_URLS, base_url_allowed, parse_base_url

SANDBOX = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def test_the_shipped_default_is_wechats_and_wecoms_hosts(shipped_api_allow_list):
    from wechat_app.conf import app_settings

    assert list(app_settings.ALLOWED_API_BASE_URLS) == [
        "https://api.weixin.qq.com", "https://api2.weixin.qq.com", "https://sh.api.weixin.qq.com",
        "https://sz.api.weixin.qq.com", "https://hk.api.weixin.qq.com", "https://qyapi.weixin.qq.com"]


@pytest.mark.parametrize("url", [
    "https://api.weixin.qq.com", "https://api.weixin.qq.com/", "HTTPS://API.WEIXIN.QQ.COM",
    "https://api.weixin.qq.com:443", "https://hk.api.weixin.qq.com", "http://127.0.0.1:38123",
    "http://localhost:8081/", "http://[::1]:9000",
])
def test_allowed(url):
    assert base_url_allowed(url, [*WECHAT_API_BASE_URLS, *SANDBOX])


@pytest.mark.parametrize("url", [
    "http://api.weixin.qq.com",  # plain http to WeChat: not the same entry
    "https://api.weixin.qq.com:8443", "https://api.weixin.qq.com.evil.example",
    "https://evil.example/api.weixin.qq.com",
    "https://api.weixin.qq.com@evil.example", "https://x:y@api.weixin.qq.com", "https://api.weixin.qq.com/?a=1",
    "https://api.weixin.qq.com/#x", "https://api.weixin.qq.com/cgi-bin", "http://127.0.0.2:8081",
    "http://169.254.169.254", "https://127.0.0.1:8081", "ftp://api.weixin.qq.com", "", "api.weixin.qq.com",
    "http://[::1", "https://api.weixin.qq.com\x00.evil.example", " https://api.weixin.qq.com",
])
def test_refused(url):
    assert not base_url_allowed(url, [*WECHAT_API_BASE_URLS, *SANDBOX])


def test_a_port_and_a_path_in_an_entry_must_match():
    entries = ["http://127.0.0.1:8081", "https://proxy.example.com/wechat"]
    assert base_url_allowed("http://127.0.0.1:8081", entries)
    assert not base_url_allowed("http://127.0.0.1:8082", entries)
    assert base_url_allowed("https://proxy.example.com/wechat/", entries)
    assert not base_url_allowed("https://proxy.example.com/other", entries)
    assert not base_url_allowed("https://proxy.example.com", entries)


def test_malformed_entries_match_nothing():
    assert not base_url_allowed("https://api.weixin.qq.com", ["api.weixin.qq.com", "https://:*", None, 42])


def test_a_star_port_is_an_entry_only():
    with pytest.raises(ValueError):
        parse_base_url("http://127.0.0.1:*")
    assert parse_base_url("http://127.0.0.1:*", entry=True).port is None
