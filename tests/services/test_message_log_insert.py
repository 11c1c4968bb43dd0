"""MessageLog.objects.insert: the callback's fast INSERT behaves like save(force_insert=True)."""
import pytest
from django.db import IntegrityError, transaction

from wechat_app.models import Account, MessageLog

pytestmark = pytest.mark.django_db


def make_log(account, key="msg:1", **extra):
    values = dict(account=account, dedupe_key=key, msg_id="1", user="u1", msg_type="text", text="hi",
                  message={"text": "hi", "param": {"lat": None}}, reply={"type": "text", "content": "yo"},
                  reply_xml="<xml>]]></xml>", status=MessageLog.Status.REPLIED, latency_ms=1.5)
    values.update(extra)
    return MessageLog(**values)


@pytest.fixture
def account():
    return Account.objects.create(name="a", app_id="wx0000000000000001", app_secret="s" * 16, token="tok123")


def test_insert_sets_pk_and_defaults_and_round_trips(account):
    log = MessageLog.objects.insert(make_log(account))
    assert log.pk and not log._state.adding
    assert log.created_at is not None
    stored = MessageLog.objects.get(pk=log.pk)
    assert stored.message == {"text": "hi", "param": {"lat": None}}
    assert stored.reply == {"type": "text", "content": "yo"}
    assert stored.reply_xml == "<xml>]]></xml>" and stored.retry_count == 0 and stored.created_at == log.created_at


def test_duplicate_delivery_raises_djangos_integrity_error(account):
    MessageLog.objects.insert(make_log(account))
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageLog.objects.insert(make_log(account))
    assert MessageLog.objects.count() == 1


def test_repeated_inserts_keep_working(account):
    # PostgreSQL prepares the statement after a few executions; the later ones must still work.
    for number in range(8):
        MessageLog.objects.insert(make_log(account, key=f"msg:{number}", reply=None))
    assert MessageLog.objects.filter(reply__isnull=True).count() == 8


def test_postgresql_uses_the_prepared_statement_not_the_orm(account, monkeypatch):
    # The fast path once checked a connection attribute that Django does not have, so every
    # message went through the ORM's SQL compiler: keep it honest.
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the prepared INSERT is PostgreSQL's")

    def orm_save(*args, **kwargs):
        raise AssertionError("the ORM's save() was used")

    monkeypatch.setattr(MessageLog, "save", orm_save)
    log = MessageLog.objects.insert(make_log(account))
    assert MessageLog.objects.filter(pk=log.pk).exists()


def test_insert_rows_skips_rows_already_present(account):
    from wechat_app.services.logbuffer import row_of

    MessageLog.objects.insert(make_log(account, key="msg:0"))
    rows = [row_of(make_log(account, key=f"msg:{number}")) for number in range(3)]
    MessageLog.objects.insert_rows(rows)
    MessageLog.objects.insert_rows(rows)  # a drain repeated after dying half-way
    assert sorted(MessageLog.objects.values_list("dedupe_key", flat=True)) == ["msg:0", "msg:1", "msg:2"]
    stored = MessageLog.objects.get(dedupe_key="msg:2")
    assert stored.message == {"text": "hi", "param": {"lat": None}} and stored.created_at is not None


def test_parameters_are_those_of_djangos_conversions(account):
    # The fast parameters skip conversions that return the value unchanged; odd types still go
    # through Django's (an int MsgId becomes a string, a Decimal latency a float).
    from decimal import Decimal

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the prepared INSERT is PostgreSQL's")
    for log in (make_log(account), make_log(account, msg_id=17, latency_ms=Decimal("2.5"), encrypted=1, rule=None)):
        fields = MessageLog.objects._statement(connection)[1]
        fast = MessageLog.objects._params(log, connection)
        created = log.created_at
        expected = [field.get_db_prep_save(field.pre_save(log, True), connection) for field in fields]
        for field, got, want in zip(fields, fast, expected):
            if field.attname == "created_at":
                assert got == created or abs((want - got).total_seconds()) < 1
            elif field.get_internal_type() == "JSONField":
                assert type(got) is type(want)
            else:
                assert got == want and type(got) is type(want), field.attname


# insert_rows: the drains' bulk write (COPY into a temporary table, then one INSERT ... SELECT
# on PostgreSQL; bulk_create elsewhere). Rows are what the buffer and the spool hold: row_of().
# The PostgreSQL COPY is binary with USE_TZ (aware datetimes), text without: both are run.
@pytest.fixture(params=[True, False], ids=["use_tz", "naive"])
def use_tz(request, settings):
    settings.USE_TZ = request.param
    return request.param


def rows_of(*logs):
    from wechat_app.services.logbuffer import row_of

    return [row_of(log) for log in logs]


def test_insert_rows_keeps_the_first_of_two_entries_of_one_delivery(account, use_tz):
    # Two buffered entries of one delivery (and one other message) in a single batch.
    rows = rows_of(make_log(account, key="msg:1", text="first"), make_log(account, key="msg:2"),
                   make_log(account, key="msg:1", text="second"))
    MessageLog.objects.insert_rows(rows)
    assert sorted(MessageLog.objects.values_list("dedupe_key", "text")) == [("msg:1", "first"), ("msg:2", "hi")]


def test_insert_rows_leaves_a_row_already_present_as_it_is(account, use_tz):
    present = MessageLog.objects.insert(make_log(account, key="msg:1", text="logged first", retry_count=2))
    MessageLog.objects.insert_rows(rows_of(make_log(account, key="msg:1", text="again"),
                                           make_log(account, key="msg:2", text="new")))
    assert MessageLog.objects.count() == 2
    stored = MessageLog.objects.get(pk=present.pk)
    assert stored.text == "logged first" and stored.retry_count == 2
    assert MessageLog.objects.get(dedupe_key="msg:2").text == "new"


def test_insert_rows_round_trips_json_and_text_exactly(account, use_tz):
    message = {"text": "你好 ]]> <xml>", "param": {"lat": None, "list": [None, 1.5, "é\u2028", {"a": None}]},
               "quote": '"\\\t\n\r\x01'}
    reply = {"type": "text", "content": "]]><![CDATA[ 👋 \\N \t tab"}
    text = "line\nnext\ttab \\ backslash \\N ]]> 表情 😀"
    MessageLog.objects.insert_rows(rows_of(
        make_log(account, key="msg:1", message=message, reply=reply, text=text, raw_xml=text, reply_xml="<x>]]></x>"),
        make_log(account, key="msg:2", message={}, reply=None, text="")))
    stored = MessageLog.objects.get(dedupe_key="msg:1")
    assert stored.message == message and stored.reply == reply
    assert stored.text == text and stored.raw_xml == text and stored.reply_xml == "<x>]]></x>"
    empty = MessageLog.objects.get(dedupe_key="msg:2")
    assert empty.message == {} and empty.reply is None and empty.text == ""
    # reply=None is SQL NULL (JSONField's None), not JSON null.
    assert MessageLog.objects.filter(reply__isnull=True).count() == 1


def test_insert_rows_datetimes_round_trip(account, use_tz, settings):
    # A time zone other than the database session's: the instant must survive either way.
    from datetime import timedelta

    from django.utils import timezone

    settings.TIME_ZONE = "Asia/Shanghai"
    before = timezone.now()
    MessageLog.objects.insert_rows(rows_of(make_log(account, key="msg:1")))
    after = timezone.now()
    created = MessageLog.objects.get().created_at
    assert timezone.is_aware(created) == use_tz
    assert before - timedelta(microseconds=1) <= created <= after
    assert MessageLog.objects.filter(created_at__gte=before, created_at__lte=after).count() == 1


def test_insert_rows_keeps_the_time_each_message_was_received(account, use_tz):
    # A row drained later (the buffer a second on, the spool after an outage) is dated when its
    # message was received, not when it was written.
    from datetime import datetime, timedelta
    from datetime import timezone as dt_timezone

    from django.utils import timezone

    received = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt_timezone.utc)
    if not use_tz:
        received = timezone.make_naive(received)
    MessageLog.objects.insert_rows(rows_of(make_log(account, key="msg:1", created_at=received),
                                           make_log(account, key="msg:2", created_at=received + timedelta(hours=3))))
    assert list(MessageLog.objects.order_by("dedupe_key").values_list("created_at", flat=True)) == [
        received, received + timedelta(hours=3)]


def test_insert_rows_writes_nulls(account, use_tz):
    from wechat_app.models import Rule
    from wechat_app.services.rules import import_rules

    import_rules(account, "- name: r\n  match: {exact: hi}\n  reply: yo\n")
    rule = Rule.objects.get(account=account, name="r")
    MessageLog.objects.insert_rows(rows_of(make_log(account, key="msg:1", rule=None, latency_ms=None),
                                           make_log(account, key="msg:2", rule=rule, latency_ms=0.0)))
    values = dict(MessageLog.objects.values_list("dedupe_key", "rule_id"))
    assert values == {"msg:1": None, "msg:2": rule.pk}
    latency = dict(MessageLog.objects.values_list("dedupe_key", "latency_ms"))
    assert latency == {"msg:1": None, "msg:2": 0.0}


def test_insert_rows_fills_the_defaults_of_missing_columns_and_converts_odd_types(account, use_tz):
    from decimal import Decimal

    row = {"account_id": account.pk, "dedupe_key": "msg:1", "user": "u1", "msg_type": "text",
           "msg_id": 17, "latency_ms": Decimal("2.5"), "encrypted": 1}
    MessageLog.objects.insert_rows([row])
    stored = MessageLog.objects.get()
    assert (stored.msg_id, stored.latency_ms, stored.encrypted) == ("17", 2.5, True)
    assert stored.message == {} and stored.reply is None and stored.status == "received" and stored.retry_count == 0


def test_insert_rows_twice_in_one_transaction(account, use_tz):
    # The temporary table lives until the commit: the second call must not write the first's rows again.
    with transaction.atomic():
        MessageLog.objects.insert_rows(rows_of(make_log(account, key="msg:1")))
        MessageLog.objects.filter(dedupe_key="msg:1").delete()
        MessageLog.objects.insert_rows(rows_of(make_log(account, key="msg:2")))
    assert list(MessageLog.objects.values_list("dedupe_key", flat=True)) == ["msg:2"]


def test_postgresql_insert_rows_copies_without_a_model_instance_per_row(account, monkeypatch):
    # The drain once built a MessageLog per row (and compiled its values through it): keep it out.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the COPY is PostgreSQL's")
    rows = rows_of(*(make_log(account, key=f"msg:{number}") for number in range(3)))

    def no_instances(*args, **kwargs):
        raise AssertionError("a MessageLog instance was built")

    monkeypatch.setattr(MessageLog, "__init__", no_instances)
    with CaptureQueriesContext(connection) as queries:
        MessageLog.objects.insert_rows(rows)
    monkeypatch.undo()
    statements = [query["sql"].split()[0] for query in queries.captured_queries]
    assert statements == ["CREATE", "COPY", "WITH"]  # three statements, whatever the number of rows
    assert MessageLog.objects.count() == 3
