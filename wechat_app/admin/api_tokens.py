"""API tokens in the admin: create one (its key shown once), see them, revoke them.

Every active staff user manages their own tokens (a token acts with its owner's permissions, so it
grants nothing more); ``manage_all_api_tokens`` (or a superuser) sees and revokes everyone's; only
a superuser creates a token for another user. The rule is ``services.access.can_manage_api_token``.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import ApiToken
from ..services import api_tokens
from ..services.access import (accessible_accounts, can_create_api_token_for, can_manage_api_token,
                               manageable_api_tokens)


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "accounts", "read_only", "expires_at"]

    def clean(self):
        data = super().clean()
        if data.get("user") is not None and "name" in data:
            try:  # the rules of services.api_tokens, shown on the fields
                api_tokens.validate(data["user"], data["name"], accounts=data.get("accounts") or (),
                                    expires_at=data.get("expires_at"))
            except ValidationError as err:
                for field, problems in err.message_dict.items():
                    self.add_error(field if field in self.fields else None, problems)
        return data


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", _("active")), ("revoked", _("revoked"))]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.active()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix_label", "owner", "account_list", "read_only", "last_used_at", "expires_at",
                    "state_label", "created_at"]
    list_filter = [StateFilter, "read_only"]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["revoke"]
    readonly_fields = ["prefix", "user", "account_list", "read_only", "created_at", "last_used_at", "expires_at",
                       "revoked_at"]
    fields = ["name", "prefix", "user", "account_list", "read_only", "created_at", "last_used_at", "expires_at",
              "revoked_at"]
    form = ApiTokenAddForm

    # ---- who sees what ----------------------------------------------------------------------------

    def has_module_permission(self, request):
        return can_manage_api_token(request.user)

    def has_view_permission(self, request, obj=None):
        return can_manage_api_token(request.user, obj)

    def has_change_permission(self, request, obj=None):
        return can_manage_api_token(request.user, obj)  # the name; revoking is the action

    def has_add_permission(self, request):
        return can_manage_api_token(request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row stays, to show who had access and until when

    def get_queryset(self, request):
        qs = manageable_api_tokens(request.user).select_related("user").prefetch_related("accounts")
        return qs

    # ---- the add form: every field; the change form: the name only ------------------------------

    def get_fields(self, request, obj=None):
        return ["user", "name", "accounts", "read_only", "expires_at"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_changeform_initial_data(self, request):
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            users = get_user_model().objects.filter(is_active=True, is_staff=True)
            kwargs["queryset"] = users if request.user.is_superuser else users.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "accounts":
            kwargs["queryset"] = accessible_accounts(request.user).order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        data = form.cleaned_data
        owner = data["user"]
        if not can_create_api_token_for(request.user, owner):
            raise PermissionDenied("Only superusers create tokens for other users.")
        token, key = api_tokens.create_token(owner, data["name"], accounts=data["accounts"],
                                             read_only=data["read_only"], expires_at=data["expires_at"])
        obj.pk, obj.prefix, obj._key = token.pk, token.prefix, key

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)
        # on add, create_token set the accounts

    def response_add(self, request, obj, post_url_continue=None):
        """The key, once: it is not stored, so this page is the only place it appears."""
        token = ApiToken.objects.get(pk=obj.pk)
        try:
            api_url = request.build_absolute_uri(reverse("wechat_app:api-root"))
        except NoReverseMatch:
            api_url = request.build_absolute_uri("/")
        context = {**self.admin_site.each_context(request), "title": _("API token created"), "token": token,
                   "key": obj._key, "accounts": ", ".join(api_tokens.account_names(token)), "api_url": api_url,
                   "opts": self.model._meta}
        response = TemplateResponse(request, "admin/wechat_app/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    # ---- columns and the action ----------------------------------------------------------------

    @admin.display(description=_("accounts"))
    def account_list(self, obj):
        names = sorted(a.name for a in obj.accounts.all())
        return ", ".join(names) if names else _("all of the owner's")

    @admin.display(description=_("prefix"), ordering="prefix")
    def prefix_label(self, obj):
        return format_html('<code style="white-space: nowrap">{}…</code>', obj.prefix)

    @admin.display(description=_("owner"), ordering="user__username")
    def owner(self, obj):
        return format_html('<span style="white-space: nowrap">{}</span>', obj.user.get_username())

    @admin.display(description=_("state"))
    def state_label(self, obj):
        return format_html('<span style="white-space: nowrap">{}</span>', obj.state())

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        done = sum(1 for token in queryset if can_manage_api_token(request.user, token) and token.revoke())
        self.message_user(request, f"Revoked {done} token(s); they are refused from their next request.",
                          messages.SUCCESS)
