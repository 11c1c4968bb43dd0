"""A fake upstream agent for tests, the demo and benchmarks (no Django imports).

``FakeAgent`` is an HTTP server that plays an agent runtime's callback endpoint: it refuses a
request without ``Authorization: Bearer <secret>`` (401), records every event it accepts, and
answers each by calling the gateway's ``POST <api>/agent/send/`` with an echo of the text.
``fail_next`` makes it answer 500 that many times first (to test retries).

``inbox_worker`` is the other way in: a loop that claims events from the gateway's inbox
(``agent/inbox/claim-next/``), echoes them through ``agent/send/`` and completes them.

Usage::

    with FakeAgent(secret="s3cret", api_url=f"{live_server.url}/wechat/api", api_token=token) as agent:
        settings.callback_url = agent.url
        ...
        agent.wait_for(1)
"""
from __future__ import annotations

import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import requests


def echo(event: dict) -> str:
    return f"echo: {event.get('text', '')}"


class _Handler(BaseHTTPRequestHandler):
    server: _AgentHTTPServer

    def log_message(self, format, *args):  # quiet in tests
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        agent = self.server.agent
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        expected = f"Bearer {agent.secret}"
        given = self.headers.get("Authorization", "")
        if agent.secret and not hmac.compare_digest(given.encode(), expected.encode()):
            with agent.lock:
                agent.refused += 1
            return self._answer(401, {"ok": False, "error": "bad shared secret"})
        with agent.lock:
            if agent.fail_next > 0:
                agent.fail_next -= 1
                agent.failed += 1
                failing = True
            else:
                failing = False
        if failing:
            return self._answer(500, {"ok": False, "error": "agent is down (fail_next)"})
        try:
            event = json.loads(body or b"{}")
        except ValueError:
            return self._answer(400, {"ok": False, "error": "not JSON"})
        with agent.lock:
            agent.events.append({"event": event, "received_at": time.time()})
            agent.cond.notify_all()
        self._answer(200, {"ok": True})
        if agent.reply is not None and agent.api_url:
            # Reply asynchronously, as a real agent would after thinking.
            threading.Thread(target=agent.send_reply, args=(event,), daemon=True).start()

    def _answer(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _AgentHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address, agent: FakeAgent):
        self.agent = agent
        super().__init__(address, _Handler)


class FakeAgent:
    """The callback side of an agent runtime; see the module docstring."""

    def __init__(self, secret: str = "", *, api_url: str = "", api_token: str = "",
                 reply: Callable[[dict], str] | None = echo, host: str = "127.0.0.1", port: int = 0):
        self.secret, self.api_url, self.api_token, self.reply = secret, api_url.rstrip("/"), api_token, reply
        self.events: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []  # the /send answers: {"status", "body"}
        self.refused = self.failed = 0
        self.fail_next = 0
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self._server = _AgentHTTPServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/events"

    def start(self) -> FakeAgent:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-agent", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def send_reply(self, event: dict) -> None:
        body = {"account_id": event.get("account_id"), "to_user_id": event.get("user_id"),
                "context_token": event.get("context_token", ""), "chat_type": event.get("chat_type", "direct"),
                "items": [{"type": "text", "text": self.reply(event)}]}
        try:
            response = requests.post(f"{self.api_url}/agent/send/", json=body, timeout=15,
                                     headers={"Authorization": f"Token {self.api_token}"})
            result = {"status": response.status_code, "body": response.json()}
        except (requests.RequestException, ValueError) as err:
            result = {"status": None, "body": {"error": str(err)}}
        with self.lock:
            self.sent.append(result)
            self.cond.notify_all()

    def wait_for(self, events: int = 1, sent: int | None = None, timeout: float = 10.0) -> bool:
        """Wait until ``events`` events arrived (and ``sent`` replies were answered)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.events) < events or (sent is not None and len(self.sent) < sent):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


def inbox_worker(api_url: str, api_token: str, worker_id: str, *, account: str | None = None,
                 reply: Callable[[dict], str] | None = echo, lease_seconds: int = 60, max_events: int | None = None,
                 idle_rounds: int = 1, idle_sleep: float = 0.05, session: requests.Session | None = None) -> list[dict]:
    """Claim, answer and complete inbox events until the inbox stays empty for ``idle_rounds``
    polls (or ``max_events`` were handled); return the events this worker handled."""
    http = session or requests.Session()
    headers = {"Authorization": f"Token {api_token}"}
    base = api_url.rstrip("/")
    handled: list[dict] = []
    idle = 0
    while max_events is None or len(handled) < max_events:
        body = {"worker_id": worker_id, "lease_seconds": lease_seconds, **({"account": account} if account else {})}
        response = http.post(f"{base}/agent/inbox/claim-next/", json=body, headers=headers, timeout=15)
        if response.status_code == 204:
            idle += 1
            if idle >= idle_rounds:
                break
            time.sleep(idle_sleep)
            continue
        response.raise_for_status()
        idle = 0
        event = response.json()
        if reply is not None:
            http.post(f"{base}/agent/send/", headers=headers, timeout=15, json={
                "account_id": event["account_id"], "to_user_id": event["user_id"],
                "context_token": event.get("context_token", ""), "items": [{"type": "text", "text": reply(event)}]})
        http.post(f"{base}/agent/inbox/{event['id']}/complete/", headers=headers, timeout=15,
                  json={"completion_note": "answered", "worker_id": worker_id}).raise_for_status()
        handled.append(event)
    return handled
