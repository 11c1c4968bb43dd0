"""Custom menus: publish, pull, roll back, delete, try match; the operations the admin, the REST
API, the CLI and the Celery task share.

Every publish (and rollback, and pull) records an immutable ``MenuVersion`` holding the exact
document and WeChat's answer. Publishing runs as the ``publish_menu_version`` task; without a
broker it runs at once, so the version returned already carries WeChat's answer.
Documents are validated (``client.menus.validate_menu``) before anything is sent: an invalid
one raises ``MenuSpecError`` and changes nothing. WeChat's refusals of synchronous calls (pull,
delete, try match) raise ``WeChatAPIError``; those of a publish are stored on its version.

WeCom apps (``channel == "wecom"``) have one menu, the agent menu (``/cgi-bin/menu/create?agentid=``,
``get``, ``delete``; the client binds them as ``client.menu``): the default menu here. They have no
conditional menus and no try match (``MenuStateError``).
"""
from __future__ import annotations

import difflib
import json
import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Max
from django.db.models.functions import Lower
from django.utils import timezone

from ..client import WeChatAPIError
from ..client.menus import (
    EVENT_BUTTON_TYPES,
    MenuSpecError,
    clean_pulled,
    iter_buttons,
    locate_error,
    validate_menu,
)
from ..models import Account, Menu, MenuVersion, MessageLog, Rule
from .tokens import get_client

logger = logging.getLogger("wechat_app.menus")

__all__ = [
    "MenuSpecError", "MenuStateError", "button_clicks", "delete_conditional", "delete_live", "diff", "due_version_ids",
    "link_rule", "menu_for_buttons", "publish", "pull", "rollback", "send_version", "try_match",
]

MENU_NOT_FOUND = 46003
CONDITIONAL_NOT_FOUND = 65301
# Events a menu button pushes, by lower-cased event name (the log keeps WeChat's spelling).
CLICK_EVENTS = {*(name.lower() for name in EVENT_BUTTON_TYPES.values()), "view", "view_miniprogram"}


class MenuStateError(ValueError):
    """The operation does not apply to the menu as it is (e.g. deleting a conditional menu that is
    not live); nothing was sent."""


# --- publishing ------------------------------------------------------------------------------------
def _next_number(account) -> int:
    # The account row is locked so that two publishes cannot take the same number.
    Account.objects.select_for_update().filter(pk=account.pk).first()
    last = MenuVersion.objects.filter(account=account).aggregate(m=Max("number"))["m"]
    return (last or 0) + 1


def _record(menu: Menu, document: dict, *, source: str, user=None, rolled_back_from=None,
            status=MenuVersion.Status.PENDING, menuid: str = "") -> MenuVersion:
    return MenuVersion.objects.create(
        account=menu.account, menu=menu, number=_next_number(menu.account), kind=menu.kind, document=document,
        source=source, rolled_back_from=rolled_back_from, status=status, menuid=menuid,
        published_by=user if getattr(user, "pk", None) else None,
        finished_at=None if status == MenuVersion.Status.PENDING else timezone.now())


def _send(version: MenuVersion) -> MenuVersion:
    """Start the task; without a broker it runs here and now (even inside a transaction), so the
    version returned carries WeChat's answer. With one, it is sent once the version is committed."""
    from .. import tasks
    from .enqueue import enqueue, runs_here

    here = runs_here(tasks.publish_menu_version.app)
    enqueue("publish_menu_version", version.pk, on_commit=not here)
    version.refresh_from_db()
    return version


def is_agent_menu_account(account) -> bool:
    """A WeCom app: its one menu is the agent menu."""
    return getattr(account, "channel", "mp") == "wecom"


def _refuse_for_wecom(account, what: str) -> None:
    if is_agent_menu_account(account):
        raise MenuStateError(f"WeCom apps have one menu (the agent menu): no {what}")


def publish(menu: Menu, user=None) -> MenuVersion:
    """Validate the draft and publish it as a new version (``MenuSpecError`` if invalid)."""
    if menu.is_conditional:
        _refuse_for_wecom(menu.account, "conditional menus")
    document = menu.validated_document()
    with transaction.atomic():
        menu.buttons = document["button"]
        if menu.is_conditional:
            menu.matchrule = document["matchrule"]
        menu.save(update_fields=["buttons", "matchrule", "updated_at"])
        version = _record(menu, document, source=MenuVersion.Source.PUBLISH, user=user)
    return _send(version)


def send_version(version_id: int) -> MenuVersion:
    """The task body: send a pending version to WeChat and store the answer (idempotent: a
    version already answered is returned untouched).

    Default menu: /cgi-bin/menu/create. Conditional: /cgi-bin/menu/addconditional, then
    /cgi-bin/menu/delconditional of the menu it replaces (in this order, so that a refused
    publish leaves the live menu in place).
    """
    with transaction.atomic():
        version = (MenuVersion.objects.select_for_update(of=("self",)).select_related("account", "menu")
                   .get(pk=version_id))
        if version.is_done:
            return version
        # The draft's row too: two publishes of one conditional menu must not both replace the same menuid.
        menu = Menu.objects.select_for_update().filter(pk=version.menu_id).first() if version.menu_id else None
        old_menuid = ""
        newer = _published_after(version)
        if newer is not None:
            # Its task ran late (a sweeper resend, workers out of order): sending it now would
            # replace the newer menu WeChat already shows.
            version.status, version.errmsg = MenuVersion.Status.FAILED, f"not sent: v{newer.number} was published since"
            version.finished_at = timezone.now()
            version.save(update_fields=["status", "errmsg", "finished_at"])
            return version
        try:
            client = get_client(version.account)
            if version.kind == Menu.Kind.CONDITIONAL:
                old_menuid = menu.menuid if menu is not None else ""
                version.menuid = client.menu.add_conditional(version.document)
            else:
                client.menu.create(version.document)
        except WeChatAPIError as err:
            version.status = MenuVersion.Status.FAILED
            version.errcode, version.errmsg = err.errcode, (err.errmsg or str(err))[:255]
            located = locate_error(version.document, err.errcode)
            version.problem_path = list(located[0]) if located else None
            logger.warning("menu version %s of account %s refused: %s", version.number, version.account.name, err)
        else:
            version.status, version.errcode, version.errmsg = MenuVersion.Status.PUBLISHED, 0, "ok"
        version.finished_at = timezone.now()
        version.save(update_fields=["status", "errcode", "errmsg", "problem_path", "menuid", "finished_at"])
        if version.status == MenuVersion.Status.PUBLISHED and menu is not None:
            menu.live_version = version
            menu.menuid = version.menuid
            menu.save(update_fields=["live_version", "menuid", "updated_at"])
            if old_menuid and old_menuid != version.menuid:
                _delete_conditional_quietly(client, old_menuid)
    return version


def _published_after(version: MenuVersion) -> MenuVersion | None:
    """A later version of the same menu (of the account's default menu, for a default one) that
    WeChat accepted, if any."""
    later = MenuVersion.objects.filter(account_id=version.account_id, kind=version.kind, number__gt=version.number,
                                       status=MenuVersion.Status.PUBLISHED)
    if version.kind == Menu.Kind.CONDITIONAL:
        if version.menu_id is None:
            return None
        later = later.filter(menu_id=version.menu_id)
    return later.order_by("-number").first()


def due_version_ids(older_than: float = 120, limit: int = 100) -> list[int]:
    """Versions still pending ``older_than`` seconds after they were made: their task was lost
    (the broker was down, a worker died); the ``resume_outbound`` beat task sends them again."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    return list(MenuVersion.objects.filter(status=MenuVersion.Status.PENDING, created_at__lt=cutoff)
                .order_by("pk").values_list("pk", flat=True)[:limit])


def _delete_conditional_quietly(client, menuid: str) -> None:
    try:
        client.menu.delete_conditional(menuid)
    except WeChatAPIError as err:  # the new menu is live; the old one may linger, which the log says
        if err.errcode != CONDITIONAL_NOT_FOUND:
            logger.warning("could not delete the replaced conditional menu %s: %s", menuid, err)


def rollback(version: MenuVersion, user=None) -> MenuVersion:
    """Publish an old version's document again, as a new version (the draft becomes that document)."""
    conditional = version.kind == Menu.Kind.CONDITIONAL
    document = validate_menu(version.document, conditional=conditional)
    with transaction.atomic():
        menu = Menu.objects.filter(pk=version.menu_id, account_id=version.account_id).first()
        if menu is None:
            if conditional:
                menu = Menu.objects.create(account=version.account, kind=Menu.Kind.CONDITIONAL,
                                           name=f"Conditional menu (v{version.number})")
            else:
                menu, _ = Menu.objects.get_or_create(account=version.account, kind=Menu.Kind.DEFAULT,
                                                     defaults={"name": "Default menu"})
        menu.buttons = document["button"]
        menu.matchrule = document.get("matchrule", {})
        menu.save(update_fields=["buttons", "matchrule", "updated_at"])
        new = _record(menu, document, source=MenuVersion.Source.ROLLBACK, user=user, rolled_back_from=version)
    return _send(new)


# --- reading and deleting what is live ---------------------------------------------------------------
def pull(account, user=None) -> list[Menu]:
    """Copy the live menus from WeChat (/cgi-bin/menu/get, or get_current_selfmenu_info for a menu
    made in WeChat's console) into drafts, recording each as a ``source="pull"`` version; returns
    the menus pulled (none when the account has no menu)."""
    client = get_client(account)
    try:
        answer = client.menu.get()
        if is_agent_menu_account(account):  # the agent menu: {"button": [...]}
            answer = {"menu": answer} if answer.get("button") else {}
    except WeChatAPIError as err:
        if err.errcode != MENU_NOT_FOUND:
            raise
        answer = {} if is_agent_menu_account(account) else _current_selfmenu(client)
    pulled: list[Menu] = []
    with transaction.atomic():
        if answer.get("menu"):
            document = _stored_form(answer["menu"], conditional=False)
            menu, _ = Menu.objects.get_or_create(account=account, kind=Menu.Kind.DEFAULT,
                                                 defaults={"name": "Default menu"})
            pulled.append(_adopt(menu, document, user, menuid=""))
        for item in answer.get("conditionalmenu") or []:
            menuid = str(item.get("menuid", ""))
            document = _stored_form(item, conditional=True)
            conditionals = Menu.objects.filter(account=account, kind=Menu.Kind.CONDITIONAL)
            menu = (conditionals.filter(menuid=menuid).first() if menuid else None) or next(
                (m for m in conditionals.filter(menuid="") if m.matchrule == document["matchrule"]), None)
            if menu is None:
                menu = Menu.objects.create(account=account, kind=Menu.Kind.CONDITIONAL,
                                           name=f"Conditional menu {menuid}".strip())
            pulled.append(_adopt(menu, document, user, menuid=menuid))
        # What WeChat no longer has is not live any more.
        stale = Menu.objects.filter(account=account).exclude(pk__in=[m.pk for m in pulled])
        stale.update(live_version=None, menuid="")
    return pulled


def _current_selfmenu(client) -> dict:
    """/cgi-bin/menu/get knows only menus made through the API; a menu made in WeChat's console
    shows in /cgi-bin/get_current_selfmenu_info (sub-buttons under {"list": [...]})."""
    current = client.menu.get_current()
    buttons = (current.get("selfmenu_info") or {}).get("button") or []
    return {"menu": {"button": buttons}} if current.get("is_menu_open") and buttons else {}


def _stored_form(raw: dict, *, conditional: bool) -> dict:
    """WeChat's answer as the document a draft stores: normalized when valid, else as cleaned
    (a menu made elsewhere is kept even if this app's validator would refuse it)."""
    cleaned = clean_pulled(raw)
    if conditional:
        cleaned.setdefault("matchrule", {})
    try:
        return validate_menu(cleaned, conditional=conditional)
    except MenuSpecError as err:
        logger.warning("pulled menu does not validate: %s", err)
        return cleaned


def _adopt(menu: Menu, document: dict, user, *, menuid: str) -> Menu:
    menu.buttons = document["button"]
    menu.matchrule = document.get("matchrule", {})
    version = _record(menu, document, source=MenuVersion.Source.PULL, user=user,
                      status=MenuVersion.Status.PUBLISHED, menuid=menuid)
    menu.live_version, menu.menuid = version, menuid
    menu.save()
    return menu


def delete_live(account, user=None) -> None:
    """Delete every live menu of the account on WeChat (/cgi-bin/menu/delete: the default menu and
    all conditional ones); drafts and versions stay."""
    get_client(account).menu.delete()
    Menu.objects.filter(account=account).update(live_version=None, menuid="", updated_at=timezone.now())
    logger.info("live menus of account %s deleted by %s", account.name, user or "-")


def delete_conditional(menu: Menu, user=None) -> None:
    """Delete one live conditional menu (/cgi-bin/menu/delconditional); its draft stays."""
    _refuse_for_wecom(menu.account, "conditional menus")
    if not menu.is_conditional:
        raise MenuStateError("only a conditional menu can be deleted alone; delete_live deletes the default menu")
    if not menu.menuid:
        raise MenuStateError("this conditional menu is not live on WeChat")
    try:
        get_client(menu.account).menu.delete_conditional(menu.menuid)
    except WeChatAPIError as err:
        if err.errcode != CONDITIONAL_NOT_FOUND:
            raise
    menu.menuid, menu.live_version = "", None
    menu.save(update_fields=["menuid", "live_version", "updated_at"])
    logger.info("conditional menu %s of account %s deleted by %s", menu.pk, menu.account.name, user or "-")


def try_match(account, user_id: str) -> dict:
    """The menu a follower sees (/cgi-bin/menu/trymatch): ``{"button": [...]}``.

    ``user_id`` is the follower's openid or WeChat id; an empty or malformed one is a ``ValueError``.
    """
    _refuse_for_wecom(account, "try match")
    user_id = (user_id or "").strip() if isinstance(user_id, str) else ""
    if not user_id or len(user_id) > 64 or any(c.isspace() for c in user_id):
        raise ValueError("give a follower's openid or WeChat id (up to 64 characters, no spaces)")
    return get_client(account).menu.try_match(user_id)


def menu_for_buttons(account, document: dict) -> Menu | None:
    """The account's live menu whose buttons are these (e.g. a ``try_match`` answer), if any."""
    wanted = clean_pulled({"button": document.get("button") or []})["button"]
    for menu in Menu.objects.filter(account=account, live_version__isnull=False).select_related("live_version"):
        if menu.live_version.document.get("button") == wanted:
            return menu
    return None


# --- history -------------------------------------------------------------------------------------------
def _pretty(document) -> list[str]:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def diff(older: MenuVersion | dict, newer: MenuVersion | dict) -> list[str]:
    """Unified diff lines between two versions (or documents), of their pretty-printed JSON."""
    def named(item, fallback):
        if isinstance(item, MenuVersion):
            return item.document, f"v{item.number}"
        return item, fallback

    a, a_name = named(older, "older")
    b, b_name = named(newer, "newer")
    return list(difflib.unified_diff(_pretty(a), _pretty(b), fromfile=a_name, tofile=b_name, lineterm=""))


def button_clicks(account, days: int = 7) -> dict[str, int]:
    """How many menu events each button key got in the last ``days`` days, from the message log
    (the key for click, scancode, pic and location buttons; the url for view buttons; the page
    path for mini program buttons)."""
    since = timezone.now() - timedelta(days=days)
    rows = (MessageLog.objects.filter(account=account, msg_type="event", created_at__gte=since)
            .alias(event_lower=Lower("event")).filter(event_lower__in=CLICK_EVENTS).exclude(event_key="")
            .values("event_key").annotate(n=Count("id")))
    return {row["event_key"]: row["n"] for row in rows}


# --- button -> rule ----------------------------------------------------------------------------------
def event_for_key(account, key: str) -> str:
    """The event a button pushes with this key (CLICK, scancode_push...), found in the account's
    menus; a view button pushes VIEW with its url, a mini program button view_miniprogram with
    its page path. CLICK when no button has it."""
    for menu in Menu.objects.filter(account=account):
        for _, button in iter_buttons(menu.document()):
            if not isinstance(button, dict):
                continue
            kind = button.get("type")
            if kind in EVENT_BUTTON_TYPES and button.get("key") == key:
                return EVENT_BUTTON_TYPES[kind]
            if kind == "view" and button.get("url") == key:
                return "VIEW"
            if kind == "miniprogram" and button.get("pagepath") == key:
                return "view_miniprogram"
    return "CLICK"


def link_rule(account, key: str, rule: Rule | None = None, *, reply_text: str = "", event: str | None = None) -> Rule:
    """Make ``rule`` (or a new text rule answering ``reply_text``) answer the button with ``key``:
    an event rule for the button's event (``event``, else found by ``event_for_key``) and that
    key. ``ValueError`` for an empty key or reply, or a rule of another account;
    ``ValidationError`` when the rule would be invalid."""
    key = (key or "").strip()
    if not key:
        raise ValueError("the button has no key")
    event = event or event_for_key(account, key)
    if rule is not None:
        if rule.account_id != account.pk:
            raise ValueError("the rule belongs to another account")
        rule.match_kind, rule.match_value, rule.match_key, rule.match_flags = "event", event, key, ""
        rule.full_clean()
        rule.save()
        return rule
    if not reply_text.strip():
        raise ValueError("give the reply text of the new rule")
    base = f"Menu button {key}"[:90]
    name, n = base, 1
    while Rule.objects.filter(account=account, name=name).exists():
        n += 1
        name = f"{base} ({n})"
    rule = Rule(account=account, name=name, match_kind="event", match_value=event, match_key=key,
                replies=[{"type": "text", "content": reply_text.strip()}])
    rule.full_clean()
    rule.save()
    return rule
