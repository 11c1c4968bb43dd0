"""Forms of the outbound admin: the campaign form (one field per keyword of the chosen template,
recipients one per line), the test send and the operator's reply in a conversation."""
from __future__ import annotations

import json
import re
import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..client.messages import MAX_TEXT_BYTES
from ..models import Campaign, Template
from ..services import outbound

OPENID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_LIST_RECIPIENTS = 50_000  # bigger audiences go by tag or to all followers


def clean_openid(value: str) -> str:
    value = (value or "").strip()
    if not OPENID_RE.match(value):
        raise ValidationError(_("An openid is 1 to 128 letters, digits, '-' or '_' (got %(value)r).") % {
            "value": value[:40]})
    return value


class TemplateDataWidget(forms.Widget):
    """One text input per keyword of the selected template (``<name>__<keyword>``) and a preview
    of the message. The page's script rebuilds both when another template is chosen."""

    template_name = "admin/wechat_app/campaign/_data_widget.html"

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.template = None  # the selected Template, set by the form
        self.templates = []  # every template offered: keywords and content for the script

    def value_from_datadict(self, data, files, name):
        prefix = f"{name}__"
        values = {key[len(prefix):]: data.get(key) for key in data if key.startswith(prefix)}
        if not values and data.get(name):  # the stored JSON form (a client posting the raw field)
            try:
                parsed = json.loads(data[name])
            except (TypeError, ValueError):
                return data[name]
            return parsed
        return values or None

    def format_value(self, value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return {}
        if not isinstance(value, dict):
            return {}
        return {str(k): (v.get("value", "") if isinstance(v, dict) else v) for k, v in value.items()}

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        values = context["widget"]["value"]
        keywords = list(self.template.keywords) if self.template is not None else []
        context["widget"].update({
            "keywords": [{"name": k, "input_name": f"{name}__{k}", "id": f"id_{name}__{k}",
                          "value": values.get(k, "")} for k in keywords],
            "preview": outbound.render_template_message(self.template, values) if self.template else "",
            "templates": {str(t.pk): {"keywords": t.keywords, "content": t.content} for t in self.templates},
        })
        return context


class TemplateDataField(forms.Field):
    """The keyword values: ``{keyword: text}``; every keyword of the template needs a value."""

    widget = TemplateDataWidget
    default_error_messages = {"invalid": _("Keyword values must be an object of texts.")}

    def to_python(self, value):
        if value in (None, "", {}):
            return {}
        if not isinstance(value, dict):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return value

    def validate(self, value):
        if not value and self.required:
            raise ValidationError(_("Choose a template, then fill in its keywords."), code="required")


def _formfield(db_field, **kwargs):
    if isinstance(db_field, models.URLField):  # links are https unless typed otherwise
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class CampaignForm(forms.ModelForm):
    """A draft campaign. The account is the template's; the data is checked against the template's
    keywords (errors next to the fields, nothing saved)."""

    data = TemplateDataField(label=_("Keywords"))
    url = forms.URLField(label=_("Link"), required=False, max_length=1024, assume_scheme="https",
                         help_text=_("Opened when the user taps the message (optional)."))
    openids = forms.CharField(
        label=_("Openids"), required=False, widget=forms.Textarea(attrs={"rows": 6, "class": "vLargeTextField"}),
        help_text=_("One openid per line (audience: explicit list)."))

    class Meta:
        model = Campaign
        formfield_callback = _formfield
        fields = ["name", "template", "data", "url", "audience", "openids", "tag_id", "miniprogram", "rate_limit"]
        help_texts = {"tag_id": _("The WeChat tag whose followers receive it (audience: followers with a tag)."),
                      "template": _("Only templates present on WeChat are offered; sync them from the "
                                    "templates page.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound and isinstance(self.initial.get("openids"), list):
            self.initial["openids"] = "\n".join(self.initial["openids"])
        field = self.fields.get("template")
        if field is not None:
            templates = list(field.queryset)
            many = len({t.account_id for t in templates}) > 1
            field.label_from_instance = (lambda t: f"{t.account.name} · {t.title}") if many else (lambda t: t.title)
            widget = self.fields["data"].widget
            widget.templates = templates
            widget.template = self._selected_template(templates)
            self._tag_field(templates, many)

    def _tag_field(self, templates, many):
        """The audience tag is chosen among the synced tags of the offered templates' accounts."""
        from ..models import Tag

        tags = Tag.objects.filter(account_id__in={t.account_id for t in templates}).select_related("account")
        choices = [("", "---------")] + [
            (str(t.tag_id) if not many else f"{t.account_id}:{t.tag_id}",
             f"{t.account.name} · {t.name} ({t.count})" if many else f"{t.name} ({t.count})") for t in tags]
        current = self.initial.get("tag_id")
        if current not in (None, "") and not any(c[0].split(":")[-1] == str(current) for c in choices[1:]):
            choices.append((str(current), _("tag id %(id)s (not synced)") % {"id": current}))
        self.fields["tag_id"] = forms.ChoiceField(
            label=_("Tag"), required=False, choices=choices,
            help_text=_("Followers with this tag receive it (audience: followers with a tag). Sync the tags "
                        "on the tags page."))
        self._many_tag_accounts = many

    def clean_tag_id(self):
        value = self.cleaned_data.get("tag_id")
        if value in (None, ""):
            return None
        account_id, _sep, tag_id = value.rpartition(":")
        if account_id:
            self._tag_account_id = int(account_id)
        return int(tag_id)

    def _selected_template(self, templates) -> Template | None:
        key = self.data.get(self.add_prefix("template")) if self.is_bound else self.initial.get("template")
        by_pk = {str(t.pk): t for t in templates}
        return by_pk.get(str(getattr(key, "pk", key))) if key not in (None, "") else None

    def clean_openids(self):
        lines = [line.strip() for line in (self.cleaned_data.get("openids") or "").splitlines()]
        openids = list(dict.fromkeys(line for line in lines if line))
        bad = [line for line in openids if not OPENID_RE.match(line)]
        if bad:
            raise ValidationError(_("Not an openid (letters, digits, '-' or '_'): %(lines)s") % {
                "lines": ", ".join(repr(b[:40]) for b in bad[:5]) + (" …" if len(bad) > 5 else "")})
        if len(openids) > MAX_LIST_RECIPIENTS:
            raise ValidationError(_("At most %(n)d openids in a list; send to a tag or all followers instead.")
                                  % {"n": MAX_LIST_RECIPIENTS})
        return openids

    def clean(self):
        cleaned = super().clean()
        template, data = cleaned.get("template"), cleaned.get("data")
        if template is not None:
            self.instance.account = template.account
            if "data" in cleaned:
                values = {k: v.get("value") if isinstance(v, dict) else v for k, v in (data or {}).items()}
                blank = [k for k in template.keywords if k in values and str(values[k] or "").strip() == ""]
                try:
                    outbound.template_payload(template, data)
                except ValidationError as err:
                    self.add_error("data", err)
                else:
                    if blank:
                        self.add_error("data", _("Fill in every keyword: %(names)s.") % {"names": ", ".join(blank)})
        miniprogram = cleaned.get("miniprogram")
        if miniprogram and (not isinstance(miniprogram, dict) or not miniprogram.get("appid")):
            self.add_error("miniprogram", _('A mini program is {"appid": "...", "pagepath": "..."}.'))
        audience = cleaned.get("audience")
        if audience == Campaign.Audience.LIST:
            if not cleaned.get("openids") and "openids" not in self.errors:
                self.add_error("openids", _("A list campaign needs at least one openid."))
            cleaned["tag_id"] = None
        elif audience == Campaign.Audience.TAG:
            if cleaned.get("tag_id") is None and "tag_id" not in self.errors:
                self.add_error("tag_id", _("A tag campaign needs a tag id."))
            tag_account = getattr(self, "_tag_account_id", None)
            if template is not None and tag_account is not None and tag_account != template.account_id:
                self.add_error("tag_id", _("The tag belongs to another account than the template."))
            cleaned["openids"] = []
        elif audience == Campaign.Audience.ALL:
            cleaned["openids"], cleaned["tag_id"] = [], None
        return cleaned


class TestSendForm(forms.Form):
    openid = forms.CharField(label=_("Send a test to openid"), max_length=128)

    def clean_openid(self):
        return clean_openid(self.cleaned_data["openid"])


class ReplyForm(forms.Form):
    """The operator's answer in a conversation: a customer-service text message. ``key`` makes a
    double submit queue one message."""

    text = forms.CharField(label=_("Reply"), widget=forms.Textarea(attrs={"rows": 3}), strip=True)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    kf_account = forms.ChoiceField(label=_("Send as"), required=False, choices=[("", _("the account"))],
                                   help_text=_("A customer-service (kf) account of the official account."))

    def __init__(self, *args, account=None, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        if account is not None:
            from ..models import KfAccount

            self.fields["kf_account"].choices += [
                (kf.kf_account, str(kf)) for kf in KfAccount.objects.filter(account=account, active=True)]

    def clean_text(self):
        text = self.cleaned_data["text"]  # NUL characters: refused by CharField's own validator
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise ValidationError(_("At most %(n)d bytes (UTF-8); this is %(m)d.") % {
                "n": MAX_TEXT_BYTES, "m": len(text.encode("utf-8"))})
        return text

    def clean_key(self):
        key = self.cleaned_data["key"]
        if not re.fullmatch(r"[0-9a-f]{32}", key):
            raise ValidationError(_("Reload the page and try again."))
        return key


class WeComAppMessageForm(forms.Form):
    """An app message of a WeCom app (admin): text and markdown take the text; the other types
    their fields as JSON ({"media_id": "..."}, {"title": ..., "description": ..., "url": ...},
    {"articles": [...]}). Recipients are ids separated by "|", commas or spaces; ``@all`` for
    everyone the app can see. ``key`` makes a double submit queue one message."""

    account = forms.ModelChoiceField(label=_("WeCom app"), queryset=None)
    msgtype = forms.ChoiceField(label=_("type"), choices=[])
    text = forms.CharField(label=_("text"), widget=forms.Textarea(attrs={"rows": 4}), required=False,
                           help_text=_("Text and markdown messages (at most 2048 bytes)."))
    content = forms.JSONField(label=_("content (JSON)"), required=False,
                              widget=forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField"}),
                              help_text=_('Other types: {"media_id": "..."} (image, voice, video, file), '
                                          '{"title": "...", "description": "...", "url": "https://..."} '
                                          '(textcard), {"articles": [{"title": "...", "url": "..."}]} (news, mpnews).'))
    touser = forms.CharField(label=_("members (userid)"), required=False, max_length=20000,
                             help_text=_("Up to 1000 userids, or @all."))
    toparty = forms.CharField(label=_("departments (id)"), required=False, max_length=2000)
    totag = forms.CharField(label=_("tags (id)"), required=False, max_length=2000)
    safe = forms.BooleanField(label=_("confidential (safe)"), required=False,
                              help_text=_("No forwarding, watermarked (not for news or markdown)."))
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, accounts=None, **kwargs):
        from ..client.wecom import MESSAGE_TYPES

        kwargs.setdefault("initial", {}).setdefault("key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        self.fields["msgtype"].choices = [(t, t) for t in MESSAGE_TYPES]

    @staticmethod
    def _ids(value: str) -> list[str]:
        return [v for v in re.split(r"[|,\s]+", value or "") if v]

    def clean(self):
        data = super().clean()
        msgtype = data.get("msgtype")
        if msgtype in ("text", "markdown"):
            if not data.get("text"):
                self.add_error("text", _("A %(type)s message needs its text.") % {"type": msgtype})
            data["message_content"] = {"content": data.get("text", "")}
        elif msgtype:
            if not isinstance(data.get("content"), dict):
                self.add_error("content", _("The content of a %(type)s message is a JSON object.") % {"type": msgtype})
            data["message_content"] = data.get("content")
        for name in ("touser", "toparty", "totag"):
            data[name] = self._ids(data.get(name, ""))
        return data
