#!/usr/bin/env bash
# fresh-debian-check.sh: runs the README's two Quick start commands
# (scripts/demo.sh, then scripts/test.sh) on a fresh minimal Debian 12, as
# CI's "machine that may be fresh" would see them: a `debootstrap
# --variant=minbase bookworm` tree (apt and nothing else: no compiler, no
# python), a clone of this repository's HEAD in it, and chroot. A developer
# tool, not part of the test suite: it needs root, the debootstrap package
# and Debian's mirror, and takes about 15 minutes on 2 cores (with the
# download).
#
#   scripts/fresh-debian-check.sh [DIR]     (default /tmp/lm-fresh-debian)
#
# An existing DIR with a Debian tree in it is reused (delete it for a truly
# fresh run). The kernel is the host's; everything else is the tree's.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/tmp/lm-fresh-debian}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

[[ $(id -u) -eq 0 ]] || { echo "fresh-debian-check: needs root (debootstrap, mount, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "fresh-debian-check: apt-get install debootstrap" >&2; exit 1; }

if [[ ! -x $dir/bin/bash ]]; then
  echo "fresh-debian-check: debootstrap bookworm into $dir"
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 ||
    { tail -20 "$dir.debootstrap.log" >&2; exit 1; }
fi

cleanup() {
  umount -R "$dir/dev" 2>/dev/null || true
  umount "$dir/proc" 2>/dev/null || true
}
trap cleanup EXIT
mount -t proc proc "$dir/proc"
mount --rbind /dev "$dir/dev"
cp /etc/resolv.conf "$dir/etc/resolv.conf"

rm -rf "$dir/root/libmalloc"
git clone -q "$repo" "$dir/root/libmalloc"
echo "fresh-debian-check: $(git -C "$dir/root/libmalloc" log --oneline -1)"

chroot "$dir" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/bash -c 'cd /root/libmalloc && time scripts/demo.sh >/root/demo.log 2>&1 && echo "demo: ok" &&
                time scripts/test.sh >/root/test.log 2>&1; status=$?; tail -1 /root/test.log; exit $status' ||
  { echo "fresh-debian-check: failed; logs in $dir/root/demo.log and $dir/root/test.log" >&2; exit 1; }
