"""Admin screens of the app, one module per area."""
from . import outbound  # noqa: F401
