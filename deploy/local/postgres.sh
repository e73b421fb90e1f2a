#!/usr/bin/env bash
# Local PostgreSQL for development and tests, without Docker.
#   deploy/local/postgres.sh start|stop|status|createdb NAME|delete-data
# Installs Debian's postgresql package when missing, runs its own cluster under $LOCAL_STATE/postgres
# (default .local/, git-ignored) on 127.0.0.1:$PG_PORT, and creates the role and database idempotently.
# The cluster belongs to the `postgres` OS user because PostgreSQL refuses to run as root. When that user
# cannot reach $LOCAL_STATE (root working in /root or in a `mktemp -d` folder, mode 700), the cluster lives
# in a postgres-owned directory instead, named after $LOCAL_STATE; $LOCAL_STATE/postgres.location says where.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${LOCAL_STATE:-$root/.local}"
pgdir="$state/postgres"
data="$pgdir/data"
run="$pgdir/run"
location_file="$state/postgres.location"
port="${PG_PORT:-5432}"
user="${PG_USER:-pipeline}"
password="${PG_PASSWORD:-pipeline}"
db="${PG_DATABASE:-pipeline}"

log() { printf '[postgres] %s\n' "$*" >&2; }

bindir() {
  local b
  for b in /usr/lib/postgresql/*/bin; do [[ -x "$b/initdb" ]] && { echo "$b"; return; }; done
  return 1
}

install() {
  if bindir >/dev/null; then return; fi
  log "PostgreSQL server not found; installing Debian's postgresql package…"
  if [[ $(id -u) -ne 0 ]]; then log "need root for apt-get; install 'postgresql' and retry"; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # Debian's package may start its own 'main' cluster on 5432; ours is separate, so stop that one.
  command -v pg_ctlcluster >/dev/null && for c in $(pg_lsclusters -h 2>/dev/null | awk '$4=="online"{print $1"/"$2}'); do
    pg_ctlcluster "${c%/*}" "${c#*/}" stop || true
  done
  bindir >/dev/null || { log "installation did not provide initdb"; exit 1; }
}

# Where the cluster lives: under $LOCAL_STATE when the postgres user can get there, else in its own home.
resolve_dirs() {
  [[ $(id -u) -eq 0 ]] || return 0
  getent passwd postgres >/dev/null || return 0
  mkdir -p "$state"
  if runuser -u postgres -- test -x "$state" 2>/dev/null; then return 0; fi
  local home
  home="$(getent passwd postgres | cut -d: -f6)"
  if [[ -z "$home" || ! -d "$home" ]]; then
    log "the postgres user cannot enter $state (a parent directory is private, e.g. /root or a mktemp -d folder)"
    log "and has no home directory to keep the cluster in: run from a directory it can enter, or set LOCAL_STATE to one"
    exit 1
  fi
  pgdir="$home/pipeline-clusters/$(printf '%s' "$state" | sha256sum | cut -c1-12)"
  data="$pgdir/data"
  run="$pgdir/run"
  mkdir -p "$home/pipeline-clusters" && chown postgres: "$home/pipeline-clusters"
  if [[ "$(cat "$location_file" 2>/dev/null)" != "$pgdir" ]]; then
    echo "$pgdir" >"$location_file"
    log "the postgres user cannot enter $state: the cluster lives in $pgdir (noted in $location_file)"
  fi
}

as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

psql_admin() { as_pg "$(bindir)/psql" -h "$run" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

init_cluster() {
  if [[ -f "$data/PG_VERSION" ]]; then return; fi
  log "initialising cluster in $data"
  mkdir -p "$pgdir"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$pgdir"
  as_pg "$(bindir)/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$run'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
log_min_messages = warning
CONF
}

running() { [[ -f "$data/postmaster.pid" ]] && as_pg "$(bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1; }

ensure_role_and_db() {
  psql_admin <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN
    CREATE ROLE "$user" LOGIN CREATEDB PASSWORD '$password';
  END IF;
END \$\$;
SQL
  create_db "$db"
}

create_db() {
  local name="$1"
  if [[ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]]; then
    psql_admin -c "CREATE DATABASE \"$name\" OWNER \"$user\""
    log "created database $name"
  fi
}

start() {
  install
  resolve_dirs
  init_cluster
  mkdir -p "$run"; [[ $(id -u) -eq 0 ]] && chown postgres: "$run"
  if running; then
    log "already running on 127.0.0.1:$port"
  else
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      log "port $port is taken by another server; set PG_PORT or stop it (pg_lsclusters shows Debian's clusters)"; exit 1
    fi
    log "starting on 127.0.0.1:$port"
    as_pg "$(bindir)/pg_ctl" -D "$data" -l "$pgdir/server.log" -w -t 60 start >/dev/null \
      || { log "start failed; last log lines:"; tail -n 20 "$pgdir/server.log" >&2; exit 1; }
  fi
  ensure_role_and_db
  log "ready: postgresql://$user:***@127.0.0.1:$port/$db"
}

stop() {
  if ! bindir >/dev/null; then log "not running"; return; fi
  resolve_dirs
  if ! running; then log "not running"; return; fi
  as_pg "$(bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null && log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) bindir >/dev/null && resolve_dirs; if bindir >/dev/null && running; then echo "running on 127.0.0.1:$port"; else echo "stopped"; exit 1; fi ;;
  createdb) resolve_dirs; create_db "${2:?database name}" ;;
  delete-data) stop; rm -rf "$pgdir" "$location_file"; log "deleted $pgdir" ;;
  *) echo "usage: $0 start|stop|status|createdb NAME|delete-data" >&2; exit 2 ;;
esac
