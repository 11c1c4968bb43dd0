"""The serving part of the callback server processes of the cross-process tests
(``slow_server``, ``session_server``): the demo project's WSGI app on an ephemeral loopback port,
threaded, quiet; the port is printed on stdout, which is then closed so the parent can read it."""
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve_forever():
    from django.core.wsgi import get_wsgi_application

    httpd = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=Server, handler_class=QuietHandler)
    print(httpd.server_port, flush=True)
    sys.stdout.close()
    httpd.serve_forever()
