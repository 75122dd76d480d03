#!/bin/sh
# Installs Debian's chromium for the browser tests (tests/browser) when /usr/bin/chromium is missing.
# Non-interactive (CI=true, no standard input): as root, or through `sudo -n` when that works.
# Playwright drives this browser; its own browser downloads are never used.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "tests/browser need Debian's chromium (/usr/bin/chromium), and this user cannot install it." >&2
    echo "Install it once as root:  apt-get install -y --no-install-recommends chromium" >&2
    exit 1
fi
echo "Installing Debian's chromium for the browser tests (apt-get)..."
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends chromium </dev/null; then
    $SUDO apt-get update </dev/null
    $SUDO apt-get install -y --no-install-recommends chromium </dev/null
fi
test -x /usr/bin/chromium
