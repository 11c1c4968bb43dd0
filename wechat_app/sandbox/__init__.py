"""A fake WeChat API server (real HTTP, threaded) with state and fault injection.

See ``server.SandboxServer`` and docs/sandbox.md. No Django imports: it runs standalone with
``python -m wechat_app.sandbox --port 8081 --app wxid:secret``.
"""
from .server import SandboxServer, build_event_xml, push_event
from .state import ERRORS, Fault, Follower, SandboxError, SandboxState

__all__ = ["ERRORS", "Fault", "Follower", "SandboxError", "SandboxServer", "SandboxState",
           "build_event_xml", "push_event"]
