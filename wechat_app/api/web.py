"""REST API of the web side: QR codes (CRUD, figures, image) and short links.

- ``/qrcodes/`` (``?account=&kind=``): creating one asks WeChat for it (/cgi-bin/qrcode/create);
  a refusal is a 400 with WeChat's code, an unreachable WeChat a 502, and nothing is saved.
  Afterwards only ``name`` and ``rule`` change (the code itself is WeChat's). Each code carries
  its ``figures`` (scans, new followers, users, from the message log); ``GET .../{id}/png/`` is
  the image; ``POST .../{id}/shorten/`` gives its URL a WeChat short key.
- ``/short-links/`` (``?account=``): ``POST {"account", "long_data", "expire_seconds"}`` makes a
  short key (genshorten); ``GET .../{id}/expand/`` asks WeChat what it stands for (fetchshorten).
Permissions: the models' (view/add/change/delete ``qrcode`` / ``shortlink``) in the user's accounts.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..client import WeChatAPIError
from ..client.errors import DisallowedBaseURL
from ..models import Account, QRCode, Rule, ShortLink
from ..services import qrcodes
from ..services.access import accessible_accounts
from . import filters
from .menus import WeChatUnavailable, wechat_refusal
from .serializers import AccountNameField, StrictModelSerializer
from .views import AppViewSetMixin

FIXED = ("account", "kind", "scene_id", "scene_str", "expire_seconds")


def _wechat_call(func, *args):
    try:
        return func(*args)
    except DisallowedBaseURL as err:
        raise WeChatUnavailable(str(err)) from None
    except WeChatAPIError as err:
        raise wechat_refusal(err) from None


class QRCodeSerializer(StrictModelSerializer):
    account = AccountNameField(queryset=Account.objects.all())
    rule = serializers.PrimaryKeyRelatedField(queryset=Rule.objects.all(), required=False, allow_null=True)
    figures = serializers.SerializerMethodField()

    class Meta:
        model = QRCode
        fields = ["id", "account", "name", "kind", "scene_id", "scene_str", "scene", "expire_seconds", "ticket",
                  "url", "short_key", "expires_at", "rule", "figures", "created_at"]
        read_only_fields = ["id", "scene", "ticket", "url", "short_key", "expires_at", "created_at"]
        validators = []

    def get_figures(self, obj) -> dict:
        cached = self.context.get("figures")
        return cached[obj.pk] if cached and obj.pk in cached else qrcodes.figures(obj)

    def validate(self, attrs):
        if self.instance is not None:
            for name in FIXED:
                if name in attrs and attrs[name] != getattr(self.instance, name):
                    raise serializers.ValidationError({name: "A code cannot change once WeChat made it; create "
                                                             "a new one."})
        instance = self.instance or QRCode()
        for name, value in attrs.items():
            setattr(instance, name, value)
        try:
            instance.full_clean(exclude=["ticket", "url", "scene"], validate_unique=False)
        except DjangoValidationError as err:
            raise serializers.ValidationError(serializers.as_serializer_error(err)) from err
        attrs["expire_seconds"] = instance.expire_seconds
        return attrs

    def create(self, validated_data):
        qr = QRCode(**validated_data)
        return _wechat_call(qrcodes.create_qrcode, qr)


class QRCodeViewSet(AppViewSetMixin, viewsets.ModelViewSet):
    """QR codes with scene tracking. Filters: ``account`` (name), ``kind``."""

    serializer_class = QRCodeSerializer

    def get_queryset(self):
        return (QRCode.objects.filter(account__in=accessible_accounts(self.request.user))
                .select_related("account").order_by("-created_at", "-id"))

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {
            "account": filters.account(self.request.user), "kind": filters.choice(QRCode.Kind.values)})
        if "account" in given:
            qs = qs.filter(account=given["account"])
        if "kind" in given:
            qs = qs.filter(kind=given["kind"])
        return qs

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", None) or getattr(getattr(serializer, "child", None), "fields", {})
        if "account" in fields:
            fields["account"].queryset = accessible_accounts(self.request.user)
        if "rule" in fields:
            fields["rule"].queryset = Rule.objects.filter(account__in=accessible_accounts(self.request.user))
        return serializer

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset)
        context = {**self.get_serializer_context(), "figures": qrcodes.figures_for(rows)}
        data = QRCodeSerializer(rows, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @action(detail=True, methods=["get"], required_permissions=[("view", QRCode)])
    def png(self, request, pk=None):
        """The code's image (PNG), drawn from its URL."""
        qr = self.get_object()
        response = HttpResponse(qrcodes.png(qr), content_type="image/png")
        response["Content-Disposition"] = f'inline; filename="qrcode-{qr.account.name}-{qr.pk}.png"'
        return response

    @action(detail=True, methods=["post"], required_permissions=[("change", QRCode), ("add", ShortLink)])
    def shorten(self, request, pk=None):
        """Give the code's URL a WeChat short key (stored on the code and as a short link)."""
        qr = self.get_object()
        link = _wechat_call(qrcodes.shorten_qrcode_url, qr)
        return Response({"short_key": link.short_key, "short_link": link.pk})


class ShortLinkSerializer(StrictModelSerializer):
    account = AccountNameField(queryset=Account.objects.all())

    class Meta:
        model = ShortLink
        fields = ["id", "account", "long_data", "short_key", "expire_seconds", "expires_at", "created_at"]
        read_only_fields = ["id", "short_key", "expires_at", "created_at"]

    def validate(self, attrs):
        instance = ShortLink(**attrs)
        try:
            instance.full_clean(exclude=["short_key"])
        except DjangoValidationError as err:
            raise serializers.ValidationError(serializers.as_serializer_error(err)) from err
        return attrs

    def create(self, validated_data):
        return _wechat_call(qrcodes.shorten, validated_data["account"], validated_data["long_data"],
                            validated_data.get("expire_seconds") or ShortLink._meta.get_field("expire_seconds").default)


class ShortLinkViewSet(AppViewSetMixin, mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Short keys made by WeChat (genshorten). Filter: ``account`` (name)."""

    serializer_class = ShortLinkSerializer

    def get_queryset(self):
        return (ShortLink.objects.filter(account__in=accessible_accounts(self.request.user))
                .select_related("account").order_by("-created_at", "-id"))

    def filter_queryset(self, qs):
        if self.action != "list":
            return qs
        given = filters.clean_filters(self.request.query_params, {"account": filters.account(self.request.user)})
        if "account" in given:
            qs = qs.filter(account=given["account"])
        return qs

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", {})
        if "account" in fields:
            fields["account"].queryset = accessible_accounts(self.request.user)
        return serializer

    @action(detail=True, methods=["get"], required_permissions=[("view", ShortLink)])
    def expand(self, request, pk=None):
        """What WeChat says the short key stands for (fetchshorten)."""
        link = self.get_object()
        return Response(_wechat_call(qrcodes.expand, link.account, link.short_key))
