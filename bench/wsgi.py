import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_application = get_wsgi_application()

# As project/wsgi.py: the callback's POSTs take the fast path (docs/callback-performance.md).
from wechat_app.wsgi import callback_fast_path  # noqa: E402

application = callback_fast_path(django_application)

# The benches run gunicorn --preload with WECHAT_WARM_BEFORE_FORK=1: the index is built once in
# the master, before the workers fork (as in project/wsgi.py).
if os.environ.get("WECHAT_WARM_BEFORE_FORK"):
    from wechat_app.engine.registry import warm_before_fork

    warm_before_fork()
