#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the browser tests (DESIGN section 10: a browser
# download such as `playwright install` cannot work here; Selenium drives the system Chromium).
#
# Never fails the caller: where apt is missing or we are not root (and have no passwordless sudo),
# it prints a note and the browser tests skip themselves.
set -uo pipefail

note() { printf '[browser] %s\n' "$*" >&2; }

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    note "chromium and chromedriver already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    note "apt-get not available: install chromium and chromedriver yourself; browser tests will be skipped"
    exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        note "not root and no passwordless sudo: run 'apt-get install chromium chromium-driver' as root; browser tests will be skipped"
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
note "installing Debian packages chromium and chromium-driver (apt-get update first)"
if "${as_root[@]}" apt-get update -qq \
    && "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; then
    note "installed in $((SECONDS - start)) s: $(chromium --version 2>/dev/null || echo '?')"
else
    note "apt-get could not install chromium/chromium-driver; browser tests will be skipped"
fi
exit 0
