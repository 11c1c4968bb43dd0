"""The app's models, one module per area; import them from here."""
from .access import AccountMembership
from .accounts import Account
from .logs import MessageLog
from .media import IncomingMedia, Material
from .menus import Menu, MenuVersion
from .outbound import Campaign, Follower, OutboundMessage, Template
from .rules import Rule

__all__ = [
    "Account", "AccountMembership", "Campaign", "Follower", "IncomingMedia", "Material", "Menu", "MenuVersion", "MessageLog", "OutboundMessage",
    "Rule", "Template",
]
