#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the browser tests (DESIGN section 10: a browser
# download such as `playwright install` cannot work here; Selenium drives the system Chromium).
# Never fails the caller: without them the browser tests skip themselves.
exec "$(dirname "${BASH_SOURCE[0]}")/install_debian_packages.sh" browser "chromium chromedriver" \
    chromium chromium-driver
