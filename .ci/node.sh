#!/usr/bin/env bash
# Make sure npm is here for the pinned front-end libraries (package-lock.json): installs Debian's nodejs and npm
# when missing and running as root; otherwise says what to do and fails.
set -euo pipefail
if command -v npm >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "ERROR: npm is missing and this is not root, so it cannot be installed here." >&2
  echo "       Install Node.js with npm (Debian: apt-get install nodejs npm), then run make again." >&2
  exit 1
fi
echo "node: installing nodejs and npm"
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null
