#!/usr/bin/env bash
# Install Debian's bubblewrap, the isolation behind the Python tool for model-written code
# (ajet_plugins_std.tools.python_sandbox: new namespaces, an unprivileged uid, a read-only root).
# Never fails the caller: without it the sandbox refuses to run model code (unless
# AJET_SANDBOX=unsandboxed) and its escape tests skip themselves.
exec "$(dirname "${BASH_SOURCE[0]}")/install_debian_packages.sh" sandbox bwrap bubblewrap
