#!/usr/bin/env bash
# Install Debian's bubblewrap, the isolation behind the Python tool for model-written code
# (ajet_plugins_std.tools.python_sandbox: new namespaces, an unprivileged uid, a read-only root).
#
# Never fails the caller: where apt is missing or we are not root (and have no passwordless sudo),
# it prints a note; the sandbox then refuses to run model code (unless AJET_SANDBOX=unsandboxed)
# and its escape tests skip themselves.
set -uo pipefail

note() { printf '[sandbox] %s\n' "$*" >&2; }

if command -v bwrap >/dev/null; then
    note "bubblewrap already installed ($(bwrap --version 2>/dev/null))"
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    note "apt-get not available: install bubblewrap yourself; the sandbox tests will be skipped"
    exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        note "not root and no passwordless sudo: run 'apt-get install bubblewrap' as root; the sandbox tests will be skipped"
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
note "installing Debian package bubblewrap (apt-get update first)"
if "${as_root[@]}" apt-get update -qq \
    && "${as_root[@]}" apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null; then
    note "installed in $((SECONDS - start)) s: $(bwrap --version 2>/dev/null || echo '?')"
else
    note "apt-get could not install bubblewrap; the sandbox tests will be skipped"
fi
exit 0
