#!/usr/bin/env bash
# The production topology on this machine's loopback, with real processes and no Docker:
# three nats-server processes in one cluster (JetStream, sync_interval: always, every stream on
# three replicas), redis-server with AOF, two `posgate serve` nodes, two `posgate issuer-sim`
# processes in one queue group, haproxy in front of the terminal and admin ports, and Prometheus
# scraping both nodes with the repo's alert rules (when prometheus is installed).
#
#   bash deploy/dev-cluster.sh            # prints the addresses; Ctrl-C stops everything
#
# Needs Go, redis-server, haproxy and openssl (Debian: apt-get install redis-server haproxy
# openssl prometheus). Environment: POSGATE_DEV_BASE (port base, default 20000),
# POSGATE_DEV_DIR (working directory, default a new one under /tmp), POSGATE_DEV_BIN (a
# directory holding prebuilt posgate and nats-server binaries; default: build them).
# Loopback only and without TLS: a development cluster, not a deployment (docs/deploy.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${POSGATE_DEV_BASE:-20000}
dir=${POSGATE_DEV_DIR:-$(mktemp -d /tmp/posgate-dev.XXXXXX)}
mkdir -p "$dir"
say() { echo "dev-cluster: $*"; }
need() { command -v "$1" >/dev/null 2>&1 || { say "$1 not found (apt-get install $2)" >&2; exit 2; }; }
need redis-server redis-server
need haproxy haproxy
need openssl openssl
need curl curl

bin=${POSGATE_DEV_BIN:-}
if [ -z "$bin" ]; then
  bin=$dir/bin
  say "building posgate and nats-server (go.mod's version) into $bin"
  (cd "$root" && go build -o "$bin/posgate" ./cmd/posgate && go build -o "$bin/nats-server" github.com/nats-io/nats-server/v2)
fi

pids=()
names=()
start() { # name command...
  local name=$1; shift
  "$@" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}
stopping=0
cleanup() {
  stopping=1
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  # Whatever has not stopped within 15 s (a process still starting against a dead cluster) is
  # killed.
  for _ in $(seq 1 150); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  say "stopped (logs and data in $dir)"
}
trap cleanup EXIT
trap 'exit 0' INT TERM
await() { # what url-or-port, up to 60 s
  local what=$1 check=$2
  for _ in $(seq 1 600); do
    if eval "$check" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  say "$what did not come up; its log is in $dir" >&2
  exit 1
}
port() { echo $((base + $1)); }
# startReady starts a process and waits until check passes; a process that exits first (a
# fresh JetStream cluster drops the first requests while its peers catch up) is started again,
# up to five times.
startReady() { # name check command...
  local name=$1 check=$2; shift 2
  for attempt in 1 2 3 4 5; do
    start "$name" "$@"
    local pid=${pids[-1]}
    for _ in $(seq 1 300); do
      if eval "$check" >/dev/null 2>&1; then return 0; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name did not come up; its log is in $dir" >&2
      exit 1
    fi
    unset 'pids[-1]' 'names[-1]'
    cp "$dir/$name.log" "$dir/$name.attempt$attempt.log"
    sleep 1
  done
  say "$name kept exiting at start; its log is in $dir" >&2
  exit 1
}

# NATS: three servers, one cluster.
routes="nats-route://127.0.0.1:$(port 6221), nats-route://127.0.0.1:$(port 6222), nats-route://127.0.0.1:$(port 6223)"
urls=""
for i in 1 2 3; do
  mkdir -p "$dir/nats-$i"
  cat >"$dir/nats-$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$(port $((4220 + i)))
http: 127.0.0.1:$(port $((8220 + i)))
jetstream {
  store_dir: "$dir/nats-$i"
  sync_interval: always
}
cluster {
  name: posgate-dev
  listen: 127.0.0.1:$(port $((6220 + i)))
  routes: [$routes]
}
CONF
  start "nats-$i" "$bin/nats-server" -c "$dir/nats-$i.conf"
  urls="${urls:+$urls,}nats://127.0.0.1:$(port $((4220 + i)))"
done
for i in 1 2 3; do
  # /healthz is 200 once JetStream is current with an elected meta leader.
  await "nats-server n$i (JetStream)" "curl -fs 'http://127.0.0.1:$(port $((8220 + i)))/healthz'"
done

# Redis with AOF, fsync on every write.
mkdir -p "$dir/redis"
start redis redis-server --port "$(port 6379)" --bind 127.0.0.1 --dir "$dir/redis" --appendonly yes --appendfsync always --save ""
await redis-server "redis-cli -p $(port 6379) ping"

# Secrets every node shares (development: fresh each start unless the directory has them).
sec=$dir/secrets
mkdir -p "$sec" && chmod 700 "$sec"
[ -f "$sec/lmk.hex" ] || openssl rand -hex 32 >"$sec/lmk.hex"
[ -f "$sec/token.key" ] || openssl rand -hex 32 >"$sec/token.key"
if [ ! -f "$sec/zpk.hex" ]; then z=$(openssl rand -hex 16); echo "$z" >"$sec/zpk.hex"; echo "* $z" >"$sec/zpk.txt"; fi
[ -f "$sec/admin.token" ] || openssl rand -hex 24 >"$sec/admin.token"
chmod 600 "$sec"/*
printf 'journal_replicas: 3\n' >"$dir/node.yaml"

for i in 1 2; do
  startReady "posgate-$i" "curl -fs http://127.0.0.1:$(port $((8080 + i)))/readyz" \
    "$bin/posgate" serve --config "$dir/node.yaml" --node-id "$i" \
    --listen "127.0.0.1:$(port $((8580 + i)))" --admin-listen "127.0.0.1:$(port $((8080 + i)))" \
    --data "$dir/posgate-$i" --nats "$urls" --redis "redis://127.0.0.1:$(port 6379)/0" \
    --lmk-file "$sec/lmk.hex" --token-key-file "$sec/token.key" --zpk-file "$sec/zpk.txt" \
    --admin-token-file "$sec/admin.token" --demo-terminals 0 --log-level warn
done
for i in 1 2; do
  startReady "issuer-sim-$i" "grep -q 'issuer-sim ready' '$dir/issuer-sim-$i.log'" \
    "$bin/posgate" issuer-sim --nats "$urls" --instance "sim-$i" --ledger-replicas 3 \
    --zpk-file "$sec/zpk.hex" --latency-min 5ms --latency-max 30ms --log-level info
done

cat >"$dir/haproxy.cfg" <<CONF
defaults
  mode tcp
  timeout connect 5s
  timeout client 10m
  timeout server 10m
frontend terminals
  bind 127.0.0.1:$(port 8583)
  default_backend gateways
backend gateways
  balance leastconn
  server posgate-1 127.0.0.1:$(port 8581) check
  server posgate-2 127.0.0.1:$(port 8582) check
frontend admin
  bind 127.0.0.1:$(port 8080)
  default_backend admins
backend admins
  balance roundrobin
  server posgate-1 127.0.0.1:$(port 8081) check
  server posgate-2 127.0.0.1:$(port 8082) check
CONF
start haproxy haproxy -db -f "$dir/haproxy.cfg"
await haproxy "curl -fs http://127.0.0.1:$(port 8080)/readyz"

prom="(not installed)"
if command -v prometheus >/dev/null 2>&1; then
  cat >"$dir/prometheus.yml" <<CONF
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: ["$root/deploy/prometheus/alerts.yml"]
scrape_configs:
  - job_name: posgate
    authorization: {credentials_file: "$sec/admin.token"}
    static_configs: [{targets: ["127.0.0.1:$(port 8081)", "127.0.0.1:$(port 8082)"]}]
CONF
  start prometheus prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prometheus" \
    --web.listen-address="127.0.0.1:$(port 9090)" --log.level=warn
  await prometheus "curl -fs http://127.0.0.1:$(port 9090)/-/ready"
  prom="http://127.0.0.1:$(port 9090)/"
fi

cat <<INFO
dev-cluster: ready
  terminals (haproxy)   127.0.0.1:$(port 8583)   (nodes 127.0.0.1:$(port 8581), 127.0.0.1:$(port 8582))
  admin API (haproxy)   http://127.0.0.1:$(port 8080)/   token $sec/admin.token
  NATS                  $urls
  Redis                 redis://127.0.0.1:$(port 6379)/0
  Prometheus            $prom
  logs and data         $dir
  load test:  $bin/posgate loadtest --target 127.0.0.1:$(port 8583) --admin http://127.0.0.1:$(port 8080) --token-file $sec/admin.token
Ctrl-C stops everything.
INFO

# Run until interrupted, or until a process dies (then stop the rest).
while sleep 1; do
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      [ "$stopping" = 1 ] && exit 0
      say "${names[$i]} exited; stopping the cluster (its log: $dir/${names[$i]}.log)" >&2
      exit 1
    fi
  done
done
