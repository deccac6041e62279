#!/usr/bin/env bash
# Local PostgreSQL and MariaDB images for testcontainers, made from Debian's
# packages, so `runner test --db postgresql|mysql` and the test suite can
# start throw-away servers on a machine that reaches no image registry.
# Idempotent: images that are there and current are reused.
#
#   eval "$(bash docker/db-images.sh)"   # exports the variables below
#
# Prints, on stdout only, the variables that make `runner test --db ...` and the
# test suite start their throw-away servers from these images:
#   export RUNNER_TEST_POSTGRES_IMAGE=docker-alembic-postgres:15   (bookworm's postgresql 15)
#   export RUNNER_TEST_MYSQL_IMAGE=docker-alembic-mariadb:10.11    (bookworm's mariadb-server)
#   export RUNNER_TEST_DOCKER_NETWORK=docker-alembic               (a user-defined bridge)
#   export TESTCONTAINERS_RYUK_DISABLED=true                       (Ryuk cannot be pulled)
# Progress and timings go to stderr; any failure exits non-zero with one
# message.
#
# 1. If no Docker engine answers, docker/engine.sh starts one.
# 2. The bridge network $DB_IMAGES_NETWORK (docker-alembic) is created if
#    missing. engine.sh starts dockerd with --bridge=none, so a container on
#    the default network has only a loopback interface and its published
#    ports lead nowhere; on a user-defined bridge, port publishing (Docker's
#    userland proxy; --iptables=false does not matter) works, so every
#    container gets its own address and a random host port and nothing
#    collides with servers already listening on the machine.
# 3. An image is built when missing, or when its recipe (the entrypoint and
#    the build steps below, hashed into the label docker-alembic.recipe)
#    changed: `debootstrap --variant=minbase` (its .debs cached in
#    $DB_IMAGES_CACHE, /var/cache/docker-alembic/debootstrap), then apt-get in
#    a chroot on the host, with the host's mirror and proxy, for main,
#    -updates and -security (nothing is installed inside a container: there
#    the package indexes are behind a TLS proxy the image does not trust). A
#    policy-rc.d keeps the packages' services from starting in the chroot
#    (the machine's own servers hold 5432 and 3306). Then trimmed like
#    engine.sh's base image and `docker import`ed with an entrypoint
#    (docker/db-images/*-entrypoint.sh) that initialises the data directory
#    on first start like the official images (see the scripts).
#    DB_IMAGES_REBUILD=1 rebuilds anyway.
#
# runner/db/scratch.py (start_container) starts them through testcontainers 4.x;
# docker/check_db_images.py checks them that way, details in docker/db-images/README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POSTGRES_IMAGE_NAME="${DB_IMAGES_POSTGRES:-docker-alembic-postgres:15}"
MYSQL_IMAGE_NAME="${DB_IMAGES_MARIADB:-docker-alembic-mariadb:10.11}"
NETWORK_NAME="${DB_IMAGES_NETWORK:-docker-alembic}"
SUITE=bookworm
CACHE_DIR="${DB_IMAGES_CACHE:-/var/cache/docker-alembic/debootstrap}"
LOCK_FILE="${DB_IMAGES_LOCK:-/var/lock/docker-alembic-db-images.lock}"
START_NS="$(date +%s%N)"
WORK=""

log() { printf 'db-images.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
elapsed() { printf '%.1fs' "$(( $(date +%s%N) - START_NS ))e-9"; }

cleanup() {
    if [[ -n "$WORK" ]]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

need_root() {
    [[ "$(id -u)" == 0 ]] || die "$1 needs root (run as root or with sudo)"
}

ensure_engine() {
    if docker info >/dev/null 2>&1; then
        return 0
    fi
    log "no Docker engine answers; starting one with docker/engine.sh"
    bash "$HERE/engine.sh" >/dev/null || die "docker/engine.sh could not start a Docker engine"
}

ensure_network() {
    if docker network inspect "$NETWORK_NAME" >/dev/null 2>&1; then
        log "reusing network $NETWORK_NAME"
        return 0
    fi
    log "creating bridge network $NETWORK_NAME"
    docker network create --driver bridge --label docker-alembic=db-images "$NETWORK_NAME" \
        >/dev/null || die "docker network create $NETWORK_NAME failed"
}

# The mirror apt uses for "$1 main" (as in engine.sh), e.g. http://deb.debian.org/debian/.
apt_mirror() {
    # shellcheck disable=SC2016  # $(FIELD) is apt's template syntax, not the shell's
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 2>/dev/null \
        | awk -v suite="$1" '$2 == suite && $3 == "main" { print $1; exit }'
}

# debootstrap reads http_proxy from the environment, apt from its config (as in engine.sh).
export_apt_proxy() {
    local proxy
    [[ -n "${http_proxy:-}" ]] && return 0
    proxy="$(apt-config shell P Acquire::http::Proxy 2>/dev/null | sed -n "s/^P='\(.*\)'$/\1/p")"
    if [[ -n "$proxy" && "$proxy" != DIRECT ]]; then
        export http_proxy="$proxy"
    fi
}

# Same trimming as engine.sh (Debian's slim images): no docs, man pages,
# translations or apt caches (copyright files are kept).
trim_rootfs() {
    local root="$1"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/var/cache/apt/*.bin "$root"/usr/share/man/* "$root"/usr/share/locale/* \
        "$root"/usr/share/info/* "$root"/var/log/apt/* "$root"/var/log/dpkg.log
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
}

# One minbase tree per run, copied for each image that needs building.
MINBASE=""
minbase_rootfs() {
    local mirror
    [[ -n "$MINBASE" ]] && return 0
    need_root "debootstrap"
    command -v debootstrap >/dev/null 2>&1 || {
        log "installing debootstrap with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2 \
            || die "apt-get install debootstrap failed"
    }
    mirror="${DEBIAN_MIRROR:-$(apt_mirror "$SUITE")}"
    [[ -n "$mirror" ]] || die "no apt source for '$SUITE main' found; set DEBIAN_MIRROR"
    export_apt_proxy
    mkdir -p "$CACHE_DIR"
    MINBASE="$WORK/minbase"
    log "debootstrap --variant=minbase $SUITE from $mirror ($(elapsed))"
    debootstrap --variant=minbase --cache-dir="$CACHE_DIR" "$SUITE" "$MINBASE" "$mirror" \
        >"$WORK/debootstrap.log" 2>&1 || {
        tail -n 20 "$WORK/debootstrap.log" >&2
        die "debootstrap failed"
    }
    {
        printf 'deb %s %s main\n' "$mirror" "$SUITE"
        local suite uri
        for suite in "$SUITE-updates" "$SUITE-security"; do
            uri="$(apt_mirror "$suite")"
            if [[ -n "$uri" ]]; then
                printf 'deb %s %s main\n' "$uri" "$suite"
            fi
        done
    } >"$MINBASE/etc/apt/sources.list"
    # Services must not start in the chroot: it shares the host's network.
    printf '#!/bin/sh\nexit 101\n' >"$MINBASE/usr/sbin/policy-rc.d"
    chmod 755 "$MINBASE/usr/sbin/policy-rc.d"
    log "apt-get update in the chroot ($(elapsed))"
    chroot "$MINBASE" apt-get update -q >"$WORK/apt-update.log" 2>&1 || {
        tail -n 20 "$WORK/apt-update.log" >&2
        die "apt-get update in the chroot failed"
    }
}

chroot_install() {
    local root="$1"
    shift
    log "apt-get install $* ($(elapsed))"
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends -o Dpkg::Options::=--force-confold "$@" \
        >"$root.apt.log" 2>&1 || {
        tail -n 20 "$root.apt.log" >&2
        die "apt-get install $* in the chroot failed"
    }
}

# --- PostgreSQL -------------------------------------------------------------

POSTGRES_PACKAGES=(postgresql)
POSTGRES_CHANGES=(
    'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    'ENV PGDATA=/var/lib/postgresql/data'
    'ENV LANG=C.UTF-8'
    'EXPOSE 5432'
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
    'CMD ["postgres"]'
)

customize_postgres() {
    local root="$1"
    # No cluster from the package: the entrypoint makes one per container.
    mkdir -p "$root/etc/postgresql-common"
    printf 'create_main_cluster = false\n' >"$root/etc/postgresql-common/createcluster.conf"
    chroot_install "$root" "${POSTGRES_PACKAGES[@]}"
    rm -rf "$root"/etc/postgresql/15 "$root"/var/lib/postgresql/15
    # JIT is the only user of LLVM (~155 MB with z3 and the bitcode); without
    # llvmjit.so the server runs with jit unavailable, as when it is not built.
    rm -rf "$root"/usr/lib/postgresql/15/lib/bitcode "$root"/usr/lib/postgresql/15/lib/llvmjit*
    chroot "$root" dpkg --purge --force-depends libllvm14 libz3-4 >>"$root.apt.log" 2>&1 \
        || die "dpkg --purge libllvm14 libz3-4 failed"
    install -m 755 "$HERE/db-images/postgres-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
    mkdir -p "$root/docker-entrypoint-initdb.d"
}

check_postgres() {
    check_image "$1" 'postgres --version && psql --version && initdb --version' \
        "postgres, psql and initdb"
}

# --- MariaDB ----------------------------------------------------------------

MYSQL_PACKAGES=(mariadb-server)
MYSQL_CHANGES=(
    'ENV LANG=C.UTF-8'
    'EXPOSE 3306'
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
    'CMD ["mariadbd"]'
)

customize_mariadb() {
    local root="$1"
    chroot_install "$root" "${MYSQL_PACKAGES[@]}"
    # The package initialised a data directory in the chroot; each container makes its own.
    find "$root/var/lib/mysql" -mindepth 1 -delete
    # Debian's 50-server.cnf binds 127.0.0.1; a container serves on all its interfaces.
    cat >"$root/etc/mysql/mariadb.conf.d/99-docker-alembic.cnf" <<'EOF'
# docker-alembic-mariadb: serve on all interfaces, no DNS look-ups, as the official image.
[mysqld]
bind-address = *
skip-name-resolve
host-cache-size = 0
EOF
    install -m 755 "$HERE/db-images/mariadb-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
    mkdir -p "$root/docker-entrypoint-initdb.d"
}

check_mariadb() {
    check_image "$1" 'mariadbd --version && mariadb --version && command -v mariadb-install-db' \
        "mariadbd, mariadb and mariadb-install-db"
}

# --- building and reusing ---------------------------------------------------

# check_image IMAGE SHELL-COMMAND WHAT: the command must succeed in the image.
check_image() {
    local output
    output="$(docker run --rm --network none --entrypoint /bin/sh "$1" -c "$2" 2>&1)" || {
        printf '%s\n' "$output" >&2
        log "$1 has no working $3"
        return 1
    }
}

# What an image is made from; a change means a rebuild.
recipe_hash() {
    local kind="$1"
    {
        printf '%s\n' "$SUITE"
        cat "$HERE/db-images/$kind-entrypoint.sh"
        declare -f "customize_$kind" trim_rootfs
        if [[ "$kind" == postgres ]]; then
            printf '%s\n' "${POSTGRES_PACKAGES[@]}" "${POSTGRES_CHANGES[@]}"
        else
            printf '%s\n' "${MYSQL_PACKAGES[@]}" "${MYSQL_CHANGES[@]}"
        fi
    } | sha256sum | cut -c1-16
}

image_is_current() {
    local label
    label="$(docker image inspect --format '{{ index .Config.Labels "docker-alembic.recipe" }}' \
        "$1" 2>/dev/null)" || return 1
    [[ "$label" == "$2" ]]
}

# ensure_image KIND IMAGE
ensure_image() {
    local kind="$1" image="$2" recipe root change
    local -a changes import_args=()
    recipe="$(recipe_hash "$kind")"
    if [[ "${DB_IMAGES_REBUILD:-}" != 1 ]] && image_is_current "$image" "$recipe"; then
        log "reusing $image (recipe $recipe)"
        return 0
    fi
    if docker image inspect "$image" >/dev/null 2>&1; then
        log "rebuilding $image: its recipe changed (now $recipe) or DB_IMAGES_REBUILD=1"
    else
        log "building $image (recipe $recipe)"
    fi
    minbase_rootfs
    root="$WORK/$kind"
    cp -a "$MINBASE" "$root"
    "customize_$kind" "$root"
    rm -f "$root/usr/sbin/policy-rc.d"
    trim_rootfs "$root"
    if [[ "$kind" == postgres ]]; then
        changes=("${POSTGRES_CHANGES[@]}")
    else
        changes=("${MYSQL_CHANGES[@]}")
    fi
    for change in "${changes[@]}" "LABEL docker-alembic.recipe=$recipe"; do
        import_args+=(--change "$change")
    done
    log "docker import $image ($(du -sh "$root" | cut -f1) rootfs, $(elapsed))"
    tar -C "$root" -c . | docker import "${import_args[@]}" - "$image" >/dev/null \
        || die "docker import $image failed"
    rm -rf "$root"
    # A failed image must not pass for a current one next time.
    "check_$kind" "$image" || {
        docker image rm "$image" >/dev/null 2>&1 || true
        die "the new $image does not work; it was removed"
    }
    log "built $image ($(elapsed))"
}

main() {
    ensure_engine
    ensure_network
    if ! image_is_current "$POSTGRES_IMAGE_NAME" "$(recipe_hash postgres)" \
        || ! image_is_current "$MYSQL_IMAGE_NAME" "$(recipe_hash mariadb)" \
        || [[ "${DB_IMAGES_REBUILD:-}" == 1 ]]; then
        need_root "building the database images"
        # One build at a time; a run that waited finds the images current.
        if command -v flock >/dev/null 2>&1; then
            exec 9>"$LOCK_FILE"
            flock 9 || die "cannot lock $LOCK_FILE"
        fi
        WORK="$(mktemp -d /var/tmp/docker-alembic-db-images.XXXXXX)"
    fi
    ensure_image postgres "$POSTGRES_IMAGE_NAME"
    ensure_image mariadb "$MYSQL_IMAGE_NAME"
    log "ready in $(elapsed)"
    # What the runner and the test suite read (runner/db/scratch.py); Ryuk off: on a
    # machine without a registry its image cannot be pulled either, and the runner
    # removes the containers it starts itself.
    printf 'export RUNNER_TEST_POSTGRES_IMAGE=%s\nexport RUNNER_TEST_MYSQL_IMAGE=%s\n' \
        "$POSTGRES_IMAGE_NAME" "$MYSQL_IMAGE_NAME"
    printf 'export RUNNER_TEST_DOCKER_NETWORK=%s\nexport TESTCONTAINERS_RYUK_DISABLED=true\n' \
        "$NETWORK_NAME"
}

main "$@"
