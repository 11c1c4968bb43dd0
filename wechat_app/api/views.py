"""REST API: accounts, rules and the message log, limited to the accounts the user may access.

Permissions are the admin's (`permissions.AccountModelPermissions`); every filter parameter is
validated (`filters`) and JSON bodies are depth-limited (`parsers`), so bad input answers 400.
"""
from __future__ import annotations

from django.db.models import Prefetch, Q
from django.http import HttpResponse
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from ..conf import app_settings
from ..engine.spec import MatchKind
from ..models import Account, MessageLog, Rule
from ..models.accounts import name_validator
from ..protocol import parse_message
from ..protocol.simulator import SimulatorError, build_message
from ..services import conversations, rule_files, stats
from ..services import rules as rule_services
from ..services.access import accessible_accounts, can_import_rules, grant_creator
from . import filters
from .base import AppViewSetMixin  # noqa: F401  (re-exported: the API modules import it from here)
from .schema import OpenApiExample, OpenApiParameter, OpenApiResponse, OpenApiTypes, extend_schema, extend_schema_view
from .serializers import (
    AccountSerializer,
    ConversationSerializer,
    MessageLogSerializer,
    RuleImportSerializer,
    RuleSerializer,
    RuleTestResultSerializer,
    RuleTestSerializer,
    StatsSerializer,
)

MAX_PAGE_SIZE = 500  # the message log's cursor pages

ACCOUNT_EXAMPLE = {
    "id": 1, "name": "shop", "channel": "mp", "app_id": "wx1234567890abcdef", "agent_id": None, "encrypt_mode": "safe",
    "api_base_url": "", "enabled": True, "no_match_reply": "", "error_reply": "", "app_secret_set": True,
    "encoding_aes_key_set": True, "callback_path": "/wechat/callback/shop/",
    "created_at": "2026-05-01T08:00:00Z", "updated_at": "2026-05-01T08:00:00Z",
}
ACCOUNT_CREATE_EXAMPLE = {
    "name": "shop", "app_id": "wx1234567890abcdef", "app_secret": "the AppSecret of the WeChat console",
    "token": "MyToken123", "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "encrypt_mode": "safe",
}
ACCOUNT_EXAMPLES = [
    OpenApiExample("An account", value=ACCOUNT_EXAMPLE, response_only=True),
    OpenApiExample("A new account in safe mode", value=ACCOUNT_CREATE_EXAMPLE, request_only=True),
    OpenApiExample("A new WeCom app", request_only=True, value={
        "name": "hr", "channel": "wecom", "app_id": "ww1234567890abcdef", "agent_id": 1000002,
        "app_secret": "the app's Secret", "token": "MyToken123",
        "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}),
]


# What rules/export/ answers, in YAML or JSON: the rule-file dialect's list form (docs/rules.md).
RULE_FILE_SCHEMA = {
    "type": "array",
    "description": "The account's rules, one object per top-level rule (its follow-ups nested), "
                   "as `rules/import/` and `manage.py wechat_rules import` read them.",
    "items": {"type": "object", "additionalProperties": True},
}


@extend_schema_view(
    list=extend_schema(parameters=[
        OpenApiParameter("enabled", bool),
        OpenApiParameter("encrypt_mode", str, enum=list(Account.EncryptMode.values)),
        OpenApiParameter("search", str, description="Text in the name or the app id."),
    ], examples=[OpenApiExample("Accounts", value=[ACCOUNT_EXAMPLE], response_only=True)]),
    retrieve=extend_schema(examples=ACCOUNT_EXAMPLES[:1]),
    create=extend_schema(examples=ACCOUNT_EXAMPLES),
    partial_update=extend_schema(examples=[
        ACCOUNT_EXAMPLES[0], OpenApiExample("Disable an account", value={"enabled": False}, request_only=True)]),
)
class AccountViewSet(AppViewSetMixin, viewsets.ModelViewSet):
    """Official accounts. Secrets (`app_secret`, `token`, `encoding_aes_key`) are accepted on write
    and never returned: `app_secret_set` and `encoding_aes_key_set` say whether they are set.
    Filters: `enabled`, `encrypt_mode`, `search` (in the name or app id).

    Creating needs `add_account` (the creator becomes a member); deleting needs `delete_account`,
    which only superusers have unless it is granted. Changing `app_id`, `app_secret` or
    `api_base_url` needs `change_account_credentials`."""

    serializer_class = AccountSerializer
    lookup_field = "name"
    # Only what an account name can be: anything else (a NUL byte...) is simply not found.
    lookup_value_regex = name_validator.regex.pattern.strip("^$")

    def get_queryset(self):
        return accessible_accounts(self.request.user).order_by("name")

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "enabled": filters.boolean, "search": filters.text,
            "encrypt_mode": filters.choice(Account.EncryptMode.values)})
        if "enabled" in given:
            qs = qs.filter(enabled=given["enabled"])
        if "encrypt_mode" in given:
            qs = qs.filter(encrypt_mode=given["encrypt_mode"])
        if "search" in given:
            qs = qs.filter(Q(name__icontains=given["search"]) | Q(app_id__icontains=given["search"]))
        return qs

    def perform_create(self, serializer):
        grant_creator(self.request.user, serializer.save())

    @extend_schema(parameters=[OpenApiParameter("as", str, enum=["yaml", "json"],
                                                description="The file's format (default yaml).")],
                   responses={(200, "application/yaml"): RULE_FILE_SCHEMA,
                              (200, "application/json"): RULE_FILE_SCHEMA})
    @action(detail=True, methods=["get"], url_path="rules/export", required_permissions=[("view", Rule)])
    def export_rules(self, request, name=None):
        """The account's rules as a webot-dialect file: `?as=yaml` (default) or `?as=json`.

        (`format` is DRF's content-negotiation parameter, hence `as`.)
        """
        fmt = request.query_params.get("as", "yaml")
        if fmt not in ("yaml", "json"):
            raise serializers.ValidationError({"as": "Use yaml or json."})
        account = self.get_object()
        content_type = "application/json" if fmt == "json" else "application/yaml"
        response = HttpResponse(rule_files.export_text(account, fmt), content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{account.name}-rules.{fmt}"'
        return response

    @action(detail=True, methods=["post"], url_path="rules/import", serializer_class=RuleImportSerializer,
            required_permissions=[("add", Rule), ("change", Rule)])
    def import_rules(self, request, name=None):
        """Import a rule file (all or nothing); with `dry_run` only report what would change.

        Body: `{"rules": <YAML/JSON text, or the loaded list or mapping>, "replace": false,
        "dry_run": false}`. The answer lists the rule names created, updated, deleted and
        unchanged; an invalid file answers 400 naming the rule, and nothing is written.
        """
        account = self.get_object()
        serializer = RuleImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # A dry run does all the work of an import: it needs the same permissions.
        if not can_import_rules(request.user, account, replace=data["replace"]):
            raise PermissionDenied("Importing rules (a dry run too) needs the add and change rule permissions, "
                                   "and to replace, the delete rule permission.")
        run = rule_files.preview_import if data["dry_run"] else rule_files.apply_import
        try:
            preview = run(account, data["rules"], replace=data["replace"])
        except rule_files.ImportFailed as err:
            raise serializers.ValidationError({"rules": [str(err)]}) from err
        return Response({"dry_run": data["dry_run"], "summary": preview.summary(), **preview.names(),
                         "warnings": preview.warnings})


def _follow_up_prefetches():
    """Every level of follow-ups, one query a level, in definition order."""
    ordered = Rule.objects.order_by("position", "id")
    return [Prefetch("__".join(["follow_ups"] * level), queryset=ordered)
            for level in range(1, app_settings.RULE_MAX_DEPTH)]


RULE_EXAMPLE = {
    "account": "shop", "name": "game", "match_kind": "exact", "match_value": "game",
    "replies": [{"type": "text", "content": "Pick a number from 1 to 9"}],
    "follow_up_timeout": 300, "follow_up_retries": 1,
    "follow_ups": [
        {"name": "game.pick", "match_kind": "regex", "match_value": "^([1-9])$",
         "replies": [{"type": "text", "content": "You picked {1}"}]},
        {"name": "game.other", "match_kind": "default", "replies": ["Only 1 to 9, please"]},
    ],
}
RULE_EXAMPLES = [
    OpenApiExample("A rule with follow-ups", value=RULE_EXAMPLE, request_only=True),
    OpenApiExample("A news reply", request_only=True, value={
        "account": "shop", "name": "news", "match_kind": "contains", "match_value": "news",
        "replies": [{"type": "news", "articles": [{"title": "Hello", "url": "https://example.com/a",
                                                   "pic_url": "https://example.com/a.jpg"}]}]}),
]
BAD_REQUEST = OpenApiResponse(description="Invalid input: each problem under its field's path, e.g. "
                                          "`follow_ups[1].match_value`; unknown fields are named too.")
NOT_FOUND = OpenApiResponse(description="No such object in the accounts you can access.")


@extend_schema_view(
    list=extend_schema(parameters=[
        OpenApiParameter("account", str, description="An account's name (one you can access)."),
        OpenApiParameter("enabled", bool), OpenApiParameter("kind", str, enum=[str(k) for k in MatchKind]),
        OpenApiParameter("top_level", bool, description="true: only top-level rules; false: only follow-ups."),
        OpenApiParameter("search", str, description="Text in the name, the match value or the replies."),
    ], responses={200: RuleSerializer(many=True), 400: BAD_REQUEST}),
    create=extend_schema(examples=RULE_EXAMPLES, responses={201: RuleSerializer, 400: BAD_REQUEST}),
    update=extend_schema(examples=RULE_EXAMPLES, responses={200: RuleSerializer, 400: BAD_REQUEST,
                                                            404: NOT_FOUND}),
    partial_update=extend_schema(responses={200: RuleSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}),
    retrieve=extend_schema(responses={200: RuleSerializer, 404: NOT_FOUND}),
    destroy=extend_schema(responses={204: None, 404: NOT_FOUND}),
)
class RuleViewSet(AppViewSetMixin, viewsets.ModelViewSet):
    """Reply rules, each with its follow-up rules nested under `follow_ups` (one document).

    Filters: `account` (name), `enabled`, `kind`, `top_level` (true/false), `search`.
    `POST /rules/test/` answers a message as the callback would, without sending, logging or
    remembering anything."""

    serializer_class = RuleSerializer

    def get_queryset(self):
        return (Rule.objects.filter(account__in=accessible_accounts(self.request.user))
                .select_related("account").prefetch_related(*_follow_up_prefetches())
                .order_by("account__name", "-priority", "position", "id"))

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user), "enabled": filters.boolean,
            "kind": filters.choice(MatchKind), "top_level": filters.boolean, "search": filters.text,
        })
        if "account" in given:
            qs = qs.filter(account=given["account"])
        if "enabled" in given:
            qs = qs.filter(enabled=given["enabled"])
        if "kind" in given:
            qs = qs.filter(match_kind=given["kind"])
        if "top_level" in given:
            qs = qs.filter(parent__isnull=given["top_level"])
        if "search" in given:
            term = given["search"]
            qs = qs.filter(Q(name__icontains=term) | Q(match_value__icontains=term) | Q(replies__icontains=term))
        return qs

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        # Only the user's own accounts, and their rules, may be named on write.
        fields = getattr(serializer, "fields", {})
        if "account" in fields:
            fields["account"].queryset = accessible_accounts(self.request.user)
        if "parent" in fields:
            fields["parent"].queryset = Rule.objects.filter(account__in=accessible_accounts(self.request.user))
        return serializer

    @extend_schema(request=RuleTestSerializer, responses={200: RuleTestResultSerializer, 400: BAD_REQUEST},
                   examples=[
                       OpenApiExample("A text message", request_only=True,
                                      value={"account": "shop", "user": "oUser1", "type": "text", "text": "game"}),
                       OpenApiExample("A menu click", request_only=True,
                                      value={"account": "shop", "type": "event", "event": "CLICK", "key": "V1_NEWS"}),
                       OpenApiExample("The answer", response_only=True, value={
                           "matched": True, "rule": {"id": 7, "name": "game"}, "status": "replied",
                           "reply": {"type": "text", "content": "Pick a number from 1 to 9"},
                           "xml": "<xml><ToUserName><![CDATA[oUser1]]></ToUserName>...</xml>",
                           "follow_up_pending": True, "error": "", "message": {"type": "text", "text": "game"}}),
                   ])
    @action(detail=False, methods=["post"], url_path="test", serializer_class=RuleTestSerializer,
            required_permissions=[("view", Rule)], reads_only=True)
    def test(self, request):
        """Answer a message as the account's callback would: the rule, the reply and its XML.

        Nothing is sent, nothing is logged, and no conversation state changes: the user's pending
        follow-up (if any) is read, so the answer is the one a real message would get now."""
        serializer = RuleTestSerializer(data=request.data)
        serializer.fields["account"].queryset = accessible_accounts(request.user)
        serializer.is_valid(raise_exception=True)
        account = serializer.validated_data["account"]
        kind, args = serializer.message_args()
        try:
            xml = build_message(kind, args, user=serializer.validated_data["user"], sp=f"gh_{account.name}")
        except SimulatorError as err:
            raise serializers.ValidationError({"type": [str(err)]}) from err
        message = parse_message(xml)
        return Response(RuleTestResultSerializer(rule_services.try_message(account, message)).data)


class MessageCursorPagination(CursorPagination):
    """Newest logged first, by id: a page never shifts when messages arrive meanwhile."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        values = filters.clean_filters(request.query_params, {"limit": filters.whole_number(1, self.max_page_size)})
        return values.get("limit", self.page_size)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound as err:
            raise serializers.ValidationError({"cursor": ["Invalid cursor: use the next or previous link "
                                                          "of a page."]}) from err


MESSAGE_FILTERS = [
    OpenApiParameter("account", str, description="An account's name (one you can access)."),
    OpenApiParameter("user", str, description="The sender's openid."),
    OpenApiParameter("type", str, description="The message type (text, event, image...)."),
    OpenApiParameter("event", str, description="The event (subscribe, CLICK...), any case."),
    OpenApiParameter("rule", str, description="The rule that answered: its id, or its name."),
    OpenApiParameter("status", str, enum=list(MessageLog.Status.values)),
    OpenApiParameter("answered", bool, description="true: answered by a rule other than the fallback; false: "
                                                   "the dashboard's unanswered questions (no rule, or only the "
                                                   "fallback)."),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Received at or after (ISO 8601)."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Received before (ISO 8601)."),
    OpenApiParameter("q", str, description="Text in the message."),
    OpenApiParameter("search", str, description="The same as q (older name)."),
    OpenApiParameter("limit", int, description="Messages per page (1 to 500, default 50)."),
]


LOG_EXAMPLE = {
    "id": 123, "account": "shop", "msg_id": "23137471912341", "user": "oUser1", "msg_type": "text", "event": "",
    "event_key": "", "text": "game", "message": {"type": "text", "text": "game"}, "encrypted": True, "rule": 7,
    "rule_name": "game", "reply": {"type": "text", "content": "Pick a number from 1 to 9"}, "status": "replied",
    "error": "", "latency_ms": 3.2, "retry_count": 0, "created_at": "2026-05-01T08:00:00+08:00",
}


def rule_filter(raw: str):
    """A rule by id (digits) or by name."""
    raw = filters.text(raw)
    return ("rule_id", int(raw)) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else ("rule_name", raw)


@extend_schema_view(
    list=extend_schema(parameters=MESSAGE_FILTERS, responses={200: MessageLogSerializer(many=True),
                                                              400: BAD_REQUEST},
                       examples=[OpenApiExample("A page", response_only=True, value={
                           "next": "https://example.com/wechat/api/messages/?cursor=cD0xMjM%3D", "previous": None,
                           "results": [LOG_EXAMPLE]})]),
    retrieve=extend_schema(responses={200: MessageLogSerializer, 404: NOT_FOUND}),
)
class MessageLogViewSet(AppViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The message log (read-only), newest first, in cursor-paginated pages (`next`, `previous`).

    `conversation/` is one user's thread, as the admin's conversation view shows it; `stats/` the
    dashboard's figures."""

    serializer_class = MessageLogSerializer
    pagination_class = MessageCursorPagination

    def get_queryset(self):
        return MessageLog.objects.filter(account__in=accessible_accounts(self.request.user)).select_related("account")

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user), "type": filters.text, "user": filters.text,
            "event": filters.text, "rule": rule_filter, "status": filters.choice(MessageLog.Status.values),
            "answered": filters.boolean, "since": filters.moment, "until": filters.moment, "q": filters.text,
            "search": filters.text,
        })
        filters.check_order(given)
        for param, lookup in (("account", "account"), ("type", "msg_type"), ("user", "user"),
                              ("event", "event__iexact"), ("status", "status"), ("since", "created_at__gte"),
                              ("until", "created_at__lt"), ("q", "text__icontains"),
                              ("search", "text__icontains")):
            if param in given:
                qs = qs.filter(**{lookup: given[param]})
        if "rule" in given:
            qs = qs.filter(**dict([given["rule"]]))
        if "answered" in given:
            qs = qs.from_users().filter(stats.ANSWERED if given["answered"] else stats.UNANSWERED)
        return qs

    def _account_param(self, request):
        given = filters.clean_filters(request.query_params, {"account": filters.account(request.user)})
        if "account" not in given:
            raise serializers.ValidationError({"account": ["Name the account."]})
        return given["account"]

    @extend_schema(parameters=[
        OpenApiParameter("account", str, required=True, description="The account's name."),
        OpenApiParameter("user", str, required=True, description="The user's openid."),
        OpenApiParameter("page", int, description="1 (default): the newest messages; higher: older."),
    ], responses={200: ConversationSerializer, 400: BAD_REQUEST}, examples=[
        OpenApiExample("A thread", response_only=True, value={
            "account": "shop", "user": "oUser1", "page": 1, "pages": 1, "count": 1, "older": None, "newer": None,
            "items": [{"kind": "received", "at": "2026-05-01T08:00:00+08:00", "received": LOG_EXAMPLE, "sent": None},
                      {"kind": "sent", "at": "2026-05-01T08:01:00+08:00", "received": None, "sent": {
                          "id": 4, "kind": "text", "payload": {"content": "Hello!"}, "status": "sent",
                          "errcode": None, "errmsg": "", "created_at": "2026-05-01T08:01:00+08:00",
                          "sent_at": "2026-05-01T08:01:01+08:00"}}]})])
    @action(detail=False, methods=["get"], pagination_class=None)
    def conversation(self, request):
        """One user's thread with an account, oldest first: the messages received (log rows) and
        the messages the account sent them, as the admin's conversation view shows it; 100 received
        messages a page, page 1 the newest."""
        account = self._account_param(request)
        given = filters.clean_filters(request.query_params, {"user": filters.text,
                                                             "page": filters.whole_number(1, 10**6)})
        if "user" not in given:
            raise serializers.ValidationError({"user": ["Name the user (openid)."]})
        paginator = conversations.paginator(account, given["user"])
        number = given.get("page", 1)
        if number > paginator.num_pages:
            raise serializers.ValidationError({"page": [f"The thread has {paginator.num_pages} page(s)."]})
        page = paginator.page(number)
        _turns, items = conversations.thread(account, given["user"], page)
        data = {
            "account": account.name, "user": given["user"], "page": number, "pages": paginator.num_pages,
            "count": paginator.count, "older": number + 1 if page.has_next() else None,
            "newer": number - 1 if page.has_previous() else None,
            "items": [{"kind": "received" if kind == "log" else "sent", "at": obj.created_at,
                       "received" if kind == "log" else "sent": obj} for kind, obj in items],
        }
        return Response(ConversationSerializer(data).data)

    @extend_schema(parameters=[
        OpenApiParameter("account", str, required=True, description="The account's name."),
        OpenApiParameter("days", int, description="The window: the last N days, today included (1 to 366, "
                                                  "default 30 as on the dashboard)."),
    ], responses={200: StatsSerializer, 400: BAD_REQUEST}, examples=[
        OpenApiExample("Two days", response_only=True, value={
            "account": "shop", "days": 2,
            "per_day": {"days": ["2026-04-30", "2026-05-01"], "series": {"text": [12, 30], "event": [2, 5]}},
            "top_rules": [{"rule_id": 7, "rule_name": "game", "n": 20, "last": "2026-05-01T08:00:00+08:00"}],
            "unanswered": [{"text": "price?", "n": 4, "fallback": 3, "users": 2,
                            "last": "2026-05-01T07:00:00+08:00"}],
            "totals": {"messages": 49, "users": 11, "by_status": {"replied": 41, "unmatched": 1, "no_reply": 7},
                       "answered": 45, "fallback": 3, "system_events": 2},
            "latency": {"n": 49, "p50": 2.1, "p95": 6.4}, "answer_rate": 92})])
    @action(detail=False, methods=["get"], pagination_class=None)
    def stats(self, request):
        """The account's dashboard figures: messages per day and type, top rules, unanswered
        questions, totals and latency; computed by the same code as the admin's dashboard."""
        account = self._account_param(request)
        days = filters.clean_filters(request.query_params, {"days": filters.whole_number(1, 366)}).get("days", 30)
        figures = stats.overview(account, days)
        latency = figures["latency"]
        figures["latency"] = {"n": latency["n"], "p50": latency.get(50), "p95": latency.get(95)}
        return Response(StatsSerializer({"account": account.name, **figures}).data)
