"""Item 16: a signed plaintext query is good for one delivery; item 17: unhandled errors are logged."""
import io
import logging

import pytest
from django.test import Client

from wechat_app.models import MessageLog
from wechat_app.protocol.simulator import build_message, sign_request
from wechat_app.services import inbound

from .conftest import post

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_signed_query_replayed_with_another_body_is_refused(account, caplog):
    xml = build_message("text", ["hi"], user="oUser000001", sp="gh_shop", msg_id=1)
    query, _ = sign_request(xml, account.token)
    assert post(account, "hi", 1, query=query)[1]["Content"] == "hello"
    # WeChat's retry of the same delivery carries the same query: answered as before.
    assert post(account, "hi", 1, query=query)[1]["Content"] == "hello"
    # The captured query with another body: refused, nothing run or logged.
    with caplog.at_level(logging.WARNING, logger="django.security.wechat_app"):
        response, _ = post(account, "transfer everything", 2, query=query)
    assert response.status_code == 403
    assert "reusing another delivery's signed query" in caplog.text
    assert list(MessageLog.objects.values_list("msg_id", "retry_count")) == [("1", 1)]
    # The refused delivery did not keep a claim: with its own signature it goes through.
    assert post(account, "transfer everything", 2)[1]["Content"] == "what?"


def test_the_check_needs_the_cache_and_degrades_without_it(account, flaky_cache):
    xml = build_message("text", ["hi"], user="oUser000001", sp="gh_shop", msg_id=1)
    query, _ = sign_request(xml, account.token)
    post(account, "hi", 1, query=query)
    flaky_cache.down = True
    assert post(account, "hi", 2, query=query)[0].status_code == 200  # the limit of plain mode, said in README


def test_unhandled_errors_reach_the_console_with_debug_off(settings, monkeypatch, account):
    assert settings.DEBUG is False
    handlers = [h for h in logging.getLogger("django").handlers if isinstance(h, logging.StreamHandler)]
    assert handlers, "the project logs Django's errors to the console"
    stream = io.StringIO()
    old_stream = handlers[0].setStream(stream)

    def explode(*args, **kwargs):
        raise RuntimeError("a bug in the callback")

    monkeypatch.setattr(inbound, "handle_post", explode)
    try:
        response = Client(raise_request_exception=False).post(f"/wechat/callback/{account.name}/", data=b"<xml/>",
                                                              content_type="text/xml")
    finally:
        handlers[0].setStream(old_stream)
    assert response.status_code == 500
    output = stream.getvalue()
    assert "Internal Server Error: /wechat/callback/shop/" in output
    assert "RuntimeError: a bug in the callback" in output  # with its traceback
