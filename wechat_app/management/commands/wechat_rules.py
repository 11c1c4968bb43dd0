"""Import and export an account's reply rules in the webot-compatible YAML/JSON dialect.

    python manage.py wechat_rules import FILE --account NAME [--replace] [--dry-run]
    python manage.py wechat_rules export --account NAME [--format yaml|json] [--output FILE]

FILE may be ``-`` for standard input. See docs/rules.md for the file format.
"""
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ...models import Account
from ...services.rule_files import ImportFailed, apply_import, export_text, preview_import


class Command(BaseCommand):
    help = "Import or export an account's reply rules (webot-dialog compatible YAML or JSON)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{import,export}")
        importing = actions.add_parser("import", help="Import rules from a YAML or JSON file ('-': stdin).")
        importing.add_argument("file")
        importing.add_argument("--account", required=True, help="Account name.")
        importing.add_argument("--replace", action="store_true",
                               help="Delete the account's existing rules first (default: update by name).")
        importing.add_argument("--dry-run", action="store_true",
                               help="Show what the import would create, update and delete; save nothing.")
        exporting = actions.add_parser("export", help="Print the account's rules as YAML or JSON.")
        exporting.add_argument("--account", required=True, help="Account name.")
        exporting.add_argument("--format", choices=("yaml", "json"), default="yaml")
        exporting.add_argument("--output", "-o", help="Write to this file instead of standard output.")

    def handle(self, *args, action, account, **options):
        try:
            account = Account.objects.get(name=account)
        except Account.DoesNotExist:
            raise CommandError(f"Unknown account {account!r}.") from None
        if action == "import":
            self._import(account, options["file"], options["replace"], options["dry_run"])
        else:
            self._export(account, options["format"], options.get("output"))

    def _import(self, account, path, replace, dry_run):
        if path == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(path).read_bytes()
            except OSError as err:
                raise CommandError(f"Cannot read {path}: {err.strerror or err}") from None
        try:
            result = (preview_import if dry_run else apply_import)(account, text, replace=replace)
        except ImportFailed as err:
            raise CommandError(f"{path}: {err}. Nothing was imported.") from None
        if dry_run:
            self.stdout.write(f"Dry run, nothing saved. Importing into {account.name} would give: "
                              f"{result.summary()}.")
            for group, names in result.names().items():
                if names and group != "unchanged":
                    self.stdout.write(f"  {group}: {', '.join(names)}")
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported into {account.name}: {result.summary()}."))
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))

    def _export(self, account, fmt, output):
        text = export_text(account, fmt)
        if output:
            try:
                Path(output).write_text(text, encoding="utf-8")
            except OSError as err:
                raise CommandError(f"Cannot write {output}: {err.strerror or err}") from None
            self.stderr.write(f"Exported the rules of {account.name} to {output}.")
        else:
            self.stdout.write(text, ending="")
