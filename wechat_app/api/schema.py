"""The API's OpenAPI 3 schema (drf-spectacular) and its docs pages, shipped with the app.

- ``AppAutoSchema``: every operation documents its error answers with the one ``Error`` component
  (400 for writes and lists, 401, 403, 404 on paths with an id, 429 with Retry-After); a 4xx an
  operation declares without a body gets that component too; RST ````literals```` in docstrings
  are shown as Markdown.
- ``spectacular_settings_for_app()``: the drf-spectacular settings of the app's schema and pages,
  independent of the project's ``SPECTACULAR_SETTINGS``; a project may override some through
  ``WECHAT_APP["API_SCHEMA_SETTINGS"]`` (title, description, servers, contact...).

The views serving them are in ``docs.py``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from drf_spectacular.utils import extend_schema as spectacular_extend_schema
from rest_framework import serializers

from ..conf import app_settings

__all__ = ["AppAutoSchema", "OpenApiExample", "OpenApiParameter", "OpenApiResponse", "OpenApiTypes",
           "PolymorphicProxySerializer", "extend_schema", "extend_schema_field", "extend_schema_view",
           "inline_serializer"]

RST_LITERAL = re.compile(r"``(.+?)``", re.S)


def markdown(text: str) -> str:
    """A docstring written with RST ````literals```` as Markdown (``literal`` in single backticks)."""
    return RST_LITERAL.sub(r"`\1`", text or "")


# ---- the error component -------------------------------------------------------------------------

class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: invalid, not_authenticated, "
                                           "authentication_failed, permission_denied, read_only_token, "
                                           "not_found, method_not_allowed, conflict, idempotency_key_reused, "
                                           "unsupported_media_type, throttled, "
                                           "server_error, or an operation's own (wechat_refused...).")
    message = serializers.CharField(help_text="For people; for invalid input, the first problem and its field.")
    fields = serializers.DictField(required=False, child=serializers.JSONField(),
                                   help_text="Invalid input only: the messages by field, nested as the body is "
                                             "(problems of the body as a whole under non_field_errors).")
    retry_after = serializers.IntegerField(required=False, help_text="Throttled (429) only: seconds to wait.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "Error"


ERROR_EXAMPLES = {
    "400": OpenApiExample("Invalid input", response_only=True, status_codes=["400"], value={
        "error": {"code": "invalid", "message": "name: This field is required.",
                  "fields": {"name": ["This field is required."]}}}),
    "401": OpenApiExample("No credentials", response_only=True, status_codes=["401"], value={
        "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided."}}),
    "403": OpenApiExample("Read-only token", response_only=True, status_codes=["403"], value={
        "error": {"code": "read_only_token", "message": "This API token is read-only: it may only read "
                                                        "(GET, HEAD and OPTIONS requests)."}}),
    "404": OpenApiExample("Not found", response_only=True, status_codes=["404"], value={
        "error": {"code": "not_found", "message": "No Account matches the given query."}}),
    "429": OpenApiExample("Throttled", response_only=True, status_codes=["429"], value={
        "error": {"code": "throttled", "message": "Request was throttled. Expected available in 12 seconds.",
                  "retry_after": 12}}),
}

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `fields` names each problem.",
    "401": "No credentials, or an invalid, revoked or expired API token.",
    "403": "Not allowed: a missing model permission, or a read-only API token on a write.",
    "404": "Not found, or in an account the user (or the token) may not access.",
    "429": "Too many requests: wait Retry-After seconds.",
}


class AppAutoSchema(AutoSchema):
    def get_description(self):
        return markdown(super().get_description())

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        wanted = ["401", "403", "429"]
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view():
            wanted.append("400")
        if "{" in self.path:
            wanted.append("404")
        for code in sorted(set(wanted) | {c for c in responses if c >= "400"}):
            answer = responses.get(code)
            if answer is not None and answer.get("content"):
                continue  # the operation documents its own body
            description = (answer or {}).get("description") or ERROR_DESCRIPTIONS.get(code, "Error.")
            example = [ERROR_EXAMPLES[code]] if code in ERROR_EXAMPLES else []
            documented = self._get_response_for_code(
                OpenApiResponse(response=ErrorSerializer, description=description, examples=example), code)
            if code == "429":
                documented.setdefault("headers", {})["Retry-After"] = {
                    "schema": {"type": "integer"}, "description": "Seconds until requests are accepted again."}
            responses[code] = documented
        return responses


def extend_schema(*args, **kwargs):
    """drf-spectacular's ``extend_schema``, based on ``AppAutoSchema`` whatever the project's
    ``DEFAULT_SCHEMA_CLASS`` (drf-spectacular bases a decorated method's schema on that setting).
    The app's views import it from here."""
    decorate = spectacular_extend_schema(*args, **kwargs)

    def decorator(target):
        if not isinstance(target, type) and getattr(target, "schema", None) is None \
                and "schema" not in getattr(target, "kwargs", {}):
            target.schema = AppAutoSchema
        return decorate(target)

    return decorator


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "wechat_app.api.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http", "scheme": "bearer", "bearerFormat": "wat_<prefix>_<secret>",
            "description": "An API token (`manage.py wechat_api_token create`, or the admin): "
                           "`Authorization: Bearer <key>` or `Authorization: Token <key>`.",
        }


# ---- settings ----------------------------------------------------------------------------------

def app_version() -> str:
    try:
        return version("django-wechat-app")
    except PackageNotFoundError:
        return "0.1.0"


DESCRIPTION = """\
The REST API of django-wechat-app: accounts (Official Accounts, WeCom apps, iLink bots), reply rules,
custom menus, the message log, outbound messages and campaigns, audience and media, WeCom contacts,
iLink bot logins and polling, and the agent gateway (inbox, send, typing).

**Authentication.** An API token in `Authorization: Bearer <key>` (or `Token <key>`), made with
`manage.py wechat_api_token create` or in the admin; or the admin's session (with its CSRF token on
writes). A token acts as its owner, with their permissions and accounts, possibly narrowed to some
accounts and to reading.

**Errors.** Every error answers `{"error": {"code": ..., "message": ..., "fields": {...}}}`
(`fields` for invalid input). Objects of accounts you may not access are not found (404).

**Throttling.** Requests are counted per token (per user for a session); past the limit: 429 and
`Retry-After`.
"""

APP_SPECTACULAR_SETTINGS = {
    "TITLE": "WeChat app API",
    "DESCRIPTION": DESCRIPTION,
    # Write-only fields (an account's secrets) appear in the request components only.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": True, "displayOperationId": False},
    # Only the app's endpoints, whatever else the project serves with DRF.
    "PREPROCESSING_HOOKS": ["wechat_app.api.schema.only_app_endpoints"],
    # Several serializers have a "kind" (or "audience", "status") field with different choices: each
    # set gets its own enum name (campaigns: the campaign and its list rows share theirs). The typed
    # replies (``type``) and custom messages (``kind``) are one serializer per kind, whose tag field
    # has one choice: each such one-value set is one enum named by its value.
    "ENUM_NAME_OVERRIDES": {"MenuKindEnum": "wechat_app.models.menus.MenuKind",
                            "QRCodeKindEnum": "wechat_app.models.web.QRCode.Kind",
                            "CampaignAudienceEnum": "wechat_app.models.outbound.Campaign.Audience",
                            "CampaignStatusEnum": "wechat_app.models.outbound.Campaign.Status",
                            "MaterialTypeEnum": "wechat_app.models.media.Material.Kind",
                            "MassAudienceEnum": "wechat_app.models.audience.MassMessage.Audience",
                            "MassStatusEnum": "wechat_app.models.audience.MassMessage.Status",
                            "MassMsgtypeEnum": "wechat_app.models.audience.MassMessage.Kind",
                            "AgentEventStatusEnum": "wechat_app.models.agent.AgentEvent.Status",
                            "AgentSendTaskStatusEnum": "wechat_app.models.agent.AgentSendTask.Status",
                            "TypingStatusEnum": ["typing", "cancel"],
                            "ILinkBotStatusEnum": "wechat_app.models.ilink.ILinkBot.Status",
                            "ILinkLoginStatusEnum": "wechat_app.models.ilink.ILinkLogin.Status",
                            **{f"{tag.capitalize()}TagEnum": [tag]
                               for tag in ("text", "image", "voice", "video", "music", "news")}},
}
# What WECHAT_APP["API_SCHEMA_SETTINGS"] may change (the rest is how the app's pages work).
OVERRIDABLE = {"TITLE", "DESCRIPTION", "VERSION", "SERVERS", "CONTACT", "LICENSE", "TOS", "EXTERNAL_DOCS",
               "TAGS", "SWAGGER_UI_SETTINGS", "REDOC_UI_SETTINGS", "SORT_OPERATIONS", "SORT_OPERATION_PARAMETERS"}


def spectacular_settings_for_app() -> dict:
    return {**APP_SPECTACULAR_SETTINGS, "VERSION": app_version(), **(app_settings.API_SCHEMA_SETTINGS or {})}


class _AppSettings(Mapping):
    """``spectacular_settings_for_app()`` read when used, for ``manage.py spectacular
    --custom-settings wechat_app.api.schema.SPECTACULAR_SETTINGS``."""

    def __getitem__(self, key):
        return spectacular_settings_for_app()[key]

    def __iter__(self):
        return iter(spectacular_settings_for_app())

    def __len__(self):
        return len(spectacular_settings_for_app())


SPECTACULAR_SETTINGS = _AppSettings()


def only_app_endpoints(endpoints, **kwargs):
    """drf-spectacular preprocessing hook: the endpoints served by the app's API views."""
    from .base import AppAPIMixin

    def ours(callback):
        cls = getattr(callback, "cls", None)
        return cls is not None and issubclass(cls, AppAPIMixin) and not getattr(cls, "docs_page", False)

    return [endpoint for endpoint in endpoints if ours(endpoint[3])]
