"""The yardsticks: the same protocol work as the callback, and nothing else.

Both verify msg_signature, decrypt, parse, pick a reply with one dict lookup (O(1) routing),
render and encrypt — no rules engine, no dedupe, no log, no signals:

- ``bare_callback``: a bare Django view (the issue's yardstick: the callback's throughput is
  reported as a fraction of this view's);
- ``bare_wsgi``: the same work as a plain WSGI application, no Django at all: the floor that the
  callback's WSGI fast path (``wechat_app.wsgi``), which skips Django's request handling, can be
  held against like for like.
"""
import os
from urllib.parse import parse_qsl

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from wechat_app.protocol import MessageCrypto, TextReply, parse_message, parse_xml, render_reply

_crypto = MessageCrypto(os.environ["BENCH_TOKEN"], os.environ["BENCH_AES_KEY"], os.environ["BENCH_APP_ID"])
_replies = {f"kw{i}": f"exact reply {i}" for i in range(100_000)}


def _answer(query, body: bytes) -> bytes:
    envelope = parse_xml(body)
    plain = _crypto.decrypt_message(envelope.get("Encrypt"), query.get("msg_signature"), query["timestamp"],
                                    query["nonce"])
    message = parse_message(plain)
    text = _replies.get(message.text or "", "default reply")
    xml = render_reply(TextReply(text), to_user=message.uid, from_user=message.sp)
    return _crypto.encrypt_message(xml, query["nonce"]).encode("utf-8")


@csrf_exempt
def bare_callback(request, account_name):
    return HttpResponse(_answer(request.GET, request.body), content_type="application/xml")


def bare_wsgi(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":  # wrk_replay.lua's idle GETs
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    out = _answer(query, body)
    start_response("200 OK", [("Content-Type", "application/xml"), ("Content-Length", str(len(out)))])
    return [out]
