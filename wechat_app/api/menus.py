"""REST API for custom menus: drafts, their published versions, and the account-wide actions.

- ``/menus/``: the drafts (``Menu``), validated as the admin and the CLI validate them (the model's
  ``clean``, i.e. ``client.menus.validate_menu``): a problem is a 400 under ``buttons`` or
  ``matchrule`` naming the button ("button 2 › sub-button 4: name is 19 bytes, the limit is 16").
  ``POST /menus/{id}/publish/`` sends a draft; ``GET /menus/{id}/diff/`` compares it with what is live.
- ``/menu-versions/``: the immutable record of each publish, rollback and pull; ``diff`` compares two,
  ``rollback`` publishes an old one again.
- ``/accounts/{name}/menus/pull/``, ``.../delete-live/``, ``.../trymatch/``: what concerns an
  account's menus as a whole.

Permissions are those of the rest of the API (``AccountModelPermissions``): viewing needs
``view_menu`` (versions ``view_menuversion``); publishing, rolling back and deleting the live menu
need ``change_menu``, pulling ``add_menu`` too. Another account's menus are not found (404).
WeChat's answers: a refusal is a 400 with WeChat's code and message, an unreachable WeChat a 502;
either way nothing but the failed version's record is written.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from ..client import WeChatAPIError, WeChatTransportError
from ..client.menus import MenuSpecError, clean_pulled
from ..models import Account, Menu, MenuVersion
from ..models.accounts import name_validator
from ..models.menus import menu_spec_error_to_validation_error
from ..services import menus as menu_services
from ..services.access import accessible_accounts
from . import filters
from .errors import error_body
from .schema import OpenApiParameter, OpenApiResponse, extend_schema
from .serializers import AccountNameField, StrictModelSerializer, StrictSerializer
from .views import AppViewSetMixin

KIND_FIXED = "The kind of a menu cannot change; create a new menu instead."
ACCOUNT_FIXED = "A menu cannot move to another account; create a new menu there instead."
VERSION_NOT_FOUND = "No menu version with id {pk} in this account."


class WeChatUnavailable(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "WeChat could not be reached; nothing was changed there. Try again later."
    default_code = "wechat_unavailable"


class WeChatRefused(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "WeChat refused the request."
    default_code = "wechat_refused"


class MenuStateConflict(APIException):
    """The operation does not apply to the menu as it is (live, or not live); nothing was done."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "menu_state"


def wechat_refusal(err: WeChatAPIError) -> APIException:
    """The API's answer to a failed WeChat call: 502 when WeChat could not be reached (or answered
    "busy"), otherwise 400 with WeChat's code and message (never a token or secret: see the client)."""
    if isinstance(err, WeChatTransportError) or err.is_transient:
        return WeChatUnavailable(f"WeChat could not be reached: {err}")
    return WeChatRefused(f"WeChat refused: {err}")


def spec_error(err: MenuSpecError) -> ValidationError:
    """A ``MenuSpecError`` as field errors (``buttons`` / ``matchrule``), one message per button."""
    return ValidationError(serializers.as_serializer_error(menu_spec_error_to_validation_error(err)))


# ---- serializers ------------------------------------------------------------------------------------

class MenuSerializer(StrictModelSerializer):
    account = AccountNameField(queryset=Account.objects.all())
    buttons = serializers.JSONField(help_text=Menu._meta.get_field("buttons").help_text)
    matchrule = serializers.JSONField(required=False, help_text=Menu._meta.get_field("matchrule").help_text)
    live_version = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True,
                                                      help_text="The version WeChat shows now (null: none).")
    has_unpublished_changes = serializers.BooleanField(read_only=True)

    class Meta:
        model = Menu
        fields = ["id", "account", "kind", "name", "buttons", "matchrule", "menuid", "live_version",
                  "has_unpublished_changes", "created_at", "updated_at"]
        read_only_fields = ["id", "menuid", "created_at", "updated_at"]
        validators = []  # "one default menu per account" is reported on the kind, in validate()

    def validate(self, attrs):
        if self.instance is not None:
            for name, message in (("account", ACCOUNT_FIXED), ("kind", KIND_FIXED)):
                if name in attrs and attrs[name] != getattr(self.instance, name):
                    raise ValidationError({name: message})
        instance = self.instance or Menu()
        for name, value in attrs.items():
            setattr(instance, name, value)
        if instance.kind == Menu.Kind.DEFAULT and instance.account_id is not None:
            others = Menu.objects.filter(account_id=instance.account_id, kind=Menu.Kind.DEFAULT)
            if instance.pk is not None:
                others = others.exclude(pk=instance.pk)
            if others.exists():
                raise ValidationError({"kind": "This account already has a default menu."})
        # The model judges the tree (clean -> validate_menu), as for the admin and the CLI, and
        # normalizes it (strings stripped, match values as text): store what it would send.
        try:
            instance.full_clean(validate_unique=False)
        except DjangoValidationError as err:
            raise ValidationError(serializers.as_serializer_error(err)) from err
        attrs["buttons"], attrs["matchrule"] = instance.buttons, instance.matchrule
        return attrs


class MenuVersionSerializer(StrictModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)
    published_by = serializers.SerializerMethodField()
    problem = serializers.SerializerMethodField(help_text="The button WeChat's error concerns, for people.")

    class Meta:
        model = MenuVersion
        fields = ["id", "account", "menu", "number", "kind", "document", "source", "rolled_back_from", "status",
                  "errcode", "errmsg", "problem_path", "problem", "menuid", "published_by", "created_at",
                  "finished_at"]
        read_only_fields = fields

    def get_published_by(self, obj) -> str | None:
        return obj.published_by.get_username() if obj.published_by else None

    def get_problem(self, obj) -> str:
        return obj.problem_label()


class MenuDiffSerializer(StrictSerializer):
    older = serializers.IntegerField(allow_null=True, help_text="The older version's id (null: none, the newer "
                                                                "side is the first version or a never published draft).")
    newer = serializers.IntegerField(allow_null=True, help_text="The newer version's id (null: the draft).")
    diff = serializers.ListField(child=serializers.CharField(), help_text="Unified diff lines of the JSON.")


class TryMatchSerializer(StrictSerializer):
    user_id = serializers.CharField(max_length=64, help_text="A follower's OpenID or WeChat ID.")


class TryMatchResultSerializer(StrictSerializer):
    button = serializers.ListField(child=serializers.DictField(), help_text="The buttons the follower sees.")
    matched_menu = serializers.IntegerField(allow_null=True, help_text="The id of the live menu with these "
                                                                       "buttons, if it is one of this account's.")


# ---- views ---------------------------------------------------------------------------------------------

def version_response(version: MenuVersion) -> Response:
    """A version just made: 201 once WeChat accepted it, 202 while a worker sends it;
    if WeChat refused it, the refusal (400, or 502 when WeChat could not be reached) with the version."""
    version.refresh_from_db()
    data = MenuVersionSerializer(version).data
    if version.status == MenuVersion.Status.PUBLISHED:
        return Response(data, status=status.HTTP_201_CREATED)
    if version.status == MenuVersion.Status.PENDING:
        return Response(data, status=status.HTTP_202_ACCEPTED)
    problem = f" ({version.problem_label()})" if version.problem_path is not None else ""
    if version.errcode is None:
        detail, code = f"WeChat could not be reached: {version.errmsg}", status.HTTP_502_BAD_GATEWAY
        error = WeChatUnavailable.default_code
    else:
        detail, code = f"WeChat refused: {version.errcode} {version.errmsg}{problem}", status.HTTP_400_BAD_REQUEST
        error = WeChatRefused.default_code
    return Response(error_body(error, detail, version=data), status=code)


VERSION_ANSWERS = {
    201: MenuVersionSerializer, 202: MenuVersionSerializer,
    400: OpenApiResponse(description="Invalid menu (field errors), or WeChat refused it (`wechat_refused`, "
                                     "with the failed `version`)."),
    502: OpenApiResponse(description="WeChat could not be reached (`wechat_unavailable`, with the failed `version`)."),
}


class MenuViewSet(AppViewSetMixin, viewsets.ModelViewSet):
    """Menu drafts. Filters: `account` (name), `kind`. Editing a draft changes nothing on
    WeChat until it is published."""

    serializer_class = MenuSerializer

    def get_queryset(self):
        return (Menu.objects.filter(account__in=accessible_accounts(self.request.user))
                .select_related("account", "live_version").order_by("account__name", "-kind", "name", "id"))

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user), "kind": filters.choice(Menu.Kind.values)})
        if "account" in given:
            qs = qs.filter(account=given["account"])
        if "kind" in given:
            qs = qs.filter(kind=given["kind"])
        return qs

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", {})
        if "account" in fields:  # only the user's own accounts may be named
            fields["account"].queryset = accessible_accounts(self.request.user)
        return serializer

    def perform_destroy(self, instance):
        # Deleting the draft of a live menu would leave WeChat showing a menu nobody can edit.
        if instance.live_version_id is not None or instance.menuid:
            where = (f"menus/{instance.pk}/delete-live/" if instance.is_conditional
                     else f"accounts/{instance.account.name}/menus/delete-live/")
            raise MenuStateConflict(f"This menu is live on WeChat: take it off first (POST {where}), "
                                    "then delete the draft.")
        instance.delete()

    @extend_schema(request=None, responses=VERSION_ANSWERS)
    @action(detail=True, methods=["post"], required_permissions=[("change", Menu)])
    def publish(self, request, pk=None):
        """Publish the draft: records a new version and sends it to WeChat (in a worker when one runs).

        201 with the version once WeChat accepted it, 202 while it is queued; 400 with field errors
        if the draft is invalid (nothing is sent), or with WeChat's refusal stored on the version."""
        menu = self.get_object()
        try:
            version = menu_services.publish(menu, user=request.user)
        except MenuSpecError as err:
            raise spec_error(err) from err
        except menu_services.MenuStateError as err:  # a conditional menu of a WeCom app
            raise MenuStateConflict(str(err)) from err
        except WeChatAPIError as err:
            raise wechat_refusal(err) from err
        return version_response(version)

    @extend_schema(request=None, responses={200: MenuSerializer,
                                            409: OpenApiResponse(description="Not a live conditional menu."),
                                            502: OpenApiResponse(description="WeChat could not be reached.")})
    @action(detail=True, methods=["post"], url_path="delete-live", required_permissions=[("change", Menu)])
    def delete_live(self, request, pk=None):
        """Take this conditional menu off WeChat (menu/delconditional); the draft stays. The default
        menu goes only with all the others: `accounts/{name}/menus/delete-live/`."""
        menu = self.get_object()
        try:
            menu_services.delete_conditional(menu, user=request.user)
        except menu_services.MenuStateError as err:
            raise MenuStateConflict(str(err)) from err
        except WeChatAPIError as err:
            raise wechat_refusal(err) from err
        return Response(MenuSerializer(menu, context=self.get_serializer_context()).data)

    @extend_schema(responses=MenuDiffSerializer)
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        """What publishing the draft would change: the live version against the draft."""
        menu = self.get_object()
        live = menu.live_version
        lines = menu_services.diff(live.document if live else {}, menu.document())
        return Response({"older": live.pk if live else None, "newer": None, "diff": lines})


class MenuVersionViewSet(AppViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Published menu versions (read-only), newest first. Filters: `account` (name), `menu` (id),
    `kind`, `source`, `status`."""

    serializer_class = MenuVersionSerializer

    def get_queryset(self):
        return (MenuVersion.objects.filter(account__in=accessible_accounts(self.request.user))
                .select_related("account", "published_by").order_by("account__name", "-number"))

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user), "menu": filters.identifier,
            "kind": filters.choice(Menu.Kind.values), "source": filters.choice(MenuVersion.Source.values),
            "status": filters.choice(MenuVersion.Status.values),
        })
        for param, lookup in (("account", "account"), ("menu", "menu_id"), ("kind", "kind"),
                              ("source", "source"), ("status", "status")):
            if param in given:
                qs = qs.filter(**{lookup: given[param]})
        return qs

    @extend_schema(parameters=[OpenApiParameter("against", int, description=(
        "The id of the version to compare with (same account); by default the previous version of the same menu."))],
        responses=MenuDiffSerializer)
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        """The changes between two versions of an account's menus (unified diff of the JSON, older first)."""
        version = self.get_object()
        given = filters.clean_filters(request.query_params, {"against": filters.identifier})
        if "against" in given:
            other = MenuVersion.objects.filter(account_id=version.account_id, pk=given["against"]).first()
            if other is None:
                raise ValidationError({"against": [VERSION_NOT_FOUND.format(pk=given["against"])]})
        else:
            other = self._previous(version)
        older, newer = sorted([other, version], key=lambda v: v.number) if other else (None, version)
        lines = menu_services.diff(older if older else {}, newer)
        return Response({"older": older.pk if older else None, "newer": newer.pk, "diff": lines})

    @staticmethod
    def _previous(version: MenuVersion) -> MenuVersion | None:
        """The version before `version` of the same menu: the same kind, and for a conditional
        menu the same draft."""
        earlier = MenuVersion.objects.filter(account_id=version.account_id, kind=version.kind,
                                             number__lt=version.number)
        if version.kind == Menu.Kind.CONDITIONAL:
            if version.menu_id is None:  # its draft is gone: which versions were its own is not known
                return None
            earlier = earlier.filter(menu_id=version.menu_id)
        return earlier.order_by("-number").first()

    @extend_schema(request=None, responses=VERSION_ANSWERS)
    @action(detail=True, methods=["post"], required_permissions=[("change", Menu)])
    def rollback(self, request, pk=None):
        """Publish this version's menu again, as a new version (the draft follows it).

        Answers like `menus/{id}/publish/`: 201, 202 while queued, 400 or 502 when it failed."""
        version = self.get_object()
        try:
            new_version = menu_services.rollback(version, user=request.user)
        except MenuSpecError as err:
            raise spec_error(err) from err
        except WeChatAPIError as err:
            raise wechat_refusal(err) from err
        return version_response(new_version)


class AccountMenuViewSet(AppViewSetMixin, viewsets.GenericViewSet):
    """The menu actions of one account as a whole, under `accounts/{name}/menus/`."""

    lookup_field = "name"
    lookup_value_regex = name_validator.regex.pattern.strip("^$")
    serializer_class = MenuSerializer  # what pull answers; the others declare theirs

    def get_queryset(self):
        return accessible_accounts(self.request.user).order_by("name")

    @extend_schema(request=None, responses={200: MenuSerializer(many=True),
                                            502: OpenApiResponse(description="WeChat could not be reached.")})
    @action(detail=True, methods=["post"], url_path="menus/pull", pagination_class=None,  # a list, not a page
            required_permissions=[("add", Menu), ("change", Menu)])
    def pull(self, request, name=None):
        """Copy the menus WeChat shows now into drafts (the default one and the conditional ones),
        each recorded as a version; answers the drafts."""
        account = self.get_object()
        try:
            pulled = menu_services.pull(account, user=request.user)
        except WeChatAPIError as err:
            raise wechat_refusal(err) from err
        return Response(MenuSerializer(pulled, many=True).data)

    @extend_schema(request=None, responses={204: None,
                                            502: OpenApiResponse(description="WeChat could not be reached.")})
    @action(detail=True, methods=["post"], url_path="menus/delete-live", required_permissions=[("change", Menu)])
    def delete_live(self, request, name=None):
        """Delete the account's live menus on WeChat (the default one and every conditional one, as
        WeChat's menu/delete does). The drafts and the history stay."""
        account = self.get_object()
        try:
            menu_services.delete_live(account, user=request.user)
        except WeChatAPIError as err:
            raise wechat_refusal(err) from err
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=TryMatchSerializer,
                   responses={200: TryMatchResultSerializer,
                              400: OpenApiResponse(description="No such follower, or an invalid user_id."),
                              502: OpenApiResponse(description="WeChat could not be reached.")})
    @action(detail=True, methods=["post"], url_path="menus/trymatch", required_permissions=[("view", Menu)])
    def trymatch(self, request, name=None):
        """Which menu a follower sees (WeChat's trymatch): the buttons WeChat would show them."""
        account = self.get_object()
        serializer = TryMatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            seen = menu_services.try_match(account, serializer.validated_data["user_id"])
        except WeChatAPIError as err:
            raise wechat_refusal(err) from err
        except ValueError as err:
            raise ValidationError({"user_id": [str(err)]}) from err
        matched = menu_services.menu_for_buttons(account, seen)
        # As the drafts write buttons (WeChat's answer gives every leaf an empty sub_button).
        buttons = clean_pulled({"button": seen.get("button") or []})["button"]
        return Response({"button": buttons, "matched_menu": matched.pk if matched else None})
