"""Test helpers: a sandbox on an ephemeral port as a context manager or pytest fixture.

Usage with pytest (in a conftest.py)::

    from wechat_app.sandbox.testing import sandbox  # noqa: F401  (the fixture)

    def test_send(sandbox):
        sandbox.state.add_app("wx123", "secret")
"""
from __future__ import annotations

import contextlib

from .server import SandboxServer


@contextlib.contextmanager
def running_sandbox(**kwargs):
    """A started ``SandboxServer``, stopped on exit."""
    server = SandboxServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is a test dependency only
    pytest = None

if pytest is not None:

    @pytest.fixture
    def sandbox():
        """A fresh sandbox server per test (ephemeral port, empty state)."""
        with running_sandbox() as server:
            yield server
