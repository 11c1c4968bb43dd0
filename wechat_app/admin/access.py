"""Per-account access in the admin: every screen shows only the accounts a user is granted.

Who sees what is decided in ``services.access`` (shared with the REST API).
"""
from __future__ import annotations

from django.http import Http404

from ..models import Account
from ..services.access import accessible_account_ids, accessible_accounts, can, has_account
from .filters import ValidatedChangeListMixin


def allowed_accounts(user):
    """The accounts ``user`` may see in the admin (a queryset); see ``services.access``."""
    return accessible_accounts(user)


def allowed_account_ids(user) -> set[int]:
    """The ids of the accounts ``user`` may see; cached on the user object for the request."""
    return accessible_account_ids(user)


def can_access_account(user, account_or_id) -> bool:
    return has_account(user, account_or_id)


def can_in_some_account(user, action: str, model) -> bool:
    """``services.access.can`` for at least one account ``user`` may access: whether a list's
    buttons and actions (sync, reply, start...) are offered at all; each object is checked again."""
    return can(user, action, model) and bool(user.is_superuser or allowed_account_ids(user))


def get_account_or_404(request, account_id):
    """The account with ``account_id`` if the user may see it; 404 otherwise, whether it exists or
    not (another account's ids cannot be probed). Check model permissions before calling this."""
    account = Account.objects.filter(pk=account_id).first()
    if account is None or not has_account(request.user, account):
        raise Http404("No such account.")
    return account


class AccountScopedAdminMixin(ValidatedChangeListMixin):
    """A ModelAdmin mixin for models with an ``account`` foreign key (``account_field``).

    Filters the changelist, object lookups and ``account`` choices to the user's accounts and
    refuses object-level access to other accounts' objects; bad changelist query strings are
    bad lookups (``filters.ValidatedChangeListMixin``).
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
