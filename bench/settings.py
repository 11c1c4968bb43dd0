"""Settings for the callback benchmark: the demo project plus the bare comparison view."""
from project.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["*"]
WECHAT_APP = {**WECHAT_APP, "LOG_BUFFER": bool(env("BENCH_LOG_BUFFER", default="")),  # noqa: F405
              # compare.py's "-django" variants set BENCH_FAST_PATH empty: callbacks through Django
              "CALLBACK_FAST_PATH": bool(env("BENCH_FAST_PATH", default="1"))}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "loggers": {"wechat_app": {"level": "WARNING"}}}
