"""WeCom contacts of a WeCom app account: the full sync, the change_contact events, and
create/update/delete of departments, members, tags and tag membership.

Every change goes to WeCom first and is then mirrored (``WeComDepartment``, ``WeComMember``,
``WeComTag``/``WeComTagMember``), so the database never claims what WeCom refused; WeCom's refusals
are ``ValidationError``s worded for people. ``change_contact`` events (the ``wecom_contact_changed``
signal) are applied exactly once: each is recorded by its digest in ``WeComContactEvent`` in the
same transaction as its change, so WeCom's retries of a delivery (and a repeated signal) change
nothing the second time.
https://developer.work.weixin.qq.com/document/path/90193
https://developer.work.weixin.qq.com/document/path/90970 (change_contact events)
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any, Callable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from ..client import WeChatAPIError, WeChatTransportError
from ..models import WeComContactEvent, WeComDepartment, WeComMember, WeComTag, WeComTagMember
from ..models.wecom import DEPARTMENT_NAME_MAX, MEMBER_NAME_MAX, ROOT_DEPARTMENT_ID, TAG_NAME_MAX, USERID_MAX
from .tokens import get_client

logger = logging.getLogger("wechat_app.wecom")

WRITE_BATCH = 500
TAG_BATCH = 1000
USERID_RE = re.compile(r"^[A-Za-z0-9_\-@.]{1,64}$")
MOBILE_RE = re.compile(r"^(\+\d{1,4}-)?\d{5,20}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEPARTMENT_BAD_CHARS = '\\:*?"<>|'
MEMBER_TEXT_FIELDS = {"alias": 64, "position": 128, "mobile": 32, "email": 64, "telephone": 32}
EXPLAINED = {
    40003: "the user id is not valid (letters, digits and _-@. only)",
    40066: "the department list is not valid",
    40068: "WeCom has no such tag (sync the contacts)",
    40070: "none of the given members or departments exists on WeCom",
    40071: "another tag has this name",
    40072: "a tag name is 1 to 32 characters",
    60001: "a department name is 1 to 64 characters",
    60003: "WeCom has no such department (sync the contacts)",
    60004: "WeCom has no such parent department",
    60005: "the department still has members",
    60006: "the department still has sub-departments",
    60007: "the root department cannot be deleted",
    60008: "the parent department has a department of this name already",
    60009: "a department name cannot contain \\ : * ? \" < > |",
    60010: "a department has this id already",
    60102: "a member has this user id already",
    60103: "the mobile number is not valid",
    60104: "another member has this mobile number",
    60105: "the email address is not valid",
    60106: "another member has this email address",
    60111: "WeCom has no such member (sync the contacts)",
    60112: "the member's name is not valid",
    60123: "the department id is not valid",
    60129: "a member needs a mobile number or an email address",
}


def explain(err: WeChatAPIError) -> str:
    reason = EXPLAINED.get(err.errcode or 0)
    return f"WeCom refused: {reason} ({err.errcode})" if reason else f"WeCom refused: {err}"


def contacts(account):
    """The account's WeCom contacts endpoint group (``client.contacts``)."""
    if getattr(account, "channel", "mp") != "wecom":
        raise ValidationError(f"{account} is not a WeCom app: contacts are WeCom's.")
    return get_client(account).contacts


def refused(err: WeChatAPIError) -> bool:
    """Whether WeCom answered no (a ValidationError for people), rather than could not be reached
    or was busy (left to the caller: the API answers 502)."""
    return not (isinstance(err, WeChatTransportError) or err.is_transient)


def _call(func, *args, field: str | None = None, **kwargs):
    try:
        return func(*args, **kwargs)
    except WeChatAPIError as err:
        if not refused(err):
            raise
        raise ValidationError({field: explain(err)} if field else explain(err)) from err


# --- input --------------------------------------------------------------------------------------------
def _text(value, name: str, limit: int, *, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({name: "Text expected."})
    value = value.strip()
    if required and not value:
        raise ValidationError({name: "This field is required."})
    if len(value) > limit:
        raise ValidationError({name: f"At most {limit} characters ({len(value)} given)."})
    if "\x00" in value:
        raise ValidationError({name: "NUL characters are not allowed."})
    return value


def clean_department_name(name) -> str:
    name = _text(name, "name", DEPARTMENT_NAME_MAX)
    bad = sorted(set(DEPARTMENT_BAD_CHARS) & set(name))
    if bad:
        raise ValidationError({"name": f"A department name cannot contain {' '.join(bad)}."})
    return name


def _department_ids(account, value, name: str = "departments") -> list[int]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValidationError({name: "A non-empty list of department ids."})
    if len(value) > 100:
        raise ValidationError({name: "At most 100 departments."})
    ids = []
    for item in value:
        if isinstance(item, bool) or not str(item).isdigit():
            raise ValidationError({name: f"{item!r} is not a department id."})
        if int(item) not in ids:
            ids.append(int(item))
    known = set(WeComDepartment.objects.filter(account=account, department_id__in=ids)
                .values_list("department_id", flat=True)) | {ROOT_DEPARTMENT_ID}
    missing = [i for i in ids if i not in known]
    if missing:
        raise ValidationError({name: f"No department {', '.join(map(str, missing))} (sync the contacts)."})
    return ids


def clean_userid(value) -> str:
    userid = _text(value, "userid", USERID_MAX)
    if not USERID_RE.match(userid):
        raise ValidationError({"userid": "A user id is 1 to 64 letters, digits and _-@. characters."})
    return userid


def clean_member_fields(account, data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """WeCom's body for user/create or user/update from our field names (``departments``...)."""
    body: dict[str, Any] = {}
    if creating or "name" in data:
        body["name"] = _text(data.get("name"), "name", MEMBER_NAME_MAX)
    if creating or "departments" in data:
        body["department"] = _department_ids(account, data.get("departments"))
    for key, limit in MEMBER_TEXT_FIELDS.items():
        if key in data:
            body[key] = _text(data[key], key, limit, required=False)
    if body.get("mobile") and not MOBILE_RE.match(body["mobile"]):
        raise ValidationError({"mobile": "A mobile number is digits, optionally +country- first."})
    if body.get("email") and not EMAIL_RE.match(body["email"]):
        raise ValidationError({"email": "Not an email address."})
    if "gender" in data:
        if str(data["gender"]) not in ("0", "1", "2"):
            raise ValidationError({"gender": "0 (unknown), 1 (male) or 2 (female)."})
        body["gender"] = str(data["gender"])
    if "enable" in data:
        if not isinstance(data["enable"], bool):
            raise ValidationError({"enable": "true or false."})
        body["enable"] = int(data["enable"])
    if creating and not body.get("mobile") and not body.get("email"):
        raise ValidationError({"mobile": "A member needs a mobile number or an email address."})
    return body


def clean_tag_name(account, name, exclude_pk=None) -> str:
    name = _text(name, "name", TAG_NAME_MAX)
    taken = WeComTag.objects.filter(account=account, name=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError({"name": f"The account has a tag named {name!r} already."})
    return name


# --- mirroring ----------------------------------------------------------------------------------------
def _department_defaults(item: dict[str, Any], now) -> dict[str, Any]:
    return {"name": str(item.get("name") or "")[:DEPARTMENT_NAME_MAX],
            "name_en": str(item.get("name_en") or "")[:DEPARTMENT_NAME_MAX],
            "parent_id": int(item.get("parentid") or 0), "order": max(0, int(item.get("order") or 0)),
            "synced_at": now}


def _ints(value) -> list[int]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        value = [value]
    return [int(v) for v in value]


def _member_defaults(item: dict[str, Any], now) -> dict[str, Any]:
    departments = _ints(item.get("department"))
    main = item.get("main_department")
    return {
        "name": str(item.get("name") or "")[:MEMBER_NAME_MAX], "alias": str(item.get("alias") or "")[:64],
        "departments": departments, "department_order": _ints(item.get("order")),
        "is_leader_in_dept": _ints(item.get("is_leader_in_dept")),
        "main_department": int(main) if main not in (None, "") else (departments[0] if departments else None),
        "position": str(item.get("position") or "")[:128], "mobile": str(item.get("mobile") or "")[:32],
        "email": str(item.get("email") or "")[:128], "gender": str(item.get("gender") or "")[:2],
        "telephone": str(item.get("telephone") or "")[:32], "status": int(item.get("status") or 1),
        "enable": bool(int(item.get("enable", 1) or 0)), "raw": item, "synced_at": now}


MEMBER_UPDATE_FIELDS = ["name", "alias", "departments", "department_order", "is_leader_in_dept", "main_department",
                        "position", "mobile", "email", "gender", "telephone", "status", "enable", "raw", "synced_at"]


# --- the full sync ------------------------------------------------------------------------------------
def sync_contacts(account, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Mirror the corp's departments, members and tags. ``progress(done, total)`` is called as the
    members are written (``WRITE_BATCH`` at a time), then once per tag; returns the counts."""
    api = contacts(account)
    now = timezone.now()
    departments = api.department.list()
    members = api.user.list(ROOT_DEPARTMENT_ID, fetch_child=True)
    tags = api.tag.list()
    total = len(members) + len(tags)
    done = 0
    if progress:
        progress(0, total)

    with transaction.atomic():
        seen_departments = set()
        for item in departments:
            seen_departments.add(int(item["id"]))
            WeComDepartment.objects.update_or_create(account=account, department_id=int(item["id"]),
                                                     defaults=_department_defaults(item, now))
        removed_departments, _ = (WeComDepartment.objects.filter(account=account)
                                  .exclude(department_id__in=seen_departments).delete())

    existing = dict(WeComMember.objects.filter(account=account).values_list("userid", "pk"))
    seen_members = set()
    for start in range(0, len(members), WRITE_BATCH):
        batch = members[start:start + WRITE_BATCH]
        creates, updates = [], []
        for item in batch:
            userid = str(item["userid"])
            seen_members.add(userid)
            member = WeComMember(account=account, userid=userid, **_member_defaults(item, now))
            if userid in existing:
                member.pk = existing[userid]
                updates.append(member)
            else:
                creates.append(member)
        with transaction.atomic():
            WeComMember.objects.bulk_create(creates)
            WeComMember.objects.bulk_update(updates, MEMBER_UPDATE_FIELDS)
        done += len(batch)
        if progress:
            progress(done, total)
    gone = [u for u in existing if u not in seen_members]
    removed_members = 0
    for start in range(0, len(gone), WRITE_BATCH):
        removed_members += WeComMember.objects.filter(account=account, userid__in=gone[start:start + WRITE_BATCH]
                                                      ).delete()[1].get("wechat_app.WeComMember", 0)

    seen_tags = set()
    for item in tags:
        tag_id = int(item["tagid"])
        seen_tags.add(tag_id)
        info = api.tag.get(tag_id)
        with transaction.atomic():
            tag, _ = WeComTag.objects.update_or_create(account=account, tag_id=tag_id, defaults={
                "name": str(item.get("tagname") or "")[:TAG_NAME_MAX],
                "departments": _ints(info.get("partylist")), "synced_at": now})
            _set_tag_users(tag, [str(u["userid"]) for u in info.get("userlist") or []])
        done += 1
        if progress:
            progress(done, total)
    gone_tags = WeComTag.objects.filter(account=account).exclude(tag_id__in=seen_tags)
    removed_tags = gone_tags.count()
    gone_tags.delete()
    return {"departments": len(seen_departments), "members": len(seen_members), "tags": len(seen_tags),
            "removed": {"departments": removed_departments, "members": removed_members, "tags": removed_tags},
            "synced": done, "total": total}


def _set_tag_users(tag: WeComTag, userids: list[str]) -> None:
    current = set(tag.memberships.values_list("userid", flat=True))
    wanted = set(userids)
    tag.memberships.filter(userid__in=current - wanted).delete()
    WeComTagMember.objects.bulk_create([WeComTagMember(tag=tag, userid=u) for u in sorted(wanted - current)],
                                       ignore_conflicts=True)


# --- departments --------------------------------------------------------------------------------------
def _department_id(account, value, name: str) -> int:
    if isinstance(value, bool) or not str(value).isdigit():
        raise ValidationError({name: f"{value!r} is not a department id."})
    if int(value) != ROOT_DEPARTMENT_ID and not WeComDepartment.objects.filter(
            account=account, department_id=int(value)).exists():  # every corp has the root (1)
        raise ValidationError({name: f"No department {value} (sync the contacts)."})
    return int(value)


def _order(value) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not str(value).isdigit() or int(value) >= 2 ** 32:
        raise ValidationError({"order": "A whole number from 0 to 4294967295."})
    return int(value)


def create_department(account, name, parent_id=ROOT_DEPARTMENT_ID, order=None) -> WeComDepartment:
    name = clean_department_name(name)
    parent_id = _department_id(account, parent_id, "parent_id")
    order = _order(order)
    if WeComDepartment.objects.filter(account=account, parent_id=parent_id, name=name).exists():
        raise ValidationError({"name": f"Department {parent_id} has a department named {name!r} already."})
    department_id = _call(contacts(account).department.create, name, parent_id, order=order, field="name")
    department, _ = WeComDepartment.objects.update_or_create(
        account=account, department_id=department_id,
        defaults={"name": name, "parent_id": parent_id, "order": order or 0, "synced_at": timezone.now()})
    return department


def update_department(department: WeComDepartment, *, name=None, parent_id=None, order=None) -> WeComDepartment:
    account = department.account
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = clean_department_name(name)
    if parent_id is not None:
        parent_id = _department_id(account, parent_id, "parent_id")
        if department.department_id == ROOT_DEPARTMENT_ID:
            raise ValidationError({"parent_id": "The root department has no parent."})
        if department.department_id in ancestors(account, parent_id) or parent_id == department.department_id:
            raise ValidationError({"parent_id": "A department cannot move below itself."})
        changes["parent_id"] = parent_id
    if order is not None:
        changes["order"] = _order(order)
    if not changes:
        return department
    _call(contacts(account).department.update, department.department_id, name=changes.get("name"),
          parent_id=changes.get("parent_id"), order=changes.get("order"), field="name")
    for key, value in changes.items():
        setattr(department, key, value)
    department.save(update_fields=list(changes))
    return department


def delete_department(department: WeComDepartment) -> None:
    if department.department_id == ROOT_DEPARTMENT_ID:
        raise ValidationError("The root department cannot be deleted.")
    _call(contacts(department.account).department.delete, department.department_id)
    department.delete()


def ancestors(account, department_id: int) -> list[int]:
    parents = dict(WeComDepartment.objects.filter(account=account).values_list("department_id", "parent_id"))
    found, current = [], department_id
    while current in parents and current not in found:
        found.append(current)
        current = parents[current]
    return found


def members_in_department(queryset, department_id: int):
    """Members whose ``departments`` hold ``department_id`` (JSON containment on PostgreSQL; on
    other databases a match on the JSON text, as ``audience.followers_with_tag``)."""
    department_id = int(department_id)
    if connection.vendor == "postgresql":
        return queryset.filter(departments__contains=[department_id])
    return queryset.annotate(_departments_text=Cast("departments", TextField())).filter(
        _departments_text__regex=rf"[\[,\s]{department_id}[\],]")


def department_tree(account) -> list[dict[str, Any]]:
    """``[{"department", "depth", "members"}]`` in tree order (parents first, siblings by order)."""
    departments = list(WeComDepartment.objects.filter(account=account).order_by("-order", "department_id"))
    counts: dict[int, int] = {}
    for ids in WeComMember.objects.filter(account=account).values_list("departments", flat=True):
        for department_id in ids or []:
            counts[department_id] = counts.get(department_id, 0) + 1
    children: dict[int, list[WeComDepartment]] = {}
    known = {d.department_id for d in departments}
    for department in departments:
        parent = department.parent_id if department.parent_id in known else 0
        children.setdefault(parent, []).append(department)
    rows: list[dict[str, Any]] = []

    def walk(parent: int, depth: int) -> None:
        for department in children.get(parent, []):
            if any(r["department"].pk == department.pk for r in rows):
                continue
            rows.append({"department": department, "depth": depth, "members": counts.get(department.department_id, 0)})
            walk(department.department_id, depth + 1)

    walk(0, 0)
    return rows


# --- members ------------------------------------------------------------------------------------------
def create_member(account, data: dict[str, Any]) -> WeComMember:
    userid = clean_userid(data.get("userid"))
    if WeComMember.objects.filter(account=account, userid__iexact=userid).exists():
        raise ValidationError({"userid": f"A member has the user id {userid!r} already."})
    body = clean_member_fields(account, data, creating=True)
    api = contacts(account)
    _call(api.user.create, userid, body.pop("name"), body.pop("department"), **body, field="userid")
    return refresh_member(account, userid)


def refresh_member(account, userid: str) -> WeComMember:
    """Mirror one member from user/get."""
    item = _call(contacts(account).user.get, userid, field="userid")
    member, _ = WeComMember.objects.update_or_create(account=account, userid=userid,
                                                     defaults=_member_defaults(item, timezone.now()))
    return member


def member_for_login(account, userid: str) -> WeComMember | None:
    """The member behind a WeCom login: the mirrored one, else read from WeCom (and mirrored);
    None when WeCom does not know the user id (60111). Other failures propagate."""
    member = WeComMember.objects.filter(account=account, userid=userid).first()
    if member is not None:
        return member
    try:
        item = contacts(account).user.get(userid)
    except WeChatAPIError as err:
        if err.errcode == 60111:
            return None
        raise
    member, _ = WeComMember.objects.update_or_create(account=account, userid=userid,
                                                     defaults=_member_defaults(item, timezone.now()))
    return member


def update_member(member: WeComMember, data: dict[str, Any]) -> WeComMember:
    body = clean_member_fields(member.account, data, creating=False)
    if not body:
        return member
    mobile = body.get("mobile", member.mobile)
    email = body.get("email", member.email)
    if not mobile and not email:
        raise ValidationError({"mobile": "A member needs a mobile number or an email address."})
    _call(contacts(member.account).user.update, member.userid, **body)
    return refresh_member(member.account, member.userid)


def delete_member(member: WeComMember) -> None:
    try:
        contacts(member.account).user.delete(member.userid)
    except WeChatAPIError as err:
        if not refused(err):
            raise
        if err.errcode != 60111:  # gone on WeCom already: forget it here too
            raise ValidationError(explain(err)) from err
    WeComTagMember.objects.filter(tag__account=member.account, userid=member.userid).delete()
    member.delete()


# --- tags ---------------------------------------------------------------------------------------------
def create_tag(account, name) -> WeComTag:
    name = clean_tag_name(account, name)
    tag_id = _call(contacts(account).tag.create, name, field="name")
    tag, _ = WeComTag.objects.update_or_create(account=account, tag_id=tag_id,
                                               defaults={"name": name, "synced_at": timezone.now()})
    return tag


def rename_tag(tag: WeComTag, name) -> WeComTag:
    name = clean_tag_name(tag.account, name, exclude_pk=tag.pk)
    _call(contacts(tag.account).tag.update, tag.tag_id, name, field="name")
    tag.name = name
    tag.save(update_fields=["name"])
    return tag


def delete_tag(tag: WeComTag) -> None:
    try:
        contacts(tag.account).tag.delete(tag.tag_id)
    except WeChatAPIError as err:
        if not refused(err):
            raise
        if err.errcode != 40068:
            raise ValidationError(explain(err)) from err
    tag.delete()


def _clean_members(account, userids, party_ids) -> tuple[list[str], list[int]]:
    userids = list(userids or [])
    party_ids = list(party_ids or [])
    if not userids and not party_ids:
        raise ValidationError({"userids": "Give member user ids or department ids."})
    if len(userids) > 10_000:
        raise ValidationError({"userids": "At most 10,000 user ids a request."})
    if len(party_ids) > 100:
        raise ValidationError({"department_ids": "At most 100 departments a request."})
    cleaned = []
    for value in userids:
        if not isinstance(value, str) or not USERID_RE.match(value):
            raise ValidationError({"userids": f"{value!r} is not a user id."})
        if value not in cleaned:
            cleaned.append(value)
    parties = []
    for value in party_ids:
        if isinstance(value, bool) or not str(value).isdigit():
            raise ValidationError({"department_ids": f"{value!r} is not a department id."})
        parties.append(int(value))
    return cleaned, parties


def change_tag_members(tag: WeComTag, userids=None, party_ids=None, *, add: bool = True) -> dict[str, Any]:
    """Tag (or untag) members and departments, 1,000 members a WeCom call; returns what changed
    and what WeCom did not know (``invalid_users``, ``invalid_parties``)."""
    userids, party_ids = _clean_members(tag.account, userids, party_ids)
    api = contacts(tag.account)
    call = api.tag.add_users if add else api.tag.delete_users
    invalid_users: list[str] = []
    invalid_parties: list[int] = []
    batches = [userids[i:i + TAG_BATCH] for i in range(0, len(userids), TAG_BATCH)] or [[]]
    for index, batch in enumerate(batches):
        parties = party_ids if index == 0 else []
        if not batch and not parties:
            continue
        try:
            answer = call(tag.tag_id, batch, parties)
        except WeChatAPIError as err:
            if not refused(err):
                raise
            if err.errcode != 40070:  # 40070: none of this batch exists on WeCom
                raise ValidationError(explain(err)) from err
            answer = {"invalid_users": list(batch), "invalid_parties": list(parties)}
        invalid_users += answer["invalid_users"]
        invalid_parties += answer["invalid_parties"]
    good_users = [u for u in userids if u not in set(invalid_users)]
    good_parties = [p for p in party_ids if p not in set(invalid_parties)]
    with transaction.atomic():
        if add:
            WeComTagMember.objects.bulk_create([WeComTagMember(tag=tag, userid=u) for u in good_users],
                                               ignore_conflicts=True)
            tag.departments = sorted(set(tag.departments) | set(good_parties))
        else:
            tag.memberships.filter(userid__in=good_users).delete()
            tag.departments = [d for d in tag.departments if d not in good_parties]
        tag.save(update_fields=["departments"])
    return {"changed_users": len(good_users), "changed_departments": len(good_parties),
            "invalid_users": invalid_users, "invalid_parties": invalid_parties}


# --- change_contact events ----------------------------------------------------------------------------
def event_digest(fields: dict[str, Any]) -> str:
    """The identity of one event across WeCom's retries: every field it carries."""
    canonical = json.dumps({k: fields[k] for k in sorted(fields)}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _fields(message) -> dict[str, Any]:
    raw = getattr(message, "raw", None)
    if isinstance(message, dict):
        raw = message
    return {k: v for k, v in (raw or {}).items() if not isinstance(v, (dict, list)) or k in ("Department",)}


def apply_event(account, message) -> bool:
    """Apply one change_contact event to the mirror; False when it was applied before (a retry)
    or is not a contacts change. Safe under concurrent deliveries: the ledger row is unique."""
    fields = _fields(message)
    change = str(fields.get("ChangeType") or "")
    if str(fields.get("Event") or "").lower() != "change_contact" or change not in APPLIERS:
        return False
    subject = str(fields.get("UserID") or fields.get("Id") or fields.get("TagId") or "")[:USERID_MAX]
    try:
        with transaction.atomic():
            WeComContactEvent.objects.create(account=account, digest=event_digest(fields), change_type=change,
                                             subject=subject, event_time=int(fields.get("CreateTime") or 0))
            APPLIERS[change](account, fields)
    except IntegrityError:
        logger.info("change_contact %s %s for account %s applied already (a retry)", change, subject, account.pk)
        return False
    return True


EVENT_MEMBER_FIELDS = {"Name": "name", "Position": "position", "Mobile": "mobile", "Email": "email",
                       "Gender": "gender", "Telephone": "telephone", "Alias": "alias"}


def _apply_user(account, fields, *, creating: bool) -> None:
    userid = str(fields.get("UserID") or "")
    if not userid:
        return
    now = timezone.now()
    member = WeComMember.objects.filter(account=account, userid=userid).first()
    new_userid = str(fields.get("NewUserID") or "")
    if member is None:
        member = WeComMember(account=account, userid=userid, name=userid)
    for tag, attr in EVENT_MEMBER_FIELDS.items():
        if tag in fields:
            setattr(member, attr, str(fields[tag] or "")[:WeComMember._meta.get_field(attr).max_length])
    if "Department" in fields:
        member.departments = _ints(fields["Department"])
        if member.main_department not in member.departments:
            member.main_department = member.departments[0] if member.departments else None
    if "IsLeaderInDept" in fields:
        member.is_leader_in_dept = _ints(fields["IsLeaderInDept"])
    if "MainDepartment" in fields and str(fields["MainDepartment"]).isdigit():
        member.main_department = int(fields["MainDepartment"])
    if "Status" in fields and str(fields["Status"]).isdigit():
        member.status = int(fields["Status"])
        member.enable = member.status != WeComMember.Status.DISABLED
    member.synced_at = now
    if new_userid and new_userid != userid:
        WeComMember.objects.filter(account=account, userid=new_userid).delete()
        WeComTagMember.objects.filter(tag__account=account, userid=userid).update(userid=new_userid)
        member.userid = new_userid
    member.save()


def _apply_delete_user(account, fields) -> None:
    userid = str(fields.get("UserID") or "")
    WeComMember.objects.filter(account=account, userid=userid).delete()
    WeComTagMember.objects.filter(tag__account=account, userid=userid).delete()


def _apply_party(account, fields) -> None:
    if not str(fields.get("Id") or "").isdigit():
        return
    defaults: dict[str, Any] = {"synced_at": timezone.now()}
    if "Name" in fields:
        defaults["name"] = str(fields["Name"] or "")[:DEPARTMENT_NAME_MAX]
    if str(fields.get("ParentId") or "").isdigit():
        defaults["parent_id"] = int(fields["ParentId"])
    if str(fields.get("Order") or "").isdigit():
        defaults["order"] = int(fields["Order"])
    department = WeComDepartment.objects.filter(account=account, department_id=int(fields["Id"])).first()
    if department is None:
        WeComDepartment.objects.create(account=account, department_id=int(fields["Id"]),
                                       **{"name": str(fields["Id"]), **defaults})
    else:
        for key, value in defaults.items():
            setattr(department, key, value)
        department.save()


def _apply_delete_party(account, fields) -> None:
    if str(fields.get("Id") or "").isdigit():
        WeComDepartment.objects.filter(account=account, department_id=int(fields["Id"])).delete()


def _apply_tag(account, fields) -> None:
    if not str(fields.get("TagId") or "").isdigit():
        return
    tag = WeComTag.objects.filter(account=account, tag_id=int(fields["TagId"])).first()
    if tag is None:  # a tag created since the last sync: its name comes with the next sync
        tag = WeComTag.objects.create(account=account, tag_id=int(fields["TagId"]), name=f"tag {fields['TagId']}")
    added = [u for u in str(fields.get("AddUserItems") or "").split(",") if u]
    removed = [u for u in str(fields.get("DelUserItems") or "").split(",") if u]
    WeComTagMember.objects.bulk_create([WeComTagMember(tag=tag, userid=u) for u in added], ignore_conflicts=True)
    tag.memberships.filter(userid__in=removed).delete()
    departments = set(tag.departments) | set(_ints(fields.get("AddPartyItems")))
    departments -= set(_ints(fields.get("DelPartyItems")))
    tag.departments = sorted(departments)
    tag.synced_at = timezone.now()
    tag.save(update_fields=["departments", "synced_at"])


APPLIERS: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "create_user": lambda account, fields: _apply_user(account, fields, creating=True),
    "update_user": lambda account, fields: _apply_user(account, fields, creating=False),
    "delete_user": _apply_delete_user,
    "create_party": _apply_party,
    "update_party": _apply_party,
    "delete_party": _apply_delete_party,
    "update_tag": _apply_tag,
}


def on_contact_changed(sender, account=None, message=None, **kwargs) -> None:
    """Receiver of ``signals.wecom_contact_changed``."""
    if account is None or message is None:
        return
    apply_event(account, message)
