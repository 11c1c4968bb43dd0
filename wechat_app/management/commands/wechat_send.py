"""``manage.py wechat_send KIND [ARGS...] --account NAME [--url URL]``: talk to an account like WeChat.

Like webot-cli: builds a realistic message, signs (and in compatible/safe mode encrypts) it with
the account's credentials, posts it to the callback of a running server (``--url``) or calls the
view in-process, then verifies, decrypts and prints the reply.

Examples::

    manage.py wechat_send text hello --account demo
    manage.py wechat_send click V1001_TODAY_MUSIC --account demo --url http://127.0.0.1:8000
    manage.py wechat_send location 23.13 113.35 Guangzhou --account demo --user oSomeone
    manage.py wechat_send verify --account demo --url http://127.0.0.1:8000   # the URL check (GET)
"""
import json
import secrets
from urllib.parse import urlencode

from django.core.management.base import BaseCommand, CommandError
from django.test import RequestFactory

from ...models import Account
from ...protocol import ProtocolError
from ...protocol.simulator import KINDS, SimulatorError, build_message, describe_reply, read_reply, sign_request


class Command(BaseCommand):
    help = "Send a simulated WeChat message to an account's callback and print the reply."

    def add_arguments(self, parser):
        kinds = "; ".join(f"{kind} {usage}".strip() for kind, (usage, _) in KINDS.items())
        parser.add_argument("kind", choices=[*KINDS, "verify"], metavar="KIND",
                            help=f"One of: {kinds}; or verify [ECHOSTR]: WeChat's URL check (a signed GET "
                                 "that must echo echostr).")
        parser.add_argument("message_args", nargs="*", metavar="ARGS", help="The message's arguments (text, key, coordinates...).")
        parser.add_argument("--account", required=True, help="Name of the account to send to.")
        parser.add_argument("--url", help="Base URL of a running server (e.g. http://127.0.0.1:8000). "
                                          "Without it the callback view is called in-process.")
        parser.add_argument("--path", default="/wechat/callback/{name}/",
                            help="Callback path under --url (default: /wechat/callback/{name}/).")
        parser.add_argument("--user", default="oSimulatedUser000000000000001", help="Sender openid.")
        parser.add_argument("--sp", default=None, help="ToUserName (default: gh_<account name>).")
        parser.add_argument("--plain", action="store_true",
                            help="Send plaintext even when the account could encrypt (compatible mode).")
        parser.add_argument("--raw", action="store_true", help="Also print the request and reply XML.")
        parser.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout in seconds (--url).")

    def handle(self, *args, **options):
        try:
            account = Account.objects.get(name=options["account"])
        except Account.DoesNotExist:
            raise CommandError(f"No account named {options['account']!r} (see: manage.py wechat_account list).") from None
        if options["kind"] == "verify":
            return self._verify(account, options)
        encrypt = account.encrypt_mode != Account.EncryptMode.PLAIN and not options["plain"]
        if options["plain"] and account.encrypt_mode == Account.EncryptMode.SAFE:
            self.stderr.write("Note: a safe-mode account refuses plaintext; expect a 400.")
        crypto = account.crypto
        sp = options["sp"] or f"gh_{account.name}"
        try:
            xml = build_message(options["kind"], options["message_args"], user=options["user"], sp=sp)
        except SimulatorError as err:
            raise CommandError(str(err)) from None
        params, body = sign_request(xml, account.token, crypto=crypto if encrypt else None, user=options["user"])
        path = options["path"].format(name=account.name)

        if options["raw"]:
            self.stdout.write(f"--> POST {path} ({'encrypted' if encrypt else 'plain'})\n{xml}")
        status, content = self._post(options, path, params, body)
        if status != 200:
            raise CommandError(f"The callback answered HTTP {status}: {content[:300].decode('utf-8', 'replace')}")
        try:
            fields, reply_xml, was_encrypted = read_reply(content, crypto)
        except (SimulatorError, ProtocolError) as err:
            raise CommandError(f"The reply does not verify: {err}") from None
        if encrypt != was_encrypted and fields is not None:
            self.stderr.write(f"Warning: sent {'encrypted' if encrypt else 'plain'}, answered "
                              f"{'encrypted' if was_encrypted else 'plain'}.")
        self.stdout.write(f"> {options['kind']} {' '.join(options['message_args'])}".rstrip())
        self.stdout.write(f"< {describe_reply(fields)}")
        if options["raw"] and reply_xml:
            self.stdout.write(f"<-- reply ({'decrypted' if was_encrypted else 'plain'})\n{reply_xml}")
        if options["verbosity"] >= 2 and fields:
            self.stdout.write(json.dumps(fields, ensure_ascii=False, indent=2))

    def _verify(self, account, options):
        """The GET WeChat sends when the server URL is saved in its console: signed, with an
        ``echostr`` that the callback must answer verbatim."""
        echostr = (options["message_args"] or [str(secrets.randbelow(10**18))])[0]
        params, _ = sign_request("", account.token)
        params["echostr"] = echostr
        if account.channel == Account.Channel.WECOM:
            # WeCom's check: echostr encrypted, signed with msg_signature; the answer is the plaintext.
            from ...protocol import make_signature

            encrypted = account.crypto.encrypt(echostr)
            params = {"timestamp": params["timestamp"], "nonce": params["nonce"], "echostr": encrypted,
                      "msg_signature": make_signature(account.token, params["timestamp"], params["nonce"], encrypted)}
        path = options["path"].format(name=account.name)
        if options["url"]:
            import requests

            url = options["url"].rstrip("/") + path
            try:
                response = requests.get(url, params=params, timeout=options["timeout"])
            except requests.RequestException as err:
                raise CommandError(f"Could not reach {url}: {err}") from None
            status, content = response.status_code, response.content
        else:
            from ...views import callback

            response = callback(RequestFactory().get(path, params), account_name=account.name)
            status, content = response.status_code, response.content
        answer = content.decode("utf-8", "replace")
        if status != 200 or answer != echostr:
            raise CommandError(f"The URL check failed: HTTP {status}, answer {answer[:200]!r} (expected {echostr!r}).")
        self.stdout.write(f"> verify (GET {path}, signed, echostr={echostr})")
        self.stdout.write("< echostr echoed: the URL check passes")

    def _post(self, options, path, params, body):
        if options["url"]:
            import requests

            url = options["url"].rstrip("/") + path
            try:
                response = requests.post(url, params=params, data=body, timeout=options["timeout"],
                                         headers={"Content-Type": "text/xml; charset=utf-8"})
            except requests.RequestException as err:
                raise CommandError(f"Could not reach {url}: {err}") from None
            return response.status_code, response.content
        # In-process: call the callback view directly (no server, no ALLOWED_HOSTS involved).
        from ...views import callback

        request = RequestFactory().post(f"{path}?{urlencode(params)}", data=body,
                                        content_type="text/xml; charset=utf-8")
        response = callback(request, account_name=options["account"])
        return response.status_code, response.content
