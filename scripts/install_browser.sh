#!/usr/bin/env bash
# Install the headless browser that tests/test_browser.py drives through Playwright: Debian's
# `chromium` package. Playwright's own browser download (`playwright install`) needs a host this
# project's machines cannot reach, so the test uses the system Chromium instead.
# Idempotent: does nothing when `chromium` (or Chrome) is already on PATH. Called by `make test` (target `browser`).
set -euo pipefail

# the names tests/test_browser.py looks for (not `chromium-browser`: on Ubuntu a stub asking for the snap)
for name in chromium google-chrome google-chrome-stable; do
    if command -v "$name" > /dev/null 2>&1; then
        exit 0
    fi
done
if ! command -v apt-get > /dev/null 2>&1; then
    echo "install_browser.sh: no apt-get; install Chromium by hand so that \`chromium\` is on PATH" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Ubuntu's `chromium` is a snap wrapper; on Debian (these machines) it is the real browser.
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends chromium
command -v chromium
