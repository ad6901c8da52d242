#!/usr/bin/env bash
# npm run test:ceph — the agent against real two-zone Ceph clusters on 127.0.0.1, one release after
# another: CEPH_RELEASES=pacific,reef,tentacle (the default; any subset, comma-separated).
# Clusters start through ../shared/ceph/ceph-release.sh (CEPH_SCRIPTS to point elsewhere). Installs
# nothing: a release that is not ready fails with one line saying what to run (.ci/run does it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts=${CEPH_SCRIPTS:-../shared/ceph}
if [ ! -f "$scripts/ceph-release.sh" ]; then
  echo "test:ceph: $scripts/ceph-release.sh not found (set CEPH_SCRIPTS to the folder with ceph-release.sh)" >&2
  exit 1
fi
export CEPH_SCRIPTS=$(cd "$scripts" && pwd)
export CEPH_RELEASES=${CEPH_RELEASES:-pacific,reef,tentacle}
IFS=, read -r -a releases <<<"$CEPH_RELEASES"
for r in "${releases[@]}"; do
  case "$r" in
    pacific)
      for bin in ceph-mon ceph-osd ceph-mgr radosgw ceph radosgw-admin; do
        command -v "$bin" >/dev/null 2>&1 || { echo "test:ceph: Ceph Pacific is not installed (missing $bin); run: $CEPH_SCRIPTS/ceph-release.sh pacific ensure" >&2; exit 1; }
      done ;;
    reef|tentacle)
      root=${CEPH_CHROOT:-/srv/ceph-$r}
      [ -x "$root/usr/bin/radosgw" ] || { echo "test:ceph: the $r chroot is not built ($root); run: $CEPH_SCRIPTS/ceph-release.sh $r ensure" >&2; exit 1; } ;;
    *) echo "test:ceph: unknown release '$r' in CEPH_RELEASES (pacific, reef, tentacle)" >&2; exit 1 ;;
  esac
done
npm run build --silent
node --test --test-concurrency=1 --test-timeout=1200000 dist/test-ceph/
