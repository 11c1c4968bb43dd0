"""The message log: one row per inbound message, written even when processing fails."""
from __future__ import annotations

import zlib
from operator import itemgetter

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..protocol.messages import SYSTEM_EVENTS, is_system_event


class MessageLogQuerySet(models.QuerySet):
    """Splits the log into what users sent and what WeChat reports about its own work.

    The marker is derived from the event name (``protocol.SYSTEM_EVENTS``, any case), so rows
    logged before the set grew are classified the same way.
    """

    def _with_event_name(self):
        return self.alias(_event_lower=Lower("event"))

    def system_events(self):
        """WeChat's own reports (TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH...)."""
        return self._with_event_name().filter(msg_type="event", _event_lower__in=SYSTEM_EVENTS)

    def from_users(self):
        """Messages and events that users sent: everything but ``system_events()``."""
        return self._with_event_name().exclude(msg_type="event", _event_lower__in=SYSTEM_EVENTS)


def _fast_insert_possible(connection) -> bool:
    """Whether ``connection`` is PostgreSQL through psycopg 3 (the prepared INSERT needs both)."""
    if connection.vendor != "postgresql":
        return False
    # Django's backend tells psycopg 3 from psycopg2 in a module flag, not on the connection.
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


# Values of these Python types (and None) are what a field of that type's ``get_db_prep_save``
# would return unchanged (``str()``, ``float()``...): the log's writes pass them as they are.
_UNCONVERTED = {"CharField": (str,), "TextField": (str,), "BooleanField": (bool,), "FloatField": (float,)}


class _CopyPlan:
    """How ``insert_rows`` writes rows on PostgreSQL: its three statements, and one conversion
    per column made once (each row's values are then converted without a model instance).

    Each value is what ``bulk_create`` writes, ``get_db_prep_save(pre_save(...))``, except that
    a value already of its column's Python type is passed as it is (the conversion would return
    it unchanged): dicts and lists of JSON columns go straight to the backend's JSON adaptation
    (the field's encoder, psycopg's Jsonb).
    """

    # Integers too: the COPY declares its columns' types (the single INSERT leaves them to Django).
    FAST = {**_UNCONVERTED, "IntegerField": (int,), "PositiveIntegerField": (int,), "BigIntegerField": (int,),
            "ForeignKey": (int,)}

    def __init__(self, model, connection):
        meta = model._meta
        fields = [f for f in meta.concrete_fields if f is not meta.pk]
        self.model, self.attnames = model, {f.attname for f in fields}
        self.columns = [(f.attname, *self._conversion(f)) for f in fields]
        # Where the unique keys are: the second row of a key in one batch is not written.
        position = {f.attname: n for n, f in enumerate(fields)}
        self.keys = [[position[meta.get_field(name).attname] for name in constraint.fields]
                     for constraint in meta.total_unique_constraints]
        quote = connection.ops.quote_name
        definitions = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in fields)
        columns = ", ".join(quote(f.column) for f in fields)
        # Named after its definition: a session that outlives a migration gets a new table.
        temp = quote(f"{meta.db_table}_rows_{zlib.crc32(definitions.encode()):08x}")
        # Kept for the session and emptied by each commit (no catalog writes per drain); the
        # INSERT's DELETE empties it at once, so a second call in one transaction starts afresh.
        self.create_sql = f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp} ({definitions}) ON COMMIT DELETE ROWS"
        self.copy_sql = f"COPY {temp} ({columns}) FROM STDIN"
        # Binary COPY spares both sides the text formatting and parsing; it needs the types, and
        # time-zone aware datetimes (naive ones, USE_TZ = False, go as text: the server applies
        # the session's time zone to them, as it does to an INSERT's).
        self.binary_copy_sql = f"{self.copy_sql} (FORMAT BINARY)"
        self.types = [f.db_type(connection).split("(")[0] for f in fields]
        self.insert_sql = (f"WITH moved AS (DELETE FROM {temp} RETURNING {columns}) "
                           f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT {columns} FROM moved "
                           f"ON CONFLICT DO NOTHING")

    @classmethod
    def _conversion(cls, field):
        """``(types passed as they are, conversion(value, connection) of other values)`` for
        ``field``'s column."""
        # The rows carry their values (``created_at`` too: the time the message was received);
        # a field whose pre_save computes one (auto_now, a pre_save of its own) would need an instance.
        computes = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        if computes or (type(field).pre_save is not models.Field.pre_save and not hasattr(field, "auto_now")):
            raise TypeError(f"{field} computes its value in pre_save: insert_rows would need a model instance")
        if field.get_internal_type() == "JSONField":
            def json(value, connection):
                if type(value) in (dict, list):
                    return connection.ops.adapt_json_value(value, field.encoder)
                return field.get_db_prep_save(value, connection)
            return (type(None),), json
        return cls.FAST.get(field.get_internal_type(), ()) + (type(None),), field.get_db_prep_save

    def write(self, copy, rows: list[dict], connection) -> None:
        """Write ``rows`` to ``copy`` (psycopg's ``Copy``), the first of each unique key only."""
        columns, attnames = self.columns, self.attnames
        keys = [(_tuple_getter(positions), set()) for positions in self.keys]  # (key of a row, keys seen)
        for row in rows:
            if row.keys() != attnames:  # columns missing (their defaults) or field names: as Django reads them
                instance = self.model(**row)
                row = {attname: getattr(instance, attname) for attname in attnames}
            values = []
            for attname, fast, convert in columns:
                value = row[attname]
                values.append(value if type(value) in fast else convert(value, connection))
            for key_of, seen in keys:
                if key_of(values) in seen:
                    break
            else:
                for key_of, seen in keys:
                    key = key_of(values)
                    if None not in key:  # NULLs are never equal: such rows are not duplicates
                        seen.add(key)
                copy.write_row(values)


def _tuple_getter(positions: list[int]):
    """``values -> tuple of values[n] for n in positions`` (``itemgetter`` gives no tuple for one)."""
    if len(positions) > 1:
        return itemgetter(*positions)
    n = positions[0]
    return lambda values: (values[n],)


class MessageLogManager(models.Manager.from_queryset(MessageLogQuerySet)):
    """Adds ``insert``: the callback's one write per message, made as cheap as the database allows."""

    _insert_sql: dict[str, tuple[str, list]] = {}
    _plans: dict[str, list] = {}
    _copy_plans: dict[str, _CopyPlan] = {}

    def insert(self, log: MessageLog) -> MessageLog:
        """INSERT a new row and set its primary key, like ``save(force_insert=True)``.

        On PostgreSQL (psycopg 3) it is a prepared statement with server-side parameter binding:
        each message costs the server no parsing or planning and the client no SQL compiling or
        quoting. Other databases use the ORM.
        Errors are Django's (``IntegrityError`` for a duplicate delivery), and the query shows
        in ``connection.queries`` / ``CaptureQueriesContext`` like any other.
        """
        alias = router.db_for_write(self.model, instance=log)
        connection = connections[alias]
        if not _fast_insert_possible(connection):
            log.save(force_insert=True, using=alias)
            return log
        import psycopg

        sql, fields = self._statement(connection)
        params = self._params(log, connection)
        connection.ensure_connection()
        # Django leaves psycopg's automatic preparation off; ask for it on this one statement.
        # The wrappers keep Django's error classes and its query log (CaptureQueriesContext).
        with connection.wrap_database_errors:
            with psycopg.Cursor(connection.connection) as cursor:
                if connection.queries_logged:
                    with connection.make_debug_cursor(cursor).debug_sql(sql, params, use_last_executed_query=True):
                        cursor.execute(sql, params, prepare=True)
                else:
                    cursor.execute(sql, params, prepare=True)
                log.pk = cursor.fetchone()[0]
        log._state.adding = False
        log._state.db = alias
        return log

    def insert_rows(self, rows: list[dict], *, using: str | None = None) -> None:
        """INSERT rows given as column values (attname -> value, primary key excluded), skipping
        those whose (account, dedupe key) is already present or came earlier in ``rows`` (the
        first of two entries of one delivery is kept); used by the buffer's and the spool's
        drains, in the caller's transaction (or one of its own).

        On PostgreSQL (psycopg 3) the rows are COPYed into a temporary table, then moved with
        one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``: the server plans one statement per
        batch instead of one per row, and the client converts each value once, with a plan made
        once per connection alias (no model instance per row). Other databases use
        ``bulk_create(ignore_conflicts=True)``.
        """
        if not rows:
            return
        alias = using or router.db_for_write(self.model)
        connection = connections[alias]
        if not _fast_insert_possible(connection):
            self.model.objects.using(alias).bulk_create(
                [self.model(**row) for row in rows], batch_size=500, ignore_conflicts=True)
            return
        plan = self._copy_plan(connection)
        with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
            cursor.execute(plan.create_sql)
            sql = plan.binary_copy_sql if settings.USE_TZ else plan.copy_sql
            with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                if settings.USE_TZ:
                    copy.set_types(plan.types)
                if connection.queries_logged:
                    with connection.make_debug_cursor(cursor.cursor).debug_sql(sql):
                        plan.write(copy, rows, connection)
                else:
                    plan.write(copy, rows, connection)
            cursor.execute(plan.insert_sql)

    def _copy_plan(self, connection) -> _CopyPlan:
        plan = self._copy_plans.get(connection.alias)
        if plan is None:
            plan = self._copy_plans[connection.alias] = _CopyPlan(self.model, connection)
        return plan

    def _params(self, log: MessageLog, connection) -> list:
        """The INSERT's parameters: each field's ``pre_save`` then ``get_db_prep_save``, as Django
        does, except that a value already of its column's Python type (the callback's are) is
        passed as it is: those conversions (``str()``, ``float()``...) would return it unchanged."""
        plan = self._plans.get(connection.alias)
        if plan is None:
            plan = self._plans[connection.alias] = []
            for field in self._statement(connection)[1]:
                # (Integers are left to Django: on PostgreSQL it types them for the server.)
                unconverted = _UNCONVERTED.get(field.get_internal_type())
                fast = unconverted + (type(None),) if unconverted else None
                plan.append((field, field.attname, fast))
        params = []
        for field, attname, fast in plan:
            if fast is not None:
                value = getattr(log, attname)
                if type(value) in fast:
                    params.append(value)
                    continue
            params.append(field.get_db_prep_save(field.pre_save(log, True), connection))
        return params

    def _statement(self, connection):
        key = connection.alias
        if key not in self._insert_sql:
            meta = self.model._meta
            fields = [f for f in meta.concrete_fields if f is not meta.pk]
            quote = connection.ops.quote_name
            sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(
                quote(meta.db_table), ", ".join(quote(f.column) for f in fields),
                ", ".join(["%s"] * len(fields)), quote(meta.pk.column))
            self._insert_sql[key] = (sql, fields)
        return self._insert_sql[key]


class MessageLog(models.Model):
    """What was received, what answered it and how long it took.

    ``dedupe_key`` is WeChat's identity of a delivery (MsgId, or sender + time + event + key for
    events); it is unique per account so that a retry updates ``retry_count`` instead of adding
    a row, even when two processes race.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        REPLIED = "replied", _("Replied")
        NO_REPLY = "no_reply", _("No reply")
        UNMATCHED = "unmatched", _("Unmatched")
        ERROR = "error", _("Error")
        # A code rule overran REPLY_BUDGET: WeChat got "success" and the reply follows as a
        # customer-service message; the row is updated when the rule finishes.
        DEFERRED = "deferred", _("Answered later")

    # Indexes are few on purpose (every INSERT maintains each one): the composite indexes below
    # lead with the foreign keys, so those need none of their own.
    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="message_logs",
                                db_index=False)
    dedupe_key = models.CharField(max_length=255)
    msg_id = models.CharField(_("MsgId"), max_length=64, blank=True)
    user = models.CharField(_("user (openid)"), max_length=128)
    msg_type = models.CharField(_("type"), max_length=32)
    event = models.CharField(_("event"), max_length=64, blank=True)
    event_key = models.CharField(_("event key"), max_length=255, blank=True)
    text = models.TextField(_("text"), blank=True)
    message = models.JSONField(_("normalized message"), default=dict)
    raw_xml = models.TextField(_("raw XML (decrypted)"), blank=True)
    encrypted = models.BooleanField(_("arrived encrypted"), default=False)
    rule = models.ForeignKey("wechat_app.Rule", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="message_logs", db_index=False)
    rule_name = models.CharField(_("rule"), max_length=100, blank=True)
    reply = models.JSONField(_("reply"), null=True, blank=True)
    reply_xml = models.TextField(_("reply XML (plaintext)"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(_("error"), blank=True)
    latency_ms = models.FloatField(_("latency (ms)"), null=True, blank=True)
    retry_count = models.PositiveIntegerField(_("retries"), default=0)
    # A default, not auto_now_add: a row written later (the buffer's and the spool's drains)
    # keeps the time its message was received, not the time of the drain.
    created_at = models.DateTimeField(_("received at"), default=timezone.now, editable=False, db_index=True)

    objects = MessageLogManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("message log entry")
        verbose_name_plural = _("message log")
        constraints = [
            models.UniqueConstraint(fields=["account", "dedupe_key"], name="wechat_log_unique_delivery"),
        ]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="wechat_log_account_time"),
            models.Index(fields=["account", "user", "-created_at"], name="wechat_log_thread"),
            models.Index(fields=["rule", "-created_at"], name="wechat_log_rule_time"),
        ]

    def __str__(self):
        return f"{self.msg_type} from {self.user} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    @property
    def is_system_event(self) -> bool:
        """An event WeChat reports about its own work, not a user's message (see ``SYSTEM_EVENTS``)."""
        return self.msg_type == "event" and is_system_event(self.event)
