"""The app's models, one module per area; import them from here."""
from .access import AccountMembership
from .accounts import Account
from .logs import MessageLog
from .menus import Menu, MenuVersion
from .outbound import Campaign, Follower, OutboundMessage, Template
from .rules import Rule
from .web import QRCode, ShortLink, WeChatUser

__all__ = [
    "Account", "AccountMembership", "Campaign", "Follower", "Menu", "MenuVersion", "MessageLog", "OutboundMessage",
    "QRCode", "Rule", "ShortLink", "Template", "WeChatUser",
]
