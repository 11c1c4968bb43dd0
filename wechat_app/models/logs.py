"""The message log: one row per inbound message, written even when processing fails."""
from __future__ import annotations

from django.db import connections, models, router
from django.db.models.functions import Lower
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


class MessageLogManager(models.Manager.from_queryset(MessageLogQuerySet)):
    """Adds ``insert``: the callback's one write per message, made as cheap as the database allows."""

    _insert_sql: dict[str, tuple[str, list]] = {}
    _plans: dict[str, list] = {}

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
        those whose (account, dedupe key) is already present; used by the buffer's and the
        spool's drains, in the caller's transaction.

        On PostgreSQL (psycopg 3) one ``INSERT ... ON CONFLICT DO NOTHING`` statement executed
        for all the rows (psycopg's ``executemany``, pipelined): no SQL compiled per row. Other
        databases use ``bulk_create(ignore_conflicts=True)``.
        """
        if not rows:
            return
        alias = using or router.db_for_write(self.model)
        connection = connections[alias]
        if not _fast_insert_possible(connection):
            self.model.objects.using(alias).bulk_create(
                [self.model(**row) for row in rows], batch_size=500, ignore_conflicts=True)
            return
        sql, fields = self._statement(connection)
        sql = sql.rsplit(" RETURNING ", 1)[0] + " ON CONFLICT DO NOTHING"
        # As bulk_create does: every field's pre_save (created_at: now), then its database value.
        params = []
        for row in rows:
            instance = self.model(**row)
            params.append([field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields])
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)

    def _params(self, log: MessageLog, connection) -> list:
        """The INSERT's parameters: each field's ``pre_save`` then ``get_db_prep_save``, as Django
        does, except that a value already of its column's Python type (the callback's are) is
        passed as it is: those conversions (``str()``, ``float()``...) would return it unchanged."""
        plan = self._plans.get(connection.alias)
        if plan is None:
            plan = self._plans[connection.alias] = []
            for field in self._statement(connection)[1]:
                internal = field.get_internal_type()
                # (Integers are left to Django: on PostgreSQL it types them for the server.)
                fast = {"CharField": (str,), "TextField": (str,), "BooleanField": (bool,),
                        "FloatField": (float, type(None))}.get(internal)
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
    created_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)

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
