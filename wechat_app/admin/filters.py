"""List filters that only offer what the user may see, and refuse values that cannot be right.

A bad value in a changelist's query string (``?account__id__exact=abc``, a NUL byte anywhere,
which PostgreSQL refuses in any string) gets Django's usual answer to bad lookups, a redirect to
``?e=1``, instead of a 500.
"""
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import BadRequest
from django.utils.translation import gettext_lazy as _

from ..models import Rule
from ..services.access import accessible_accounts

MAX_ID_DIGITS = 18  # a bigint


def has_nul(query) -> bool:
    """Whether a query dict (``request.GET``) holds a NUL byte in any key or value."""
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in query.lists())


def refuse_nul(query) -> None:
    """For the admin's own screens: a NUL byte in the query string is a bad request (400)."""
    if has_nul(query):
        raise BadRequest("Null characters are not allowed in the query string.")


class ValidatedChangeListMixin:
    """A ModelAdmin mixin: a changelist query string with a NUL byte, or a number too large for a
    date, is a bad lookup (``?e=1``)."""

    def get_changelist_instance(self, request):
        if has_nul(request.GET):
            raise IncorrectLookupParameters("Null characters are not allowed.")
        try:
            return super().get_changelist_instance(request)
        except OverflowError as err:  # Django's date hierarchy with ?created_at__year=99999999999999999999
            raise IncorrectLookupParameters(str(err)) from err


class IdListFilter(admin.SimpleListFilter):
    """Filter by the id of a related object (``field``); a value that is not an id is a bad lookup."""

    field = ""

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS):
            raise IncorrectLookupParameters(f"{self.parameter_name} must be an id.")
        return queryset.filter(**{self.field: int(value)})


class AccountListFilter(IdListFilter):
    """Filter by account, listing only the user's accounts (``?account__id__exact=``)."""

    title = _("account")
    parameter_name = "account__id__exact"
    field = "account_id"

    def lookups(self, request, model_admin):
        return [(str(a.pk), a.name) for a in accessible_accounts(request.user).only("pk", "name")]


class RuleListFilter(IdListFilter):
    """Filter log entries by the rule that answered, among the user's accounts' rules."""

    title = _("rule")
    parameter_name = "rule__id__exact"
    field = "rule_id"

    def lookups(self, request, model_admin):
        rules = Rule.objects.filter(account__in=accessible_accounts(request.user))
        account = request.GET.get("account__id__exact")
        if account and account.isascii() and account.isdigit() and len(account) <= MAX_ID_DIGITS:
            rules = rules.filter(account_id=account)
        rules = rules.select_related("account").only("pk", "name", "account__name").order_by("account__name", "name")
        many = len({r.account_id for r in rules}) > 1
        return [(str(r.pk), f"{r.account.name} · {r.name}" if many else r.name) for r in rules[:200]]


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
