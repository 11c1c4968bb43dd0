"""The material library in the admin (upload checked before WeChat, sync, delete, previews, pickers)
and the file view: only staff who may see the account get the bytes."""
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.media.conftest import APP_ID, JPEG, PNG, put_user_media
from wechat_app.models import Account, AccountMembership, IncomingMedia, Material, MessageLog, Rule
from wechat_app.services import media as media_service



@pytest.fixture
def root(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-12345")
    client.force_login(user)
    return client


def upload(client, account, kind, name, data, **extra):
    return client.post(reverse("admin:wechat_app_material_add"),
                       {"account": account.pk, "kind": kind, "file": SimpleUploadedFile(name, data), **extra})


def errors_of(response):
    return str(response.context["adminform"].form.errors) if response.status_code == 200 else ""


def test_upload_goes_to_wechat_and_keeps_a_copy(root, account, sandbox):
    response = upload(root, account, "image", "cat.png", PNG)
    assert response.status_code == 302, errors_of(response)
    material = Material.objects.get()
    assert material.kind == "image" and material.name == "cat.png" and material.url.startswith("http://mmbiz")
    assert sandbox.state.media.get(APP_ID, material.media_id, permanent=True).data == PNG
    listing = root.get(reverse("admin:wechat_app_material_changelist"))
    file_url = reverse("admin:wechat_app_media_file", args=["material", material.pk])
    assert file_url in listing.content.decode()
    served = root.get(file_url)
    assert b"".join(served.streaming_content) == PNG and served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("kind, name, data, message", [
    ("image", "cat.txt", PNG, "must be a bmp/png/jpeg/jpg/gif file"),
    ("image", "cat.png", JPEG, "not a valid png file"),
    ("thumb", "t.jpg", b"\xff\xd8\xff" + b"x" * (64 * 1024), "at most 64"),
    ("voice", "v.mp3", b"ID3" + b"x" * (2 * 1024 * 1024), "at most 2"),
    ("video", "v.mp4", b"\x00\x00\x00\x18ftypmp42", "needs a title"),
    ("video", "v.mov", b"\x00\x00\x00\x18ftypmp42", "must be a mp4 file"),
])
def test_limits_are_checked_before_anything_is_sent(root, account, sandbox, kind, name, data, message):
    response = upload(root, account, kind, name, data)
    assert response.status_code == 200 and message in errors_of(response)
    assert not sandbox.state.list_calls("/cgi-bin/material/add_material") and not Material.objects.exists()


def test_a_long_wav_voice_is_refused(root, account, sandbox):
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1), out.setsampwidth(1), out.setframerate(8000)
        out.writeframes(b"\x80" * 8000 * 61)
    response = upload(root, account, "voice", "long.wav", buffer.getvalue())
    assert "at most 60 s" in errors_of(response)


def test_wechat_refusal_shows_on_the_form(root, account, sandbox):
    sandbox.state.media.daily_quota = 0
    response = upload(root, account, "image", "cat.png", PNG)
    assert "45009" in errors_of(response) and not Material.objects.exists()


def test_sync_and_delete(root, account, sandbox):
    client = media_service.get_client(account)
    remote = client.material.add("image", ("remote.png", PNG))["media_id"]
    client.material.add("video", ("clip.mp4", b"\x00\x00\x00\x18ftypmp42"), title="Clip")
    stale = Material.objects.create(account=account, media_id="gone-from-wechat", kind="voice")
    response = root.post(reverse("admin:wechat_app_material_sync"), follow=True)
    text = response.content.decode()
    assert "1 images, 0 voices, 1 videos, 0 news on WeChat; 2 new, 0 updated, 1 gone" in text
    assert not Material.objects.filter(pk=stale.pk).exists()
    image = Material.objects.get(media_id=remote)
    assert image.local_path and media_service.storage().open(image.local_path).read() == PNG
    response = root.post(reverse("admin:wechat_app_material_delete", args=[image.pk]), {"post": "yes"})
    assert response.status_code == 302 and not Material.objects.filter(pk=image.pk).exists()
    assert sandbox.state.media.get(APP_ID, remote, permanent=True) is None


@pytest.fixture
def other_account(db):
    return Account.objects.create(name="other", app_id="wxother0001", app_secret="other-secret", token="tokother1")


@pytest.fixture
def operator(client, django_user_model, account):
    user = django_user_model.objects.create_user("op", "op@example.com", "pw-op-12345", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="wechat_app", codename__in=["view_material", "view_messagelog", "view_rule"]))
    AccountMembership.objects.create(user=user, account=account)
    client.force_login(user)
    return client


def test_files_of_other_accounts_are_404(operator, account, other_account, sandbox, settings, tmp_path):
    mine = Material.objects.create(account=account, media_id="m1", kind="image", local_path="wechat_media/x.png",
                                   content_type="image/png")
    media_service.storage().save("wechat_media/x.png", __import__("io").BytesIO(PNG))
    theirs = Material.objects.create(account=other_account, media_id="m2", kind="image",
                                     local_path="wechat_media/x.png", content_type="image/png")
    assert operator.get(reverse("admin:wechat_app_media_file", args=["material", mine.pk])).status_code == 200
    assert operator.get(reverse("admin:wechat_app_media_file", args=["material", theirs.pk])).status_code == 404
    log = MessageLog.objects.create(account=other_account, dedupe_key="d", user="u", msg_type="image")
    row = IncomingMedia.objects.create(account=other_account, dedupe_key="d", log=log, msg_type="image",
                                       media_id="x", status="done", path="wechat_media/x.png")
    assert operator.get(reverse("admin:wechat_app_media_file", args=["incoming", row.pk])).status_code == 404
    assert operator.get(reverse("admin:wechat_app_media_file", args=["nope", row.pk])).status_code == 404
    # anonymous: the admin login, never the file
    operator.logout()
    assert operator.get(reverse("admin:wechat_app_media_file", args=["material", mine.pk])).status_code == 302


def test_picker_choices_are_the_accounts_materials_of_the_type(operator, account, other_account):
    Material.objects.create(account=account, media_id="img1", kind="image", name="a.png")
    Material.objects.create(account=account, media_id="voice1", kind="voice", name="a.mp3")
    Material.objects.create(account=other_account, media_id="img2", kind="image", name="b.png")
    rule = Rule.objects.create(account=account, name="r", match_kind="contains", match_value="x",
                               replies=[{"type": "text", "content": "y"}])
    url = reverse("admin:wechat_app_material_choices")
    ids = lambda **q: [r["media_id"] for r in json.loads(operator.get(url, q).content)["results"]]  # noqa: E731
    assert ids(account=account.pk, kind="image") == ["img1"]
    assert ids(rule=rule.pk, kind="voice") == ["voice1"]
    assert ids(account=other_account.pk, kind="image") == []
    assert ids(account="1 OR 1=1") == []


def test_log_and_conversation_show_the_users_media(root, account, sandbox, fetch_on):
    media_id = put_user_media(sandbox, JPEG)
    log = MessageLog.objects.create(account=account, dedupe_key="img-1", user="oUser1", msg_type="image",
                                    message={"type": "image", "param": {"media_id": media_id}})
    voice = MessageLog.objects.create(account=account, dedupe_key="voice-1", user="oUser1", msg_type="voice",
                                      text="你好", message={"type": "voice", "param": {"media_id": media_id,
                                                                                       "recognition": "你好"}})
    for row in (log, voice):
        media_service.fetch_incoming(media_service.record_incoming(account.pk, row.dedupe_key, row.msg_type,
                                                                   media_id).pk)
    image_row = IncomingMedia.objects.get(dedupe_key="img-1")
    url = reverse("admin:wechat_app_media_file", args=["incoming", image_row.pk])
    assert url in root.get(reverse("admin:wechat_app_messagelog_changelist")).content.decode()
    detail = root.get(reverse("admin:wechat_app_messagelog_change", args=[voice.pk])).content.decode()
    assert "<audio" in detail and "Recognized:" in detail and "你好" in detail
    thread = root.get(reverse("admin:wechat_app_messagelog_conversation", args=[account.pk]), {"user": "oUser1"})
    assert url in thread.content.decode() and "<audio" in thread.content.decode()
