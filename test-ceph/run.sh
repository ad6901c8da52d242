#!/usr/bin/env bash
# npm run test:ceph — the agent against a real two-zone Ceph Pacific cluster on 127.0.0.1.
# Installs nothing: without the Ceph packages it fails with one line saying what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for bin in ceph-mon ceph-osd ceph-mgr radosgw ceph radosgw-admin; do command -v "$bin" >/dev/null 2>&1 || missing+=("$bin"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test:ceph: Ceph is not installed (missing ${missing[*]}); install it with: apt-get install -y --no-install-recommends ceph-mon ceph-osd ceph-mgr radosgw ceph-common" >&2
  exit 1
fi
scripts=${CEPH_SCRIPTS:-../shared/ceph}
if [ ! -x "$scripts/ceph-up.sh" ] && [ ! -f "$scripts/ceph-up.sh" ]; then
  echo "test:ceph: $scripts/ceph-up.sh not found (set CEPH_SCRIPTS to the folder with ceph-up.sh and ceph-down.sh)" >&2
  exit 1
fi
export CEPH_SCRIPTS=$(cd "$scripts" && pwd)
npm run build --silent
node --test --test-concurrency=1 dist/test-ceph/
