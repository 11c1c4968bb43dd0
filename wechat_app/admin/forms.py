"""Admin forms for rules: typed reply editors stored in ``Rule.replies``.

Each reply is a small form whose ``type`` decides which fields count (the page's script shows only
those). Validation goes through ``engine.spec.validate_replies`` / ``validate_match`` so that a rule
is judged the same way in the admin, the rule files and the API; errors land next to the field.
"""
from __future__ import annotations

import json
import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from ..conf import app_settings
from ..engine.spec import MatchKind, RuleSpecError, validate_match, validate_replies
from ..models import Rule
from ..protocol.replies import MAX_ARTICLES, MAX_TEXT_BYTES

REPLY_TYPE_CHOICES = [
    ("text", _("Text")),
    ("news", _("News (articles)")),
    ("image", _("Image")),
    ("voice", _("Voice")),
    ("video", _("Video")),
    ("music", _("Music")),
    ("transfer_customer_service", _("Transfer to customer service")),
    ("agent", _("Hand to the agent (agent gateway)")),
]

# Which form fields each reply type uses, in display order.
REPLY_FIELDS = {
    "text": ("content",),
    "image": ("media_id",),
    "voice": ("media_id",),
    "video": ("media_id", "title", "description"),
    "music": ("title", "description", "music_url", "hq_music_url", "thumb_media_id"),
    "news": ("articles",),
    "transfer_customer_service": ("kf_account",),
    "agent": (),
}
ALL_REPLY_FIELDS = ("content", "media_id", "title", "description", "music_url", "hq_music_url",
                    "thumb_media_id", "kf_account", "articles")
# Reply types that mean something without any field filled in.
FIELDLESS_TYPES = ("transfer_customer_service", "agent")
ARTICLE_FIELDS = ("title", "description", "url", "pic_url")


def _types_using(name):
    return " ".join(t for t, names in REPLY_FIELDS.items() if name in names)


def _error_field(message: str, reply_type: str) -> str | None:
    """Which reply field a ``ReplyError`` message is about (None: the reply as a whole)."""
    quoted = re.search(r"'([a-z_]+)'", message)
    if quoted and quoted.group(1) in ALL_REPLY_FIELDS:
        return quoted.group(1)
    if "article" in message:
        return "articles"
    if reply_type == "text" and ("text" in message or "content" in message):
        return "content"
    return None


class ArticlesField(forms.CharField):
    """News articles as a JSON list, edited by the article editor on the page."""

    widget = forms.Textarea

    def to_python(self, value):
        value = super().to_python(value)
        if not value or not value.strip():
            return []
        try:
            data = json.loads(value)
        except ValueError:
            raise ValidationError(_("The articles could not be read (expected a JSON list)."), code="invalid")
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ValidationError(_("The articles must be a list of articles."), code="invalid")
        # Keep known fields, in order; drop blank rows an editor may leave behind.
        articles = []
        for item in data:
            article = {k: str(item.get(k) or "").strip() for k in ARTICLE_FIELDS}
            if any(article.values()):
                articles.append({k: v for k, v in article.items() if v})
        return articles

    def prepare_value(self, value):
        if isinstance(value, list):
            return json.dumps(value, ensure_ascii=False)
        return value


class ReplyForm(forms.Form):
    """One typed reply. Blank forms are ignored; a form's dict is ``self.reply``."""

    reply = None

    type = forms.ChoiceField(label=_("Reply type"), choices=REPLY_TYPE_CHOICES, initial="text")
    content = forms.CharField(label=_("Text"), required=False, strip=False,
                              widget=forms.Textarea(attrs={"rows": 3, "data-max-bytes": MAX_TEXT_BYTES}),
                              help_text=_("Up to %(n)s bytes (about %(c)s Chinese characters). "
                                          "Regex captures: {1}, {2}…") % {"n": MAX_TEXT_BYTES,
                                                                           "c": MAX_TEXT_BYTES // 3})
    media_id = forms.CharField(label=_("Media id"), required=False, max_length=255,
                               help_text=_("The media_id of an uploaded permanent or temporary material."))
    title = forms.CharField(label=_("Title"), required=False, max_length=255)
    description = forms.CharField(label=_("Description"), required=False, max_length=1024,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    music_url = forms.CharField(label=_("Music URL"), required=False, max_length=1024)
    hq_music_url = forms.CharField(label=_("HQ music URL"), required=False, max_length=1024,
                                   help_text=_("Played on Wi-Fi; defaults to the music URL."))
    thumb_media_id = forms.CharField(label=_("Thumbnail media id"), required=False, max_length=255)
    kf_account = forms.CharField(label=_("Agent account"), required=False, max_length=255,
                                 help_text=_("Optional: a specific customer-service agent (kf@account)."))
    articles = ArticlesField(label=_("Articles"), required=False,
                             help_text=_("1 to %(n)s articles, shown in this order.") % {"n": MAX_ARTICLES})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ALL_REPLY_FIELDS:
            self.fields[name].widget.attrs["data-reply-types"] = _types_using(name)
            self.fields[name].widget.attrs.setdefault("class", "")
            self.fields[name].widget.attrs["class"] += f" wx-reply-{name}"
        self.fields["type"].widget.attrs["class"] = "wx-reply-type"
        self.fields["articles"].widget.attrs["class"] += " wx-articles-json"

    @classmethod
    def initial_from_reply(cls, reply) -> dict:
        """Form initial data from a stored reply (a typed dict or a bare string)."""
        if isinstance(reply, str):
            return {"type": "text", "content": reply}
        data = dict(reply or {})
        data.setdefault("type", "text")
        return data

    def is_blank(self) -> bool:
        if not self.has_changed():
            return True
        data = getattr(self, "cleaned_data", {}) or {}
        return not any(data.get(name) for name in ALL_REPLY_FIELDS)

    def clean(self):
        data = super().clean()
        reply_type = data.get("type")
        if not reply_type or self.errors:
            return data
        if not any(data.get(name) for name in ALL_REPLY_FIELDS) and reply_type not in FIELDLESS_TYPES:
            self.reply = None  # blank: ignored by the formset
            return data
        reply = {"type": reply_type}
        for name in REPLY_FIELDS[reply_type]:
            value = data.get(name)
            if value not in (None, "", []):
                reply[name] = value
        if reply_type == "news":
            reply["articles"] = data.get("articles") or []
        try:
            validate_replies([reply])
        except RuleSpecError as err:
            message = str(err)
            field = _error_field(message, reply_type)
            if field and field in self.fields:
                self.add_error(field, message)
            else:
                raise ValidationError(message, code="invalid_reply") from err
            return data
        self.reply = reply
        return data


class BaseReplyFormSet(forms.BaseFormSet):
    """The replies of a rule: one reply, or several picked at random."""

    def clean(self):
        if any(self.errors):
            return
        self.replies = []
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
                continue
            reply = getattr(form, "reply", None)
            if reply:
                self.replies.append(reply)


ReplyFormSet = forms.formset_factory(ReplyForm, formset=BaseReplyFormSet, extra=0, can_delete=True,
                                     max_num=20, validate_max=True, absolute_max=50)


# Fields the form checks together (``_clean_match``, ``_clean_replies``) with the same functions
# as ``Rule.clean``.
MATCH_FIELDS = frozenset({"match_kind", "match_value", "match_key", "match_flags"})
REPLY_FIELDS_OF_RULE = frozenset({"replies", "no_reply"})


class RuleReplyFormMixin:
    """Adds a nested reply formset (``self.reply_formset``) to a rule ModelForm.

    The formset's replies are validated together with ``no_reply`` and stored in
    ``instance.replies``; errors about the reply list as a whole attach to the ``replies`` field,
    which the template shows above the reply editors.
    """

    def _update_errors(self, errors):
        """Keep ``Rule.clean()``'s errors only for what the form has not already judged.

        When a match or the replies fail here, the instance keeps its old values for them and
        the model's second check of the same thing reports something else, wrongly ("needs a
        match value" under a bad regex, "needs at least one reply" under a too-long text) or
        twice.
        """
        if hasattr(errors, "error_dict"):
            judged = set()
            for group in (MATCH_FIELDS, REPLY_FIELDS_OF_RULE):
                if group & set(self._errors or ()):
                    judged |= group
            kept = {field: errs for field, errs in errors.error_dict.items() if field not in judged}
            if not kept:
                return
            errors = ValidationError(kept)
        super()._update_errors(errors)

    def _init_replies(self):
        replies = self.instance.replies if self.instance and self.instance.pk else []
        initial = [ReplyForm.initial_from_reply(r) for r in (replies or [])]
        self.reply_formset = ReplyFormSet(
            self.data if self.is_bound else None,
            initial=initial or [{"type": "text"}],
            prefix=f"{self.prefix}-replies" if self.prefix else "replies",
        )
        # A new rule starts with one empty text reply to fill in.
        if not initial:
            self.reply_formset.extra = 1
            self.reply_formset.initial = None
        self.empty_reply_form = ReplyForm(prefix=f"{self.reply_formset.prefix}-__reply__", auto_id="id_%s",
                                          initial={"type": "text"}, empty_permitted=True,
                                          use_required_attribute=False)

    def has_changed(self):
        return super().has_changed() or self.reply_formset.has_changed()

    def _clean_replies(self, cleaned):
        if not self.reply_formset.is_valid():
            self.add_error("replies", _("Correct the errors in the replies below."))
            return
        replies = self.reply_formset.replies
        no_reply = bool(cleaned.get("no_reply"))
        if no_reply:
            replies = []  # "no reply" wins: the hidden reply editors are ignored
        try:
            validate_replies(replies, no_reply)
        except RuleSpecError as err:
            self.add_error("replies", str(err))
            return
        cleaned["replies"] = replies
        self.instance.replies = replies

    def _clean_match(self, cleaned):
        kind = cleaned.get("match_kind")
        if not kind:
            return
        value = cleaned.get("match_value") or ""
        if kind == MatchKind.DEFAULT:
            value = cleaned["match_value"] = ""
        if kind != MatchKind.EVENT:
            cleaned["match_key"] = ""
        if kind != MatchKind.REGEX:
            cleaned["match_flags"] = ""
        try:
            validate_match(kind, value, cleaned.get("match_key") or "", cleaned.get("match_flags") or "")
        except RuleSpecError as err:
            field = err.field if err.field in self.fields else "match_value"
            self.add_error(field, str(err))


class RuleForm(RuleReplyFormMixin, forms.ModelForm):
    """A top-level rule with its typed replies."""

    replies = forms.JSONField(required=False, widget=forms.HiddenInput, label=_("Replies"))

    class Meta:
        model = Rule
        fields = ["account", "name", "description", "priority", "enabled", "match_kind", "match_value",
                  "match_key", "match_flags", "no_reply", "follow_up_timeout", "follow_up_retries"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_replies()

    def clean(self):
        cleaned = super().clean()
        self._clean_match(cleaned)
        self._clean_replies(cleaned)
        account, name = cleaned.get("account"), cleaned.get("name")
        if account and name and Rule.objects.filter(account=account, name=name).exclude(pk=self.instance.pk).exists():
            self.add_error("name", _("Another rule of this account is already named %(name)r.") % {"name": name})
        return cleaned

    def validate_unique(self):
        if "name" not in self.errors:  # the duplicate name is already reported next to the field
            super().validate_unique()


class FollowUpForm(RuleReplyFormMixin, forms.ModelForm):
    """A follow-up rule edited inline under its parent; it inherits the parent's account."""

    replies = forms.JSONField(required=False, widget=forms.HiddenInput, label=_("Replies"))

    class Meta:
        model = Rule
        fields = ["name", "priority", "enabled", "match_kind", "match_value", "match_key", "match_flags",
                  "no_reply"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_replies()
        self.fields["name"].required = False
        self.fields["name"].help_text = _("Optional; when empty it is named <parent>.<n> (as in rule files).")

    parent_rule = None  # set by the formset
    reserved_names = None  # set by the formset: names a generated one must avoid (shared, it grows)

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("name") or "").strip() and self.parent_rule is not None:
            cleaned["name"] = self.instance.name = self._generated_name()
        self._clean_match(cleaned)
        self._clean_replies(cleaned)
        return cleaned

    def _post_clean(self):
        if "name" in self.cleaned_data:
            self.instance.name = self.cleaned_data["name"]
        super()._post_clean()

    def _generated_name(self) -> str:
        """``<parent>.<n>``, the rule files' scheme (``engine.dialect``): n is the follow-up's
        position, or the next number whose name is free."""
        position = int(self.prefix.rsplit("-", 1)[-1]) + 1 if self.prefix[-1:].isdigit() else 1
        reserved = self.reserved_names if self.reserved_names is not None else set()
        parent_name = self.parent_rule.name or ""
        max_length = Rule._meta.get_field("name").max_length
        number = position
        while True:
            suffix = f".{number}"
            name = parent_name[:max_length - len(suffix)] + suffix
            if name not in reserved:
                reserved.add(name)
                return name
            number += 1


class BaseFollowUpFormSet(forms.BaseInlineFormSet):
    """Follow-ups share the parent's account; names stay unique per account."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.instance.account_id = self.instance.account_id
        form.parent_rule = self.instance
        form.reserved_names = self._reserved_names
        return form

    @cached_property
    def _reserved_names(self) -> set[str]:
        """What a generated follow-up name must not be: the account's rule names, the parent's,
        and the names typed in this formset (a later form's typed name must not be taken first)."""
        names = {self.instance.name}
        if self.instance.account_id:
            names.update(Rule.objects.filter(account_id=self.instance.account_id).values_list("name", flat=True))
        if self.is_bound:
            for i in range(self.total_form_count()):
                typed = (self.data.get(f"{self.add_prefix(i)}-name") or "").strip()
                if typed:
                    names.add(typed)
        return names

    @property
    def empty_form(self):
        form = super().empty_form
        form.instance.account_id = self.instance.account_id
        return form

    def clean(self):
        super().clean()
        parent = self.instance
        seen = {parent.name}
        existing = Rule.objects.filter(account_id=parent.account_id)
        for form in self.forms:
            if not getattr(form, "cleaned_data", None) or self._should_delete_form(form):
                continue
            name = form.cleaned_data.get("name")
            if not name:
                continue
            if name in seen or existing.filter(name=name).exclude(pk=form.instance.pk).exists():
                form.add_error("name", _("Another rule of this account is already named %(name)r.") % {"name": name})
            seen.add(name)
            form.instance.account_id = parent.account_id


class ImportRulesForm(forms.Form):
    """Upload a webot-dialect YAML/JSON rule file for an account."""

    account = forms.ModelChoiceField(queryset=None, label=_("Account"))
    file = forms.FileField(label=_("Rule file (YAML or JSON)"), required=False)
    text = forms.CharField(label=_("…or paste the rules"), required=False,
                           widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}))
    replace = forms.BooleanField(label=_("Replace the account's rules"), required=False,
                                 help_text=_("Delete the rules the file does not contain. Otherwise rules with "
                                             "the same name are updated and the others are kept."))

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if not upload:
            return None
        limit = app_settings.RULE_FILE_MAX_SIZE
        if upload.size > limit:
            raise ValidationError(_("The file is larger than %(limit)d bytes.") % {"limit": limit})
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError(_("The file is not UTF-8 text."))

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("file") and not (cleaned.get("text") or "").strip():
            if not self.errors:
                raise ValidationError(_("Choose a file or paste the rules."))
        cleaned["content"] = cleaned.get("file") or cleaned.get("text") or ""
        return cleaned
