"""A callback server process for the cross-process session test.

Run as ``python -m tests.callback.session_server`` with DATABASE_URL/REDIS_URL of the test run.
Registers the code rules of ``tests.callback.test_sessions`` (a session counter and the
guess-a-number game) and prints the port it listens on.
"""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from tests.callback.test_sessions import register_rules  # noqa: E402
from tests.callback.wsgi_server import serve_forever  # noqa: E402

register_rules()


if __name__ == "__main__":
    serve_forever()
