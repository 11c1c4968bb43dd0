"""Waiting for something another thread or process does, in tests."""
import time

from django.db import OperationalError


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False).

    On the embedded SQLite test database (an in-memory database with a shared cache) a read
    that meets another thread's write fails at once with "database table is locked" instead of
    waiting: that poll counts as "not yet", and the next one asks again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OperationalError as err:
            if "locked" not in str(err):
                raise
        time.sleep(interval)
    return False
