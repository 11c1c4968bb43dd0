"""Run the WeChat API sandbox on a port, knowing the accounts of the database.

Usage::

    python manage.py wechat_sandbox --port 8081 [--point-accounts] [--followers 20]

Each enabled account becomes a known app (its app id and secret), with its callback (token,
EncodingAESKey, mode) at ``--callback-base`` + /wechat/callback/<name>/ so the sandbox can push
events. ``--point-accounts`` sets the accounts' API base URL to the sandbox (offline work).
The inspection API is documented in docs/sandbox.md.
"""
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from ...models import Account
from ...models.accounts import api_base_url_allowed
from ...sandbox import SandboxServer

DEMO_TEMPLATE = ("{{first.DATA}}\n订单号：{{keyword1.DATA}}\n金额：{{keyword2.DATA}}\n{{remark.DATA}}",
                 "您的订单已支付\n订单号：A1024\n金额：¥99.00\n感谢惠顾")


class Command(BaseCommand):
    help = "Run a fake api.weixin.qq.com (real HTTP) knowing this database's accounts."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8081)
        parser.add_argument("--callback-base", default="http://127.0.0.1:8000",
                            help="Where this project serves its callback (for pushed events).")
        parser.add_argument("--point-accounts", action="store_true",
                            help="Set every enabled account's API base URL to the sandbox.")
        parser.add_argument("--followers", type=int, default=5, help="Generated followers per account.")
        parser.add_argument("--push-job-finish", action="store_true",
                            help="Push TEMPLATESENDJOBFINISH to the callback after each template send.")

    def handle(self, *args, host, port, callback_base, point_accounts, followers, push_job_finish, **options):
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535.")
        try:
            server = SandboxServer(host, port)
        except OSError as err:
            raise CommandError(f"Cannot listen on {host}:{port}: {err}") from err
        if point_accounts and not api_base_url_allowed(server.url):
            server.httpd.server_close()
            raise CommandError(f"--point-accounts: {server.url} is not in WECHAT_APP['ALLOWED_API_BASE_URLS'] "
                               "(add it, or 'http://127.0.0.1:*' for any loopback port).")
        server.state.configure(push_job_finish=push_job_finish)
        accounts = list(Account.objects.filter(enabled=True))
        for account in accounts:
            path = reverse("wechat_app:callback", kwargs={"account_name": account.name})
            server.state.add_app(account.app_id, account.app_secret, callback_url=callback_base.rstrip("/") + path,
                                 token=account.token, encoding_aes_key=account.encoding_aes_key,
                                 encrypt_mode=account.encrypt_mode)
            server.state.add_followers(account.app_id, count=followers)
            server.state.add_template(account.app_id, "订单支付成功", *DEMO_TEMPLATE)
            if point_accounts:
                Account.objects.filter(pk=account.pk).update(api_base_url=server.url)
            self.stdout.write(f"  app {account.app_id} ({account.name}): {followers} followers, 1 template")
        if not accounts:
            self.stdout.write("  no enabled account: register apps with POST /_sandbox/apps")
        self.stdout.write(self.style.SUCCESS(f"WeChat sandbox on {server.url} (inspection: {server.url}/_sandbox)"))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("stopped")
