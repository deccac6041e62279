#!/bin/bash
# Entrypoint of docker-alembic-mariadb (built by docker/db-images.sh from
# Debian's mariadb-server 10.11). It does what the official mariadb image's
# docker-entrypoint.sh does where testcontainers' MySqlContainer and the
# runner rely on it:
#
# - On first start (no /var/lib/mysql/mysql) mariadb-install-db, then a
#   temporary server with --skip-networking sets the root password, creates
#   MARIADB_DATABASE and MARIADB_USER (granted all rights on that database
#   only, as upstream) and runs /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz
#   (where testcontainers puts a `seed`); it stops, and the real server starts
#   on all interfaces.
# - Each server logs "mariadbd: ready for connections." to stderr, so a first
#   start logs it twice and the second one means "ready on TCP":
#   testcontainers waits for exactly that (".*: ready for connections.*: ready
#   for connections.*"). Nothing else here may print that phrase.
# - Variables, MARIADB_* winning over the MYSQL_* spelling testcontainers
#   sets: ROOT_PASSWORD, ALLOW_EMPTY_ROOT_PASSWORD (MYSQL_ALLOW_EMPTY_PASSWORD),
#   RANDOM_ROOT_PASSWORD, ROOT_HOST (default %), DATABASE, USER, PASSWORD.
#   One of the first three is required, as upstream.
# - The port is 3306, or $MYSQL_TCP_PORT, which mariadbd and the clients
#   read, so `--network host` containers can avoid each other with it.
# - The servers run as the mysql user; arguments starting with "-" are passed
#   to mariadbd, any other command runs as given.
set -Eeuo pipefail

SELF=/usr/local/bin/docker-entrypoint.sh
DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

note() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S')" "$*" >&2; }
die() { note "ERROR: $*"; exit 1; }

# MARIADB_<name>, else MYSQL_<alias>, else empty.
setting() {
    local mariadb="MARIADB_$1" mysql="MYSQL_${2:-$1}"
    printf '%s' "${!mariadb:-${!mysql:-}}"
}

# SQL literals: 'string' with \ and ' escaped; `identifier` with ` doubled.
sql_string() {
    local s="${1//\\/\\\\}"
    printf "'%s'" "${s//\'/\\\'}"
}
sql_ident() {
    # shellcheck disable=SC2016  # the backquotes are SQL, not a command
    printf '`%s`' "${1//\`/\`\`}"
}

TEMP_PID=""

temp_server_start() {
    local i
    mariadbd --skip-networking --socket="$SOCKET" --skip-log-bin --expire-logs-days=0 \
        --default-time-zone=SYSTEM --wsrep-on=OFF --skip-slave-start \
        --loose-innodb-buffer-pool-load-at-startup=0 \
        --loose-innodb-buffer-pool-dump-at-shutdown=0 &
    TEMP_PID=$!
    for ((i = 0; i < 300; i++)); do
        if mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot \
            -e 'SELECT 1' >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$TEMP_PID" 2>/dev/null || die "the temporary server exited while starting"
        sleep 0.1
    done
    die "the temporary server did not answer within 30s"
}

temp_server_stop() {
    kill -TERM "$TEMP_PID"
    wait "$TEMP_PID" || die "the temporary server did not stop cleanly"
}

run_init_files() {
    local file
    local -a client=(mariadb --defaults-extra-file="$1" --protocol=socket --socket="$SOCKET")
    if [[ -n "$2" ]]; then
        client+=(--database="$2")
    fi
    for file in /docker-entrypoint-initdb.d/*; do
        [[ -e "$file" ]] || continue
        case "$file" in
            *.sh) note "running $file"; bash "$file" ;;
            *.sql) note "running $file"; "${client[@]}" <"$file" ;;
            *.sql.gz) note "running $file"; gzip -dc "$file" | "${client[@]}" ;;
            *) note "ignoring $file" ;;
        esac
    done
}

init_database() {
    local root_password allow_empty random_root root_host database user password
    local sql options quoted
    root_password="$(setting ROOT_PASSWORD)"
    allow_empty="$(setting ALLOW_EMPTY_ROOT_PASSWORD ALLOW_EMPTY_PASSWORD)"
    random_root="$(setting RANDOM_ROOT_PASSWORD)"
    root_host="$(setting ROOT_HOST)"
    root_host="${root_host:-%}"
    database="$(setting DATABASE)"
    user="$(setting USER)"
    password="$(setting PASSWORD)"

    if [[ -z "$root_password" && -z "$allow_empty" && -z "$random_root" ]]; then
        die "the database is uninitialized and no root password option is set: set one of" \
            "MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and" \
            "MARIADB_RANDOM_ROOT_PASSWORD (or their MYSQL_* names)"
    fi
    if [[ "$user" == root ]]; then
        die "MARIADB_USER=root: MARIADB_USER and MARIADB_PASSWORD configure a regular user," \
            "the root user's password is MARIADB_ROOT_PASSWORD"
    fi
    if [[ -n "$user" && -z "$password" ]]; then
        die "MARIADB_USER is set but MARIADB_PASSWORD is empty"
    fi
    if [[ -z "$root_password" && -n "$random_root" ]]; then
        root_password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
        note "GENERATED ROOT PASSWORD: $root_password"
    fi

    note "initialising $DATADIR"
    mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
        --skip-test-db --skip-log-bin --expire-logs-days=0 --default-time-zone=SYSTEM \
        --loose-innodb-buffer-pool-load-at-startup=0 \
        --loose-innodb-buffer-pool-dump-at-shutdown=0 >&2

    temp_server_start
    sql="SET @@SESSION.SQL_LOG_BIN=0;
DROP USER IF EXISTS root@'127.0.0.1', root@'::1', ''@'localhost';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@', QUOTE(@@hostname), ', \'\'@', QUOTE(@@hostname));
SET PASSWORD FOR root@localhost = PASSWORD($(sql_string "$root_password"));"
    if [[ "$root_host" != localhost ]]; then
        sql+="
CREATE USER root@$(sql_string "$root_host") IDENTIFIED BY $(sql_string "$root_password");
GRANT ALL ON *.* TO root@$(sql_string "$root_host") WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO root@$(sql_string "$root_host") WITH GRANT OPTION;"
    fi
    if [[ -n "$database" ]]; then
        sql+="
CREATE DATABASE IF NOT EXISTS $(sql_ident "$database");"
    fi
    if [[ -n "$user" ]]; then
        sql+="
CREATE USER $(sql_string "$user")@'%' IDENTIFIED BY $(sql_string "$password");"
        if [[ -n "$database" ]]; then
            sql+="
GRANT ALL ON $(sql_ident "$database").* TO $(sql_string "$user")@'%';"
        fi
    fi
    mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot <<<"$sql"

    # An option file keeps the password off the command line; inside "..."
    # only \ and " need escaping.
    options="$(mktemp)"
    quoted="${root_password//\\/\\\\}"
    printf '[client]\nuser=root\npassword="%s"\n' "${quoted//\"/\\\"}" >"$options"
    run_init_files "$options" "$database"
    rm -f "$options"
    temp_server_stop
    note "MariaDB init process done; starting the server"
}

main() {
    if [[ "${1:-}" == -* ]]; then
        set -- mariadbd "$@"
    fi
    if [[ "${1:-}" != mariadbd && "${1:-}" != mysqld ]]; then
        exec "$@"
    fi
    # Information only, as upstream: no data directory needed.
    local arg
    for arg in "$@"; do
        case "$arg" in
            --help | -\? | --version | -V) exec "$@" ;;
        esac
    done
    if [[ "$(id -u)" == 0 ]]; then
        mkdir -p "$DATADIR" /run/mysqld
        chown mysql:mysql "$DATADIR" /run/mysqld
        exec setpriv --reuid=mysql --regid=mysql --init-groups "$SELF" "$@"
    fi
    if [[ ! -d "$DATADIR/mysql" ]]; then
        init_database
    fi
    exec "$@"
}

main "$@"
