"""Settings of the callback server the live fault tests start: the demo's, with short rechecks."""
from project.settings import *  # noqa: F401,F403
from project.settings import WECHAT_APP

WECHAT_APP = {**WECHAT_APP, "RECHECK_INTERVAL": 1, "CACHE_RETRY_INTERVAL": 0.5}
