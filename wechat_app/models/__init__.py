"""The app's models, one module per area; import them from here."""
from .access import AccountMembership
from .accounts import Account
from .api_tokens import ApiToken
from .audience import KfAccount, MassMessage, Tag
from .ilink import ILinkBot, ILinkLogin
from .logs import MessageLog
from .media import IncomingMedia, Material
from .menus import Menu, MenuVersion
from .outbound import Campaign, Follower, OutboundMessage, SyncJob, Template
from .rules import Rule
from .web import QRCode, ShortLink, WeChatUser

__all__ = [
    "Account", "AccountMembership", "ApiToken", "Campaign", "Follower", "ILinkBot", "ILinkLogin", "IncomingMedia", "KfAccount", "MassMessage",
    "Material", "Menu", "MenuVersion", "MessageLog", "OutboundMessage", "QRCode", "Rule", "ShortLink", "SyncJob",
    "Tag", "Template", "WeChatUser",
]
