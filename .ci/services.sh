#!/usr/bin/env bash
# Make sure what the tests need is here and running: PostgreSQL and Redis on loopback, Chromium and a
# CJK font for the browser tests. Starts what is installed but stopped; installs what is missing when
# running as root (Debian/Ubuntu apt); otherwise says what to do and fails.
set -euo pipefail

PGHOST=127.0.0.1 PGPORT=5432 REDISPORT=6379
need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "ERROR: $1 is missing and this is not root, so it cannot be installed here." >&2
    echo "       Install it (Debian: apt-get install $2) or point DATABASE_URL / REDIS_URL at running servers." >&2
    exit 1
  fi
}
apt_install() {
  need_root "$1" "$*"
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -q >/dev/null; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

# --- PostgreSQL ---
if [ -n "${DATABASE_URL:-}" ]; then
  echo "services: using DATABASE_URL from the environment"
elif pg_isready -q -h $PGHOST -p $PGPORT 2>/dev/null; then
  echo "services: PostgreSQL is running on $PGHOST:$PGPORT"
else
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "services: installing PostgreSQL"
    apt_install postgresql postgresql-client
  fi
  version=$(ls /etc/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h | grep -q "^$version main"; then need_root "a PostgreSQL cluster" postgresql; pg_createcluster "$version" main; fi
  echo "services: starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h $PGHOST -p $PGPORT && break; sleep 1; done
  pg_isready -q -h $PGHOST -p $PGPORT || { echo "ERROR: PostgreSQL did not start" >&2; exit 1; }
  # A fresh cluster wants a password over TCP: give the postgres user the one the tests use.
  if [ "$(id -u)" = 0 ]; then su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null; fi
fi

if [ -z "${DATABASE_URL:-}" ]; then
  export PGPASSWORD=postgres
  psql -h $PGHOST -U postgres -tAc "select 1 from pg_database where datname='orderhub'" | grep -q 1 \
    || createdb -h $PGHOST -U postgres orderhub
fi

# --- Redis ---
if [ -n "${REDIS_URL:-}" ]; then
  echo "services: using REDIS_URL from the environment"
elif redis-cli -h $PGHOST -p $REDISPORT ping >/dev/null 2>&1; then
  echo "services: Redis is running on $PGHOST:$REDISPORT"
else
  command -v redis-server >/dev/null 2>&1 || { echo "services: installing Redis"; apt_install redis-server; }
  echo "services: starting Redis"
  mkdir -p /tmp/orderhub-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port $REDISPORT --save "" --appendonly no \
    --dir /tmp/orderhub-redis --logfile /tmp/orderhub-redis/redis.log
  for _ in $(seq 1 30); do redis-cli -h $PGHOST -p $REDISPORT ping >/dev/null 2>&1 && break; sleep 0.5; done
  redis-cli -h $PGHOST -p $REDISPORT ping >/dev/null || { echo "ERROR: Redis did not start" >&2; exit 1; }
fi

# --- Browser for the real-browser tests (Playwright drives Debian's Chromium) and a CJK font ---
if [ ! -x /usr/bin/chromium ] || ! (fc-list 2>/dev/null | grep -i wqy >/dev/null); then
  echo "services: installing Chromium and the WenQuanYi font"
  apt_install chromium fonts-wqy-zenhei
fi
