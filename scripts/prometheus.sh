#!/usr/bin/env bash
# Installs (once) the Prometheus server the end-to-end remote-write test runs against (the
# Debian package `prometheus`) and prints the path of its binary. Idempotent.
set -euo pipefail
if [ -n "${LOOKOUT_PROMETHEUS:-}" ] && [ -x "$LOOKOUT_PROMETHEUS" ]; then
  echo "$LOOKOUT_PROMETHEUS"
  exit 0
fi
if ! command -v prometheus >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends prometheus >&2
fi
command -v prometheus
