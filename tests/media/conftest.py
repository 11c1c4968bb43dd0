import base64
import json
import urllib.request

import pytest

from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

APP_ID, APP_SECRET = "wxmedia000001", "media-app-secret"
# The smallest valid images: a 1x1 PNG and a 1x1 JPEG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/"
    "yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k=")


@pytest.fixture
def wx(sandbox):
    from wechat_app.client import WeChatClient

    sandbox.state.add_app(APP_ID, APP_SECRET)
    return WeChatClient(APP_ID, APP_SECRET, base_url=sandbox.url)


@pytest.fixture
def account(db, sandbox, settings, tmp_path):
    """An account whose API base URL is the sandbox; media files go to a temporary MEDIA_ROOT."""
    from wechat_app.models import Account

    settings.MEDIA_ROOT = str(tmp_path / "media")
    sandbox.state.add_app(APP_ID, APP_SECRET)
    sandbox.state.add_followers(APP_ID, count=3)
    return Account.objects.create(name="media", app_id=APP_ID, app_secret=APP_SECRET, token="tok123media",
                                  api_base_url=sandbox.url)


def sandbox_admin(sandbox, method, path, body=None):
    request = urllib.request.Request(sandbox.url + "/_sandbox" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        return response.headers.get("Content-Type", ""), response.read()


def put_user_media(sandbox, data: bytes, kind: str = "image", filename: str = "photo.jpg",
                   content_type: str = "image/jpeg") -> str:
    """Put media a user sent into the sandbox over its HTTP control API; return its MediaId."""
    _, body = sandbox_admin(sandbox, "POST", "/media", {"app_id": APP_ID, "kind": kind, "filename": filename,
                                                        "content_type": content_type,
                                                        "data_base64": base64.b64encode(data).decode()})
    return json.loads(body)["media_id"]


@pytest.fixture(autouse=True)
def _eager_celery(eager_celery):
    """Tasks run in-process (CI's Redis-broker pass would otherwise queue them for no worker)."""


@pytest.fixture
def fetch_on(settings):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "FETCH_INCOMING_MEDIA": True}


def make_png(width: int = 160, height: int = 120) -> bytes:
    """A real PNG picture (a colour gradient) without an imaging library."""
    import struct
    import zlib

    rows = b"".join(b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
                    for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class _InlineExecutor:
    def submit(self, func, *args, **kwargs):
        func(*args, **kwargs)


@pytest.fixture(autouse=True)
def _fetch_inline(monkeypatch):
    """Without a worker the callback fetches media in a thread of its process; here that thread's
    work runs in place: SQLite's shared in-memory test database refuses a second concurrent writer
    ("database table is locked") where a file database or PostgreSQL would wait."""
    from wechat_app.services import media

    monkeypatch.setattr(media, "_local_pool", lambda: _InlineExecutor())
