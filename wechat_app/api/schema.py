"""OpenAPI annotations of the API's views, for drf-spectacular when the project uses it (the demo
project does, for /api/schema/). The app does not depend on it: without it they do nothing."""
from __future__ import annotations

try:
    from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
except ImportError:  # the installing project has no drf-spectacular: no schema annotations to make
    def extend_schema(*args, **kwargs):
        return lambda view: view

    class OpenApiParameter:
        def __init__(self, *args, **kwargs):
            pass

    class OpenApiResponse(OpenApiParameter):
        pass

__all__ = ["OpenApiParameter", "OpenApiResponse", "extend_schema"]
