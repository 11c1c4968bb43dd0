"""OpenAPI annotations of the API's views, for drf-spectacular when the project uses it (the demo
project does, for /api/schema/). The app does not depend on it: without it they do nothing."""
from __future__ import annotations

try:
    from drf_spectacular.utils import (
        OpenApiExample,
        OpenApiParameter,
        OpenApiResponse,
        PolymorphicProxySerializer,
        extend_schema,
        extend_schema_view,
    )
except ImportError:  # the installing project has no drf-spectacular: no schema annotations to make
    def extend_schema(*args, **kwargs):
        return lambda view: view

    def extend_schema_view(**kwargs):
        return lambda view: view

    class OpenApiParameter:
        QUERY, PATH, HEADER, COOKIE = "query", "path", "header", "cookie"

        def __init__(self, *args, **kwargs):
            pass

    class OpenApiResponse(OpenApiParameter):
        pass

    class OpenApiExample(OpenApiParameter):
        pass

    class PolymorphicProxySerializer(OpenApiParameter):
        pass

__all__ = ["OpenApiExample", "OpenApiParameter", "OpenApiResponse", "PolymorphicProxySerializer", "extend_schema",
           "extend_schema_view"]
