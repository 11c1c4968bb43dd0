"""Which API base URLs the client may talk to: an allow-list of entries (pure Python).

The client posts the app secret to ``<base URL>/cgi-bin/stable_token`` and the access token to
every other call, so a base URL is a place secrets are sent: it comes from a list the installer
writes in settings, never from a field a staff user types freely.

An entry is ``scheme://host[:port][/path]``; ``*`` as the port allows any port of that host
(for the sandbox on loopback, whose port is chosen at run time)::

    base_url_allowed("http://127.0.0.1:38123", ["https://api.weixin.qq.com", "http://127.0.0.1:*"])  # True

A URL matches an entry when scheme, host, port (the scheme's default when omitted) and path
(without trailing slash) are equal; URLs with user info, a query or a fragment never match.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

# WeChat's API hosts: the general one, its disaster-recovery twin and the regional ones.
# https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Interface_field_description.html
WECHAT_API_BASE_URLS = (
    "https://api.weixin.qq.com",
    "https://api2.weixin.qq.com",
    "https://sh.api.weixin.qq.com",
    "https://sz.api.weixin.qq.com",
    "https://hk.api.weixin.qq.com",
)
# WeCom's API host (企业微信 server API).
# https://developer.work.weixin.qq.com/document/path/90664
WECOM_API_BASE_URLS = ("https://qyapi.weixin.qq.com",)
# What a project opts into to reach the sandbox on loopback (any port).
LOOPBACK_SANDBOX_BASE_URLS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")

DEFAULT_PORTS = {"http": 80, "https": 443}
ANY_PORT = None


@dataclass(frozen=True)
class BaseURL:
    """A parsed base URL or allow-list entry; ``port`` is None for "any port" (entries only)."""

    scheme: str
    host: str
    port: int | None
    path: str

    def matches(self, url: BaseURL) -> bool:
        return (self.scheme, self.host, self.path) == (url.scheme, url.host, url.path) and (
            self.port is ANY_PORT or self.port == url.port)

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_base_url(value: str, *, entry: bool = False) -> BaseURL:
    """Parse a base URL (``entry``: an allow-list entry, where the port may be ``*``).

    Raises ``ValueError`` saying what is wrong.
    """
    if not isinstance(value, str) or not value or value != value.strip() or "\x00" in value:
        raise ValueError("not a URL")
    try:
        parts = urlsplit(value)
    except ValueError as err:  # an unbalanced IPv6 bracket
        raise ValueError(f"not a URL ({err})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("the scheme must be http or https")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError("a base URL has no query or fragment")
    netloc = parts.netloc
    if "@" in netloc:
        raise ValueError("a base URL has no user name or password")
    any_port = entry and netloc.endswith(":*")
    if any_port:
        netloc = netloc[:-2]
    try:
        parsed = urlsplit(f"{scheme}://{netloc}")
        host, port = parsed.hostname, parsed.port
    except ValueError as err:  # a bad port
        raise ValueError(f"bad host or port ({err})") from None
    if not host:
        raise ValueError("the host is missing")
    if any_port:
        port = ANY_PORT
    elif port is None:
        port = DEFAULT_PORTS[scheme]
    return BaseURL(scheme, host.lower().rstrip("."), port, parts.path.rstrip("/"))


def base_url_allowed(url: str, entries) -> bool:
    """Whether ``url`` matches one of the allow-list ``entries`` (malformed entries match nothing)."""
    try:
        candidate = parse_base_url(url)
    except ValueError:
        return False
    for entry in entries or ():
        try:
            if parse_base_url(entry, entry=True).matches(candidate):
                return True
        except ValueError:
            continue
    return False
