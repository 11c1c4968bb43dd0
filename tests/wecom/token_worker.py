"""Subprocess of the cross-process WeCom token test.

argv: sandbox_url corp_id secret agent_id threads start_at(epoch) -> prints {"tokens": [...]} as JSON.
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from wechat_app.models import Account  # noqa: E402
from wechat_app.services.tokens import get_access_token  # noqa: E402


def main(url, corp_id, secret, agent_id, threads, start_at):
    account = Account(name="bench", channel="wecom", app_id=corp_id, agent_id=agent_id, app_secret=secret,
                      api_base_url=url)
    results = []

    def call():
        time.sleep(max(0.0, start_at - time.time()))
        results.append(get_access_token(account))

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps({"tokens": results}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
