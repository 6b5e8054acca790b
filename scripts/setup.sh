#!/usr/bin/env bash
# Installs everything lineguard needs: Debian packages (when run as root) and a Python venv in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.lineguard-setup
want="$(cat scripts/apt-packages.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

packages=$(grep -v '^\s*#' scripts/apt-packages.txt | tr '\n' ' ')
if [ "$(id -u)" = 0 ]; then
  missing=""
  for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
  fi
else
  echo "setup: not root, skipping apt; make sure these are installed: $packages" >&2
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "$want" > "$stamp"
echo "setup: done (.venv ready)"
