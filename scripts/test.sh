#!/usr/bin/env bash
# Run the whole test suite. On a fresh machine this first sets up what the tests need:
# the project's virtual environment (.venv, with the test extras) and Chromium with CJK fonts
# for the browser tests (Debian packages; installed when missing and we are root).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import qa_scorer, pytest, playwright, hypothesis" 2>/dev/null; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
fi

# (grep reads fc-list's whole output: with -q it would stop at the first match, fc-list would die of
# SIGPIPE, and under pipefail the fonts would look missing, so apt-get ran on most runs)
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -i "noto.*cjk" >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Chromium and CJK fonts for the browser tests (apt-get)..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    echo "the browser tests need Chromium at /usr/bin/chromium and CJK fonts:" >&2
    echo "  sudo apt-get install chromium fonts-noto-cjk" >&2
    exit 1
  fi
fi

exec .venv/bin/python -m pytest "$@"
