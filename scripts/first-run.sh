#!/usr/bin/env bash
# What a newcomer's first `go run` costs: the README's command with an empty module
# cache and an empty build cache, as on a machine that never built Go code.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/first-run.sh

Runs the README's `go run -buildvcs=true . --version` once with an empty module cache
(GOMODCACHE) and an empty build cache (GOCACHE), both in a temporary folder, and prints
how many modules it downloaded (through your GOPROXY, so it needs the network), their
size, and how long it took; then the same command again with the caches warm.
Your own caches are not touched.
EOF
}
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export GOMODCACHE=$work/mod GOCACHE=$work/build

ms() { echo $(( $(date +%s%N) / 1000000 )); }
start=$(ms)
go run -buildvcs=true . --version >"$work/version.txt" 2>&1
cold=$(( $(ms) - start ))
start=$(ms)
go run -buildvcs=true . --version >/dev/null 2>&1
warm=$(( $(ms) - start ))

modules=$(find "$GOMODCACHE/cache/download" -name '*.zip' | wc -l)
size=$(du -sm "$GOMODCACHE/cache/download" | cut -f1)
echo "machine: $(nproc) cores, $(go version)"
echo "first go run: ${modules} modules downloaded (${size} MiB), $(( (cold + 500) / 1000 )) s in all"
echo "second go run: $(( (warm + 50) / 100 ))00 ms"
grep -m1 '^informatica_exporter, version' "$work/version.txt"
