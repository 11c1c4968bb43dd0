"""REST API: accounts, rules and the message log, limited to the accounts the user may access."""
from __future__ import annotations

from django.db.models import Q
from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from ..models import Account, MessageLog, Rule
from ..services import rule_files
from ..services.access import accessible_accounts
from .serializers import AccountSerializer, MessageLogSerializer, RuleImportSerializer, RuleSerializer


class AccountViewSet(viewsets.ModelViewSet):
    """Official accounts. Secrets are accepted on write and never returned."""

    serializer_class = AccountSerializer
    permission_classes = [permissions.IsAdminUser]
    lookup_field = "name"

    def get_queryset(self):
        return accessible_accounts(self.request.user).order_by("name")

    def perform_create(self, serializer):
        if not self.request.user.is_superuser:
            raise serializers.ValidationError("Only superusers create accounts.")
        serializer.save()

    @action(detail=True, methods=["get"], url_path="rules/export")
    def export_rules(self, request, name=None):
        """The account's rules as a webot-dialect file: ``?as=yaml`` (default) or ``?as=json``.

        (``format`` is DRF's content-negotiation parameter, hence ``as``.)
        """
        fmt = request.query_params.get("as", "yaml")
        if fmt not in ("yaml", "json"):
            raise serializers.ValidationError({"as": "Use yaml or json."})
        account = self.get_object()
        content_type = "application/json" if fmt == "json" else "application/yaml"
        response = HttpResponse(rule_files.export_text(account, fmt), content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{account.name}-rules.{fmt}"'
        return response

    @action(detail=True, methods=["post"], url_path="rules/import", serializer_class=RuleImportSerializer)
    def import_rules(self, request, name=None):
        """Import a rule file (all or nothing); with ``dry_run`` only report what would change.

        Body: ``{"rules": <YAML/JSON text, or the loaded list or mapping>, "replace": false,
        "dry_run": false}``. The answer lists the rule names created, updated, deleted and
        unchanged; an invalid file answers 400 naming the rule, and nothing is written.
        """
        account = self.get_object()
        serializer = RuleImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        needed = ["wechat_app.add_rule", "wechat_app.change_rule"] + (["wechat_app.delete_rule"] if data["replace"] else [])
        if not data["dry_run"] and not request.user.has_perms(needed):
            raise PermissionDenied("Importing rules needs the add and change (and, to replace, delete) rule permissions.")
        run = rule_files.preview_import if data["dry_run"] else rule_files.apply_import
        try:
            preview = run(account, data["rules"], replace=data["replace"])
        except rule_files.ImportFailed as err:
            return Response({"rules": [str(err)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"dry_run": data["dry_run"], "summary": preview.summary(), **preview.names()})


class RuleViewSet(viewsets.ModelViewSet):
    """Reply rules. Filters: ``account`` (name), ``enabled``, ``kind``, ``top_level``, ``search``."""

    serializer_class = RuleSerializer
    permission_classes = [permissions.IsAdminUser]

    def get_queryset(self):
        qs = (Rule.objects.filter(account__in=accessible_accounts(self.request.user))
              .select_related("account").prefetch_related("follow_ups"))
        params = self.request.query_params
        if params.get("account"):
            qs = qs.filter(account__name=params["account"])
        if params.get("enabled") in ("true", "false"):
            qs = qs.filter(enabled=params["enabled"] == "true")
        if params.get("kind"):
            qs = qs.filter(match_kind=params["kind"])
        if params.get("top_level") == "true":
            qs = qs.filter(parent__isnull=True)
        if params.get("search"):
            term = params["search"]
            qs = qs.filter(Q(name__icontains=term) | Q(match_value__icontains=term) | Q(replies__icontains=term))
        return qs.order_by("account__name", "-priority", "position", "id")

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        # Only the user's own accounts may be named on write.
        fields = getattr(serializer, "fields", {})
        if "account" in fields:
            fields["account"].queryset = accessible_accounts(self.request.user)
        return serializer


class MessageLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The message log (read-only). Filters: ``account``, ``type``, ``user``, ``rule``, ``status``,
    ``since``/``until`` (ISO 8601), ``search`` (text)."""

    serializer_class = MessageLogSerializer
    permission_classes = [permissions.IsAdminUser]

    def get_queryset(self):
        qs = MessageLog.objects.filter(account__in=accessible_accounts(self.request.user)).select_related("account")
        params = self.request.query_params
        for param, lookup in (("account", "account__name"), ("type", "msg_type"), ("user", "user"),
                              ("rule", "rule_name"), ("status", "status")):
            if params.get(param):
                qs = qs.filter(**{lookup: params[param]})
        for param, lookup in (("since", "created_at__gte"), ("until", "created_at__lt")):
            if params.get(param):
                moment = parse_datetime(params[param])
                if moment is None:
                    raise serializers.ValidationError({param: "Use an ISO 8601 date-time."})
                qs = qs.filter(**{lookup: moment})
        if params.get("search"):
            qs = qs.filter(text__icontains=params["search"])
        return qs.order_by("-created_at", "-id")
