"""The inbound service in-process: query budget, the database fallback of dedupe, body reading."""
import io
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from wechat_app.models import MessageLog
from wechat_app.protocol.simulator import build_message, read_reply, sign_request
from wechat_app.services import inbound
from wechat_app.services.rules import import_rules
from wechat_app.views import _read_body

pytestmark = pytest.mark.django_db


def post(account, xml, encrypted=True):
    params, body = sign_request(xml, account.token, crypto=account.crypto if encrypted else None)
    response = Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body,
                             content_type="text/xml")
    return response, read_reply(response.content, account.crypto)


def post_raw(account, xml):
    params, body = sign_request(xml, account.token)
    return Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body, content_type="text/xml")


@pytest.mark.django_db(transaction=True)  # autocommit, as in production
def test_one_query_per_message_once_rules_and_account_are_cached(make_account):
    account = make_account(mode="safe")
    import_rules(account, "- name: x\n  match: {default: true}\n  reply: hi\n")
    post(account, build_message("text", ["warm up"], user="u", sp="s"))
    for text in ("one", "two"):
        with CaptureQueriesContext(connection) as ctx:
            response, (fields, _, _) = post(account, build_message("text", [text], user="u", sp="s"))
        assert fields["Content"] == "hi"
        statements = [q["sql"].split()[0] for q in ctx.captured_queries]
        # only the log row: the account and the rules come from this process's caches
        assert statements == ["INSERT"], ctx.captured_queries


def test_account_changes_reach_the_cached_account_on_the_next_message(make_account):
    account = make_account(mode="plain")
    import_rules(account, "- name: x\n  match: {default: true}\n  reply: hi\n")
    response, _ = post(account, build_message("text", ["one"], user="u", sp="s"), encrypted=False)
    assert response.status_code == 200
    account.enabled = False
    account.save()
    response = post_raw(account, build_message("text", ["two"], user="u", sp="s"))
    assert response.status_code == 404
    account.enabled = True
    account.token = "newtoken1"
    account.save()
    response, (fields, _, _) = post(account, build_message("text", ["three"], user="u", sp="s"), encrypted=False)
    assert fields["Content"] == "hi"  # signed with the new token and accepted


def test_database_is_the_fallback_when_the_cache_claim_is_lost(make_account, engine, monkeypatch):
    """Two processes with unshared caches: the second INSERT collides and answers the first reply."""
    account = make_account(mode="plain")
    xml = build_message("text", ["random"], user="u", sp="s")
    _, (first, first_xml, _) = post(account, xml, encrypted=False)
    from django.core.cache import cache

    cache.clear()  # as if the retry reached a process whose cache never saw the first delivery
    _, (second, second_xml, _) = post(account, xml, encrypted=False)
    assert second_xml == first_xml
    log = MessageLog.objects.get()
    assert log.retry_count == 1 and log.reply_xml == first_xml


def test_log_keeps_long_keys_and_fields(make_account, engine):
    account = make_account()
    url = "https://example.com/" + "a" * 2000
    response, (fields, _, _) = post(account, build_message("view", [url], user="u" * 200, sp="s"), encrypted=False)
    assert response.status_code == 200
    log = MessageLog.objects.get()
    assert len(log.dedupe_key) <= 255 and log.event_key == url[:255] and log.user == "u" * 128
    # the same long delivery again is recognized as a retry
    post(account, build_message("view", [url], user="u" * 200, sp="s", create_time=log.message["create_time"]),
         encrypted=False)
    assert MessageLog.objects.get().retry_count == 1


class CountingStream(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.requested = []

    def read(self, size=-1):
        self.requested.append(size)
        return super().read(size)


def test_body_never_read_beyond_the_limit():
    stream = CountingStream(b"x" * 10_000)  # a lying client: more than it declared
    with pytest.raises(inbound.PayloadTooLarge):
        _read_body("10", stream.read, 100)
    assert stream.requested == [101]

    stream = CountingStream(b"x" * 10_000)
    with pytest.raises(inbound.PayloadTooLarge):
        _read_body("10000", stream.read, 100)
    assert stream.requested == []  # refused on the declared length, unread


def test_error_statuses_in_one_place():
    from wechat_app import protocol

    assert inbound.status_for_error(protocol.InvalidSignatureError()) == 403
    assert inbound.status_for_error(protocol.ExpiredTimestampError()) == 403
    assert inbound.status_for_error(protocol.ForbiddenXMLError()) == 400
    assert inbound.status_for_error(protocol.AppIdMismatchError("a", "b")) == 400
    assert inbound.status_for_error(protocol.DecryptError()) == 400
    assert inbound.status_for_error(inbound.AccountNotFound()) == 404
    assert inbound.status_for_error(inbound.PayloadTooLarge()) == 413
    assert inbound.status_for_error(inbound.PlaintextRefused()) == 400
    assert inbound.status_for_error(RuntimeError()) is None  # bugs are not refusals
