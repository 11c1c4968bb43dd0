"""The fault-tolerance settings are checked by name (E034-E036), and so is the spool directory (W030)."""
import pytest

from tests.test_checks import ids


@pytest.mark.parametrize(("name", "value", "check_id"), [
    ("CACHE_RETRY_INTERVAL", -1, "E034"),
    ("CACHE_RETRY_INTERVAL", "1", "E034"),
    ("RECHECK_INTERVAL", 0, "E035"),
    ("STAMP_RECHECK", -1, "E038"),
    ("STAMP_RECHECK", 61, "E038"),
    ("STAMP_RECHECK", "0.5", "E038"),
    ("SPOOL_MAX_UNVERIFIED_BYTES", 1.5, "E036"),
])
def test_wrong_values_are_reported(name, value, check_id, tmp_path):
    assert ids(**{name: value, "SPOOL_DIR": str(tmp_path)}) == [f"wechat_app.{check_id}"]


def test_a_spool_directory_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert ids(SPOOL_DIR=str(blocker / "spool")) == ["wechat_app.W030"]
    assert ids(SPOOL_DIR=str(blocker)) == ["wechat_app.W030"]
    assert ids(SPOOL_DIR=str(tmp_path / "not" / "yet" / "there")) == []  # created on first use
