"""REST API permissions: Django's model permissions (view included) plus per-account access.

The admin and the API agree case by case because both ask ``services.access``: a request needs
an active staff user holding the model permission for what it does, and objects of accounts the
user is not a member of are not found (404) rather than forbidden, so their ids cannot be probed.
"""
from __future__ import annotations

from rest_framework import exceptions, permissions

from ..models import Account
from ..services.access import can, has_account, is_active_staff, is_read_only, token_account_ids

METHOD_ACTIONS = {"GET": "view", "HEAD": "view", "OPTIONS": "view", "POST": "add", "PUT": "change",
                  "PATCH": "change", "DELETE": "delete"}


class AccountModelPermissions(permissions.DjangoModelPermissions):
    """GET/HEAD/OPTIONS need ``view``, POST ``add``, PUT/PATCH ``change``, DELETE ``delete`` on the
    view's model. A custom action names what it needs instead, in its ``@action(...,
    required_permissions=[(action, Model), ...])`` (the view declares ``required_permissions =
    None`` for the others); permissions that depend on the request body are checked by the action
    itself, through ``services.access``. Every check goes through ``services.access.can``, so an API
    token's limits apply: a read-only token may only use safe methods and actions declared
    ``reads_only=True`` (the view answers 403
    ``read_only_token``, see ``base.AppAPIMixin.permission_denied``), a token limited to accounts
    cannot create accounts."""

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated or not is_active_staff(user):
            return False  # DRF answers 401 to anonymous requests, 403 to the others
        if request.method not in permissions.SAFE_METHODS and is_read_only(user) \
                and not getattr(view, "reads_only", False):
            return False  # a POST that changes nothing (``@action(..., reads_only=True)``) is a read
        required = getattr(view, "required_permissions", None)
        if required is None:
            if request.method not in METHOD_ACTIONS:
                raise exceptions.MethodNotAllowed(request.method)
            required = [(METHOD_ACTIONS[request.method], self._queryset(view).model)]
        if any(action == "add" and model is Account for action, model in required) \
                and token_account_ids(user) is not None:
            self.message = "This API token is limited to some accounts: it cannot create accounts."
            return False
        return all(can(user, action, model) for action, model in required)

    def has_object_permission(self, request, view, obj):
        # The querysets already hold only the user's accounts; this keeps that true for any
        # object a view fetches some other way.
        account = obj if isinstance(obj, Account) else getattr(obj, "account_id", None)
        if not has_account(request.user, account):
            raise exceptions.NotFound()
        return True
