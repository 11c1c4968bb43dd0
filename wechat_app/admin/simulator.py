"""The "try it" page: chat with an account's rules without WeChat.

Messages are built as WeChat would send them and run through the reply engine with a separate
follow-up state namespace per admin user (``sim:<user pk>``). Nothing is sent to WeChat and nothing
is written to the message log; the transcript lives in the admin user's session.
"""
from __future__ import annotations

import itertools
import json
import time
import uuid

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views import View

from ..protocol.messages import message_from_dict
from .access import allowed_accounts, can_access_account

MAX_TURNS = 50
_ids = itertools.count(int(time.time() * 1000))

KIND_CHOICES = [
    ("text", _("Text message")),
    ("subscribe", _("Event: subscribe (follow)")),
    ("unsubscribe", _("Event: unsubscribe")),
    ("SCAN", _("Event: SCAN (QR code, key = scene)")),
    ("CLICK", _("Event: CLICK (menu, key = EventKey)")),
    ("VIEW", _("Event: VIEW (menu link, key = URL)")),
    ("location", _("Location")),
    ("image", _("Image")),
    ("voice", _("Voice (text = recognition)")),
    ("link", _("Link")),
    (_("Menu button events (key = the button's key)"), [
        ("scancode_push", "scancode_push"), ("scancode_waitmsg", "scancode_waitmsg"),
        ("pic_sysphoto", "pic_sysphoto"), ("pic_photo_or_album", "pic_photo_or_album"), ("pic_weixin", "pic_weixin"),
        ("location_select", "location_select"),
    ]),
]
# The event a menu button of each type pushes (the others push nothing the rules could answer).
MENU_BUTTON_EVENTS = {"click": "CLICK", "view": "VIEW", "scancode_push": "scancode_push",
                      "scancode_waitmsg": "scancode_waitmsg", "pic_sysphoto": "pic_sysphoto",
                      "pic_photo_or_album": "pic_photo_or_album", "pic_weixin": "pic_weixin",
                      "location_select": "location_select"}
MENU_EVENT_KINDS = ("scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
                    "location_select")


class SimulatorForm(forms.Form):
    account = forms.ModelChoiceField(queryset=None, label=_("Account"))
    user = forms.CharField(label=_("User openid"), max_length=128, initial="o_simulated_user")
    kind = forms.ChoiceField(label=_("Send"), choices=KIND_CHOICES, initial="text")
    text = forms.CharField(label=_("Message"), required=False, max_length=2048)
    key = forms.CharField(label=_("Key"), required=False, max_length=255)
    lat = forms.FloatField(label=_("Latitude"), required=False, min_value=-90, max_value=90)
    lng = forms.FloatField(label=_("Longitude"), required=False, min_value=-180, max_value=180)

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == "text" and not (cleaned.get("text") or "").strip():
            self.add_error("text", _("Type a message."))
        if (kind == "CLICK" or kind in MENU_EVENT_KINDS) and not cleaned.get("key"):
            self.add_error("key", _("A %(kind)s event needs the menu key.") % {"kind": kind})
        return cleaned


def build_raw_message(account, user: str, kind: str, text: str = "", key: str = "",
                      lat: float | None = None, lng: float | None = None) -> dict:
    """The parsed-XML dict WeChat would send for this kind of message."""
    raw = {"ToUserName": f"gh_{account.name}", "FromUserName": user, "CreateTime": str(int(time.time()))}
    if kind in ("subscribe", "unsubscribe", "SCAN", "CLICK", "VIEW"):
        raw.update(MsgType="event", Event=kind)
        if kind == "subscribe" and key:
            raw["EventKey"] = key if key.startswith("qrscene_") else f"qrscene_{key}"
        elif key or kind in ("CLICK", "VIEW"):
            raw["EventKey"] = key
        return raw
    if kind in MENU_EVENT_KINDS:  # the menu's scan, photo and location buttons, with what they carry
        raw.update(MsgType="event", Event=kind, EventKey=key)
        if kind.startswith("scancode_"):
            raw["ScanCodeInfo"] = {"ScanType": "qrcode", "ScanResult": text or "simulated scan"}
        elif kind.startswith("pic_"):
            raw["SendPicsInfo"] = {"Count": "1", "PicList": {"item": [{"PicMd5Sum": "0" * 32}]}}
        else:
            raw["SendLocationInfo"] = {"Location_X": str(lat if lat is not None else 23.134521),
                                       "Location_Y": str(lng if lng is not None else 113.358803), "Scale": "15",
                                       "Label": text or "", "Poiname": ""}
        return raw
    raw["MsgId"] = str(next(_ids))
    if kind == "text":
        raw.update(MsgType="text", Content=text)
    elif kind == "location":
        raw.update(MsgType="location", Location_X=str(lat if lat is not None else 23.134521),
                   Location_Y=str(lng if lng is not None else 113.358803), Scale="15", Label=text or "")
    elif kind == "image":
        raw.update(MsgType="image", PicUrl="https://example.invalid/simulated.jpg", MediaId=f"sim-{uuid.uuid4().hex[:12]}")
    elif kind == "voice":
        raw.update(MsgType="voice", MediaId=f"sim-{uuid.uuid4().hex[:12]}", Format="amr", Recognition=text)
    elif kind == "link":
        raw.update(MsgType="link", Title=text or "A link", Description="", Url=key or "https://example.invalid/")
    return raw


def describe_inbound(raw: dict) -> dict:
    kind = raw["MsgType"]
    if kind == "event":
        return {"kind": "event", "label": raw["Event"], "key": raw.get("EventKey", "")}
    if kind == "text":
        return {"kind": "text", "text": raw["Content"]}
    if kind == "location":
        return {"kind": "location", "label": raw.get("Label") or "", "lat": raw["Location_X"], "lng": raw["Location_Y"]}
    if kind == "voice":
        return {"kind": "voice", "text": raw.get("Recognition", "")}
    return {"kind": kind, "text": raw.get("Title", "")}


def _reply_dict(reply):
    if reply is None:
        return None
    if isinstance(reply, dict):
        return reply
    if hasattr(reply, "to_dict"):
        return reply.to_dict()
    return {"type": "text", "content": str(reply)}


def _services():
    from ..services import rules as rule_services

    return rule_services


def state_namespace(request) -> str:
    return f"sim:{request.user.pk}"


def run_turn(request, account, raw: dict) -> dict:
    """Run one simulated message through the engine; return the transcript turn."""
    message = message_from_dict(raw)
    started = time.perf_counter()
    try:
        result = _services().respond(account, message, state_namespace=state_namespace(request))
    except Exception as err:  # show the failure in the chat instead of a 500
        # ... and what the user would get: the account's error reply, if it has one.
        return {"in": describe_inbound(raw), "error": f"{type(err).__name__}: {err}", "ms": None,
                "out": _reply_dict(_services().error_reply(account, message, failed=True))}
    elapsed = (time.perf_counter() - started) * 1000
    rule = getattr(result, "rule", None)
    rule_id = getattr(rule, "id", None) or getattr(rule, "pk", None)
    rule_name = getattr(rule, "name", None) or getattr(result, "rule_name", None)
    matched = bool(getattr(result, "matched", rule is not None))
    reply = getattr(result, "reply", None)
    if reply is None and not matched:
        reply = _services().error_reply(account, message, failed=False)  # the account's "no rule" text
    return {
        "in": describe_inbound(raw),
        "out": _reply_dict(reply),
        "matched": matched,
        "rule_id": rule_id if isinstance(rule_id, int) else None,
        "rule_name": rule_name,
        "follow_up": bool(getattr(result, "follow_up_pending", False)),
        "ms": round(elapsed, 1),
    }


def reset_conversation(request, account, user: str) -> None:
    """Forget the simulated follow-up state, the simulated user's session dict and the transcript
    (live conversations are untouched)."""
    _services().reset_conversation(account, user, state_namespace(request))
    request.session.pop(_session_key(account.pk, user), None)


def session_text(request, account, user: str) -> str:
    """The simulated user's session dict (``context.session``) as indented JSON ("" when empty)."""
    session = _services().get_session(account, user, state_namespace(request)) if account and user else {}
    return json.dumps(session, indent=1, ensure_ascii=False, sort_keys=True, default=repr) if session else ""


def _session_key(account_id, user):
    return f"wechat_app:sim:{account_id}:{user}"


def live_menu_buttons(account) -> list[dict]:
    """The account's live default menu as the chat's menu bar draws it: each button with the
    event a tap sends (``kind``, ``key``), or none for buttons that push no event."""
    from ..models import Menu

    menu = (Menu.objects.filter(account=account, kind="default", live_version__isnull=False)
            .select_related("live_version").first())
    if menu is None:
        return []

    def tap(button):
        kind = MENU_BUTTON_EVENTS.get(button.get("type", ""))
        return {"name": button.get("name", ""), "kind": kind or "",
                "key": button.get("url", "") if kind == "VIEW" else button.get("key", "")}

    return [{**tap(button), "subs": [tap(sub) for sub in button.get("sub_button") or []]}
            for button in (menu.live_version.document or {}).get("button", [])]


class SimulatorView(View):
    model_admin = None
    template_name = "admin/wechat_app/rule/simulator.html"

    def _accounts(self, request):
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied
        return allowed_accounts(request.user)

    def _context(self, request, form, account, user):
        turns = request.session.get(_session_key(account.pk, user), []) if account else []
        return {
            "live_menu": live_menu_buttons(account) if account else [],
            **self.model_admin.admin_site.each_context(request),
            "opts": self.model_admin.opts, "title": _("Try it: chat with your rules"),
            "form": form, "account": account, "sim_user": user, "turns": turns,
            "user_session": session_text(request, account, user) if account else "",
            "media": self.model_admin.media,
        }

    def get(self, request):
        accounts = self._accounts(request)
        account_id = request.GET.get("account")
        account = None
        if account_id and account_id.isdigit():
            account = accounts.filter(pk=account_id).first()
            if account is None:
                raise Http404("No such account.")
        account = account or accounts.first()
        user = request.GET.get("user") or f"o_sim_{request.user.get_username()}"[:128]
        form = SimulatorForm(accounts=accounts, initial={"account": account, "user": user})
        return TemplateResponse(request, self.template_name, self._context(request, form, account, user))

    def post(self, request):
        accounts = self._accounts(request)
        wants_json = request.headers.get("Accept", "").startswith("application/json")
        account_id = request.POST.get("account", "")
        if account_id.isdigit() and not can_access_account(request.user, int(account_id)):
            raise Http404("No such account.")
        form = SimulatorForm(request.POST, accounts=accounts)
        if request.POST.get("action") == "reset":
            form.is_valid()
            account = form.cleaned_data.get("account")
            user = form.cleaned_data.get("user")
            if account and user:
                reset_conversation(request, account, user)
            if wants_json:
                return JsonResponse({"ok": True})
            return redirect(self._url(account, user))
        if not form.is_valid():
            if wants_json:
                return JsonResponse({"errors": {k: [str(e) for e in v] for k, v in form.errors.items()}}, status=400)
            account = form.cleaned_data.get("account")
            return TemplateResponse(request, self.template_name,
                                    self._context(request, form, account, form.cleaned_data.get("user", "")))
        data = form.cleaned_data
        account, user = data["account"], data["user"]
        raw = build_raw_message(account, user, data["kind"], data.get("text") or "", data.get("key") or "",
                                data.get("lat"), data.get("lng"))
        turn = run_turn(request, account, raw)
        key = _session_key(account.pk, user)
        turns = (request.session.get(key) or [])[-(MAX_TURNS - 1):]
        turns.append(turn)
        request.session[key] = turns
        if wants_json:
            html = render_to_string("admin/wechat_app/rule/_sim_turn.html", {"turn": turn, "account": account},
                                    request=request)
            return JsonResponse({"html": html, "turn": turn, "session": session_text(request, account, user)})
        return redirect(self._url(account, user))

    @staticmethod
    def _url(account, user):
        params = {}
        if account:
            params["account"] = account.pk
        if user:
            params["user"] = user
        return reverse("admin:wechat_app_rule_simulator") + ("?" + urlencode(params) if params else "")
