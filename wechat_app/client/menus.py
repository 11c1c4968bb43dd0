"""WeChat custom menus: the one validator of menu documents (pure Python, no Django).

A menu document is WeChat's JSON: ``{"button": [...]}``, plus ``"matchrule": {...}`` for a
conditional (personalized) menu. The model, the admin, the CLI and the REST API all validate
with ``validate_menu``, before anything is sent; its errors name each button by its path.
https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html
https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Personalized_menu_interface.html
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

BUTTON_TYPES = ("click", "view", "miniprogram", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "article_id",
                "article_view_limited")
# Types whose button pushes an event carrying its key to the callback (the reply engine matches it).
EVENT_BUTTON_TYPES = {"click": "CLICK", "scancode_push": "scancode_push", "scancode_waitmsg": "scancode_waitmsg",
                      "pic_sysphoto": "pic_sysphoto", "pic_photo_or_album": "pic_photo_or_album",
                      "pic_weixin": "pic_weixin", "location_select": "location_select"}
MATCH_FIELDS = ("tag_id", "sex", "country", "province", "city", "client_platform_type", "language")

# The fields each type requires (and the only action fields it may carry).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "click": ("key",), "view": ("url",), "miniprogram": ("url", "appid", "pagepath"),
    "scancode_push": ("key",), "scancode_waitmsg": ("key",), "pic_sysphoto": ("key",),
    "pic_photo_or_album": ("key",), "pic_weixin": ("key",), "location_select": ("key",),
    "media_id": ("media_id",), "article_id": ("article_id",), "article_view_limited": ("article_id",),
}
ACTION_FIELDS = ("key", "url", "appid", "pagepath", "media_id", "article_id")
BUTTON_FIELDS = ("type", "name", *ACTION_FIELDS, "sub_button")

# Limits in bytes of UTF-8, as WeChat counts them.
TOP_NAME_BYTES = 16
SUB_NAME_BYTES = 60
KEY_BYTES = 128
URL_BYTES = 1024
OTHER_FIELD_BYTES = {"appid": 64, "pagepath": 1024, "media_id": 128, "article_id": 128}
MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5

SEX_VALUES = {"1": "male", "2": "female"}
PLATFORM_VALUES = {"1": "iOS", "2": "Android", "3": "others"}
LANGUAGES = ("zh_CN", "zh_TW", "zh_HK", "en", "id", "ms", "es", "ko", "it", "ja", "pl", "pt", "ru", "th",
             "vi", "ar", "hi", "he", "tr", "de", "fr")
URL_RE = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
# Control characters (NUL included, which PostgreSQL's JSON cannot store) and lone surrogates.
CONTROL_RE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class MenuProblem:
    """One thing wrong with a menu document, at a button path.

    ``path``: ``()`` the menu itself, ``(i,)`` top-level button i, ``(i, j)`` its sub-button j (0-based).
    """

    path: tuple[int, ...]
    field: str
    message: str

    def where(self) -> str:
        """The button's name for people: "button 2 › sub-button 4" (1-based), or "menu"."""
        if not self.path:
            return "match rule" if self.field == "matchrule" else "menu"
        parts = [f"button {self.path[0] + 1}"]
        if len(self.path) > 1:
            parts.append(f"sub-button {self.path[1] + 1}")
        return " › ".join(parts)

    def label(self) -> str:
        return f"{self.where()}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"path": list(self.path), "field": self.field, "message": self.message, "label": self.label()}


class MenuSpecError(ValueError):
    """A menu document WeChat would refuse; ``problems`` lists every problem found."""

    def __init__(self, problems: list[MenuProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(p.label() for p in self.problems))


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


class _Checker:
    def __init__(self):
        self.problems: list[MenuProblem] = []

    def add(self, path, field, message):
        self.problems.append(MenuProblem(tuple(path), field, message))

    def text(self, value, path, field, limit: int | None, *, required: bool = True) -> str | None:
        """A stripped string within ``limit`` UTF-8 bytes, or None after recording the problem."""
        if value is None or value == "":
            if required:
                self.add(path, field, f"{field} is required")
            return None
        if not isinstance(value, str):
            self.add(path, field, f"{field} must be text")
            return None
        value = value.strip()
        if not value:
            self.add(path, field, f"{field} is required")
            return None
        if CONTROL_RE.search(value):
            self.add(path, field, f"{field} contains a control character")
            return None
        size = utf8_len(value)
        if limit is not None and size > limit:
            self.add(path, field, f"{field} is {size} bytes, the limit is {limit}")
            return None
        return value

    def button(self, raw, path: tuple[int, ...]) -> dict[str, Any] | None:
        top = len(path) == 1
        if not isinstance(raw, dict):
            self.add(path, "button", "a button must be an object with a name and a type")
            return None
        unknown = sorted(set(raw) - set(BUTTON_FIELDS))
        if unknown:
            self.add(path, "button", f"unknown field(s): {', '.join(map(str, unknown))}")
        out: dict[str, Any] = {}
        name = self.text(raw.get("name"), path, "name", TOP_NAME_BYTES if top else SUB_NAME_BYTES)
        if name is not None:
            out["name"] = name
        subs = raw.get("sub_button")
        if subs is not None and not isinstance(subs, list):
            self.add(path, "sub_button", "sub_button must be a list")
            subs = None
        if subs and not top:
            self.add(path, "sub_button", "a sub-button cannot have sub-buttons of its own")
            subs = None
        if subs:
            if len(subs) > MAX_SUB_BUTTONS:
                self.add(path, "sub_button", f"{len(subs)} sub-buttons, the limit is {MAX_SUB_BUTTONS}")
            carried = [f for f in ("type", *ACTION_FIELDS) if raw.get(f) not in (None, "")]
            if carried:
                self.add(path, carried[0], "a button with sub-buttons has no action of its own "
                                           f"(remove {', '.join(carried)})")
            out["sub_button"] = [b for j, item in enumerate(subs[:MAX_SUB_BUTTONS])
                                 if (b := self.button(item, (*path, j))) is not None]
            if len(out["sub_button"]) != len(subs[:MAX_SUB_BUTTONS]):
                return None
            return out if len(out) == 2 else None
        kind = raw.get("type")
        if kind in (None, ""):
            self.add(path, "type", "type is required" + (" (or sub-buttons)" if top else ""))
            return None
        if kind not in BUTTON_TYPES:
            self.add(path, "type", f"unknown type {kind!r}; one of: {', '.join(BUTTON_TYPES)}")
            return None
        out["type"] = kind
        required = REQUIRED_FIELDS[kind]
        for field in ACTION_FIELDS:
            if field in required:
                continue
            if raw.get(field) not in (None, ""):
                self.add(path, field, f"{field} is not used by a {kind} button")
        ok = name is not None
        for field in required:
            if field == "key":
                value = self.text(raw.get(field), path, field, KEY_BYTES)
            elif field == "url":
                value = self.text(raw.get(field), path, field, URL_BYTES)
                if value is not None and not URL_RE.match(value):
                    self.add(path, field, "url must be an http:// or https:// address")
                    value = None
            else:
                value = self.text(raw.get(field), path, field, OTHER_FIELD_BYTES[field])
            if value is None:
                ok = False
            else:
                out[field] = value
        return out if ok else None

    def matchrule(self, raw) -> dict[str, str]:
        path = ()
        if not isinstance(raw, dict):
            self.add(path, "matchrule", "the match rule must be an object")
            return {}
        unknown = sorted(set(raw) - set(MATCH_FIELDS))
        if unknown:
            self.add(path, "matchrule", f"unknown match field(s): {', '.join(map(str, unknown))}; "
                                        f"one of: {', '.join(MATCH_FIELDS)}")
        rule: dict[str, str] = {}
        for field in MATCH_FIELDS:
            value = raw.get(field)
            if value is None or isinstance(value, bool):
                if isinstance(value, bool):
                    self.add(path, "matchrule", f"{field} must be text")
                continue
            if isinstance(value, int):
                value = str(value)
            if not isinstance(value, str):
                self.add(path, "matchrule", f"{field} must be text")
                continue
            value = value.strip()
            if CONTROL_RE.search(value):
                self.add(path, "matchrule", f"{field} contains a control character")
            elif value:
                rule[field] = value
        if "tag_id" in rule and not rule["tag_id"].isdigit():
            self.add(path, "matchrule", "tag_id must be a tag's number")
        if "sex" in rule and rule["sex"] not in SEX_VALUES:
            self.add(path, "matchrule", "sex is 1 (male) or 2 (female)")
        if "client_platform_type" in rule and rule["client_platform_type"] not in PLATFORM_VALUES:
            self.add(path, "matchrule", "client_platform_type is 1 (iOS), 2 (Android) or 3 (others)")
        if "language" in rule and rule["language"] not in LANGUAGES:
            self.add(path, "matchrule", f"language {rule['language']!r} is not one of {', '.join(LANGUAGES)}")
        if ("province" in rule or "city" in rule) and "country" not in rule:
            self.add(path, "matchrule", "a province or city needs the country too")
        if "city" in rule and "province" not in rule:
            self.add(path, "matchrule", "a city needs the province too")
        for field in ("country", "province", "city"):
            if field in rule and utf8_len(rule[field]) > 64:
                self.add(path, "matchrule", f"{field} is longer than 64 bytes")
        if not rule and not unknown:
            self.add(path, "matchrule",
                     f"a conditional menu needs at least one match field ({', '.join(MATCH_FIELDS)})")
        return rule


def validate_menu(document: dict, *, conditional: bool = False) -> dict:
    """Check a menu document as WeChat would, before anything is sent.

    Returns the normalized document (strings stripped, ``matchrule`` values as strings, empty
    ``sub_button`` lists of leaf buttons dropped) or raises ``MenuSpecError`` with every problem.
    """
    check = _Checker()
    if not isinstance(document, dict):
        raise MenuSpecError([MenuProblem((), "button", "a menu is a JSON object with a \"button\" list")])
    allowed = {"button", "matchrule"} if conditional else {"button"}
    unknown = sorted(set(document) - allowed)
    if unknown:
        extra = " (only a conditional menu has a match rule)" if "matchrule" in unknown else ""
        check.add((), "matchrule" if unknown == ["matchrule"] else "button",
                  f"unknown field(s): {', '.join(map(str, unknown))}{extra}")
    buttons = document.get("button")
    out: dict[str, Any] = {"button": []}
    if not isinstance(buttons, list):
        check.add((), "button", "\"button\" must be a list of 1 to 3 buttons")
    else:
        if not 1 <= len(buttons) <= MAX_BUTTONS:
            check.add((), "button", f"a menu has 1 to {MAX_BUTTONS} buttons, not {len(buttons)}")
        for i, raw in enumerate(buttons[:MAX_BUTTONS]):
            button = check.button(raw, (i,))
            if button is not None:
                out["button"].append(button)
        _check_unique_keys(check, buttons[:MAX_BUTTONS])
    if conditional:
        out["matchrule"] = check.matchrule(document.get("matchrule"))
    if check.problems:
        raise MenuSpecError(check.problems)
    return out


def _check_unique_keys(check: _Checker, buttons: list) -> None:
    seen: dict[str, tuple[int, ...]] = {}
    for path, button in iter_buttons({"button": buttons}):
        key = button.get("key") if isinstance(button, dict) else None
        if not isinstance(key, str) or not key.strip() or "sub_button" in button and button["sub_button"]:
            continue
        key = key.strip()
        if key in seen:
            first = MenuProblem(seen[key], "key", "").where()
            check.add(path, "key", f"key {key!r} is already used by {first}; keys are unique within a menu")
        else:
            seen[key] = path


def iter_buttons(document: dict):
    """``(path, button)`` for every button, top-level ones followed by their sub-buttons."""
    buttons = document.get("button") if isinstance(document, dict) else None
    for i, button in enumerate(buttons if isinstance(buttons, list) else []):
        yield (i,), button
        subs = button.get("sub_button") if isinstance(button, dict) else None
        for j, sub in enumerate(subs if isinstance(subs, list) else []):
            yield (i, j), sub


def event_buttons(document: dict):
    """``(path, button)`` of the buttons that push an event with their key (click, scancode...)."""
    for path, button in iter_buttons(document):
        if isinstance(button, dict) and button.get("type") in EVENT_BUTTON_TYPES and button.get("key"):
            yield path, button


def clean_pulled(document: dict) -> dict:
    """WeChat's answer to /cgi-bin/menu/get as a document to store: empty ``sub_button`` lists,
    ``menuid`` and the obsolete ``group_id`` of match rules removed (validate it afterwards)."""
    out: dict[str, Any] = {"button": []}
    for button in document.get("button") or []:
        button = dict(button)
        subs = button.pop("sub_button", None)
        if isinstance(subs, dict):  # get_current_selfmenu_info nests {"list": [...]}
            subs = subs.get("list")
        if subs:
            button["sub_button"] = [{k: v for k, v in sub.items() if k != "sub_button" or v} for sub in subs]
        out["button"].append(button)
    if "matchrule" in document:
        out["matchrule"] = {k: v for k, v in (document.get("matchrule") or {}).items()
                            if k in MATCH_FIELDS and v not in (None, "")}
    return out


# WeChat's menu error codes -> (depth of the button concerned: 1 top-level, 2 sub-button; field).
ERROR_FIELDS: dict[int, tuple[int, str]] = {
    40016: (0, "button"), 40017: (1, "type"), 40018: (1, "name"), 40019: (1, "key"), 40020: (1, "url"),
    40022: (2, "sub_button"), 40023: (1, "sub_button"), 40024: (2, "type"), 40025: (2, "name"),
    40026: (2, "key"), 40027: (2, "url"), 40054: (2, "url"), 40055: (1, "url"), 65304: (0, "matchrule"),
    65310: (0, "matchrule"), 65311: (0, "matchrule"), 65312: (0, "matchrule"), 65313: (0, "matchrule"),
    65314: (0, "matchrule"),
}
_FIELD_OF_LIMIT = {"name": None, "key": KEY_BYTES, "url": URL_BYTES}


def locate_error(document: dict, errcode: int | None) -> tuple[tuple[int, ...], str] | None:
    """The button path and field a WeChat menu error code concerns, as far as the code tells.

    The code names a kind of problem (e.g. 40025: a sub-button's name size); the first button of
    that depth whose field breaks the rule is the one meant, or else the first carrying the field.
    """
    spec = ERROR_FIELDS.get(errcode or 0)
    if spec is None:
        return None
    depth, field = spec
    if depth == 0:
        return (), field
    candidates = [(path, b) for path, b in iter_buttons(document) if len(path) == depth and isinstance(b, dict)]
    for path, button in candidates:
        value = button.get(field)
        if field == "sub_button":
            if isinstance(value, list) and len(value) > MAX_SUB_BUTTONS:
                return path, field
        elif field == "type":
            if not button.get("sub_button") and value not in BUTTON_TYPES:
                return path, field
        elif isinstance(value, str):
            limit = (TOP_NAME_BYTES if depth == 1 else SUB_NAME_BYTES) if field == "name" else _FIELD_OF_LIMIT[field]
            if utf8_len(value) > limit or not value.strip() or (field == "url" and not URL_RE.match(value)):
                return path, field
    for path, button in candidates:
        if button.get(field) not in (None, "", []):
            return path, field
    return None
