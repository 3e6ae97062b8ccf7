#!/usr/bin/env bash
# IMAP benchmark, side by side in one run (issue 4 point 7): Dovecot as ../shared/bench sets it
# up (Postfix in front for SMTP) against Bulwark on its embedded defaults (SQLite, files).
# Same tools, same messages, same users:
#   - C concurrent clients on a 10,000-message INBOX doing SELECT, FETCH 1:* (UID FLAGS), UID FETCH
#     of bodies, UID STORE flags, SEARCH SUBJECT and SEARCH TEXT: ops/s and p50/p99 (bench/imap-load.mjs)
#   - IDLE wake-up after a delivery: C IDLE clients, D deliveries, 250 -> EXISTS (Bulwark via its
#     SMTP port; Dovecot via Postfix SMTP and via its LMTP)
#   - full-text search on a 100,000-message mailbox: the first query (Bulwark: catch-up of pending
#     indexing) apart from N further queries of varying word frequency (bench/imap-fts.mjs);
#     Dovecot stock (no FTS plugin, as the shared setup has it) and (phase xapian, last) Dovecot
#     with fts-xapian in a copy of its configuration
#   - resident memory of 10,000 concurrent IDLE connections (bench/imap-idle-memory.mjs); Dovecot in
#     a copy of its configuration with its process limits raised
#   - a CPU profile of Bulwark (--cpu-prof) over a short repeat of the load and of the searches
# Raw JSON and logs under bench/results/imap-<time>/, the figures and ratios appended to bench/RESULTS.md.
#
#   bash bench/imap.sh                  # as root (the peers need apt and their own users); about 1.5 h
#   CLIENTS=10 ROUNDS=3 FTS_MSGS=100000 IDLE_CONNS=10000 bash bench/imap.sh
#   PHASES="bulwark" bash bench/imap.sh # one side only (no RESULTS.md section then)
#   NO_RESULTS=1 MSGS=300 FTS_MSGS=2000 IDLE_CONNS=500 ... bash bench/imap.sh   # a smoke run: report in the results dir only
#
# Every connection goes to 127.0.0.1; every step is bounded by count and by `timeout`. Each step
# first waits (bounded) until the machine is quiet, like ../shared/bench/run-suite.sh, and samples
# the busiest processes while it runs (<step>.top.txt), so foreign load shows in the report.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$(cd "$ROOT/../shared/bench" && pwd)}
export SHARED_BENCH=$SHARED
PHASES=${PHASES:-"peers bulwark xapian"}
CLIENTS=${CLIENTS:-10}
ROUNDS=${ROUNDS:-3}
MSGS=${MSGS:-10000}
FTS_MSGS=${FTS_MSGS:-100000}
FTS_USER=${FTS_USER:-user50@example.test}
FTS_MAILBOX=${FTS_MAILBOX:-FTS}
FTS_QUERIES=${FTS_QUERIES:-50}
FTS_PEER_SECONDS=${FTS_PEER_SECONDS:-900}     # stock Dovecot scans every message per query: cap its run
IDLE_CLIENTS=${IDLE_CLIENTS:-50}
IDLE_DELIVERIES=${IDLE_DELIVERIES:-20}
IDLE_CONNS=${IDLE_CONNS:-10000}
USERS=${USERS:-50}
XAPIAN_INDEX_SECONDS=${XAPIAN_INDEX_SECONDS:-3600}
PROFILE=${PROFILE:-1}
PROFILE_SKIP_MS=${PROFILE_SKIP_MS:-5000}   # the server's start, left out of the profile summaries
PEER_PASSWORD=${PEER_PASSWORD:-secret}                       # ../shared/bench/peers/common.sh
BW_PASSWORD=${BW_PASSWORD:-secret-benchmark-password}       # Bulwark refuses passwords under 10 characters
BW_IMAP=${BW_IMAP:-127.0.0.1:21143}
BW_SMTP=${BW_SMTP:-127.0.0.1:22525}
BW_HTTP=${BW_HTTP:-127.0.0.1:28080}
STATE=${STATE:-/var/tmp/bulwark-bench-imap}
case $STATE in /var/tmp/*) ;; *) echo "STATE must be under /var/tmp" >&2; exit 2;; esac
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench/results/imap-$STAMP
mkdir -p "$OUT" "$STATE"
export PATH=$ROOT/node_modules/.bin:$PATH    # Node 24 and imapflow from this project
BENCH=$ROOT/bench
D_IMAP=10143 D_LMTP=10024 P_SMTP=10025         # the peers' ports (common.sh)
trap 'exit 143' TERM INT    # so that the EXIT trap (stopping the Bulwark server) runs on a timeout too
has_phase() { case " $PHASES " in *" $1 "*) return 0;; esac; return 1; }
log() { echo "[$(date -u +%T)] $*" | tee -a "$OUT/commands.txt"; }

# the quiet-machine wait and step(): bench/steps.sh
. "$(dirname "$0")/steps.sh"

{
  echo "run: imap-$STAMP"; date -u; uname -r; echo "nproc: $(nproc)"; free -h
  grep -m1 'model name' /proc/cpuinfo; df -h /var/tmp | tail -1; node --version
  echo "params: CLIENTS=$CLIENTS ROUNDS=$ROUNDS MSGS=$MSGS FTS_MSGS=$FTS_MSGS FTS_QUERIES=$FTS_QUERIES IDLE_CLIENTS=$IDLE_CLIENTS IDLE_DELIVERIES=$IDLE_DELIVERIES IDLE_CONNS=$IDLE_CONNS"
  echo "load average: $(cat /proc/loadavg)"
  echo "bulwark commit: $(git -C "$ROOT" rev-parse HEAD)"
  echo "working tree (not measured: the server runs from a snapshot of the commit):"; git -C "$ROOT" status --short | sed 's/^/  /'
} > "$OUT/machine.txt" 2>&1

# ====================================================================== peers
dovecot_master_pid() { tr -dc 0-9 < /var/tmp/bench-peers/dovecot/run/master.pid 2>/dev/null || true; }
stop_dovecot_conf() { # stop_dovecot_conf CONF: stop the instance started with this config, wait for its master to exit
  local pid; pid=$(dovecot_master_pid)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  doveadm -c "$1" stop || kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "Dovecot master $pid did not exit" >&2; return 1
}
wait_port() { for _ in $(seq 1 200); do ss -Hltn "sport = :$1" | grep -q "127.0.0.1:$1" && return 0; sleep 0.1; done; return 1; }
DOVECOT_CONF=/var/tmp/bench-peers/dovecot/etc/dovecot.conf

if has_phase peers; then
  log "== peers: Dovecot (IMAP $D_IMAP, LMTP $D_LMTP), Postfix (SMTP $P_SMTP) from $SHARED/peers"
  "$SHARED/peers/stop-all.sh" > "$OUT/peers-setup.log" 2>&1 || true
  "$SHARED/peers/reset-data.sh" >> "$OUT/peers-setup.log" 2>&1
  "$SHARED/peers/setup-dovecot.sh" >> "$OUT/peers-setup.log" 2>&1
  "$SHARED/peers/setup-postfix.sh" >> "$OUT/peers-setup.log" 2>&1
  dovecot --version > "$OUT/dovecot-version.txt"; postconf -d mail_version >> "$OUT/dovecot-version.txt" 2>/dev/null || true
  A=(--host 127.0.0.1 --port $D_IMAP --password "$PEER_PASSWORD")
  step peers-fill-inbox 1500 node "$BENCH/imap-fill.mjs" "${A[@]}" --user user1@example.test --count "$MSGS" --concurrency 4 \
    --label dovecot --json "$OUT/peers-fill-inbox.json"
  # The large mailbox as maildir files (bench/maildir-fill.mjs, the same messages): APPEND into a
  # Dovecot maildir slows down as the folder grows (each one rewrites dovecot-uidlist: 150/s at the
  # start, 22/s at 25,000 messages here), hours for 100,000. Dovecot indexes the files on first access.
  node "$BENCH/imap-fill.mjs" "${A[@]}" --user "$FTS_USER" --mailbox "$FTS_MAILBOX" --create-only >> "$OUT/commands.txt"
  FTS_DIR=/var/tmp/bench-peers/dovecot/mail/${FTS_USER#*@}/${FTS_USER%@*}/Maildir/.$FTS_MAILBOX
  step peers-fill-fts 1800 node "$BENCH/maildir-fill.mjs" --dir "$FTS_DIR" --user "$FTS_USER" --count "$FTS_MSGS" --profile text --rare-words 20 \
    --uid "$(id -u benchvmail)" --gid "$(id -g benchvmail)" --freq-out "$OUT/fts-freq.json" --label dovecot --json "$OUT/peers-fill-fts.json"
  NOQUIET=1 step peers-fts-first 600 node "$BENCH/imap-fts.mjs" "${A[@]}" --user "$FTS_USER" --mailbox "$FTS_MAILBOX" \
    --freq "$OUT/fts-freq.json" --only-first --label dovecot --json "$OUT/peers-fts-first.json"
  step peers-load 1500 node "$BENCH/imap-load.mjs" "${A[@]}" --user user1@example.test --clients "$CLIENTS" --rounds "$ROUNDS" \
    --min-messages "$MSGS" --max-seconds 1200 --label dovecot --json "$OUT/peers-load.json"
  step peers-load-notext 1500 node "$BENCH/imap-load.mjs" "${A[@]}" --user user1@example.test --clients "$CLIENTS" --rounds "$ROUNDS" \
    --text-searches 0 --min-messages "$MSGS" --max-seconds 1200 --label dovecot --json "$OUT/peers-load-notext.json"
  step peers-idle-smtp 600 node "$BENCH/imap-load.mjs" "${A[@]}" --user user1@example.test --rounds 0 --idle-clients "$IDLE_CLIENTS" \
    --idle-deliveries "$IDLE_DELIVERIES" --idle-via smtp --smtp-port $P_SMTP --max-seconds 500 --label "postfix+dovecot" --json "$OUT/peers-idle-smtp.json"
  step peers-idle-lmtp 600 node "$BENCH/imap-load.mjs" "${A[@]}" --user user1@example.test --rounds 0 --idle-clients "$IDLE_CLIENTS" \
    --idle-deliveries "$IDLE_DELIVERIES" --idle-via lmtp --lmtp-port $D_LMTP --max-seconds 500 --label "dovecot-lmtp" --json "$OUT/peers-idle-lmtp.json"
  step peers-fts 1200 node "$BENCH/imap-fts.mjs" "${A[@]}" --user "$FTS_USER" --mailbox "$FTS_MAILBOX" --freq "$OUT/fts-freq.json" \
    --queries "$FTS_QUERIES" --max-seconds "$FTS_PEER_SECONDS" --label dovecot --json "$OUT/peers-fts.json"
  "$SHARED/peers/stop-postfix.sh" >> "$OUT/peers-setup.log" 2>&1 || true
  stop_dovecot_conf "$DOVECOT_CONF"

  # 10,000 IDLE sessions: Dovecot runs a process per session; its stock limits (service imap
  # process_limit 1024, default_client_limit 1000) stop far below. A copy of the shared
  # configuration (the same one, included) with only those limits raised.
  cat > "$STATE/dovecot-idle.conf" <<EOF
# bench/imap.sh: the shared bench configuration with the limits raised for $IDLE_CONNS IDLE sessions
!include $DOVECOT_CONF
default_client_limit = $((IDLE_CONNS * 2 + 5000))
service imap {
  process_limit = $((IDLE_CONNS + 500))
}
protocol imap {
  mail_max_userip_connections = $((IDLE_CONNS / USERS + 100))
}
EOF
  cp "$STATE/dovecot-idle.conf" "$OUT/dovecot-idle.conf"
  dovecot -c "$STATE/dovecot-idle.conf" >> "$OUT/peers-setup.log" 2>&1 < /dev/null
  wait_port $D_IMAP
  step peers-idle-memory 1200 node "$BENCH/imap-idle-memory.mjs" --port $D_IMAP --password "$PEER_PASSWORD" --connections "$IDLE_CONNS" \
    --users "1-$USERS" --proc-match dovecot --parallel 50 --hold-ms 5000 --json "$OUT/peers-idle-memory.json"
  grep -E "Fatal|Panic|limit.*reached" /var/tmp/bench-peers/dovecot/log/dovecot.log | tail -5 > "$OUT/peers-idle-memory.dovecot-errors.txt" || true
  stop_dovecot_conf "$STATE/dovecot-idle.conf"

  "$SHARED/peers/stop-all.sh" >> "$OUT/peers-setup.log" 2>&1 || true
  du -sh /var/tmp/bench-peers/dovecot/mail/*/* > "$OUT/peers-disk.txt" 2>/dev/null || true
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
  log "== bulwark $REV from $SRC, data $DATA (IMAP $BW_IMAP, SMTP $BW_SMTP)"
  (cd "$SRC" && node bin/bulwark.js --data "$DATA" init --domain example.test > /dev/null)
  for i in $(seq 1 "$USERS"); do
    printf '%s\n' "$BW_PASSWORD" | (cd "$SRC" && node bin/bulwark.js --data "$DATA" account add "user$i@example.test" --password-stdin --quota 0 > /dev/null)
  done
  export BULWARK_LISTEN_IMAP=$BW_IMAP BULWARK_LISTEN_SMTP=$BW_SMTP BULWARK_LISTEN_HTTP=$BW_HTTP \
    BULWARK_LISTEN_IMAPS= BULWARK_LISTEN_POP3= BULWARK_LISTEN_POP3S= BULWARK_LISTEN_SUBMISSION= BULWARK_LISTEN_SUBMISSIONS= BULWARK_LISTEN_HTTPS= \
    BULWARK_AUTH_REQUIRE_TLS=false BULWARK_DNS_SERVERS=127.0.0.1:1 BULWARK_LOG_LEVEL=warn \
    BULWARK_IMAP_MAX_CONNECTIONS=$((IDLE_CONNS + 5000)) BULWARK_IMAP_MAX_CONNECTIONS_PER_IP=$((IDLE_CONNS + 5000)) \
    BULWARK_IMAP_MAX_CONNECTIONS_PER_ACCOUNT=$((IDLE_CONNS / USERS + 200)) BULWARK_SMTP_MAX_CONNECTIONS_PER_IP=500
  env | grep '^BULWARK_' | sort > "$OUT/bulwark-env.txt"
  SERVER=   # start_bulwark / stop_bulwark: bench/steps.sh
  rss_mib() { awk '/VmRSS/ { printf "%.1f\n", $2 / 1024 }' "/proc/$SERVER/status"; }
  trap 'stop_bulwark' EXIT
  start_bulwark bulwark-empty; sleep 10
  echo "{\"empty_store_rss_mib\": $(rss_mib)}" > "$OUT/bulwark-rss-empty.json"; stop_bulwark
  start_bulwark bulwark
  B=(--host 127.0.0.1 --port "${BW_IMAP##*:}" --password "$BW_PASSWORD")
  step bulwark-fill-inbox 1500 node "$BENCH/imap-fill.mjs" "${B[@]}" --user user1@example.test --count "$MSGS" --concurrency 4 \
    --label bulwark --json "$OUT/bulwark-fill-inbox.json"
  step bulwark-fill-fts 3600 node "$BENCH/imap-fill.mjs" "${B[@]}" --user "$FTS_USER" --mailbox "$FTS_MAILBOX" --create \
    --profile text --rare-words 20 --count "$FTS_MSGS" --concurrency 8 --max-seconds 3300 --freq-out "$OUT/bulwark-fts-freq.json" \
    --label bulwark --json "$OUT/bulwark-fill-fts.json"
  if [ ! -f "$OUT/fts-freq.json" ]; then cp "$OUT/bulwark-fts-freq.json" "$OUT/fts-freq.json" 2>/dev/null || true
  elif ! cmp -s "$OUT/fts-freq.json" "$OUT/bulwark-fts-freq.json"; then log "WARNING: the two fills' word frequencies differ"; fi
  echo "{\"after_fill_rss_mib\": $(rss_mib)}" > "$OUT/bulwark-rss-fill.json"
  # Right after the fill: what the background indexer has not reached yet, then the first search
  # (it indexes the rest of its mailbox first), then how long the background indexer needs for
  # what is left in the other mailboxes.
  node "$BENCH/imap-index-pending.mjs" "$DATA/bulwark.db" --json "$OUT/bulwark-pending-before-first.json" | tee -a "$OUT/commands.txt"
  NOQUIET=1 step bulwark-fts-first 900 node "$BENCH/imap-fts.mjs" "${B[@]}" --user "$FTS_USER" --mailbox "$FTS_MAILBOX" \
    --freq "$OUT/fts-freq.json" --only-first --label bulwark --json "$OUT/bulwark-fts-first.json"
  node "$BENCH/imap-index-pending.mjs" "$DATA/bulwark.db" --wait 1800 --json "$OUT/bulwark-pending-after-first.json" | tee -a "$OUT/commands.txt"
  step bulwark-load 1500 node "$BENCH/imap-load.mjs" "${B[@]}" --user user1@example.test --clients "$CLIENTS" --rounds "$ROUNDS" \
    --min-messages "$MSGS" --max-seconds 1200 --label bulwark --json "$OUT/bulwark-load.json"
  step bulwark-load-notext 1500 node "$BENCH/imap-load.mjs" "${B[@]}" --user user1@example.test --clients "$CLIENTS" --rounds "$ROUNDS" \
    --text-searches 0 --min-messages "$MSGS" --max-seconds 1200 --label bulwark --json "$OUT/bulwark-load-notext.json"
  step bulwark-idle-smtp 600 node "$BENCH/imap-load.mjs" "${B[@]}" --user user1@example.test --rounds 0 --idle-clients "$IDLE_CLIENTS" \
    --idle-deliveries "$IDLE_DELIVERIES" --idle-via smtp --smtp-port "${BW_SMTP##*:}" --max-seconds 500 --label bulwark --json "$OUT/bulwark-idle-smtp.json"
  step bulwark-fts 1200 node "$BENCH/imap-fts.mjs" "${B[@]}" --user "$FTS_USER" --mailbox "$FTS_MAILBOX" --freq "$OUT/fts-freq.json" \
    --queries "$FTS_QUERIES" --max-seconds 900 --label bulwark --json "$OUT/bulwark-fts.json"
  echo "{\"after_load_rss_mib\": $(rss_mib)}" > "$OUT/bulwark-rss-load.json"
  stop_bulwark
  # the resident memory of a freshly started server on this store (before the IDLE sessions):
  # right after start and after 60 s (start-up work: the integrity check, blob collection, the
  # indexer's pass over what is not indexed)
  start_bulwark bulwark-fresh
  r0=$(rss_mib); sleep 60
  echo "{\"fresh_start_rss_mib\": $r0, \"fresh_after_60s_rss_mib\": $(rss_mib)}" > "$OUT/bulwark-rss-fresh.json"
  stop_bulwark

  # 10,000 IDLE sessions on a freshly started server (the RSS of the one server process).
  start_bulwark bulwark-idle
  step bulwark-idle-memory 900 node "$BENCH/imap-idle-memory.mjs" --port "${BW_IMAP##*:}" --pid "$SERVER" --password "$BW_PASSWORD" \
    --connections "$IDLE_CONNS" --users "1-$USERS" --parallel 100 --hold-ms 5000 --json "$OUT/bulwark-idle-memory.json"
  stop_bulwark

  if [ "$PROFILE" = 1 ]; then
    # Short repeats under --cpu-prof (and per-statement SQLite timing), one server run each.
    for what in load fts; do
      mkdir -p "$OUT/profile-$what"
      SQLITE_TIMING_OUT=$OUT/profile-$what/sqlite-statements.json SQLITE_TIMING_SKIP_MS=$PROFILE_SKIP_MS start_bulwark "profile-$what" \
        --cpu-prof --cpu-prof-dir="$OUT/profile-$what" --import "$BENCH/sqlite-timing.mjs"
      if [ $what = load ]; then
        step profile-load 900 node "$BENCH/imap-load.mjs" "${B[@]}" --user user1@example.test --clients "$CLIENTS" --rounds 1 \
          --min-messages "$MSGS" --max-seconds 600 --label bulwark-profile --json "$OUT/profile-load/load.json"
      else
        step profile-fts 900 node "$BENCH/imap-fts.mjs" "${B[@]}" --user "$FTS_USER" --mailbox "$FTS_MAILBOX" --freq "$OUT/fts-freq.json" \
          --queries 18 --max-seconds 600 --label bulwark-profile --json "$OUT/profile-fts/fts.json"
      fi
      stop_bulwark
      f=$(ls "$OUT/profile-$what"/*.cpuprofile 2>/dev/null | head -1)
      [ -n "$f" ] && node "$BENCH/cpuprofile-top.mjs" "$f" --top 20 --root "$SRC" --skip-ms "$PROFILE_SKIP_MS" > "$OUT/profile-$what/top.md" \
        && node "$BENCH/cpuprofile-top.mjs" "$f" --top 20 --root "$SRC" --skip-ms "$PROFILE_SKIP_MS" --json > "$OUT/profile-$what/top.json"
      gzip -f "$OUT/profile-$what"/*.cpuprofile 2>/dev/null || true
    done
  fi
  node -e '
    const { DatabaseSync } = require("node:sqlite"); const db = new DatabaseSync(process.argv[1], { readOnly: true });
    console.log(JSON.stringify({ messages: db.prepare("select count(*) n from messages").get().n,
      unindexed: db.prepare("select count(*) n from messages where text_indexed = 0").get().n }))' "$DATA/bulwark.db" > "$OUT/bulwark-store.json"
  du -sh "$DATA" > "$OUT/bulwark-disk.txt"
  [ -n "${KEEP_DATA:-}" ] || rm -rf "$DATA"
  rm -rf "$SRC"
fi

if has_phase xapian; then
  # Dovecot with a full-text index (fts-xapian, Debian's package) on the mail the peers phase
  # stored: last, because building its index takes long (CPU-bound, about 30-55 messages/s here).
  A=(--host 127.0.0.1 --port $D_IMAP --password "$PEER_PASSWORD")
  "$SHARED/peers/stop-all.sh" >> "$OUT/peers-setup.log" 2>&1 || true
  if ! dpkg-query -W -f='${Status}' dovecot-fts-xapian 2>/dev/null | grep -q 'install ok installed'; then
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\n# temporary, from bench/imap.sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d; made_policy=1; fi
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends dovecot-fts-xapian \
      >> "$OUT/peers-setup.log" 2>&1 || echo "dovecot-fts-xapian install failed" | tee -a "$OUT/commands.txt"
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  fi
  dpkg-query -W -f='${Package} ${Version}\n' dovecot-fts-xapian >> "$OUT/dovecot-version.txt" 2>/dev/null || true
  cat > "$STATE/dovecot-xapian.conf" <<EOF
# bench/imap.sh: the shared bench configuration plus a full-text index (fts-xapian)
!include $DOVECOT_CONF
mail_plugins = \$mail_plugins fts fts_xapian
plugin {
  fts = xapian
  fts_xapian = partial=3 full=20 verbose=0
  fts_autoindex = yes
  fts_enforced = yes
}
service indexer-worker {
  vsz_limit = 2G
}
EOF
  cp "$STATE/dovecot-xapian.conf" "$OUT/dovecot-xapian.conf"
  if dovecot -c "$STATE/dovecot-xapian.conf" >> "$OUT/peers-setup.log" 2>&1 < /dev/null && wait_port $D_IMAP; then
    step xapian-index "$XAPIAN_INDEX_SECONDS" doveadm -c "$STATE/dovecot-xapian.conf" index -u "$FTS_USER" "$FTS_MAILBOX"
    step xapian-fts 1200 node "$BENCH/imap-fts.mjs" "${A[@]}" --user "$FTS_USER" --mailbox "$FTS_MAILBOX" --freq "$OUT/fts-freq.json" \
      --queries "$FTS_QUERIES" --max-seconds "$FTS_PEER_SECONDS" --label dovecot-xapian --json "$OUT/xapian-fts.json"
    stop_dovecot_conf "$STATE/dovecot-xapian.conf"
  fi
fi

echo "load average at the end: $(cat /proc/loadavg)" >> "$OUT/machine.txt"
if has_phase peers && has_phase bulwark && [ -z "${NO_RESULTS:-}" ]; then
  node "$BENCH/report-imap.mjs" "$OUT" >> "$ROOT/bench/RESULTS.md"
  log "figures appended to bench/RESULTS.md (raw results in $OUT)"
else
  node "$BENCH/report-imap.mjs" "$OUT" > "$OUT/report.md" || true
  log "report in $OUT/report.md; RESULTS.md not changed (one side only, or NO_RESULTS set)"
fi
