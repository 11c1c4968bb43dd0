"""The peer: WeRoBot 1.13 (bench/requirements.txt) answering with the same rules as the callback bench.

Served by gunicorn (``bench.werobot_app:application``) with the rule count in BENCH_RULES. Each
generated rule becomes a WeRoBot handler (exact text: ``filter("kw1")``; contains: a regex
matched from the start; regex: the same pattern, its group in the reply; event: ``key_click``);
the default reply is a catch-all handler, last. WeRoBot does no logging, no dedupe and keeps no
session here (SESSION_STORAGE False); it runs the handlers one after another.
"""
import os
import re

import werobot

from bench.callback_bench import rule_specs

robot = werobot.WeRoBot(token=os.environ["BENCH_TOKEN"], encoding_aes_key=os.environ["BENCH_AES_KEY"],
                        app_id=os.environ["BENCH_APP_ID"])
robot.config["SESSION_STORAGE"] = False  # no session (the constructor's session_storage=False is ignored)


def _add(kind, value, key, reply):
    if kind == "exact":
        robot.add_filter(lambda message: reply, [value])
    elif kind == "contains":
        robot.add_filter(lambda message: reply, [re.compile(".*" + re.escape(value), re.S)])
    elif kind == "regex":
        robot.add_filter(lambda message, session, match: reply.replace("{1}", match.group(1)), [re.compile(value)])
    else:
        robot.key_click(key)(lambda message: reply)


for spec in rule_specs(int(os.environ.get("BENCH_RULES", "10"))):
    _add(*spec)
robot.add_handler(lambda message: "default reply")

application = robot.wsgi
