"""List filters that only offer what the user may see."""
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import Rule
from .access import allowed_accounts


class AccountListFilter(admin.SimpleListFilter):
    """Filter by account, listing only the user's accounts (``?account__id__exact=``)."""

    title = _("account")
    parameter_name = "account__id__exact"

    def lookups(self, request, model_admin):
        return [(str(a.pk), a.name) for a in allowed_accounts(request.user).only("pk", "name")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(account_id=self.value())
        return queryset


class RuleListFilter(admin.SimpleListFilter):
    """Filter log entries by the rule that answered, among the user's accounts' rules."""

    title = _("rule")
    parameter_name = "rule__id__exact"

    def lookups(self, request, model_admin):
        rules = Rule.objects.filter(account__in=allowed_accounts(request.user))
        account = request.GET.get("account__id__exact")
        if account and account.isdigit():
            rules = rules.filter(account_id=account)
        rules = rules.select_related("account").only("pk", "name", "account__name").order_by("account__name", "name")
        many = len({r.account_id for r in rules}) > 1
        return [(str(r.pk), f"{r.account.name} · {r.name}" if many else r.name) for r in rules[:200]]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(rule_id=self.value())
        return queryset


class RuleLevelFilter(admin.SimpleListFilter):
    """Top-level rules or follow-ups (the rules that answer a user's next message)."""

    title = _("level")
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [("top", _("Top-level rules")), ("follow_up", _("Follow-ups"))]

    def queryset(self, request, queryset):
        if self.value() == "top":
            return queryset.filter(parent__isnull=True)
        if self.value() == "follow_up":
            return queryset.filter(parent__isnull=False)
        return queryset


class SenderFilter(admin.SimpleListFilter):
    """Users' messages or WeChat's own reports (``MessageLog.objects.system_events()``)."""

    title = _("sender")
    parameter_name = "sender"

    def lookups(self, request, model_admin):
        return [("user", _("Users")), ("system", _("WeChat (system events)"))]

    def queryset(self, request, queryset):
        if self.value() == "user":
            return queryset.from_users()
        if self.value() == "system":
            return queryset.system_events()
        return queryset
