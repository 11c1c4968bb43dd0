"""The per-account dashboard: traffic by type, top rules, unanswered questions, latency.

Every figure is about users (``services.stats``): WeChat's system events are only counted apart.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.views import View

from ..services import stats
from .access import allowed_accounts, get_account_or_404

WINDOW_DAYS = 30
TYPE_COLOURS = {
    "text": "#07c160", "event": "#10aeff", "image": "#fa9d3b", "voice": "#6467f0", "video": "#fa5151",
    "shortvideo": "#e64340", "location": "#1485ee", "link": "#8d6bd8", "file": "#b2b2b2",
}


class DashboardView(View):
    model_admin = None

    def get(self, request, account_id):
        account = get_account_or_404(request, account_id)
        if not self.model_admin.has_view_permission(request, account):
            raise PermissionDenied
        figures = stats.overview(account, WINDOW_DAYS)  # the REST API's stats are the same call
        per_day = figures["per_day"]
        chart = {
            "labels": [d.strftime("%m-%d") for d in per_day["days"]],
            "datasets": [{"label": t, "data": counts, "backgroundColor": TYPE_COLOURS.get(t, "#999999")}
                         for t, counts in per_day["series"].items()],
        }
        top = figures["top_rules"]
        top_chart = {"labels": [r["rule_name"] for r in top], "data": [r["n"] for r in top]}
        totals, latency = figures["totals"], figures["latency"]
        context = {
            **self.model_admin.admin_site.each_context(request),
            "opts": self.model_admin.opts, "original": account, "account": account,
            "accounts": allowed_accounts(request.user),
            "title": _("Dashboard · %(name)s") % {"name": account.name},
            "days": WINDOW_DAYS, "chart": chart, "top_rules": top, "top_chart": top_chart,
            "unmatched": figures["unanswered"],
            "totals": totals, "latency": latency,
            "p50": latency.get(50), "p95": latency.get(95),
            "answer_rate": figures["answer_rate"],
            "media": self.model_admin.media,
        }
        return TemplateResponse(request, "admin/wechat_app/account/dashboard.html", context)
