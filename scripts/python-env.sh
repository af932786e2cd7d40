#!/usr/bin/env bash
# Creates (once) the Python virtualenv the end-to-end tests use, with the pinned OpenTelemetry
# SDK and exporters, and prints the path of its python. Idempotent: reinstalls only when
# tests/python/requirements.txt changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${LOOKOUT_VENV:-$HOME/.cache/lookout-venv}"
requirements="$root/tests/python/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
