"""The app's models, one module per area; import them from here."""
from .accounts import Account
from .logs import MessageLog
from .rules import Rule

__all__ = ["Account", "MessageLog", "Rule"]
