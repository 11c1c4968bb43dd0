"""Import with preview and confirm; export download."""
import re
from pathlib import Path

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile

from wechat_app.models import Rule

from .conftest import make_rule

pytestmark = pytest.mark.django_db
URL = "/admin/wechat_app/rule/import/"
RULES = """
- name: welcome
  match: {event: subscribe}
  reply: Welcome aboard!
- name: greet
  match: {contains: hello}
  reply: Hi again
- name: game
  match: {regex: '^game$'}
  reply: Pick a number from 1 to 9
  follow_ups: {timeout: 300, retries: 2, rules: [{match: {regex: '^([1-9])$'}, reply: 'You picked {1}'}]}
"""


def test_preview_shows_changes_and_writes_nothing(staff_client, account_a):
    make_rule(account_a, "greet", value="hello", reply="Hi")
    make_rule(account_a, "old", value="old")
    upload = SimpleUploadedFile("rules.yaml", RULES.encode(), content_type="application/x-yaml")
    response = staff_client.post(URL, {"account": account_a.pk, "file": upload})
    assert response.status_code == 200
    preview = response.context["preview"]
    created = {r["name"]: r for r in preview.created}
    assert {"game", "welcome"} <= set(created) and len(created) == 3  # plus the follow-up of "game"
    assert [r["parent__name"] for r in preview.created if r["name"] not in ("game", "welcome")] == ["game"]
    assert [r["name"] for r in preview.updated] == ["greet"]
    assert preview.deleted == []
    assert sorted(Rule.objects.values_list("name", flat=True)) == ["greet", "old"]  # nothing written
    html = response.content.decode()
    assert "Confirm import" in html and "welcome" in html


def test_confirm_imports_and_replace_deletes(staff_client, account_a):
    make_rule(account_a, "old", value="old")
    preview = staff_client.post(URL, {"account": account_a.pk, "text": RULES, "replace": "on"})
    assert [r["name"] for r in preview.context["preview"].deleted] == ["old"]
    response = staff_client.post(URL, {"account": account_a.pk, "text": RULES, "replace": "on", "confirm": "1"})
    assert response.status_code == 302
    names = set(Rule.objects.filter(account=account_a).values_list("name", flat=True))
    assert {"welcome", "greet", "game"} <= names and "old" not in names
    assert Rule.objects.get(name="game").follow_ups.count() == 1


def test_invalid_file_names_the_rule_and_imports_nothing(staff_client, account_a):
    bad = "- name: broken\n  match: {regex: '(('}\n  reply: x\n"
    response = staff_client.post(URL, {"account": account_a.pk, "text": bad})
    assert response.status_code == 200 and response.context["preview"] is None
    errors = " ".join(str(e) for e in response.context["form"].errors.get("text", []))
    assert "broken" in errors
    assert not Rule.objects.exists()
    response = staff_client.post(URL, {"account": account_a.pk, "text": bad, "confirm": "1"})
    assert response.status_code == 200 and not Rule.objects.exists()


def test_upload_errors(staff_client, account_a, account_b):
    response = staff_client.post(URL, {"account": account_a.pk})
    assert "Choose a file" in response.content.decode()
    upload = SimpleUploadedFile("r.yaml", "- name: x\n".encode("utf-16"), content_type="text/plain")
    response = staff_client.post(URL, {"account": account_a.pk, "file": upload})
    assert "file" in response.context["form"].errors
    response = staff_client.post(URL, {"account": account_b.pk, "text": RULES, "confirm": "1"})
    assert "account" in response.context["form"].errors
    assert not Rule.objects.filter(account=account_b).exists()


def test_export_downloads_yaml_and_json(staff_client, account_a):
    make_rule(account_a, "greet", value="hello", reply="你好")
    response = staff_client.get(f"/admin/wechat_app/rule/export/{account_a.pk}/")
    assert response.status_code == 200 and 'filename="alpha-rules.yaml"' in response["Content-Disposition"]
    data = yaml.safe_load(response.content.decode())
    assert data[0]["name"] == "greet" and "你好" in response.content.decode()
    response = staff_client.get(f"/admin/wechat_app/rule/export/{account_a.pk}/", {"format": "json"})
    assert response.json()[0]["name"] == "greet"


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.y*ml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_file_previews_through_the_admin(staff_client, account_a, path):
    upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/x-yaml")
    response = staff_client.post(URL, {"account": account_a.pk, "file": upload})
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview is not None and preview.created, response.context["form"].errors
    assert "Confirm import" in response.content.decode()


def test_preview_summarizes_replies_without_their_optional_fields(staff_client, account_a):
    # A music reply has no media_id, a video or a transfer may have no title: the summary must not
    # look them up (a filter argument that does not resolve made the page a 500).
    text = ("- name: song\n  match: {contains: song}\n"
            "  reply: {type: music, music_url: 'https://example.com/a.mp3', thumb_media_id: THUMB1}\n"
            "- name: clip\n  match: {contains: clip}\n  reply: {type: video, media_id: VID1}\n"
            "- name: human\n  match: {contains: human}\n  reply: {type: transfer_customer_service}\n")
    response = staff_client.post(URL, {"account": account_a.pk, "text": text})
    assert response.status_code == 200 and response.context["preview"] is not None
    chips = re.findall(r'<span class="wx-reply-chip">([^<]*)</span>', response.content.decode())
    assert chips == ["🎬 video VID1", "👤 transfer to customer service", "🎵 https://example.com/a.mp3"]


def test_music_without_cover_imports_with_a_warning(staff_client, account_a):
    # webot's own music example has no ThumbMediaId, which WeChat documents as required.
    music = "- {name: song, match: {exact: song}, reply: {type: music, musicUrl: 'http://example.com/a.mp3'}}\n"
    response = staff_client.post(URL, {"account": account_a.pk, "text": music})
    assert response.status_code == 200
    assert "no thumb_media_id" in response.content.decode()
    response = staff_client.post(URL, {"account": account_a.pk, "text": music, "confirm": "1"}, follow=True)
    assert any("no thumb_media_id" in str(m) for m in response.context["messages"])
    assert Rule.objects.get(account=account_a, name="song").replies == [
        {"type": "music", "music_url": "http://example.com/a.mp3"}]
