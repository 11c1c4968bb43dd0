"""REST API: accounts, rules and the message log, limited to the accounts the user may access."""
from __future__ import annotations

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from rest_framework import mixins, permissions, serializers, viewsets

from ..models import Account, MessageLog, Rule
from ..services.access import accessible_accounts
from .serializers import AccountSerializer, MessageLogSerializer, RuleSerializer


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
