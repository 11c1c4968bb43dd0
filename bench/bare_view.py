"""The yardstick: a bare Django view doing the same protocol work as the callback.

It verifies msg_signature, decrypts, parses, picks a reply with one dict lookup (O(1) routing),
renders and encrypts — no rules engine, no dedupe, no log, no signals. The callback's throughput
is reported as a fraction of this view's.
"""
import os

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from wechat_app.protocol import MessageCrypto, TextReply, parse_message, parse_xml, render_reply

_crypto = MessageCrypto(os.environ["BENCH_TOKEN"], os.environ["BENCH_AES_KEY"], os.environ["BENCH_APP_ID"])
_replies = {f"kw{i}": f"exact reply {i}" for i in range(100_000)}


@csrf_exempt
def bare_callback(request, account_name):
    q = request.GET
    envelope = parse_xml(request.body)
    plain = _crypto.decrypt_message(envelope.get("Encrypt"), q.get("msg_signature"), q["timestamp"], q["nonce"])
    message = parse_message(plain)
    text = _replies.get(message.text or "", "default reply")
    xml = render_reply(TextReply(text), to_user=message.uid, from_user=message.sp)
    return HttpResponse(_crypto.encrypt_message(xml, q["nonce"]), content_type="application/xml")
