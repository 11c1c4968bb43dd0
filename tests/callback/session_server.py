"""A callback server process for the cross-process session test.

Run as ``python -m tests.callback.session_server`` with DATABASE_URL/REDIS_URL of the test run.
Registers the code rules of ``tests.callback.test_sessions`` (a session counter and the
guess-a-number game) and prints the port it listens on.
"""
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402

from tests.callback.test_sessions import register_rules  # noqa: E402

register_rules()


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    httpd = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=Server, handler_class=QuietHandler)
    print(httpd.server_port, flush=True)
    sys.stdout.close()
    httpd.serve_forever()
