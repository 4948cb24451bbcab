#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md and prints one table of the figures,
# min and median of `count` runs (each run pairs the measured code with its
# baseline in one loop, alternating, so that noise hits both alike):
#   1. parse against stdlib and klauspost inflate (10k, 100k, 1M rows; 1M
#      combined), wall and CPU;
#   2. peak RSS of a Builder by shape of the rows;
#   3. scale: 50x40, 500x40, 2000x60 orgs x meters: refresh CPU, RSS after
#      the refresh and after 100 scrapes, cold and warm scrapes, plain and
#      gzip, against net/http serving the same bytes from memory; 8
#      concurrent scrapers;
#   4. refresh economy and download-to-snapshot (parse, view, merge, render);
#   5. idle cost;
#   6. scrapes every 100 ms during a reload that restores a 1M-row state;
#   7. a restarted process's time to its first whole /metrics.
# Needs Go and a Linux /proc; about 15 minutes. Other load on the machine
# shows in the load averages printed at the start, between and at the end.
#   scripts/bench.sh [count] [reload]   (default 5; "reload": only 6 and 7)
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench.sh [COUNT] [reload]

Runs every benchmark of BENCHMARKS.md COUNT times (default 5), each paired with its baseline,
and prints one table of the min and median: parse against stdlib and klauspost inflate, peak
RSS by shape of the rows, the scale table (refresh CPU, RSS, cold and warm scrapes, plain and
gzip, against serving the same bytes from memory), refresh economy, download to served, idle
cost, scrapes during a reload and the time a restart takes to serve. Needs Go and a Linux
/proc; about 20 minutes. With "reload", only the last two (about 5 minutes at COUNT 5).
EOF
}
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
count=${1:-5}
only=${2:-}
if [[ -n $only && $only != reload ]]; then
  echo "bench.sh: the second argument may only be 'reload', not '$only'" >&2
  usage >&2
  exit 2
fi
if ! [[ $count =~ ^[1-9][0-9]*$ ]]; then
  echo "bench.sh: COUNT must be a whole number of at least 1, not '$count'" >&2
  usage >&2
  exit 2
fi
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export EXPORTGEN_DIR=${EXPORTGEN_DIR:-$work/exports}
out=$work/out.txt

step() { echo "== $*" >&2; }
load() { echo "MACHINE load average $1: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"; }

{
  echo "MACHINE cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores visible, GOMAXPROCS default"
  echo "MACHINE memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r); $(go version); $count runs of each benchmark"
} >>"$out"
load "at start"

if [[ -z $only ]]; then
step "generating the exports (10k, 100k, 1M rows)"
go run ./scripts/genexport -dir "$EXPORTGEN_DIR" -rows 10000,100000,1000000 >&2

step "parse against inflate"
go test -run '^$' -bench '^BenchmarkParse$' -benchtime 5x -count "$count" ./collector | tee -a "$out" >&2
load "after the parse"
step "CSV reader alone"
go test -run '^$' -bench '^BenchmarkReadUsageCSV$' -count "$count" ./informatica | tee -a "$out" >&2
step "memory by shape"
go test -run '^$' -bench '^BenchmarkBuilderShapes$' -benchtime 1x -count "$count" ./usage | tee -a "$out" >&2
step "scale: refresh, RSS, scrapes against the bytes-from-memory floor"
go test -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count "$count" -timeout 60m ./collector | tee -a "$out" >&2
load "after the scale runs"
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
load "before the reload runs"
fi
step "scrapes during a reload that restores a 1M-row state"
go test -run '^$' -bench '^BenchmarkReloadScrape$' -benchtime 1x -count "$count" -timeout 60m ./collector | tee -a "$out" >&2
load "after the reload runs"
step "a restarted process until its first whole /metrics"
go test -run '^$' -bench '^BenchmarkRestartFirstScrape$' -benchtime 1x -count "$count" . | tee -a "$out" >&2
load "at end"

go run ./scripts/benchtable ${only:+-reload} <"$out"
