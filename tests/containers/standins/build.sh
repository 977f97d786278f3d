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
#   docker.io/apache/kafka:<version>        kafka.Containerfile and kafka/: Apache Kafka from the
#                                           jars in $KAFKA_JARS (tests/support/kafka.sh) on
#                                           Debian's openjdk-17-jre-headless
#
# Images that exist are kept: that is the cached path (WSCHAT_STANDINS_REBUILD=1 makes them anew).
# The Kafka stand-in carries a hash of what it was made from (its Containerfile, the files of
# kafka/, the names of the jars, which carry their versions) and is made anew when that changes.
# An image of one of those names that is not a stand-in (no org.websocketchat.standin label), for
# example the real one pulled from Docker Hub, is used as it is and never replaced.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=localhost/wschat-standin-base:bookworm
declare -A IMAGES=(
    [rust]=docker.io/library/rust:1-slim-bookworm
    [nginx]=docker.io/library/nginx:1.27-alpine
    [kafka]=docker.io/apache/kafka:${KAFKA_VERSION:?source tests/support/kafka.sh first}
)
work=$(mktemp -d /tmp/wschat-standins.XXXXXX)
trap 'rm -rf "$work"' EXIT

label() { # label IMAGE [NAME]: the image's label NAME (org.websocketchat.standin by default)
    podman image inspect --format "{{index .Labels \"${2:-org.websocketchat.standin}\"}}" "$1" \
        2>/dev/null || true
}

# Whether to (re)make image $1: missing; or a stand-in, and a rebuild was asked for or it was
# made from other inputs than $2 (when given).
wanted() {
    podman image exists "$1" || return 0
    [[ -n $(label "$1") ]] || return 1
    [[ ${WSCHAT_STANDINS_REBUILD:-} == 1 ]] && return 0
    [[ -n ${2:-} && $(label "$1" org.websocketchat.standin.inputs) != "$2" ]]
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

build() { # build NAME CONTEXT [BUILD OPTIONS...]; the image it replaces goes, unless in use
    echo "standins: ${IMAGES[$1]} (from $1.Containerfile)"
    local before after
    before=$(podman image inspect --format '{{.Id}}' "${IMAGES[$1]}" 2>/dev/null || true)
    podman build --quiet --format docker --pull=never --network host "${@:3}" \
        --iidfile "$work/iid" -f "$here/$1.Containerfile" -t "${IMAGES[$1]}" "$2" >/dev/null
    after=$(cat "$work/iid")
    if [[ -n $before && ${after#sha256:} != "${before#sha256:}" ]]; then
        podman rmi "$before" >/dev/null 2>&1 || true
    fi
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
jars=${KAFKA_JARS:?source tests/support/kafka.sh first}
kafka_inputs=$( (cd "$here" && find kafka.Containerfile kafka -type f -print0 | sort -z \
    | xargs -0 sha256sum && ls "$jars") | sha256sum | cut -c1-16)
if wanted "${IMAGES[kafka]}" "$kafka_inputs"; then
    mkdir -p "$work/kafka"
    cp -r "$here/kafka/bin" "$here/kafka/docker" "$work/kafka/"
    cp -r "$jars" "$work/kafka/libs"
    build kafka "$work/kafka" --build-arg "KAFKA_VERSION=$KAFKA_VERSION" \
        --build-arg "INPUTS=$kafka_inputs"
    rm -rf "$work/kafka"
fi
