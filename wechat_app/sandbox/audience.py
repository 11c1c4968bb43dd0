"""Sandbox endpoints of follower tags and the blacklist, with WeChat's limits and error codes.

Tags: at most 100 per account (45056), names of 1 to 30 characters (45158) and unique (45157);
the system tags 0, 1 and 2 cannot be renamed or deleted (45058); a tag of more than
``state.mass.config["tag_delete_limit"]`` followers (WeChat: 100,000) cannot be deleted (45057);
a follower has at most 20 tags (45059); a batch takes 1 to 50 openids (40032), a blacklist batch
1 to 20 (40032).
https://developers.weixin.qq.com/doc/offiaccount/User_Management/User_Tag_Management.html
https://developers.weixin.qq.com/doc/offiaccount/User_Management/Manage_blacklist.html
"""
from __future__ import annotations

from .server import api
from .state import SandboxError

MAX_TAGS = 100
MAX_TAGS_PER_USER = 20
TAG_BATCH = 50
BLACKLIST_BATCH = 20
SYSTEM_TAGS = (0, 1, 2)
PAGE = 10_000


def _tag_name(body) -> str:
    tag = body.get("tag")
    name = tag.get("name") if isinstance(tag, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise SandboxError(45157, "invalid tag name")
    if len(name) > 30:
        raise SandboxError(45158)
    return name


def _tag_id(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise SandboxError(45159)
    return int(value)


def _existing_tag(state, app_id, value) -> int:
    tag_id = _tag_id(value)
    if tag_id not in state.tags.get(app_id, {}):
        raise SandboxError(45159)
    return tag_id


@api("GET", "/cgi-bin/tags/get")
def _tags(handler, query, body, app_id):
    state = handler.state
    with state.lock:
        tags = state.tags.get(app_id, {})
        counts = {t: 0 for t in tags}
        for follower in state.followers.get(app_id, {}).values():
            for tag in follower.tagid_list:
                if tag in counts:
                    counts[tag] += 1
        return {"tags": [{"id": t, "name": n, "count": counts[t]} for t, n in tags.items()]}


@api("POST", "/cgi-bin/tags/create")
def _tag_create(handler, query, body, app_id):
    name = _tag_name(body)
    state = handler.state
    with state.lock:
        tags = state.tags.setdefault(app_id, {})
        if name in tags.values():
            raise SandboxError(45157)
        if len([t for t in tags if t not in SYSTEM_TAGS]) >= MAX_TAGS:
            raise SandboxError(45056)
        tag_id = max(tags, default=99) + 1
        tags[tag_id] = name
    return {"tag": {"id": tag_id, "name": name}}


@api("POST", "/cgi-bin/tags/update")
def _tag_update(handler, query, body, app_id):
    state = handler.state
    tag = body.get("tag") if isinstance(body.get("tag"), dict) else {}
    with state.lock:
        tag_id = _existing_tag(state, app_id, tag.get("id"))
        if tag_id in SYSTEM_TAGS:
            raise SandboxError(45058)
        name = _tag_name(body)
        tags = state.tags[app_id]
        if any(n == name and t != tag_id for t, n in tags.items()):
            raise SandboxError(45157)
        tags[tag_id] = name
    return {"errcode": 0, "errmsg": "ok"}


@api("POST", "/cgi-bin/tags/delete")
def _tag_delete(handler, query, body, app_id):
    state = handler.state
    tag = body.get("tag") if isinstance(body.get("tag"), dict) else {}
    with state.lock:
        tag_id = _existing_tag(state, app_id, tag.get("id"))
        if tag_id in SYSTEM_TAGS:
            raise SandboxError(45058)
        members = [f for f in state.followers.get(app_id, {}).values() if tag_id in f.tagid_list]
        if len(members) > int(state.mass.config["tag_delete_limit"]):
            raise SandboxError(45057)
        for follower in members:
            follower.tagid_list.remove(tag_id)
        del state.tags[app_id][tag_id]
    return {"errcode": 0, "errmsg": "ok"}


def _batch(state, app_id, openids, limit):
    if not isinstance(openids, list) or not 1 <= len(openids) <= limit:
        raise SandboxError(40032)
    return [state.follower(app_id, openid) for openid in openids]  # 40003 for an unknown one


@api("POST", "/cgi-bin/tags/members/batchtagging")
def _tag_members(handler, query, body, app_id):
    state = handler.state
    with state.lock:
        tag_id = _existing_tag(state, app_id, body.get("tagid"))
        followers = _batch(state, app_id, body.get("openid_list"), TAG_BATCH)
        if any(tag_id not in f.tagid_list and len(f.tagid_list) >= MAX_TAGS_PER_USER for f in followers):
            raise SandboxError(45059)
        for follower in followers:
            if tag_id not in follower.tagid_list:
                follower.tagid_list.append(tag_id)
    return {"errcode": 0, "errmsg": "ok"}


@api("POST", "/cgi-bin/tags/members/batchuntagging")
def _untag_members(handler, query, body, app_id):
    state = handler.state
    with state.lock:
        tag_id = _existing_tag(state, app_id, body.get("tagid"))
        for follower in _batch(state, app_id, body.get("openid_list"), TAG_BATCH):
            if tag_id in follower.tagid_list:
                follower.tagid_list.remove(tag_id)
    return {"errcode": 0, "errmsg": "ok"}


@api("POST", "/cgi-bin/tags/getidlist")
def _tag_ids(handler, query, body, app_id):
    with handler.state.lock:
        return {"tagid_list": list(handler.state.follower(app_id, body.get("openid", "")).tagid_list)}


def _page(ids, begin):
    start = 0
    if begin:
        if begin not in ids:
            raise SandboxError(40003)
        start = ids.index(begin) + 1
    page = ids[start:start + PAGE]
    data = {"total": len(ids), "count": len(page), "next_openid": page[-1] if page else ""}
    if page:
        data["data"] = {"openid": page}
    return data


@api("POST", "/cgi-bin/user/tag/get")
def _tag_users(handler, query, body, app_id):
    state = handler.state
    with state.lock:
        tag_id = _existing_tag(state, app_id, body.get("tagid"))
        ids = [o for o, f in state.followers.get(app_id, {}).items() if f.subscribe and tag_id in f.tagid_list]
    data = _page(ids, body.get("next_openid") or "")
    data.pop("total")
    return data


@api("POST", "/cgi-bin/tags/members/getblacklist")
def _blacklist(handler, query, body, app_id):
    with handler.state.lock:
        ids = [o for o, f in handler.state.followers.get(app_id, {}).items() if f.blacklisted]
    return _page(ids, body.get("begin_openid") or "")


def _set_blacklisted(handler, body, app_id, value: bool):
    state = handler.state
    with state.lock:
        for follower in _batch(state, app_id, body.get("openid_list"), BLACKLIST_BATCH):
            follower.blacklisted = value
    return {"errcode": 0, "errmsg": "ok"}


@api("POST", "/cgi-bin/tags/members/batchblacklist")
def _batch_blacklist(handler, query, body, app_id):
    return _set_blacklisted(handler, body, app_id, True)


@api("POST", "/cgi-bin/tags/members/batchunblacklist")
def _batch_unblacklist(handler, query, body, app_id):
    return _set_blacklisted(handler, body, app_id, False)


@api("POST", "/cgi-bin/user/info/updateremark")
def _user_remark(handler, query, body, app_id):
    remark = body.get("remark")
    if not isinstance(remark, str) or len(remark) > 30:  # WeChat: fewer than 30 characters
        raise SandboxError(47001, "remark is text of at most 30 characters")
    with handler.state.lock:
        handler.state.follower(app_id, body.get("openid", "")).remark = remark
    return {"errcode": 0, "errmsg": "ok"}
