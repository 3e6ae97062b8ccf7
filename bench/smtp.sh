#!/usr/bin/env bash
# SMTP delivery benchmark, side by side in one run (issue 3, point 6): Postfix delivering
# through Dovecot LMTP (set up by ../shared/bench) against Bulwark on its embedded defaults.
# Same load tool, same users, same sizes; durable deliveries per second and p50/p99 latency.
# Writes the raw JSON under bench/results/ and the figures and ratios to bench/RESULTS.md.
#
#   bash bench/smtp.sh            # as root (the peers need apt and their own users)
#   COUNT=2000 CONC=8 bash bench/smtp.sh
#
# Every connection goes to 127.0.0.1; every step is bounded by count and by `timeout`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
COUNT=${COUNT:-2000}
CONC=${CONC:-8}
USERS=${USERS:-50}
OUT=$ROOT/bench/results/smtp-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
export PATH=$ROOT/node_modules/.bin:$PATH

[ -d "$SHARED/node_modules/imapflow" ] || (cd "$SHARED" && npm ci --no-audit --no-fund >/dev/null)

echo "== peers: Postfix -> Dovecot LMTP"
"$SHARED/peers/start-all.sh" > "$OUT/peers-setup.log" 2>&1
for size in 10240 204800; do
  timeout 900 node "$SHARED/load/smtp-load.mjs" --port 10025 --imap-port 10143 --count "$COUNT" --size "$size" \
    --concurrency "$CONC" --users "1-$USERS" --json "$OUT/peers-$size.json" --label "postfix+dovecot" | tee "$OUT/peers-$size.log"
done
"$SHARED/peers/stop-all.sh" > /dev/null 2>&1 || true

echo "== bulwark"
DATA=$(mktemp -d /var/tmp/bulwark-bench-XXXX)
node bin/bulwark.js --data "$DATA" init --domain example.test > /dev/null
for i in $(seq 1 "$USERS"); do
  printf 'secret-benchmark-password\n' | node bin/bulwark.js --data "$DATA" account add "user$i@example.test" --password-stdin --quota 0 > /dev/null
done
export BULWARK_LISTEN_SMTP=127.0.0.1:12525 BULWARK_LISTEN_SUBMISSION= BULWARK_LISTEN_SUBMISSIONS= BULWARK_LISTEN_HTTPS= \
  BULWARK_LISTEN_HTTP=127.0.0.1:18080 BULWARK_DNS_SERVERS=127.0.0.1:1 BULWARK_LOG_LEVEL=warn BULWARK_SMTP_MAX_CONNECTIONS_PER_IP=500
node bin/bulwark.js --data "$DATA" serve > "$OUT/bulwark-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 50); do curl -fs http://127.0.0.1:18080/readyz > /dev/null && break; sleep 0.2; done
for size in 10240 204800; do
  timeout 900 node "$SHARED/load/smtp-load.mjs" --port 12525 --no-verify --count "$COUNT" --size "$size" \
    --concurrency "$CONC" --users "1-$USERS" --json "$OUT/bulwark-$size.json" --label bulwark | tee "$OUT/bulwark-$size.log"
done
RSS=$(ps -o rss= -p $SERVER | tr -d ' ')
kill $SERVER; wait $SERVER 2>/dev/null || true
STORED=$(node bin/bulwark.js --data "$DATA" account list --json | node -e '
  let n=0; const a=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(a.length)')
MSGS=$(node -e '
  const { DatabaseSync } = require("node:sqlite"); const db = new DatabaseSync(process.argv[1], { readOnly: true });
  console.log(db.prepare("select count(*) n from messages").get().n)' "$DATA/bulwark.db")
echo "bulwark stored $MSGS messages for $STORED accounts; server RSS ${RSS} KiB"
node "$ROOT/bench/report-smtp.mjs" "$OUT" "$MSGS" "$((COUNT * 2))" "$RSS" >> "$ROOT/bench/RESULTS.md"
echo "figures appended to bench/RESULTS.md"
