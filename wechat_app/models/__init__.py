"""The app's models, one module per area; import them from here."""
from .access import AccountMembership
from .accounts import Account
from .api_tokens import ApiToken
from .logs import MessageLog
from .menus import Menu, MenuVersion
from .outbound import Campaign, Follower, OutboundMessage, Template
from .rules import Rule

__all__ = [
    "Account", "AccountMembership", "ApiToken", "Campaign", "Follower", "Menu", "MenuVersion", "MessageLog", "OutboundMessage",
    "Rule", "Template",
]
