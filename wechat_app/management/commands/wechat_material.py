"""The permanent material library from the command line.

Usage::

    python manage.py wechat_material list   --account NAME [--kind image|voice|video|thumb|news] [--json]
    python manage.py wechat_material sync   --account NAME
    python manage.py wechat_material upload --account NAME --kind image FILE [--title T --introduction I]
    python manage.py wechat_material delete --account NAME MEDIA_ID

Runs here, in this process, through the same services as the admin and the REST API (WeChat's
size and format limits are checked before anything is sent). ``list`` shows the local mirror:
``sync`` first to see what is on WeChat.
"""
import json
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ...client import WeChatAPIError
from ...models import Account, Material
from ...services import media


class Command(BaseCommand):
    help = "List, sync, upload or delete an account's permanent material (images, voices, videos, thumbs)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        for name in ("list", "sync", "upload", "delete"):
            command = sub.add_parser(name)
            command.add_argument("--account", required=True, help="Account name.")
            if name == "list":
                command.add_argument("--kind", choices=Material.Kind.values)
                command.add_argument("--json", action="store_true", help="One JSON object per line.")
            if name == "upload":
                command.add_argument("file", help="Path of the file to upload.")
                command.add_argument("--kind", required=True, choices=list(media.UPLOAD_LIMITS))
                command.add_argument("--title", default="", help="Videos: the title (required).")
                command.add_argument("--introduction", default="", help="Videos: the description.")
            if name == "delete":
                # WeChat's media ids may start with "-": give such an id after "--" (delete -- -abc).
                command.add_argument("media_id", help='The media id; one that starts with "-" goes after "--".')

    def handle(self, *args, what, account, **options):
        try:
            acc = Account.objects.get(name=account)
        except Account.DoesNotExist:
            names = ", ".join(Account.objects.order_by("name").values_list("name", flat=True)) or "none"
            raise CommandError(f"No account named {account!r} (known: {names}).") from None
        try:
            getattr(self, f"_{what}")(acc, **options)
        except WeChatAPIError as err:
            raise CommandError(f"WeChat refused: {err}") from err
        except ValidationError as err:
            raise CommandError("; ".join(err.messages)) from err

    def _list(self, account, kind=None, json=False, **options):
        rows = Material.objects.filter(account=account)
        if kind:
            rows = rows.filter(kind=kind)
        for m in rows.order_by("kind", "-update_time", "-id"):
            if json:
                self.stdout.write(_json({"media_id": m.media_id, "kind": m.kind, "name": m.name, "title": m.title,
                                         "url": m.url, "size": m.size,
                                         "update_time": m.update_time.isoformat() if m.update_time else None}))
            else:
                self.stdout.write(f"{m.kind:<6} {m.media_id}  {m.title or m.name}".rstrip())

    def _sync(self, account, **options):
        r = media.sync_materials(account)
        self.stdout.write(self.style.SUCCESS(
            f"{account.name}: {r.get('image_count', 0)} images, {r.get('voice_count', 0)} voices, "
            f"{r.get('video_count', 0)} videos, {r.get('news_count', 0)} news on WeChat; {r['created']} new, "
            f"{r['updated']} updated, {r['deleted']} gone, {r['copied']} local copies fetched."))

    def _upload(self, account, file, kind, title="", introduction="", **options):
        try:
            size = os.path.getsize(file)
        except OSError as err:
            raise CommandError(f"Cannot read {file}: {err.strerror}.") from None
        limit = media.UPLOAD_LIMITS[kind][0]
        if size > limit:
            raise CommandError(f"A {kind} may be at most {limit} bytes on WeChat; {file} has {size}.")
        with open(file, "rb") as handle:
            data = handle.read()
        material = media.upload_material(account, kind, os.path.basename(file), data, title=title,
                                         introduction=introduction)
        self.stdout.write(self.style.SUCCESS(f"Uploaded {material.name} as {kind}: media_id {material.media_id}"))
        if material.url:
            self.stdout.write(f"  url {material.url}")

    def _delete(self, account, media_id, **options):
        material = Material.objects.filter(account=account, media_id=media_id).first()
        if material is None:  # not mirrored here: delete on WeChat all the same
            media.get_client(account).material.delete(media_id)
        else:
            media.delete_material(material)
        self.stdout.write(self.style.SUCCESS(f"Deleted {media_id} from {account.name}'s library."))


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)
