#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md and prints one table of the figures:
# parse against inflate (10k, 100k and 1M rows), scrape against encoding,
# /metrics latency with 8 scrapers, refresh economy, download-to-snapshot
# time and idle cost. Needs Go and a Linux /proc; about five minutes.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench.sh [COUNT]

Runs every benchmark of BENCHMARKS.md COUNT times (default 3) and prints one table of the
medians: parse against inflate (10k, 100k and 1M rows), scrape against encoding, /metrics
latency with 8 scrapers, refresh economy, download-to-snapshot time and idle cost. Needs Go
and a Linux /proc; about five minutes.
EOF
}
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
count=${1:-3}
if ! [[ $count =~ ^[1-9][0-9]*$ ]]; then
  echo "bench.sh: COUNT must be a whole number of at least 1, not '$count'" >&2
  usage >&2
  exit 2
fi
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export EXPORTGEN_DIR=$work/exports
out=$work/out.txt

step() { echo "== $*" >&2; }

{
  echo "MACHINE cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores visible, GOMAXPROCS default"
  echo "MACHINE memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r); $(go version)"
  echo "MACHINE load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$out"

step "generating the exports (10k, 100k, 1M rows)"
go run ./scripts/genexport -dir "$EXPORTGEN_DIR" -rows 10000,100000,1000000 >&2

step "parse against inflate"
go test -run '^$' -bench '^BenchmarkParse$' -benchtime 5x -count "$count" ./collector | tee -a "$out" >&2
step "CSV reader alone"
go test -run '^$' -bench '^BenchmarkReadUsageCSV$' -count "$count" ./informatica | tee -a "$out" >&2
step "scrape against encoding"
go test -run '^$' -bench '^BenchmarkScrape$' -benchtime 300x -count "$count" ./collector | tee -a "$out" >&2
step "/metrics with 8 concurrent scrapers"
go test -run '^$' -bench '^BenchmarkScrapeHTTP$' -benchtime 2000x -count "$count" ./collector | tee -a "$out" >&2
step "download finished to snapshot served, 1M rows"
go test -run '^$' -bench '^BenchmarkDownloadToSnapshot$' -benchtime 5x -count "$count" ./collector | tee -a "$out" >&2
step "refresh economy"
go test -count 1 -run 'TestRefreshEconomy' -v ./informatica ./collector | tee -a "$out" >&2
step "idle cost (60 s)"
go build -o "$work/informatica_exporter" .
go build -o "$work/fakeinformatica" ./scripts/fakeinformatica
go run ./scripts/idlecost -exporter "$work/informatica_exporter" -fake "$work/fakeinformatica" -seconds 60 | tee -a "$out" >&2
echo "MACHINE load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"

go run ./scripts/benchtable <"$out"
