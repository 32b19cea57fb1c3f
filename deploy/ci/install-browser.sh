#!/usr/bin/env bash
# Install a headless-capable Chromium for the report's rendering test (tests/report, marked slow).
# Idempotent: does nothing when a chromium binary is already on PATH. Debian/Ubuntu (apt), as root
# or through sudo. Usage: deploy/ci/install-browser.sh   (then: chromium --version)
set -euo pipefail

for candidate in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$candidate" >/dev/null 2>&1; then
        echo "install-browser: $candidate already installed: $("$candidate" --version 2>/dev/null || echo '?')"
        exit 0
    fi
done

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; install Chromium with your package manager" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-browser: run as root (or install sudo)" >&2; exit 1; }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# Debian names the package chromium; Ubuntu's chromium-browser is a snap shim, so try chromium first.
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core \
    || $SUDO apt-get install -y -q --no-install-recommends chromium-browser fonts-dejavu-core
command -v chromium >/dev/null 2>&1 && chromium --version || chromium-browser --version
