"""Rule files with a preview: what an import would change, applying it, exporting.

Shared by the admin (upload, preview, confirm) and the REST API (``dry_run``). The file dialect
itself (webot YAML/JSON) is ``engine.dialect``; ``services.rules.import_rules`` writes it. A
preview runs the real import inside a transaction that is rolled back, and reports the
difference between the account's rules before and during it, so the preview cannot disagree
with what a confirmed import does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from ..engine.dialect import dump_text
from ..engine.spec import RuleSpecError
from ..models import Rule
from .rules import export_rules, import_rules

_SNAPSHOT_FIELDS = ("name", "parent__name", "priority", "enabled", "match_kind", "match_value", "match_key",
                    "match_flags", "replies", "no_reply", "follow_up_timeout", "follow_up_retries")


class ImportFailed(ValueError):
    """The file could not be imported (the message names the rule and the problem)."""


@dataclass
class ImportPreview:
    """The rules an import creates, updates, deletes and leaves unchanged (snapshots as dicts)."""

    created: list[dict] = field(default_factory=list)
    updated: list[dict] = field(default_factory=list)
    deleted: list[dict] = field(default_factory=list)
    unchanged: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # imported all the same (``rule_warnings``)

    def summary(self) -> str:
        parts = [f"{len(self.created)} created", f"{len(self.updated)} updated"]
        if self.deleted:
            parts.append(f"{len(self.deleted)} deleted")
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} unchanged")
        return ", ".join(parts)

    @property
    def changes(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)

    def names(self) -> dict[str, list[str]]:
        return {group: [row["name"] for row in getattr(self, group)]
                for group in ("created", "updated", "deleted", "unchanged")}


def _snapshot(account) -> dict[str, dict]:
    return {row["name"]: row for row in Rule.objects.filter(account=account).values(*_SNAPSHOT_FIELDS)}


def _diff(before: dict[str, dict], after: dict[str, dict]) -> ImportPreview:
    preview = ImportPreview()
    for name, row in after.items():
        if name not in before:
            preview.created.append(row)
        elif before[name] != row:
            preview.updated.append({**row, "before": before[name]})
        else:
            preview.unchanged.append(row)
    preview.deleted = [row for name, row in before.items() if name not in after]
    for group in (preview.created, preview.updated, preview.deleted, preview.unchanged):
        group.sort(key=lambda r: (r.get("parent__name") or r["name"], r.get("parent__name") is not None, r["name"]))
    return preview


class _Rollback(Exception):
    pass


def _import(account, content, replace: bool) -> ImportPreview:
    before = _snapshot(account)
    try:
        summary = import_rules(account, content, replace=replace)
    except RuleSpecError as err:
        raise ImportFailed(str(err)) from err
    preview = _diff(before, _snapshot(account))
    preview.warnings = summary["warnings"]
    return preview


def preview_import(account, content, *, replace: bool = False) -> ImportPreview:
    """What importing ``content`` (text or loaded data) would change; nothing is kept."""
    result = None
    try:
        with transaction.atomic():
            result = _import(account, content, replace)
            raise _Rollback
    except _Rollback:
        pass
    return result


def apply_import(account, content, *, replace: bool = False) -> ImportPreview:
    """Import ``content`` (all or nothing) and report what changed."""
    with transaction.atomic():
        return _import(account, content, replace)


def export_text(account, fmt: str = "yaml") -> str:
    """The account's rules as a YAML (default) or JSON rule file."""
    return dump_text(export_rules(account), fmt)
