#!/usr/bin/env bash
# Installs aiortc (an independent WebRTC stack the NACK tests publish with) into a venv of its own
# under the user's cache, kept out of the system Python. Idempotent: when the venv already holds
# the pinned versions it does nothing and prints nothing. Called by `setup.sh test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
. scripts/versions.env

VENV="${XDG_CACHE_HOME:-$HOME/.cache}/imageflowcanvas/venv-aiortc"
WANT="aiortc==$PIP_AIORTC_VERSION av==$PIP_AV_VERSION"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/versions" 2>/dev/null)" = "$WANT" ]; then
  exit 0
fi
echo "setup: installing $WANT into $VENV" >&2
rm -rf "$VENV"
python3 -m venv "$VENV"
# shellcheck disable=SC2086 # WANT is two requirement words
"$VENV/bin/pip" install --quiet --disable-pip-version-check $WANT
# the stamp is written last: an interrupted install is redone on the next run
echo "$WANT" > "$VENV/versions"
