"""Custom menu admin: the tree editor with a phone preview, publishing, pulling, deleting the live
menu, "try match", rule linking, click counts, and the version history (diff, rollback).

The operations themselves live in ``services.menus`` (shared with the CLI, the REST API and the
task); this module only turns requests into calls and answers into pages and messages.
"""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from ..client import WeChatAPIError
from ..client.menus import EVENT_BUTTON_TYPES, MATCH_FIELDS, MenuSpecError, clean_pulled, validate_menu
from ..engine.spec import MatchKind
from ..models import Menu, MenuVersion, Rule
from ..services import menus as menu_services
from ..services.access import can
from .access import AccountScopedAdminMixin, allowed_accounts, get_account_or_404
from .filters import MAX_ID_DIGITS, AccountListFilter, refuse_nul
from .rules import _ago, describe_reply

CLICK_DAYS = 7
SEX_CHOICES = [("", "—"), ("1", _("male")), ("2", _("female"))]
PLATFORM_CHOICES = [("", "—"), ("1", "iOS"), ("2", "Android"), ("3", _("others"))]
MATCH_LABELS = {"tag_id": _("follower tag id"), "sex": _("sex"), "country": _("country"),
                "province": _("province"), "city": _("city"), "client_platform_type": _("phone platform"),
                "language": _("language (zh_CN, en...)")}


def _error_text(err) -> str:
    return "; ".join(err.messages) if isinstance(err, ValidationError) else str(err)


def _as_id(value) -> int | None:
    """A query or form value as a row id, or None ("abc", "²", 40 digits, a NUL byte...)."""
    value = value or ""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS else None


def _problem_dicts(problems) -> list[dict]:
    return [{"path": list(p.path), "field": p.field, "message": p.message} for p in problems]


class MenuForm(forms.ModelForm):
    """The draft's fields; the tree travels as WeChat's JSON in the hidden ``buttons`` field (the
    editor keeps it), the match rule as one field per criterion."""

    buttons = forms.JSONField(widget=forms.HiddenInput, required=False)
    tag_id = forms.CharField(label=MATCH_LABELS["tag_id"], required=False, max_length=20)
    sex = forms.ChoiceField(label=MATCH_LABELS["sex"], choices=SEX_CHOICES, required=False)
    client_platform_type = forms.ChoiceField(label=MATCH_LABELS["client_platform_type"], choices=PLATFORM_CHOICES,
                                             required=False)
    country = forms.CharField(label=MATCH_LABELS["country"], required=False, max_length=100)
    province = forms.CharField(label=MATCH_LABELS["province"], required=False, max_length=100)
    city = forms.CharField(label=MATCH_LABELS["city"], required=False, max_length=100)
    language = forms.CharField(label=MATCH_LABELS["language"], required=False, max_length=20)

    class Meta:
        model = Menu
        fields = ["account", "kind", "name", "buttons"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.menu_problems = []
        for field in MATCH_FIELDS:
            if field in self.fields and self.instance.matchrule:
                self.initial.setdefault(field, str(self.instance.matchrule.get(field, "")))
        if "buttons" in self.fields and self.instance.pk is None and not self.initial.get("buttons"):
            self.initial["buttons"] = []

    def clean_buttons(self):
        buttons = self.cleaned_data.get("buttons")
        if buttons in (None, ""):
            return []
        if not isinstance(buttons, list):
            raise ValidationError(_("The buttons must be a JSON list."))
        return buttons

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind") or self.instance.kind
        conditional = kind == "conditional"
        matchrule = {f: str(cleaned.get(f) or "").strip() for f in MATCH_FIELDS if str(cleaned.get(f) or "").strip()}
        if not conditional and matchrule:
            raise ValidationError(_("Only a conditional menu has a match rule: choose the kind “conditional” or "
                                    "clear the match fields."))
        document = {"button": cleaned.get("buttons") or []}
        if conditional:
            document["matchrule"] = matchrule
        try:
            normalized = validate_menu(document, conditional=conditional)
        except MenuSpecError as err:
            # The match rule's problems above the form; the buttons' on the (hidden) buttons field,
            # which the editor lists above the tree and marks on each button.
            rule_problems = [p for p in err.problems if p.field == "matchrule"]
            button_problems = [p for p in err.problems if p.field != "matchrule"]
            self.menu_problems = _problem_dicts(button_problems)
            for problem in rule_problems:
                self.add_error(None, problem.label())
            if button_problems:
                self.add_error("buttons", [p.label() for p in button_problems])
            self._menu_invalid = True
            return cleaned
        cleaned["buttons"] = normalized["button"]
        self.instance.matchrule = normalized.get("matchrule", {}) if conditional else {}
        return cleaned

    def _post_clean(self):
        if getattr(self, "_menu_invalid", False):  # already reported; Menu.clean would repeat it
            return
        super()._post_clean()


def _rule_summary(rule) -> dict:
    replies = rule.replies or []
    reply = _("(no reply)") if rule.no_reply else (describe_reply(replies[0]) if replies else "")
    return {"id": rule.pk, "name": rule.name, "reply": str(reply)[:80],
            "url": reverse("admin:wechat_app_rule_change", args=[rule.pk])}


def _menu_keys(buttons) -> list[str]:
    keys = []
    for button in buttons or []:
        if button.get("key"):
            keys.append(button["key"])
        keys.extend(sub["key"] for sub in button.get("sub_button") or [] if sub.get("key"))
    return keys


def linked_rules(account, keys) -> dict[str, list[dict]]:
    """The event rules answering each of these keys (what a tap on the button triggers)."""
    found: dict[str, list[dict]] = {}
    rules = Rule.objects.filter(account=account, match_kind=MatchKind.EVENT, match_key__in=list(keys),
                                parent__isnull=True).order_by("-priority", "position", "id")
    for rule in rules:
        found.setdefault(rule.match_key, []).append(_rule_summary(rule))
    return found


@admin.register(Menu)
class MenuAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    form = MenuForm
    change_form_template = "admin/wechat_app/menu/change_form.html"
    change_list_template = "admin/wechat_app/menu/change_list.html"
    list_display = ["name", "account", "kind", "buttons_display", "state_display", "updated_at"]
    list_filter = [AccountListFilter, "kind"]
    list_select_related = ["account", "live_version"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["account", ("name", "kind"), "buttons"]}),
        (_("Who sees this menu (conditional menus: at least one criterion)"), {
            "fields": [("tag_id", "sex", "client_platform_type"), ("country", "province", "city"), "language"],
            "classes": ["wx-matchrule"],
        }),
    ]

    class Media:
        css = {"all": ["wechat_app/css/console.css", "wechat_app/css/outbound.css", "wechat_app/css/menu-editor.css"]}
        js = ["wechat_app/js/menu-editor.js", "wechat_app/js/material-picker.js"]

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):  # view only: the editor shows the tree
            return [(None, {"fields": ["account", ("name", "kind"), "matchrule"]})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        # A menu stays in its account; its kind decides how it is published (create or addconditional).
        return ["account", "kind"] if obj is not None else []

    # ---- list -----------------------------------------------------------------------------------
    @admin.display(description=_("buttons"))
    def buttons_display(self, menu):
        names = []
        for button in menu.buttons or []:
            subs = len(button.get("sub_button") or [])
            names.append(f"{button.get('name', '')}" + (f" ({subs})" if subs else ""))
        return " · ".join(names) or "—"

    @admin.display(description=_("state"))
    def state_display(self, menu):
        if menu.live_version_id is None:
            return format_html('<span class="wx-status wx-status-muted">{}</span>', _("not published"))
        live = format_html('<span class="wx-status wx-status-ok">{}</span>',
                           _("live: version %(n)s") % {"n": menu.live_version.number})
        if menu.has_unpublished_changes:
            return format_html('{} <span class="wx-status wx-status-warn">{}</span>', live, _("draft changed"))
        return live

    def changelist_view(self, request, extra_context=None):
        accounts = list(allowed_accounts(request.user))
        account_id = _as_id(request.GET.get("account__id__exact"))
        if account_id is not None:
            accounts = [a for a in accounts if a.pk == account_id] or accounts
        extra_context = {
            **(extra_context or {}),
            "menu_accounts": accounts,
            "can_pull": any(self._may(request, ("add", "change"), a) for a in accounts),
            "can_delete_live": any(self._may(request, ("change",), a) for a in accounts),
        }
        return super().changelist_view(request, extra_context)

    # ---- the editor -----------------------------------------------------------------------------
    def _may(self, request, actions, account) -> bool:
        return all(can(request.user, action, Menu, account) for action in actions)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        account = obj.account if obj is not None else None
        problems = list(form.menu_problems)
        last = None
        if obj is not None:
            last = MenuVersion.objects.filter(menu=obj).order_by("-number").first()
            if not problems and last is not None and last.status == "failed" and not form.is_bound:
                path = [int(i) for i in (last.problem_path or [])]
                problems.append({"path": path, "field": "", "message": _("WeChat refused version %(n)s: %(code)s %(msg)s")
                                 % {"n": last.number, "code": last.errcode, "msg": last.errmsg}})
        readonly = not (self.has_change_permission(request, obj) if obj else self.has_add_permission(request))
        # A view-only form has no buttons field: the editor reads the stored tree.
        buttons = obj.buttons if readonly and obj is not None else form["buttons"].value()
        if isinstance(buttons, str):
            try:
                buttons = json.loads(buttons)
            except ValueError:
                buttons = []
        editor = {"problems": problems, "click_days": CLICK_DAYS, "rules": {}, "rule_choices": [], "clicks": {},
                  "link_url": None, "link_hint": str(_("Save the menu to link a rule to this button."))}
        if account is not None:
            editor["clicks"] = menu_services.button_clicks(account, days=CLICK_DAYS)
            editor["rules"] = linked_rules(account, _menu_keys(buttons if isinstance(buttons, list) else []))
            if self._may(request, ("change",), account) and (can(request.user, "add", Rule, account)
                                                             or can(request.user, "change", Rule, account)):
                editor["link_url"] = reverse("admin:wechat_app_menu_link_rule", args=[obj.pk])
                editor["rule_choices"] = [{"id": r.pk, "name": r.name} for r in
                                          Rule.objects.filter(account=account, parent__isnull=True).order_by("name")]
            else:
                editor["link_hint"] = str(_("Linking rules needs the permission to change menus and rules."))
        live = obj.live_version if obj is not None else None
        context.update({
            "live_since": _ago(live.finished_at or live.created_at) if live else "",
            "menu_editor": editor,
            "menu": obj,
            "last_version": last,
            "can_publish": obj is None or self._may(request, ("change",), account),
            "editor_readonly": readonly,
            "can_try": account is not None and can(request.user, "view", Rule, account),
            "buttons_json": json.dumps(buttons if isinstance(buttons, list) else [], ensure_ascii=False),
        })
        return super().render_change_form(request, context, add, change, form_url, obj)

    def response_add(self, request, obj, post_url_continue=None):
        if "_publish" in request.POST:
            self._publish(request, obj)
            return HttpResponseRedirect(reverse("admin:wechat_app_menu_change", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if "_publish" in request.POST:
            self._publish(request, obj)
            return HttpResponseRedirect(reverse("admin:wechat_app_menu_change", args=[obj.pk]))
        return super().response_change(request, obj)

    def _publish(self, request, menu):
        if not self._may(request, ("change",), menu.account):
            self.message_user(request, _("The draft is saved; publishing needs the permission to change menus."),
                              messages.WARNING)
            return
        try:
            version = menu_services.publish(menu, user=request.user)
        except (MenuSpecError, WeChatAPIError, ValidationError, menu_services.MenuStateError) as err:
            self.message_user(request, _("Not published: %(err)s") % {"err": _error_text(err)}, messages.ERROR)
            return
        version.refresh_from_db()
        history = reverse("admin:wechat_app_menuversion_change", args=[version.pk])
        if version.status == "published":
            self.message_user(request, format_html('{} <a href="{}">{}</a>.', _("Published to WeChat as"), history,
                                                   _("version %(n)s") % {"n": version.number}), messages.SUCCESS)
        elif version.status == "failed":
            self.message_user(request, format_html('{} <a href="{}">{}</a>: {} {}', _("WeChat refused"), history,
                                                   _("version %(n)s") % {"n": version.number}, version.errcode,
                                                   version.errmsg), messages.ERROR)
        else:
            self.message_user(request, format_html('<a href="{}">{}</a> {}', history,
                                                   _("Version %(n)s") % {"n": version.number},
                                                   _("is queued for publishing.")), messages.INFO)

    # ---- the other screens ----------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("pull/", wrap(self.pull_view), name="wechat_app_menu_pull"),
            path("delete-live/", wrap(self.delete_live_view), name="wechat_app_menu_delete_live"),
            path("trymatch/", wrap(self.trymatch_view), name="wechat_app_menu_trymatch"),
            path("<int:menu_id>/link-rule/", wrap(self.link_rule_view), name="wechat_app_menu_link_rule"),
            path("<int:menu_id>/unpublish/", wrap(self.unpublish_view), name="wechat_app_menu_unpublish"),
        ] + super().get_urls()

    def _changelist(self, account=None):
        url = reverse("admin:wechat_app_menu_changelist")
        return url + (f"?account__id__exact={account.pk}" if account is not None else "")

    def _posted_account(self, request):
        account_id = _as_id(request.POST.get("account"))
        if account_id is None:
            raise Http404("No such account.")
        return get_account_or_404(request, account_id)

    def pull_view(self, request):
        """Read the live menus from WeChat into drafts (POST, add + change permission)."""
        if request.method != "POST":
            return HttpResponseRedirect(self._changelist())
        account = self._posted_account(request)
        if not self._may(request, ("add", "change"), account):
            raise PermissionDenied
        try:
            pulled = menu_services.pull(account, user=request.user)
        except WeChatAPIError as err:
            self.message_user(request, f"{account.name}: {err}", messages.ERROR)
        else:
            self.message_user(request, _("%(account)s: %(n)s menu(s) pulled from WeChat into drafts.")
                              % {"account": account.name, "n": len(pulled)}, messages.SUCCESS)
        return HttpResponseRedirect(self._changelist(account))

    def delete_live_view(self, request):
        """Remove every live menu of an account from WeChat (the drafts stay): a confirmation page,
        then POST with ``confirm``."""
        refuse_nul(request.GET)
        source = request.POST if request.method == "POST" else request.GET
        account_id = _as_id(source.get("account"))
        if account_id is None:
            return HttpResponseRedirect(self._changelist())
        account = get_account_or_404(request, account_id)
        if not self._may(request, ("change",), account):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("confirm"):
            try:
                menu_services.delete_live(account, user=request.user)
            except WeChatAPIError as err:
                self.message_user(request, f"{account.name}: {err}", messages.ERROR)
            else:
                self.message_user(request, _("%(account)s: the live menu was deleted from WeChat; the drafts are kept.")
                                  % {"account": account.name}, messages.SUCCESS)
            return HttpResponseRedirect(self._changelist(account))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "account": account,
                   "title": _("Delete the live menu of %(account)s") % {"account": account.name},
                   "live_menus": Menu.objects.filter(account=account, live_version__isnull=False)}
        return TemplateResponse(request, "admin/wechat_app/menu/delete_live.html", context)

    def unpublish_view(self, request, menu_id):
        """Remove one live conditional menu from WeChat (delconditional); the draft stays."""
        menu = get_object_or_404(self.get_queryset(request), pk=menu_id)
        if request.method != "POST" or not self._may(request, ("change",), menu.account):
            raise PermissionDenied
        try:
            menu_services.delete_conditional(menu, user=request.user)
        except (WeChatAPIError, ValidationError, ValueError) as err:
            self.message_user(request, _error_text(err), messages.ERROR)
        else:
            self.message_user(request, _("“%(menu)s” was removed from WeChat; the draft is kept.") % {"menu": menu.name},
                              messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:wechat_app_menu_change", args=[menu.pk]))

    def trymatch_view(self, request):
        """Which menu a follower sees (WeChat's trymatch), drawn as on the phone."""
        refuse_nul(request.GET)
        if not self.has_view_permission(request):
            raise PermissionDenied
        accounts = allowed_accounts(request.user)
        form = TryMatchForm(request.GET or None, accounts=accounts,
                            initial={"account": accounts.first() if accounts.count() == 1 else None})
        result, error, matched = None, None, None
        if form.is_bound and form.is_valid():
            account = form.cleaned_data["account"]
            try:
                result = menu_services.try_match(account, form.cleaned_data["user_id"])
            except (WeChatAPIError, ValueError) as err:
                error = str(err)
            else:
                matched = menu_services.menu_for_buttons(account, result)
        buttons = clean_pulled({"button": (result or {}).get("button") or []})["button"]
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": _("Try match"),
                   "form": form, "result": result, "error": error, "matched_menu": matched, "media": self.media,
                   "menu_editor": {"problems": [], "rules": {}, "clicks": {}, "rule_choices": [], "link_url": None},
                   "buttons_json": json.dumps(buttons, ensure_ascii=False)}
        return TemplateResponse(request, "admin/wechat_app/menu/trymatch.html", context)

    def link_rule_view(self, request, menu_id):
        """Link a button's key to a reply rule: attach an existing rule, or create an event rule
        with a text reply (POST: key, type, and ``rule`` or ``reply_text``); answers JSON."""
        menu = get_object_or_404(self.get_queryset(request), pk=menu_id)
        if request.method != "POST":
            return JsonResponse({"error": "POST the button's key."}, status=405)
        if not self._may(request, ("change",), menu.account):
            raise PermissionDenied
        form = LinkRuleForm(request.POST, account=menu.account)
        if not form.is_valid():
            return JsonResponse({"error": " ".join(e for errors in form.errors.values() for e in errors)}, status=400)
        rule = form.cleaned_data.get("rule")
        if not can(request.user, "change" if rule else "add", Rule, menu.account):
            return JsonResponse({"error": str(_("You may not change rules of this account."))}, status=403)
        try:
            linked = menu_services.link_rule(menu.account, form.cleaned_data["key"], rule,
                                             reply_text=form.cleaned_data.get("reply_text") or "",
                                             event=EVENT_BUTTON_TYPES.get(form.cleaned_data.get("type") or ""))
        except (ValidationError, ValueError) as err:
            return JsonResponse({"error": _error_text(err)}, status=400)
        return JsonResponse({"rule": _rule_summary(linked)})


class TryMatchForm(forms.Form):
    account = forms.ModelChoiceField(queryset=None, label=_("Account"))
    user_id = forms.CharField(label=_("Follower openid or WeChat id"), max_length=128)

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts

    def clean_user_id(self):
        value = self.cleaned_data["user_id"].strip()
        if not value or "\x00" in value:
            raise ValidationError(_("Give a follower's openid or WeChat id."))
        return value


class LinkRuleForm(forms.Form):
    key = forms.CharField(max_length=128)
    type = forms.ChoiceField(choices=[("", "")] + [(t, t) for t in EVENT_BUTTON_TYPES], required=False)
    rule = forms.ModelChoiceField(queryset=None, required=False)
    reply_text = forms.CharField(max_length=2048, required=False)

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule"].queryset = Rule.objects.filter(account=account, parent__isnull=True)
        self.fields["rule"].error_messages["invalid_choice"] = _("No such rule in this account.")

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("rule") and not (cleaned.get("reply_text") or "").strip() and not self.errors:
            raise ValidationError(_("Type the reply text of the new rule, or pick an existing rule."))
        return cleaned


# ---- versions: read-only history, diff, rollback ----------------------------------------------------
@admin.register(MenuVersion)
class MenuVersionAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    change_form_template = "admin/wechat_app/menu/version.html"
    list_display = ["number", "account", "kind", "menu", "source", "status_display", "published_by", "created_at"]
    list_display_links = ["number"]
    list_filter = [AccountListFilter, "kind", "source", "status"]
    list_select_related = ["account", "menu", "published_by"]
    ordering = ["-created_at", "-number"]
    # The document shows below, pretty-printed and compared with another version.
    fields = [("account", "menu"), ("number", "kind", "source"), "rolled_back_from", ("status_display", "answer"),
              "problem", "menuid", ("published_by", "created_at", "finished_at")]
    readonly_fields = ["account", "menu", "number", "kind", "source", "rolled_back_from", "status_display", "answer",
                       "problem", "menuid", "published_by", "created_at", "finished_at"]

    class Media:
        css = {"all": ["wechat_app/css/console.css", "wechat_app/css/outbound.css", "wechat_app/css/menu-editor.css"]}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # The publishing history is a record (like the message log): only superusers prune it. Never
        # False for them: deleting an account deletes its versions, and the admin refuses to delete
        # what cascades to objects it may not delete.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, version):
        css = {"published": "ok", "failed": "err"}.get(version.status, "warn")
        text = version.get_status_display()
        if version.status == "failed":
            text = f"{text} · {version.errcode}"
        return format_html('<span class="wx-status wx-status-{}">{}</span>', css, text)

    @admin.display(description=_("WeChat's answer"))
    def answer(self, version):
        if version.errcode is None:
            return "—"
        return f"{version.errcode} {version.errmsg}".strip()

    @admin.display(description=_("button concerned"))
    def problem(self, version):
        return version.problem_label() or "—"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("<int:version_id>/rollback/", wrap(self.rollback_view), name="wechat_app_menuversion_rollback")] \
            + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        refuse_nul(request.GET)
        version = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if version is not None and self.has_view_permission(request, version):
            others = MenuVersion.objects.filter(account=version.account).exclude(pk=version.pk).order_by("-number")
            compare_id = _as_id(request.GET.get("compare"))
            compare = others.filter(pk=compare_id).first() if compare_id is not None else None
            if compare is None:  # the version this one replaced: the previous one of the same menu kind
                compare = others.filter(kind=version.kind, number__lt=version.number).first()
            older, newer = sorted([compare, version], key=lambda v: v.number) if compare else (None, version)
            lines = menu_services.diff(older, newer) if older else []
            extra_context.update({
                "version": version, "compare": compare, "others": others[:50], "older": older, "newer": newer,
                "diff_html": _diff_html(lines),
                "document_json": json.dumps(version.document, ensure_ascii=False, indent=2, sort_keys=True),
                # Not the live version itself: publishing it again would change nothing.
                "can_rollback": (version.status == "published" and can(request.user, "change", Menu, version.account)
                                 and not (version.menu_id and version.menu.live_version_id == version.pk)),
            })
        return super().change_view(request, object_id, form_url, extra_context)

    def rollback_view(self, request, version_id):
        version = get_object_or_404(self.get_queryset(request), pk=version_id)
        if request.method != "POST" or not can(request.user, "change", Menu, version.account):
            raise PermissionDenied
        try:
            new = menu_services.rollback(version, user=request.user)
        except (MenuSpecError, WeChatAPIError, ValidationError, ValueError) as err:
            self.message_user(request, _("Not rolled back: %(err)s") % {"err": _error_text(err)}, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:wechat_app_menuversion_change", args=[version.pk]))
        new.refresh_from_db()
        level = {"published": messages.SUCCESS, "failed": messages.ERROR}.get(new.status, messages.INFO)
        text = _("Version %(old)s published again as version %(new)s: %(status)s.") % {
            "old": version.number, "new": new.number, "status": new.get_status_display()}
        if new.status == "failed":
            text = f"{text} {new.errcode} {new.errmsg}"
        self.message_user(request, text, level)
        return HttpResponseRedirect(reverse("admin:wechat_app_menuversion_change", args=[new.pk]) + "?"
                                    + urlencode({"compare": version.pk}))


def _diff_html(lines):
    def css(line):
        if line.startswith(("+++", "---")):
            return "meta"
        return {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")

    return format_html_join("", '<span class="{}">{}</span>', ((css(line), line.rstrip("\n") or " ") for line in lines))
