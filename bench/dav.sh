#!/usr/bin/env bash
# CalDAV benchmark, side by side in one run (issue 5 point 9): Radicale as ../shared/bench sets it
# up against Bulwark on its embedded defaults (SQLite, files). The same calendar for both
# (bench/dav-fill.mjs: 5,000 events over a year, 20 % recurring, some with an override or an
# EXDATE, deterministic), the same load tool with the same checks (bench/dav-load.mjs):
#   - C concurrent clients, each operation type on its own: calendar-query time-range over one
#     month (ETags; and with calendar-data), calendar-multiget of 100, single GET, sync-collection
#     after 10 changes; then all of them as a mix: p50/p99 and correct answers per second
#   - Bulwark's resident memory after start, after the fill and after the load
#   - CPU profiles of Bulwark (--cpu-prof, and per-statement SQLite timing) over short repeats of
#     single operations and of the mix, one server run each
# Raw JSON and logs under bench/results/dav-<time>/, the figures and ratios appended to bench/RESULTS.md.
#
#   bash bench/dav.sh                   # as root (the peer needs apt and its own user); about 10 min
#   CLIENTS=10 EVENTS=5000 SECONDS_PER_OP=20 MIX_SECONDS=30 bash bench/dav.sh
#   PHASES="bulwark" bash bench/dav.sh  # one side only (no RESULTS.md section then)
#   NO_RESULTS=1 EVENTS=500 SECONDS_PER_OP=5 MIX_SECONDS=5 bash bench/dav.sh   # a smoke run: report in the results dir only
#
# Every connection goes to 127.0.0.1; every step is bounded by count and by `timeout`. Each step
# first waits (bounded) until the machine is quiet, like ../shared/bench/run-suite.sh, and samples
# the busiest processes while it runs (<step>.top.txt), so foreign load shows in the report.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$(cd "$ROOT/../shared/bench" && pwd)}
export SHARED_BENCH=$SHARED
PHASES=${PHASES:-"peers bulwark"}
CLIENTS=${CLIENTS:-10}
EVENTS=${EVENTS:-5000}
SEED=${SEED:-9}
YEAR=${YEAR:-2026}
MONTH=${MONTH:-3}
RECURRING_PCT=${RECURRING_PCT:-20}
SECONDS_PER_OP=${SECONDS_PER_OP:-20}
MIX_SECONDS=${MIX_SECONDS:-30}
MIX=${MIX:-sync:35,multiget:25,get:25,query:15}
OPS=${OPS:-query,query_data,multiget,get,sync}
MAX_REQUESTS=${MAX_REQUESTS:-300000}
FILL_CONCURRENCY=${FILL_CONCURRENCY:-4}
RADICALE_FILL=${RADICALE_FILL:-bulk}       # bulk: one whole-collection PUT (see bench/dav-fill.mjs); put: one PUT per event
PROFILE=${PROFILE:-1}
PROFILE_SECONDS=${PROFILE_SECONDS:-10}
PROFILE_OPS=${PROFILE_OPS:-"query multiget mix"}   # one profiled server run each (query, query_data, multiget, get, sync, mix)
PROFILE_SKIP_MS=${PROFILE_SKIP_MS:-5000}   # the server's start, left out of the profile summaries
PEER_PASSWORD=${PEER_PASSWORD:-secret}                       # ../shared/bench/peers/common.sh
BW_PASSWORD=${BW_PASSWORD:-secret-benchmark-password}       # Bulwark refuses passwords under 10 characters
BW_HTTP=${BW_HTTP:-127.0.0.1:28180}
USER_ADDR=${USER_ADDR:-user1@example.test}
CALENDAR=${CALENDAR:-bench}
STATE=${STATE:-/var/tmp/bulwark-bench-dav}
case $STATE in /var/tmp/*) ;; *) echo "STATE must be under /var/tmp" >&2; exit 2;; esac
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench/results/dav-$STAMP
mkdir -p "$OUT" "$STATE"
export PATH=$ROOT/node_modules/.bin:$PATH    # Node 24 from this project
BENCH=$ROOT/bench
R_PORT=15232                                 # Radicale's port (common.sh)
R_PIDFILE=/var/tmp/bench-peers/radicale/radicale.pid
trap 'exit 143' TERM INT    # so that the EXIT trap (stopping the Bulwark server) runs on a timeout too
has_phase() { case " $PHASES " in *" $1 "*) return 0;; esac; return 1; }
log() { echo "[$(date -u +%T)] $*" | tee -a "$OUT/commands.txt"; }

# the quiet-machine wait and step(): bench/steps.sh
. "$(dirname "$0")/steps.sh"
rss_of() { awk '/VmRSS/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo null; }

{
  echo "run: dav-$STAMP"; date -u; uname -r; echo "nproc: $(nproc)"; free -h
  grep -m1 'model name' /proc/cpuinfo; df -h /var/tmp | tail -1; node --version
  echo "params: CLIENTS=$CLIENTS EVENTS=$EVENTS RECURRING_PCT=$RECURRING_PCT SEED=$SEED MONTH=$YEAR-$MONTH SECONDS_PER_OP=$SECONDS_PER_OP MIX_SECONDS=$MIX_SECONDS MIX=$MIX MAX_REQUESTS=$MAX_REQUESTS RADICALE_FILL=$RADICALE_FILL"
  echo "load average: $(cat /proc/loadavg)"
  echo "bulwark commit: $(git -C "$ROOT" rev-parse HEAD)"
  echo "working tree (not measured: the server runs from a snapshot of the commit):"; git -C "$ROOT" status --short | sed 's/^/  /'
} > "$OUT/machine.txt" 2>&1

# the same options for both servers: calendar, generator, load shape
GEN=(--user "$USER_ADDR" --calendar "$CALENDAR" --events "$EVENTS" --seed "$SEED" --year "$YEAR" --recurring-pct "$RECURRING_PCT")
LOAD=(--month "$MONTH" --clients "$CLIENTS" --seconds "$SECONDS_PER_OP" --mix-seconds "$MIX_SECONDS" --mix "$MIX" --ops "$OPS" --max-requests "$MAX_REQUESTS")
LOAD_MAX=$(( SECONDS_PER_OP * 12 + MIX_SECONDS * 2 + 600 ))   # the load tool's own bound; the step's timeout is 120 s more

# ====================================================================== peers
if has_phase peers; then
  log "== peers: Radicale (CalDAV 127.0.0.1:$R_PORT) from $SHARED/peers"
  "$SHARED/peers/setup-radicale.sh" > "$OUT/peers-setup.log" 2>&1
  dpkg-query -W -f='${Package} ${Version}\n' radicale python3-vobject python3-passlib > "$OUT/radicale-version.txt" 2>/dev/null || true
  cp /var/tmp/bench-peers/radicale/etc/config "$OUT/radicale-config.txt"
  RPID=$(tr -dc 0-9 < "$R_PIDFILE")
  A=(--url "http://127.0.0.1:$R_PORT" --home-path '/{user}/' --password "$PEER_PASSWORD")
  step peers-fill 1800 node "$BENCH/dav-fill.mjs" "${A[@]}" "${GEN[@]}" --method "$RADICALE_FILL" --concurrency "$FILL_CONCURRENCY" \
    --max-seconds 1700 --label radicale --json "$OUT/peers-fill.json"
  echo "{\"after_fill_rss_mib\": $(rss_of "$RPID")}" > "$OUT/peers-rss-fill.json"
  step peers-load $(( LOAD_MAX + 120 )) node "$BENCH/dav-load.mjs" "${A[@]}" "${GEN[@]}" "${LOAD[@]}" --server-pid "$RPID" \
    --max-seconds "$LOAD_MAX" --label radicale --json "$OUT/peers-load.json"
  echo "{\"after_load_rss_mib\": $(rss_of "$RPID")}" > "$OUT/peers-rss-load.json"
  du -sh /var/tmp/bench-peers/radicale/collections > "$OUT/peers-disk.txt" 2>/dev/null || true
  "$SHARED/peers/stop-radicale.sh" >> "$OUT/peers-setup.log" 2>&1 || true
fi

# ====================================================================== bulwark
if has_phase bulwark; then
  REV=$(git -C "$ROOT" rev-parse --short HEAD)
  SRC=$STATE/src-$REV
  # The server runs from a snapshot of the commit (git archive), not from the working tree,
  # which another engineer changes meanwhile: one run measures one known version.
  rm -rf "$SRC"; mkdir -p "$SRC"; git -C "$ROOT" archive HEAD | tar -x -C "$SRC"; ln -s "$ROOT/node_modules" "$SRC/node_modules"
  DATA=$STATE/bulwark-data
  rm -rf "$DATA"; mkdir -p "$DATA"
  log "== bulwark $REV from $SRC, data $DATA (HTTP $BW_HTTP)"
  (cd "$SRC" && node bin/bulwark.js --data "$DATA" init --domain example.test > /dev/null)
  printf '%s\n' "$BW_PASSWORD" | (cd "$SRC" && node bin/bulwark.js --data "$DATA" account add "$USER_ADDR" --password-stdin --quota 0 > /dev/null)
  export BULWARK_LISTEN_HTTP=$BW_HTTP \
    BULWARK_LISTEN_IMAP= BULWARK_LISTEN_SMTP= BULWARK_LISTEN_IMAPS= BULWARK_LISTEN_POP3= BULWARK_LISTEN_POP3S= BULWARK_LISTEN_SUBMISSION= BULWARK_LISTEN_SUBMISSIONS= BULWARK_LISTEN_HTTPS= \
    BULWARK_AUTH_REQUIRE_TLS=false BULWARK_DNS_SERVERS=127.0.0.1:1 BULWARK_LOG_LEVEL=warn
  env | grep '^BULWARK_' | sort > "$OUT/bulwark-env.txt"
  SERVER=   # start_bulwark / stop_bulwark: bench/steps.sh
  trap 'stop_bulwark' EXIT
  B=(--url "http://$BW_HTTP" --home-path '/dav/calendars/{user}/' --password "$BW_PASSWORD")
  start_bulwark bulwark
  sleep 5; echo "{\"empty_store_rss_mib\": $(rss_of "$SERVER")}" > "$OUT/bulwark-rss-empty.json"
  step bulwark-fill 1800 node "$BENCH/dav-fill.mjs" "${B[@]}" "${GEN[@]}" --method put --concurrency "$FILL_CONCURRENCY" \
    --max-seconds 1700 --label bulwark --json "$OUT/bulwark-fill.json"
  echo "{\"after_fill_rss_mib\": $(rss_of "$SERVER")}" > "$OUT/bulwark-rss-fill.json"
  step bulwark-load $(( LOAD_MAX + 120 )) node "$BENCH/dav-load.mjs" "${B[@]}" "${GEN[@]}" "${LOAD[@]}" --server-pid "$SERVER" \
    --max-seconds "$LOAD_MAX" --label bulwark --json "$OUT/bulwark-load.json"
  echo "{\"after_load_rss_mib\": $(rss_of "$SERVER")}" > "$OUT/bulwark-rss-load.json"
  sleep 30; echo "{\"after_load_30s_rss_mib\": $(rss_of "$SERVER")}" > "$OUT/bulwark-rss-load-30s.json"
  stop_bulwark

  if [ "$PROFILE" = 1 ]; then
    # Short repeats under --cpu-prof (and per-statement SQLite timing), on the same store, one
    # server run per operation profiled, so that each profile shows one kind of request.
    for what in $PROFILE_OPS; do
      mkdir -p "$OUT/profile-$what"
      if [ "$what" = mix ]; then P_OPS=(--ops "" --mix-seconds "$PROFILE_SECONDS"); else P_OPS=(--ops "$what" --mix-seconds 0); fi
      SQLITE_TIMING_OUT=$OUT/profile-$what/sqlite-statements.json SQLITE_TIMING_SKIP_MS=$PROFILE_SKIP_MS start_bulwark "profile-$what" \
        --cpu-prof --cpu-prof-dir="$OUT/profile-$what" --import "$BENCH/sqlite-timing.mjs"
      sleep $(( PROFILE_SKIP_MS / 1000 ))
      step "profile-$what" 600 node "$BENCH/dav-load.mjs" "${B[@]}" "${GEN[@]}" --month "$MONTH" --clients "$CLIENTS" --seconds "$PROFILE_SECONDS" \
        "${P_OPS[@]}" --mix "$MIX" --max-requests "$MAX_REQUESTS" --reused --server-pid "$SERVER" \
        --max-seconds 400 --label "bulwark-profile-$what" --json "$OUT/profile-$what/load.json"
      stop_bulwark
      f=$(ls "$OUT/profile-$what"/*.cpuprofile 2>/dev/null | head -1)
      [ -n "$f" ] && node "$BENCH/cpuprofile-top.mjs" "$f" --top 20 --root "$SRC" --skip-ms "$PROFILE_SKIP_MS" > "$OUT/profile-$what/top.md" \
        && node "$BENCH/cpuprofile-top.mjs" "$f" --top 20 --root "$SRC" --skip-ms "$PROFILE_SKIP_MS" --json > "$OUT/profile-$what/top.json"
      gzip -f "$OUT/profile-$what"/*.cpuprofile 2>/dev/null || true
    done
  fi
  du -sh "$DATA" > "$OUT/bulwark-disk.txt"
  [ -n "${KEEP_DATA:-}" ] || rm -rf "$DATA"
  rm -rf "$SRC"
fi

echo "load average at the end: $(cat /proc/loadavg)" >> "$OUT/machine.txt"
if has_phase peers && has_phase bulwark && [ -z "${NO_RESULTS:-}" ]; then
  node "$BENCH/report-dav.mjs" "$OUT" >> "$ROOT/bench/RESULTS.md"
  log "figures appended to bench/RESULTS.md (raw results in $OUT)"
else
  node "$BENCH/report-dav.mjs" "$OUT" > "$OUT/report.md" || true
  log "report in $OUT/report.md; RESULTS.md not changed (one side only, or NO_RESULTS set)"
fi
