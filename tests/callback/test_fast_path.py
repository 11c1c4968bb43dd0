"""The WSGI fast path (``wechat_app.wsgi.callback_fast_path``) against plain Django.

Each request is built once per application (its own MsgId, so neither is the other's retry) and
sent in process to the wrapped application and to Django's own WSGIHandler: the status, the
content type and the body (the decrypted plaintext of an encrypted reply, whose nonce differs)
must be the same. Transactional: ``request_finished`` closes the connection, as in production.
"""
from __future__ import annotations

import io
import logging
import sys
from dataclasses import dataclass
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.http import QueryDict

from tests.wechat_client import WeChatServer, message_xml
from wechat_app import wsgi
from wechat_app.models import MessageLog
from wechat_app.views import callback_response

pytestmark = pytest.mark.django_db(transaction=True)

NO_LENGTH = object()


@dataclass
class Reply:
    """A WSGI answer, shaped like the ``requests.Response`` that ``WeChatServer.read`` reads."""

    status_code: int
    headers: dict
    content: bytes


def environ_for(method, path, params=None, body=b"", *, host="testserver", content_length=None, **extra):
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": urlencode(params or {}), "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "text/xml", "HTTP_HOST": host,
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }
    if content_length is not NO_LENGTH:
        environ["CONTENT_LENGTH"] = str(len(body) if content_length is None else content_length)
    environ.update(extra)
    return environ


def call(app, *args, **kwargs) -> Reply:
    """One request as a WSGI server makes it: start_response, the body, then ``close()``."""
    started = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=dict(headers))

    result = app(environ_for(*args, **kwargs), start_response)
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return Reply(int(started["status"].split()[0]), started["headers"], content)


@pytest.fixture
def django_app():
    return WSGIHandler()


@pytest.fixture
def spy():
    """The wrapped Django application, recording what the fast path hands to it."""
    return mock.Mock(wraps=WSGIHandler())


@pytest.fixture
def fast_app(spy):
    return wsgi.callback_fast_path(spy)


def client_for(account, name=None):
    return WeChatServer("http://testserver", name or account.name, account.token, account.app_id,
                        account.encoding_aes_key or None)


def path_of(client):
    return client.url.removeprefix("http://testserver")


def plaintext(client, reply, params):
    """What the reply says: its status, content type and (decrypted) text, CreateTime aside."""
    answer = client.read(reply, params)
    fields = dict(answer.fields or {})
    fields.pop("CreateTime", None)
    return reply.status_code, reply.headers["Content-Type"], fields or reply.content, answer.was_encrypted


def deliver(app, client, xml, encrypted=False, **kwargs):
    params, body = client.build(xml, encrypted)
    return client, call(app, "POST", path_of(client), params, body, **kwargs), params


def same_answer(fast_app, django_app, spy, client, xml_factory, encrypted=False, **kwargs):
    """Deliver a fresh message to each application; both say the same. Returns the fast one."""
    _, fast, fast_params = deliver(fast_app, client, xml_factory(), encrypted, **kwargs)
    _, slow, slow_params = deliver(django_app, client, xml_factory(), encrypted, **kwargs)
    assert spy.call_count == 0, "the fast path handed the callback POST to Django"
    assert plaintext(client, fast, fast_params) == plaintext(client, slow, slow_params)
    assert fast.headers["Content-Length"] == str(len(fast.content))
    assert fast.headers["X-Content-Type-Options"] == "nosniff"
    return fast


# --- the same answers ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_a_text_a_rule_answers(make_account, engine, fast_app, django_app, spy, mode):
    client = client_for(make_account(mode=mode))
    fast = same_answer(fast_app, django_app, spy, client, lambda: message_xml(Content="hi"), encrypted=mode == "safe")
    answer = client.read(fast, client.query())
    assert fast.status_code == 200 and answer.fields["Content"] == "echo: hi"
    assert answer.was_encrypted is (mode == "safe")
    assert MessageLog.objects.count() == 2 and len(engine.calls) == 2  # one row per delivery


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_a_stored_rule_answers_through_the_real_engine(make_account, fast_app, django_app, spy, mode):
    from wechat_app.services.rules import import_rules

    account = make_account(mode=mode)
    import_rules(account, "- name: weather\n  match: {contains: weather}\n  reply: Sunny\n")
    client = client_for(account)
    fast = same_answer(fast_app, django_app, spy, client, lambda: message_xml(Content="the weather?"),
                       encrypted=mode == "safe")
    assert client.read(fast, client.query()).fields["Content"] == "Sunny"
    assert list(MessageLog.objects.values_list("rule_name", flat=True)) == ["weather", "weather"]


def test_a_duplicate_delivery(make_account, engine, fast_app, django_app, spy):
    client = client_for(make_account())
    answers = {}
    for label, app in (("fast", fast_app), ("django", django_app)):
        xml = message_xml(Content="random")  # a different reply per run: a retry must not run it again
        _, first, params = deliver(app, client, xml)
        _, again, _ = deliver(app, client, xml)
        assert again.content == first.content  # byte for byte, CreateTime included
        answers[label] = plaintext(client, again, params)[:2]
    assert answers["fast"] == answers["django"] == (200, "application/xml; charset=utf-8")
    assert spy.call_count == 0
    assert len(engine.calls) == 2
    assert sorted(MessageLog.objects.values_list("retry_count", flat=True)) == [1, 1]


def test_each_delivery_is_logged_once(make_account, engine, fast_app, spy):
    client = client_for(make_account(mode="safe"))
    for i in range(5):
        assert deliver(fast_app, client, message_xml(Content=f"m{i}"), encrypted=True)[1].status_code == 200
    assert sorted(MessageLog.objects.values_list("text", flat=True)) == [f"m{i}" for i in range(5)]


def test_a_bad_signature_is_403(make_account, engine, fast_app, django_app, spy):
    client = client_for(make_account())
    for app in (fast_app, django_app):
        params, body = client.build(message_xml(Content="hi"), encrypted=False)
        params["signature"] = "0" * 40
        reply = call(app, "POST", path_of(client), params, body)
        assert (reply.status_code, reply.content) == (403, b"403 InvalidSignatureError")
        assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert spy.call_count == 0 and not engine.calls and not MessageLog.objects.exists()


def test_an_unknown_account_is_404(make_account, engine, fast_app, django_app, spy):
    client = client_for(make_account(), name="nobody")
    fast = same_answer(fast_app, django_app, spy, client, lambda: message_xml(Content="hi"))
    assert (fast.status_code, fast.content) == (404, b"404 AccountNotFound")


def test_a_declared_body_too_large_is_413_unread(make_account, engine, fast_app, django_app, spy, settings):
    settings.WECHAT_APP = {"MAX_BODY_SIZE": 4096}
    client = client_for(make_account())
    fast = same_answer(fast_app, django_app, spy, client, lambda: message_xml(Content="x" * 5000))
    assert (fast.status_code, fast.content) == (413, b"413 PayloadTooLarge")
    environ = environ_for("POST", path_of(client), client.query(), b"x" * 5000)
    environ["wsgi.input"] = stream = mock.Mock(wraps=io.BytesIO(b"x" * 5000))
    fast_app(environ, lambda status, headers: None).close()
    stream.read.assert_not_called()


def test_an_undeclared_body_is_not_read(make_account, engine, fast_app, django_app, spy, settings):
    """No Content-Length: Django's LimitedStream reads nothing, and neither does the fast path (the
    over-limit answer of a body read past the limit is checked on ``callback_response`` below)."""
    settings.WECHAT_APP = {"MAX_BODY_SIZE": 4096}
    client = client_for(make_account())
    fast = same_answer(fast_app, django_app, spy, client, lambda: message_xml(Content="x" * 5000),
                       content_length=NO_LENGTH)
    assert fast.status_code == 400 and not engine.calls


def test_a_body_larger_than_the_limit_is_413_whatever_was_declared(settings):
    settings.WECHAT_APP = {"MAX_BODY_SIZE": 100}
    sizes = []

    def read(size):
        sizes.append(size)
        return b"x" * size  # a stream that yields more than it was said to hold

    result = callback_response("POST", "acme", {}, None, read)
    assert (result.status, result.body) == (413, b"413 PayloadTooLarge")
    assert sizes == [101]  # never more than the limit + 1


def test_a_body_beyond_its_declared_length_is_not_read(make_account, engine, fast_app, spy):
    client = client_for(make_account())
    params, body = client.build(message_xml(Content="hi"), encrypted=False)
    reply = call(fast_app, "POST", path_of(client), params, body + b"<garbage/>" * 100, content_length=len(body))
    assert reply.status_code == 200 and b"echo: hi" in reply.content


def test_malformed_xml_is_400(make_account, engine, fast_app, django_app, spy):
    client = client_for(make_account())
    fast = same_answer(fast_app, django_app, spy, client, lambda: "<xml><Content>unclosed")
    assert fast.status_code == 400 and not engine.calls


def test_plaintext_to_a_safe_mode_account_is_400(make_account, engine, fast_app, django_app, spy):
    client = client_for(make_account(mode="safe"))
    fast = same_answer(fast_app, django_app, spy, client, lambda: message_xml(Content="hi"), encrypted=False)
    assert (fast.status_code, fast.content) == (400, b"400 PlaintextRefused")


def test_put_is_405_with_allow_from_django(make_account, engine, fast_app, django_app, spy):
    client = client_for(make_account())
    for app in (fast_app, django_app):
        reply = call(app, "PUT", path_of(client), client.query(), b"<xml/>")
        assert (reply.status_code, reply.headers["Allow"]) == (405, "GET, POST")
    assert spy.call_count == 1  # only POST takes the fast path


# --- what goes to Django --------------------------------------------------------------------------
def test_url_verification_goes_through_django(make_account, fast_app, spy):
    client = client_for(make_account())
    params = dict(client.query(), echostr="hello")
    reply = call(fast_app, "GET", path_of(client), params)
    assert (reply.status_code, reply.content) == (200, b"hello")
    assert spy.call_count == 1


def test_other_paths_go_through_django(fast_app, spy):
    reply = call(fast_app, "POST", "/admin/login/", {}, b"username=a&password=b",
                 CONTENT_TYPE="application/x-www-form-urlencoded")
    assert reply.status_code == 403  # Django's CSRF middleware saw it
    assert call(fast_app, "POST", "/nowhere/", {}, b"").status_code == 404
    assert spy.call_count == 2


def test_a_disallowed_host_gets_django_s_400(make_account, engine, fast_app, spy, caplog):
    client = client_for(make_account())
    for _ in range(2):  # the second time from the cached verdict
        params, body = client.build(message_xml(Content="hi"), encrypted=False)
        with caplog.at_level(logging.ERROR, logger="django.security.DisallowedHost"):
            reply = call(fast_app, "POST", path_of(client), params, body, host="evil.example.com")
        assert reply.status_code == 400
    assert spy.call_count == 2 and not engine.calls
    assert any(r.name == "django.security.DisallowedHost" for r in caplog.records)


def test_too_many_query_fields_get_django_s_400(make_account, engine, fast_app, spy, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    client = client_for(make_account())
    params, body = client.build(message_xml(Content="hi"), encrypted=False)
    reply = call(fast_app, "POST", path_of(client), {**params, "a": 1, "b": 2, "c": 3}, body)
    assert reply.status_code == 400 and spy.call_count == 1 and not engine.calls


def test_an_insecure_request_under_ssl_redirect_goes_to_django(make_account, engine, settings):
    settings.SECURE_SSL_REDIRECT = True  # before the middleware reads it
    spy = mock.Mock(wraps=WSGIHandler())
    fast_app = wsgi.callback_fast_path(spy)
    client = client_for(make_account())
    params, body = client.build(message_xml(Content="hi"), encrypted=False)
    assert call(fast_app, "POST", path_of(client), params, body).status_code == 301
    assert spy.call_count == 1
    params, body = client.build(message_xml(Content="hi"), encrypted=False)
    reply = call(fast_app, "POST", path_of(client), params, body, **{"wsgi.url_scheme": "https"})
    assert reply.status_code == 200 and spy.call_count == 1


def test_the_setting_off_delegates_everything(make_account, engine, fast_app, spy, settings):
    settings.WECHAT_APP = {"CALLBACK_FAST_PATH": False}
    client = client_for(make_account())
    _, reply, _ = deliver(fast_app, client, message_xml(Content="hi"))
    assert reply.status_code == 200 and b"echo: hi" in reply.content
    assert spy.call_count == 1


# --- what Django's handler does that is kept -------------------------------------------------------
def test_request_started_and_finished_once_each(make_account, engine, fast_app, spy):
    client = client_for(make_account())
    sent = []

    def started(sender, environ, **kwargs):
        sent.append(("started", sender, environ["PATH_INFO"]))

    def finished(sender, **kwargs):
        sent.append(("finished", sender))

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        deliver(fast_app, client, message_xml(Content="hi"))
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert spy.call_count == 0
    assert sent == [("started", wsgi.CallbackFastPath, path_of(client)), ("finished", wsgi.CallbackFastPath)]


def test_an_unexpected_error_is_500_and_logged_as_django_does(make_account, engine, fast_app, spy, caplog,
                                                              monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("wechat_app.services.inbound.handle_post", broken)
    finished = mock.Mock()
    request_finished.connect(finished)
    client = client_for(make_account())
    try:
        with caplog.at_level(logging.ERROR, logger="django.request"):
            _, reply, _ = deliver(fast_app, client, message_xml(Content="hi"))
    finally:
        request_finished.disconnect(finished)
    assert (reply.status_code, reply.content) == (500, b"500 Internal Server Error")
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.ERROR and record.getMessage() == f"Internal Server Error: {path_of(client)}"
    assert record.exc_info[0] is RuntimeError and record.status_code == 500
    assert finished.call_count == 1 and spy.call_count == 0


def test_a_refusal_is_logged_as_django_does(make_account, engine, fast_app, django_app, caplog):
    client = client_for(make_account(), name="nobody")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        deliver(fast_app, client, message_xml(Content="hi"))
        deliver(django_app, client, message_xml(Content="hi"))
    fast, django = [(r.levelno, r.getMessage(), r.status_code) for r in caplog.records if r.name == "django.request"]
    assert fast == django == (logging.WARNING, f"Not Found: {path_of(client)}", 404)


@pytest.fixture
def script_prefix_restored():
    """The script prefix is per thread and stays as the last request set it (as in Django's own
    handler): put back the test thread's, or later tests' reverse() would build /mounted/ URLs."""
    from django.urls import get_script_prefix, set_script_prefix

    before = get_script_prefix()
    yield
    set_script_prefix(before)


def test_under_a_script_name(make_account, engine, fast_app, spy, monkeypatch, script_prefix_restored):
    from django.urls import get_script_prefix

    prefixes = []

    def recording(account, message, **options):
        prefixes.append(get_script_prefix())  # what reverse() would build URLs under
        return engine(account, message, **options)

    monkeypatch.setattr("wechat_app.services.inbound.run_rules", recording)
    client = client_for(make_account())
    params, body = client.build(message_xml(Content="hi"), encrypted=False)
    reply = call(fast_app, "POST", path_of(client), params, body, SCRIPT_NAME="/mounted")
    assert reply.status_code == 200 and spy.call_count == 0
    assert prefixes == ["/mounted/"]


# --- the pieces -----------------------------------------------------------------------------------
@pytest.mark.parametrize("query", [
    "a=1&a=2&b=", "signature=%E4%BD%A0&x", "n=%ff%fe", "k=caf\xe9", "k=\xe4\xbd\xa0", "+a+=+b+", "",
])
def test_query_strings_read_as_querydict_reads_them(query):
    expected = QueryDict(query.encode("iso-8859-1"))
    params = wsgi.CallbackFastPath._params({"QUERY_STRING": query})
    assert params == {key: expected[key] for key in expected}  # QueryDict's [key] / get: the last value


def test_the_caches_stay_bounded(monkeypatch, db):
    monkeypatch.setattr(wsgi, "CACHE_SIZE", 8)
    def django_stub(environ, start_response):
        start_response("404 Not Found", [])
        return [b""]

    django_stub = mock.Mock(wraps=django_stub)
    app = wsgi.callback_fast_path(django_stub)
    for i in range(50):
        call(app, "POST", f"/nowhere/{i}/", {}, b"", host=f"h{i}.testserver")
        call(app, "POST", f"/wechat/callback/nobody{i}/", {}, b"", host=f"h{i}.testserver")
        assert len(app._other_paths) <= 8 and len(app._callback_paths) <= 8 and len(app._hosts) <= 8
    assert django_stub.call_count == 100  # unknown paths, and hosts Django refuses
