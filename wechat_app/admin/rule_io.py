"""The admin's bridge to the rule services: import preview/apply, export, change notification.

The rule-file dialect itself (webot YAML/JSON) belongs to ``services.rules``; the admin only adds
the preview: the import runs inside a transaction that is rolled back, and the difference between
the account's rules before and during it is what the operator confirms.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import yaml
from django.db import transaction

from ..models import Rule


class ImportFailed(Exception):
    """The file could not be imported (the message names the rule and the problem)."""


@dataclass
class ImportPreview:
    created: list[dict] = field(default_factory=list)
    updated: list[dict] = field(default_factory=list)
    deleted: list[dict] = field(default_factory=list)
    unchanged: list[dict] = field(default_factory=list)

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


_SNAPSHOT_FIELDS = ("name", "parent__name", "priority", "enabled", "match_kind", "match_value", "match_key",
                    "match_flags", "replies", "no_reply", "follow_up_timeout", "follow_up_retries")


def _snapshot(account) -> dict[str, dict]:
    return {row["name"]: row for row in Rule.objects.filter(account=account).values(*_SNAPSHOT_FIELDS)}


def _services():
    from ..services import rules as rule_services  # the engine's service layer

    return rule_services


class _Rollback(Exception):
    pass


def _run_import(account, content: str, replace: bool):
    services = _services()
    try:
        return services.import_rules(account, content, replace=replace)
    except (ValueError, yaml.YAMLError) as err:  # RuleSpecError / RuleFileError are ValueErrors
        raise ImportFailed(str(err)) from err
    except Exception as err:
        if err.__class__.__name__.endswith("Error") and err.__class__.__module__.startswith("wechat_app"):
            raise ImportFailed(str(err)) from err
        raise


def diff(before: dict[str, dict], after: dict[str, dict]) -> ImportPreview:
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


def preview_import(account, content: str, *, replace: bool = False) -> ImportPreview:
    """What importing ``content`` would create, update and delete; nothing is kept."""
    before = _snapshot(account)
    result = None
    try:
        with transaction.atomic():
            _run_import(account, content, replace)
            result = diff(before, _snapshot(account))
            raise _Rollback
    except _Rollback:
        pass
    return result


def apply_import(account, content: str, *, replace: bool = False) -> ImportPreview:
    before = _snapshot(account)
    with transaction.atomic():
        _run_import(account, content, replace)
        result = diff(before, _snapshot(account))
    return result


def export(account, fmt: str = "yaml") -> str:
    data = _services().export_rules(account)
    if isinstance(data, (bytes, str)):
        text = data.decode() if isinstance(data, bytes) else data
        if fmt != "json":
            return text
        data = yaml.safe_load(text)
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def rules_changed(account_ids) -> None:
    """Invalidate the compiled rule index of these accounts in every process.

    Used after bulk changes that bypass ``Rule.save()`` (``QuerySet.update``), which the
    ``post_save`` receivers never see.
    """
    bump = _services().bump_rules_version
    for account_id in set(account_ids):
        bump(account_id)
