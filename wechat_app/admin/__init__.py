"""The admin console: accounts, rules (with the "try it" simulator), the message log, dashboards.

Every screen is limited to the accounts the user is granted (``access.AccountScopedAdminMixin``);
superusers see everything.
"""
from importlib.util import find_spec

from . import accounts, logs, rules  # noqa: F401  (registers the ModelAdmins)

if find_spec(f"{__name__}.outbound") is not None:  # the outbound screens, when installed
    from . import outbound  # noqa: F401
