#!/usr/bin/env bash
# Headless Chromium from Debian's packages for the settings-page browser tests (never a browser download).
#   deploy/local/browser.sh ensure
set -euo pipefail
case "${1:-}" in
  ensure)
    if command -v chromium >/dev/null; then exit 0; fi
    echo "[browser] installing Debian's chromium for the browser tests…" >&2
    if [[ $(id -u) -ne 0 ]]; then echo "[browser] need root for apt-get: install 'chromium'" >&2; exit 1; fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    command -v chromium >/dev/null || { echo "[browser] chromium still missing after install" >&2; exit 1; }
    ;;
  *) echo "usage: $0 ensure" >&2; exit 2 ;;
esac
