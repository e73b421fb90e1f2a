#!/usr/bin/env bash
# A local 3-node Apache Kafka cluster (KRaft), for the fault tests that lose a broker. No Docker: three JVMs
# from the same Maven jars as kafka.sh, each a combined broker+controller with its own ports and data dir.
#   deploy/local/kafka-cluster.sh start|stop|status|bootstrap|delete-data
#   deploy/local/kafka-cluster.sh kill-node N|start-node N     (SIGKILL one node / bring it back)
# Node N (1-based) listens on 127.0.0.1:$((KAFKA_CLUSTER_PORT + 2(N-1))) and its controller on the next port,
# so the default KAFKA_CLUSTER_PORT=9192 uses 9192-9197. Topics are made by `pipeline-topics` with
# KAFKA_TOPIC_REPLICATION_FACTOR=3 KAFKA_TOPIC_MIN_INSYNC_REPLICAS=2: with acks=all an acknowledged write
# is on two nodes at least, so losing any one node loses nothing and producing goes on.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${LOCAL_STATE:-$root/.local}"
cdir="$state/kafka-cluster"
host="${KAFKA_HOST:-127.0.0.1}"
base="${KAFKA_CLUSTER_PORT:-9192}"
nodes="${KAFKA_CLUSTER_NODES:-3}"
partitions="${KAFKA_NUM_PARTITIONS:-6}"
libs=""

log() { printf '[kafka-cluster] %s\n' "$*" >&2; }

port_of() { echo $((base + 2 * ($1 - 1))); }
controller_port_of() { echo $((base + 2 * ($1 - 1) + 1)); }
ndir() { echo "$cdir/node$1"; }
pid_of() { cat "$(ndir "$1")/kafka.pid" 2>/dev/null; }
running() { local pid; pid="$(pid_of "$1")" && [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }

bootstrap() {
  local n out=""
  for n in $(seq 1 "$nodes"); do out+="${out:+,}$host:$(port_of "$n")"; done
  echo "$out"
}

voters() {
  local n out=""
  for n in $(seq 1 "$nodes"); do out+="${out:+,}$n@$host:$(controller_port_of "$n")"; done
  echo "$out"
}

jars() { [[ -n "$libs" ]] || libs="$("$here/kafka.sh" jars)"; }

java_cmd() {
  # Small heaps: three brokers share a 2-core development machine.
  java -Xms128m -Xmx384m -XX:+UseG1GC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$cdir/log4j2.yaml" -cp "$libs/*" "$@"
}

write_config() {
  local n="$1" d; d="$(ndir "$n")"
  mkdir -p "$d/data" "$d/logs"
  cat >"$d/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://$host:$(port_of "$n"),CONTROLLER://$host:$(controller_port_of "$n")
advertised.listeners=PLAINTEXT://$host:$(port_of "$n"),CONTROLLER://$host:$(controller_port_of "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$d/data
num.partitions=$partitions
default.replication.factor=$nodes
min.insync.replicas=$((nodes > 1 ? 2 : 1))
offsets.topic.replication.factor=$nodes
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$nodes
transaction.state.log.min.isr=$((nodes > 1 ? 2 : 1))
share.coordinator.state.topic.replication.factor=$nodes
share.coordinator.state.topic.min.isr=$((nodes > 1 ? 2 : 1))
# A replica that missed writes never becomes leader: that would silently drop acknowledged messages.
unclean.leader.election.enable=false
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
}

write_log_config() {
  mkdir -p "$cdir"
  cat >"$cdir/log4j2.yaml" <<'YAML'
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

format_storage() {
  local cluster_id n
  for n in $(seq 1 "$nodes"); do [[ -f "$(ndir "$n")/data/meta.properties" ]] && return; done
  cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
  log "formatting $nodes nodes (cluster $cluster_id)"
  for n in $(seq 1 "$nodes"); do
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$(ndir "$n")/server.properties" \
      >"$(ndir "$n")/logs/format.log" 2>&1 \
      || { log "storage format of node $n failed:"; cat "$(ndir "$n")/logs/format.log" >&2; exit 1; }
  done
}

port_free() {
  local n="$1" p
  for p in "$(port_of "$n")" "$(controller_port_of "$n")"; do
    if (exec 3<>"/dev/tcp/$host/$p") 2>/dev/null; then
      log "port $p (node $n) is taken by another process; set KAFKA_CLUSTER_PORT"; exit 1
    fi
  done
}

spawn() {
  local n="$1" d; d="$(ndir "$n")"
  if running "$n"; then return; fi
  port_free "$n"
  nohup java -Xms128m -Xmx384m -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$cdir/log4j2.yaml" -cp "$libs/*" \
    kafka.Kafka "$d/server.properties" >>"$d/logs/server.log" 2>&1 </dev/null &
  echo $! >"$d/kafka.pid"
  log "node $n starting on $host:$(port_of "$n") (pid $!)"
}

ready() {
  # A real metadata request to that node, not a port probe.
  java_cmd org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$host:$(port_of "$1")" >/dev/null 2>&1
}

wait_ready() {
  local n="$1" deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-120}))
  while ((SECONDS < deadline)); do
    if ! running "$n"; then
      log "node $n exited during start; last log lines:"; tail -n 30 "$(ndir "$n")/logs/server.log" >&2; exit 1
    fi
    if ready "$n"; then log "node $n ready on $host:$(port_of "$n")"; return 0; fi
    sleep 1
  done
  log "node $n not ready after ${KAFKA_START_TIMEOUT:-120}s; see $(ndir "$n")/logs/server.log"; exit 1
}

start() {
  command -v java >/dev/null || { log "a JDK 17+ is required (java not found)"; exit 1; }
  jars
  write_log_config
  local n
  # Before anything is written: a taken port is a setup mistake, said at once.
  for n in $(seq 1 "$nodes"); do running "$n" || port_free "$n"; done
  for n in $(seq 1 "$nodes"); do write_config "$n"; done
  format_storage
  # All at once: a controller quorum of 3 elects a leader only when 2 voters are up.
  for n in $(seq 1 "$nodes"); do spawn "$n"; done
  for n in $(seq 1 "$nodes"); do wait_ready "$n"; done
  log "cluster ready: $(bootstrap)"
}

start_node() {
  jars
  spawn "$1"
  wait_ready "$1"
}

kill_node() {
  local pid
  pid="$(pid_of "$1")" || { log "node $1 has no pid file"; exit 1; }
  running "$1" || { log "node $1 is not running"; exit 1; }
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  log "node $1 killed (pid $pid)"
}

stop() {
  local n pid
  for n in $(seq 1 "$nodes"); do running "$n" && kill "$(pid_of "$n")"; done
  for n in $(seq 1 "$nodes"); do
    pid="$(pid_of "$n")" || continue
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { log "node $n did not stop in 30 s; killing"; kill -9 "$pid" 2>/dev/null || true; }
    rm -f "$(ndir "$n")/kafka.pid"
  done
  log "stopped"
}

status() {
  local n down=0
  for n in $(seq 1 "$nodes"); do
    if running "$n"; then echo "node $n running (pid $(pid_of "$n")) on $host:$(port_of "$n")"
    else echo "node $n stopped"; down=1; fi
  done
  return "$down"
}

node_arg() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= nodes)) || { log "node must be 1..$nodes, got '${1:-}'"; exit 2; }
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  bootstrap) bootstrap ;;
  kill-node) node_arg "${2:-}"; kill_node "$2" ;;
  start-node) node_arg "${2:-}"; start_node "$2" ;;
  delete-data) stop; rm -rf "$cdir"; log "data deleted" ;;
  *) echo "usage: $0 start|stop|status|bootstrap|delete-data|kill-node N|start-node N" >&2; exit 2 ;;
esac
