"""A WeCom app's agent menu and its page login, endpoint groups bound on ``WeComClient`` as
``client.menu`` (``/cgi-bin/menu/create?agentid=``, get, delete) and ``client.oauth``
(``/cgi-bin/auth/getuserinfo?code=``: the member behind a login code).
https://developer.work.weixin.qq.com/document/path/90231 (menus)
https://developer.work.weixin.qq.com/document/path/91023 (getuserinfo)
"""
from __future__ import annotations

from typing import Any

from .errors import WeChatPayloadError


class _AgentGroup:
    def __init__(self, client):
        self._client = client

    def _agent_id(self, agent_id: int | None) -> int:
        agent_id = agent_id if agent_id is not None else self._client.agent_id
        if agent_id is None:
            raise WeChatPayloadError("an agent id is needed (the account's agent_id)")
        return int(agent_id)


class AgentMenuAPI(_AgentGroup):
    """The app's menu (``{"button": [...]}`` as the Official Account's; no conditional menus)."""

    def create(self, menu: dict[str, Any], agent_id: int | None = None):
        return self._client.request("POST", "/cgi-bin/menu/create", params={"agentid": self._agent_id(agent_id)},
                                    json=menu)

    def get(self, agent_id: int | None = None) -> dict[str, Any]:
        """``{"button": [...]}`` (46003 when the app has no menu)."""
        answer = self._client.request("GET", "/cgi-bin/menu/get", params={"agentid": self._agent_id(agent_id)})
        return {"button": answer.get("button") or []}

    def delete(self, agent_id: int | None = None):
        return self._client.request("GET", "/cgi-bin/menu/delete", params={"agentid": self._agent_id(agent_id)})


class WeComOAuthAPI(_AgentGroup):
    """Login from a WeCom page: the code WeCom's authorize page gave, exchanged for the member."""

    def get_user_info(self, code: str) -> dict[str, Any]:
        """``{"userid", ["user_ticket"]}`` for a member of the corp, ``{"openid"}`` for anyone else
        (40029 invalid code). A code is good once, for 5 minutes."""
        answer = self._client.request("GET", "/cgi-bin/auth/getuserinfo", params={"code": code})
        return {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}
