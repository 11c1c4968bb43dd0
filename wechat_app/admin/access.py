"""Per-account access in the admin: every screen shows only the accounts a user is granted.

Who sees what is decided in ``services.access`` (shared with the REST API).
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from ..models import Account
from ..services.access import accessible_accounts


def allowed_accounts(user):
    """The accounts ``user`` may see in the admin (a queryset); see ``services.access``."""
    return accessible_accounts(user)


def allowed_account_ids(user) -> set[int]:
    """The ids of the accounts ``user`` may see; cached on the user object for the request."""
    cached = getattr(user, "_wechat_account_ids", None)
    if cached is None:
        cached = set(allowed_accounts(user).values_list("pk", flat=True))
        user._wechat_account_ids = cached
    return cached


def can_access_account(user, account_or_id) -> bool:
    account_id = getattr(account_or_id, "pk", account_or_id)
    if account_id is None:
        return False
    if getattr(user, "is_superuser", False) and user.is_active:
        return True
    return int(account_id) in allowed_account_ids(user)


def get_account_or_404(request, account_id):
    """The account with ``account_id`` if the user may see it; 404 when it does not exist,
    PermissionDenied (403) when it exists but is not theirs."""
    account = get_object_or_404(Account, pk=account_id)
    if not can_access_account(request.user, account):
        raise PermissionDenied
    return account


class AccountScopedAdminMixin:
    """A ModelAdmin mixin for models with an ``account`` foreign key (``account_field``).

    Filters the changelist, object lookups and ``account`` choices to the user's accounts and
    refuses object-level access to other accounts' objects.
    """

    account_field = "account"
    account_filter_parameter = "account__id__exact"  # AccountListFilter's

    def get_list_display(self, request):
        """Without the account column when it would repeat one name on every row (the user sees
        one account, or the list is filtered to one): the room goes to the columns that matter."""
        columns = list(super().get_list_display(request))
        if self.account_field in columns and (request.GET.get(self.account_filter_parameter)
                                              or len(allowed_account_ids(request.user)) <= 1):
            columns.remove(self.account_field)
        return columns

    def get_changeform_initial_data(self, request):
        """The account preselected on an add form when the user can see only one."""
        initial = super().get_changeform_initial_data(request)
        if self.account_field not in initial:
            account_ids = allowed_account_ids(request.user)
            if len(account_ids) == 1:
                initial[self.account_field] = next(iter(account_ids))
        return initial

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.account_field}__in": allowed_accounts(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            kwargs["queryset"] = allowed_accounts(request.user)
        elif db_field.related_model is not None and hasattr(db_field.related_model, "account"):
            qs = kwargs.get("queryset") or db_field.related_model._default_manager.all()
            if not request.user.is_superuser:
                qs = qs.filter(account__in=allowed_accounts(request.user))
            kwargs["queryset"] = qs
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _object_allowed(self, request, obj):
        if obj is None:
            return True
        account_id = getattr(obj, f"{self.account_field}_id", None)
        return can_access_account(request.user, account_id)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._object_allowed(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._object_allowed(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._object_allowed(request, obj)

    def has_add_permission(self, request, *args):
        # Adding needs at least one account to add to.
        return super().has_add_permission(request, *args) and bool(allowed_account_ids(request.user))
