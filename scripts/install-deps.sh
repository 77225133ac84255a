#!/usr/bin/env bash
# Installs the Debian packages and npm packages Kiln needs to build, test and benchmark.
# Idempotent and quiet when everything is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev sqlite3 libssl-dev zlib1g-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgoogle-perftools-dev
  curl wrk
)
# Node.js may come from another source (with npm bundled); only ask Debian for it when absent.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The FHIR R4 definitions (pinned in package.json / package-lock.json).
if [ ! -f node_modules/hl7.fhir.r4.examples/package.json ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install-deps: installing npm packages (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
