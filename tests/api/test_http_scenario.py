"""The whole app driven over HTTP only, as another service would: a live server, ``requests``, and
WeChat played by real signed (and AES-encrypted) callbacks and by the sandbox.

Create an account, import rules, try a message against them, talk to it through its callback, read the conversation back
from the log, sync the templates, send a template message twice with one Idempotency-Key, watch
it reach ``sent``, and check that WeChat (the sandbox) received it exactly once. The test thread
touches the database only before the first request (the live server may share its connection).
"""
import io

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.api.outbound_fixtures import _eager_celery  # noqa: F401  (autouse fixture)
from tests.polling import wait_until
from tests.wechat_client import WeChatServer, message_xml
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

APP_ID, SECRET, TOKEN = "wxhttpscenario01", "http-scenario-secret-01", "scenariotoken1"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
USERNAME = "integrator"
RULES = """
- name: greeting
  match: {exact: hello}
  reply: Hello from the API!
- name: order
  match: {regex: '^order (\\d+)$'}
  reply: Order {1} is on its way.
"""


def api_auth(session: requests.Session) -> requests.Session:
    """Authenticate ``session`` for the REST API, the one place the scenario does it: with an API
    token made as an integrator would, ``manage.py wechat_api_token create`` (the key alone on
    standard output)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("wechat_api_token", "create", "--user", USERNAME, "--name", "http scenario", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert key.startswith("wat_") and "\n" not in key and key not in err.getvalue(), (out.getvalue(), err.getvalue())
    session.headers["Authorization"] = f"Bearer {key}"
    return session


@pytest.fixture
def api(live_server):
    get_user_model().objects.create_superuser(USERNAME, "integrator@example.com", None)
    session = api_auth(requests.Session())
    base = f"{live_server.url}/wechat/api"

    def call(method, path, **kwargs):
        kwargs.setdefault("timeout", 20)
        return session.request(method, path if path.startswith("http") else f"{base}/{path}", **kwargs)

    yield call
    # A kept-alive HTTP connection keeps the live server's thread, and its database connection, open.
    session.close()


def poll(api, url, field, value, timeout=15.0):
    seen = {}

    def check():
        seen.update(api("GET", url).json())
        return seen.get(field) == value

    assert wait_until(check, timeout=timeout, interval=0.1), seen
    return seen


def test_the_app_over_http_only(live_server, sandbox, api):
    sandbox.state.add_app(APP_ID, SECRET)
    fan, other_fan = sandbox.state.add_followers(APP_ID, count=2)
    sandbox.state.add_template(APP_ID, "Order shipped", "{{first.DATA}}\nOrder: {{order.DATA}}",
                               template_id="tpl-http-shipped")

    # An account whose WeChat API is the sandbox.
    resp = api("POST", "accounts/", json={
        "name": "scenario", "app_id": APP_ID, "app_secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY,
        "encrypt_mode": "safe", "api_base_url": sandbox.url})
    assert resp.status_code == 201, resp.text
    assert SECRET not in resp.text and AES_KEY not in resp.text

    # Its rules, imported as a file.
    resp = api("POST", "accounts/scenario/rules/import/", json={"rules": RULES})
    assert resp.status_code == 200, resp.text
    assert sorted(resp.json()["created"]) == ["greeting", "order"]

    # A message tried against the rules: the rule and the reply, nothing sent or logged.
    resp = api("POST", "rules/test/", json={"account": "scenario", "user": fan, "type": "text", "text": "order 7"})
    assert resp.status_code == 200, resp.text
    tried = resp.json()
    assert tried["rule"]["name"] == "order" and tried["reply"] == {"type": "text",
                                                                   "content": "Order 7 is on its way."}
    assert api("GET", "messages/", params={"account": "scenario"}).json()["results"] == []

    # WeChat delivers two signed, encrypted messages; the replies come back encrypted.
    wechat = WeChatServer(live_server.url, "scenario", TOKEN, APP_ID, AES_KEY)
    answer = wechat.send(message_xml(Content="hello", user=fan), encrypted=True)
    assert answer.was_encrypted and answer.fields["Content"] == "Hello from the API!"
    answer = wechat.send(message_xml(Content="order 1001", user=fan), encrypted=True)
    assert answer.fields["Content"] == "Order 1001 is on its way."

    # The log holds both, with the rule that answered.
    log = api("GET", "messages/", params={"account": "scenario", "user": fan}).json()["results"]
    assert sorted((row["text"], row["rule_name"], row["status"]) for row in log) == [
        ("hello", "greeting", "replied"), ("order 1001", "order", "replied")]

    # Templates synced from WeChat: a job to poll.
    resp = api("POST", "templates/sync/", json={"account": "scenario"})
    assert resp.status_code == 202, resp.text
    job = poll(api, resp.headers["Location"], "status", "done")
    assert job["result"] == {"synced": 1, "deactivated": 0}
    (template,) = api("GET", "templates/", params={"account": "scenario"}).json()["results"]
    assert template["keywords"] == ["first", "order"]

    # A template message sent twice with one Idempotency-Key: one message, sent once.
    body = {"account": "scenario", "to_user": fan, "template_id": "tpl-http-shipped",
            "data": {"first": "Good news", "order": "1001"}}
    first = api("POST", "outbound-messages/template/", json=body, headers={"Idempotency-Key": "order-1001"})
    second = api("POST", "outbound-messages/template/", json=body, headers={"Idempotency-Key": "order-1001"})
    assert first.status_code in (201, 202), first.text
    assert (second.status_code, second.json()) == (first.status_code, first.json())
    assert second.headers["Idempotent-Replayed"] == "true"
    message = poll(api, f"outbound-messages/{first.json()['id']}/", "status", "sent")
    assert message["msgid"] is not None and message["idempotency_key"] == "order-1001"
    listing = api("GET", "outbound-messages/", params={"account": "scenario", "kind": "template"}).json()
    assert listing["count"] == 1
    received = sandbox.state.list_messages(APP_ID, kind="template")
    assert len(received) == 1 and received[0]["touser"] == fan and received[0]["msgid"] == message["msgid"]
    assert received[0]["payload"]["data"] == {"first": {"value": "Good news"}, "order": {"value": "1001"}}
    # Reusing the key for another message is refused; nothing more reaches WeChat.
    resp = api("POST", "outbound-messages/template/", json={**body, "to_user": other_fan},
               headers={"Idempotency-Key": "order-1001"})
    assert resp.status_code == 422
    assert len(sandbox.state.list_messages(APP_ID, kind="template")) == 1
