"""REST API of the material library and of the media users sent, against the sandbox."""
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.media.conftest import APP_ID, JPEG, PNG, put_user_media
from wechat_app.models import Account, AccountMembership, IncomingMedia, Material, MessageLog
from wechat_app.services import media as media_service

API = "/wechat/api/"


@pytest.fixture
def root(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-12345"))
    return client


def upload(client, account_name, kind, name, data, **extra):
    return client.post(API + "materials/", {"account": account_name, "type": kind,
                                            "file": SimpleUploadedFile(name, data), **extra})


def test_upload_list_retrieve_file_delete(root, account, sandbox):
    response = upload(root, "media", "image", "cat.png", PNG)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["type"] == "image" and created["has_local_copy"] and created["account"] == "media"
    video = upload(root, "media", "video", "clip.mp4", b"\x00\x00\x00\x18ftypmp42", title="Clip").json()
    listing = root.get(API + "materials/", {"account": "media", "type": "image"}).json()
    assert [m["media_id"] for m in listing["results"]] == [created["media_id"]]
    assert root.get(API + f"materials/{video['id']}/").json()["title"] == "Clip"
    got = root.get(API + f"materials/{created['id']}/file/")
    assert b"".join(got.streaming_content) == PNG
    assert root.delete(API + f"materials/{created['id']}/").status_code == 204
    assert sandbox.state.media.get(APP_ID, created["media_id"], permanent=True) is None
    assert not Material.objects.filter(pk=created["id"]).exists()


def test_upload_refusals(root, account, sandbox):
    big = upload(root, "media", "thumb", "t.jpg", b"\xff\xd8\xff" + b"x" * 70000)
    assert big.status_code == 400 and "at most 65536 bytes" in big.json()["file"][0]
    wrong = upload(root, "media", "image", "cat.gif", PNG)
    assert wrong.status_code == 400 and "not a valid gif" in wrong.json()["file"][0]
    assert upload(root, "media", "news", "a.png", PNG).status_code == 400
    assert upload(root, "nobody", "image", "a.png", PNG).status_code == 400
    assert not sandbox.state.list_calls("/cgi-bin/material/add_material")
    sandbox.state.media.daily_quota = 0
    quota = upload(root, "media", "image", "a.png", PNG)
    assert quota.status_code == 502 and quota.json()["errcode"] == 45009
    assert root.get(API + "materials/", {"type": "bogus"}).status_code == 400


def test_sync(root, account, sandbox):
    client = media_service.get_client(account)
    client.material.add("image", ("a.png", PNG))
    client.material.add("voice", ("a.mp3", b"ID3" + b"\x00" * 10))
    result = root.post(API + "materials/sync/", {"account": "media"}, content_type="application/json").json()
    assert result["image_count"] == 1 and result["voice_count"] == 1 and result["created"] == 2
    assert result["copied"] == 1
    assert Material.objects.filter(account=account).count() == 2


@pytest.fixture
def viewer(client, django_user_model, account):
    user = django_user_model.objects.create_user("op", "op@example.com", "pw-op-12345", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="wechat_app", codename__in=["view_material", "view_messagelog"]))
    AccountMembership.objects.create(user=user, account=account)
    client.force_login(user)
    return client


def test_permissions_and_other_accounts(viewer, account, sandbox):
    other = Account.objects.create(name="other", app_id="wxother0001", app_secret="s", token="tokother1")
    theirs = Material.objects.create(account=other, media_id="m2", kind="image")
    mine = Material.objects.create(account=account, media_id="m1", kind="image")
    assert [m["id"] for m in viewer.get(API + "materials/").json()["results"]] == [mine.pk]
    assert viewer.get(API + f"materials/{theirs.pk}/").status_code == 404
    assert upload(viewer, "media", "image", "a.png", PNG).status_code == 403  # no add_material
    assert viewer.delete(API + f"materials/{mine.pk}/").status_code == 403
    assert viewer.post(API + "materials/sync/", {"account": "media"}, content_type="application/json").status_code == 403


def test_incoming_media_of_a_log_row(root, account, sandbox, fetch_on):
    media_id = put_user_media(sandbox, JPEG)
    log = MessageLog.objects.create(account=account, dedupe_key="k", user="u", msg_type="image",
                                    message={"type": "image", "param": {"media_id": media_id}})
    row = media_service.record_incoming(account.pk, "k", "image", media_id)
    media_service.fetch_incoming(row.pk)
    listing = root.get(API + "incoming-media/", {"log": log.pk}).json()["results"]
    assert len(listing) == 1 and listing[0]["status"] == "done" and listing[0]["size"] == len(JPEG)
    got = root.get(API + f"incoming-media/{row.pk}/file/")
    assert b"".join(got.streaming_content) == JPEG and got["Content-Type"] == "image/jpeg"
    assert root.get(API + "incoming-media/", {"log": "x"}).status_code == 400
    assert IncomingMedia.objects.count() == 1
