"""Forms and filters of the audience screens: tags, kf accounts, mass messages, and the follower
list's tag filter and bulk actions. The forms call WeChat in ``clean`` (through the services), so
WeChat's refusals show next to the fields and nothing is saved."""
from __future__ import annotations

import contextvars

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from ..client import WeChatAPIError
from ..models import Follower, KfAccount, MassMessage, Tag
from ..services import audience
from ..services import kf as kf_service
from ..services import mass as mass_service
from ..services.access import accessible_accounts
from .filters import MAX_ID_DIGITS

TEMPLATE_VS_MASS = _("Campaigns of template messages are for transactional notices (an order shipped, an "
                     "appointment reminder): WeChat forbids marketing by template message. Mass send (群发) is "
                     "for marketing and news, within the account's quota.")


def tag_label(tag: Tag, many_accounts: bool) -> str:
    return f"{tag.account.name} · {tag.name}" if many_accounts else tag.name


def tag_choices(tags) -> list[tuple[str, str]]:
    tags = list(tags)
    many = len({t.account_id for t in tags}) > 1
    return [(str(t.pk), f"{tag_label(t, many)} ({t.count})") for t in tags]


def user_tags(user):
    return Tag.objects.filter(account__in=accessible_accounts(user)).select_related("account").order_by(
        "account__name", "name")


def _wechat_error(err) -> ValidationError:
    return err if isinstance(err, ValidationError) else ValidationError(str(err))


# --- tags and kf accounts ---------------------------------------------------------------------------
class TagForm(forms.ModelForm):
    class Meta:
        model = Tag
        fields = ["account", "name"]

    def _post_clean(self):
        super()._post_clean()  # model validation (without the WeChat id, which WeChat gives)
        if self.errors:
            return
        try:
            if self.instance.pk is None:
                self.result = audience.create_tag(self.instance.account, self.cleaned_data["name"])
            elif "name" in self.changed_data:
                old = Tag.objects.get(pk=self.instance.pk)
                self.result = audience.rename_tag(old, self.cleaned_data["name"])
        except (ValidationError, WeChatAPIError) as err:
            self._update_errors(_wechat_error(err))


class KfAccountForm(forms.ModelForm):
    class Meta:
        model = KfAccount
        fields = ["account", "kf_account", "nickname"]

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            if self.instance.pk is None:
                self.result = kf_service.add_kf_account(self.instance.account, self.cleaned_data["kf_account"],
                                                        self.cleaned_data["nickname"])
            elif "nickname" in self.changed_data:
                self.result = kf_service.update_kf_account(KfAccount.objects.get(pk=self.instance.pk),
                                                           self.cleaned_data["nickname"])
        except (ValidationError, WeChatAPIError) as err:
            self._update_errors(_wechat_error(err))


# --- followers -----------------------------------------------------------------------------------------
class FollowerForm(forms.ModelForm):
    """Only the remark is edited here; it goes to WeChat (updateremark) first."""

    class Meta:
        model = Follower
        fields = ["remark"]

    def clean_remark(self):
        try:
            return audience.clean_remark(self.cleaned_data.get("remark") or "")
        except ValidationError as err:
            raise ValidationError(err.message_dict["remark"]) from err

    def _post_clean(self):
        super()._post_clean()
        if self.errors or "remark" not in self.changed_data:
            return
        try:
            audience.set_remark(Follower.objects.get(pk=self.instance.pk), self.cleaned_data["remark"])
        except (ValidationError, WeChatAPIError) as err:
            self._update_errors(_wechat_error(err))


ACTION_USER: contextvars.ContextVar = contextvars.ContextVar("wechat_follower_action_user", default=None)


class FollowerActionForm(ActionForm):
    """The follower list's action bar: the tag the tag / untag actions use (the user's tags;
    ``FollowerAdmin.changelist_view`` sets ``ACTION_USER`` for the request)."""

    tag = forms.ChoiceField(label=_("Tag:"), required=False, choices=[("", "---------")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = ACTION_USER.get()
        if user is not None:
            self.fields["tag"].choices = [("", "---------")] + tag_choices(user_tags(user))


class TagListFilter(admin.SimpleListFilter):
    """Followers with a tag (the account's tag names; ``?tag=<Tag id>``)."""

    title = _("tag")
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        tags = user_tags(request.user)
        account = request.GET.get("account__id__exact")
        if account and account.isascii() and account.isdigit() and len(account) <= MAX_ID_DIGITS:
            tags = tags.filter(account_id=account)
        return [(value, label.rsplit(" (", 1)[0]) for value, label in tag_choices(tags)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS):
            raise IncorrectLookupParameters("tag must be an id.")
        tag = user_tags(request.user).filter(pk=int(value)).first()
        if tag is None:
            return queryset.none()
        return audience.followers_with_tag(queryset.filter(account_id=tag.account_id), tag.tag_id)


# --- mass messages -----------------------------------------------------------------------------------
class MassMessageForm(forms.ModelForm):
    """A draft mass message: the content fields of the chosen kind, the audience (all, a tag, a
    list of openids), checked as WeChat would check them."""

    text = forms.CharField(label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
                           help_text=_("kind text: at most 2048 bytes."))
    media_id = forms.CharField(label=_("Media id"), required=False, max_length=128,
                               help_text=_("kind voice, mpvideo, mpnews: a permanent material's media id; "
                                           "image: one media id per line (up to 8)."),
                               # the library picker (material-picker.js) offers the chosen kind's materials
                               widget=forms.Textarea(attrs={"rows": 2, "data-kind-from": "id_kind"}))
    card_id = forms.CharField(label=_("Card id"), required=False, max_length=64, help_text=_("kind wxcard."))
    openids = forms.CharField(label=_("Openids"), required=False,
                              widget=forms.Textarea(attrs={"rows": 5, "class": "vLargeTextField"}),
                              help_text=_("Audience 'a list of openids': one per line, 2 to 10,000."))

    class Meta:
        model = MassMessage
        fields = ["account", "name", "audience", "tag", "openids", "kind", "send_ignore_reprint"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        content = self.instance.content or {}
        if not self.is_bound:
            if isinstance(self.initial.get("openids"), list):
                self.initial["openids"] = "\n".join(self.initial["openids"])
            self.initial.setdefault("text", content.get("content", ""))
            self.initial.setdefault("media_id", "\n".join(content.get("media_ids") or [])
                                    or content.get("media_id", ""))
            self.initial.setdefault("card_id", content.get("card_id", ""))
        field = self.fields.get("tag")
        if field is not None:
            tags = list(field.queryset.select_related("account"))
            many = len({t.account_id for t in tags}) > 1
            field.label_from_instance = lambda t: f"{tag_label(t, many)} ({t.count})"
            field.help_text = _("Audience 'followers with a tag'. Sync the tags on the tags page first.")

    def clean_openids(self):
        lines = [line.strip() for line in (self.cleaned_data.get("openids") or "").splitlines()]
        return [line for line in lines if line]

    def _content(self, kind):
        data = self.cleaned_data
        media = [line.strip() for line in (data.get("media_id") or "").splitlines() if line.strip()]
        if kind == "text":
            return {"content": data.get("text") or ""}
        if kind == "image":
            return {"media_ids": media}
        if kind == "wxcard":
            return {"card_id": (data.get("card_id") or "").strip()}
        return {"media_id": media[0] if media else ""}

    def clean(self):
        cleaned = super().clean()
        kind, audience_ = cleaned.get("kind"), cleaned.get("audience")
        if kind:
            self.instance.content = self._content(kind)
        if audience_ != MassMessage.Audience.TAG:
            cleaned["tag"] = None
        if audience_ != MassMessage.Audience.LIST:
            cleaned["openids"] = []
        return cleaned

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            if self.instance.audience == MassMessage.Audience.LIST:
                self.instance.openids = mass_service.clean_openids(self.instance.openids)
            mass_service.validate(self.instance)
        except ValidationError as err:
            fields = {"content": {"text": "text", "image": "media_id", "wxcard": "card_id"}.get(
                self.instance.kind, "media_id")}
            messages = err.message_dict if hasattr(err, "error_dict") else {NON_FIELD_ERRORS: err.messages}
            self._update_errors(ValidationError({fields.get(k, k): v for k, v in messages.items()}))


class PreviewForm(forms.Form):
    openid = forms.CharField(label=_("Preview to openid"), max_length=128)

    def clean_openid(self):
        return mass_service.clean_openid(self.cleaned_data["openid"])
