#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (playwright-core never downloads a browser). On a fresh
# machine, install it when we can; otherwise say exactly what is missing. Runs before `npm test`.
set -euo pipefail
if [ -n "${CHROME_PATH:-}" ] && [ -x "$CHROME_PATH" ]; then exit 0; fi
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing: installing Debian's chromium package for the browser tests…" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "error: the browser tests need Chromium. Install Debian's package (sudo apt-get install chromium) or set CHROME_PATH." >&2
exit 1
