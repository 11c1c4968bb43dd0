#!/bin/sh
# Make sure a Chromium for the browser tests exists: Playwright's own download does not work
# offline, so the tests drive Debian's chromium. Installs it when missing and we are root;
# otherwise says what to do (the tests themselves fail loudly under CI=true without a browser).
set -e
for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
        exit 0
    fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian chromium for the browser tests..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # The fonts make Chinese labels and emoji render in screenshots.
    apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei fonts-noto-color-emoji >/dev/null
else
    echo "No chromium found: install Debian's chromium and chromium-driver (or set CHROMIUM_PATH) to run the browser tests." >&2
fi
