#!/bin/bash
# Entrypoint of docker-alembic-postgres (built by docker/db-images.sh from
# Debian's postgresql-15). It does what the official postgres image's
# docker-entrypoint.sh does where testcontainers' PostgresContainer and the
# runner rely on it:
#
# - On first start (no $PGDATA/PG_VERSION) initdb with POSTGRES_USER
#   (default postgres) as the superuser and POSTGRES_PASSWORD as its
#   password, POSTGRES_INITDB_ARGS appended; then a temporary server that
#   listens on the Unix socket only creates POSTGRES_DB (default: the user's
#   name) and runs /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz; it stops,
#   and the real server starts on all interfaces. Until then nothing answers
#   on TCP, so a `psql --host 127.0.0.1` probe (testcontainers 4.x waits with
#   one) only succeeds once the database is ready. The server also logs
#   "database system is ready to accept connections" twice on a first start,
#   once per server, as the official image does.
# - TCP connections need a password (POSTGRES_HOST_AUTH_METHOD, default
#   scram-sha-256; "trust" lets POSTGRES_PASSWORD be empty); the local socket
#   is trusted.
# - The port is 5432, or $PGPORT, which postgres, pg_ctl and psql all read,
#   so `--network host` containers can avoid each other with PGPORT.
# - The servers run as the postgres user; arguments starting with "-" are
#   passed to postgres (`docker run IMAGE -c fsync=off`), any other command
#   runs as given.
set -Eeuo pipefail

SELF=/usr/local/bin/docker-entrypoint.sh
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

note() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*"; }
die() { note "ERROR: $*" >&2; exit 1; }

# The temporary server: socket only, so no TCP client sees a half-made database.
temp_server_start() {
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
}

temp_server_stop() {
    pg_ctl -D "$PGDATA" -m fast -w stop
}

run_init_files() {
    local file
    local -a psql=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$1" --dbname "$2")
    for file in /docker-entrypoint-initdb.d/*; do
        [[ -e "$file" ]] || continue
        case "$file" in
            *.sh) note "running $file"; bash "$file" ;;
            *.sql) note "running $file"; "${psql[@]}" -f "$file" ;;
            *.sql.gz) note "running $file"; gzip -dc "$file" | "${psql[@]}" ;;
            *) note "ignoring $file" ;;
        esac
    done
}

init_database() {
    local user="${POSTGRES_USER:-postgres}"
    local db="${POSTGRES_DB:-$user}"
    local auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    local -a args=(--username="$user" --auth-local=trust --auth-host="$auth"
        --encoding=UTF8 --locale=C.UTF-8)
    local pwfile=""

    if [[ -z "${POSTGRES_PASSWORD:-}" && "$auth" != trust ]]; then
        die "the database is uninitialized and POSTGRES_PASSWORD is empty;" \
            "set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)"
    fi
    note "initialising $PGDATA (superuser $user, database $db)"
    if [[ -n "${POSTGRES_PASSWORD:-}" ]]; then
        pwfile="$(mktemp)"
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        args+=(--pwfile="$pwfile")
    fi
    # shellcheck disable=SC2206  # POSTGRES_INITDB_ARGS is a list of words, as upstream
    args+=(${POSTGRES_INITDB_ARGS:-})
    initdb "${args[@]}" -D "$PGDATA"
    if [[ -n "$pwfile" ]]; then
        rm -f "$pwfile"
    fi

    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    temp_server_start
    if [[ "$db" != postgres ]]; then
        psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$user" \
            --dbname postgres -v db="$db" <<<'CREATE DATABASE :"db";'
    fi
    run_init_files "$user" "$db"
    temp_server_stop
    note "PostgreSQL init process complete; ready for start up."
}

main() {
    if [[ "${1:-}" == -* ]]; then
        set -- postgres "$@"
    fi
    if [[ "${1:-}" != postgres ]]; then
        exec "$@"
    fi
    # Information only, as upstream: no data directory needed.
    local arg
    for arg in "$@"; do
        case "$arg" in
            --help | -\? | --version | -V | --describe-config | -C) exec "$@" ;;
        esac
    done
    if [[ "$(id -u)" == 0 ]]; then
        mkdir -p "$PGDATA" /var/run/postgresql
        chown postgres:postgres "$PGDATA" /var/run/postgresql
        chmod 700 "$PGDATA"
        chmod 2775 /var/run/postgresql
        exec setpriv --reuid=postgres --regid=postgres --init-groups "$SELF" "$@"
    fi
    if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
        init_database
    fi
    exec "$@"
}

main "$@"
