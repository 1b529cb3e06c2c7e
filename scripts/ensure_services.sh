#!/usr/bin/env bash
# Make PostgreSQL (127.0.0.1:5432, trust auth) and Redis (127.0.0.1:6379) reachable for the
# deployment test. Our machines start both before every session and before CI; this only acts
# when one is missing.
#   HEP_REQUIRE_SERVICES=1 (CI): install a missing one from Debian's packages and start it; fail
#                                if it is still unreachable.
#   otherwise (a developer's own machine): change nothing; say what is missing, and the test
#                                skips with the reason shown.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_HOST=127.0.0.1 REDIS_PORT=6379

reachable() {  # host port
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

wait_reachable() {  # name host port
  for _ in $(seq 1 30); do
    reachable "$2" "$3" && return 0
    sleep 1
  done
  echo "ensure_services: $1 is still unreachable at $2:$3" >&2
  return 1
}

apt_install() {  # packages...
  if [ "$(id -u)" != 0 ]; then
    echo "ensure_services: only root can apt-get install $*" >&2
    return 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

start_postgresql() {
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  # The test connects as postgres over TCP without a password, as on our machines.
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true  # may be up already
  wait_reachable PostgreSQL "$PG_HOST" "$PG_PORT"
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_reachable Redis "$REDIS_HOST" "$REDIS_PORT"
}

status=0
for service in PostgreSQL Redis; do
  case $service in
    PostgreSQL) host=$PG_HOST port=$PG_PORT start=start_postgresql ;;
    Redis) host=$REDIS_HOST port=$REDIS_PORT start=start_redis ;;
  esac
  if reachable "$host" "$port"; then
    echo "ensure_services: $service is up at $host:$port"
  elif [ "${HEP_REQUIRE_SERVICES:-}" = 1 ]; then
    echo "ensure_services: $service is down at $host:$port; installing/starting it"
    $start || status=1
  else
    echo "ensure_services: NOTICE: $service is down at $host:$port; the deployment test will" \
      "skip (set HEP_REQUIRE_SERVICES=1 to install and start it)"
  fi
done
exit $status
