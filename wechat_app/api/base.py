"""What every view of the app's API shares, declared by the app rather than taken from the
project's ``REST_FRAMEWORK`` setting (which may be empty, or tuned for the project's own API):
authentication, permissions, the error shape, throttling, pagination, parsers, renderers and the
schema class."""
from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.routers import APIRootView

from ..conf import app_settings
from .authentication import authenticators
from .errors import ReadOnlyToken, exception_handler
from .parsers import BoundedJSONParser
from .permissions import AccountModelPermissions
from .schema import AppAutoSchema
from .throttling import ApiRateThrottle


MAX_OFFSET = 10**12


class AppPagination(LimitOffsetPagination):
    """``?limit=&offset=``; ``API_PAGE_SIZE`` rows by default, at most ``API_MAX_PAGE_SIZE``."""

    @property
    def default_limit(self):
        return app_settings.API_PAGE_SIZE

    @property
    def max_limit(self):
        return app_settings.API_MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        # DRF ignores a bad limit and lets a huge offset reach the database (a 500): a bad value
        # is a 400 naming it.
        from . import filters

        filters.clean_filters(request.query_params, {
            self.limit_query_param: filters.whole_number(1, self.max_limit),
            self.offset_query_param: filters.whole_number(0, MAX_OFFSET)})
        return super().paginate_queryset(queryset, request, view)


class AppAPIMixin:
    """For any APIView of the app."""

    permission_classes = [AccountModelPermissions]
    parser_classes = [BoundedJSONParser, FormParser, MultiPartParser]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    pagination_class = AppPagination
    schema = AppAutoSchema()

    def get_authenticators(self):
        return authenticators()

    def get_throttles(self):
        return [ApiRateThrottle()]

    def check_permissions(self, request):
        # Count the request before judging it (DRF counts after): refused and anonymous requests
        # are throttled too.
        self.check_throttles(request)
        self._throttled_already = True
        super().check_permissions(request)

    def check_throttles(self, request):
        if not getattr(self, "_throttled_already", False):
            super().check_throttles(request)

    def get_exception_handler(self):
        return exception_handler

    def get_view_description(self, html=False):
        """The docstring as Markdown (RST ``literals`` shown as `literals`), for the browsable API."""
        from django.utils.encoding import smart_str
        from rest_framework.utils import formatting

        from .schema import markdown

        text = getattr(self, "description", None) or formatting.dedent(smart_str(self.__class__.__doc__ or ""))
        text = markdown(text)
        return formatting.markup_description(text) if html else text

    def permission_denied(self, request, message=None, code=None):
        # A read-only token refused for an unsafe method says so, whatever refused it.
        from ..services.access import is_read_only

        if request.user and is_read_only(request.user) and request.method not in ("GET", "HEAD", "OPTIONS"):
            raise ReadOnlyToken()
        super().permission_denied(request, message=message, code=code)


class AppViewSetMixin(AppAPIMixin):
    """What every viewset of the app's API shares (``AppAPIMixin``), and ``required_permissions``:
    set per custom action, see ``AccountModelPermissions``.

    Filter a view's objects with ``services.access.accessible_accounts(self.request.user)``: that
    applies the user's account grants and the request's API token limits."""

    required_permissions = None
    reads_only = False  # an action that changes nothing although it is a POST (read-only tokens may use it)


class AppAPIRootView(AppAPIMixin, APIRootView):
    """The API root: a link to each list."""

    permission_classes = [AccountModelPermissions]
    required_permissions = ()  # any active staff user (no model permission to check)
    schema = None  # not an operation
