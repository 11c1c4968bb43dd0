"""``manage.py wechat_demo [--host H --port P] [--sandbox-url URL]``: set up the demo (idempotent)
and print how to use it.

Creates, once: an account ``demo`` in compatible mode with a generated token and EncodingAESKey,
sample rules (from ``examples/rules.yaml`` when the rule importer and the file exist, otherwise a
built-in set), and a superuser ``admin`` whose generated password is kept in ``var/`` so that
every run prints the same credentials. With ``--sandbox-url`` the demo account's API base URL is
the sandbox (unless it was pointed elsewhere by hand). Used by ``make run``, which also starts the
sandbox (``manage.py wechat_sandbox``).
"""
import os
import secrets
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from ...models import Account, Rule
from ...models.accounts import api_base_url_allowed
from ...protocol.crypto import new_aes_key
from ...protocol.signature import new_token

DEMO_ACCOUNT = "demo"
ADMIN_USERNAME = "admin"

# Rules created when no rule file can be imported: one of each kind, webot style.
BUILTIN_RULES = [
    dict(name="welcome", match_kind="event", match_value="subscribe",
         replies=[{"type": "text", "content": "Welcome aboard! Send 'help' to see what I can do."}]),
    dict(name="help", match_kind="exact", match_value="help", priority=10,
         replies=[{"type": "text", "content": "Try: hello, news, game, echo <something>, a picture or your location."}]),
    dict(name="hello", match_kind="contains", match_value="hello",
         replies=[{"type": "text", "content": "Hello!"}, {"type": "text", "content": "Hi there!"}]),
    dict(name="news", match_kind="exact", match_value="news",
         replies=[{"type": "news", "articles": [{
             "title": "Spring menu is here",
             "description": "Cherry blossom latte, matcha cheesecake and four more new things to try this season.",
             "url": "https://www.example.com/news/2026/spring-menu",
             "pic_url": "https://www.example.com/images/spring-menu.jpg"}]}]),
    dict(name="echo", match_kind="regex", match_value=r"^echo (.+)$",
         replies=[{"type": "text", "content": "You said: {1}"}]),
    dict(name="today-music", match_kind="event", match_value="CLICK", match_key="V1001_TODAY_MUSIC",
         replies=[{"type": "music", "title": "Morning Coffee Jazz",
                   "description": "Today's song: a quiet trio for the first cup of the day",
                   "music_url": "https://media.example.com/music/morning-coffee-jazz.mp3",
                   "hq_music_url": "https://media.example.com/music/morning-coffee-jazz-hq.mp3",
                   "thumb_media_id": "MEDIA_ID_OF_THE_COVER"}]),
    dict(name="picture", match_kind="type", match_value="image",
         replies=[{"type": "text", "content": "Nice picture!"}]),
    dict(name="where", match_kind="type", match_value="location",
         replies=[{"type": "text", "content": "Thanks, I know where you are now."}]),
    dict(name="quiet", match_kind="exact", match_value="shh", no_reply=True, replies=[]),
    dict(name="game", match_kind="regex", match_value="^game$", follow_up_timeout=300, follow_up_retries=2,
         replies=[{"type": "text", "content": "Pick a number from 1 to 9"}],
         follow_ups=[dict(name="game-pick", match_kind="regex", match_value="^([1-9])$",
                          replies=[{"type": "text", "content": "You picked {1}"}])]),
    dict(name="fallback", match_kind="default", match_value="",
         replies=[{"type": "text", "content": "Sorry?"}, {"type": "text", "content": "Say again? Send 'help'."}]),
]


def python_command() -> str:
    """This Python as the user can type it from here: ``.venv/bin/python`` when it is the
    project's virtualenv (the printed lines then work without activating it), else ``python``."""
    executable = os.path.abspath(sys.executable)
    here = os.path.abspath(os.getcwd())
    if executable.startswith(here + os.sep):
        return os.path.relpath(executable, here)
    return "python"


def _var_dir() -> Path:
    base = Path(getattr(settings, "BASE_DIR", Path.cwd()))
    return base / "var"


class Command(BaseCommand):
    help = "Create the demo account, sample rules and admin user (once), and print how to use them."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--rules", default="examples/rules.yaml",
                            help="Rule file to import for a new demo account (default: examples/rules.yaml).")
        parser.add_argument("--sandbox-url", default="",
                            help="Base URL of a WeChat API sandbox (manage.py wechat_sandbox) to point the demo "
                                 "account at, so that tokens, templates and pushes work offline.")

    def handle(self, *args, host, port, rules, sandbox_url, **options):
        sandbox_url = sandbox_url.rstrip("/")
        with transaction.atomic():
            account, created = Account.objects.get_or_create(
                name=DEMO_ACCOUNT,
                defaults=dict(app_id="wxdemo" + secrets.token_hex(5), app_secret=new_token(32),
                              token=new_token(32), encoding_aes_key=new_aes_key(),
                              encrypt_mode=Account.EncryptMode.COMPATIBLE),
            )
            if created:
                account.full_clean()
            rules_note = self._ensure_rules(account, rules)
            api_note = self._point_at_sandbox(account, sandbox_url)
            self._ensure_web(account, f"http://{host}:{port}")
        password, admin_note = self._ensure_admin()

        base = f"http://{host}:{port}"
        py = f"{python_command()} manage.py"
        lines = [
            "",
            "django-wechat-app demo",
            "=" * 22,
            f"Admin:         {base}/admin/   user: {ADMIN_USERNAME}   password: {password or '(unchanged: ' + admin_note + ')'}",
            f"Callback URL:  {base}/wechat/callback/{account.name}/",
            f"Token:         {account.token}",
            f"AESKey:        {account.encoding_aes_key}   (mode: {account.encrypt_mode}, app id: {account.app_id})",
            f"Rules:         {rules_note}",
            f"WeChat API:    {api_note}",
            f"H5 pages:      {base}/demo/profile/ (log in with WeChat)   {base}/demo/share/ (JS-SDK)",
            "",
            "Try it from another shell:",
            f"  {py} wechat_send text help --account {account.name} --url {base}",
            f"  {py} wechat_send text game --account {account.name} --url {base}",
            f"  {py} wechat_send text 7 --account {account.name} --url {base}      # answers the game",
            f"  {py} wechat_send subscribe --account {account.name} --url {base}",
        ]
        if sandbox_url and account.api_base_url == sandbox_url:
            from ...sandbox.state import generated_openid

            lines += [
                f"  {py} wechat_token refresh --account {account.name}",
                f"  {py} wechat_push text Hello --account {account.name} --to {generated_openid(account.app_id, 0)}",
                f"  {py} wechat_sync templates --account {account.name}      # template ids for wechat_push template",
                f"  curl {sandbox_url}/_sandbox/messages      # what the sandbox delivered",
            ]
        lines.append("")
        self.stdout.write("\n".join(lines))

    # --- the web side (docs/web.md) ----------------------------------------------------------------
    @staticmethod
    def _ensure_web(account, base):
        """The demo's H5 pages: their host is a JS safe domain, and a draft menu links to them."""
        from urllib.parse import urlsplit

        from ...models import Menu

        host = urlsplit(base).netloc
        if not account.js_domains:
            account.js_domains = host
            account.save(update_fields=["js_domains"])
        if not Menu.objects.filter(account=account).exists():
            Menu.objects.create(account=account, name="demo", buttons=[
                {"type": "click", "name": "Today's song", "key": "V1001_TODAY_MUSIC"},
                {"type": "view", "name": "My profile", "url": f"{base}/demo/profile/"},
                {"type": "view", "name": "Share", "url": f"{base}/demo/share/"},
            ])

    # --- WeChat API ------------------------------------------------------------------------------
    @staticmethod
    def _point_at_sandbox(account, sandbox_url):
        """Point the demo account at the sandbox, unless it was pointed at a real API by hand."""
        if sandbox_url and not api_base_url_allowed(sandbox_url):
            return (f"{account.effective_api_base_url} (the sandbox {sandbox_url} is not in "
                    "WECHAT_APP['ALLOWED_API_BASE_URLS'])")
        if sandbox_url:
            current = account.api_base_url
            if not current or current.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
                if current != sandbox_url:
                    account.api_base_url = sandbox_url
                    account.save(update_fields=["api_base_url"])
                return f"{sandbox_url} (sandbox; inspection API: {sandbox_url}/_sandbox)"
        return f"{account.effective_api_base_url}"

    # --- rules -----------------------------------------------------------------------------------
    def _ensure_rules(self, account, rules_path):
        existing = Rule.objects.filter(account=account).count()
        if existing:
            return f"{existing} rule(s) already there (left as they are)"
        path = Path(rules_path)
        if not path.is_absolute():
            path = Path(getattr(settings, "BASE_DIR", Path.cwd())) / path
        importer = self._rule_importer()
        if importer is not None and path.exists():
            importer(account, path)
            return f"imported {Rule.objects.filter(account=account).count()} rule(s) from {rules_path}"
        for spec in BUILTIN_RULES:
            self._create_rule(account, dict(spec))
        return f"created {Rule.objects.filter(account=account).count()} built-in sample rule(s)"

    @staticmethod
    def _rule_importer():
        try:
            from ...services.rules import import_rules
        except ImportError:  # the rule services are not installed in this build
            return None

        def run(account, path):
            import_rules(account, path.read_text(encoding="utf-8"))

        return run

    def _create_rule(self, account, spec, parent=None):
        follow_ups = spec.pop("follow_ups", [])
        rule = Rule(account=account, parent=parent, **spec)
        rule.full_clean()
        rule.save()
        for child in follow_ups:
            self._create_rule(account, dict(child), parent=rule)

    # --- admin user ------------------------------------------------------------------------------
    def _ensure_admin(self):
        """The admin password to print, or (None, why) when an admin we did not create exists."""
        User = get_user_model()
        password_file = _var_dir() / "demo-admin-password"
        stored = password_file.read_text().strip() if password_file.exists() else ""
        user = User.objects.filter(**{User.USERNAME_FIELD: ADMIN_USERNAME}).first()
        if user is not None:
            if stored and user.check_password(stored):
                return stored, ""
            return None, "the existing admin user's password was not set by this command"
        password = stored or secrets.token_urlsafe(12)
        User.objects.create_superuser(**{User.USERNAME_FIELD: ADMIN_USERNAME}, email="admin@example.com",
                                      password=password)
        if not stored:
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            os.chmod(password_file, 0o600)
        return password, ""
