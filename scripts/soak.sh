#!/usr/bin/env bash
# Soak test: the exporter against the fake Informatica with a 1 s refresh, scraped every
# 100 ms. Prints RSS and goroutines at the start, every minute, and at the end, and fails
# when either keeps growing (end more than 25% and 5 MiB / 10 goroutines above the start).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/soak.sh [SECONDS]

Builds the exporter and the fake Informatica (scripts/fakeinformatica), runs the exporter
against it for SECONDS (default 600, at least 60) with refresh.interval 1s, scrapes /metrics
every 100 ms, and prints RSS, goroutines and refreshes after 20 s, every minute and at the
end. Fails if RSS or goroutines keep growing (end more than 25% and 5 MiB, or 10 goroutines,
above the start), a scrape fails or the exporter dies. Needs Go, curl and python3.
EOF
}
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
duration=${1:-600}
if ! [[ $duration =~ ^[0-9]+$ ]] || [ "$duration" -lt 60 ]; then
  echo "soak.sh: SECONDS must be a whole number of at least 60, not '$duration'" >&2
  usage >&2
  exit 2
fi
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/informatica_exporter" .
go build -o "$work/fakeinformatica" ./scripts/fakeinformatica

"$work/fakeinformatica" -created-for 50ms -processing-for 100ms >"$work/fake.out" 2>&1 &
for _ in $(seq 100); do grep -q '^url=' "$work/fake.out" && break; sleep 0.1; done
read -r url username password < <(sed -n 's/^url=\(\S*\) username=\(\S*\) password=\(\S*\)$/\1 \2 \3/p' "$work/fake.out")

cat >"$work/config.yml" <<YAML
accounts:
  - name: soak
    login_url: $url
    username: $username
    password: $password
    ipu_entitlement: 15000
refresh:
  interval: 1s
  lookback: 45d
  poll_interval: 20ms
  job_timeout: 30s
  max_age: 26h
YAML

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/informatica_exporter" --config.file="$work/config.yml" --web.listen-address=127.0.0.1:$port \
  --log.level=warn >"$work/exporter.log" 2>&1 &
pid=$!
metrics=http://127.0.0.1:$port/metrics
for _ in $(seq 100); do curl -sf "$metrics" >/dev/null && break; sleep 0.1; done

# Scrapes every 100 ms for the whole run; failures are counted.
( ok=0; failed=0; end=$((SECONDS + duration))
  while [ $SECONDS -lt $end ]; do
    if curl -sf -o /dev/null "$metrics"; then ok=$((ok+1)); else failed=$((failed+1)); fi
    sleep 0.1
  done
  echo "$ok $failed" >"$work/scrapes" ) &
scraper=$!

sample() {
  local body rss goroutines refreshes
  body=$(curl -sf "$metrics")
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
  goroutines=$(awk '/^go_goroutines / {print $2}' <<<"$body")
  refreshes=$(awk '/^informatica_exporter_refreshes_total/ {print $2}' <<<"$body")
  printf '%6ds  rss=%6d KiB  goroutines=%4s  refreshes=%s\n' "$1" "$rss" "$goroutines" "$refreshes"
  echo "$rss $goroutines" >"$work/last"
}

sleep 20 # warm up: first refreshes, heap grows to its working size
sample 20; read -r rss0 g0 <"$work/last"
t=20
while [ $t -lt $duration ]; do
  step=$(( duration - t < 60 ? duration - t : 60 ))
  sleep $step; t=$((t + step))
  sample $t
done
wait $scraper
read -r rss1 g1 <"$work/last"
read -r ok failed <"$work/scrapes"
echo "start: rss=${rss0} KiB goroutines=${g0}   end: rss=${rss1} KiB goroutines=${g1}   scrapes: ${ok} ok, ${failed} failed"
kill -0 $pid || { echo "FAIL: the exporter died"; cat "$work/exporter.log"; exit 1; }
status=0
if [ "$rss1" -gt $(( rss0 * 125 / 100 )) ] && [ "$rss1" -gt $(( rss0 + 5120 )) ]; then echo "FAIL: RSS grew"; status=1; fi
if [ "$g1" -gt $(( g0 + 10 )) ]; then echo "FAIL: goroutines grew"; status=1; fi
if [ "$failed" -ne 0 ]; then echo "FAIL: $failed scrapes failed"; status=1; fi
[ $status -eq 0 ] && echo "PASS: RSS and goroutines flat, every scrape answered"
exit $status
