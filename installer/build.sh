#!/usr/bin/env bash
# Build the one-folder bundle on Linux and run its self-check from the built folder.
#   installer/build.sh            uses .venv (created by `make`), installs PyInstaller into it
#   BUILD_VENV=/tmp/v installer/build.sh   builds in a fresh virtualenv instead
set -euo pipefail
cd "$(dirname "$0")/.."
PYINSTALLER_VERSION="6.22.3"

VENV="${BUILD_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q .
fi
if ! "$VENV/bin/python" -c "import PyInstaller, sys; sys.exit(PyInstaller.__version__ != '$PYINSTALLER_VERSION')" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q "pyinstaller==$PYINSTALLER_VERSION"
fi

rm -rf build/pyinstaller dist/station-app
"$VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller installer/station_app.spec

echo "bundle: dist/station-app ($(du -sh dist/station-app | cut -f1))"
# The self-check must not see the source checkout: run it from elsewhere, offscreen.
(cd /tmp && QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}" "$OLDPWD/dist/station-app/station-app" --self-check)
