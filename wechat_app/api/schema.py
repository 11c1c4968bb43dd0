"""OpenAPI annotations of the API's views, for drf-spectacular when the project uses it (the demo
project does, for /api/schema/). Without it they do nothing."""
from __future__ import annotations

try:
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import (
        OpenApiExample,
        OpenApiParameter,
        OpenApiResponse,
        PolymorphicProxySerializer,
        extend_schema,
        extend_schema_field,
        extend_schema_view,
        inline_serializer,
    )
except ImportError:  # the installing project has no drf-spectacular: no schema annotations to make
    def extend_schema(*args, **kwargs):
        return lambda view: view

    def extend_schema_field(*args, **kwargs):
        return lambda field: field

    def extend_schema_view(**kwargs):
        return lambda view: view

    class OpenApiParameter:
        QUERY = PATH = HEADER = "unused"

        def __init__(self, *args, **kwargs):
            pass

    class OpenApiResponse(OpenApiParameter):
        pass

    class OpenApiExample(OpenApiParameter):
        pass

    class PolymorphicProxySerializer(OpenApiParameter):
        pass

    class OpenApiTypes:
        STR = INT = BOOL = DATETIME = DATE = OBJECT = ANY = "unused"

    def inline_serializer(name, fields, **kwargs):
        from rest_framework import serializers

        return type(name, (serializers.Serializer,), dict(fields))

__all__ = ["OpenApiExample", "OpenApiParameter", "OpenApiResponse", "OpenApiTypes", "PolymorphicProxySerializer",
           "extend_schema", "extend_schema_field", "extend_schema_view", "inline_serializer"]
