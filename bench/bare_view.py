"""The yardsticks: the same protocol work as the callback, and nothing else.

Both verify msg_signature, decrypt, parse, pick a reply with one dict lookup (O(1) routing),
render and encrypt — no rules engine, no dedupe, no log, no signals:

- ``bare_callback``: a bare Django view (the issue's yardstick: the callback's throughput is
  reported as a fraction of this view's);
- ``bare_wsgi``: the same work as a plain WSGI application, no Django at all: the floor that the
  callback's WSGI fast path (``wechat_app.wsgi``), which skips Django's request handling, can be
  held against like for like;
- ``floor_redis`` and ``floor_pg``: ``bare_wsgi`` plus the least that deduplicating a delivery
  and keeping its log row durably can cost, with no framework, no rules engine and no ORM: one
  Redis round trip (a pipeline: ``SET NX EX`` of the delivery's key and ``RPUSH`` of the log
  entry), or one autocommitted PostgreSQL ``INSERT ... ON CONFLICT DO NOTHING`` into a table
  with only a primary key (the row claim). Lower bounds of the project's two log modes (each does
  more), measured to tell which targets any callback that dedupes and logs can reach here.
"""
import os
from urllib.parse import parse_qsl

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from wechat_app.protocol import MessageCrypto, TextReply, parse_message, parse_xml, render_reply

_crypto = MessageCrypto(os.environ["BENCH_TOKEN"], os.environ["BENCH_AES_KEY"], os.environ["BENCH_APP_ID"])
_replies = {f"kw{i}": f"exact reply {i}" for i in range(100_000)}


def _answer(query, body: bytes, keep=None) -> bytes:
    envelope = parse_xml(body)
    plain = _crypto.decrypt_message(envelope.get("Encrypt"), query.get("msg_signature"), query["timestamp"],
                                    query["nonce"])
    message = parse_message(plain)
    text = _replies.get(message.text or "", "default reply")
    xml = render_reply(TextReply(text), to_user=message.uid, from_user=message.sp)
    if keep is not None:
        keep(message, plain, xml)
    return _crypto.encrypt_message(xml, query["nonce"]).encode("utf-8")


@csrf_exempt
def bare_callback(request, account_name):
    return HttpResponse(_answer(request.GET, request.body), content_type="application/xml")


def _wsgi(environ, start_response, keep=None):
    if environ["REQUEST_METHOD"] != "POST":  # wrk_replay.lua's idle GETs
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    out = _answer(query, body, keep)
    start_response("200 OK", [("Content-Type", "application/xml"), ("Content-Length", str(len(out)))])
    return [out]


def bare_wsgi(environ, start_response):
    return _wsgi(environ, start_response)


FLOOR_TABLE = "bench_floor_log"
_connections = {}  # opened on first use, in each worker (never across gunicorn's fork)


def _redis():
    if "redis" not in _connections:
        import redis

        _connections["redis"] = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _connections["redis"]


def _postgres():
    if "pg" not in _connections:
        import psycopg

        url = os.environ["DATABASE_URL"]
        _connections["pg"] = psycopg.connect(url, autocommit=True, prepare_threshold=0)
    return _connections["pg"]


def _keep_in_redis(message, plain, reply):
    pipe = _redis().pipeline(transaction=False)
    pipe.set(f"floor:{message.id}", 1, nx=True, ex=300)
    pipe.rpush("floor:log", f"{plain}\0{reply}")
    pipe.execute()


def _keep_in_postgres(message, plain, reply):
    _postgres().execute(
        f"INSERT INTO {FLOOR_TABLE} (msg_id, raw, reply) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        (message.id, plain, reply))


def floor_redis(environ, start_response):
    return _wsgi(environ, start_response, _keep_in_redis)


def floor_pg(environ, start_response):
    return _wsgi(environ, start_response, _keep_in_postgres)


def create_floor_table(url: str) -> None:
    """The floor's log table, emptied (compare.py calls it before serving ``floor_pg``)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} "
                     "(msg_id text PRIMARY KEY, raw text NOT NULL, reply text NOT NULL)")
        conn.execute(f"TRUNCATE {FLOOR_TABLE}")
