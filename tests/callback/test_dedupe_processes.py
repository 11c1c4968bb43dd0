"""Retries across processes: two server processes sharing PostgreSQL and Redis (skipped otherwise)."""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from tests.wechat_client import WeChatServer, message_xml
from wechat_app.models import MessageLog

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("redis" not in settings.CACHES["default"]["BACKEND"].lower()
                       or "postgresql" not in settings.DATABASES["default"]["ENGINE"],
                       reason="needs Redis as the cache and PostgreSQL (a cache and a database shared by processes)"),
]


def start_server():
    db = connection.settings_dict
    env = dict(os.environ, PYTHONPATH=str(ROOT), SLOW_SECONDS="1.5",
               DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}")
    process = subprocess.Popen([sys.executable, "-m", "tests.callback.slow_server"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
def two_servers():
    servers = [start_server(), start_server()]
    yield [url for _, url in servers]
    for process, _ in servers:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_retry_on_another_process_waits_and_matches(make_account, two_servers, mode):
    account = make_account(mode=mode)
    first_server, second_server = (WeChatServer(url, account.name, account.token, account.app_id,
                                                account.encoding_aes_key or None) for url in two_servers)
    xml = message_xml(Content="slow")
    answers = {}
    thread = threading.Thread(target=lambda: answers.setdefault("first", first_server.send(xml, encrypted=mode == "safe")))
    thread.start()
    time.sleep(0.4)
    answers["retry"] = second_server.send(xml, encrypted=mode == "safe")
    thread.join()
    late = second_server.send(xml, encrypted=mode == "safe")  # a retry after the answer is stored

    assert answers["first"].xml is not None
    assert answers["first"].xml == answers["retry"].xml == late.xml
    assert cache.get("test:slow-server:runs") == 1
    log = MessageLog.objects.get()
    assert log.retry_count == 2 and log.reply_xml == answers["first"].xml
