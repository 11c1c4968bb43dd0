"""manage.py wechat_rules import/export."""
import io
import json

import pytest
from django.core.management import CommandError, call_command

from wechat_app.models import Account, Rule

pytestmark = pytest.mark.django_db

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def account():
    return Account.objects.create(name="shop", app_id="wx1234567890", app_secret="s" * 32, token="tok123")


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("wechat_rules", *args, stdout=out, stderr=err)
    return out.getvalue()


@pytest.mark.parametrize("example", ["rules.yaml", "dialog.yaml"])
def test_shipped_examples_import_and_export(account, example, tmp_path):
    message = run("import", str(EXAMPLES / example), "--account", "shop")
    assert "Imported into shop" in message
    count = Rule.objects.filter(account=account).count()
    assert count > 3
    exported = tmp_path / "out.json"
    run("export", "--account", "shop", "--format", "json", "--output", str(exported))
    data = json.loads(exported.read_text())
    run("import", str(exported), "--account", "shop", "--replace")
    assert Rule.objects.filter(account=account).count() == count
    assert json.loads(run("export", "--account", "shop", "--format", "json")) == data


def test_export_yaml(account):
    run("import", str(EXAMPLES / "rules.yaml"), "--account", "shop")
    assert "- name: welcome\n" in run("export", "--account", "shop")


def test_invalid_file_names_the_rule(account, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- {name: ok, match: {contains: a}, reply: b}\n- {name: broken, match: {regex: '('}, reply: x}\n")
    with pytest.raises(CommandError, match="rule 'broken'.*Nothing was imported"):
        run("import", str(path), "--account", "shop")
    assert not Rule.objects.exists()


def test_unknown_account_and_missing_file(account, tmp_path):
    with pytest.raises(CommandError, match="Unknown account 'nope'"):
        run("export", "--account", "nope")
    with pytest.raises(CommandError, match="Cannot read"):
        run("import", str(tmp_path / "missing.yaml"), "--account", "shop")


def test_stdin(account, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"hi": "hello"}'))
    run("import", "-", "--account", "shop")
    assert Rule.objects.get(account=account, name="hi").match_kind == "contains"


def test_dry_run_shows_the_changes_and_saves_nothing(account, tmp_path):
    run("import", str(EXAMPLES / "rules.yaml"), "--account", "shop")
    before = list(Rule.objects.order_by("pk").values_list("name", "replies"))
    path = tmp_path / "change.yaml"
    path.write_text("- {name: welcome, match: {event: subscribe}, reply: Hello again}\n"
                    "- {name: brand-new, match: {exact: new}, reply: New!}\n")
    output = run("import", str(path), "--account", "shop", "--replace", "--dry-run")
    assert output.startswith("Dry run, nothing saved. Importing into shop would give: 1 created, 1 updated, ")
    assert "  created: brand-new\n" in output and "  updated: welcome\n" in output
    assert "  deleted: " in output and "fallback" in output.split("  deleted: ")[1]
    assert list(Rule.objects.order_by("pk").values_list("name", "replies")) == before
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: broken, match: {regex: '('}, reply: x}\n")
    with pytest.raises(CommandError, match="rule 'broken'.*Nothing was imported"):
        run("import", str(bad), "--account", "shop", "--dry-run")
