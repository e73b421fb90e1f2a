#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) on the machine's JDK, without Docker.
#   deploy/local/kafka.sh start|stop|status|wait|jars
# The broker's jars come from Maven Central (deploy/local/kafka/pom.xml pins the version), fetched once
# into $LOCAL_STATE/kafka/libs. Data and logs live under $LOCAL_STATE (default .local/, git-ignored).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${LOCAL_STATE:-$root/.local}"
kdir="$state/kafka"
libs="$kdir/libs"
data="$kdir/data"
logs="$kdir/logs"
pidfile="$kdir/kafka.pid"
host="${KAFKA_HOST:-127.0.0.1}"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
partitions="${KAFKA_NUM_PARTITIONS:-6}"

log() { printf '[kafka] %s\n' "$*" >&2; }

fetch_jars() {
  local stamp="$libs/.pom.sha256" want
  want="$(sha256sum "$here/kafka/pom.xml" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch Kafka's jars: apt-get install maven"; exit 1; }
  log "fetching Apache Kafka jars from Maven Central (once; about a minute)…"
  rm -rf "$libs.tmp" && mkdir -p "$libs.tmp"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs.tmp" -DincludeScope=runtime \
    || { log "Maven could not fetch the jars (is Maven Central reachable?)"; exit 1; }
  rm -rf "$libs" && mv "$libs.tmp" "$libs" && echo "$want" >"$stamp"
  log "jars cached in $libs ($(ls "$libs" | wc -l) files)"
}

write_config() {
  mkdir -p "$data" "$logs"
  cat >"$kdir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$host:$controller_port
listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port
advertised.listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
num.partitions=$partitions
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
# Topics are made by `pipeline-topics` with their configured partitions; a typo or a missed step must fail
# loudly, not create a one-partition topic nobody planned.
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
  cat >"$kdir/log4j2.yaml" <<'YAML'
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
YAML
}

java_args() {
  # Heap kept small: this is a development broker on a 2-core machine.
  printf '%s\n' -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$kdir/log4j2.yaml" -cp "$libs/*"
}
java_cmd() { local args; mapfile -t args < <(java_args); java "${args[@]}" "$@"; }

format_storage() {
  if [[ -f "$data/meta.properties" ]]; then return; fi
  local cluster_id
  cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
  log "formatting storage (cluster $cluster_id)"
  java_cmd kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$kdir/server.properties" >"$logs/format.log" 2>&1 \
    || { log "storage format failed; see $logs/format.log"; cat "$logs/format.log" >&2; exit 1; }
}

running() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

ready() {
  # A real metadata request through the broker's own admin tool, not a port probe or a sleep.
  java_cmd org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$host:$port" >/dev/null 2>&1
}

wait_ready() {
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
  while ((SECONDS < deadline)); do
    if ! running; then log "broker exited during start; last log lines:"; tail -n 30 "$logs/server.log" >&2; exit 1; fi
    if ready; then log "ready on $host:$port"; return 0; fi
    sleep 1
  done
  log "not ready after ${KAFKA_START_TIMEOUT:-90}s; see $logs/server.log"; exit 1
}

start() {
  if running; then log "already running (pid $(cat "$pidfile"))"; wait_ready; return; fi
  command -v java >/dev/null || { log "a JDK 17+ is required (java not found)"; exit 1; }
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    log "port $port is taken by another process (another broker?); stop it or set KAFKA_PORT"; exit 1
  fi
  fetch_jars
  write_config
  format_storage
  log "starting broker on $host:$port"
  local args; mapfile -t args < <(java_args)
  nohup java "${args[@]}" kafka.Kafka "$kdir/server.properties" >>"$logs/server.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_ready
}

stop() {
  if ! running; then rm -f "$pidfile"; log "not running"; return; fi
  local pid; pid="$(cat "$pidfile")"
  log "stopping (pid $pid)"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; log "stopped"; return; }; sleep 0.5; done
  log "did not stop in 30 s; killing"; kill -9 "$pid" 2>/dev/null || true; rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  wait) wait_ready ;;
  jars) fetch_jars >&2; echo "$libs" ;;  # also used by kafka-cluster.sh: one download for both
  status) if running; then echo "running (pid $(cat "$pidfile"))"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status|wait|jars" >&2; exit 2 ;;
esac
