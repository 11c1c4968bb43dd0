"""REST serializers. Secrets are write-only: responses only say whether one is set.

Every serializer of the app's API derives from ``StrictSerializer`` / ``StrictModelSerializer``:
a write naming a field the serializer does not have is a 400 naming that field, never silently
ignored (``follow_ups`` in a POSTed rule used to vanish with a 201).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields as dataclass_fields

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.settings import api_settings

from ..conf import app_settings
from ..engine.spec import RuleSpecError, validate_match, validate_replies
from ..models import Account, MessageLog, OutboundMessage, Rule
from ..models.accounts import CREDENTIAL_FIELDS, name_validator
from ..protocol.replies import REPLY_TYPES, NewsReply
from ..services.access import CHANGE_CREDENTIALS_PERMISSION, can_change_credentials
from .schema import PolymorphicProxySerializer, extend_schema_field

SECRET_FIELDS = ("app_secret", "token", "encoding_aes_key")
UNKNOWN_FIELD = "Unknown field. This object has: {known}."
# Sent by HTML forms (the browsable API) beside the fields: not data.
FORM_KEYS = frozenset({"csrfmiddlewaretoken"})


class StrictFieldsMixin:
    # Refuse keys the serializer does not know (each named, 400) instead of dropping them.
    # Read-only fields are known: a document read with GET can be sent back with PUT as it is.

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = [key for key in data if key not in self.fields and key not in FORM_KEYS]
            if unknown:
                known = ", ".join(name for name, field in self.fields.items() if not field.read_only)
                raise serializers.ValidationError({str(key)[:100]: [UNKNOWN_FIELD.format(known=known)]
                                                   for key in unknown})
        return super().to_internal_value(data)


# The bases of the app's serializers (no docstrings: the schema would show them on every object).
class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    pass


# ---- typed replies ---------------------------------------------------------------------------------

class ArticleSerializer(StrictSerializer):
    title = serializers.CharField(help_text="The article's title (required).")
    description = serializers.CharField(required=False)
    url = serializers.CharField(required=False, help_text="Where a tap on the article leads.")
    pic_url = serializers.CharField(required=False, help_text="The cover picture's URL.")


def _reply_serializer(cls) -> type[serializers.Serializer]:
    """A schema-only serializer for one reply type (``protocol.replies``): ``type`` and its fields."""
    own_doc = cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "(")  # not dataclass's signature
    attrs = {"type": serializers.ChoiceField(choices=[cls.type], help_text=f"Always {cls.type!r}."),
             "__doc__": cls.__doc__.strip().split("\n")[0] if own_doc else f"A {cls.type} reply."}
    for item in dataclass_fields(cls):
        if cls is NewsReply and item.name == "articles":
            attrs["articles"] = ArticleSerializer(many=True, help_text="1 to 8 articles.")
        else:
            attrs[item.name] = serializers.CharField(required=item.name in cls.required)
    name = "".join(part.capitalize() for part in cls.type.split("_")) + "ReplySerializer"
    return type(name, (StrictSerializer,), attrs)


REPLY_SERIALIZERS = {name: _reply_serializer(cls) for name, cls in REPLY_TYPES.items()}
REPLY_SCHEMA = PolymorphicProxySerializer(
    component_name="Reply", serializers=REPLY_SERIALIZERS, resource_type_field_name="type")
REPLIES_HELP = ("The replies, one picked at random for each message: typed mappings, one schema per "
                "`type`. A bare string is accepted as a text reply; responses are always typed.")


@extend_schema_field(PolymorphicProxySerializer(
    component_name="Reply", serializers=REPLY_SERIALIZERS, resource_type_field_name="type", many=True))
class RepliesField(serializers.JSONField):
    """A rule's replies: validated by the rule serializers (``engine.spec.validate_replies``)."""


@extend_schema_field(REPLY_SCHEMA)
class ReplyField(serializers.JSONField):
    """One typed reply (``Reply.to_dict()``), or null."""


class AccountSerializer(StrictModelSerializer):
    """An official account; secrets are write-only (responses say whether one is set)."""

    # The model's ``kind`` (named apart from the menus' ``kind`` in the OpenAPI schema).
    account_type = serializers.ChoiceField(source="kind", choices=Account.Kind.choices, required=False,
                                           help_text="subscription (1 mass send a day) or service (4 a month).")

    app_secret_set = serializers.SerializerMethodField()
    encoding_aes_key_set = serializers.SerializerMethodField()
    callback_path = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "id", "name", "channel", "app_id", "agent_id", "app_secret", "token", "encoding_aes_key", "encrypt_mode",
            "api_base_url",
            "enabled", "account_type", "no_match_reply", "error_reply", "js_domains", "app_secret_set",
            "encoding_aes_key_set", "callback_path", "created_at", "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {name: {"write_only": True} for name in SECRET_FIELDS}
        extra_kwargs["encoding_aes_key"]["required"] = False
        # The model's validate_constraints judges the app id per API host (in ``validate``), with
        # a message on the field; DRF's generic unique-together validator would preempt it.
        validators = []

    def get_app_secret_set(self, obj) -> bool:
        return bool(obj.app_secret)

    def get_encoding_aes_key_set(self, obj) -> bool:
        return bool(obj.encoding_aes_key)

    def get_callback_path(self, obj) -> str:
        from django.urls import reverse

        return reverse("wechat_app:callback", args=[obj.name])

    def validate(self, attrs):
        self._check_credentials_permission(attrs)
        if self.instance is not None and "channel" in attrs and attrs["channel"] != self.instance.channel:
            raise serializers.ValidationError({"channel": ["An account's kind cannot change once created."]})
        if self.instance is None and attrs.get("channel") == Account.Channel.ILINK:
            raise serializers.ValidationError({"channel": [str(Account.ILINK_ADDED_BY_LOGIN)]})
        # Run the model's own validation (AES key format, mode needs a key, API base URL allowed,
        # app id free at that host...) so that the API and the admin judge an account the same way.
        instance = self.instance or Account()
        for name, value in attrs.items():
            setattr(instance, name, value)
        try:
            instance.full_clean(validate_unique=False)
        except DjangoValidationError as err:
            raise serializers.ValidationError(serializers.as_serializer_error(err)) from err
        if instance.channel == Account.Channel.WECOM:
            attrs["encrypt_mode"] = instance.encrypt_mode  # always safe (Account.clean)
        return attrs

    def _check_credentials_permission(self, attrs):
        """Changing the app id, app secret or API base URL needs the credentials permission (as
        in the admin); a new account may be given its app id and secret, on the default host."""
        request = self.context.get("request")
        if request is None or can_change_credentials(request.user):
            return
        if self.instance is None:
            changed = ["api_base_url"] if attrs.get("api_base_url") else []
        else:
            changed = [name for name in CREDENTIAL_FIELDS
                       if name in attrs and attrs[name] != getattr(self.instance, name)]
        if changed:
            raise PermissionDenied(f"Changing {', '.join(changed)} needs the permission "
                                   f"{CHANGE_CREDENTIALS_PERMISSION!r} (superusers have it).")


class AccountNameField(serializers.SlugRelatedField):
    """An account by name; a value that cannot be a name (a NUL byte, which PostgreSQL refuses...)
    is not found without asking the database."""

    default_error_messages = {
        "does_not_exist": "No account named {value!r} that you can access.",
        "invalid": "Name the account.",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="name", **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not name_validator.regex.match(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data)[:64])
        return super().to_internal_value(data)


# One answer whether the rule does not exist or belongs to another account (ids cannot be probed).
PARENT_NOT_FOUND = "No rule with id {pk_value} in this account."
RULE_FIELDS = ["name", "description", "priority", "enabled", "match_kind", "match_value", "match_key",
               "match_flags", "replies", "no_reply", "follow_up_timeout", "follow_up_retries"]
FOLLOW_UPS_HELP = ("The follow-up rules (webot `replies`), nested like the rule-file dialect's "
                   "`follow_ups.rules`: each has the fields of a rule and its own `follow_ups`. Given on "
                   "a write, they replace the rule's follow-ups as a whole (new ids); left out, they stay.")


def flatten_errors(detail, prefix: str = "") -> dict:
    """DRF's nested error detail as ``{"follow_ups[1].match_value": [...]}``: one path per problem."""
    if isinstance(detail, Mapping):
        out = {}
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY and prefix:
                path = prefix
            elif isinstance(key, int):  # the item of a list (ListSerializer keys its errors by index)
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten_errors(value, path))
        return out
    if isinstance(detail, list) and any(isinstance(item, (Mapping, list)) for item in detail):
        out = {}
        for number, item in enumerate(detail):
            if item:
                out.update(flatten_errors(item, f"{prefix}[{number}]"))
        return out
    return {prefix: detail if isinstance(detail, list) else [detail]}


def _clean_rule_fields(attrs, current) -> None:
    """The checks every rule gets, top-level or follow-up (those of the admin and the rule files)."""
    try:
        validate_match(current("match_kind", "contains"), current("match_value"), current("match_key"),
                       current("match_flags"))
    except RuleSpecError as err:
        raise serializers.ValidationError({err.field or "match_value": str(err)}) from err
    try:
        built = validate_replies(current("replies", []), current("no_reply", False))
    except RuleSpecError as err:
        raise serializers.ValidationError({"replies": str(err)}) from err
    if "replies" in attrs:
        # Store the typed form the admin, the engine and the rule files read ("text" -> a text reply).
        attrs["replies"] = [reply.to_dict() for reply in built]


def _tree_height(tree) -> int:
    return 1 + max((_tree_height(child.get("follow_ups") or []) for child in tree), default=0) if tree else 0


def _walk(tree, prefix="follow_ups"):
    for number, child in enumerate(tree):
        path = f"{prefix}[{number}]"
        yield path, child
        yield from _walk(child.get("follow_ups") or [], f"{path}.follow_ups")


RULE_NUMBERS = {
    "priority": {"min_value": -2**31, "max_value": 2**31 - 1},
    "follow_up_timeout": {"min_value": 1, "max_value": 2**31 - 1},
    "follow_up_retries": {"min_value": 0, "max_value": 32767},
}


class FollowUpRuleSerializer(StrictModelSerializer):
    """A follow-up rule inside its parent's document (recursive through `follow_ups`)."""

    replies = RepliesField(required=False, help_text=REPLIES_HELP)

    class Meta:
        model = Rule
        fields = ["id", *RULE_FIELDS, "follow_ups"]
        read_only_fields = ["id"]
        extra_kwargs = RULE_NUMBERS
        validators = []  # names are checked over the whole tree, by the top-level rule

    def get_fields(self):
        fields = super().get_fields()
        fields["follow_ups"] = FollowUpRuleSerializer(many=True, required=False, help_text=FOLLOW_UPS_HELP)
        return fields

    def validate(self, attrs):
        _clean_rule_fields(attrs, lambda name, default="": attrs.get(name, default))
        return attrs


class OrderedFollowUps(serializers.ListSerializer):
    """Follow-ups in definition order (position), as the engine and rule files have them."""

    def to_representation(self, data):
        items = data.all() if hasattr(data, "all") else data
        return [self.child.to_representation(item)
                for item in sorted(items, key=lambda row: (row.position or 0, row.pk or 0))]


FollowUpRuleSerializer.Meta.list_serializer_class = OrderedFollowUps


class RuleSerializer(StrictModelSerializer):
    """A reply rule, with its follow-up rules nested (written and read as one document)."""

    account = AccountNameField(queryset=Account.objects.all())
    # The view narrows the queryset to the rules of the user's accounts.
    parent = serializers.PrimaryKeyRelatedField(queryset=Rule.objects.all(), required=False, allow_null=True,
                                                error_messages={"does_not_exist": PARENT_NOT_FOUND})
    replies = RepliesField(required=False, help_text=REPLIES_HELP)
    follow_ups = FollowUpRuleSerializer(many=True, required=False, help_text=FOLLOW_UPS_HELP)

    class Meta:
        model = Rule
        fields = ["id", "account", "parent", *RULE_FIELDS[:4], "position", *RULE_FIELDS[4:], "follow_ups",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "position", "created_at", "updated_at"]
        extra_kwargs = RULE_NUMBERS
        validators = []  # the name clash is reported on the field, in validate()

    def run_validation(self, data=serializers.empty):
        try:
            return super().run_validation(data)
        except serializers.ValidationError as err:
            if isinstance(err.detail, Mapping) and "follow_ups" in err.detail:
                raise serializers.ValidationError(flatten_errors(err.detail)) from err
            raise

    def validate(self, attrs):
        def current(name, default=""):
            if name in attrs:
                return attrs[name]
            return getattr(self.instance, name, default) if self.instance else default

        _clean_rule_fields(attrs, current)
        parent, account = current("parent", None), current("account", None)
        if parent is not None and account is not None and parent.account_id != account.pk:
            raise serializers.ValidationError({"parent": PARENT_NOT_FOUND.format(pk_value=parent.pk)})
        if parent is not None and account is not None:
            # The model judges the rest (no cycle, bounded depth), as for the admin and the import.
            try:
                Rule(pk=getattr(self.instance, "pk", None), account=account, parent=parent).clean_parent()
            except DjangoValidationError as err:
                raise serializers.ValidationError({"parent": err.messages}) from err
        replaced = set()
        tree = attrs.get("follow_ups")
        if tree is not None:
            replaced = self._check_tree(tree, parent)
        name = current("name")
        if account is not None and name:
            clash = Rule.objects.filter(account=account, name=name)
            if self.instance:
                clash = clash.exclude(pk=self.instance.pk)
            if replaced:
                clash = clash.exclude(pk__in=replaced)
            if clash.exists():
                raise serializers.ValidationError({"name": f"This account already has a rule named {name!r}."})
        if tree is not None and account is not None:
            self._check_tree_names(tree, account, name, replaced)
        return attrs

    def _check_tree(self, tree, parent) -> set:
        """The follow-ups' depth; returns the ids of the follow-ups they replace."""
        limit = app_settings.RULE_MAX_DEPTH
        depth = 1  # of this rule
        ancestor = parent
        while ancestor is not None and depth <= limit:
            depth += 1
            ancestor = ancestor.parent
        if depth + _tree_height(tree) > limit:
            deepest = next(path for path, _child in _walk(tree) if path.count("[") + depth > limit)
            raise serializers.ValidationError({deepest: [
                f"Follow-up rules nest at most {limit} levels deep (a top-level rule is level 1)."]})
        replaced = set()
        if self.instance is not None:
            level = [self.instance.pk]
            for _ in range(limit):
                level = list(Rule.objects.filter(parent_id__in=level).values_list("pk", flat=True))
                if not level:
                    break
                replaced.update(level)
        return replaced

    def _check_tree_names(self, tree, account, own_name, replaced) -> None:
        seen = {own_name}
        taken = Rule.objects.filter(account=account, name__in=[child["name"] for _path, child in _walk(tree)])
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        taken = set(taken.exclude(pk__in=replaced).values_list("name", flat=True))
        for path, child in _walk(tree):
            name = child["name"]
            if name in seen:
                raise serializers.ValidationError({f"{path}.name": [f"The name {name!r} is used twice in this rule."]})
            if name in taken:
                raise serializers.ValidationError({f"{path}.name": [
                    f"This account already has a rule named {name!r}."]})
            seen.add(name)

    def create(self, validated_data):
        tree = validated_data.pop("follow_ups", None)
        with transaction.atomic():
            rule = super().create(validated_data)
            if tree:
                _create_follow_ups(rule, tree)
        return rule

    def update(self, instance, validated_data):
        tree = validated_data.pop("follow_ups", None)
        with transaction.atomic():
            rule = super().update(instance, validated_data)
            if tree is not None:
                Rule.objects.filter(parent=rule).delete()  # their own follow-ups go with them
                _create_follow_ups(rule, tree)
        return rule


def _create_follow_ups(parent: Rule, tree) -> None:
    for data in tree:
        data = dict(data)
        children = data.pop("follow_ups", None) or []
        row = Rule(account_id=parent.account_id, parent=parent, **data)
        row.save()
        _create_follow_ups(row, children)


class RuleImportSerializer(StrictSerializer):
    """A rule file to import."""

    rules = serializers.JSONField(help_text="The rule file: YAML/JSON text, or its list or mapping.")
    replace = serializers.BooleanField(default=False, help_text="Delete the account's other rules first.")
    dry_run = serializers.BooleanField(default=False, help_text="Only report what would change.")

    def validate_rules(self, value):
        if not isinstance(value, (str, list, dict)) or not value:
            raise serializers.ValidationError("Send the rule file as text, or as a list or mapping of rules.")
        return value


class MessageLogSerializer(StrictModelSerializer):
    """One message received: what it was, which rule answered, the reply, the status."""

    account = serializers.SlugRelatedField(slug_field="name", read_only=True)
    reply = ReplyField(read_only=True, allow_null=True, help_text="The reply sent (typed), null: none.")
    message = serializers.JSONField(read_only=True, help_text="The message as the engine saw it (normalized).")

    class Meta:
        model = MessageLog
        fields = [
            "id", "account", "msg_id", "user", "msg_type", "event", "event_key", "text", "message", "encrypted",
            "rule", "rule_name", "reply", "status", "error", "latency_ms", "retry_count", "created_at",
        ]
        read_only_fields = fields


# ---- the rule test --------------------------------------------------------------------------------

TEST_MESSAGE_TYPES = ["text", "event", "image", "voice", "video", "shortvideo", "location", "link", "file"]


class RuleTestSerializer(StrictSerializer):
    """A message (or event) to answer as the callback would, with nothing sent, logged or remembered."""

    account = AccountNameField(queryset=Account.objects.all(), help_text="The account's name.")
    user = serializers.CharField(max_length=128, default="o_api_test_user",
                                 help_text="The sender's openid: a pending follow-up of this user is taken into "
                                           "account (read, never changed).")
    type = serializers.ChoiceField(choices=TEST_MESSAGE_TYPES, default="text", help_text="The message type.")
    text = serializers.CharField(required=False, allow_blank=True, max_length=2048,
                                 help_text="The text; a voice message's recognition, a link's title, a "
                                           "location's label, a scan result.")
    event = serializers.CharField(required=False, max_length=64,
                                  help_text="For type event: subscribe, unsubscribe, SCAN, CLICK, VIEW, LOCATION, "
                                            "scancode_push...")
    key = serializers.CharField(required=False, allow_blank=True, max_length=255,
                                help_text="An event's key (a menu key, a QR scene).")
    url = serializers.CharField(required=False, allow_blank=True, max_length=1024, help_text="A link's URL.")
    lat = serializers.FloatField(required=False, min_value=-90, max_value=90, help_text="A location's latitude.")
    lng = serializers.FloatField(required=False, min_value=-180, max_value=180,
                                 help_text="A location's longitude.")

    def validate(self, attrs):
        kind = attrs.get("type", "text")
        if kind == "text" and not (attrs.get("text") or "").strip():
            raise serializers.ValidationError({"text": ["A text message needs its text."]})
        if kind == "event" and not attrs.get("event"):
            raise serializers.ValidationError({"event": ["An event needs its name (subscribe, CLICK...)."]})
        if kind == "location" and ("lat" not in attrs or "lng" not in attrs):
            raise serializers.ValidationError({"lat" if "lat" not in attrs else "lng": [
                "A location needs lat and lng."]})
        if kind == "link" and not attrs.get("url"):
            raise serializers.ValidationError({"url": ["A link needs its URL."]})
        return attrs

    def message_args(self) -> tuple[str, list[str]]:
        """The ``protocol.simulator.build_message`` kind and arguments of the validated message."""
        data = self.validated_data
        kind, text = data.get("type", "text"), data.get("text") or ""
        if kind == "text":
            return kind, [text]
        if kind == "event":
            args = [data["event"]]
            if data.get("key"):
                args.append(data["key"])
            if text and len(args) == 2:
                args.append(text)
            return kind, args
        if kind == "location":
            return kind, [str(data["lat"]), str(data["lng"]), *([text] if text else [])]
        if kind == "link":
            return kind, [data["url"], *([text] if text else [])]
        if kind in ("voice", "file"):
            return kind, [text] if text else []
        return kind, []


class RuleRefSerializer(StrictSerializer):
    id = serializers.IntegerField(allow_null=True, help_text="The stored rule's id (null: a rule written in Python).")
    name = serializers.CharField()


class RuleTestResultSerializer(StrictSerializer):
    """What the callback would answer; nothing was sent, logged or remembered."""

    matched = serializers.BooleanField(help_text="Whether a rule (or a hook) matched.")
    rule = RuleRefSerializer(allow_null=True, help_text="The rule that answered (null: none).")
    # Plain strings (not enums) here and in the thread: an enum named like another model's field
    # with other choices makes drf-spectacular name enums by hash.
    status = serializers.CharField(help_text="The status the message log would record: "
                                             + ", ".join(MessageLog.Status.values) + ".")
    reply = ReplyField(allow_null=True, help_text="The reply (typed); null: nothing would be answered.")
    xml = serializers.CharField(allow_blank=True, help_text="The reply's XML as WeChat would get it (before "
                                                            "encryption); empty: the answer would be `success`.")
    follow_up_pending = serializers.BooleanField(help_text="Whether the user's next message would go to "
                                                           "follow-up rules.")
    error = serializers.CharField(allow_blank=True, help_text="What a failing rule raised, if one did.")
    message = serializers.JSONField(help_text="The message as the engine saw it (normalized).")


# ---- the message log: conversation and stats ------------------------------------------------------

class SentMessageSerializer(StrictModelSerializer):
    """A message the account sent the user (customer service, template), as the thread shows it."""

    kind = serializers.CharField(read_only=True, help_text="text, image, news, template...")
    status = serializers.CharField(read_only=True, help_text=", ".join(OutboundMessage.Status.values) + ".")

    class Meta:
        model = OutboundMessage
        fields = ["id", "kind", "payload", "status", "errcode", "errmsg", "created_at", "sent_at"]
        read_only_fields = fields


class ConversationItemSerializer(StrictSerializer):
    kind = serializers.CharField(help_text="received: a message log row; sent: the account's own message.")
    at = serializers.DateTimeField()
    received = MessageLogSerializer(required=False, allow_null=True)
    sent = SentMessageSerializer(required=False, allow_null=True)


class ConversationSerializer(StrictSerializer):
    """One page of a user's thread with an account, oldest first (the admin's conversation view)."""

    account = serializers.CharField()
    user = serializers.CharField()
    page = serializers.IntegerField(help_text="This page: 1 is the newest messages.")
    pages = serializers.IntegerField(help_text="How many pages the thread has.")
    count = serializers.IntegerField(help_text="How many messages the user sent in all.")
    older = serializers.IntegerField(allow_null=True, help_text="The page of older messages (null: none).")
    newer = serializers.IntegerField(allow_null=True, help_text="The page of newer messages (null: none).")
    items = ConversationItemSerializer(many=True)


class TopRuleSerializer(StrictSerializer):
    rule_id = serializers.IntegerField(allow_null=True)
    rule_name = serializers.CharField()
    n = serializers.IntegerField(help_text="How many messages it answered.")
    last = serializers.DateTimeField()


class UnansweredSerializer(StrictSerializer):
    text = serializers.CharField()
    n = serializers.IntegerField(help_text="How many times it was asked.")
    fallback = serializers.IntegerField(help_text="How many of those only the fallback rule answered.")
    users = serializers.IntegerField(help_text="How many users asked it.")
    last = serializers.DateTimeField()


class PerDaySerializer(StrictSerializer):
    days = serializers.ListField(child=serializers.DateField())
    series = serializers.DictField(child=serializers.ListField(child=serializers.IntegerField()),
                                   help_text="Per message type, the count of each day.")


class TotalsSerializer(StrictSerializer):
    messages = serializers.IntegerField()
    users = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    answered = serializers.IntegerField(help_text="Answered by a rule other than the fallback.")
    fallback = serializers.IntegerField(help_text="Answered by the fallback rule only.")
    system_events = serializers.IntegerField(help_text="WeChat's own reports, counted in none of the others.")


class LatencySerializer(StrictSerializer):
    n = serializers.IntegerField()
    p50 = serializers.FloatField(allow_null=True, help_text="Median reply latency (ms).")
    p95 = serializers.FloatField(allow_null=True, help_text="95th percentile reply latency (ms).")


class StatsSerializer(StrictSerializer):
    """The dashboard's figures (users' messages; WeChat's system events counted apart)."""

    account = serializers.CharField()
    days = serializers.IntegerField(help_text="The window: the last N days, today included.")
    per_day = PerDaySerializer()
    top_rules = TopRuleSerializer(many=True)
    unanswered = UnansweredSerializer(many=True)
    totals = TotalsSerializer()
    latency = LatencySerializer()
    answer_rate = serializers.IntegerField(allow_null=True, help_text="Answered / messages, in % (null: none).")
