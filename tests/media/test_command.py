"""manage.py wechat_material against the sandbox."""
import json

import pytest
from django.core.management import CommandError, call_command

from tests.media.conftest import APP_ID, PNG
from wechat_app.models import Material


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("wechat_material", *args, stdout=out)
    return out.getvalue()


def test_upload_list_sync_delete(account, sandbox, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    out = run("upload", "--account", "media", "--kind", "image", str(image))
    material = Material.objects.get()
    assert f"media_id {material.media_id}" in out
    listed = [json.loads(line) for line in run("list", "--account", "media", "--json").splitlines()]
    assert listed[0]["media_id"] == material.media_id and listed[0]["name"] == "cat.png"
    Material.objects.all().delete()
    assert "1 images" in run("sync", "--account", "media") and Material.objects.count() == 1
    run("delete", "--account", "media", "--", material.media_id)  # "--": an id may start with "-"
    assert not Material.objects.exists() and sandbox.state.media.get(APP_ID, material.media_id, permanent=True) is None


def test_errors_are_command_errors(account, sandbox, tmp_path):
    bad = tmp_path / "cat.gif"
    bad.write_bytes(PNG)
    with pytest.raises(CommandError, match="not a valid gif"):
        run("upload", "--account", "media", "--kind", "image", str(bad))
    with pytest.raises(CommandError, match="Cannot read"):
        run("upload", "--account", "media", "--kind", "image", str(tmp_path / "missing.png"))
    with pytest.raises(CommandError, match="No account named"):
        run("list", "--account", "nobody")
    with pytest.raises(CommandError, match="40007"):
        run("delete", "--account", "media", "no-such-media")
    with pytest.raises(CommandError, match="40007"):  # a leading "-" reaches WeChat after "--"
        run("delete", "--account", "media", "--", "-no-such-media")
    assert not sandbox.state.list_calls("/cgi-bin/material/add_material")
