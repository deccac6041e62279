#!/usr/bin/env bash
# Make a Docker engine answer on this machine, and a Python base image that
# needs no registry. Idempotent: what is already there is reused.
#
#   BASE_IMAGE="$(bash docker/engine.sh)"      # prints the base image to use
#
# 1. If `docker info` answers, the engine is left alone.
# 2. Otherwise Debian's docker.io (and debootstrap) are installed if missing,
#    and `dockerd --bridge=none --iptables=false` is started in the background
#    (log: $DOCKERD_LOG). Containers then need `--network host` (or none),
#    and so do builds.
# 3. If the image $ENGINE_BASE_IMAGE (docker-alembic-base:bookworm) is missing,
#    it is made with `debootstrap --variant=minbase bookworm` plus python3 and
#    python3-venv, from the Debian mirror apt already uses here (or
#    $DEBIAN_MIRROR), and `docker import`ed. The image is kept, so later runs
#    take seconds.
#
# Only the base image name goes to stdout; progress and timings go to stderr.
# Exits non-zero with a message when anything fails.
set -euo pipefail

BASE_IMAGE_NAME="${ENGINE_BASE_IMAGE:-docker-alembic-base:bookworm}"
SUITE="${ENGINE_SUITE:-bookworm}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd-engine.log}"
WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"
START_NS="$(date +%s%N)"

log() { printf 'engine.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
elapsed() { printf '%.1fs' "$(( $(date +%s%N) - START_NS ))e-9"; }

engine_answers() { docker info >/dev/null 2>&1; }

# A live dockerd: a killed one can linger as a zombie until its parent reaps
# it, and must not count. Without pgrep (procps), assume alive and rely on the
# timeout.
dockerd_running() {
    command -v pgrep >/dev/null 2>&1 || return 0
    local pid
    for pid in $(pgrep -x dockerd 2>/dev/null); do
        [[ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ]] && return 0
    done
    return 1
}

need_root() {
    [[ "$(id -u)" == 0 ]] || die "$1 needs root (run as root or with sudo)"
}

install_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    ((${#missing[@]} == 0)) && return 0
    need_root "installing ${missing[*]}"
    log "installing ${missing[*]} with apt-get ($(elapsed))"
    apt-get update -q >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
}

start_dockerd() {
    if command -v pgrep >/dev/null 2>&1 && dockerd_running; then
        log "dockerd is running but not answering yet; waiting for it"
        return 0
    fi
    need_root "starting dockerd"
    log "starting dockerd --bridge=none --iptables=false (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    setsid nohup dockerd --bridge=none --iptables=false >>"$DOCKERD_LOG" 2>&1 </dev/null &
}

wait_for_engine() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    until engine_answers; do
        if ! dockerd_running; then
            tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
            die "dockerd exited while starting (see $DOCKERD_LOG)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
            die "no Docker engine answered within ${WAIT_SECONDS}s (see $DOCKERD_LOG)"
        fi
        sleep 0.5
    done
    log "engine answers ($(elapsed))"
}

# The mirror apt uses for "$SUITE main", e.g. http://deb.debian.org/debian/.
debian_mirror() {
    if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
        printf '%s\n' "$DEBIAN_MIRROR"
        return 0
    fi
    # shellcheck disable=SC2016  # $(FIELD) is apt's template syntax, not the shell's
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 2>/dev/null \
        | awk -v suite="$SUITE" '$2 == suite && $3 == "main" { print $1; exit }'
}

# debootstrap reads http_proxy from the environment, apt from its config.
export_apt_proxy() {
    local proxy
    [[ -n "${http_proxy:-}" ]] && return 0
    proxy="$(apt-config shell P Acquire::http::Proxy 2>/dev/null | sed -n "s/^P='\(.*\)'$/\1/p")"
    if [[ -n "$proxy" && "$proxy" != DIRECT ]]; then
        export http_proxy="$proxy"
    fi
}

# Same trimming as Debian's slim images: no docs, man pages, locales or apt
# caches (copyright files are kept).
trim_rootfs() {
    local root="$1"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/*
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
}

make_base_image() {
    local mirror rootfs
    need_root "debootstrap"
    mirror="$(debian_mirror)"
    [[ -n "$mirror" ]] || die "no apt source for '$SUITE main' found; set DEBIAN_MIRROR"
    export_apt_proxy
    rootfs="$(mktemp -d /var/tmp/docker-alembic-rootfs.XXXXXX)"
    # shellcheck disable=SC2064  # expand now: the trap must remove this very path
    trap "rm -rf '$rootfs'" EXIT
    log "debootstrap --variant=minbase $SUITE from $mirror ($(elapsed))"
    debootstrap --variant=minbase --include=python3,python3-venv \
        "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
        tail -n 20 "$rootfs.log" >&2
        die "debootstrap failed (log: $rootfs.log)"
    }
    rm -f "$rootfs.log"
    trim_rootfs "$rootfs"
    log "docker import $BASE_IMAGE_NAME ($(elapsed))"
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        - "$BASE_IMAGE_NAME" >/dev/null || die "docker import failed"
    rm -rf "$rootfs"
    trap - EXIT
}

check_base_image() {
    docker run --rm --network none "$BASE_IMAGE_NAME" \
        python3 -c 'import ensurepip, sqlite3, venv' >/dev/null \
        || die "$BASE_IMAGE_NAME has no working python3 with venv and sqlite3"
}

main() {
    if engine_answers; then
        log "a Docker engine already answers"
    else
        install_packages
        start_dockerd
        wait_for_engine
    fi
    if docker image inspect "$BASE_IMAGE_NAME" >/dev/null 2>&1; then
        log "reusing base image $BASE_IMAGE_NAME"
    else
        command -v debootstrap >/dev/null 2>&1 || install_packages
        make_base_image
        check_base_image
    fi
    log "ready in $(elapsed); BASE_IMAGE=$BASE_IMAGE_NAME"
    printf '%s\n' "$BASE_IMAGE_NAME"
}

main "$@"
