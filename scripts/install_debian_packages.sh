#!/usr/bin/env bash
# Install Debian packages that some tests need, once (the browser, the sandbox).
#
#   scripts/install_debian_packages.sh TAG "COMMAND ..." PACKAGE ...
#
# Nothing to do when every COMMAND is already on PATH. Never fails the caller: where apt is
# missing or we are not root (and have no passwordless sudo), it prints a note, and the tests
# that need the packages skip themselves with the way out.
set -uo pipefail

[[ $# -ge 3 ]] || { echo "usage: $0 TAG \"COMMAND ...\" PACKAGE ..." >&2; exit 2; }
tag=$1
read -r -a commands <<< "$2"
shift 2
packages=("$@")

note() { printf '[%s] %s\n' "$tag" "$*" >&2; }

missing=()
for command in "${commands[@]}"; do
    command -v "$command" >/dev/null || missing+=("$command")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    note "${commands[*]} already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    note "apt-get not available: install ${packages[*]} yourself; the $tag tests will be skipped"
    exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        note "not root and no passwordless sudo: run 'apt-get install ${packages[*]}' as root;" \
            "the $tag tests will be skipped"
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
note "installing Debian packages ${packages[*]} (apt-get update first)"
if "${as_root[@]}" apt-get update -qq \
    && "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; then
    note "installed in $((SECONDS - start)) s"
else
    note "apt-get could not install ${packages[*]}; the $tag tests will be skipped"
fi
exit 0
