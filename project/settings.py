"""Settings of the demo/dev project.

Everything that differs between machines comes from the environment (12-factor):
DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, SECRET_KEY, DEBUG, ALLOWED_HOSTS. With none of them
set, the project runs on embedded defaults: SQLite, a local-memory cache and eager Celery tasks.
"""
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# The fallback key is for local development only; production sets SECRET_KEY.
SECRET_KEY = env("SECRET_KEY", default="dev-insecure-5r1k7p0q9x2m4n8b6v3c1z0l7k5j3h1g")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",           # the API's schema and docs pages (dependencies of wechat_app)
    "drf_spectacular_sidecar",   # their scripts and styles, as local static files
    "wechat_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

# Staff sign in with a password; the H5 demo pages' visitors log in with WeChat (docs/web.md).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "wechat_app.auth.WeChatBackend",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite is the zero-configuration default; a busy timeout keeps the threaded dev server happy.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)
    DATABASES["default"]["CONN_MAX_AGE"] = 0

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="wechat"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # Short timeouts: a Redis that is down or frozen must fail fast, so that the
                # callback still answers WeChat (within 5 s) from the rules in memory.
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.5),
                "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=0.5),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Files the app keeps (media users send, local copies of the material library) go to the default
# storage under MEDIA_ROOT. They are private: the admin serves them after checking the account, so
# MEDIA_URL is not routed.
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Celery: a real broker when one is configured, otherwise tasks run eagerly in-process.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE

# No REST_FRAMEWORK or SPECTACULAR_SETTINGS: the app's API declares its own authentication,
# permissions, errors, throttling, pagination and schema settings (docs/api.md).

# The app's own settings: one namespaced dict, every key documented in wechat_app/conf.py.
WECHAT_APP = {
    # Log rows the callback could not write while the database was down wait here (fsynced).
    "SPOOL_DIR": env("WECHAT_SPOOL_DIR", default=str(BASE_DIR / "var" / "wechat_spool")),
    # Keep a copy of the images, voices and videos users send (docs/media.md); off unless asked.
    "FETCH_INCOMING_MEDIA": env.bool("WECHAT_FETCH_INCOMING_MEDIA", default=False),
}
# The demo talks to the WeChat API sandbox on loopback (`make run`, the tests: ports chosen at
# run time), so it allows plain http to loopback on any port besides WeChat's hosts. A production
# deployment sets WECHAT_SANDBOX=false: account API URLs are then WeChat's hosts only.
if env.bool("WECHAT_SANDBOX", default=True):
    from wechat_app.client.hosts import LOOPBACK_SANDBOX_BASE_URLS, WECHAT_API_BASE_URLS, WECOM_API_BASE_URLS

    WECHAT_APP["ALLOWED_API_BASE_URLS"] = [*WECHAT_API_BASE_URLS, *WECOM_API_BASE_URLS, *LOOPBACK_SANDBOX_BASE_URLS]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "wechat_app": {"handlers": ["console"], "level": env("WECHAT_LOG_LEVEL", default="INFO")},
        # Unhandled exceptions of views (django.request, 500s with their tracebacks), refused
        # requests and security warnings reach the console also with DEBUG off (Django's default
        # prints them only in DEBUG and otherwise mails errors to ADMINS, which is unset here).
        "django": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="WARNING")},
    },
}
