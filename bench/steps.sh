# Shared by bench/imap.sh and bench/dav.sh (sourced after OUT is set): a quiet-machine wait in
# the manner of ../shared/bench/run-suite.sh, and step(), which runs one bounded, logged,
# sampled measurement step into $OUT.
# ---------- quiet machine (the idea of run-suite.sh's wait_quiet) ----------
busy_cores() {
  local a b
  a=($(head -1 /proc/stat)); sleep "${1:-2}"; b=($(head -1 /proc/stat))
  local idle=$(( (b[4]+b[5]) - (a[4]+a[5]) )) tot=0 i
  for i in 1 2 3 4 5 6 7 8; do tot=$(( tot + b[i] - a[i] )); done
  awk -v i="$idle" -v t="$tot" -v n="$(nproc)" 'BEGIN { if (t <= 0) print 0; else printf "%.2f\n", (1 - i / t) * n }'
}
QUIET_CORES=${QUIET_CORES:-0.45}
QUIET_WAIT=${QUIET_WAIT:-300}
wait_quiet() {
  local start=$SECONDS b
  while :; do
    b=$(busy_cores 2)
    if awk -v b="$b" -v q="$QUIET_CORES" 'BEGIN { exit !(b < q) }'; then
      echo "machine busy before start: $b cores (quiet, waited $((SECONDS - start)) s)"; return 0
    fi
    if (( SECONDS - start >= QUIET_WAIT )); then
      echo "WARNING: machine still busy ($b cores) after ${QUIET_WAIT}s; running anyway. Top processes:"
      ps -eo pcpu,pid,args --sort=-pcpu | head -6 | cut -c1-160
      return 0
    fi
    sleep 3
  done
}
# step NAME TIMEOUT_S cmd...   (NOQUIET=1 step ... skips the wait: measurements right after a fill)
step() {
  local name=$1 t=$2; shift 2
  echo "=== $name: $*" >> "$OUT/commands.txt"
  if [ -z "${NOQUIET:-}" ]; then wait_quiet | tee -a "$OUT/commands.txt"
  else echo "(no wait for a quiet machine: measured right after the previous step; busy $(busy_cores 1) cores)" | tee -a "$OUT/commands.txt"; fi
  ( while :; do date -u +%T; top -b -c -n2 -d1 -w 220 | awk '/^top -/{n++} n==2' | sed -n '8,15p'; sleep 8; done ) \
    > "$OUT/$name.top.txt" 2>&1 &
  local sampler=$! t0=$SECONDS ms0 rc
  ms0=$(date +%s%3N)
  set +e
  timeout --kill-after=10 "$t" "$@" 2>&1 | tee "$OUT/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s%3N) - ms0 ))" >> "$OUT/steps.tsv"
  echo "=== $name rc=$rc ($((SECONDS - t0)) s)" | tee -a "$OUT/commands.txt"
  return 0
}

# The Bulwark server of a bench run, from the snapshot $SRC on $DATA, ready when $BW_HTTP/readyz
# answers; its pid in $SERVER.
start_bulwark() { # start_bulwark LOGNAME [node flags...]: exactly the production command, plus any profiling flags
  local name=$1; shift
  (cd "$SRC" && exec node --max-semi-space-size=16 --heap-growing-percent=30 "$@" bin/bulwark.js --data "$DATA" serve) > "$OUT/$name.server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -fs "http://$BW_HTTP/readyz" > /dev/null && return 0; sleep 0.2; done
  echo "bulwark did not become ready; see $OUT/$name.server.log" >&2; return 1
}
stop_bulwark() {
  [ -n "$SERVER" ] || return 0
  kill -TERM "$SERVER" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$SERVER" 2>/dev/null && kill -KILL "$SERVER"
  wait "$SERVER" 2>/dev/null || true
  SERVER=
}

