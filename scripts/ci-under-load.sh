#!/usr/bin/env bash
# Runs .ci/run several times in a row while CPU-bound processes keep the
# machine busy, to show that no test depends on the machine's speed.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/ci-under-load.sh [RUNS] [BURNERS]

Runs .ci/run RUNS times in a row (default 3) while BURNERS CPU-bound
processes (default 2) run beside it, then prints one line per run and a
summary. Exits non-zero if any run failed. Each run's output is kept in
$TMPDIR/ci-under-load.N.log.
EOF
}
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
runs="${1:-3}"
burners="${2:-2}"
cd "$(dirname "$0")/.."

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for _ in $(seq "$burners"); do
  # A busy loop in its own shell: one core's worth of CPU each.
  bash -c 'while :; do :; done' &
  pids+=("$!")
done

echo "machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg); ${burners} CPU-bound processes beside .ci/run"
failed=0
for i in $(seq "$runs"); do
  log="${TMPDIR:-/tmp}/ci-under-load.$i.log"
  start=$(date +%s)
  if CI=true bash .ci/run >"$log" 2>&1; then result=pass; else result=FAIL; failed=$((failed + 1)); fi
  end=$(date +%s)
  packages=$(grep -cE '^ok[[:space:]]+[[:alnum:]./_-]+[[:space:]]' "$log" || true)
  echo "run $i: $result in $((end - start)) s, load $(cut -d' ' -f1-3 /proc/loadavg), $packages Go test packages ok (log: $log)"
  if [ "$result" = FAIL ]; then grep -E -- '^(--- FAIL|FAIL|panic)' "$log" | head -20 | sed 's/^/    /'; fi
done
echo "$((runs - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
