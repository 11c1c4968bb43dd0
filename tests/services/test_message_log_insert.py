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
