"""WeCom contacts (通讯录): departments, members and tags, an endpoint group bound on a WeCom
client as ``client.contacts`` (``client.contacts.department.list()``,
``client.contacts.user.get("zhangsan")``, ``client.contacts.tag.add_users(1, ["zhangsan"])``).

Each method is one WeCom endpoint; the bodies are WeCom's own field names.
https://developer.work.weixin.qq.com/document/path/90193 (departments)
https://developer.work.weixin.qq.com/document/path/90194 (members)
https://developer.work.weixin.qq.com/document/path/90209 (tags)
"""
from __future__ import annotations

from typing import Any

from .errors import WeChatPayloadError

DOC = "https://developer.work.weixin.qq.com/document/path/"
TAG_BATCH = 1000  # addtagusers / deltagusers: at most 1000 users and 100 departments a call
TAG_PARTY_BATCH = 100


class _Group:
    def __init__(self, client):
        self._client = client

    def _get(self, path: str, **params):
        return self._client.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def _post(self, path: str, body: dict[str, Any]):
        return self._client.request("POST", path, json=body)


def _body(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class DepartmentAPI(_Group):
    """Departments. """ + DOC + "90205"

    def create(self, name: str, parent_id: int = 1, *, order: int | None = None, id: int | None = None,  # noqa: A002
               name_en: str | None = None) -> int:
        """Create a department; return its id (WeCom picks one unless ``id`` is given)."""
        body = _body({"name": name, "name_en": name_en, "parentid": int(parent_id), "order": order, "id": id})
        return int(self._post("/cgi-bin/department/create", body)["id"])

    def update(self, department_id: int, *, name: str | None = None, parent_id: int | None = None,
               order: int | None = None, name_en: str | None = None):
        body = _body({"id": int(department_id), "name": name, "name_en": name_en, "parentid": parent_id,
                      "order": order})
        return self._post("/cgi-bin/department/update", body)

    def delete(self, department_id: int):
        """Delete an empty department (60005 members left, 60006 sub-departments left)."""
        return self._get("/cgi-bin/department/delete", id=int(department_id))

    def list(self, department_id: int | None = None) -> list[dict[str, Any]]:
        """The department and all below it (the whole tree without an id)."""
        return self._get("/cgi-bin/department/list", id=department_id).get("department", [])


class UserAPI(_Group):
    """Members. """ + DOC + "90195"

    def create(self, userid: str, name: str, departments: list[int], **fields) -> dict[str, Any]:
        """Create a member; ``fields`` are WeCom's (mobile, email, position, gender, alias...).
        A member needs a mobile or an email (60129... WeCom words it 40063/60129)."""
        body = {"userid": userid, "name": name, "department": [int(d) for d in departments], **fields}
        return self._post("/cgi-bin/user/create", body)

    def update(self, userid: str, **fields) -> dict[str, Any]:
        """Change the given fields of a member (``department`` a list of ids)."""
        return self._post("/cgi-bin/user/update", {"userid": userid, **fields})

    def delete(self, userid: str):
        return self._get("/cgi-bin/user/delete", userid=userid)

    def batch_delete(self, userids: list[str]):
        if not 1 <= len(userids) <= 200:
            raise WeChatPayloadError(f"batchdelete takes 1 to 200 user ids, not {len(userids)}")
        return self._post("/cgi-bin/user/batchdelete", {"useridlist": list(userids)})

    def get(self, userid: str) -> dict[str, Any]:
        """A member's details (60111 no such member)."""
        answer = self._get("/cgi-bin/user/get", userid=userid)
        return {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}

    def simple_list(self, department_id: int, fetch_child: bool = False) -> list[dict[str, Any]]:
        """``[{"userid", "name", "department"}]`` of a department (and below, with ``fetch_child``)."""
        return self._get("/cgi-bin/user/simplelist", department_id=int(department_id),
                         fetch_child=int(bool(fetch_child))).get("userlist", [])

    def list(self, department_id: int, fetch_child: bool = False) -> list[dict[str, Any]]:
        """Every member of a department with their details (and below, with ``fetch_child``)."""
        return self._get("/cgi-bin/user/list", department_id=int(department_id),
                         fetch_child=int(bool(fetch_child))).get("userlist", [])


class TagAPI(_Group):
    """Tags. """ + DOC + "90210"

    def create(self, name: str, tag_id: int | None = None) -> int:
        return int(self._post("/cgi-bin/tag/create", _body({"tagname": name, "tagid": tag_id}))["tagid"])

    def update(self, tag_id: int, name: str):
        return self._post("/cgi-bin/tag/update", {"tagid": int(tag_id), "tagname": name})

    def delete(self, tag_id: int):
        return self._get("/cgi-bin/tag/delete", tagid=int(tag_id))

    def get(self, tag_id: int) -> dict[str, Any]:
        """``{"tagname", "userlist": [{"userid", "name"}], "partylist": [ids]}``."""
        answer = self._get("/cgi-bin/tag/get", tagid=int(tag_id))
        return {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}

    def _members(self, path: str, tag_id: int, userids, party_ids) -> dict[str, Any]:
        userids, party_ids = list(userids or []), [int(p) for p in party_ids or []]
        if not userids and not party_ids:
            raise WeChatPayloadError("give user ids or department ids")
        if len(userids) > TAG_BATCH or len(party_ids) > TAG_PARTY_BATCH:
            raise WeChatPayloadError(f"at most {TAG_BATCH} users and {TAG_PARTY_BATCH} departments a call")
        answer = self._post(path, _body({"tagid": int(tag_id), "userlist": userids or None,
                                         "partylist": party_ids or None}))
        # Partial success: errcode 0 with the ids WeCom refused ("invalidlist" user ids joined by |).
        invalid = [u for u in str(answer.get("invalidlist") or "").split("|") if u]
        return {"invalid_users": invalid, "invalid_parties": [int(p) for p in answer.get("invalidparty") or []]}

    def add_users(self, tag_id: int, userids=None, party_ids=None) -> dict[str, Any]:
        """Tag members and departments; returns ``{"invalid_users", "invalid_parties"}``."""
        return self._members("/cgi-bin/tag/addtagusers", tag_id, userids, party_ids)

    def delete_users(self, tag_id: int, userids=None, party_ids=None) -> dict[str, Any]:
        return self._members("/cgi-bin/tag/deltagusers", tag_id, userids, party_ids)

    def list(self) -> list[dict[str, Any]]:
        """``[{"tagid", "tagname"}]``."""
        return self._get("/cgi-bin/tag/list").get("taglist", [])


class ContactsAPI:
    """``client.contacts``: ``.department``, ``.user``, ``.tag``."""

    def __init__(self, client):
        self.department = DepartmentAPI(client)
        self.user = UserAPI(client)
        self.tag = TagAPI(client)
