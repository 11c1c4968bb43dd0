"""REST API of iLink bots (personal WeChat accounts): QR logins, the bots, the poller.

- ``/ilink-logins/``: ``POST {"account", "api_base_url"?}`` starts a QR login (the answer's
  ``qrcode_content`` is what the QR code encodes; ``GET .../{session_id}/qrcode/`` draws it (PNG));
  ``GET .../{session_id}/status/?wait=`` long-polls iLink (up to ``wait`` seconds, at most
  ``ILINK_LONG_POLL_SECONDS``) and answers the login (wait, scanned, confirmed, expired, cancelled);
  ``POST .../{session_id}/cancel/``. Starting a login for a new name needs the permission to add
  accounts; for an existing iLink account, access to it.
- ``/ilink-bots/`` (``?account=&status=``): the bots' session and polling state (never the bot
  token); ``GET poll/status/``, ``POST poll/start/``, ``poll/stop/``, ``poll/run-once/`` with an
  optional ``{"accounts": [names]}`` (default: every bot you can access).
Permissions: the models' (``ilinklogin``: add to start, view to read, change to cancel;
``ilinkbot``: view, and change for the poll actions) in the user's accounts.
"""
from __future__ import annotations

from django.http import HttpResponse
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from ..client.errors import WeChatAPIError
from ..conf import app_settings
from ..models import Account, ILinkBot, ILinkLogin
from ..services import ilink as service
from ..services.access import accessible_accounts, can, token_account_ids
from . import filters
from .menus import wechat_refusal
from .schema import OpenApiParameter, OpenApiTypes, extend_schema
from .serializers import StrictModelSerializer, StrictSerializer
from .views import AppViewSetMixin


class ILinkBotSerializer(StrictModelSerializer):
    account = serializers.CharField(source="account.name", read_only=True)

    class Meta:
        model = ILinkBot
        fields = ["id", "account", "bot_id", "ilink_user_id", "status", "polling_enabled", "api_base_url",
                  "cdn_base_url", "logged_in_at", "last_poll_at", "last_message_at", "messages_received",
                  "consecutive_errors", "last_error", "last_error_at"]
        read_only_fields = fields


class PollAccountsSerializer(StrictSerializer):
    accounts = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=1000,
                                     help_text="Account names; default: every bot you can access.")


class PollerSerializer(serializers.Serializer):
    running = serializers.BooleanField(help_text="Whether a poller process beat within the last 30 s.")
    pid = serializers.IntegerField(allow_null=True)


class BotPollingSerializer(serializers.Serializer):
    account = serializers.CharField()
    bot_id = serializers.CharField()
    ilink_user_id = serializers.CharField()
    status = serializers.ChoiceField(choices=ILinkBot.Status.choices)
    polling_enabled = serializers.BooleanField()
    api_base_url = serializers.CharField()
    last_poll_at = serializers.DateTimeField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    messages_received = serializers.IntegerField()
    consecutive_errors = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    logged_in_at = serializers.DateTimeField(allow_null=True)


class PollStatusSerializer(serializers.Serializer):
    poller = PollerSerializer()
    bots = BotPollingSerializer(many=True)


class PollSwitchSerializer(serializers.Serializer):
    polling_enabled = serializers.BooleanField()
    accounts = serializers.ListField(child=serializers.CharField(), help_text="The accounts switched.")


class ILinkBotViewSet(AppViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """iLink bots and their poller. Filters: ``account`` (name), ``status``."""

    serializer_class = ILinkBotSerializer

    def get_queryset(self):
        return (ILinkBot.objects.filter(account__in=accessible_accounts(self.request.user))
                .select_related("account").order_by("account__name"))

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user), "status": filters.choice(ILinkBot.Status.values)})
        if "account" in given:
            qs = qs.filter(account=given["account"])
        if "status" in given:
            qs = qs.filter(status=given["status"])
        return qs

    def _accounts(self, request):
        serializer = PollAccountsSerializer(data=request.data if request.method == "POST" else {})
        serializer.is_valid(raise_exception=True)
        names = serializer.validated_data.get("accounts")
        if request.method == "GET" and request.query_params.get("account"):
            names = [filters.clean_filters(request.query_params, {"account": filters.text})["account"]]
        mine = accessible_accounts(request.user)
        if not names:
            return list(mine.filter(channel=Account.Channel.ILINK))
        found = {a.name: a for a in mine.filter(name__in=names)}
        missing = [n for n in names if n not in found]
        if missing:
            raise ValidationError({"accounts": [f"No account named {missing[0][:64]!r} that you can access."]})
        return list(found.values())

    @extend_schema(parameters=[OpenApiParameter("account", str, description="Only this account.")],
                   responses=PollStatusSerializer)
    @action(detail=False, methods=["get"], url_path="poll/status", required_permissions=[("view", ILinkBot)])
    def poll_status(self, request):
        """The poller (running, pid) and each bot's polling state."""
        return Response(service.poll_status(self._accounts(request)))

    @extend_schema(request=PollAccountsSerializer, responses=PollSwitchSerializer)
    @action(detail=False, methods=["post"], url_path="poll/start", required_permissions=[("change", ILinkBot)])
    def poll_start(self, request):
        """Enable polling of the bots (a running poller takes them up within seconds)."""
        return Response({"polling_enabled": True, "accounts": service.set_polling(True, self._accounts(request))})

    @extend_schema(request=PollAccountsSerializer, responses=PollSwitchSerializer)
    @action(detail=False, methods=["post"], url_path="poll/stop", required_permissions=[("change", ILinkBot)])
    def poll_stop(self, request):
        """Disable polling of the bots."""
        return Response({"polling_enabled": False, "accounts": service.set_polling(False, self._accounts(request))})

    @extend_schema(request=PollAccountsSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"], url_path="poll/run-once", required_permissions=[("change", ILinkBot)])
    def poll_run_once(self, request):
        """Poll each bot once, now, in this process (one long poll each: up to
        ``ILINK_LONG_POLL_SECONDS``). Answers ``{account: {received, stored, expired, error}}``."""
        return Response(service.run_once(self._accounts(request)))


class ILinkLoginSerializer(StrictModelSerializer):
    account = serializers.CharField(source="account_name", max_length=64,
                                    help_text="The account's name: a new one, or an iLink account to log in again.")
    api_base_url = serializers.URLField(required=False, max_length=255,
                                        help_text="Default: ILINK_API_BASE_URL.")
    qrcode_content = serializers.SerializerMethodField()

    class Meta:
        model = ILinkLogin
        fields = ["session_id", "account", "api_base_url", "status", "qrcode_content", "error", "expires_at",
                  "created_at", "completed_at"]
        read_only_fields = ["session_id", "status", "error", "expires_at", "created_at", "completed_at"]

    def get_qrcode_content(self, obj) -> str:
        return obj.qrcode_content if obj.status in ILinkLogin.OPEN else ""


class ILinkLoginViewSet(AppViewSetMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                        mixins.ListModelMixin, viewsets.GenericViewSet):
    """QR logins of iLink bots (see the module docstring)."""

    serializer_class = ILinkLoginSerializer
    lookup_field = "session_id"
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self):
        user = self.request.user
        qs = ILinkLogin.objects.select_related("account").order_by("-created_at", "-id")
        if user.is_superuser and token_account_ids(user) is None:
            return qs
        from django.db.models import Q

        return qs.filter(Q(account__in=accessible_accounts(user)) | Q(account__isnull=True, created_by=user))

    def check_object_permissions(self, request, obj):
        if obj.account_id is None:  # a login for a new account: its starter's (and superusers')
            if not (request.user.is_superuser and token_account_ids(request.user) is None) \
                    and obj.created_by_id != request.user.pk:
                raise NotFound()
            return
        super().check_object_permissions(request, obj)

    def perform_create(self, serializer):
        user = self.request.user
        name = serializer.validated_data["account_name"]
        existing = Account.objects.filter(name=name).first()
        if existing is None:
            if not can(user, "add", Account) or token_account_ids(user) is not None:
                raise PermissionDenied("Creating an account needs the permission to add accounts.")
        elif not accessible_accounts(user).filter(pk=existing.pk).exists():
            raise ValidationError({"account": ["This name belongs to an account you cannot access."]})
        try:
            serializer.instance = service.start_login(name, api_base_url=serializer.validated_data.get("api_base_url"),
                                                      user=user)
        except service.ILinkError as err:
            raise ValidationError({"account": [str(err)]}) from None
        except WeChatAPIError as err:
            raise wechat_refusal(err) from None

    @extend_schema(parameters=[OpenApiParameter("wait", int, description=(
        "Seconds to long-poll iLink (0 to ILINK_LONG_POLL_SECONDS, the default)."))],
        responses=ILinkLoginSerializer)
    @action(detail=True, methods=["get"], required_permissions=[("view", ILinkLogin)])
    def status(self, request, session_id=None):
        """Long-poll the login's status (``?wait=`` seconds, default and at most
        ``ILINK_LONG_POLL_SECONDS``); "confirmed" completes it (the account then polls)."""
        login = self.get_object()
        top = int(app_settings.ILINK_LONG_POLL_SECONDS)
        given = filters.clean_filters(request.query_params, {"wait": filters.whole_number(0, top)})
        try:
            login = service.login_status(login, wait=given.get("wait", top))
        except service.ILinkError as err:
            raise ValidationError({"detail": str(err)}) from None
        return Response(ILinkLoginSerializer(login).data)

    @extend_schema(request=None, responses=ILinkLoginSerializer)
    @action(detail=True, methods=["post"], required_permissions=[("change", ILinkLogin)])
    def cancel(self, request, session_id=None):
        """Cancel an open login (a finished one is answered as it is)."""
        return Response(ILinkLoginSerializer(service.cancel_login(self.get_object())).data)

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path="qrcode", required_permissions=[("view", ILinkLogin)])
    def qrcode_png(self, request, session_id=None):
        """The login's QR code as a PNG image (404 once the login is over)."""
        login = self.get_object()
        if login.status not in ILinkLogin.OPEN:
            raise NotFound("The login is over.")
        return HttpResponse(service.qrcode_png(login), content_type="image/png")
