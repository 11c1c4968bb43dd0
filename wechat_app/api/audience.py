"""REST API of the audience: tags (create, rename, delete, tag and untag followers, sync), mass
messages (drafts, send within the quota, preview, WeChat's status, delete on WeChat) and
customer-service (kf) accounts.

Permissions are those of the rest of the API (``AccountModelPermissions``): tagging followers and
the blacklist need ``change_follower``; sending, previewing, refreshing and deleting a mass message
on WeChat need ``change_massmessage``. Other accounts' objects are not found (404). Everything is
validated as in the admin (the same services); WeChat's refusals are a 400 with its code and
reason, an unreachable WeChat a 502.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ..client import WeChatAPIError
from ..models import Account, Follower, KfAccount, MassMessage, Tag
from ..services import audience
from ..services import kf as kf_service
from ..services import mass as mass_service
from ..services.access import accessible_accounts
from . import filters
from .errors import Conflict
from .menus import wechat_refusal
from .schema import OpenApiResponse, extend_schema
from .serializers import AccountNameField, StrictModelSerializer
from .views import AppViewSetMixin

MAX_OPENIDS_PER_REQUEST = 10_000


def _django_error(err: DjangoValidationError) -> ValidationError:
    return ValidationError(serializers.as_serializer_error(err))


def run(func, *args, **kwargs):
    """Call a service; its refusals as API errors (400, or 502 when WeChat is unreachable)."""
    try:
        return func(*args, **kwargs)
    except DjangoValidationError as err:
        raise _django_error(err) from err
    except WeChatAPIError as err:
        raise wechat_refusal(err) from err


class AccountScopedViewSet(AppViewSetMixin):
    model = None

    def get_queryset(self):
        qs = self.model.objects.filter(account__in=accessible_accounts(self.request.user)).select_related("account")
        if self.action == "list":
            given = filters.clean_filters(self.request.query_params, {"account": filters.account(self.request.user)})
            if "account" in given:
                qs = qs.filter(account=given["account"])
        return qs

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", {})
        if "account" in fields and not fields["account"].read_only:
            fields["account"].queryset = accessible_accounts(self.request.user)
        return serializer

    def _account_from(self, request) -> Account:
        field = AccountNameField(queryset=accessible_accounts(request.user))
        try:
            return field.to_internal_value(request.data.get("account"))
        except ValidationError as err:
            raise ValidationError({"account": err.detail}) from err


def _openids(data, limit=MAX_OPENIDS_PER_REQUEST) -> list[str]:
    openids = data.get("openids")
    if not isinstance(openids, list) or not openids:
        raise ValidationError({"openids": "A non-empty list of openids."})
    if len(openids) > limit:
        raise ValidationError({"openids": f"At most {limit:,} openids a request."})
    try:
        return mass_service.clean_openids(openids)
    except DjangoValidationError as err:
        raise _django_error(err) from err


# ---- tags ---------------------------------------------------------------------------------------------
class TagSerializer(StrictModelSerializer):
    account = AccountNameField(queryset=Account.objects.none())

    class Meta:
        model = Tag
        fields = ["id", "account", "tag_id", "name", "count", "synced_at"]
        read_only_fields = ["id", "tag_id", "count", "synced_at"]
        validators = []

    def validate(self, attrs):
        if self.instance is not None and "account" in attrs and attrs["account"] != self.instance.account:
            raise ValidationError({"account": "A tag cannot move to another account."})
        return attrs


class TagViewSet(AccountScopedViewSet, viewsets.ModelViewSet):
    """Follower tags (mirrored from WeChat). ``POST /tags/{id}/tag/`` and ``/untag/`` with
    ``{"openids": [...]}`` (up to 10,000; sent to WeChat 50 a call); ``POST /tags/sync/`` with
    ``{"account": name}``; ``POST /tags/blacklist/`` and ``/unblacklist/`` with ``{"account",
    "openids"}``. Filter: ``account``."""

    serializer_class = TagSerializer
    model = Tag

    def get_queryset(self):
        return super().get_queryset().order_by("account__name", "name")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = run(audience.create_tag, data["account"], data["name"])

    def perform_update(self, serializer):
        if "name" in serializer.validated_data:
            run(audience.rename_tag, serializer.instance, serializer.validated_data["name"])

    def perform_destroy(self, instance):
        run(audience.delete_tag, instance)

    def _members(self, request, add: bool):
        tag = self.get_object()
        result = run(audience.tag_followers if add else audience.untag_followers, tag, _openids(request.data))
        return Response(result.as_dict(), status=status.HTTP_200_OK if not result.failed else status.HTTP_207_MULTI_STATUS)

    @action(detail=True, methods=["post"], url_path="tag", required_permissions=[("view", Tag), ("change", Follower)])
    def tag_members(self, request, pk=None):
        """Tag followers (WeChat: 50 a call). 207 when WeChat refused some batches (listed)."""
        return self._members(request, True)

    @action(detail=True, methods=["post"], url_path="untag", required_permissions=[("view", Tag), ("change", Follower)])
    def untag_members(self, request, pk=None):
        return self._members(request, False)

    @action(detail=False, methods=["post"], required_permissions=[("change", Tag)])
    def sync(self, request):
        account = self._account_from(request)
        return Response(run(audience.sync_tags, account))

    def _blacklist(self, request, value):
        account = self._account_from(request)
        result = run(audience.set_blacklisted, account, _openids(request.data), value)
        return Response(result.as_dict(), status=status.HTTP_200_OK if not result.failed else status.HTTP_207_MULTI_STATUS)

    @action(detail=False, methods=["post"], required_permissions=[("change", Follower)])
    def blacklist(self, request):
        """Blacklist followers of ``account`` (WeChat: 20 a call)."""
        return self._blacklist(request, True)

    @action(detail=False, methods=["post"], required_permissions=[("change", Follower)])
    def unblacklist(self, request):
        return self._blacklist(request, False)


# ---- mass messages ------------------------------------------------------------------------------------
class MassQuotaSerializer(serializers.Serializer):
    """An account's mass-send quota in its current period."""

    account = serializers.CharField(help_text="The account's name.")
    kind = serializers.CharField(help_text="subscription (1 mass send a day) or service (4 a month).")
    limit = serializers.IntegerField()
    period = serializers.CharField(help_text="day or month.")
    used = serializers.IntegerField()
    left = serializers.IntegerField()


class MassMessageSerializer(StrictModelSerializer):
    account = AccountNameField(queryset=Account.objects.none())
    tag = serializers.PrimaryKeyRelatedField(queryset=Tag.objects.none(), required=False, allow_null=True,
                                             help_text="The Tag's id (audience tag).")
    content = serializers.JSONField(help_text=MassMessage._meta.get_field("content").help_text)
    openids = serializers.ListField(child=serializers.CharField(max_length=128), required=False,
                                    max_length=MAX_OPENIDS_PER_REQUEST + 1)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    # The model's ``kind``, by WeChat's name for it (and apart from the menus' ``kind`` in the schema).
    msgtype = serializers.ChoiceField(source="kind", choices=MassMessage.Kind.choices)

    class Meta:
        model = MassMessage
        fields = ["id", "account", "name", "audience", "tag", "openids", "msgtype", "content", "send_ignore_reprint",
                  "status", "clientmsgid", "msg_id", "msg_data_id", "wechat_status", "total_count", "filter_count",
                  "sent_count", "error_count", "errcode", "errmsg", "created_by", "created_at", "queued_at",
                  "sent_at", "reported_at"]
        read_only_fields = ["id", "status", "clientmsgid", "msg_id", "msg_data_id", "wechat_status", "total_count",
                            "filter_count", "sent_count", "error_count", "errcode", "errmsg", "created_at",
                            "queued_at", "sent_at", "reported_at"]


class MassMessageListSerializer(MassMessageSerializer):
    """A mass message in a list: the number of openids instead of up to 10,000 of them."""

    openid_count = serializers.SerializerMethodField(help_text="How many openids an openid-list audience holds.")

    class Meta(MassMessageSerializer.Meta):
        fields = [name if name != "openids" else "openid_count" for name in MassMessageSerializer.Meta.fields]

    def get_openid_count(self, mass) -> int:
        return len(mass.openids or [])


class MassMessageViewSet(AccountScopedViewSet, mixins.CreateModelMixin, mixins.ListModelMixin,
                         mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Mass messages (群发). ``POST /mass-messages/`` saves a draft (validated as WeChat would);
    ``POST {id}/send/`` sends it (refused beyond the account's quota: 1 a day for subscription
    accounts, 4 a month for service accounts); ``{id}/preview/`` ``{"openid"}`` sends it to one
    follower; ``{id}/refresh/`` asks WeChat for its status; ``{id}/delete-remote/`` deletes a sent
    mpnews or mpvideo on WeChat. ``DELETE`` removes drafts only. Filters: ``account``, ``status``.
    The list shows ``openid_count``; a mass message's own page shows its ``openids``."""

    serializer_class = MassMessageSerializer
    model = MassMessage

    def get_serializer_class(self):
        return MassMessageListSerializer if self.action == "list" else MassMessageSerializer

    def get_queryset(self):
        qs = super().get_queryset().select_related("tag", "created_by")
        if self.action == "list":
            given = filters.clean_filters(self.request.query_params, {
                "account": filters.text, "status": filters.choice(MassMessage.Status.values)})
            if "status" in given:
                qs = qs.filter(status=given["status"])
        return qs

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", {})
        if "tag" in fields:
            fields["tag"].queryset = Tag.objects.filter(account__in=accessible_accounts(self.request.user))
        return serializer

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = run(mass_service.create_mass, data["account"], name=data["name"], kind=data["kind"],
                                  content=data["content"], audience=data.get("audience", MassMessage.Audience.TAG),
                                  tag=data.get("tag"), openids=data.get("openids"),
                                  send_ignore_reprint=data.get("send_ignore_reprint", False),
                                  created_by=self.request.user)

    @extend_schema(responses={204: None, 409: OpenApiResponse(
        description="Not a draft: a sent mass message stays on record (`delete-remote/` deletes it on WeChat).")})
    def destroy(self, request, *args, **kwargs):
        """Delete a draft mass message."""
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance):
        if instance.status != MassMessage.Status.DRAFT:
            raise Conflict(f"The mass message is {instance.status}: only drafts are deleted; a sent message "
                           "stays on record (delete-remote deletes it on WeChat).")
        instance.delete()

    def _answer(self, mass):
        mass.refresh_from_db()
        return Response(self.get_serializer(mass).data)

    @action(detail=True, methods=["post"], required_permissions=[("change", MassMessage)])
    def send(self, request, pk=None):
        mass = self.get_object()
        run(mass_service.queue_mass, mass)
        return self._answer(mass)

    @action(detail=True, methods=["post"], required_permissions=[("change", MassMessage)])
    def preview(self, request, pk=None):
        mass = self.get_object()
        msg_id = run(mass_service.preview_mass, mass, request.data.get("openid"))
        return Response({"msg_id": msg_id, "openid": request.data.get("openid")})

    @action(detail=True, methods=["post"], required_permissions=[("change", MassMessage)])
    def refresh(self, request, pk=None):
        mass = self.get_object()
        return self._answer(run(mass_service.refresh_status, mass))

    @action(detail=True, methods=["post"], url_path="delete-remote", required_permissions=[("change", MassMessage)])
    def delete_remote(self, request, pk=None):
        mass = self.get_object()
        article_idx = request.data.get("article_idx", 0)
        return self._answer(run(mass_service.delete_mass, mass, article_idx))

    @extend_schema(responses=MassQuotaSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def quota(self, request):
        """Each of the user's accounts: its quota, used and left in the current day or month."""
        answer = []
        for account in accessible_accounts(request.user).order_by("name"):
            q = mass_service.quota(account)
            answer.append({"account": account.name, "kind": account.kind, "limit": q.limit, "period": q.period,
                           "used": q.used, "left": q.left})
        return Response(answer)


# ---- kf accounts -------------------------------------------------------------------------------------
class KfAccountSerializer(StrictModelSerializer):
    account = AccountNameField(queryset=Account.objects.none())

    class Meta:
        model = KfAccount
        fields = ["id", "account", "kf_account", "nickname", "kf_id", "headimgurl", "active", "synced_at"]
        read_only_fields = ["id", "kf_id", "headimgurl", "active", "synced_at"]
        validators = []

    def validate(self, attrs):
        if self.instance is not None:
            for name in ("account", "kf_account"):
                if name in attrs and attrs[name] != getattr(self.instance, name):
                    raise ValidationError({name: "Cannot change; delete and add another kf account."})
        return attrs


class KfAccountViewSet(AccountScopedViewSet, viewsets.ModelViewSet):
    """Customer-service (kf) accounts: created, renamed (nickname) and deleted on WeChat;
    ``POST /kf-accounts/sync/`` ``{"account": name}`` mirrors WeChat's list. Filter: ``account``."""

    serializer_class = KfAccountSerializer
    model = KfAccount

    def get_queryset(self):
        return super().get_queryset().order_by("account__name", "kf_account")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = run(kf_service.add_kf_account, data["account"], data["kf_account"], data["nickname"])

    def perform_update(self, serializer):
        if "nickname" in serializer.validated_data:
            run(kf_service.update_kf_account, serializer.instance, serializer.validated_data["nickname"])

    def perform_destroy(self, instance):
        run(kf_service.delete_kf_account, instance)

    @action(detail=False, methods=["post"], required_permissions=[("change", KfAccount)])
    def sync(self, request):
        return Response(run(kf_service.sync_kf_accounts, self._account_from(request)))
