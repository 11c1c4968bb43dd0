"""REST API of WeCom contacts: departments, members and tags of WeCom app accounts, changed on
WeCom through ``services.wecom_contacts`` (the admin's services), and the full sync as a job.

- ``/wecom-departments/`` (filters ``account``, ``parent_id``); ``GET /wecom-departments/tree/?account=``
- ``/wecom-members/`` (filters ``account``, ``department``, ``search``); ``POST /wecom-members/sync/``
  with ``{"account"}`` queues a full contacts sync (202 with the job); ``GET /wecom-members/sync/{id}/``
- ``/wecom-tags/`` (filter ``account``); ``POST /wecom-tags/{id}/add-members/`` and
  ``/remove-members/`` with ``{"userids": [...], "department_ids": [...]}``

Other accounts' objects are not found (404); WeCom's refusals are a 400 with its reason, an
unreachable WeCom a 502. Permissions are the models' (``AccountModelPermissions``).
"""
from __future__ import annotations

from django.db.models import Q
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ..models import Account, SyncJob, WeComDepartment, WeComMember, WeComTag
from ..models.wecom import DEPARTMENT_NAME_MAX, MEMBER_NAME_MAX, TAG_NAME_MAX, USERID_MAX
from ..services import wecom_contacts as service
from . import filters
from .audience import run
from .outbound import SYNC_RESPONSES, AccountScopedMixin, SyncJobSerializer, SyncMixin, SyncRequestSerializer
from .schema import OpenApiResponse, extend_schema
from .serializers import AccountNameField, StrictModelSerializer, StrictSerializer


def _department_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
        raise ValueError("A department id (a whole number).")
    return int(raw)


class WeComAccountField(AccountNameField):
    """An account of the user's that is a WeCom app (by name)."""

    def to_internal_value(self, data):
        account = super().to_internal_value(data)
        if account.channel != "wecom":
            raise ValidationError(f"{account.name} is not a WeCom app: contacts are WeCom's.")
        return account


class _ContactsViewSet(AccountScopedMixin, viewsets.ModelViewSet):
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filter_parsers: dict = {}

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        user = self.request.user
        given = filters.clean_filters(self.request.query_params,
                                      {"account": filters.account(user), **self.filter_parsers})
        if "account" in given:
            qs = qs.filter(account=given["account"])
        return self.filter_more(qs, given)

    def filter_more(self, qs, given):
        return qs


# ---- departments ------------------------------------------------------------------------------------
class WeComDepartmentSerializer(StrictModelSerializer):
    account = WeComAccountField(queryset=Account.objects.none())
    name = serializers.CharField(max_length=DEPARTMENT_NAME_MAX)
    parent_id = serializers.IntegerField(min_value=1, max_value=2 ** 32 - 1, required=False,
                                         help_text="WeCom's id of the parent department (1: the root).")
    order = serializers.IntegerField(min_value=0, max_value=2 ** 32 - 1, required=False)

    class Meta:
        model = WeComDepartment
        fields = ["id", "account", "department_id", "name", "parent_id", "order", "synced_at"]
        read_only_fields = ["id", "department_id", "synced_at"]
        validators = []

    def validate(self, attrs):
        if self.instance is not None and "account" in attrs and attrs["account"] != self.instance.account:
            raise ValidationError({"account": "A department cannot move to another account."})
        return attrs


class WeComDepartmentViewSet(_ContactsViewSet):
    """WeCom departments of the user's WeCom app accounts. Filters: ``account`` (name), ``parent_id``.
    ``GET tree/?account=`` lists them as a tree (``depth``, ``members`` per department)."""

    model = WeComDepartment
    serializer_class = WeComDepartmentSerializer
    filter_parsers = {"parent_id": _department_id}

    def get_queryset(self):
        return super().get_queryset().order_by("account__name", "parent_id", "-order", "department_id")

    def filter_more(self, qs, given):
        return qs.filter(parent_id=given["parent_id"]) if "parent_id" in given else qs

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = run(service.create_department, data["account"], data["name"],
                                  data.get("parent_id", 1), data.get("order"))

    def perform_update(self, serializer):
        data = serializer.validated_data
        changes = {k: data[k] for k in ("name", "parent_id", "order") if k in data}
        serializer.instance = run(service.update_department, serializer.instance, **changes)

    def perform_destroy(self, instance):
        run(service.delete_department, instance)

    @extend_schema(responses={200: OpenApiResponse(description="The departments in tree order.")})
    @action(detail=False, methods=["get"])
    def tree(self, request):
        """The account's departments in tree order: ``[{"department_id", "name", "parent_id", "depth",
        "members"}]`` (``account`` is required)."""
        given = filters.clean_filters(request.query_params, {"account": filters.account(request.user)})
        if "account" not in given:
            raise ValidationError({"account": "This filter is required."})
        rows = service.department_tree(given["account"])
        return Response([{"id": r["department"].pk, "department_id": r["department"].department_id,
                          "name": r["department"].name, "parent_id": r["department"].parent_id,
                          "depth": r["depth"], "members": r["members"]} for r in rows])


# ---- members ----------------------------------------------------------------------------------------
class WeComMemberSerializer(StrictModelSerializer):
    account = WeComAccountField(queryset=Account.objects.none())
    userid = serializers.CharField(max_length=USERID_MAX)
    name = serializers.CharField(max_length=MEMBER_NAME_MAX)
    departments = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2 ** 32 - 1),
                                        min_length=1, max_length=100, help_text="WeCom department ids.")
    enable = serializers.BooleanField(required=False)

    class Meta:
        model = WeComMember
        fields = ["id", "account", "userid", "name", "alias", "departments", "main_department", "position",
                  "mobile", "email", "gender", "telephone", "status", "enable", "synced_at"]
        read_only_fields = ["id", "main_department", "status", "synced_at"]
        validators = []

    def validate(self, attrs):
        if self.instance is not None:
            for fixed in ("account", "userid"):
                if fixed in attrs and attrs[fixed] != getattr(self.instance, fixed):
                    raise ValidationError({fixed: "It cannot change."})
        return attrs


class WeComMemberViewSet(SyncMixin, _ContactsViewSet):
    """WeCom members. Filters: ``account`` (name), ``department`` (a department id; its members),
    ``search`` (user id, name, mobile, email, position). ``POST sync/`` with ``{"account"}``: a full
    contacts sync (departments, members, tags) as a job, 202; its ``done``/``total`` grow as
    members are written."""

    model = WeComMember
    serializer_class = WeComMemberSerializer
    sync_kind = SyncJob.Kind.WECOM_CONTACTS
    filter_parsers = {"department": _department_id, "search": filters.text}

    def get_queryset(self):
        return super().get_queryset().order_by("account__name", "userid")

    def filter_more(self, qs, given):
        if "department" in given:
            qs = service.members_in_department(qs, given["department"])
        if "search" in given:
            term = given["search"]
            qs = qs.filter(Q(userid__icontains=term) | Q(name__icontains=term) | Q(mobile__icontains=term)
                           | Q(email__icontains=term) | Q(position__icontains=term))
        return qs

    def _fields(self, data):
        return {k: v for k, v in data.items() if k not in ("account",)}

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = run(service.create_member, data["account"], self._fields(data))

    def perform_update(self, serializer):
        data = {k: v for k, v in self._fields(serializer.validated_data).items() if k != "userid"}
        serializer.instance = run(service.update_member, serializer.instance, data)

    def perform_destroy(self, instance):
        run(service.delete_member, instance)

    @extend_schema(request=SyncRequestSerializer, responses=SYNC_RESPONSES)
    @action(detail=False, methods=["post"], required_permissions=[("change", WeComMember)])
    def sync(self, request):
        """Sync the account's WeCom contacts (a queued job): 202 with the job to poll."""
        serializer = self.scoped(SyncRequestSerializer, data=request.data)
        serializer.is_valid(raise_exception=True)
        account = serializer.validated_data["account"]
        if account.channel != "wecom":
            raise ValidationError({"account": f"{account.name} is not a WeCom app: contacts are WeCom's."})
        return self._sync(request)

    @extend_schema(responses={200: SyncJobSerializer, 404: OpenApiResponse(description="No such job.")})
    @action(detail=False, methods=["get"], url_path=r"sync/(?P<job_id>[0-9]{1,18})", url_name="sync-status",
            required_permissions=[("view", WeComMember)])
    def sync_status(self, request, job_id=None):
        return self._sync_status(request, job_id)


# ---- tags -------------------------------------------------------------------------------------------
class WeComTagSerializer(StrictModelSerializer):
    account = WeComAccountField(queryset=Account.objects.none())
    name = serializers.CharField(max_length=TAG_NAME_MAX)
    userids = serializers.SerializerMethodField(help_text="Members with the tag (user ids).")

    class Meta:
        model = WeComTag
        fields = ["id", "account", "tag_id", "name", "departments", "userids", "synced_at"]
        read_only_fields = ["id", "tag_id", "departments", "synced_at"]
        validators = []

    def get_userids(self, obj) -> list[str]:
        return list(obj.memberships.values_list("userid", flat=True))

    def validate(self, attrs):
        if self.instance is not None and "account" in attrs and attrs["account"] != self.instance.account:
            raise ValidationError({"account": "A tag cannot move to another account."})
        return attrs


class TagMembersSerializer(StrictSerializer):
    userids = serializers.ListField(child=serializers.CharField(max_length=USERID_MAX), required=False,
                                    max_length=10_000)
    department_ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2 ** 32 - 1),
                                           required=False, max_length=100)

    def validate(self, attrs):
        if not attrs.get("userids") and not attrs.get("department_ids"):
            raise ValidationError({"userids": "Give user ids or department ids."})
        return attrs


class WeComTagViewSet(_ContactsViewSet):
    """WeCom contacts tags. Filter: ``account``. ``POST {id}/add-members/`` and ``remove-members/``
    with ``{"userids", "department_ids"}``: WeCom's unknown ones come back in ``invalid_users`` /
    ``invalid_parties``."""

    model = WeComTag
    serializer_class = WeComTagSerializer

    def get_queryset(self):
        return super().get_queryset().order_by("account__name", "name")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = run(service.create_tag, data["account"], data["name"])

    def perform_update(self, serializer):
        if "name" in serializer.validated_data:
            serializer.instance = run(service.rename_tag, serializer.instance, serializer.validated_data["name"])

    def perform_destroy(self, instance):
        run(service.delete_tag, instance)

    def _members(self, request, add: bool):
        tag = self.get_object()
        serializer = TagMembersSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = run(service.change_tag_members, tag, data.get("userids"), data.get("department_ids"), add=add)
        return Response(result, status=status.HTTP_200_OK)

    @extend_schema(request=TagMembersSerializer, responses={200: OpenApiResponse(description="What changed.")})
    @action(detail=True, methods=["post"], url_path="add-members",
            required_permissions=[("view", WeComTag), ("change", WeComTag)])
    def add_members(self, request, pk=None):
        return self._members(request, True)

    @extend_schema(request=TagMembersSerializer, responses={200: OpenApiResponse(description="What changed.")})
    @action(detail=True, methods=["post"], url_path="remove-members",
            required_permissions=[("view", WeComTag), ("change", WeComTag)])
    def remove_members(self, request, pk=None):
        return self._members(request, False)


__all__ = ["WeComDepartmentViewSet", "WeComMemberViewSet", "WeComTagViewSet"]
