#!/usr/bin/env bash
# Builds and tests the iOS app's measurement core (ios_app/DeviceLab/Core + its XCTests) with a real Swift
# toolchain on Linux: Debian bookworm has no Swift, Debian trixie ships `swiftlang` (Swift 6.0), so the toolchain
# lives in a trixie chroot made once with debootstrap and cached OUTSIDE the clone.
#
#   scripts/ios_core.sh            set up the chroot when missing, then `swift build` + `swift test`
#   scripts/ios_core.sh setup      only set up the chroot
#   scripts/ios_core.sh clean      remove the chroot (after unmounting anything left inside it)
#
# Variables: DEVICELAB_SWIFT_CHROOT (default /var/cache/devicelab/swift-trixie), DEVICELAB_DEBIAN_MIRROR.
# Needs root (debootstrap, chroot, mount), as on CI.
set -euo pipefail

CHROOT=${DEVICELAB_SWIFT_CHROOT:-/var/cache/devicelab/swift-trixie}
MIRROR=${DEVICELAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
# libc6-dev: the C library headers the Glibc module needs (only recommended by gcc, so named here).
PACKAGES="swiftlang libc6-dev"
# Written last: a chroot without it is an interrupted earlier attempt and is made again from scratch.
MARKER="$CHROOT/.devicelab-swift-ready"
# Inside the chroot: the sources (read-only bind mount) and SwiftPM's build folder (kept for quick reruns).
SRC_IN=/devicelab/src
BUILD_IN=/var/tmp/devicelab-ios-core-build
HERE=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "ios-core: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Every mount point at or below $1, deepest first (so nested mounts go before their parents).
mounts_below() {
  local root
  root=$(readlink -m "$1")
  awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

unmount_all() {
  local m
  for m in $(mounts_below "$1"); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
}

# rm -rf must never walk into a bind mount of the sources: unmount first and refuse if anything is still mounted.
remove_tree() {
  unmount_all "$1"
  if [ -n "$(mounts_below "$1")" ]; then die "still mounted below $1; not removing it"; fi
  rm -rf "$1"
}

in_chroot() {
  local root=$1; shift
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TMPDIR=/tmp \
    DEBIAN_FRONTEND=noninteractive "$@"
}

# apt-get in the chroot (with /proc mounted, unmounted again whatever happens).
install_packages() {
  local root=$1
  trap "unmount_all '$root/proc'" EXIT
  mount -t proc proc "$root/proc"
  log "installing $PACKAGES in the chroot"
  in_chroot "$root" sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $PACKAGES \
    >/dev/null && apt-get clean" || die "installing $PACKAGES in the chroot failed"
  in_chroot "$root" swift --version >&2
  unmount_all "$root/proc"
  trap - EXIT
}

setup() {
  # The marker holds the package list: a chroot made for another list gets the missing packages, not a rebuild.
  if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$PACKAGES" ]; then return 0; fi
  [ "$(id -u)" = 0 ] || die "setting up the Swift chroot needs root (debootstrap, chroot); or point \
DEVICELAB_SWIFT_CHROOT at a ready one"
  local t0=$SECONDS
  if [ -f "$MARKER" ]; then
    install_packages "$CHROOT"
    echo "$PACKAGES" >"$MARKER"
    log "chroot updated in $((SECONDS - t0)) s"
    return 0
  fi
  if ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || die "debootstrap is missing and there is no apt-get to install it"
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  local partial="$CHROOT.partial"
  if [ -e "$partial" ]; then log "removing an interrupted earlier attempt ($partial)"; remove_tree "$partial"; fi
  if [ -e "$CHROOT" ]; then log "removing an unfinished chroot ($CHROOT has no marker)"; remove_tree "$CHROOT"; fi
  log "debootstrap $SUITE into $partial (a few minutes, once)"
  debootstrap --variant=minbase "$SUITE" "$partial" "$MIRROR" >"$partial.log" 2>&1 \
    || { unmount_all "$partial"; tail -n 30 "$partial.log" >&2; die "debootstrap failed (full log: $partial.log)"; }
  install_packages "$partial"
  rm -f "$partial.log"
  mv "$partial" "$CHROOT"
  echo "$PACKAGES" >"$MARKER" # last: only a complete chroot has it
  log "chroot ready in $((SECONDS - t0)) s ($(du -shx "$CHROOT" | cut -f1))"
}

# Runs `swift build` and `swift test` on the sources mounted read-only in the chroot; the build folder lives in the
# chroot (not in the clone), so a rerun only recompiles what changed.
build_and_test() {
  local src="$CHROOT$SRC_IN"
  mkdir -p "$src" "$CHROOT$BUILD_IN"
  unmount_all "$CHROOT/proc"; unmount_all "$src" # left by a run killed before its trap
  trap "unmount_all '$CHROOT/proc'; unmount_all '$src'" EXIT
  mount -t proc proc "$CHROOT/proc"
  mount --bind "$HERE" "$src"
  mount -o remount,bind,ro "$src"
  local t0=$SECONDS
  in_chroot "$CHROOT" swift build --package-path "$SRC_IN/ios_app" --scratch-path "$BUILD_IN" --build-tests \
    -j "$(nproc)"
  log "built in $((SECONDS - t0)) s"
  t0=$SECONDS
  # XCTest's own summary ("Executed N tests, with 0 failures") is what CI reads; swift test exits non-zero on
  # any failure or crash.
  in_chroot "$CHROOT" swift test --package-path "$SRC_IN/ios_app" --scratch-path "$BUILD_IN" --skip-build \
    --disable-swift-testing
  log "tested in $((SECONDS - t0)) s"
  # The TFLite adapter needs the CocoaPods pod, which only exists on a Mac: typecheck it (with the core) against
  # the C API functions it calls, declared in scripts/swift_stubs, so a Swift mistake there shows up here too.
  local stubs="$SRC_IN/scripts/swift_stubs" out="$BUILD_IN/tflite-typecheck"
  in_chroot "$CHROOT" sh -c "mkdir -p $out && swiftc -emit-module -module-name TensorFlowLite -I $stubs \
    -emit-module-path $out/TensorFlowLite.swiftmodule $stubs/TensorFlowLite.swift && swiftc -typecheck -I $stubs \
    -I $out $SRC_IN/ios_app/DeviceLab/Core/*.swift $SRC_IN/ios_app/DeviceLab/Runtimes/TFLiteRuntime.swift"
  log "TFLiteRuntime.swift typechecks against the TFLite C API"
}

# One run at a time per chroot (two clones on one machine share it).
mkdir -p "$(dirname "$CHROOT")"
exec 9>"$CHROOT.lock"
flock 9

case "${1:-test}" in
  setup) setup ;;
  clean) remove_tree "$CHROOT"; remove_tree "$CHROOT.partial"; rm -f "$CHROOT.partial.log" ;;
  test) setup; build_and_test ;;
  *) echo "usage: $0 [test|setup|clean]" >&2; exit 2 ;;
esac
