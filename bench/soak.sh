#!/usr/bin/env bash
# Load soak (issue 6 point 6): Bulwark on its embedded defaults (SQLite, files), started from a
# snapshot of the commit, under CONNECTIONS concurrent mixed connections (IMAP IDLE, IMAP
# fetches, SMTP deliveries, CalDAV) for DURATION seconds, from many loopback source addresses
# (bench/soak-load.mjs). Memory (RSS) and open file descriptors sampled every 5 s; the section
# with throughput, latency, errors and the leveling-off of memory and descriptors goes to
# bench/RESULTS.md (raw JSON under bench/results/soak-<time>/).
#
#   bash bench/soak.sh                         # 500 connections for 120 s; about 4 minutes
#   IDLE=300 FETCH=100 SMTP=50 DAV=50 DURATION=120 bash bench/soak.sh
#   NO_RESULTS=1 DURATION=20 bash bench/soak.sh # a smoke run
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IDLE=${IDLE:-300} FETCH=${FETCH:-100} SMTP=${SMTP:-50} DAV=${DAV:-50} SECONDS_RUN=${DURATION:-120} ACCOUNTS=${ACCOUNTS:-20}
BW_PASSWORD=secret-benchmark-password
STATE=/var/tmp/bulwark-bench-soak
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench/results/soak-$STAMP
mkdir -p "$OUT" "$STATE"
export PATH=$ROOT/node_modules/.bin:$PATH
. "$(dirname "$0")/steps.sh"
REV=$(git -C "$ROOT" rev-parse --short HEAD)
SRC=$STATE/src-$REV DATA=$STATE/data
rm -rf "$SRC" "$DATA"; mkdir -p "$SRC" "$DATA"
git -C "$ROOT" archive HEAD | tar -x -C "$SRC"; ln -s "$ROOT/node_modules" "$SRC/node_modules"
(cd "$SRC" && node bin/bulwark.js --data "$DATA" init --domain example.test > /dev/null)
ADDRS=()
for i in $(seq 1 "$ACCOUNTS"); do
  printf '%s\n' "$BW_PASSWORD" | (cd "$SRC" && node bin/bulwark.js --data "$DATA" account add "soak$i@example.test" --password-stdin --quota 0 > /dev/null)
  ADDRS+=("soak$i@example.test")
done
BW_HTTP=127.0.0.1:28280
export BULWARK_LISTEN_HTTP=$BW_HTTP BULWARK_LISTEN_IMAP=127.0.0.1:28143 BULWARK_LISTEN_SMTP=127.0.0.1:28025 \
  BULWARK_LISTEN_IMAPS= BULWARK_LISTEN_POP3= BULWARK_LISTEN_POP3S= BULWARK_LISTEN_SUBMISSION= BULWARK_LISTEN_SUBMISSIONS= BULWARK_LISTEN_HTTPS= \
  BULWARK_AUTH_REQUIRE_TLS=false BULWARK_DNS_SERVERS=127.0.0.1:1 BULWARK_LOG_LEVEL=warn BULWARK_SMTP_VERIFY_SENDER_AUTH=false
SERVER=
trap 'stop_bulwark' EXIT
start_bulwark soak
RSS0=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER/status")
step soak-load $(( SECONDS_RUN + 300 )) node "$ROOT/bench/soak-load.mjs" --imap-port 28143 --smtp-port 28025 --http-port 28280 \
  --accounts "$(IFS=,; echo "${ADDRS[*]}")" --password "$BW_PASSWORD" --idle "$IDLE" --fetch "$FETCH" --smtp "$SMTP" --dav "$DAV" \
  --seconds "$SECONDS_RUN" --server-pid "$SERVER" --json "$OUT/soak.json"
sleep 10
RSS1=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER/status"); FD1=$(ls "/proc/$SERVER/fd" | wc -l)
stop_bulwark
rm -rf "$SRC"
node - "$OUT/soak.json" "$REV" "$STAMP" "$RSS0" "$RSS1" "$FD1" "$(nproc)" > "$OUT/report.md" <<'JS'
const [file, rev, stamp, rss0, rss1, fd1, cores] = process.argv.slice(2);
const r = JSON.parse(require('fs').readFileSync(file, 'utf8'));
const s = r.samples;
const peak = (k) => Math.max(...s.map((x) => x[k]));
const cpu = s.length > 1 ? ((s.at(-1).cpu_s - s[0].cpu_s) / (s.at(-1).t - s[0].t)).toFixed(2) : '?';
const errs = Object.entries(r.errors).map(([op, e]) => `${op}: ${Object.entries(e).map(([k, n]) => `${n}x "${k}"`).join(', ')}`).join('; ') || 'none';
const out = [];
out.push(`## Soak, ${stamp.replace(/(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d).*/, '$1-$2-$3T$4:$5Z')} (soak-${stamp}, Bulwark ${rev})`, '');
out.push(`${r.connections} concurrent connections for ${r.seconds} s (IMAP IDLE ${r.mix.idle}, IMAP fetch loops ${r.mix.fetch}, SMTP deliveries ${r.mix.smtp}, CalDAV ${r.mix.dav}), each from its own loopback address, over 20 accounts; Bulwark on its embedded defaults (SQLite, files) from a snapshot of the commit, ${cores} cores shared with the load tool. bench/soak.sh, bench/soak-load.mjs.`, '');
out.push('| operation | n | ops/s | p50 ms | p99 ms |', '| --- | ---: | ---: | ---: | ---: |');
for (const [k, v] of Object.entries(r.ops)) out.push(`| ${k} | ${v.n} | ${v.per_s} | ${v.p50_ms} | ${v.p99_ms} |`);
out.push('', `Errors: ${errs}. Every IDLE session saw the deliveries to its account: ${r.idle_exists_seen} EXISTS in all.`, '');
out.push(`Server: resident memory ${rss0} MiB before the load, peak ${peak('rss_mib')} MiB, ${rss1} MiB 10 s after; open file descriptors peak ${peak('fds')}, ${fd1} after; CPU ${cpu} cores on average. Over the last quarter of the run against the quarter before: RSS ${r.growth_last_quarter_pct.rss} %, descriptors ${r.growth_last_quarter_pct.fds} % (leveling off: near 0).`, '');
out.push(`Samples (s: RSS MiB / fds): ${s.map((x) => `${x.t}: ${x.rss_mib}/${x.fds}`).join(', ')}.`, '');
console.log(out.join('\n'));
JS
if [ -z "${NO_RESULTS:-}" ]; then printf '\n' >> "$ROOT/bench/RESULTS.md"; cat "$OUT/report.md" >> "$ROOT/bench/RESULTS.md"; echo "appended to bench/RESULTS.md"; else cat "$OUT/report.md"; fi
