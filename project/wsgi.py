"""WSGI entry point of the demo project (``gunicorn project.wsgi``)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
application = get_wsgi_application()

# Build the accounts' rule indexes now, in the background, rather than on the first message
# (docs/rule-index.md).
from wechat_app.engine.registry import warm  # noqa: E402

warm()
