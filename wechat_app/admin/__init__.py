"""The admin console: accounts, rules (with the "try it" simulator), the message log, dashboards.

Every screen is limited to the accounts the user is granted (``access.AccountScopedAdminMixin``);
superusers see everything.
"""
from . import accounts, agent, api_tokens, audience, ilink, logs, media, menus, outbound, rules, web, wecom  # noqa: F401  (registers the ModelAdmins)
