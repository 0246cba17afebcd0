#!/bin/sh
# dev-run.sh — what `make run` runs: nfsgw serving a local directory at
# /export on loopback, for trying the gateway out (README.md, "The two
# commands"). Environment: NFSGW_BIN (bin/nfsgw), LISTEN (127.0.0.1:2049),
# DATA (./data), STATE (./state), LEASE (10), ADMIN (nfsgw's default
# socket, unix:/run/nfsgw/admin.sock, which nfsgwctl uses without flags).
set -eu
bin=${NFSGW_BIN:-bin/nfsgw}
data=${DATA:-./data}
mkdir -p "$data"
# The export keeps the default root squash (uid 0 becomes 65534), as real
# exports should; so that a client running as root (libnfs-utils, a mount
# by root) can write here as the README shows, the demo directory belongs
# to the anonymous id. Only a root-owned directory is handed over: one the
# user set up themselves stays as it is.
if [ "$(stat -c %u "$data")" = 0 ]; then
  chown 65534:65534 "$data"
fi
# A short lease (and so grace period): every one-shot libnfs command is a
# client that never comes back to reclaim, and after a restart new opens
# wait for grace to end; 10 s instead of 90 s.
set -- --listen "${LISTEN:-127.0.0.1:2049}" --export "/export=$data" \
  --state-dir "${STATE:-./state}" --lease "${LEASE:-10}"
if [ -n "${ADMIN:-}" ]; then
  set -- "$@" --admin "$ADMIN"
fi
exec "$bin" "$@"
