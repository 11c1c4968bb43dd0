#!/bin/sh
# Make sure the browser tests can run: a Chromium (Playwright's own download does not work
# offline, so the tests drive Debian's chromium) and the fonts that render Chinese labels and
# emoji in their screenshots. Each is checked on its own: fonts are installed also when a
# chromium is already there. As root with apt-get, installs the missing Debian packages
# (chromium chromium-driver fonts-wqy-microhei fonts-noto-color-emoji); otherwise says what to
# install (the tests themselves fail loudly under CI=true without a browser).
set -e

browser=""
for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
        browser=$candidate
        break
    fi
done

has_font() {  # fc-list arguments, then a pattern its family names must match
    command -v fc-list >/dev/null 2>&1 && fc-list "$1" family 2>/dev/null | grep -qi "$2"
}

packages=""
[ -n "$browser" ] || packages="chromium chromium-driver"
has_font :lang=zh . || packages="$packages fonts-wqy-microhei"
has_font : emoji || packages="$packages fonts-noto-color-emoji"
packages=${packages# }
[ -n "$packages" ] || exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian packages for the browser tests: $packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086  # one word per package
    apt-get install -y -qq $packages >/dev/null
else
    echo "For the browser tests, install: $packages (Debian package names; or set CHROMIUM_PATH to a chromium)." >&2
fi
