"""REST serializers. Secrets are write-only: responses only say whether one is set."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from ..engine.spec import RuleSpecError, validate_match, validate_replies
from ..models import Account, MessageLog, Rule
from ..models.accounts import CREDENTIAL_FIELDS
from ..services.access import CHANGE_CREDENTIALS_PERMISSION, can_change_credentials
from ..models.accounts import name_validator

SECRET_FIELDS = ("app_secret", "token", "encoding_aes_key")


class AccountSerializer(serializers.ModelSerializer):
    # The model's ``kind`` (named apart from the menus' ``kind`` in the OpenAPI schema).
    account_type = serializers.ChoiceField(source="kind", choices=Account.Kind.choices, required=False,
                                           help_text="subscription (1 mass send a day) or service (4 a month).")
    app_secret_set = serializers.SerializerMethodField()
    encoding_aes_key_set = serializers.SerializerMethodField()
    callback_path = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "id", "name", "app_id", "app_secret", "token", "encoding_aes_key", "encrypt_mode", "api_base_url",
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
        # Run the model's own validation (AES key format, mode needs a key, API base URL allowed,
        # app id free at that host...) so that the API and the admin judge an account the same way.
        instance = self.instance or Account()
        for name, value in attrs.items():
            setattr(instance, name, value)
        try:
            instance.full_clean(validate_unique=False)
        except DjangoValidationError as err:
            raise serializers.ValidationError(serializers.as_serializer_error(err)) from err
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


class FollowUpRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rule
        fields = ["id", "name", "priority", "enabled", "match_kind", "match_value", "match_key", "match_flags",
                  "replies", "no_reply"]


class AccountNameField(serializers.SlugRelatedField):
    """An account by name; a value that cannot be a name (a NUL byte, which PostgreSQL refuses...)
    is not found without asking the database."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="name", **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not name_validator.regex.match(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data)[:64])
        return super().to_internal_value(data)


# One answer whether the rule does not exist or belongs to another account (ids cannot be probed).
PARENT_NOT_FOUND = "No rule with id {pk_value} in this account."


class RuleSerializer(serializers.ModelSerializer):
    account = AccountNameField(queryset=Account.objects.all())
    # The view narrows the queryset to the rules of the user's accounts.
    parent = serializers.PrimaryKeyRelatedField(queryset=Rule.objects.all(), required=False, allow_null=True,
                                                error_messages={"does_not_exist": PARENT_NOT_FOUND})
    follow_ups = FollowUpRuleSerializer(many=True, read_only=True)

    class Meta:
        model = Rule
        fields = [
            "id", "account", "parent", "name", "description", "priority", "position", "enabled",
            "match_kind", "match_value", "match_key", "match_flags", "replies", "no_reply",
            "follow_up_timeout", "follow_up_retries", "follow_ups", "created_at", "updated_at",
        ]
        read_only_fields = ["id", "position", "created_at", "updated_at"]
        validators = []  # the name clash is reported on the field, in validate()

    def validate(self, attrs):
        def current(name, default=""):
            if name in attrs:
                return attrs[name]
            return getattr(self.instance, name, default) if self.instance else default

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
        parent, account = current("parent", None), current("account", None)
        if parent is not None and account is not None and parent.account_id != account.pk:
            raise serializers.ValidationError({"parent": PARENT_NOT_FOUND.format(pk_value=parent.pk)})
        if parent is not None and account is not None:
            # The model judges the rest (no cycle, bounded depth), as for the admin and the import.
            try:
                Rule(pk=getattr(self.instance, "pk", None), account=account, parent=parent).clean_parent()
            except DjangoValidationError as err:
                raise serializers.ValidationError({"parent": err.messages}) from err
        name = current("name")
        if account is not None and name:
            clash = Rule.objects.filter(account=account, name=name)
            if self.instance:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError({"name": f"This account already has a rule named {name!r}."})
        return attrs


class RuleImportSerializer(serializers.Serializer):
    rules = serializers.JSONField(help_text="The rule file: YAML/JSON text, or its list or mapping.")
    replace = serializers.BooleanField(default=False, help_text="Delete the account's other rules first.")
    dry_run = serializers.BooleanField(default=False, help_text="Only report what would change.")

    def validate_rules(self, value):
        if not isinstance(value, (str, list, dict)) or not value:
            raise serializers.ValidationError("Send the rule file as text, or as a list or mapping of rules.")
        return value


class MessageLogSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = MessageLog
        fields = [
            "id", "account", "msg_id", "user", "msg_type", "event", "event_key", "text", "message", "encrypted",
            "rule", "rule_name", "reply", "status", "error", "latency_ms", "retry_count", "created_at",
        ]
        read_only_fields = fields
