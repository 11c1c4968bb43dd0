"""REST API: accounts, rules and the message log, limited to the accounts the user may access.

Permissions are the admin's (`permissions.AccountModelPermissions`); every filter parameter is
validated (`filters`) and JSON bodies are depth-limited (`parsers`), so bad input answers 400.
"""
from __future__ import annotations

from django.db.models import Q
from django.http import HttpResponse
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from ..engine.spec import MatchKind
from ..models import MessageLog, Rule
from ..models.accounts import name_validator
from ..services import rule_files
from ..services.access import accessible_accounts, can_import_rules, grant_creator
from . import filters
from .base import AppViewSetMixin  # noqa: F401  (re-exported: the API modules import it from here)
from .schema import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from .serializers import AccountSerializer, MessageLogSerializer, RuleImportSerializer, RuleSerializer

ACCOUNT_EXAMPLE = {
    "id": 1, "name": "shop", "app_id": "wx1234567890abcdef", "encrypt_mode": "safe",
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
]


@extend_schema_view(
    list=extend_schema(examples=[OpenApiExample("Accounts", value=[ACCOUNT_EXAMPLE], response_only=True)]),
    retrieve=extend_schema(examples=ACCOUNT_EXAMPLES[:1]),
    create=extend_schema(examples=ACCOUNT_EXAMPLES),
    partial_update=extend_schema(examples=[
        ACCOUNT_EXAMPLES[0], OpenApiExample("Disable an account", value={"enabled": False}, request_only=True)]),
)
class AccountViewSet(AppViewSetMixin, viewsets.ModelViewSet):
    """Official accounts. Secrets (`app_secret`, `token`, `encoding_aes_key`) are accepted on write
    and never returned: `app_secret_set` and `encoding_aes_key_set` say whether they are set.

    Creating needs `add_account` (the creator becomes a member); deleting needs `delete_account`,
    which only superusers have unless it is granted. Changing `app_id`, `app_secret` or
    `api_base_url` needs `change_account_credentials`."""

    serializer_class = AccountSerializer
    lookup_field = "name"
    # Only what an account name can be: anything else (a NUL byte...) is simply not found.
    lookup_value_regex = name_validator.regex.pattern.strip("^$")

    def get_queryset(self):
        return accessible_accounts(self.request.user).order_by("name")

    def perform_create(self, serializer):
        grant_creator(self.request.user, serializer.save())

    @extend_schema(parameters=[OpenApiParameter("as", str, enum=["yaml", "json"],
                                                description="The file's format (default yaml).")],
                   responses={(200, "application/yaml"): str, (200, "application/json"): dict})
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


class RuleViewSet(AppViewSetMixin, viewsets.ModelViewSet):
    """Reply rules. Filters: `account` (name), `enabled`, `kind`, `top_level` (true/false),
    `search`."""

    serializer_class = RuleSerializer

    def get_queryset(self):
        return (Rule.objects.filter(account__in=accessible_accounts(self.request.user))
                .select_related("account").prefetch_related("follow_ups")
                .order_by("account__name", "-priority", "position", "id"))

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.text, "enabled": filters.boolean, "kind": filters.choice(MatchKind),
            "top_level": filters.boolean, "search": filters.text,
        })
        if "account" in given:
            qs = qs.filter(account__name=given["account"])
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


class MessageLogViewSet(AppViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The message log (read-only). Filters: `account`, `type`, `user`, `rule`, `status`,
    `since`/`until` (ISO 8601), `search` (text)."""

    serializer_class = MessageLogSerializer

    def get_queryset(self):
        return (MessageLog.objects.filter(account__in=accessible_accounts(self.request.user))
                .select_related("account").order_by("-created_at", "-id"))

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.text, "type": filters.text, "user": filters.text, "rule": filters.text,
            "status": filters.choice(MessageLog.Status.values), "since": filters.moment, "until": filters.moment,
            "search": filters.text,
        })
        for param, lookup in (("account", "account__name"), ("type", "msg_type"), ("user", "user"),
                              ("rule", "rule_name"), ("status", "status"), ("since", "created_at__gte"),
                              ("until", "created_at__lt"), ("search", "text__icontains")):
            if param in given:
                qs = qs.filter(**{lookup: given[param]})
        return qs
