"""Item 7 through django-redis itself: a Redis that refuses connections or never answers (runs in
both CI passes; the live test does the same with a real redis-server stopped and SIGSTOPped)."""
import socket
import time

import pytest

from tests.faults.servers import free_port
from wechat_app.models import MessageLog

from .conftest import post

pytestmark = pytest.mark.django_db(transaction=True)


def redis_cache(settings, port):
    settings.CACHES = {"default": {
        "BACKEND": "django_redis.cache.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3},
    }}


@pytest.fixture
def refusing_redis(settings):
    redis_cache(settings, free_port())  # nothing listens there


@pytest.fixture
def frozen_redis(settings):
    """Accepts connections (the kernel's backlog) and never answers, like a SIGSTOPped Redis."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        redis_cache(settings, listener.getsockname()[1])
        yield


@pytest.mark.parametrize("log_buffer", [False, True])
def test_refused_connections(account, refusing_redis, settings, log_buffer):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "LOG_BUFFER": log_buffer}
    response, fields = post(account, "hi", 1)
    assert response.status_code == 200 and fields["Content"] == "hello"
    assert post(account, "hi", 1)[1]["Content"] == "hello"  # WeChat's retry
    # The row is written directly (with LOG_BUFFER it could not go through Redis); one row.
    assert list(MessageLog.objects.values_list("msg_id", "retry_count")) == [("1", 1)]


def test_a_frozen_redis_costs_a_socket_timeout_not_the_answer(account, frozen_redis):
    started = time.monotonic()
    for msg_id in range(1, 6):
        response, fields = post(account, "hi", msg_id)
        assert response.status_code == 200 and fields["Content"] == "hello"
    assert time.monotonic() - started < 5  # WeChat's limit, for all five together
    assert MessageLog.objects.count() == 5
