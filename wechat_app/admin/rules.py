"""Rule admin: typed reply editors, follow-ups inline, hit counts, bulk actions, import/export."""
from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Cast, Coalesce
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..engine.spec import MatchKind
from ..models import MessageLog, Rule
from ..protocol.replies import ReplyError, reply_from_dict
from ..services import rule_files
from ..services.access import can_export_rules, can_import_rules
from ..services.rules import bump_rules_version
from .access import AccountScopedAdminMixin, allowed_accounts, get_account_or_404
from .filters import AccountListFilter, RuleLevelFilter
from .forms import BaseFollowUpFormSet, FollowUpForm, ImportRulesForm, RuleForm

HIT_WINDOW_DAYS = 7


def notify_rules_changed(account_ids):
    """Tell every process that these accounts' rules changed (for changes made without save(),
    such as QuerySet.update(), which the post_save receivers never see)."""
    for account_id in set(account_ids):
        bump_rules_version(account_id)


def describe_match(rule) -> str:
    kind = rule.match_kind
    if kind == MatchKind.DEFAULT:
        return "default"
    if kind == MatchKind.EVENT:
        return f"event {rule.match_value}" + (f" · {rule.match_key}" if rule.match_key else "")
    if kind == MatchKind.REGEX:
        return f"/{rule.match_value}/{rule.match_flags}"
    if kind == MatchKind.EXACT:
        return f"= {rule.match_value}"
    if kind == MatchKind.TYPE:
        return f"type {rule.match_value}"
    return f"∋ {rule.match_value}"


def describe_reply(reply) -> str:
    if isinstance(reply, str):
        return reply
    reply = reply or {}
    kind = reply.get("type", "text")
    if kind == "text":
        return reply.get("content", "")
    if kind == "news":
        titles = [a.get("title", "") for a in reply.get("articles", [])]
        return f"📰 {len(titles)} article(s): " + " · ".join(titles)
    if kind == "music":
        return f"🎵 {reply.get('title') or reply.get('music_url', '')}"
    if kind == "transfer_customer_service":
        return "👤 transfer to customer service"
    if kind == "agent":
        return "🤖 hand to the agent"
    icon = {"image": "🖼", "voice": "🎤", "video": "🎬"}.get(kind, "")
    return f"{icon} {kind} {reply.get('title') or reply.get('media_id', '')}".strip()


class FollowUpInline(admin.StackedInline):
    model = Rule
    fk_name = "parent"
    form = FollowUpForm
    formset = BaseFollowUpFormSet
    extra = 0
    show_change_link = True
    template = "admin/wechat_app/rule/follow_up_inline.html"
    verbose_name = _("follow-up rule")
    verbose_name_plural = _("follow-up rules (they answer the user's next message)")
    fieldsets = [(None, {"fields": [("name", "priority", "enabled"), ("match_kind", "match_value"),
                                    ("match_key", "match_flags"), "no_reply"]})]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


@admin.register(Rule)
class RuleAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    form = RuleForm
    inlines = [FollowUpInline]
    change_form_template = "admin/wechat_app/rule/change_form.html"
    change_list_template = "admin/wechat_app/rule/change_list.html"
    # Sized for a 1366 px screen with the sidebar and the filters open: the match shows under the
    # name (one "rule" column that links to the rule), the last match under the hit count.
    list_display = ["rule_display", "account", "reply_display", "priority", "enabled", "hits_7d"]
    list_display_links = ["rule_display"]
    list_editable = ["priority"]
    list_filter = [AccountListFilter, "match_kind", "enabled", RuleLevelFilter]
    list_select_related = ["account", "parent"]
    list_per_page = 50
    search_fields = ["name"]  # see get_search_results
    search_help_text = _("Search by name, keyword or reply text.")
    actions = ["enable_rules", "disable_rules", "export_rules"]
    save_on_top = True
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 60})}}
    fieldsets = [
        (None, {"fields": ["account", "name", ("priority", "enabled"), "description"]}),
        (_("When a message…"), {"fields": ["match_kind", "match_value", "match_key", "match_flags"],
                                "classes": ["wx-match"]}),
        (_("…the robot answers"), {"fields": ["no_reply"], "classes": ["wx-reply-anchor"]}),
        (_("Follow-up conversation"), {
            "fields": [("follow_up_timeout", "follow_up_retries")],
            "description": _("Used when this rule has follow-up rules (below): how long they wait for the "
                             "user's next message, and how often the question is repeated."),
        }),
    ]

    class Media:
        css = {"all": ["wechat_app/css/console.css"]}
        js = ["wechat_app/js/rule_form.js", "wechat_app/js/material-picker.js"]

    # ---- list -----------------------------------------------------------------------------------
    def get_queryset(self, request):
        since = timezone.now() - timedelta(days=HIT_WINDOW_DAYS)
        hits = (MessageLog.objects.filter(rule=OuterRef("pk"), created_at__gte=since)
                .order_by().values("rule").annotate(n=Count("pk")).values("n"))
        last = (MessageLog.objects.filter(rule=OuterRef("pk")).order_by("-created_at").values("created_at")[:1])
        return (super().get_queryset(request)
                .annotate(hits=Coalesce(Subquery(hits, output_field=IntegerField()), 0),
                          last_hit=Subquery(last, output_field=models.DateTimeField())))

    def get_search_results(self, request, queryset, search_term):
        """Search names, keywords and reply text (the replies are a JSON list)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        # SQLite stores non-ASCII characters of JSON \u-escaped: search that spelling too.
        escaped = json.dumps(term)[1:-1]
        reply_ids = (Rule.objects.annotate(replies_text=Cast("replies", models.TextField()))
                     .filter(Q(replies_text__icontains=term) | Q(replies_text__icontains=escaped))
                     .values("pk"))
        query = (Q(name__icontains=term) | Q(match_value__icontains=term) | Q(match_key__icontains=term)
                 | Q(pk__in=reply_ids))
        return queryset.filter(query), False

    @admin.display(description=_("rule · match"), ordering="name")
    def rule_display(self, rule):
        match = format_html("<code>{}</code>", Truncator(describe_match(rule)).chars(60))
        if rule.parent_id:
            match = format_html('<span class="wx-followup-tag">↳ {}</span> {}', rule.parent.name, match)
        return format_html('{}<div class="wx-sub">{}</div>', rule.name, match)

    @admin.display(description=_("reply"))
    def reply_display(self, rule):
        if rule.no_reply:
            return format_html('<span class="wx-muted">{}</span>', _("(no reply)"))
        replies = rule.replies or []
        if not replies:
            return "—"
        first = Truncator(describe_reply(replies[0])).chars(70)
        if len(replies) > 1:
            return format_html('{} <span class="wx-badge">{}</span>', first,
                               _("+%(n)s random") % {"n": len(replies) - 1})
        return first

    @admin.display(description=_("hits · 7 days"), ordering="hits")
    def hits_7d(self, rule):
        if not rule.last_hit:
            return format_html('<span class="wx-hits">{}</span><div class="wx-sub">{}</div>', rule.hits,
                               _("never"))
        return format_html('<span class="wx-hits">{}</span><div class="wx-sub" title="{}">{}</div>',
                           rule.hits, _("last matched %(at)s") % {"at": rule.last_hit.isoformat()},
                           _ago(rule.last_hit))

    # ---- bulk actions ---------------------------------------------------------------------------
    def _set_enabled(self, request, queryset, enabled):
        account_ids = set(queryset.values_list("account_id", flat=True))
        count = queryset.update(enabled=enabled, updated_at=timezone.now())
        notify_rules_changed(account_ids)
        self.message_user(request, ngettext("%(n)d rule %(state)s.", "%(n)d rules %(state)s.", count)
                          % {"n": count, "state": _("enabled") if enabled else _("disabled")}, messages.SUCCESS)

    @admin.action(description=_("Enable the selected rules"), permissions=["change"])
    def enable_rules(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description=_("Disable the selected rules"), permissions=["change"])
    def disable_rules(self, request, queryset):
        self._set_enabled(request, queryset, False)

    @admin.action(description=_("Export the accounts of the selected rules (YAML)"), permissions=["view"])
    def export_rules(self, request, queryset):
        account_ids = sorted(set(queryset.values_list("account_id", flat=True)))
        if len(account_ids) != 1:
            self.message_user(request, _("Select rules of one account to export."), messages.WARNING)
            return None
        return redirect(reverse("admin:wechat_app_rule_export", args=[account_ids[0]]))

    # ---- saving -------------------------------------------------------------------------------------
    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.parent_id:
            return ["account", "parent"]
        return []

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.parent_id:
            fieldsets = [(None, {"fields": ["account", "parent", "name", ("priority", "enabled"), "description"]})] \
                + list(fieldsets[1:])
        return fieldsets

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Saved all the same: WeChat documents these fields as required, webot's examples omit them.
        for number, item in enumerate(obj.replies or [], 1):
            try:
                warnings = reply_from_dict(item).warnings()
            except ReplyError:  # the form validated the replies; a stored oddity is not a warning
                continue
            for warning in warnings:
                prefix = f"reply {number}: " if len(obj.replies) > 1 else ""
                self.message_user(request, f"{obj.name}: {prefix}{warning}", messages.WARNING)

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            inline_form.instance.account_id = form.instance.account_id
        super().save_formset(request, form, formset, change)

    # ---- extra screens --------------------------------------------------------------------------
    def get_urls(self):
        from . import simulator

        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="wechat_app_rule_import"),
            path("export/<int:account_id>/", wrap(self.export_view), name="wechat_app_rule_export"),
            path("simulator/", wrap(simulator.SimulatorView.as_view(model_admin=self)),
                 name="wechat_app_rule_simulator"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        accounts = allowed_accounts(request.user)
        account_id = request.GET.get("account__id__exact", "")
        if account_id.isdigit():  # filtered to one account: export that one
            accounts = accounts.filter(pk=account_id)
        extra_context["export_accounts"] = list(accounts)
        extra_context["can_import_rules"] = can_import_rules(request.user)
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        """Upload a rule file, preview what it creates, replaces or deletes, then confirm."""
        # A preview does all the work of an import (then rolls it back): it needs the same rights.
        if not can_import_rules(request.user):
            raise PermissionDenied
        accounts = allowed_accounts(request.user)
        preview = None
        if request.method == "POST":
            form = ImportRulesForm(request.POST, request.FILES, accounts=accounts)
            if form.is_valid():
                account = form.cleaned_data["account"]
                content = form.cleaned_data["content"]
                replace = form.cleaned_data["replace"]
                if replace and not can_import_rules(request.user, account, replace=True):
                    form.add_error("replace", _("Replacing deletes rules: it needs the permission to delete rules."))
                elif request.POST.get("confirm"):
                    try:
                        result = rule_files.apply_import(account, content, replace=replace)
                    except rule_files.ImportFailed as err:
                        form.add_error(None, str(err))
                    else:
                        self.message_user(request, _("Imported into %(account)s: %(summary)s.")
                                          % {"account": account, "summary": result.summary()}, messages.SUCCESS)
                        for warning in result.warnings:
                            self.message_user(request, warning, messages.WARNING)
                        url = reverse("admin:wechat_app_rule_changelist") + f"?account__id__exact={account.pk}"
                        return redirect(url)
                else:
                    try:
                        preview = rule_files.preview_import(account, content, replace=replace)
                    except rule_files.ImportFailed as err:
                        form.add_error("file" if form.cleaned_data.get("file") else "text", str(err))
        else:
            form = ImportRulesForm(accounts=accounts, initial={"account": request.GET.get("account")})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import rules"),
            "form": form,
            "preview": preview,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/wechat_app/rule/import.html", context)

    def export_view(self, request, account_id):
        if not can_export_rules(request.user):
            raise PermissionDenied
        account = get_account_or_404(request, account_id)
        fmt = request.GET.get("format", "yaml")
        if fmt not in ("yaml", "json"):
            return HttpResponseBadRequest(_("Use format=yaml or format=json."))
        body = rule_files.export_text(account, fmt)
        content_type = "application/json" if fmt == "json" else "application/x-yaml"
        response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{account.name}-rules.{"json" if fmt == "json" else "yaml"}"'
        return response


def _ago(value):
    if timezone.now() - value < timedelta(minutes=1):
        return _("just now")
    return _("%(t)s ago") % {"t": timesince(value, depth=1)}
