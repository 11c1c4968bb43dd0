"""The sandbox's WeCom contacts (通讯录): departments, members and tags per corp, with WeCom's
validation and error codes, and the ``change_contact`` events a change made "in the WeCom
console" (the ``/_sandbox/wecom/contacts/...`` routes) pushes to the corp's apps.

Pure Python, no Django. ``ContactBook`` holds one corp's contacts (10,000 members and more: dicts
keyed by id, member lists of a department computed by one pass); the HTTP routes are registered
with the WeCom side of the sandbox (sandbox/wecom.py) so that paths shared with the Official
Account API (``/cgi-bin/user/get``...) answer WeCom tokens with WeCom's contacts.
https://developer.work.weixin.qq.com/document/path/90193
"""
from __future__ import annotations

import re
import time
from typing import Any

from .state import SandboxError
from .server import admin
from .wecom import wecom_api

# WeCom's error codes used here (its global error code page words them in Chinese).
WECOM_ERRORS = {
    40003: "invalid userid",
    40029: "invalid code",
    40031: "invalid userid list",
    40058: "invalid parameter",
    40066: "invalid department list",
    40068: "invalid tagid",
    40070: "all the nodes of the tag range are invalid",
    40071: "invalid tag name, the tag name exists",
    40072: "invalid tag name size",
    60001: "invalid department name size",
    60003: "department not found",
    60004: "parent department not found",
    60005: "department has members, it cannot be deleted",
    60006: "department has sub departments, it cannot be deleted",
    60007: "the root department cannot be deleted",
    60008: "department name exists",
    60009: "department name includes invalid characters",
    60010: "department id exists",
    60102: "userid exists",
    60103: "invalid mobile",
    60104: "mobile exists",
    60105: "invalid email",
    60106: "email exists",
    60111: "userid not found",
    60112: "invalid name",
    60123: "invalid department id",
    60129: "mobile and email are both empty",
}

ROOT = 1
DEPARTMENT_NAME_MAX = 64
MEMBER_NAME_MAX = 64
TAG_NAME_MAX = 32
TAG_BATCH = 1000
TAG_PARTY_BATCH = 100
USERID_RE = re.compile(r"^[A-Za-z0-9_\-@.]{1,64}$")
MOBILE_RE = re.compile(r"^(\+\d{1,4}-)?\d{5,20}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEPARTMENT_BAD_CHARS = set('\\:*?"<>|')
MEMBER_FIELDS = ("alias", "position", "mobile", "email", "gender", "telephone", "enable", "main_department",
                 "is_leader_in_dept", "order", "status")


def fail(code: int, detail: str = "") -> SandboxError:
    """WeCom's error ``code`` worded as WeCom words its answers (sandbox/wecom.py's ``wecom_error``)."""
    from .wecom import WECOM_ERRORS as BASE_ERRORS
    from .wecom import wecom_error

    if code in WECOM_ERRORS and code not in BASE_ERRORS:
        BASE_ERRORS[code] = WECOM_ERRORS[code]
    return wecom_error(code, detail)


def _int(value, code: int) -> int:
    if isinstance(value, bool):
        raise fail(code)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise fail(code) from None


class ContactBook:
    """One corp's contacts: a view over the corp's directory in the WeCom state (``Corp``:
    ``users``, ``departments``, ``tags``), which message/send also reads. Callers hold ``lock``.
    A tag is ``{"tagid", "tagname", "userlist": [userids], "partylist": [department ids]}``."""

    def __init__(self, corp, lock):
        self.corp_id = corp.corp_id
        self.departments: dict[int, dict[str, Any]] = corp.departments
        self.users: dict[str, dict[str, Any]] = corp.users
        self.tags: dict[int, dict[str, Any]] = corp.tags
        self.lock = lock
        if ROOT not in self.departments:
            self.departments[ROOT] = {"id": ROOT, "name": self.corp_id, "parentid": 0, "order": 100000000}

    # --- departments ------------------------------------------------------------------------
    def _department(self, value, code: int = 60003) -> dict[str, Any]:
        department_id = _int(value, code)
        if department_id not in self.departments:
            raise fail(code, str(department_id))
        return self.departments[department_id]

    def _check_department_name(self, name, parent_id: int, exclude: int | None = None) -> str:
        if not isinstance(name, str) or not 1 <= len(name) <= DEPARTMENT_NAME_MAX:
            raise fail(60001)
        if DEPARTMENT_BAD_CHARS & set(name):
            raise fail(60009)
        if any(d["parentid"] == parent_id and d["name"] == name and d["id"] != exclude
               for d in self.departments.values()):
            raise fail(60008, name)
        return name

    def create_department(self, body: dict[str, Any]) -> dict[str, Any]:
        parent = self._department(body.get("parentid"), 60004)
        name = self._check_department_name(body.get("name"), parent["id"])
        if body.get("id") is not None:
            department_id = _int(body["id"], 60123)
            if department_id < 2:
                raise fail(60123)
            if department_id in self.departments:
                raise fail(60010, str(department_id))
        else:
            department_id = max(self.departments) + 1
        order = _int(body.get("order", 0), 40058)
        department = {"id": department_id, "name": name, "name_en": str(body.get("name_en") or ""),
                      "parentid": parent["id"], "order": order}
        self.departments[department_id] = department
        return department

    def update_department(self, body: dict[str, Any]) -> dict[str, Any]:
        department = self._department(body.get("id"))
        parent_id = department["parentid"]
        if body.get("parentid") is not None:
            parent_id = self._department(body["parentid"], 60004)["id"]
            if department["id"] == ROOT:
                raise fail(40058, "the root department has no parent")
            walk = parent_id
            while walk:  # moving a department under itself
                if walk == department["id"]:
                    raise fail(40058, "a department cannot move below itself")
                walk = self.departments[walk]["parentid"]
        name = department["name"]
        if body.get("name") is not None or parent_id != department["parentid"]:
            name = self._check_department_name(body.get("name", name), parent_id, exclude=department["id"])
        changed = {"name": name, "parentid": parent_id}
        if body.get("order") is not None:
            changed["order"] = _int(body["order"], 40058)
        if body.get("name_en") is not None:
            changed["name_en"] = str(body["name_en"])
        department.update(changed)
        return department

    def delete_department(self, value) -> int:
        department = self._department(value)
        if department["id"] == ROOT:
            raise fail(60007)
        if any(d["parentid"] == department["id"] for d in self.departments.values()):
            raise fail(60006)
        if any(department["id"] in u["department"] for u in self.users.values()):
            raise fail(60005)
        del self.departments[department["id"]]
        for tag in self.tags.values():
            if department["id"] in tag.setdefault("partylist", []):
                tag["partylist"].remove(department["id"])
        return department["id"]

    def subtree(self, department_id: int) -> list[int]:
        children: dict[int, list[int]] = {}
        for d in self.departments.values():
            children.setdefault(d["parentid"], []).append(d["id"])
        found, todo = [], [department_id]
        while todo:
            current = todo.pop(0)
            found.append(current)
            todo.extend(sorted(children.get(current, [])))
        return found

    def list_departments(self, value=None) -> list[dict[str, Any]]:
        start = self._department(value)["id"] if value not in (None, "") else ROOT
        return [dict(self.departments[d]) for d in self.subtree(start)]

    # --- members ----------------------------------------------------------------------------
    def _user(self, userid) -> dict[str, Any]:
        if not isinstance(userid, str) or userid not in self.users:
            raise fail(60111, str(userid))
        return self.users[userid]

    def _departments_of(self, value) -> list[int]:
        if not isinstance(value, list) or not value or len(value) > 100:
            raise fail(40066)
        ids = []
        for item in value:
            department_id = _int(item, 60003)
            if department_id not in self.departments:
                raise fail(60003, str(department_id))
            if department_id not in ids:
                ids.append(department_id)
        return ids

    def _check_contact(self, fields: dict[str, Any], userid: str) -> None:
        mobile, email = fields.get("mobile"), fields.get("email")
        if mobile:
            if not isinstance(mobile, str) or not MOBILE_RE.match(mobile):
                raise fail(60103)
            if any(u.get("mobile") == mobile and u["userid"] != userid for u in self.users.values()):
                raise fail(60104)
        if email:
            if not isinstance(email, str) or not EMAIL_RE.match(email) or len(email) > 64:
                raise fail(60105)
            if any(u.get("email") == email and u["userid"] != userid for u in self.users.values()):
                raise fail(60106)

    @staticmethod
    def _check_name(name) -> str:
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= MEMBER_NAME_MAX:
            raise fail(60112)
        return name

    def create_user(self, body: dict[str, Any]) -> dict[str, Any]:
        userid = body.get("userid")
        if not isinstance(userid, str) or not USERID_RE.match(userid):
            raise fail(40003, str(userid))
        if userid in self.users or userid.lower() in {u.lower() for u in self.users}:  # case-insensitive
            raise fail(60102, userid)
        name = self._check_name(body.get("name"))
        departments = self._departments_of(body.get("department"))
        if not body.get("mobile") and not body.get("email"):
            raise fail(60129)
        self._check_contact(body, userid)
        user = {"userid": userid, "name": name, "department": departments, "status": 4,
                "alias": "", "position": "", "mobile": "", "email": "", "gender": "0", "telephone": "",
                "enable": 1, "main_department": departments[0], "is_leader_in_dept": [0] * len(departments),
                "order": [0] * len(departments)}
        user.update({k: body[k] for k in MEMBER_FIELDS if k in body and k != "status"})
        self.users[userid] = user
        return user

    def update_user(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Change a member; return it and the fields that changed (for the event)."""
        user = self._user(body.get("userid"))
        changed: dict[str, Any] = {}
        if "name" in body:
            changed["name"] = self._check_name(body["name"])
        if "department" in body:
            changed["department"] = self._departments_of(body["department"])
            changed["is_leader_in_dept"] = [0] * len(changed["department"])
            changed["order"] = [0] * len(changed["department"])
            if user.get("main_department") not in changed["department"]:
                changed["main_department"] = changed["department"][0]
        self._check_contact(body, user["userid"])
        if ("mobile" in body or "email" in body) and not body.get("mobile", user.get("mobile")) \
                and not body.get("email", user.get("email")):
            raise fail(60129)  # both cleared
        for key in MEMBER_FIELDS:
            if key in body and key != "status":
                changed[key] = body[key]
        if "enable" in body:
            changed["status"] = 1 if int(body["enable"]) else 2
        new_userid = body.get("new_userid")
        if new_userid not in (None, "", user["userid"]):
            if not isinstance(new_userid, str) or not USERID_RE.match(new_userid):
                raise fail(40003, str(new_userid))
            if new_userid.lower() in {u.lower() for u in self.users if u != user["userid"]}:
                raise fail(60102, new_userid)
        user.update(changed)
        if new_userid not in (None, "", user["userid"]):  # WeCom lets a user id change once
            old = user["userid"]
            del self.users[old]
            user["userid"] = new_userid
            self.users[new_userid] = user
            for tag in self.tags.values():
                tag["userlist"] = [new_userid if u == old else u for u in tag.get("userlist", [])]
            changed["new_userid"] = new_userid
        return user, changed

    def delete_user(self, userid) -> str:
        user = self._user(userid)
        del self.users[user["userid"]]
        for tag in self.tags.values():
            if user["userid"] in tag.setdefault("userlist", []):
                tag["userlist"].remove(user["userid"])
        return user["userid"]

    def users_in(self, department_id, fetch_child) -> list[dict[str, Any]]:
        start = self._department(department_id)["id"]
        wanted = set(self.subtree(start)) if str(fetch_child) == "1" else {start}
        return [u for u in self.users.values() if wanted.intersection(u["department"])]

    # --- tags -------------------------------------------------------------------------------
    def _tag(self, value) -> dict[str, Any]:
        tag_id = _int(value, 40068)
        if tag_id not in self.tags:
            raise fail(40068, str(tag_id))
        return self.tags[tag_id]

    def _check_tag_name(self, name, exclude: int | None = None) -> str:
        if not isinstance(name, str) or not 1 <= len(name) <= TAG_NAME_MAX:
            raise fail(40072)
        if any(t["tagname"] == name and t["tagid"] != exclude for t in self.tags.values()):
            raise fail(40071, name)
        return name

    def create_tag(self, body: dict[str, Any]) -> dict[str, Any]:
        name = self._check_tag_name(body.get("tagname"))
        if body.get("tagid") is not None:
            tag_id = _int(body["tagid"], 40068)
            if tag_id < 1 or tag_id in self.tags:
                raise fail(40068, str(tag_id))
        else:
            tag_id = max(self.tags, default=0) + 1
        tag = {"tagid": tag_id, "tagname": name, "userlist": [], "partylist": []}
        self.tags[tag_id] = tag
        return tag

    def update_tag(self, body: dict[str, Any]) -> dict[str, Any]:
        tag = self._tag(body.get("tagid"))
        tag["tagname"] = self._check_tag_name(body.get("tagname"), exclude=tag["tagid"])
        return tag

    def delete_tag(self, value) -> int:
        tag = self._tag(value)
        del self.tags[tag["tagid"]]
        return tag["tagid"]

    def change_tag_members(self, body: dict[str, Any], add: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """Add (or remove) members and departments; unknown ones are reported, not refused, unless
        none is valid (40070). Returns WeCom's answer and the ids actually changed."""
        tag = self._tag(body.get("tagid"))
        userids, parties = body.get("userlist") or [], body.get("partylist") or []
        if not isinstance(userids, list) or not isinstance(parties, list) or not (userids or parties):
            raise fail(40031)
        if len(userids) > TAG_BATCH or len(parties) > TAG_PARTY_BATCH:
            raise fail(40032 if len(userids) > TAG_BATCH else 40066)
        good_users = [u for u in userids if isinstance(u, str) and u in self.users]
        bad_users = [str(u) for u in userids if not (isinstance(u, str) and u in self.users)]
        good_parties, bad_parties = [], []
        for p in parties:
            try:
                (good_parties if int(p) in self.departments else bad_parties).append(int(p))
            except (TypeError, ValueError):
                bad_parties.append(p)
        if not good_users and not good_parties:
            raise fail(40070)
        users, tagged_parties = tag.setdefault("userlist", []), tag.setdefault("partylist", [])
        changed_users = list(dict.fromkeys(u for u in good_users if (u not in users) == add))
        changed_parties = list(dict.fromkeys(p for p in good_parties if (p not in tagged_parties) == add))
        for userid in changed_users:
            users.append(userid) if add else users.remove(userid)
        for party in changed_parties:
            tagged_parties.append(party) if add else tagged_parties.remove(party)
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok" if not (bad_users or bad_parties) else "invalid"}
        if bad_users:
            answer["invalidlist"] = "|".join(bad_users)
        if bad_parties:
            answer["invalidparty"] = bad_parties
        return answer, {"users": changed_users, "parties": changed_parties}

    def tag_info(self, value) -> dict[str, Any]:
        tag = self._tag(value)
        return {"tagname": tag["tagname"],
                "userlist": [{"userid": u, "name": self.users[u].get("name", u)} for u in tag.get("userlist", [])
                             if u in self.users],
                "partylist": list(tag.get("partylist", []))}

    def summary(self) -> dict[str, int]:
        return {"departments": len(self.departments), "users": len(self.users), "tags": len(self.tags)}


# --- change_contact events ---------------------------------------------------------------------
def _csv(values) -> str:
    return ",".join(str(v) for v in values)


def user_event_fields(change_type: str, user: dict[str, Any], changed: dict[str, Any] | None = None,
                      new_userid: str | None = None) -> dict[str, Any]:
    """The event fields WeCom sends for create_user / update_user / delete_user: every field
    for a creation, the changed ones for an update, the user id alone for a deletion."""
    fields: dict[str, Any] = {"Event": "change_contact", "ChangeType": change_type, "UserID": user["userid"]}
    if change_type == "delete_user":
        return fields
    source = user if change_type == "create_user" else (changed or {})
    names = {"name": "Name", "position": "Position", "mobile": "Mobile", "email": "Email", "gender": "Gender",
             "telephone": "Telephone", "alias": "Alias", "status": "Status", "main_department": "MainDepartment"}
    for key, tag in names.items():
        if key in source:
            fields[tag] = source[key]
    if "department" in source:
        fields["Department"] = _csv(source["department"])
        fields["IsLeaderInDept"] = _csv(source.get("is_leader_in_dept") or [0] * len(source["department"]))
    if new_userid:
        fields["NewUserID"] = new_userid
    return fields


def party_event_fields(change_type: str, department: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {"Event": "change_contact", "ChangeType": change_type, "Id": department["id"]}
    if change_type != "delete_party":
        fields.update(Name=department["name"], ParentId=department["parentid"], Order=department.get("order", 0))
    return fields


def tag_event_fields(tag_id: int, added: dict[str, list], removed: dict[str, list]) -> dict[str, Any]:
    fields: dict[str, Any] = {"Event": "change_contact", "ChangeType": "update_tag", "TagId": tag_id}
    if added.get("users"):
        fields["AddUserItems"] = _csv(added["users"])
    if removed.get("users"):
        fields["DelUserItems"] = _csv(removed["users"])
    if added.get("parties"):
        fields["AddPartyItems"] = _csv(added["parties"])
    if removed.get("parties"):
        fields["DelPartyItems"] = _csv(removed["parties"])
    return fields


def generated_userid(index: int, prefix: str = "user") -> str:
    return f"{prefix}{index:05d}"


def add_generated_members(book: ContactBook, count: int, department_id: int = ROOT, prefix: str = "user",
                          start: int = 0) -> list[str]:
    """Bulk-add ``count`` members (for the 10,000-member sync): no events, no per-member checks
    beyond a unique id."""
    with book.lock:
        book._department(department_id)
        added = []
        for i in range(start, start + count):
            userid = generated_userid(i, prefix)
            book.users[userid] = {
                "userid": userid, "name": f"Member {i}", "department": [department_id], "status": 1,
                "alias": "", "position": "staff", "mobile": f"138{i:08d}", "email": f"{userid}@corp.example",
                "gender": "1", "telephone": "", "enable": 1, "main_department": department_id,
                "is_leader_in_dept": [0], "order": [0]}
            added.append(userid)
        return added


def now() -> int:
    return int(time.time())


# --- state and HTTP routes ------------------------------------------------------------------------
def contact_book(state, corp_id: str) -> ContactBook:
    """The contacts of a corp (created empty, with its root department, on first use)."""
    from .wecom import Corp

    with state.lock:
        corp = state.wecom.corps.setdefault(corp_id, Corp(corp_id))
        return ContactBook(corp, state.lock)


# The routes answer WeCom tokens only (sandbox/wecom.py routes by the token's owner); ``app`` is
# the token's CorpApp, whose corp's contacts they read and change.
route = wecom_api
OK = {"errcode": 0, "errmsg": "ok"}


def _book(handler, app) -> ContactBook:
    return contact_book(handler.state, app.corp_id)


@route("POST", "/cgi-bin/department/create")
def _department_create(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        department = book.create_department(body)
    return {**OK, "errmsg": "created", "id": department["id"]}


@route("POST", "/cgi-bin/department/update")
def _department_update(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        book.update_department(body)
    return {**OK, "errmsg": "updated"}


@route("GET", "/cgi-bin/department/delete")
def _department_delete(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        book.delete_department(query.get("id"))
    return {**OK, "errmsg": "deleted"}


@route("GET", "/cgi-bin/department/list")
def _department_list(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        return {**OK, "department": book.list_departments(query.get("id"))}


def _public_user(user: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in user.items()}


@route("POST", "/cgi-bin/user/create")
def _user_create(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        book.create_user(body)
    return {**OK, "errmsg": "created"}


@route("POST", "/cgi-bin/user/update")
def _user_update(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        book.update_user(body)
    return {**OK, "errmsg": "updated"}


@route("GET", "/cgi-bin/user/delete")
def _user_delete(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        book.delete_user(query.get("userid"))
    return {**OK, "errmsg": "deleted"}


@route("POST", "/cgi-bin/user/batchdelete")
def _user_batch_delete(handler, query, body, app):
    userids = body.get("useridlist")
    if not isinstance(userids, list) or not 1 <= len(userids) <= 200:
        raise fail(40031)
    book = _book(handler, app)
    with book.lock:
        for userid in userids:
            book._user(userid)
        for userid in userids:
            book.delete_user(userid)
    return {**OK, "errmsg": "deleted"}


@route("GET", "/cgi-bin/user/get")
def _user_get(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        return {**OK, **_public_user(book._user(query.get("userid")))}


@route("GET", "/cgi-bin/user/simplelist")
def _user_simplelist(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        users = book.users_in(query.get("department_id"), query.get("fetch_child"))
        return {**OK, "userlist": [{"userid": u["userid"], "name": u["name"], "department": list(u["department"])}
                                   for u in users]}


@route("GET", "/cgi-bin/user/list")
def _user_list(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        return {**OK, "userlist": [_public_user(u) for u in book.users_in(query.get("department_id"),
                                                                          query.get("fetch_child"))]}


@route("POST", "/cgi-bin/tag/create")
def _tag_create(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        tag = book.create_tag(body)
    return {**OK, "errmsg": "created", "tagid": tag["tagid"]}


@route("POST", "/cgi-bin/tag/update")
def _tag_update(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        book.update_tag(body)
    return {**OK, "errmsg": "updated"}


@route("GET", "/cgi-bin/tag/delete")
def _tag_delete(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        book.delete_tag(query.get("tagid"))
    return {**OK, "errmsg": "deleted"}


@route("GET", "/cgi-bin/tag/get")
def _tag_get(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        return {**OK, **book.tag_info(query.get("tagid"))}


@route("POST", "/cgi-bin/tag/addtagusers")
def _tag_add_users(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        return book.change_tag_members(body, add=True)[0]


@route("POST", "/cgi-bin/tag/deltagusers")
def _tag_del_users(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        return book.change_tag_members(body, add=False)[0]


@route("GET", "/cgi-bin/tag/list")
def _tag_list(handler, query, body, app):
    book = _book(handler, app)
    with book.lock:
        return {**OK, "taglist": [{"tagid": t["tagid"], "tagname": t["tagname"]} for t in book.tags.values()]}


# --- the WeCom console: changes made "by an administrator", pushed as change_contact events -------
@admin("POST", "/wecom/contacts")
def _console_route(server, query, body):
    """``POST /_sandbox/wecom/contacts`` with ``{"corp_id", "op", "data", "push": true, "retries": 0}``."""
    result = console(server.state, str(body["corp_id"]), str(body["op"]), dict(body.get("data") or {}),
                     push=bool(body.get("push", True)), retries=int(body.get("retries", 0)))
    return {"event": result["event"], "pushes": result["pushes"]}


@admin("POST", "/wecom/contacts/generate")
def _generate_route(server, query, body):
    """``POST /_sandbox/wecom/contacts/generate`` with ``{"corp_id", "count", "department": 1}``."""
    book = contact_book(server.state, str(body["corp_id"]))
    added = add_generated_members(book, int(body["count"]), int(body.get("department", ROOT)),
                                  start=len(book.users))
    return {"added": len(added)}


@admin("GET", "/wecom/contacts")
def _contacts_summary(server, query, body):
    return contact_book(server.state, query["corp_id"]).summary()


def console_change(state, corp_id: str, op: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply a console change (``op``: create_user, update_user, delete_user, create_party,
    update_party, delete_party, update_tag) and return the change_contact event fields it causes."""
    book = contact_book(state, corp_id)
    with book.lock:
        if op == "create_user":
            return user_event_fields(op, book.create_user(body))
        if op == "update_user":
            old = str(body.get("userid"))
            user, changed = book.update_user(body)
            return user_event_fields(op, {**user, "userid": old}, changed, new_userid=changed.get("new_userid"))
        if op == "delete_user":
            return user_event_fields(op, {"userid": book.delete_user(body.get("userid"))})
        if op == "create_party":
            return party_event_fields(op, book.create_department(body))
        if op == "update_party":
            return party_event_fields(op, book.update_department(body))
        if op == "delete_party":
            return party_event_fields(op, {"id": book.delete_department(body.get("id"))})
        if op == "update_tag":
            add = {"tagid": body.get("tagid"), "userlist": body.get("add_users"), "partylist": body.get("add_parties")}
            delete = {"tagid": body.get("tagid"), "userlist": body.get("del_users"),
                      "partylist": body.get("del_parties")}
            added = removed = {"users": [], "parties": []}
            if add["userlist"] or add["partylist"]:
                added = book.change_tag_members(add, add=True)[1]
            if delete["userlist"] or delete["partylist"]:
                removed = book.change_tag_members(delete, add=False)[1]
            return tag_event_fields(book._tag(body.get("tagid"))["tagid"], added, removed)
    raise ValueError(f"unknown contacts change {op!r}")


def contact_event_xml(corp_id: str, fields: dict[str, Any], create_time: int | None = None) -> str:
    """The plaintext XML of a change_contact event as WeCom sends it (from ``sys``)."""
    from ..protocol.replies import cdata

    parts = [f"<ToUserName>{cdata(corp_id)}</ToUserName>", "<FromUserName><![CDATA[sys]]></FromUserName>",
             f"<CreateTime>{int(create_time or time.time())}</CreateTime>", "<MsgType><![CDATA[event]]></MsgType>"]
    for name, value in fields.items():
        parts.append(f"<{name}>{value}</{name}>" if isinstance(value, int) and not isinstance(value, bool)
                     else f"<{name}>{cdata(str(value))}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def push_contact_event(state, app, xml: str, timeout: float = 5.0) -> dict[str, Any]:
    """POST one encrypted callback to a corp app, as WeCom does: the XML encrypted with the
    app's EncodingAESKey and the corp id as receive id, ``msg_signature`` over token, timestamp,
    nonce and the ciphertext. Returns ``{"status", "body"}`` or ``{"error"}``; recorded in
    ``state.wecom.pushes``. Pushing the same ``xml`` again is WeCom's retry of that event."""
    import secrets
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    from . import wecom as wecom_side
    from ..protocol import MessageCrypto, make_signature

    shared = getattr(wecom_side, "push_wecom", None)  # the WeCom side's own push (same wire format), if present
    if shared is not None:
        return shared(state, app.owner, "sys", xml=xml, timeout=timeout)
    if not app.callback_url:
        raise ValueError(f"app {app.owner} has no callback_url")
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    encrypted = MessageCrypto(app.token, app.encoding_aes_key, app.corp_id).encrypt(xml)
    params = {"msg_signature": make_signature(app.token, timestamp, nonce, encrypted), "timestamp": timestamp,
              "nonce": nonce}
    body = (f"<xml><ToUserName><![CDATA[{app.corp_id}]]></ToUserName><AgentID><![CDATA[{app.agent_id}]]>"
            f"</AgentID><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
    url = app.callback_url + ("&" if "?" in app.callback_url else "?") + urlencode(params)
    request = urllib.request.Request(url, data=body.encode("utf-8"), method="POST", headers={"Content-Type": "text/xml"})
    record: dict[str, Any] = {"owner": app.owner, "xml": xml, "at": time.time()}
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the app's callback
            record.update(status=response.status, body=response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        record.update(status=err.code, body=err.read().decode("utf-8", "replace"))
    except OSError as err:
        record.update(error=str(err))
    with state.lock:
        state.wecom.pushes.append(record)
    return {k: v for k, v in record.items() if k in ("status", "body", "error")}


def console(state, corp_id: str, op: str, body: dict[str, Any], push: bool = True, retries: int = 0) -> dict[str, Any]:
    """A change made in the WeCom console: applied to the contacts, then pushed as a change_contact
    event to every app of the corp that has a callback (``retries`` more times, as WeCom retries
    an event it got no timely answer for). Returns the event fields, its XML and the pushes."""
    fields = console_change(state, corp_id, op, body)
    xml = contact_event_xml(corp_id, fields)
    pushes = []
    if push:
        with state.lock:
            apps = [a for a in state.wecom.apps.values() if a.corp_id == corp_id and a.callback_url]
        for app in apps:
            for _ in range(1 + int(retries)):
                pushes.append(push_contact_event(state, app, xml))
    return {"event": fields, "xml": xml, "pushes": pushes}
