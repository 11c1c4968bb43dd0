"""Settings of the Celery worker subprocesses started by the tests: the project's, with short
leases and retry delays so that a killed worker's messages are taken over within seconds."""
from project.settings import *  # noqa: F401,F403

WECHAT_APP = {**WECHAT_APP, "OUTBOUND_LEASE": 2,  # noqa: F405 (the sandbox stays allowed)
              "API_TIMEOUT": (0.5, 1), "OUTBOUND_RETRY_DELAY": 0.05, "OUTBOUND_RETRY_MAX_DELAY": 0.5,
              "OUTBOUND_QUOTA_DELAY": 0.3}
