"""scripts/ensure-browser.sh (run by `make test`): the fonts of the screenshots are installed also
when a chromium is already there. Run with stand-ins for id, fc-list and apt-get."""
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure-browser.sh"


def run(tmp_path, *, uid, fonts):
    """``fonts``: the installed font families; those with "Hei" cover Chinese."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "apt.log"
    stand_ins = {
        "id": f"echo {uid}",
        "fc-list": ('if [ "$1" = ":lang=zh" ]; then printf "%s" ' + repr("\n".join(f for f in fonts if "Hei" in f))
                    + '; else printf "%s" ' + repr("\n".join(fonts)) + "; fi"),
        "apt-get": f'echo "$@" >> {log}',
    }
    for name, body in stand_ins.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "CHROMIUM_PATH": "/bin/sh"}  # a chromium is there
    done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done, (log.read_text() if log.exists() else "")


def test_missing_fonts_are_installed_although_chromium_is_there(tmp_path):
    done, apt = run(tmp_path, uid=0, fonts=[])
    assert "install -y -qq fonts-wqy-microhei fonts-noto-color-emoji" in apt and "chromium" not in apt


def test_nothing_to_do_when_everything_is_there(tmp_path):
    done, apt = run(tmp_path, uid=0, fonts=["WenQuanYi Micro Hei", "Noto Color Emoji"])
    assert apt == "" and done.stdout == "" and done.stderr == ""


def test_without_root_it_says_what_to_install(tmp_path):
    done, apt = run(tmp_path, uid=1000, fonts=["Noto Color Emoji"])
    assert apt == "" and "install: fonts-wqy-microhei (Debian" in done.stderr
