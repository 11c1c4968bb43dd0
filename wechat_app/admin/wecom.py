"""Admin screens of WeCom contacts: the department tree (members per department), departments,
members (list, search, by department) and tags (with their members), each created, changed and
deleted on WeCom through ``services.wecom_contacts``, and a "Sync contacts from WeCom" button.

Only WeCom app accounts have contacts; the forms offer only those of the user's accounts.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..client import WeChatAPIError, WeChatTransportError
from ..models import WeComDepartment, WeComMember, WeComTag
from ..services import wecom_contacts as service
from .access import allowed_accounts
from .audience import WeChatMirrorAdmin
from .filters import MAX_ID_DIGITS, AccountListFilter
from .outbound import _error_text


def _wecom_accounts(user):
    return allowed_accounts(user).filter(channel="wecom")


def _ids(text: str, name: str) -> list:
    return [part for part in (text or "").replace(",", " ").split() if part]


class _ServiceForm(forms.ModelForm):
    """The service does the work in ``_post_clean`` (WeCom first); its refusals become field errors."""

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        if "account" in self.fields and request is not None:
            self.fields["account"].queryset = _wecom_accounts(request.user)

    def apply(self):
        raise NotImplementedError

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            self.result = self.apply()
        except ValidationError as err:
            self._update_errors(err)
        except (WeChatAPIError, WeChatTransportError) as err:
            self._update_errors(ValidationError(str(err)))


class DepartmentForm(_ServiceForm):
    class Meta:
        model = WeComDepartment
        fields = ["account", "name", "parent_id", "order"]

    def apply(self):
        data = self.cleaned_data
        if self.instance.pk is None:
            return service.create_department(self.instance.account, data["name"], data["parent_id"], data["order"])
        old = WeComDepartment.objects.get(pk=self.instance.pk)
        changes = {k: data[k] for k in ("name", "parent_id", "order") if k in self.changed_data}
        return service.update_department(old, **changes)


class MemberForm(_ServiceForm):
    department_ids = forms.CharField(label=_("departments"), max_length=1000,
                                     help_text=_("Department ids, separated by commas or spaces."))

    class Meta:
        model = WeComMember
        fields = ["account", "userid", "name", "department_ids", "position", "mobile", "email", "enable"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["department_ids"] = ", ".join(str(d) for d in self.instance.departments)

    def _data(self, fields):
        data = {k: self.cleaned_data[k] for k in fields if k in self.cleaned_data}
        if "department_ids" in data:
            data["departments"] = _ids(data.pop("department_ids"), "departments")
        return data

    def apply(self):
        if self.instance.pk is None:
            fields = ["userid", "name", "department_ids", "position", "mobile", "email"]
            return service.create_member(self.instance.account, self._data(fields))
        old = WeComMember.objects.get(pk=self.instance.pk)
        data = self._data([f for f in self.changed_data if f not in ("account", "userid")])
        if "departments" in data:
            data["departments"] = data["departments"]
        return service.update_member(old, data)

    def _update_errors(self, errors):
        if hasattr(errors, "error_dict") and "departments" in errors.error_dict:
            errors.error_dict["department_ids"] = errors.error_dict.pop("departments")
        super()._update_errors(errors)


class TagForm(_ServiceForm):
    add_userids = forms.CharField(label=_("tag members"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text=_("User ids to tag, separated by commas, spaces or lines."))
    remove_userids = forms.CharField(label=_("untag members"), required=False,
                                     widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = WeComTag
        fields = ["account", "name", "add_userids", "remove_userids"]

    def apply(self):
        data = self.cleaned_data
        if self.instance.pk is None:
            tag = service.create_tag(self.instance.account, data["name"])
        else:
            tag = WeComTag.objects.get(pk=self.instance.pk)
            if "name" in self.changed_data:
                tag = service.rename_tag(tag, data["name"])
        self.membership = []
        for key, add in (("add_userids", True), ("remove_userids", False)):
            userids = _ids(data.get(key), key)
            if userids:
                try:
                    self.membership.append(service.change_tag_members(tag, userids, add=add))
                except ValidationError as err:
                    raise ValidationError({key: err.messages}) from err
        return tag


class _ContactsAdmin(WeChatMirrorAdmin):
    sync_label = _("Sync contacts from WeCom")
    list_filter = [AccountListFilter]
    actions = ["sync", "delete_selected"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class RequestForm(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, request=request, **kw)

        return RequestForm

    def sync_accounts(self, request, accounts):
        accounts = [a for a in accounts if a.channel == "wecom"]
        if not accounts:
            self.message_user(request, _("No enabled WeCom app account to sync."), messages.WARNING)
        for account in accounts:
            try:
                result = service.sync_contacts(account)
            except (WeChatAPIError, WeChatTransportError, ValidationError) as err:
                self.message_user(request, f"{account.name}: {_error_text(err)}", messages.ERROR)
                continue
            self.message_user(request, f"{account.name}: {result['departments']} department(s), {result['members']} "
                                       f"member(s), {result['tags']} tag(s) synced.", messages.SUCCESS)

    @admin.action(description=_("Sync contacts from WeCom (accounts of the selected rows)"), permissions=["sync"])
    def sync(self, request, queryset):
        super().sync(request, queryset)


@admin.register(WeComDepartment)
class WeComDepartmentAdmin(_ContactsAdmin):
    form = DepartmentForm
    change_list_template = "admin/wechat_app/wecomdepartment/change_list.html"
    list_display = ["name", "department_id", "parent_id", "order", "members", "account"]
    search_fields = ["name"]

    def get_fields(self, request, obj=None):
        return ["account", "name", "parent_id", "order"] + (["department_id", "synced_at"] if obj else [])

    def get_readonly_fields(self, request, obj=None):
        return ["account", "department_id", "synced_at"] if obj is not None else []

    @admin.display(description=_("members"))
    def members(self, obj):
        url = (reverse("admin:wechat_app_wecommember_changelist")
               + f"?account__id__exact={obj.account_id}&department={obj.department_id}")
        return format_html('<a href="{}">{}</a>', url, _("members"))

    def delete_model(self, request, obj):
        if self._delete(request, obj, service.delete_department):
            self.message_user(request, f"{obj}: deleted on WeCom.", messages.SUCCESS)

    def get_urls(self):
        tree = path("tree/", self.admin_site.admin_view(self.tree_view), name="wechat_app_wecomdepartment_tree")
        return [tree] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra = {"tree_url": reverse("admin:wechat_app_wecomdepartment_tree")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def tree_view(self, request):
        """Every department of the user's WeCom accounts as a tree, with its member count."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        accounts = _wecom_accounts(request.user).order_by("name")
        wanted = request.GET.get("account", "")
        if wanted:
            if not (wanted.isascii() and wanted.isdigit() and len(wanted) <= MAX_ID_DIGITS):
                accounts = accounts.none()
            else:
                accounts = accounts.filter(pk=int(wanted))
        members_url = reverse("admin:wechat_app_wecommember_changelist")
        trees = []
        for account in accounts:
            rows = [{**row, "indent": row["depth"] * 1.5,
                     "members_url": f"{members_url}?account__id__exact={account.pk}&department="
                                    f"{row['department'].department_id}"}
                    for row in service.department_tree(account)]
            trees.append({"account": account, "rows": rows})
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": _("Department tree"),
                   "trees": trees}
        return TemplateResponse(request, "admin/wechat_app/wecomdepartment/tree.html", context)


class DepartmentFilter(admin.SimpleListFilter):
    """Members of one department (``?department=<WeCom department id>``)."""

    title = _("department")
    parameter_name = "department"

    def lookups(self, request, model_admin):
        departments = WeComDepartment.objects.filter(account__in=_wecom_accounts(request.user))
        account = request.GET.get("account__id__exact", "")
        if account.isascii() and account.isdigit() and len(account) <= MAX_ID_DIGITS:
            departments = departments.filter(account_id=int(account))
        return [(str(d.department_id), d.name) for d in departments.order_by("department_id")[:200]]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not (value.isascii() and value.isdigit() and len(value) <= 10):
            return queryset.none()
        return service.members_in_department(queryset, int(value))


@admin.register(WeComMember)
class WeComMemberAdmin(_ContactsAdmin):
    form = MemberForm
    change_list_template = "admin/wechat_app/outbound/sync_change_list.html"
    list_display = ["userid", "name", "department_list", "position", "mobile", "email", "status", "account"]
    list_filter = [AccountListFilter, DepartmentFilter, "status"]
    search_fields = ["userid", "name", "mobile", "email", "position", "alias"]
    list_per_page = 100

    def get_fields(self, request, obj=None):
        fields = ["account", "userid", "name", "department_ids", "position", "mobile", "email"]
        return fields + (["enable", "status", "synced_at"] if obj is not None else [])

    def get_readonly_fields(self, request, obj=None):
        return ["account", "userid", "status", "synced_at"] if obj is not None else []

    @admin.display(description=_("departments"))
    def department_list(self, obj):
        return ", ".join(str(d) for d in obj.departments)

    def delete_model(self, request, obj):
        if self._delete(request, obj, service.delete_member):
            self.message_user(request, f"{obj}: deleted on WeCom.", messages.SUCCESS)


@admin.register(WeComTag)
class WeComTagAdmin(_ContactsAdmin):
    form = TagForm
    change_list_template = "admin/wechat_app/outbound/sync_change_list.html"
    list_display = ["name", "tag_id", "member_count", "account", "synced_at"]
    search_fields = ["name"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["account", "name"]
        return ["account", "name", "tag_id", "member_list", "departments", "add_userids", "remove_userids",
                "synced_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["account", "tag_id", "member_list", "departments", "synced_at"] if obj is not None else []

    @admin.display(description=_("members"))
    def member_count(self, obj):
        return obj.memberships.count()

    @admin.display(description=_("members"))
    def member_list(self, obj):
        userids = list(obj.memberships.values_list("userid", flat=True)[:200])
        more = obj.memberships.count() - len(userids)
        return ", ".join(userids) + (f" … (+{more})" if more > 0 else "") if userids else "—"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        for result in getattr(form, "membership", []):
            if result["invalid_users"]:
                self.message_user(request, "WeCom does not know: " + ", ".join(result["invalid_users"]),
                                  messages.WARNING)

    def delete_model(self, request, obj):
        if self._delete(request, obj, service.delete_tag):
            self.message_user(request, f"{obj}: deleted on WeCom.", messages.SUCCESS)
