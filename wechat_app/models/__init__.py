"""The app's models, one module per area; import them from here."""
from .access import AccountMembership
from .accounts import Account
from .agent import AgentDeliveryAttempt, AgentEvent, AgentSendTask, AgentSettings
from .api_tokens import ApiToken
from .audience import KfAccount, MassMessage, Tag
from .ilink import ILinkBot, ILinkLogin
from .logs import MessageLog
from .media import IncomingMedia, Material
from .menus import Menu, MenuVersion
from .outbound import Campaign, Follower, OutboundMessage, SyncJob, Template
from .rules import Rule
from .web import QRCode, ShortLink, WeChatUser
from .wecom import WeComContactEvent, WeComDepartment, WeComMember, WeComTag, WeComTagMember

__all__ = [
    "Account", "AccountMembership", "AgentDeliveryAttempt", "AgentEvent", "AgentSendTask", "AgentSettings",
    "ApiToken", "Campaign", "Follower", "ILinkBot", "ILinkLogin", "IncomingMedia", "KfAccount", "MassMessage",
    "Material", "Menu", "MenuVersion", "MessageLog", "OutboundMessage", "QRCode", "Rule", "ShortLink",
    "SyncJob", "Tag", "Template", "WeChatUser", "WeComContactEvent", "WeComDepartment", "WeComMember",
    "WeComTag", "WeComTagMember",
]
