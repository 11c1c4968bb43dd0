"""REST API of the agent gateway (docs/agent-gateway.md): the inbox and the agent's replies.

- ``/agent/inbox/`` (``?status=&account=&delivery=``): the events handed to agents, oldest first;
  ``GET .../{id}/`` one with its callback attempts; ``POST .../{id}/claim/`` ``{"worker_id",
  "lease_seconds"}`` (409 when another worker holds it), ``POST .../claim-next/`` the oldest
  pending one (``{"worker_id", "lease_seconds", "account"}``; 204 when none), ``POST
  .../{id}/complete/`` ``{"completion_note"}``, ``POST .../{id}/fail/`` ``{"error"}``, ``POST
  .../{id}/retry/`` (a failed event back to pending: redelivered by callback), ``POST
  .../{id}/release/`` (a claim back to pending). A lease that ends returns the event to pending.
- ``POST /agent/send/`` the seed's body (``account_id``, ``to_user_id``, ``context_token``,
  ``chat_type``, ``items``: ``{"type": "text", "text"}`` or ``{"type": "file", "file_type": 1-4,
  "url"}``), sent at once through the account's channel; ``POST /agent/send/async/`` answers a task
  id (202) to poll at ``GET /agent/send/tasks/{id}/``.
- ``/accounts/{name}/agent/``: the account's agent settings (``GET``; ``PUT``/``PATCH``/``DELETE``
  need ``change_account``); the shared secret is write-only.
- ``POST /agent/typing/`` ``{"account_id", "to_user_id", "context_token", "status": "typing" |
  "cancel"}``.
Permissions: ``view``/``change`` ``agentevent`` for the inbox; ``add`` ``outboundmessage`` to send
and type; objects of accounts the user cannot access are not found.
"""
from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..models import Account, AgentDeliveryAttempt, AgentEvent, AgentSendTask, AgentSettings, OutboundMessage
from ..models.accounts import name_validator
from ..services import agent
from ..services.access import accessible_accounts
from . import filters
from .base import AppViewSetMixin
from .errors import APIError
from .schema import OpenApiResponse, extend_schema
from .serializers import StrictSerializer


def _refused(err: agent.AgentError) -> APIError:
    return APIError(err.status, err.code, str(err))


class AgentAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgentDeliveryAttempt
        fields = ["number", "status_code", "error", "duration_ms", "created_at"]
        read_only_fields = fields


class AgentEventSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.name", read_only=True)
    account_id = serializers.CharField(source="account.name", read_only=True,
                                       help_text="The account's name (the seed's account_id).")
    claim = serializers.SerializerMethodField()
    attachments = serializers.SerializerMethodField(
        help_text="The message's media: kind, WeChat media id, and with FETCH_INCOMING_MEDIA the REST url of the "
                  "stored file (fetched with an API token), its status and, once fetched, its local path.")

    class Meta:
        model = AgentEvent
        fields = ["id", "type", "account", "account_id", "event_id", "status", "delivery", "chat_id", "user_id",
                  "chat_type", "text", "context_token", "attachments", "raw", "claim", "attempts",
                  "next_attempt_at", "note", "error", "created_at", "updated_at", "finished_at"]
        read_only_fields = fields

    type = serializers.SerializerMethodField()

    def get_type(self, obj) -> str:
        return "message"

    def get_attachments(self, obj) -> list[dict]:
        return agent.event_attachments(obj, self.context.get("request"), self.context.get("incoming_media"))

    def get_claim(self, obj) -> dict | None:
        if obj.status != AgentEvent.Status.CLAIMED:
            return None
        return {"worker_id": obj.worker_id, "claimed_at": obj.claimed_at, "lease_until": obj.lease_until}


class AgentEventDetailSerializer(AgentEventSerializer):
    delivery_attempts = AgentAttemptSerializer(many=True, read_only=True)

    class Meta(AgentEventSerializer.Meta):
        fields = [*AgentEventSerializer.Meta.fields, "delivery_attempts"]
        read_only_fields = fields


class ClaimSerializer(StrictSerializer):
    worker_id = serializers.CharField(max_length=128, help_text="Who takes the event.")
    lease_seconds = serializers.IntegerField(required=False, min_value=1,
                                             help_text="How long the claim holds (AGENT_DEFAULT_LEASE when left out).")


class ClaimNextSerializer(ClaimSerializer):
    account = serializers.CharField(required=False, max_length=64, help_text="Only this account's events.")


class CompleteSerializer(StrictSerializer):
    completion_note = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    worker_id = serializers.CharField(required=False, max_length=128,
                                      help_text="When given, the claim must be this worker's.")


class FailSerializer(StrictSerializer):
    error = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    worker_id = serializers.CharField(required=False, max_length=128)


class AgentEventViewSet(AppViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The agent inbox: events handed to agents. Filters: ``status``, ``account`` (name), ``delivery``."""

    serializer_class = AgentEventSerializer

    def get_queryset(self):
        qs = AgentEvent.objects.filter(account__in=accessible_accounts(self.request.user)).select_related("account")
        if self.action == "retrieve":
            qs = qs.prefetch_related("delivery_attempts")
        return qs.order_by("created_at", "id")

    def get_serializer_class(self):
        return AgentEventDetailSerializer if self.action == "retrieve" else AgentEventSerializer

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user),
            "status": filters.choice(AgentEvent.Status.values),
            "delivery": filters.choice(AgentEvent.Delivery.values)})
        for name in ("account", "status", "delivery"):
            if name in given:
                qs = qs.filter(**{name: given[name]})
        return qs

    def list(self, request, *args, **kwargs):
        agent.release_expired()  # an ended lease is pending again before anyone looks
        return super().list(request, *args, **kwargs)

    def get_serializer(self, *args, **kwargs):
        if kwargs.get("many") and args:  # a page of events: their stored files in one query
            events = list(args[0])
            context = kwargs.setdefault("context", self.get_serializer_context())
            context["incoming_media"] = agent.incoming_rows(events)
            args = (events, *args[1:])
        return super().get_serializer(*args, **kwargs)

    def _body(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _answer(self, event):
        return Response(AgentEventSerializer(event, context=self.get_serializer_context()).data)

    @extend_schema(request=ClaimSerializer, responses=AgentEventSerializer)
    @action(detail=True, methods=["post"], required_permissions=[("change", AgentEvent)])
    def claim(self, request, pk=None):
        """Claim this event for a worker (409 when it is not pending or another claim holds it)."""
        event = self.get_object()
        body = self._body(ClaimSerializer)
        try:
            return self._answer(agent.claim(event, body["worker_id"], body.get("lease_seconds")))
        except agent.AgentError as err:
            raise _refused(err) from None

    @extend_schema(request=ClaimNextSerializer, responses={200: AgentEventSerializer,
                                                           204: OpenApiResponse(description="Nothing pending.")})
    @action(detail=False, methods=["post"], url_path="claim-next", required_permissions=[("change", AgentEvent)])
    def claim_next(self, request):
        """Claim the oldest pending inbox event (of ``account`` when given); 204 when none is pending."""
        body = self._body(ClaimNextSerializer)
        account = None
        if body.get("account"):
            try:
                account = filters.account(request.user)(body["account"])
            except ValueError as err:
                raise APIError(400, "invalid", str(err), fields={"account": [str(err)]}) from None
        try:
            event = agent.claim_next(accessible_accounts(request.user), body["worker_id"], body.get("lease_seconds"),
                                     account=account)
        except agent.AgentError as err:
            raise _refused(err) from None
        if event is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self._answer(event)

    @extend_schema(request=CompleteSerializer, responses=AgentEventSerializer)
    @action(detail=True, methods=["post"], required_permissions=[("change", AgentEvent)])
    def complete(self, request, pk=None):
        """Mark a claimed event done, with a note."""
        event = self.get_object()
        body = self._body(CompleteSerializer)
        try:
            return self._answer(agent.complete(event, body.get("completion_note", ""), body.get("worker_id")))
        except agent.AgentError as err:
            raise _refused(err) from None

    @extend_schema(request=FailSerializer, responses=AgentEventSerializer)
    @action(detail=True, methods=["post"], required_permissions=[("change", AgentEvent)])
    def fail(self, request, pk=None):
        """Mark a claimed event failed, with the error."""
        event = self.get_object()
        body = self._body(FailSerializer)
        try:
            return self._answer(agent.fail(event, body.get("error", ""), body.get("worker_id")))
        except agent.AgentError as err:
            raise _refused(err) from None

    @extend_schema(request=None, responses=AgentEventSerializer)
    @action(detail=True, methods=["post"], required_permissions=[("change", AgentEvent)])
    def retry(self, request, pk=None):
        """Put a failed (or completed) event back to pending; a callback event is delivered again."""
        event = self.get_object()
        try:
            return self._answer(agent.retry(event))
        except agent.AgentError as err:
            raise _refused(err) from None

    @extend_schema(request=None, responses=AgentEventSerializer)
    @action(detail=True, methods=["post"], required_permissions=[("change", AgentEvent)])
    def release(self, request, pk=None):
        """Return a claimed event to pending (its worker gave up or died)."""
        event = self.get_object()
        try:
            return self._answer(agent.release(event))
        except agent.AgentError as err:
            raise _refused(err) from None


# --- replies -------------------------------------------------------------------------------------
class SendItemSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["text", "file"])
    text = serializers.CharField(required=False, help_text="type text: the text.")
    file_type = serializers.IntegerField(required=False, help_text="type file: 1 image, 2 video, 3 voice, 4 file.")
    url = serializers.CharField(required=False, help_text="type file: http(s)://, file:///... or /absolute/path "
                                                          "(local files only under AGENT_FILE_ROOT).")


class SendSerializer(StrictSerializer):
    account_id = serializers.CharField(max_length=64, help_text="The account's name.")
    to_user_id = serializers.CharField(max_length=128, help_text="The user (openid, or the bot's user id).")
    context_token = serializers.CharField(required=False, allow_blank=True, max_length=1024,
                                          help_text="From the event, echoed (iLink needs it).")
    chat_type = serializers.CharField(required=False, allow_blank=True, max_length=16)
    items = serializers.JSONField(help_text="What to send, in order: text and file items (see SendItem).")


class TypingSerializer(StrictSerializer):
    account_id = serializers.CharField(max_length=64)
    to_user_id = serializers.CharField(max_length=128)
    context_token = serializers.CharField(required=False, allow_blank=True, max_length=1024)
    status = serializers.ChoiceField(choices=["typing", "cancel"], required=False, default="typing")


class SendTaskSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.name", read_only=True)

    class Meta:
        model = AgentSendTask
        fields = ["id", "account", "status", "result", "error", "created_at", "updated_at"]
        read_only_fields = fields


class AgentViewSet(AppViewSetMixin, viewsets.GenericViewSet):
    """The agent's replies: send text and files, typing indicators."""

    serializer_class = SendSerializer
    queryset = AgentSendTask.objects.none()

    def _account(self, name):
        try:
            return filters.account(self.request.user)(name)
        except ValueError as err:
            raise APIError(400, "invalid", f"account_id: {err}", fields={"account_id": [str(err)]}) from None

    def _body(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=SendSerializer, responses={200: OpenApiResponse(description='{"ok": true, "sent": [...]}')})
    @action(detail=False, methods=["post"], required_permissions=[("add", OutboundMessage)])
    def send(self, request):
        """Send the agent's reply now through the account's channel (customer-service messages on an
        Official Account, files uploaded first)."""
        body = self._body(SendSerializer)
        account = self._account(body["account_id"])
        try:
            result = agent.send(account, body["to_user_id"], body["items"], context_token=body.get("context_token", ""))
        except agent.AgentError as err:
            raise _refused(err) from None
        return Response({"ok": True, **result})

    @extend_schema(request=SendSerializer, responses={202: SendTaskSerializer})
    @action(detail=False, methods=["post"], url_path="send/async", required_permissions=[("add", OutboundMessage)])
    def send_async(self, request):
        """Check the reply now, send it in a task; poll ``send/tasks/{id}/``."""
        body = self._body(SendSerializer)
        account = self._account(body["account_id"])
        try:
            task = agent.queue_send(account, {"to_user_id": body["to_user_id"], "items": body["items"],
                                              "context_token": body.get("context_token", "")})
        except agent.AgentError as err:
            raise _refused(err) from None
        task.refresh_from_db()
        return Response(SendTaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=SendTaskSerializer)
    @action(detail=False, methods=["get"], url_path=r"send/tasks/(?P<task_id>[0-9a-fA-F-]{32,36})",
            required_permissions=[("view", OutboundMessage)])
    def send_task(self, request, task_id=None):
        """What became of a queued reply: queued, running, done (with the result) or failed (with the error)."""
        try:
            task_id = uuid.UUID(task_id)
        except ValueError:
            raise APIError(404, "not_found", "No such send task.") from None
        task = (AgentSendTask.objects.filter(pk=task_id, account__in=accessible_accounts(request.user))
                .select_related("account").first())
        if task is None:
            raise APIError(404, "not_found", "No such send task.")
        return Response(SendTaskSerializer(task).data)

    @extend_schema(request=TypingSerializer, responses={200: OpenApiResponse(description='{"ok": true, "typing": {...}}')})
    @action(detail=False, methods=["post"], required_permissions=[("add", OutboundMessage)])
    def typing(self, request):
        """Show (``typing``) or hide (``cancel``) the typing indicator to the user."""
        body = self._body(TypingSerializer)
        account = self._account(body["account_id"])
        try:
            agent.typing(account, body["to_user_id"], on=body["status"] == "typing",
                         context_token=body.get("context_token", ""))
        except agent.AgentError as err:
            raise _refused(err) from None
        return Response({"ok": True, "typing": {"account_id": account.name, "to_user_id": body["to_user_id"],
                                                "status": body["status"]}})


# --- an account's agent settings ---------------------------------------------------------------
AGENT_SETTINGS_FIELDS = ("mode", "scope", "callback_url", "shared_secret", "max_attempts")


# How the account hands conversations to an agent (docs/agent-gateway.md). The shared secret is
# write-only: left out it keeps its value, "" clears it; the answer says shared_secret_set instead.
class AgentSettingsSerializer(StrictSerializer):

    account = serializers.CharField(read_only=True, help_text="The account's name.")
    configured = serializers.BooleanField(read_only=True,
                                          help_text="False: the account has no agent settings (the defaults shown).")
    mode = serializers.ChoiceField(choices=AgentSettings.Mode.choices, required=False,
                                   help_text="off, callback (POST each event) or inbox (the agent claims events).")
    scope = serializers.ChoiceField(choices=AgentSettings.Scope.choices, required=False,
                                    help_text="unanswered: messages no rule answered (and rules whose reply is "
                                              "'agent'); all: every user message.")
    callback_url = serializers.CharField(required=False, allow_blank=True, max_length=500,
                                         help_text="Where events are POSTed (callback mode): an http(s) URL "
                                                   "without user name or password.")
    shared_secret = serializers.CharField(required=False, allow_blank=True, max_length=128, write_only=True,
                                          trim_whitespace=True,
                                          help_text="Sent as 'Authorization: Bearer <secret>'. Write-only.")
    shared_secret_set = serializers.BooleanField(read_only=True)
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=50,
                                            help_text="Callback attempts before an event is parked as failed.")
    created_at = serializers.DateTimeField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def to_representation(self, instance):
        return {"account": instance.account.name, "configured": instance.pk is not None, "mode": instance.mode,
                "scope": instance.scope, "callback_url": instance.callback_url,
                "shared_secret_set": bool(instance.shared_secret), "max_attempts": instance.max_attempts,
                "created_at": serializers.DateTimeField().to_representation(instance.created_at)
                if instance.created_at else None,
                "updated_at": serializers.DateTimeField().to_representation(instance.updated_at)
                if instance.updated_at else None}


def _stored_agent_settings(account) -> AgentSettings:
    """The account's settings row, or an unsaved one with the defaults."""
    return AgentSettings.objects.filter(account=account).select_related("account").first() \
        or AgentSettings(account=account)


class AccountAgentViewSet(AppViewSetMixin, viewsets.GenericViewSet):
    """An account's agent gateway settings, under `accounts/{name}/agent/`: `GET` (view the
    account), `PUT` (all fields; those left out take their defaults, except the shared secret,
    which is kept), `PATCH` (only the given fields), `DELETE` (no agent: the settings are removed).
    Writing needs `change_account`."""

    lookup_field = "name"
    lookup_value_regex = name_validator.regex.pattern.strip("^$")
    serializer_class = AgentSettingsSerializer
    pagination_class = None

    @property
    def required_permissions(self):
        safe = getattr(getattr(self, "request", None), "method", "GET") in ("GET", "HEAD", "OPTIONS")
        return [("view", Account)] if safe else [("change", Account)]

    def get_queryset(self):
        return accessible_accounts(self.request.user).order_by("name")

    @extend_schema(methods=["GET"], request=None, responses={200: AgentSettingsSerializer})
    @extend_schema(methods=["PUT", "PATCH"], request=AgentSettingsSerializer,
                   responses={200: AgentSettingsSerializer})
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["get", "put", "patch", "delete"], url_path="agent")
    def agent(self, request, name=None):
        """The account's agent settings (the defaults, `configured: false`, when it has none)."""
        account = self.get_object()
        current = _stored_agent_settings(account)
        if request.method == "GET":
            return Response(AgentSettingsSerializer(current).data)
        if request.method == "DELETE":
            if current.pk is not None:
                current.delete()
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = AgentSettingsSerializer(data=request.data, partial=request.method == "PATCH")
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        if request.method == "PUT":  # a full replacement: what is left out takes its default
            defaults = AgentSettings(account=account)
            for field in AGENT_SETTINGS_FIELDS:
                if field != "shared_secret" and field not in values:
                    values[field] = getattr(defaults, field)
        for field, value in values.items():
            setattr(current, field, value)
        try:
            current.full_clean(exclude=["account"])
        except DjangoValidationError as err:
            raise serializers.ValidationError(serializers.as_serializer_error(err)) from None
        current.save()
        current.refresh_from_db()
        return Response(AgentSettingsSerializer(current).data)
