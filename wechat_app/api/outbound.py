"""REST API of the outbound side: messages (send, list, resend), templates (list, sync), campaigns
(create, progress, start / pause / resume / cancel, recipients) and followers (list, sync).

- ``/outbound-messages/``: ``POST custom/`` queues a customer-service message (one typed ``content``
  per ``kind``), ``POST template/`` a template message checked against the synced template's
  keywords; both answer the stored message: 202 while it waits for a worker, 201 once it has been
  sent (or has failed) within the request (no broker: it is sent in-process). ``POST {id}/resend/``
  queues a failed or cancelled one again. An ``Idempotency-Key`` header (1 to 60 visible ASCII
  characters, per account) makes a send safe to repeat: the same key and body answer the first
  answer again (``Idempotent-Replayed: true``), without sending; the same key with another body is
  refused (422).
- ``/templates/``: the synced templates; ``POST sync/`` syncs an account's (a queued job, 202), whose
  progress is polled at ``GET sync/{job_id}/``. ``/followers/`` alike.
- ``/campaigns/``: validated as the admin's form (``admin.outbound_forms.CampaignForm``); an
  operation that does not apply to the campaign's status answers 409.

Permissions are the admin's (``AccountModelPermissions``): viewing needs ``view_<model>``, sending
``add_outboundmessage``, resending ``change_outboundmessage``, syncing ``change_template`` /
``change_follower``, creating a campaign ``add_campaign`` and operating one ``change_campaign``.
Objects of accounts the user cannot see are not found (404); naming such an account is an unknown
account (400).
"""
from __future__ import annotations

import hashlib
import json
import re
import time

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Func, IntegerField, Q
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response

from ..admin.outbound_forms import OPENID_RE, CampaignForm
from ..client import WeChatAPIError, WeChatPayloadError, app_message
from ..client.wecom import MESSAGE_TYPES as WECOM_MESSAGE_TYPES
from ..client.messages import CUSTOM_KINDS, MAX_TEXT_BYTES
from ..models import Account, Campaign, Follower, OutboundMessage, SyncJob, Template
from ..services import outbound as outbound_services
from ..services import sync_jobs
from ..services.access import accessible_accounts
from . import filters
from .errors import Conflict, body_for
from .menus import wechat_refusal
from .schema import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from .serializers import AccountNameField, StrictModelSerializer, StrictSerializer
from .views import AppViewSetMixin

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
# Stored as "api:<key>" (apart from the app's own keys) and sent to WeChat as client_msg_id,
# which WeChat cuts at 64 characters: longer keys could meet there.
IDEMPOTENCY_KEY_RE = re.compile(r"[\x21-\x7e]{1,60}")
IDEMPOTENCY_PREFIX = "api:"
REPLAY_WAIT = 5.0  # seconds a repeat waits for the first request's answer to be recorded
OPEN_STATUSES = (OutboundMessage.Status.QUEUED, OutboundMessage.Status.SENDING)


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = ("This Idempotency-Key was already used with another request (another body or endpoint); "
                      "use a new key for a new message.")
    default_code = "idempotency_key_reused"


def error_example(name: str, exc: APIException) -> OpenApiExample:
    """A documented error answer, made by the API's error handler itself (``errors.body_for``)."""
    return OpenApiExample(name, response_only=True, status_codes=[str(exc.status_code)], value=body_for(exc))


def invalid_example(name: str, fields: dict) -> OpenApiExample:
    return error_example(name, ValidationError(fields))


# ---- filters ------------------------------------------------------------------------------------------

def moment_filter(raw: str):
    return filters.moment(raw)


def ordered_range(given: dict, since: str, until: str) -> None:
    if since in given and until in given and given[since] >= given[until]:
        raise ValidationError({until: [f"{until} must be later than {since}."]})


# ---- serializers: messages ------------------------------------------------------------------------------

class OutboundMessageSerializer(StrictModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)
    template_id = serializers.SerializerMethodField(help_text="The WeChat template id (template messages).")
    idempotency_key = serializers.SerializerMethodField(
        help_text="The Idempotency-Key the message was sent with through the API (null: none).")

    class Meta:
        model = OutboundMessage
        fields = ["id", "account", "kind", "to_user", "payload", "template_id", "campaign", "status", "attempts",
                  "errcode", "errmsg", "msgid", "delivery_status", "wecom_msgid", "invalid_user", "invalid_party",
                  "invalid_tag", "next_attempt_at", "idempotency_key", "created_at", "updated_at", "sent_at"]
        read_only_fields = fields

    def get_template_id(self, obj) -> str | None:
        return (obj.payload or {}).get("template_id") if obj.kind == OutboundMessage.Kind.TEMPLATE else None

    def get_idempotency_key(self, obj) -> str | None:
        key = obj.idempotency_key or ""
        return key[len(IDEMPOTENCY_PREFIX):] if key.startswith(IDEMPOTENCY_PREFIX) else None


class OpenidField(serializers.CharField):
    default_error_messages = {"openid": "An openid is 1 to 128 letters, digits, '-' or '_'."}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 128)
        kwargs.setdefault("help_text", "The recipient's openid (for this account).")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not OPENID_RE.match(value):
            self.fail("openid")
        return value


def _text(**kwargs):
    return serializers.CharField(max_length=kwargs.pop("max_length", 1024), **kwargs)


class _Content(StrictSerializer):
    """The content of one kind; unknown fields are refused (WeChat would refuse them)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise ValidationError({name: ["Unknown field for this kind of message."] for name in unknown})
        return super().to_internal_value(data)


class TextContent(_Content):
    content = serializers.CharField(max_length=MAX_TEXT_BYTES, trim_whitespace=False,
                                    help_text=f"At most {MAX_TEXT_BYTES} bytes (UTF-8).")

    def validate_content(self, value):
        size = len(value.encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            raise ValidationError(f"At most {MAX_TEXT_BYTES} bytes (UTF-8); this is {size}.")
        return value


class MediaContent(_Content):
    media_id = _text(max_length=128, help_text="A media id (temporary or permanent material).")


class VideoContent(MediaContent):
    thumb_media_id = _text(max_length=128, required=False)
    title = _text(max_length=128, required=False)
    description = _text(max_length=512, required=False)


class MusicContent(_Content):
    musicurl = serializers.URLField(max_length=1024)
    hqmusicurl = serializers.URLField(max_length=1024)
    thumb_media_id = _text(max_length=128)
    title = _text(max_length=128, required=False)
    description = _text(max_length=512, required=False)


class NewsArticle(_Content):
    title = _text(max_length=128)
    description = _text(max_length=512, required=False)
    url = serializers.URLField(max_length=1024)
    picurl = serializers.URLField(max_length=1024, required=False)


class NewsContent(_Content):
    articles = NewsArticle(many=True, help_text="Exactly one article (WeChat's rule since 2018).")

    def validate_articles(self, value):
        if len(value) != 1:
            raise ValidationError("A news message carries exactly one article.")
        return value


class MpnewsArticleContent(_Content):
    article_id = _text(max_length=128, help_text="The article_id of a published article.")


class MenuItem(_Content):
    id = _text(max_length=64)
    content = _text(max_length=128)


class MsgmenuContent(_Content):
    head_content = _text(max_length=512, required=False)
    list = MenuItem(many=True, allow_empty=False)
    tail_content = _text(max_length=512, required=False)


class WxcardContent(_Content):
    card_id = _text(max_length=128)


class MiniprogramPageContent(_Content):
    title = _text(max_length=128)
    appid = _text(max_length=64)
    pagepath = _text(max_length=512)
    thumb_media_id = _text(max_length=128)


CONTENT_SERIALIZERS = {
    "text": TextContent, "image": MediaContent, "voice": MediaContent, "video": VideoContent,
    "music": MusicContent, "news": NewsContent, "mpnews": MediaContent, "mpnewsarticle": MpnewsArticleContent,
    "msgmenu": MsgmenuContent, "wxcard": WxcardContent, "miniprogrampage": MiniprogramPageContent,
}
assert set(CONTENT_SERIALIZERS) == set(CUSTOM_KINDS), "every kind the client sends has a typed content"


class CustomMessageSerializer(StrictSerializer):
    """A customer-service message: ``content`` holds the fields of its ``kind``."""

    account = AccountNameField(queryset=Account.objects.all(), help_text="The account's name.")
    to_user = OpenidField()
    kind = serializers.ChoiceField(choices=sorted(CUSTOM_KINDS))
    content = serializers.DictField(help_text="The fields of the kind (see the examples).")

    def validate(self, attrs):
        content = CONTENT_SERIALIZERS[attrs["kind"]](data=attrs["content"])
        if not content.is_valid():
            raise ValidationError({"content": content.errors})
        attrs["content"] = json.loads(json.dumps(content.validated_data))  # plain dicts and lists
        return attrs


def _kind_serializer(kind: str):
    """For the schema: the request of one kind (``kind`` fixed, ``content`` typed)."""
    name = "".join(part.capitalize() for part in re.split(r"[^a-z]", kind)) + "CustomMessage"
    return type(name, (serializers.Serializer,), {
        "account": serializers.CharField(help_text="The account's name."),
        "to_user": serializers.CharField(help_text="The recipient's openid."),
        "kind": serializers.ChoiceField(choices=[kind]),
        "content": CONTENT_SERIALIZERS[kind](),
        "__doc__": f"A {kind} customer-service message.",
    })


CUSTOM_MESSAGE_SCHEMA = PolymorphicProxySerializer(
    component_name="CustomMessage", resource_type_field_name="kind",
    serializers={kind: _kind_serializer(kind) for kind in sorted(CUSTOM_KINDS)})


class TemplateDataValue(StrictSerializer):
    value = serializers.CharField()
    color = serializers.RegexField(r"^#[0-9A-Fa-f]{6}$", required=False, help_text="Such as #173177.")


class TemplateMessageSerializer(StrictSerializer):
    """A template message, checked against the synced template's keywords."""

    account = AccountNameField(queryset=Account.objects.all(), help_text="The account's name.")
    to_user = OpenidField()
    template_id = serializers.CharField(max_length=64, help_text="A synced, active template of the account.")
    data = serializers.DictField(help_text='One value per keyword of the template: "text" or '
                                           '{"value": "text", "color": "#173177"}.')
    url = serializers.URLField(max_length=1024, required=False, allow_blank=True,
                               help_text="Opened when the user taps the message.")
    miniprogram = serializers.DictField(child=serializers.CharField(max_length=512), required=False,
                                        help_text='{"appid": "...", "pagepath": "..."}')

    def validate_url(self, value):
        if value and not value.startswith(("http://", "https://")):
            raise ValidationError("The link must be an http(s) URL.")
        return value

    def validate(self, attrs):
        template = Template.objects.filter(account=attrs["account"], template_id=attrs["template_id"]).first()
        if template is None or not template.active:
            why = "is no longer on WeChat" if template is not None else "is not among the account's synced templates"
            raise ValidationError({"template_id": [
                f"Template {attrs['template_id']!r} {why}; sync the templates (POST /templates/sync/) first."]})
        miniprogram = attrs.get("miniprogram")
        if miniprogram is not None:
            unknown = sorted(set(miniprogram) - {"appid", "pagepath"})
            if unknown or not miniprogram.get("appid"):
                raise ValidationError({"miniprogram": ['A mini program is {"appid": "...", "pagepath": "..."} '
                                                       "(appid required)."]})
        try:
            outbound_services.template_payload(template, attrs["data"])
        except DjangoValidationError as err:
            raise ValidationError({"data": err.messages}) from err
        attrs["template"] = template
        return attrs


class WeComAppMessageSerializer(StrictSerializer):
    """An app message of a WeCom app (docs/wecom.md): `content` holds the fields of `msgtype`;
    recipients are members (userids, or `["@all"]`), departments and tags (ids)."""

    account = AccountNameField(queryset=Account.objects.all(), help_text="The WeCom app's account name.")
    msgtype = serializers.ChoiceField(choices=list(WECOM_MESSAGE_TYPES))
    content = serializers.DictField(help_text="The fields of the type (see the examples).")
    touser = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=1000,
                                   help_text='Userids (at most 1000), or ["@all"].')
    toparty = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=100,
                                    help_text="Department ids (at most 100).")
    totag = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=100,
                                  help_text="Tag ids (at most 100).")
    safe = serializers.BooleanField(default=False, help_text="Confidential: no forwarding, watermarked.")
    enable_duplicate_check = serializers.BooleanField(
        default=False, help_text="WeCom drops the same content sent again within duplicate_check_interval.")
    duplicate_check_interval = serializers.IntegerField(min_value=1, max_value=14400, required=False,
                                                        help_text="Seconds (WeCom's default: 1800).")

    def validate(self, attrs):
        account = attrs["account"]
        if account.channel != Account.Channel.WECOM:
            raise ValidationError({"account": [f"{account.name!r} is not a WeCom app."]})
        options = {"enable_duplicate_check": attrs["enable_duplicate_check"]}
        if "duplicate_check_interval" in attrs:
            options["duplicate_check_interval"] = attrs["duplicate_check_interval"]
        try:
            app_message(account.agent_id, attrs["msgtype"], attrs["content"], touser=attrs.get("touser"),
                        toparty=attrs.get("toparty"), totag=attrs.get("totag"), safe=attrs["safe"], **options)
        except WeChatPayloadError as err:
            field = "touser" if ("recipient" in err.errmsg or "@all" in err.errmsg
                                 or err.errmsg.startswith(("touser", "toparty", "totag"))) else "content"
            raise ValidationError({field: [err.errmsg]}) from err
        attrs["options"] = options
        return attrs


WECOM_EXAMPLES = {
    "text": {"content": "Meeting at 3 in room 2"},
    "markdown": {"content": "**Build** passed\n> [details](https://ci.example.com/1)"},
    "file": {"media_id": "MEDIA_ID"},
    "textcard": {"title": "Leave approved", "description": "<div class=\"gray\">3 days</div>",
                 "url": "https://example.com/leave/7", "btntxt": "Details"},
    "news": {"articles": [{"title": "Q3 results", "description": "Up 12%", "url": "https://example.com/q3",
                           "picurl": "https://example.com/q3.png"}]},
}


# ---- serializers: templates, jobs, campaigns, followers -------------------------------------------------

class TemplateSerializer(StrictModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Template
        fields = ["id", "account", "template_id", "title", "content", "example", "keywords", "primary_industry",
                  "deputy_industry", "active", "synced_at"]
        read_only_fields = fields


class SyncRequestSerializer(StrictSerializer):
    account = AccountNameField(queryset=Account.objects.all(), help_text="The account to sync.")


class SyncJobSerializer(StrictModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)
    url = serializers.SerializerMethodField(help_text="Where to poll this job.")

    class Meta:
        model = SyncJob
        fields = ["id", "account", "kind", "status", "done", "total", "result", "error", "url", "created_at",
                  "started_at", "finished_at"]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        locate = self.context.get("job_url")
        return locate(obj) if locate else ""


class CampaignSerializer(StrictModelSerializer):
    """A campaign; written as a draft, validated as the admin's campaign form."""

    account = AccountNameField(queryset=Account.objects.all(), help_text="The account's name.")
    template_id = serializers.CharField(max_length=64, write_only=True,
                                        help_text="A synced, active template of the account.")
    template = TemplateSerializer(read_only=True)
    data = serializers.DictField(help_text="One value per keyword of the template (none blank).")
    openids = serializers.ListField(child=serializers.CharField(max_length=128), required=False,
                                    help_text="The recipients (audience list).")
    openid_count = serializers.SerializerMethodField(help_text="How many openids the audience list holds.")
    progress = serializers.SerializerMethodField(help_text="Recipients per status, with the done share.")

    class Meta:
        model = Campaign
        fields = ["id", "account", "name", "template_id", "template", "data", "url", "miniprogram", "audience",
                  "openids", "openid_count", "tag_id", "rate_limit", "status", "total", "progress", "created_at", "started_at",
                  "finished_at"]
        read_only_fields = ["id", "status", "total", "created_at", "started_at", "finished_at"]

    def get_openid_count(self, obj) -> int:
        count = getattr(obj, "openid_count", None)  # counted by the database in list pages
        return count if count is not None else len(obj.openids or [])

    def get_progress(self, obj) -> dict:
        return campaign_progress(obj)

    def validate(self, attrs):
        instance = self.instance

        def current(name, default=None):
            if name in attrs:
                return attrs[name]
            return getattr(instance, name) if instance is not None else default

        if instance is not None:
            if instance.status != Campaign.Status.DRAFT:
                raise Conflict(f"The campaign is {instance.status}: only a draft can be changed.")
            if "account" in attrs and attrs["account"] != instance.account:
                raise ValidationError({"account": ["A campaign cannot move to another account."]})
        account = current("account")
        template_id = attrs.get("template_id") or (instance.template.template_id if instance is not None else "")
        template = Template.objects.filter(account=account, template_id=template_id, active=True).first()
        if template is None:
            raise ValidationError({"template_id": [f"Template {template_id!r} is not an active synced "
                                                   "template of this account; sync the templates first."]})
        openids = current("openids", [])
        bad = [o for o in openids if not OPENID_RE.match(o)]
        if bad:
            raise ValidationError({"openids": [f"Not an openid (letters, digits, '-' or '_'): "
                                               f"{', '.join(repr(b[:40]) for b in bad[:5])}"]})
        tag_id, miniprogram, rate_limit = current("tag_id"), current("miniprogram"), current("rate_limit")
        form_data = {
            "name": current("name", ""), "template": template.pk, "data": json.dumps(current("data") or {}),
            "url": current("url", ""), "audience": current("audience", Campaign.Audience.LIST),
            "openids": "\n".join(openids), "tag_id": "" if tag_id is None else tag_id,
            "miniprogram": "" if miniprogram is None else json.dumps(miniprogram),
            "rate_limit": "" if rate_limit is None else rate_limit,
        }
        form = CampaignForm(data=form_data, instance=instance)
        form.fields["template"].queryset = Template.objects.filter(pk=template.pk)
        if not form.is_valid():
            errors = {("template_id" if name == "template" else name): [str(m) for m in messages]
                      for name, messages in form.errors.items()}
            raise ValidationError(errors)
        self._form = form
        return attrs

    def create(self, validated_data):
        return self._form.save()

    def update(self, instance, validated_data):
        return self._form.save()



class JSONArrayLength(Func):
    """The length of a JSON array column, counted by the database (the list is not loaded)."""
    output_field = IntegerField()

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="json_array_length", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="jsonb_array_length", **extra)

    def as_mysql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="JSON_LENGTH", **extra)


class CampaignListSerializer(CampaignSerializer):
    """A campaign in a list page: its openid_count without the openids themselves (up to 50,000 a
    campaign), which the campaign itself gives (GET /campaigns/{id}/)."""

    class Meta(CampaignSerializer.Meta):
        fields = [name for name in CampaignSerializer.Meta.fields if name != "openids"]



class FollowerSerializer(StrictModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)
    nickname = serializers.SerializerMethodField(help_text="As WeChat gave it, if it did.")

    class Meta:
        model = Follower
        fields = ["id", "account", "openid", "subscribed", "subscribe_time", "unsubscribed_at", "unionid",
                  "language", "remark", "nickname", "tags", "subscribe_scene", "synced_at", "updated_at"]
        read_only_fields = fields

    def get_nickname(self, obj) -> str:
        return str((obj.raw or {}).get("nickname") or "")


class CampaignProgressSerializer(StrictSerializer):
    queued = serializers.IntegerField()
    sending = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    percent = serializers.IntegerField()
    delivery = serializers.DictField(child=serializers.IntegerField(),
                                     help_text="WeChat's delivery reports: success, failed:user block, ...")


def campaign_progress(campaign: Campaign) -> dict:
    counts = campaign.counts()
    total = sum(counts.values())
    done = counts["sent"] + counts["failed"] + counts["cancelled"]
    return {**counts, "total": total, "done": done, "percent": round(100 * done / total) if total else 0,
            "delivery": campaign.delivery_counts()}


# ---- examples ---------------------------------------------------------------------------------------------

MESSAGE_EXAMPLE = {
    "id": 42, "account": "shop", "kind": "text", "to_user": "oUser123", "payload": {"content": "Your parcel left."},
    "template_id": None, "campaign": None, "status": "queued", "attempts": 0, "errcode": None, "errmsg": "",
    "msgid": None, "delivery_status": "", "wecom_msgid": "", "invalid_user": "", "invalid_party": "", "invalid_tag": "",
    "next_attempt_at": None, "idempotency_key": "order-1001-shipped",
    "created_at": "2026-05-01T08:00:00+08:00", "updated_at": "2026-05-01T08:00:00+08:00", "sent_at": None,
}
TEMPLATE_MESSAGE_EXAMPLE = {
    **MESSAGE_EXAMPLE, "id": 43, "kind": "template", "template_id": "tpl-order-shipped",
    "payload": {"template_id": "tpl-order-shipped", "data": {"first": {"value": "Shipped"},
                                                             "remark": {"value": "Thanks!"}}},
    "status": "sent", "attempts": 1, "errcode": 0, "msgid": 20000001, "sent_at": "2026-05-01T08:00:01+08:00",
}
CUSTOM_EXAMPLES = {
    "text": {"content": "Your parcel left."},
    "image": {"media_id": "MEDIA_ID"},
    "voice": {"media_id": "MEDIA_ID"},
    "video": {"media_id": "MEDIA_ID", "thumb_media_id": "THUMB_ID", "title": "Unboxing", "description": "2 min"},
    "music": {"musicurl": "https://example.com/a.mp3", "hqmusicurl": "https://example.com/a-hq.mp3",
              "thumb_media_id": "THUMB_ID", "title": "Song"},
    "news": {"articles": [{"title": "Spring sale", "description": "Up to 50% off",
                           "url": "https://example.com/sale", "picurl": "https://example.com/sale.jpg"}]},
    "mpnews": {"media_id": "MEDIA_ID"},
    "mpnewsarticle": {"article_id": "ARTICLE_ID"},
    "msgmenu": {"head_content": "Were you satisfied?", "list": [{"id": "101", "content": "Yes"},
                                                                 {"id": "102", "content": "No"}],
                "tail_content": "Thank you"},
    "wxcard": {"card_id": "CARD_ID"},
    "miniprogrampage": {"title": "Order 1001", "appid": "wxminiapp", "pagepath": "pages/order?id=1001",
                        "thumb_media_id": "THUMB_ID"},
}
VALIDATION_EXAMPLE = invalid_example("Invalid", {"content": {"media_id": ["This field is required."]}})
TEMPLATE_EXAMPLE = {
    "id": 7, "account": "shop", "template_id": "tpl-order-shipped", "title": "Order shipped",
    "content": "{{first.DATA}}\nOrder: {{keyword1.DATA}}\n{{remark.DATA}}", "example": "",
    "keywords": ["first", "keyword1", "remark"], "primary_industry": "IT", "deputy_industry": "Internet",
    "active": True, "synced_at": "2026-05-01T08:00:00+08:00",
}
JOB_EXAMPLE = {
    "id": 3, "account": "shop", "kind": "templates", "status": "queued", "done": 0, "total": None, "result": {},
    "error": "", "url": "https://example.com/wechat/api/templates/sync/3/", "created_at": "2026-05-01T08:00:00+08:00",
    "started_at": None, "finished_at": None,
}
CAMPAIGN_REQUEST = {
    "account": "shop", "name": "May newsletter", "template_id": "tpl-order-shipped",
    "data": {"first": "Hello", "keyword1": "May offers", "remark": "See you"}, "url": "https://example.com/may",
    "audience": "list", "openids": ["oUser123", "oUser456"], "rate_limit": 20,
}
PROGRESS_EXAMPLE = {"queued": 0, "sending": 0, "sent": 2, "failed": 0, "cancelled": 0, "total": 2, "done": 2,
                    "percent": 100, "delivery": {"success": 2}}
CAMPAIGN_EXAMPLE = {
    **{k: v for k, v in CAMPAIGN_REQUEST.items() if k != "template_id"}, "id": 5, "template": TEMPLATE_EXAMPLE,
    "openid_count": 2, "miniprogram": None, "tag_id": None, "status": "draft", "total": 0,
    "progress": {**PROGRESS_EXAMPLE, "sent": 0, "total": 0, "done": 0, "percent": 0, "delivery": {}},
    "created_at": "2026-05-01T08:00:00+08:00", "started_at": None, "finished_at": None,
}
FOLLOWER_EXAMPLE = {
    "id": 11, "account": "shop", "openid": "oUser123", "subscribed": True,
    "subscribe_time": "2026-04-01T10:00:00+08:00", "unsubscribed_at": None, "unionid": "", "language": "zh_CN",
    "remark": "VIP", "nickname": "", "tags": [2], "subscribe_scene": "ADD_SCENE_QR_CODE",
    "synced_at": "2026-05-01T08:00:00+08:00", "updated_at": "2026-05-01T08:00:00+08:00",
}


def _page(example):
    return {"count": 1, "next": None, "previous": None, "results": [example]}


def _q(name, kind=str, description="", **kwargs):
    return OpenApiParameter(name, kind, location=OpenApiParameter.QUERY, description=description, **kwargs)


ACCOUNT_Q = _q("account", description="An account's name (400 if it is not one of yours).")
LIST_FILTERS = {
    "outboundmessage": [ACCOUNT_Q, _q("to_user", description="The recipient's openid."),
                        _q("kind", enum=OutboundMessage.Kind.values), _q("status", enum=OutboundMessage.Status.values),
                        _q("campaign", int, "A campaign's id."), _q("template_id", description="A WeChat template id."),
                        _q("since", description="ISO 8601: queued at or after."),
                        _q("until", description="ISO 8601: queued before.")],
    "template": [ACCOUNT_Q, _q("active", bool, "Present on WeChat at the last sync."),
                 _q("search", description="In the title, id and content.")],
    "campaign": [ACCOUNT_Q, _q("status", enum=Campaign.Status.values)],
    "follower": [ACCOUNT_Q, _q("subscribed", bool), _q("tag", int, "A WeChat tag id."),
                 _q("subscribed_since", description="ISO 8601."), _q("subscribed_until", description="ISO 8601."),
                 _q("search", description="In the openid, remark, unionid and nickname.")],
}


def read_examples(example, filters_of: str, listed=None) -> dict:
    """``extend_schema_view`` arguments: a page for ``list`` (of ``listed`` rows, if they differ
    from the object), the object for ``retrieve``."""
    return {"list": extend_schema(parameters=LIST_FILTERS[filters_of], examples=[
                OpenApiExample("A page", value=_page(listed or example), response_only=True)]),
            "retrieve": extend_schema(examples=[OpenApiExample("One", value=example, response_only=True)])}


def campaign_write_examples() -> dict:
    changed = {**CAMPAIGN_EXAMPLE, "name": "June newsletter"}
    change = extend_schema(examples=[
        OpenApiExample("Rename a draft", value={"name": "June newsletter"}, request_only=True),
        OpenApiExample("Changed", value=changed, response_only=True, status_codes=["200"]),
        error_example("Not a draft", Conflict("The campaign is running: only a draft can be changed."))],
        responses={200: CampaignSerializer, 400: OpenApiResponse(description="Invalid (field errors)."),
                   409: OpenApiResponse(description="Not a draft.")})
    replace = extend_schema(examples=[
        OpenApiExample("Replace a draft", value={**CAMPAIGN_REQUEST, "name": "June newsletter"}, request_only=True),
        OpenApiExample("Changed", value=changed, response_only=True, status_codes=["200"])],
        responses={200: CampaignSerializer, 400: OpenApiResponse(description="Invalid (field errors)."),
                   409: OpenApiResponse(description="Not a draft.")})
    destroy = extend_schema(responses={204: None, 409: OpenApiResponse(description="Running or paused.")},
                            examples=[error_example("Running", Conflict(
                                "The campaign is running: cancel it before deleting it."))])
    return {"partial_update": change, "update": replace, "destroy": destroy}


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER, str, location=OpenApiParameter.HEADER, required=False,
    description="1 to 60 visible ASCII characters, unique per account: a repeat with the same body gets the first "
                "answer again (header Idempotent-Replayed: true) and sends nothing; with another body, 422.")
SEND_RESPONSES = {
    201: OpenApiResponse(OutboundMessageSerializer, description="Sent (or failed) within the request."),
    202: OpenApiResponse(OutboundMessageSerializer, description="Queued: a worker sends it."),
    400: OpenApiResponse(description="Invalid: the errors name the field."),
    422: OpenApiResponse(description="The Idempotency-Key was used for another request."),
}


# ---- idempotency --------------------------------------------------------------------------------------------

def idempotency_key(request) -> str | None:
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    if not IDEMPOTENCY_KEY_RE.fullmatch(raw):
        raise ValidationError({IDEMPOTENCY_HEADER: ["Use 1 to 60 visible ASCII characters (no spaces)."]})
    return raw


def request_fingerprint(endpoint: str, data) -> str:
    body = data.dict() if hasattr(data, "dict") else data
    text = json.dumps({"endpoint": endpoint, "body": body}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def message_answer(message: OutboundMessage) -> dict:
    """The answer to a send: 202 while the message waits, 201 once it was sent or failed."""
    code = status.HTTP_202_ACCEPTED if message.status in OPEN_STATUSES else status.HTTP_201_CREATED
    body = json.loads(json.dumps(OutboundMessageSerializer(message).data, cls=DjangoJSONEncoder))
    return {"status": code, "body": body}


def replay(message: OutboundMessage, fingerprint: str) -> Response:
    """The first answer to this key again; 422 if the key was used for another request."""
    if message.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    deadline = time.monotonic() + REPLAY_WAIT
    answer = message.api_response
    while answer is None and time.monotonic() < deadline:  # the first request is still answering
        time.sleep(0.05)
        answer = OutboundMessage.objects.filter(pk=message.pk).values_list("api_response", flat=True).first()
    if answer is None:  # the first request died before answering: answer now, once for all
        message.refresh_from_db()
        OutboundMessage.objects.filter(pk=message.pk, api_response__isnull=True).update(
            api_response=message_answer(message))
        answer = OutboundMessage.objects.filter(pk=message.pk).values_list("api_response", flat=True).first()
    return Response(answer["body"], status=answer["status"], headers={REPLAY_HEADER: "true"})


# ---- views ----------------------------------------------------------------------------------------------------

class AccountScopedMixin(AppViewSetMixin):
    """Querysets limited to the user's accounts; ``account`` fields offer only those."""

    model = None

    def get_queryset(self):
        return self.model.objects.filter(account__in=accessible_accounts(self.request.user)).select_related("account")

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", {})
        if "account" in fields and not fields["account"].read_only:
            fields["account"].queryset = accessible_accounts(self.request.user)
        return serializer

    def scoped(self, serializer_class, **kwargs):
        serializer = serializer_class(context=self.get_serializer_context(), **kwargs)
        if "account" in serializer.fields:
            serializer.fields["account"].queryset = accessible_accounts(self.request.user)
        return serializer


@extend_schema_view(**read_examples(MESSAGE_EXAMPLE, "outboundmessage"))
class OutboundMessageViewSet(AccountScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             viewsets.GenericViewSet):
    """Outbound messages (customer-service and template) and what became of them.

    Filters: ``account`` (name), ``to_user``, ``kind``, ``status``, ``campaign`` (id), ``template_id``,
    ``since`` / ``until`` (ISO 8601, on the time queued). A value that names nothing is a 400."""

    model = OutboundMessage
    serializer_class = OutboundMessageSerializer

    def get_queryset(self):
        return super().get_queryset().order_by("-created_at", "-id")

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        user = self.request.user
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(user), "to_user": filters.text,
            "kind": filters.choice(OutboundMessage.Kind.values), "status": filters.choice(OutboundMessage.Status.values),
            "campaign": filters.identifier, "template_id": filters.text, "since": moment_filter, "until": moment_filter,
        })
        ordered_range(given, "since", "until")
        if "campaign" in given and not Campaign.objects.filter(
                pk=given["campaign"], account__in=accessible_accounts(user)).exists():
            raise ValidationError({"campaign": [f"No campaign with id {given['campaign']}."]})
        for param, lookup in (("account", "account"), ("to_user", "to_user"), ("kind", "kind"), ("status", "status"),
                              ("campaign", "campaign_id"), ("template_id", "payload__template_id"),
                              ("since", "created_at__gte"), ("until", "created_at__lt")):
            if param in given:
                qs = qs.filter(**{lookup: given[param]})
        return qs

    def _send(self, request, serializer_class, queue):
        key = idempotency_key(request)
        fingerprint = request_fingerprint(self.action, request.data)
        stored_key = IDEMPOTENCY_PREFIX + key if key else None
        if key is not None and isinstance(request.data, dict):
            name = request.data.get("account")
            account = (accessible_accounts(request.user).filter(name=name).first()
                       if isinstance(name, str) and len(name) <= 64 and "\x00" not in name else None)
            existing = (OutboundMessage.objects.filter(account=account, idempotency_key=stored_key).first()
                        if account is not None else None)
            if existing is not None:
                return replay(existing, fingerprint)
        serializer = self.scoped(serializer_class, data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message = queue(serializer.validated_data, idempotency_key=stored_key,
                            request_hash=fingerprint if key else "")
        except DjangoValidationError as err:
            raise ValidationError({"non_field_errors": err.messages}) from err
        if not getattr(message, "created_now", False):  # the same key raced in from another request
            return replay(message, fingerprint)
        message.refresh_from_db()
        answer = message_answer(message)
        if key:
            OutboundMessage.objects.filter(pk=message.pk, api_response__isnull=True).update(api_response=answer)
        return Response(answer["body"], status=answer["status"])

    @extend_schema(
        request=CUSTOM_MESSAGE_SCHEMA, parameters=[IDEMPOTENCY_PARAMETER], responses=SEND_RESPONSES,
        examples=[OpenApiExample(f"{kind}", request_only=True,
                                 value={"account": "shop", "to_user": "oUser123", "kind": kind, "content": content})
                  for kind, content in CUSTOM_EXAMPLES.items()]
        + [OpenApiExample("Queued", value=MESSAGE_EXAMPLE, response_only=True, status_codes=["202"]),
           OpenApiExample("Sent", value={**MESSAGE_EXAMPLE, "status": "sent", "attempts": 1, "errcode": 0,
                                         "sent_at": "2026-05-01T08:00:01+08:00"},
                          response_only=True, status_codes=["201"]),
           VALIDATION_EXAMPLE,
           error_example("Key reused", IdempotencyKeyReused())])
    @action(detail=False, methods=["post"], required_permissions=[("add", OutboundMessage)],
            serializer_class=CustomMessageSerializer)
    def custom(self, request):
        """Send a customer-service message (text, image, voice, video, music, news, mpnews,
        mpnewsarticle, msgmenu, wxcard, miniprogrampage). WeChat delivers it only within 48 hours
        of the user's last interaction; a refusal shows on the message (``failed``, ``errcode``)."""
        return self._send(request, CustomMessageSerializer, lambda data, **kw: outbound_services.queue_custom(
            data["account"], data["to_user"], data["kind"], data["content"], **kw))

    @extend_schema(
        request=TemplateMessageSerializer, parameters=[IDEMPOTENCY_PARAMETER], responses=SEND_RESPONSES,
        examples=[OpenApiExample("Template message", request_only=True, value={
            "account": "shop", "to_user": "oUser123", "template_id": "tpl-order-shipped",
            "data": {"first": "Shipped", "keyword1": {"value": "1001", "color": "#173177"}, "remark": "Thanks!"},
            "url": "https://example.com/orders/1001"}),
            OpenApiExample("Sent", value=TEMPLATE_MESSAGE_EXAMPLE, response_only=True, status_codes=["201"]),
            OpenApiExample("Queued", value={**TEMPLATE_MESSAGE_EXAMPLE, "status": "queued", "attempts": 0,
                                            "errcode": None, "msgid": None, "sent_at": None},
                           response_only=True, status_codes=["202"]),
            invalid_example("Missing keyword", {"data": ["missing template keyword(s): remark"]}),
            invalid_example("Unknown template", {"template_id": [
                "Template 'tpl-x' is not among the account's synced templates; "
                "sync the templates (POST /templates/sync/) first."]})])
    @action(detail=False, methods=["post"], required_permissions=[("add", OutboundMessage)],
            serializer_class=TemplateMessageSerializer)
    def template(self, request):
        """Send a template message. ``data`` must give every keyword of the synced template and no
        other; the template must be active (present on WeChat at the last sync)."""
        return self._send(request, TemplateMessageSerializer, lambda data, **kw: outbound_services.queue_template(
            data["account"], data["to_user"], data["template_id"], data["data"], url=data.get("url") or None,
            miniprogram=data.get("miniprogram"), **kw))

    @extend_schema(
        request=WeComAppMessageSerializer, parameters=[IDEMPOTENCY_PARAMETER], responses=SEND_RESPONSES,
        examples=[OpenApiExample(msgtype, request_only=True, value={
            "account": "hr", "msgtype": msgtype, "content": content, "touser": ["zhangsan", "lisi"], "toparty": [2]})
            for msgtype, content in WECOM_EXAMPLES.items()]
        + [OpenApiExample("Sent", response_only=True, status_codes=["201"], value={
            **MESSAGE_EXAMPLE, "account": "hr", "kind": "wecom_app", "to_user": "zhangsan|ghost party:2",
            "payload": {"touser": "zhangsan|ghost", "toparty": "2", "msgtype": "text", "agentid": 1000002,
                        "text": {"content": "Meeting at 3 in room 2"}},
            "status": "sent", "attempts": 1, "errcode": 0, "wecom_msgid": "XhkFZaH8bTqAvMiXI3VJ",
            "invalid_user": "ghost", "sent_at": "2026-05-01T08:00:01+08:00"}),
            OpenApiExample("Queued", response_only=True, status_codes=["202"], value={
                **MESSAGE_EXAMPLE, "account": "hr", "kind": "wecom_app", "to_user": "zhangsan party:2",
                "payload": {"touser": "zhangsan", "toparty": "2", "msgtype": "text", "agentid": 1000002,
                            "text": {"content": "Meeting at 3 in room 2"}}}),
            invalid_example("Not a WeCom app", {"account": ["'shop' is not a WeCom app."]}),
            invalid_example("No recipient", {"touser": ["no recipient: give touser, toparty or totag"]})])
    @action(detail=False, methods=["post"], required_permissions=[("add", OutboundMessage)],
            serializer_class=WeComAppMessageSerializer)
    def wecom(self, request):
        """Send an app message of a WeCom app (text, image, voice, video, file, textcard, news, mpnews,
        markdown) to members, departments and tags. WeCom's answer is on the message: `wecom_msgid`,
        and the recipients it could not reach in `invalid_user` / `invalid_party` / `invalid_tag`
        (when it reached none, the message fails with errcode 81013)."""
        from ..services import wecom as wecom_services

        return self._send(request, WeComAppMessageSerializer, lambda data, **kw: wecom_services.queue_app_message(
            data["account"], data["msgtype"], data["content"], touser=data.get("touser"),
            toparty=data.get("toparty"), totag=data.get("totag"), safe=data["safe"], **data["options"], **kw))

    @extend_schema(request=None, responses={
        202: OutboundMessageSerializer, 201: OutboundMessageSerializer,
        409: OpenApiResponse(description="Only failed or cancelled messages can be resent.")},
        examples=[OpenApiExample("Queued again", value=MESSAGE_EXAMPLE, response_only=True, status_codes=["202"]),
                  OpenApiExample("Sent again", value={**MESSAGE_EXAMPLE, "status": "sent", "attempts": 1, "errcode": 0,
                                                      "sent_at": "2026-05-01T08:05:01+08:00"},
                                 response_only=True, status_codes=["201"]),
                  error_example("Not failed", Conflict(
                      "Only failed or cancelled messages can be resent (this one is sent)."))])
    @action(detail=True, methods=["post"], required_permissions=[("change", OutboundMessage)])
    def resend(self, request, pk=None):
        """Queue a failed or cancelled message again (its attempts start over); 409 otherwise."""
        message = self.get_object()
        try:
            message = outbound_services.resend(message)
        except DjangoValidationError as err:
            raise Conflict(" ".join(err.messages)) from err
        answer = message_answer(message)
        return Response(answer["body"], status=answer["status"])




class SyncMixin:
    """``POST sync/`` (``{"account": name}``: a queued job, 202) and ``GET sync/{job_id}/``."""

    sync_kind = None

    def _sync(self, request):
        serializer = self.scoped(SyncRequestSerializer, data=request.data)
        serializer.is_valid(raise_exception=True)
        job, _ = sync_jobs.request_sync(serializer.validated_data["account"], self.sync_kind)
        job.refresh_from_db()
        data = SyncJobSerializer(job, context=self.job_context()).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})

    def job_context(self):
        def locate(job):
            return self.request.build_absolute_uri(self.reverse_action("sync-status", kwargs={"job_id": job.pk}))

        return {**self.get_serializer_context(), "job_url": locate}

    def _sync_status(self, request, job_id):
        job = SyncJob.objects.filter(pk=int(job_id), kind=self.sync_kind,
                                     account__in=accessible_accounts(request.user)).select_related("account").first()
        if job is None:
            raise NotFound(f"No {self.sync_kind} sync with id {job_id}.")
        return Response(SyncJobSerializer(job, context=self.job_context()).data)


SYNC_RESPONSES = {202: SyncJobSerializer, 400: OpenApiResponse(description="Unknown account.")}


@extend_schema_view(**read_examples(TEMPLATE_EXAMPLE, "template"))
class TemplateViewSet(SyncMixin, AccountScopedMixin, viewsets.ReadOnlyModelViewSet):
    """The accounts' templates, as last synced from WeChat. Filters: ``account`` (name), ``active``
    (true/false: present on WeChat at the last sync), ``search`` (title, id, content)."""

    model = Template
    serializer_class = TemplateSerializer
    sync_kind = SyncJob.Kind.TEMPLATES

    def get_queryset(self):
        return super().get_queryset().order_by("account__name", "title", "id")

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user), "active": filters.boolean, "search": filters.text})
        if "account" in given:
            qs = qs.filter(account=given["account"])
        if "active" in given:
            qs = qs.filter(active=given["active"])
        if "search" in given:
            term = given["search"]
            qs = qs.filter(Q(title__icontains=term) | Q(template_id__icontains=term) | Q(content__icontains=term))
        return qs

    @extend_schema(request=SyncRequestSerializer, responses=SYNC_RESPONSES, examples=[
        OpenApiExample("Sync an account", value={"account": "shop"}, request_only=True),
        OpenApiExample("Queued", value=JOB_EXAMPLE, response_only=True, status_codes=["202"])])
    @action(detail=False, methods=["post"], required_permissions=[("change", Template)])
    def sync(self, request):
        """Sync the account's templates from WeChat (a queued job): 202 with the job, polled at its
        ``url``. While a sync of the account is queued or running, that one is answered."""
        return self._sync(request)

    @extend_schema(responses={200: SyncJobSerializer, 404: OpenApiResponse(description="No such job.")},
                   examples=[OpenApiExample("Done", response_only=True, value={
                       **JOB_EXAMPLE, "status": "done", "done": 3, "total": 3,
                       "result": {"synced": 3, "deactivated": 0}, "started_at": "2026-05-01T08:00:00+08:00",
                       "finished_at": "2026-05-01T08:00:01+08:00"})])
    @action(detail=False, methods=["get"], url_path=r"sync/(?P<job_id>[0-9]{1,18})", url_name="sync-status",
            required_permissions=[("view", Template)])
    def sync_status(self, request, job_id=None):
        """A template sync: ``queued``, ``running``, ``done`` (``result``: synced, deactivated) or
        ``failed`` (``error``: WeChat's refusal)."""
        return self._sync_status(request, job_id)


CAMPAIGN_TRANSITIONS = {
    # operation: (statuses it applies to, what the 409 says otherwise)
    "start": ((Campaign.Status.DRAFT,), "only a draft can be started"),
    "pause": ((Campaign.Status.RUNNING,), "only a running campaign can be paused"),
    "resume": ((Campaign.Status.PAUSED,), "only a paused campaign can be resumed"),
    "cancel": ((Campaign.Status.DRAFT, Campaign.Status.RUNNING, Campaign.Status.PAUSED),
               "only a draft, running or paused campaign can be cancelled"),
}
OPERATE_RESPONSES = {200: CampaignSerializer, 404: OpenApiResponse(description="No such campaign."),
                     409: OpenApiResponse(description="Not possible in the campaign's status."),
                     502: OpenApiResponse(description="WeChat could not be reached (tag audiences).")}


def _operate_schema(summary_status):
    return extend_schema(request=None, responses=OPERATE_RESPONSES, examples=[
        OpenApiExample("Done", response_only=True, status_codes=["200"],
                       value={**CAMPAIGN_EXAMPLE, "status": summary_status}),
        error_example("Illegal transition", Conflict(
            "The campaign is done: only a running campaign can be paused."))])


@extend_schema_view(**read_examples(CAMPAIGN_EXAMPLE, "campaign", listed={
    k: v for k, v in CAMPAIGN_EXAMPLE.items() if k != "openids"}), **campaign_write_examples())
class CampaignViewSet(AccountScopedMixin, viewsets.ModelViewSet):
    """Campaigns: one template message to many followers, rate-limited. Created as drafts (validated
    as in the admin; only drafts change), then started, paused, resumed or cancelled; ``progress``
    counts the recipients per status. Deleting one that is running or paused answers 409 (cancel
    it first). Filters: ``account`` (name), ``status``. List pages give ``openid_count`` without the
    ``openids`` themselves (up to 50,000 a campaign): they are in the campaign (``GET {id}/``)."""

    model = Campaign
    serializer_class = CampaignSerializer
    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]

    def perform_destroy(self, instance):
        if instance.status in (Campaign.Status.RUNNING, Campaign.Status.PAUSED):
            raise Conflict(f"The campaign is {instance.status}: cancel it before deleting it.")
        instance.delete()

    def get_queryset(self):
        qs = super().get_queryset().select_related("template").order_by("-created_at", "-id")
        if self.action == "list":  # the openids stay in the database: their count is enough
            qs = qs.defer("openids").annotate(openid_count=JSONArrayLength("openids"))
        return qs

    def get_serializer_class(self):
        return CampaignListSerializer if self.action == "list" else CampaignSerializer

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user), "status": filters.choice(Campaign.Status.values)})
        if "account" in given:
            qs = qs.filter(account=given["account"])
        if "status" in given:
            qs = qs.filter(status=given["status"])
        return qs

    @extend_schema(examples=[
        OpenApiExample("A list campaign", value=CAMPAIGN_REQUEST, request_only=True),
        OpenApiExample("Created", value=CAMPAIGN_EXAMPLE, response_only=True, status_codes=["201"]),
        invalid_example("Invalid", {"openids": ["A list campaign needs at least one openid."]})])
    def create(self, request, *args, **kwargs):
        """Create a draft campaign (nothing is sent until it is started)."""
        return super().create(request, *args, **kwargs)

    def _operate(self, request, operation, run):
        campaign = self.get_object()
        allowed, message = CAMPAIGN_TRANSITIONS[operation]
        if campaign.status not in allowed:
            hint = " (resume it)" if operation == "start" and campaign.status == Campaign.Status.PAUSED else ""
            raise Conflict(f"The campaign is {campaign.status}: {message}{hint}.")
        try:
            run(campaign)
        except DjangoValidationError as err:  # its status changed meanwhile
            campaign.refresh_from_db()
            raise Conflict(f"The campaign is {campaign.status}: {' '.join(err.messages)}") from err
        except WeChatAPIError as err:
            raise wechat_refusal(err) from err
        campaign.refresh_from_db()
        return Response(self.get_serializer(campaign).data)

    @_operate_schema("running")
    @action(detail=True, methods=["post"], required_permissions=[("change", Campaign)])
    def start(self, request, pk=None):
        """Start a draft: one queued message per recipient, then rate-limited delivery."""
        return self._operate(request, "start", outbound_services.start_campaign)

    @_operate_schema("paused")
    @action(detail=True, methods=["post"], required_permissions=[("change", Campaign)])
    def pause(self, request, pk=None):
        """Pause a running campaign (messages being sent finish; the others wait)."""
        return self._operate(request, "pause", outbound_services.pause_campaign)

    @_operate_schema("running")
    @action(detail=True, methods=["post"], required_permissions=[("change", Campaign)])
    def resume(self, request, pk=None):
        """Resume a paused campaign where it stopped."""
        return self._operate(request, "resume", outbound_services.start_campaign)

    @_operate_schema("cancelled")
    @action(detail=True, methods=["post"], required_permissions=[("change", Campaign)])
    def cancel(self, request, pk=None):
        """Cancel a draft, running or paused campaign: its queued recipients are not sent."""
        return self._operate(request, "cancel", outbound_services.cancel_campaign)

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=OutboundMessage.Status.values,
                                     description="Only the recipients in this status.")],
        responses={200: OutboundMessageSerializer(many=True)},
        examples=[OpenApiExample("A page", response_only=True, value=_page(
            {**TEMPLATE_MESSAGE_EXAMPLE, "campaign": 5}))])
    @action(detail=True, methods=["get"], required_permissions=[("view", Campaign)],
            serializer_class=OutboundMessageSerializer)
    def recipients(self, request, pk=None):
        """The campaign's recipients (one message each) and what became of them; ``status`` filters."""
        campaign = self.get_object()
        given = filters.clean_filters(request.query_params, {"status": filters.choice(OutboundMessage.Status.values)})
        qs = campaign.messages.select_related("account").order_by("id")
        if "status" in given:
            qs = qs.filter(status=given["status"])
        page = self.paginate_queryset(qs)
        if page is not None:
            return self.get_paginated_response(OutboundMessageSerializer(page, many=True).data)
        return Response(OutboundMessageSerializer(qs, many=True).data)


def _tag_filter(raw: str) -> int:
    return filters.identifier(raw)


@extend_schema_view(**read_examples(FOLLOWER_EXAMPLE, "follower"))
class FollowerViewSet(SyncMixin, AccountScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Followers, kept current by subscribe events and syncs. Filters: ``account`` (name),
    ``subscribed`` (true/false), ``tag`` (a tag id), ``subscribed_since`` / ``subscribed_until``
    (ISO 8601), ``search`` (openid, remark, unionid, nickname)."""

    model = Follower
    serializer_class = FollowerSerializer
    sync_kind = SyncJob.Kind.FOLLOWERS

    def get_queryset(self):
        return super().get_queryset().order_by("account__name", "-subscribe_time", "id")

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user), "subscribed": filters.boolean, "tag": _tag_filter,
            "subscribed_since": moment_filter, "subscribed_until": moment_filter, "search": filters.text})
        ordered_range(given, "subscribed_since", "subscribed_until")
        if "account" in given:
            qs = qs.filter(account=given["account"])
        if "subscribed" in given:
            qs = qs.filter(subscribed=given["subscribed"])
        if "subscribed_since" in given:
            qs = qs.filter(subscribe_time__gte=given["subscribed_since"])
        if "subscribed_until" in given:
            qs = qs.filter(subscribe_time__lt=given["subscribed_until"])
        if "tag" in given:
            if connection.vendor == "postgresql":
                qs = qs.filter(tags__contains=[given["tag"]])
            else:  # SQLite: no JSON containment lookup
                table = connection.ops.quote_name(Follower._meta.db_table)
                qs = qs.extra(where=[f"EXISTS (SELECT 1 FROM json_each({table}.tags) WHERE json_each.value = %s)"],
                              params=[given["tag"]])
        if "search" in given:
            term = given["search"]
            qs = qs.filter(Q(openid__icontains=term) | Q(remark__icontains=term) | Q(unionid__icontains=term)
                           | Q(raw__nickname__icontains=term))
        return qs

    @extend_schema(request=SyncRequestSerializer, responses=SYNC_RESPONSES, examples=[
        OpenApiExample("Sync an account", value={"account": "shop"}, request_only=True),
        OpenApiExample("Queued", value={**JOB_EXAMPLE, "kind": "followers",
                                        "url": "https://example.com/wechat/api/followers/sync/3/"},
                       response_only=True, status_codes=["202"])])
    @action(detail=False, methods=["post"], required_permissions=[("change", Follower)])
    def sync(self, request):
        """Sync the account's followers from WeChat (a queued job): 202 with the job, whose ``done``
        and ``total`` grow as batches of 100 are fetched. One sync per account at a time."""
        return self._sync(request)

    @extend_schema(responses={200: SyncJobSerializer, 404: OpenApiResponse(description="No such job.")},
                   examples=[OpenApiExample("Running", response_only=True, value={
                       **JOB_EXAMPLE, "kind": "followers", "status": "running", "done": 200, "total": 1234,
                       "url": "https://example.com/wechat/api/followers/sync/3/",
                       "started_at": "2026-05-01T08:00:00+08:00"})])
    @action(detail=False, methods=["get"], url_path=r"sync/(?P<job_id>[0-9]{1,18})", url_name="sync-status",
            required_permissions=[("view", Follower)])
    def sync_status(self, request, job_id=None):
        """A follower sync: ``done`` / ``total`` while ``running``; ``result`` (total, synced,
        unsubscribed) once ``done``; ``error`` if ``failed``."""
        return self._sync_status(request, job_id)
