"""Request body parsers with limits: a deeply nested JSON body is a 400, never a RecursionError."""
from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Far deeper than any rule file or account needs (a rule with follow-ups and news articles is
# about a dozen levels), far shallower than the interpreter's recursion limit.
MAX_JSON_DEPTH = 64


def json_depth_exceeds(data, limit: int) -> bool:
    """Whether ``data`` (parsed JSON) nests deeper than ``limit`` containers (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than ``MAX_JSON_DEPTH``."""

    max_depth = MAX_JSON_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            too_deep = json_depth_exceeds(data, self.max_depth)
        except RecursionError:
            too_deep = True
        if too_deep:
            raise ParseError(f"JSON parse error - nested deeper than {self.max_depth} levels.")
        return data
