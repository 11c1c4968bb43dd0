"""Query-string filters of the list views, validated before any query runs.

A bad value (a NUL byte, which PostgreSQL refuses in any string; an impossible date; an unknown
choice) answers 400 naming the parameter, instead of failing in the database as a 500.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError

MAX_TEXT_LENGTH = 200


def clean_filters(params, parsers: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
    """The parsed values of the parameters named in ``parsers`` (name -> parser) that are given
    and not empty. A parser raises ``ValueError`` with the message for the user."""
    values, errors = {}, {}
    for name, parse in parsers.items():
        raw = params.get(name)
        if raw in (None, ""):
            continue
        try:
            values[name] = parse(raw)
        except (ValueError, OverflowError) as err:
            errors[name] = [str(err)]
    if errors:
        raise ValidationError(errors)
    return values


def text(raw: str) -> str:
    if "\x00" in raw:
        raise ValueError("Null characters are not allowed.")
    if len(raw) > MAX_TEXT_LENGTH:
        raise ValueError(f"Use at most {MAX_TEXT_LENGTH} characters.")
    return raw


def boolean(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError("Use true or false.")
    return raw == "true"


def choice(options) -> Callable[[str], str]:
    options = [str(option) for option in options]

    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"Use one of: {', '.join(options)}.")
        return raw

    return parse


def moment(raw: str):
    """An ISO 8601 date-time; without an offset, in the current time zone."""
    try:
        value = parse_datetime(text(raw))
    except ValueError:  # well-formed but impossible, such as month 13
        value = None
    if value is None:
        raise ValueError("Use an ISO 8601 date-time, such as 2024-05-01T08:00:00+08:00.")
    if settings.USE_TZ and timezone.is_naive(value):
        value = timezone.make_aware(value)
    if settings.USE_TZ:
        # In UTC: PostgreSQL refuses offsets Python accepts (-17:30); a year past 9999 once in
        # UTC is an OverflowError, a 400 like the rest.
        value = value.astimezone(dt_timezone.utc)
    return value


def identifier(raw: str) -> int:
    """An object's id: a positive integer that a database column can hold."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or int(raw) == 0:
        raise ValueError("Use an id: a positive whole number.")
    return int(raw)


def account(user) -> Callable[[str], Any]:
    """An account the user may access, by name: one that does not exist and one of another
    team's get the same answer (names cannot be probed)."""
    def parse(raw: str):
        from ..models.accounts import name_validator
        from ..services.access import accessible_accounts

        found = None
        if name_validator.regex.match(text(raw)):
            found = accessible_accounts(user).filter(name=raw).first()
        if found is None:
            raise ValueError(f"No account named {raw[:64]!r} that you can access.")
        return found

    return parse


def whole_number(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if (not raw.isascii() or not raw.isdigit() or len(raw) > len(str(maximum))
                or not minimum <= int(raw) <= maximum):
            raise ValueError(f"Use a whole number from {minimum} to {maximum}.")
        return int(raw)

    return parse


def check_order(values: dict, since: str = "since", until: str = "until") -> None:
    """A date range that ends before it starts is a 400 (rather than an empty answer)."""
    if since in values and until in values and values[until] <= values[since]:
        raise ValidationError({until: [f"{until} must be later than {since}."]})
