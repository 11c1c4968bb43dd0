"""REST API of media: the material library (list, retrieve, upload, delete, sync, file) and the
media users sent (``incoming-media``, by log row), under the admin's permissions."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from ..client import WeChatAPIError
from ..models import Account, IncomingMedia, Material, MessageLog
from ..services import media as media_service
from ..services.access import accessible_accounts, can
from . import filters
from .serializers import AccountNameField, StrictModelSerializer, StrictSerializer
from .views import AppViewSetMixin

UPLOAD_KINDS = [k for k in Material.Kind.values if k != Material.Kind.NEWS]


class MaterialSerializer(StrictModelSerializer):
    account = AccountNameField(read_only=True)
    # "type", as WeChat names it (batchget_material); the model's "kind" (menus have a "kind" too).
    type = serializers.ChoiceField(source="kind", choices=Material.Kind.choices, read_only=True)
    has_local_copy = serializers.SerializerMethodField()

    class Meta:
        model = Material
        fields = ["id", "account", "media_id", "type", "name", "title", "introduction", "url", "update_time",
                  "size", "content_type", "has_local_copy", "synced_at", "created_at"]
        read_only_fields = fields

    def get_has_local_copy(self, obj) -> bool:
        return bool(obj.local_path)


class MaterialUploadSerializer(StrictSerializer):
    """multipart/form-data: `account` (name), `type`, `file`, `title` / `introduction` (videos)."""

    account = AccountNameField(queryset=Account.objects.all())
    type = serializers.ChoiceField(choices=Material.Kind.choices)
    file = serializers.FileField()
    title = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    introduction = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def validate_type(self, value):
        if value not in UPLOAD_KINDS:
            raise serializers.ValidationError(f"Upload an image, voice, video or thumb; {value} is not uploaded here.")
        return value


class SyncSerializer(StrictSerializer):
    account = AccountNameField(queryset=Account.objects.all())


def _wechat_error(err: WeChatAPIError) -> Response:
    return Response({"wechat": [str(err)], "errcode": err.errcode}, status=status.HTTP_502_BAD_GATEWAY)


def _file_response(name: str, content_type: str):
    if not name:
        raise Http404("Not stored (yet).")
    try:
        handle = media_service.storage().open(name)
    except OSError:
        raise Http404("The file is gone from storage.") from None
    response = FileResponse(handle, content_type=content_type or "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    return response


class MaterialViewSet(AppViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                      viewsets.GenericViewSet):
    """The permanent material library. Filters: ``account`` (name), ``type``, ``search`` (name or
    title). ``POST`` uploads (multipart; WeChat's size and format limits are checked first, 400),
    ``DELETE`` deletes on WeChat too, ``POST sync/`` mirrors an account's library, ``GET {id}/file/``
    returns the local copy. WeChat's refusals answer 502 with its code."""

    serializer_class = MaterialSerializer

    def get_queryset(self):
        return (Material.objects.filter(account__in=accessible_accounts(self.request.user))
                .select_related("account").order_by("-update_time", "-id"))

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user), "type": filters.choice(Material.Kind.values), "search": filters.text})
        if "account" in given:
            qs = qs.filter(account=given["account"])
        if "type" in given:
            qs = qs.filter(kind=given["type"])
        if "search" in given:
            from django.db.models import Q

            qs = qs.filter(Q(name__icontains=given["search"]) | Q(title__icontains=given["search"]))
        return qs

    def get_serializer_class(self):
        if self.action == "create":
            return MaterialUploadSerializer
        if self.action == "sync":
            return SyncSerializer
        return MaterialSerializer

    def _account(self, serializer, action_name: str):
        account = serializer.validated_data["account"]
        if not can(self.request.user, action_name, Material, account):
            # another account's name looks like an unknown one
            raise serializers.ValidationError({"account": [f"Object with name={account.name} does not exist."]})
        return account

    def create(self, request, *args, **kwargs):
        serializer = MaterialUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = self._account(serializer, "add")
        upload = data["file"]
        limit = media_service.UPLOAD_LIMITS[data["type"]][0]
        if upload.size > limit:
            return Response({"file": [f"A {data['type']} may be at most {limit} bytes on WeChat; "
                                      f"this file is {upload.size} bytes."]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            material = media_service.upload_material(account, data["type"], upload.name, upload.read(),
                                                     title=data["title"], introduction=data["introduction"])
        except DjangoValidationError as err:
            return Response({"file": err.messages}, status=status.HTTP_400_BAD_REQUEST)
        except WeChatAPIError as err:
            return _wechat_error(err)
        return Response(MaterialSerializer(material).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        media_service.delete_material(instance)

    def destroy(self, request, *args, **kwargs):
        try:
            return super().destroy(request, *args, **kwargs)
        except WeChatAPIError as err:
            return _wechat_error(err)

    @action(detail=False, methods=["post"], required_permissions=[("change", Material)])
    def sync(self, request):
        """Mirror an account's library from WeChat: ``{"account": name}`` -> WeChat's counts and
        ``created``/``updated``/``deleted``/``copied``."""
        serializer = SyncSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = self._account(serializer, "change")
        try:
            return Response(media_service.sync_materials(account))
        except WeChatAPIError as err:
            return _wechat_error(err)

    @action(detail=True, methods=["get"], required_permissions=[("view", Material)])
    def file(self, request, pk=None):
        material = self.get_object()
        return _file_response(material.local_path, material.content_type)


class IncomingMediaSerializer(StrictModelSerializer):
    account = AccountNameField(read_only=True)

    class Meta:
        model = IncomingMedia
        fields = ["id", "account", "log", "msg_type", "media_id", "thumb_media_id", "status", "size", "content_type",
                  "error", "attempts", "created_at", "fetched_at"]
        read_only_fields = fields


class IncomingMediaViewSet(AppViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           viewsets.GenericViewSet):
    """Media users sent, fetched from WeChat (read-only; the message log's permission). Filters:
    ``log`` (a message log id), ``account``, ``status``, ``type``. ``GET {id}/file/`` returns the bytes."""

    serializer_class = IncomingMediaSerializer
    required_permissions = [("view", MessageLog)]

    def get_queryset(self):
        return (IncomingMedia.objects.filter(account__in=accessible_accounts(self.request.user))
                .select_related("account").order_by("-created_at", "-id"))

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "log": filters.identifier, "account": filters.text, "status": filters.choice(IncomingMedia.Status.values),
            "type": filters.choice(list(media_service.INCOMING_TYPES))})
        for param, lookup in (("log", "log_id"), ("account", "account__name"), ("status", "status"),
                              ("type", "msg_type")):
            if param in given:
                qs = qs.filter(**{lookup: given[param]})
        return qs

    @action(detail=True, methods=["get"])
    def file(self, request, pk=None):
        row = self.get_object()
        if not can(request.user, "view", MessageLog, row.account_id):
            raise PermissionDenied
        return _file_response(row.path, row.content_type)
