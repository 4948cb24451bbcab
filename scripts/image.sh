#!/usr/bin/env bash
# Builds the real Dockerfile with buildah for linux/amd64 and linux/arm64, without a
# registry, a container engine or emulation, checks both images and runs this machine's
# from its root filesystem. .ci/run and `make image` run it.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/image.sh [--keep]

Builds the Dockerfile with buildah (vfs storage, chroot isolation, --pull=never) for
linux/amd64 and linux/arm64 (the build stage runs on this machine and cross-compiles;
the runtime stage has no RUN, so no emulation), exports each image as an OCI archive, and
checks both with scripts/imagecheck: platform, USER, EXPOSE, ENTRYPOINT (a static ELF
executable of the image's architecture), the CA bundle, a writable /tmp. The image of this
machine's architecture is then run: its entrypoint from the unpacked root filesystem as the
image's user (chroot --userspec) in --demo mode, scraping /metrics. Prints each image's
size.

No registry is needed: the build stage's golang image is replaced by a local stand-in of
the same Go version (go.mod's), made from the Go toolchain of this machine (go env
GOROOT), busybox and the CA bundle, with the local module cache as its module proxy and the
local build cache as its build cache (what `make build` and `make crossbuild` compiled, with
the same flags, is not compiled again). The runtime stage is FROM scratch.

buildah 1.28 (Debian 12) looks the build stage's image up for the target platform, not
for FROM --platform=$BUILDPLATFORM: when it finds none for the other architecture, the
stand-in is labelled with the target's, and its RUN steps still run this machine's Go,
which cross-compiles.

ARCHS (default "amd64 arm64") chooses the images to build.

Needs root, buildah, busybox-static and ca-certificates (.ci/run installs them).
Everything goes into a temporary folder, removed at the end unless --keep is given.
EOF
}
keep=false
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --keep) keep=true ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "image.sh: needs root (buildah's vfs storage, chroot)" >&2; exit 1; }
for p in buildah busybox chroot; do
  command -v "$p" >/dev/null || { echo "image.sh: $p is not installed (.ci/run installs it)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/informatica-image.XXXXXX)
bah() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver=vfs "$@"; }
cleanup() {
  if $keep; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
t0=$(date +%s)
step() { echo "== $(( $(date +%s) - t0 )) s: $*"; }

# The Go of go.mod, of the Dockerfile's build stage and of this machine must agree.
mod_go=$(awk '$1 == "go" {split($2, v, "."); print v[1] "." v[2]}' go.mod)
from_go=$(sed -n 's/^FROM \(--platform=[^ ]* \)\{0,1\}golang:\([0-9][0-9.]*\).* AS build$/\2/p' Dockerfile)
local_go=$(go env GOVERSION | sed 's/^go//')
if [ "$from_go" != "$mod_go" ]; then
  echo "image.sh: the Dockerfile builds with golang:$from_go, go.mod says go $mod_go" >&2; exit 1
fi
case "$local_go" in
  "$mod_go" | "$mod_go".*) ;;
  *) echo "image.sh: this machine's Go is $local_go, go.mod says $mod_go: no stand-in for golang:$from_go" >&2; exit 1 ;;
esac

step "stand-in for golang:$from_go from $(go env GOROOT) (go$local_go)"
go mod download # the build stage's module proxy is this module cache
rootfs=$work/golang-rootfs
mkdir -p "$rootfs/bin" "$rootfs/usr/local" "$rootfs/etc/ssl/certs" "$rootfs/go" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp -a "$(go env GOROOT)" "$rootfs/usr/local/go"
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for c in sh date mkdir cp chmod chown cat ls rm; do ln -s busybox "$rootfs/bin/$c"; done
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
ctr=$(bah from scratch)
bah copy "$ctr" "$rootfs/" / >/dev/null
bah config --workingdir /go \
  --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env GOPATH=/go --env GOTOOLCHAIN=local \
  --env GOPROXY=file:///goproxy,off --env GOSUMDB=off --env GOCACHE=/gocache "$ctr"
bah commit -q --rm "$ctr" "docker.io/library/golang:$from_go" >/dev/null
rm -rf "$rootfs"

version=$(cat VERSION)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
go build -o "$work/imagecheck" ./scripts/imagecheck
host_arch=$(go env GOARCH)
# bud ARCH: builds the image for linux/ARCH into localhost/informatica_exporter:ci-ARCH.
bud() {
  bah bud --isolation chroot --pull=never --layers=false --platform "linux/$1" \
    --volume "$(go env GOMODCACHE)/cache/download:/goproxy:ro" --volume "$(go env GOCACHE):/gocache" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "BRANCH=$branch" \
    -t "localhost/informatica_exporter:ci-$1" . >"$work/build-$1.log" 2>&1
}
# label ARCH: labels the stand-in linux/ARCH.
labelled=$host_arch
label() {
  step "stand-in labelled linux/$1 (it runs here and cross-compiles)"
  ctr=$(bah from --pull=never --arch "$labelled" "docker.io/library/golang:$from_go")
  bah config --arch "$1" "$ctr"
  bah commit -q --rm "$ctr" "docker.io/library/golang:$from_go" >/dev/null
  labelled=$1
}
for arch in ${ARCHS:-amd64 arm64}; do
  step "buildah bud --platform linux/$arch (VERSION=$version REVISION=$revision BRANCH=$branch)"
  if ! bud "$arch"; then
    # A buildah that looks the build stage up for the target platform (1.28) finds no
    # stand-in for it: label it so, and build again.
    if [ "$arch" != "$labelled" ] && grep -q 'image not known' "$work/build-$arch.log"; then
      label "$arch"
      bud "$arch" || { cat "$work/build-$arch.log"; exit 1; }
    else
      cat "$work/build-$arch.log"; exit 1
    fi
  fi
  grep -A1 -- '--version' "$work/build-$arch.log" | grep '^informatica_exporter, version' || true

  step "export linux/$arch as an OCI archive"
  bah push -q "localhost/informatica_exporter:ci-$arch" "oci-archive:$work/image-$arch.tar"

  if [ "$arch" = "$host_arch" ]; then
    step "check and run the linux/$arch image"
  else
    step "check the linux/$arch image (this machine is $host_arch: not run)"
  fi
  "$work/imagecheck" -arch "$arch" -archive "$work/image-$arch.tar" -rootfs "$work/rootfs-$arch" \
    -version "$version" -revision "$revision"
done
step "done"
