"""REST serializers. Secrets are write-only: responses only say whether one is set."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from ..engine.spec import RuleSpecError, validate_match, validate_replies
from ..models import Account, MessageLog, Rule

SECRET_FIELDS = ("app_secret", "token", "encoding_aes_key")


class AccountSerializer(serializers.ModelSerializer):
    app_secret_set = serializers.SerializerMethodField()
    encoding_aes_key_set = serializers.SerializerMethodField()
    callback_path = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "id", "name", "app_id", "app_secret", "token", "encoding_aes_key", "encrypt_mode", "api_base_url",
            "enabled", "app_secret_set", "encoding_aes_key_set", "callback_path", "created_at", "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {name: {"write_only": True} for name in SECRET_FIELDS}
        extra_kwargs["encoding_aes_key"]["required"] = False

    def get_app_secret_set(self, obj):
        return bool(obj.app_secret)

    def get_encoding_aes_key_set(self, obj):
        return bool(obj.encoding_aes_key)

    def get_callback_path(self, obj):
        from django.urls import reverse

        return reverse("wechat_app:callback", args=[obj.name])

    def validate(self, attrs):
        # Run the model's own validation (AES key format, mode needs a key...) so that the API
        # and the admin judge an account the same way.
        instance = self.instance or Account()
        for name, value in attrs.items():
            setattr(instance, name, value)
        try:
            instance.full_clean(validate_unique=False)
        except DjangoValidationError as err:
            raise serializers.ValidationError(serializers.as_serializer_error(err)) from err
        return attrs


class FollowUpRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rule
        fields = ["id", "name", "priority", "enabled", "match_kind", "match_value", "match_key", "match_flags",
                  "replies", "no_reply"]


class RuleSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", queryset=Account.objects.all())
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
            validate_replies(current("replies", []), current("no_reply", False))
        except RuleSpecError as err:
            raise serializers.ValidationError({"replies": str(err)}) from err
        parent, account = current("parent", None), current("account", None)
        if parent is not None and account is not None:
            # The model judges the parent (same account, no cycle, bounded depth), as for the admin.
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
