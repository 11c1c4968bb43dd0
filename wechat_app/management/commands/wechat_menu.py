"""Custom menus from the command line (WeChat's menu JSON, as webot-cli's ``webot menu``).

    python manage.py wechat_menu get --account NAME [--all]
    python manage.py wechat_menu create [FILE|-] --account NAME [--name LABEL] [--publish]
    python manage.py wechat_menu publish --account NAME [--menu ID]
    python manage.py wechat_menu pull --account NAME
    python manage.py wechat_menu history --account NAME [--limit N] [--json]
    python manage.py wechat_menu rollback VERSION --account NAME
    python manage.py wechat_menu delete --account NAME [--menu ID]

Exit codes a script can rely on: 0 done; 1 bad arguments (unknown account, menu or version,
unreadable file); 3 the menu JSON is invalid (nothing was stored or sent); 4 WeChat refused or
could not be reached (the version records the answer); 5 ``get``: the account has no live menu.
Messages go to standard error; standard output carries only JSON (``get``, ``history --json``)
or the one-line result.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ...client import WeChatAPIError
from ...client.menus import MenuSpecError, clean_pulled, validate_menu
from ...models import Account, Menu, MenuVersion
from ...services import menus as menu_service

EXIT_USAGE, EXIT_INVALID, EXIT_WECHAT, EXIT_NO_MENU = 1, 3, 4, 5


class Command(BaseCommand):
    help = "Read, store, publish, pull, list and roll back an account's custom menus (WeChat's menu JSON)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True,
                                        metavar="{get,create,publish,pull,history,rollback,delete}")

        def action(name, help_text):
            sub = actions.add_parser(name, help=help_text)
            sub.add_argument("--account", required=True, help="Account name.")
            return sub

        get = action("get", "Print the live default menu's JSON (from WeChat).")
        get.add_argument("--all", action="store_true",
                         help="Print WeChat's whole answer: the default menu and the conditional menus.")
        create = action("create", "Validate a menu JSON file ('-' or nothing: stdin) and store it as a draft.")
        create.add_argument("file", nargs="?", default="-")
        create.add_argument("--name", help="The draft's label (default: 'Default menu', or the conditional "
                                           "menu with the same match rule).")
        create.add_argument("--publish", action="store_true", help="Publish the draft at once.")
        publish = action("publish", "Publish a draft (default: the default menu's).")
        publish.add_argument("--menu", type=int, help="The id of the menu draft to publish.")
        action("pull", "Copy the live menus from WeChat into drafts.")
        history = action("history", "List the account's menu versions, newest first.")
        history.add_argument("--limit", type=int, default=20)
        history.add_argument("--json", action="store_true", help="Print the versions as JSON.")
        rollback = action("rollback", "Publish an old version again, as a new version.")
        rollback.add_argument("version", type=int, help="The version number (see history).")
        delete = action("delete", "Delete the live menus on WeChat (drafts and versions stay).")
        delete.add_argument("--menu", type=int, help="Delete only this conditional menu (its id).")

    def handle(self, *args, action, account, **options):
        try:
            account = Account.objects.get(name=account)
        except Account.DoesNotExist:
            raise CommandError(f"Unknown account {account!r}.", returncode=EXIT_USAGE) from None
        try:
            getattr(self, "_" + action)(account, **options)
        except MenuSpecError as err:
            raise CommandError("Invalid menu, nothing was stored or sent:\n" + str(err),
                               returncode=EXIT_INVALID) from None
        except WeChatAPIError as err:
            raise CommandError(f"WeChat refused: {err}", returncode=EXIT_WECHAT) from None

    # --- actions --------------------------------------------------------------------------------
    def _get(self, account, all=False, **options):  # noqa: A002 - the option's name
        from ...services.tokens import get_client

        try:
            answer = get_client(account).menu.get()
        except WeChatAPIError as err:
            if err.errcode == menu_service.MENU_NOT_FOUND:
                raise CommandError(f"Account {account.name} has no menu on WeChat.", returncode=EXIT_NO_MENU) from None
            raise
        payload = answer if all else clean_pulled(answer.get("menu") or {})
        self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))

    def _create(self, account, file="-", name=None, publish=False, **options):
        document = self._read_json(file)
        conditional = isinstance(document, dict) and "matchrule" in document
        document = validate_menu(document, conditional=conditional)
        with transaction.atomic():
            menu = self._draft_for(account, document, conditional, name)
            menu.buttons = document["button"]
            menu.matchrule = document.get("matchrule", {})
            if name:
                menu.name = name
            menu.save()
        self.stderr.write(f"Stored the {menu.get_kind_display().lower()} draft {menu.name!r} (menu {menu.pk}).")
        if publish:
            self._report(menu_service.publish(menu))
        else:
            self.stdout.write(f"menu {menu.pk}")

    def _draft_for(self, account, document, conditional, name) -> Menu:
        if not conditional:
            menu = Menu.objects.filter(account=account, kind=Menu.Kind.DEFAULT).first()
            return menu or Menu(account=account, kind=Menu.Kind.DEFAULT, name="Default menu")
        candidates = Menu.objects.filter(account=account, kind=Menu.Kind.CONDITIONAL)
        if name:
            menu = candidates.filter(name=name).first()
        else:
            menu = next((m for m in candidates if m.matchrule == document["matchrule"]), None)
        return menu or Menu(account=account, kind=Menu.Kind.CONDITIONAL, name=name or "Conditional menu")

    def _publish(self, account, menu=None, **options):
        drafts = Menu.objects.filter(account=account)
        found = drafts.filter(pk=menu).first() if menu else drafts.filter(kind=Menu.Kind.DEFAULT).first()
        if found is None:
            what = f"menu {menu}" if menu else "default menu draft"
            raise CommandError(f"Account {account.name} has no {what}.", returncode=EXIT_USAGE)
        self._report(menu_service.publish(found))

    def _pull(self, account, **options):
        pulled = menu_service.pull(account)
        if not pulled:
            self.stdout.write(f"Account {account.name} has no menu on WeChat; nothing pulled.")
            return
        self.stdout.write(f"Pulled {len(pulled)} menu(s): " + ", ".join(
            f"{m.name} (menu {m.pk}, v{m.live_version.number})" for m in pulled))

    def _history(self, account, limit=20, json=False, **options):  # noqa: A002 - the option's name
        versions = (MenuVersion.objects.filter(account=account).select_related("menu", "published_by")
                    .order_by("-number")[:max(limit, 0)])
        rows = [{"number": v.number, "kind": v.kind, "source": v.source, "status": v.status,
                 "menu": v.menu.name if v.menu else None, "menuid": v.menuid, "errcode": v.errcode,
                 "errmsg": v.errmsg, "problem": v.problem_label(),
                 "published_by": v.published_by.get_username() if v.published_by else None,
                 "created_at": v.created_at.isoformat(),
                 "rolled_back_from": v.rolled_back_from.number if v.rolled_back_from else None}
                for v in versions]
        if json:
            import json as jsonlib

            self.stdout.write(jsonlib.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not rows:
            self.stderr.write(f"Account {account.name} has no menu versions yet.")
            return
        for row in rows:
            extra = f" from v{row['rolled_back_from']}" if row["rolled_back_from"] else ""
            error = f" {row['errcode']} {row['errmsg']}" if row["status"] == "failed" else ""
            self.stdout.write(f"v{row['number']:<4} {row['created_at'][:19]}  {row['kind']:<11} "
                              f"{row['source'] + extra:<16} {row['status']:<9} {row['menu'] or '-'}"
                              f"{' by ' + row['published_by'] if row['published_by'] else ''}{error}")

    def _rollback(self, account, version, **options):
        found = MenuVersion.objects.filter(account=account, number=version).first()
        if found is None:
            raise CommandError(f"Account {account.name} has no menu version {version}.", returncode=EXIT_USAGE)
        self._report(menu_service.rollback(found))

    def _delete(self, account, menu=None, **options):
        if menu is None:
            menu_service.delete_live(account)
            self.stdout.write(f"Deleted the live menus of {account.name}.")
            return
        found = Menu.objects.filter(account=account, pk=menu).first()
        if found is None:
            raise CommandError(f"Account {account.name} has no menu {menu}.", returncode=EXIT_USAGE)
        try:
            menu_service.delete_conditional(found)
        except menu_service.MenuStateError as err:
            raise CommandError(str(err), returncode=EXIT_USAGE) from None
        self.stdout.write(f"Deleted the live conditional menu {found.name!r}.")

    # --- helpers --------------------------------------------------------------------------------
    def _read_json(self, path: str):
        try:
            raw = sys.stdin.read() if path == "-" else Path(path).read_bytes()
        except OSError as err:
            raise CommandError(f"Cannot read {path}: {err.strerror or err}", returncode=EXIT_USAGE) from None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            where = "standard input" if path == "-" else path
            raise CommandError(f"{where} is not JSON: {err}. Nothing was stored.", returncode=EXIT_INVALID) from None

    def _report(self, version: MenuVersion) -> None:
        if version.status == MenuVersion.Status.FAILED:
            where = f" ({version.problem_label()})" if version.problem_path is not None else ""
            raise CommandError(f"WeChat refused v{version.number}: {version.errcode} {version.errmsg}{where}",
                               returncode=EXIT_WECHAT)
        state = "published" if version.status == MenuVersion.Status.PUBLISHED else "queued"
        menuid = f" (menuid {version.menuid})" if version.menuid else ""
        self.stdout.write(f"v{version.number} {state}{menuid}")
