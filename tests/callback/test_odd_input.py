"""Odd values at the unauthenticated endpoints answer 4xx, never 500 (issue 7 item 13).

Through Django's test client, so both CI passes (SQLite and PostgreSQL, which refuses NUL in a
query) run them.
"""
import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from wechat_app.protocol import ExpiredTimestampError, check_timestamp, make_signature
from wechat_app.protocol.simulator import build_message, sign_request

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", [
    "/wechat/callback/x%00/", "/wechat/callback/%00/", "/wechat/callback/acme%00x/",
    "/wechat/jssdk/x%00/", "/wechat/jssdk/acme%00/?url=https://example.com/",
    "/wechat/callback/" + "a" * 65 + "/", "/wechat/callback/-acme/",
])
def test_account_names_that_cannot_exist_are_404(make_account, path):
    make_account()  # "acme"
    client = Client(raise_request_exception=False)
    assert client.get(path).status_code == 404
    assert client.post(path, data=b"<xml/>", content_type="text/xml").status_code in (404, 405)


def test_the_account_name_syntax_still_reaches_real_accounts(make_account):
    account = make_account(name="Shop_2-b")
    params, body = sign_request(build_message("text", ["hi"], user="u", sp="s"), account.token)
    response = Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body,
                             content_type="text/xml")
    assert response.status_code == 200


@pytest.mark.parametrize("timestamp", ["9" * 400, "1" + "0" * 308, "-1", " 1700000000", "1e9", "１７００００００００",
                                       "1_700_000_000", "17000000000000"])
def test_a_correctly_signed_odd_timestamp_is_refused_not_an_overflow(make_account, engine, timestamp):
    account = make_account()
    xml = build_message("text", ["hi"], user="u", sp="s")
    params, body = sign_request(xml, account.token)
    params.update(timestamp=timestamp, signature=make_signature(account.token, timestamp, params["nonce"]))
    client = Client(raise_request_exception=False)
    response = client.post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body, content_type="text/xml")
    assert response.status_code == 403
    verify = dict(params, echostr="e")
    assert client.get(f"/wechat/callback/{account.name}/?{urlencode(verify)}").status_code == 403
    assert engine.calls == []


def test_check_timestamp_reads_plain_digits_only():
    now = 1_700_000_000
    check_timestamp("1700000100", 300, now=now)
    for bad in ("9" * 400, "1700000100.0", "", None, "0x10", "1" * 13):
        with pytest.raises(ExpiredTimestampError):
            check_timestamp(bad, 300, now=now)
    with pytest.raises(ExpiredTimestampError):
        check_timestamp("1700000301", 300, now=now)
    check_timestamp("9" * 400, 0)  # window 0: no check at all
    check_timestamp(str(int(time.time())), 300)
