#!/usr/bin/env bash
# Installs, from Debian's packages, what `make test` needs and the machine
# lacks: libnfs-utils (an NFSv4.0 client nobody on this project wrote).
set -euo pipefail
need=()
command -v nfs-ls >/dev/null 2>&1 || need+=(libnfs-utils)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: need root to install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
  }
fi
echo "deps: ok"
