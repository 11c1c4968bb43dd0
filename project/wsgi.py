"""WSGI entry point of the demo project (``gunicorn project.wsgi``)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_application = get_wsgi_application()

# WeChat's callback POSTs skip Django's request handling; everything else goes to Django
# (docs/callback-performance.md, "The fast path"; WECHAT_APP["CALLBACK_FAST_PATH"] turns it off).
from wechat_app.wsgi import callback_fast_path  # noqa: E402 (needs the settings module set above)

application = callback_fast_path(django_application)

# Build the accounts' rule indexes now rather than on the first message (docs/rule-index.md).
# With ``gunicorn --preload`` this module runs once, in the master, before the workers fork: set
# WECHAT_WARM_BEFORE_FORK=1 and the indexes are built there, synchronously (no thread may run
# across a fork), and every worker starts with them. Otherwise each worker builds them in a
# background thread.
from wechat_app.engine.registry import warm, warm_before_fork  # noqa: E402

if os.environ.get("WECHAT_WARM_BEFORE_FORK"):
    warm_before_fork()
else:
    warm()
