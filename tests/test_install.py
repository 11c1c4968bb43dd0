"""The README's "Installing into an existing Django project", followed literally.

A fresh ``django-admin startproject``, its settings and urls extended with the README's snippets
(a ``# ...`` line stands for what the project already has), without django-redis (the optional
``[redis]`` extra) and without a Celery app: migrate, a message through the callback, and a
message pushed to the sandbox, the REST API with an API token and its docs page (scripts and
styles from local static files). Then the README's ``celery.py``: the same push, and the beat
schedule the app needs.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "shop"
APP_ID, APP_SECRET = "wx5f3c2a1b0d9e8f70", "install-app-secret"

# What `pip install` without the [redis] extra leaves out, and what only the demo project uses.
NOT_INSTALLED = ("django_redis", "redis", "hiredis", "environ")
BLOCKER = f'''
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {NOT_INSTALLED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, NotInstalled())
'''


def install_snippets() -> dict[str, str]:
    """The README install section's code blocks, by the file named on their first line."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Installing into an existing Django project", 1)[1].split("\n## ", 1)[0]
    blocks = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        first = body.splitlines()[0]
        if lang == "python" and first.startswith("# ") and first.endswith(".py"):
            blocks[first[2:].replace("yourproject/", "")] = body
        elif lang == "sh":
            blocks.setdefault("sh", "")
            blocks["sh"] += body
    return blocks


def literal(snippet: str) -> str:
    """A README snippet as code: ``# ...`` inside ``NAME = [`` keeps what NAME already holds."""
    lines, current = [], None
    for line in snippet.splitlines():
        match = re.match(r"^(\w+) = \[$", line)
        if match:
            current = match.group(1)
        if line.strip() == "# ..." and current:
            line = line.replace("# ...", f"*{current},")
        lines.append(line)
    return "\n".join(lines).replace("yourproject", PROJECT) + "\n"


# Run in the installed project: the API with the token (argv[1]), the docs pages, their assets.
API_PROBE = f"""
import json, os, re, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{PROJECT}.settings")
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.test import Client

key = sys.argv[1]
token = Client(HTTP_AUTHORIZATION="Bearer " + key)
accounts = token.get("/wechat/api/accounts/")
schema = token.get("/wechat/api/schema/?format=json")
docs_anonymous = Client().get("/wechat/api/docs/")
session = Client()
session.force_login(get_user_model().objects.get(username="alice"))
docs = session.get("/wechat/api/docs/")
urls = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', docs.content.decode())
assets = {{u: bool(finders.find(u.split("/static/", 1)[1])) if "/static/" in u else False
          for u in urls if not u.startswith("/wechat/api/docs/")}}
print(json.dumps({{
    "accounts": [accounts.status_code, [a["name"] for a in accounts.json()["results"]]],
    "anonymous": Client().get("/wechat/api/accounts/").status_code,
    "bad_token": Client(HTTP_AUTHORIZATION="Bearer wat_00000000_x").get("/wechat/api/accounts/").status_code,
    "schema": [schema.status_code, "/wechat/api/accounts/" in schema.content.decode()],
    "docs_anonymous": [docs_anonymous.status_code, docs_anonymous.get("Location", "")],
    "docs": docs.status_code, "assets": assets,
}}))
"""


@pytest.fixture
def project(tmp_path):
    """A fresh project with the README's settings and urls; returns a runner of its manage.py."""
    blockers = tmp_path / "site"
    blockers.mkdir()
    (blockers / "sitecustomize.py").write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL") and not k.startswith("CELERY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(blockers), str(ROOT)])  # ROOT: as if pip-installed
    base = tmp_path / "site-root"
    base.mkdir()

    def run(*args, check=True):
        done = subprocess.run([sys.executable, *args], cwd=base, env=env, capture_output=True, text=True,
                              timeout=180)
        if check and done.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    run("-m", "django", "startproject", PROJECT, ".")
    snippets = install_snippets()
    with open(base / PROJECT / "settings.py", "a", encoding="utf-8") as settings:
        settings.write("\n" + literal(snippets["settings.py"]))
        # The README's comment: add the sandbox to the allow-list for offline work.
        settings.write('WECHAT_APP["ALLOWED_API_BASE_URLS"] = [*WECHAT_APP["ALLOWED_API_BASE_URLS"], '
                       '"http://127.0.0.1:*"]\n')
    with open(base / PROJECT / "urls.py", "a", encoding="utf-8") as urls:
        urls.write("\n" + literal(snippets["urls.py"]))
    run.base, run.snippets = base, snippets
    return run


def test_the_readme_install_works_literally(project, sandbox):
    sandbox.state.add_app(APP_ID, APP_SECRET)
    first, second = sandbox.state.add_followers(APP_ID, count=2)

    assert project("-c", "import django_redis", check=False).returncode != 0  # as without the [redis] extra
    assert "python manage.py migrate" in project.snippets["sh"]
    project("manage.py", "migrate", "--noinput")
    project("manage.py", "check")
    project("manage.py", "wechat_account", "add", "shop", "--app-id", APP_ID, "--app-secret", APP_SECRET,
            "--token", "ShopToken123", "--api-base-url", sandbox.url)
    project("manage.py", "wechat_rules", "import", str(ROOT / "examples" / "rules.yaml"), "--account", "shop")
    answer = project("manage.py", "wechat_send", "text", "help", "--account", "shop").stdout
    assert "< [text] Try:" in answer  # through the callback URL the README's urls.py mounts

    # The REST API with a token, and its docs pages, as the README's one include serves them.
    project("manage.py", "createsuperuser", "--noinput", "--username", "alice", "--email", "alice@example.com")
    key = project("manage.py", "wechat_api_token", "create", "--user", "alice", "--name", "CRM").stdout.strip()
    seen = json.loads(project("-c", API_PROBE, key).stdout.strip().splitlines()[-1])
    assert seen["accounts"] == [200, ["shop"]]
    assert seen["anonymous"] == 401 and seen["bad_token"] == 401
    assert seen["schema"] == [200, True]
    assert seen["docs_anonymous"][0] == 302 and seen["docs_anonymous"][1].startswith("/admin/login/")
    assert seen["docs"] == 200 and seen["assets"] and all(seen["assets"].values()), seen["assets"]
    assert all(url.startswith("/static/drf_spectacular_sidecar/") for url in seen["assets"])

    # No Celery app: the message is delivered by the process that queues it.
    pushed = project("manage.py", "wechat_push", "text", "Hello from the shop", "--account", "shop", "--to", first)
    assert "sent" in pushed.stdout
    assert [m["payload"]["text"]["content"] for m in sandbox.state.list_messages(app_id=APP_ID)] == \
        ["Hello from the shop"]
    refused = project("manage.py", "wechat_push", "text", "Hi", "--account", "shop", "--to", "oNobody", check=False)
    assert refused.returncode == 1 and "errcode 40003" in refused.stderr

    # The README's Celery app (no broker configured here: still delivered in-process).
    (project.base / PROJECT / "celery.py").write_text(literal(project.snippets["celery.py"]))
    (project.base / PROJECT / "__init__.py").write_text(literal(project.snippets["__init__.py"]))
    project("manage.py", "wechat_push", "text", "Hello again", "--account", "shop", "--to", second)
    assert [m["touser"] for m in sandbox.state.list_messages(app_id=APP_ID)] == [first, second]

    schedule = project("-c", f"import json, django; from {PROJECT} import celery_app; django.setup(); "
                             "print(json.dumps(sorted(e['task'] for e in celery_app.conf.beat_schedule.values())))",
                       ).stdout
    assert json.loads(schedule) == ["wechat_app.drain_spool", "wechat_app.refresh_tokens", "wechat_app.resume_agent_events",
                                    "wechat_app.resume_outbound"]


def test_snippets_are_complete():
    snippets = install_snippets()
    assert {"settings.py", "urls.py", "celery.py", "__init__.py"} <= set(snippets)
    assert "django_redis" not in "".join(line for line in snippets["settings.py"].splitlines(keepends=True)
                                         if not line.lstrip().startswith("#"))
