#!/usr/bin/env bash
# Makes V8 available to `cargo build --features v8`: Debian's libnode (Node 18,
# V8 10.2) provides the headers and the shared library.
#
# - If the headers and libnode.so.108 are already installed system-wide, nothing
#   is done.
# - If `apt-get install libnode-dev` would not remove anything (no `nodejs` from
#   another source is installed), it is installed system-wide.
# - Otherwise (as on machines with nodesource's nodejs, which conflicts with
#   libnode108), the packages are downloaded with `apt-get download` and unpacked
#   with `dpkg-deb -x` into .libnode/ in this checkout, with libuv1 and
#   libc-ares2 beside libnode. build.rs finds them there and sets the rpath,
#   so binaries run without LD_LIBRARY_PATH.
#
# build.rs looks in $PYROSOME_LIBNODE_DIR, then .libnode/, then the system.
# Usage: scripts/setup-v8.sh [--local]   (--local: always unpack into .libnode/)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/.libnode"

have_system() {
  [[ -f /usr/include/node/v8.h ]] && compgen -G "/usr/lib/*/libnode.so.108" >/dev/null
}
have_local() {
  [[ -f "$root/usr/include/node/v8.h" ]] && compgen -G "$root/usr/lib/*/libnode.so.108" >/dev/null
}

sudo_() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

if [[ "${1:-}" != "--local" ]]; then
  if have_system; then
    echo "setup-v8: libnode is installed system-wide; nothing to do"
    exit 0
  fi
  # Install system-wide only if apt would not remove anything for it.
  if command -v apt-get >/dev/null && plan=$(apt-get install -s -y libnode-dev 2>/dev/null) &&
    ! grep -q '^Remv ' <<<"$plan"; then
    echo "setup-v8: installing libnode-dev with apt"
    export DEBIAN_FRONTEND=noninteractive
    sudo_ apt-get install -y -qq libnode-dev
    have_system && exit 0
  fi
fi

if have_local; then
  echo "setup-v8: using $root"
  exit 0
fi
echo "setup-v8: unpacking libnode into $root (apt would conflict with the installed nodejs)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packages=(libnode108 libnode-dev libuv1 libc-ares2)
if ! (cd "$work" && apt-get download "${packages[@]}" >/dev/null 2>&1); then
  sudo_ apt-get update -qq
  (cd "$work" && apt-get download "${packages[@]}")
fi
mkdir -p "$root"
for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$root"
done
have_local || { echo "setup-v8: unpacked, but no v8.h/libnode.so.108 under $root" >&2; exit 1; }
echo "setup-v8: done ($(ls "$root"/usr/lib/*/libnode.so.108))"
