"""The schema and docs pages of the API: ``api/schema/``, ``api/docs/`` (Swagger UI), ``api/redoc/``.

The pages' scripts and styles come from drf-spectacular-sidecar's static files (no CDN). They need
an active staff user (admin session or API token) unless ``WECHAT_APP["API_DOCS_PUBLIC"]``; a
browser that is not signed in is sent to the admin's login page and back. The drf-spectacular
settings are the app's (``schema.spectacular_settings_for_app``), not the project's.
"""
from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from drf_spectacular.settings import patched_settings, spectacular_settings
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework import exceptions, permissions

from ..conf import app_settings
from ..services.access import is_active_staff
from .base import AppAPIMixin
from .schema import spectacular_settings_for_app


class DocsPermission(permissions.BasePermission):
    message = "The API's schema and docs are for its users: sign in (admin session or API token)."

    def has_permission(self, request, view):
        return bool(app_settings.API_DOCS_PUBLIC or is_active_staff(request.user))


class DocsMixin(AppAPIMixin):
    docs_page = True  # left out of the schema (schema.only_app_endpoints)
    permission_classes = [DocsPermission]

    def dispatch(self, request, *args, **kwargs):
        # drf-spectacular reads its settings globally: the app's apply while the page is made.
        with patched_settings(spectacular_settings_for_app()):
            return super().dispatch(request, *args, **kwargs)


class SchemaView(DocsMixin, SpectacularAPIView):
    """The OpenAPI 3 schema: YAML, or JSON with `?format=json` (or `Accept: application/json`)."""

    renderer_classes = SpectacularAPIView.renderer_classes
    custom_settings = None  # applied by DocsMixin.dispatch


class PageMixin:
    """A docs page: an unauthenticated browser goes to the admin's login page and back."""

    def handle_exception(self, exc):
        if (isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed))
                and not self.request.META.get("HTTP_AUTHORIZATION")):
            try:
                login = reverse("admin:login")
            except NoReverseMatch:
                login = None
            if login:
                return HttpResponseRedirect(f"{login}?{urlencode({'next': self.request.get_full_path()})}")
        return super().handle_exception(exc)

    def _get_schema_url(self, request):
        namespace = request.resolver_match.namespace if request.resolver_match else ""
        return reverse(f"{namespace}:api-schema" if namespace else "api-schema")

    def _get_schema_auth_names(self):
        from drf_spectacular.extensions import OpenApiAuthenticationExtension

        found = [OpenApiAuthenticationExtension.get_match(auth) for auth in self.get_authenticators()]
        return [scheme.name for scheme in found if scheme]

    def get(self, request, *args, **kwargs):
        self.title = spectacular_settings.TITLE
        return super().get(request, *args, **kwargs)


class SwaggerView(PageMixin, DocsMixin, SpectacularSwaggerSplitView):
    """Swagger UI over the schema."""

    renderer_classes = SpectacularSwaggerSplitView.renderer_classes


class RedocView(PageMixin, DocsMixin, SpectacularRedocView):
    """ReDoc over the schema (the app's template: drf-spectacular's loads web fonts from Google)."""

    template_name = "wechat_app/api/redoc.html"
    renderer_classes = SpectacularRedocView.renderer_classes
