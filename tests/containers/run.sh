#!/usr/bin/env bash
# The container path, for real: builds the project's Dockerfile and starts docker-compose.yml
# through `make up`, then checks what a user of `make up` gets (tests/containers/main.rs).
#
# Real: the Dockerfile, docker-compose.yml, nginx/nginx.conf, .env and the Makefile's `up`, `ps`
# and `down` targets, run unchanged on a copy of the project; the image they build and the
# containers compose starts; Debian's docker-compose 1.29 driving podman (the container runtime)
# through podman's Docker-compatible API; the compose network, a namespace this test creates.
#
# Stand-ins: the base images, because no container registry can be reached from the machines
# this runs on (standins/build.sh makes them from Debian packages and tags them with the names
# the Dockerfile and compose use): the Rust build image carries this machine's toolchain, nginx
# is Debian's nginx 1.22 (not 1.27 on Alpine), and Kafka is Apache Kafka of the version compose
# names, its jars from Maven Central (tests/support/kafka.sh, as for the topology test) on
# Debian's JRE 17, with an entry point that reads compose's KAFKA_* variables as the image's
# does and Kafka's own kafka-topics.sh for compose's healthcheck. The real images of Docker Hub
# are not pulled or run here.
#
# Without systemd, podman runs a HEALTHCHECK only when asked: a loop here asks every 2 s for each
# container of the test's compose project that is not healthy yet, so `condition:
# service_healthy` comes as it would, and every 10 s (compose's interval) for the healthy ones:
# Kafka's healthcheck starts a JVM (about a second of CPU).
#
# Cached path: the stand-in images are kept between runs (about 90 s to make, 11 s of it the
# Kafka one once its jars are cached), and so are Kafka's jars; the project's image, its build
# layers, the containers, the volumes and the network are removed at the end.
# WSCHAT_STANDINS_REBUILD=1 makes the stand-ins anew.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$(pwd)
export DEBIAN_FRONTEND=noninteractive
started=$SECONDS

need_apt=()
for pkg in podman debootstrap docker-compose runc; do
    command -v "$pkg" >/dev/null || need_apt+=("$pkg")
done
# Compose's services find each other by name (`kafka:9092`): with podman's CNI networks that is
# the dnsname plugin, a package of its own that --no-install-recommends leaves out.
[[ -x /usr/lib/cni/dnsname ]] || need_apt+=(golang-github-containernetworking-plugin-dnsname)
if ((${#need_apt[@]})); then
    apt-get update -q && apt-get install -y -q --no-install-recommends "${need_apt[@]}" \
        containernetworking-plugins iptables uidmap
fi

# podman on these machines: crun refuses their cgroups (runc works), and every container fails
# on setrlimit unless the default ulimits are left alone. Written only where nothing is set.
conf=/etc/containers/containers.conf
if ! grep -qs '^default_ulimits' "$conf" && ! grep -qs '^runtime' "$conf"; then
    if [[ -s $conf ]]; then
        echo "containers test: $conf has settings of its own; add default_ulimits = [] and runtime = \"runc\"" >&2
        exit 1
    fi
    printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' >"$conf"
fi

# The broker's jars, fetched once into a cache (Java and Maven installed when missing).
source tests/support/kafka.sh

bash tests/containers/standins/build.sh
echo "containers test: stand-in images ready after $((SECONDS - started)) s"

# What an earlier run that was killed may have left: its network holds the compose subnet.
for net in $(podman network ls --format '{{.Name}}' | grep '^wschatct' || true); do
    podman network rm -f "$net" >/dev/null
done
for vol in $(podman volume ls -q | grep '^wschatct' || true); do
    podman volume rm -f "$vol" >/dev/null
done

work=$(mktemp -d /tmp/wschat-containers.XXXXXX)
export CT_PROJECT=wschatct$$
export CT_DIR=$work/project
images_before=$(podman images -q --no-trunc | sort -u)
service_pid=
health_pid=

cleanup() {
    set +e
    [[ -n $health_pid ]] && kill "$health_pid" 2>/dev/null
    if [[ -d $CT_DIR ]]; then
        (cd "$CT_DIR" && timeout 120 make down COMPOSE=docker-compose COMPOSE_PROJECT_NAME="$CT_PROJECT") >/dev/null 2>&1
    fi
    # What the test made: its image and the build layers it left, never the stand-ins.
    podman rmi -f websocketchat:latest >/dev/null 2>&1
    for id in $(podman images -q --no-trunc --filter dangling=true | sort -u); do
        grep -qx "$id" <<<"$images_before" || podman rmi -f "$id" >/dev/null 2>&1
    done
    [[ -n $service_pid ]] && kill "$service_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# A copy of the project as a fresh clone has it: the test's certs/ starts empty and the
# developer's own certs/ is never touched.
mkdir -p "$CT_DIR"
git ls-files -z --cached --others --exclude-standard | tar -C "$root" --null -T - -c | tar -C "$CT_DIR" -x

podman system service --time=0 "unix://$work/podman.sock" >"$work/podman-service.log" 2>&1 &
service_pid=$!
export DOCKER_HOST=unix://$work/podman.sock
for _ in $(seq 100); do [[ -S $work/podman.sock ]] && break; sleep 0.1; done

(
    project="label=com.docker.compose.project=$CT_PROJECT"
    for ((tick = 1; ; tick++)); do
        sleep 2
        healthy=
        ((tick % 5 == 0)) || healthy=$(podman ps -q --filter "$project" --filter health=healthy)
        for c in $(podman ps -q --filter "$project"); do
            grep -qx "$c" <<<"$healthy" || podman healthcheck run "$c" >/dev/null 2>&1 || true
        done
    done
) &
health_pid=$!

# Published ports the test picks (compose reads them from the environment over .env).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export HTTPS_PORT=$(free_port) HTTP_PORT=$(free_port) WS1_PORT=$(free_port) WS2_PORT=$(free_port)
export COMPOSE_PROJECT_NAME=$CT_PROJECT COMPOSE=docker-compose

cargo test --test containers -- --nocapture --test-threads=1
echo "containers test: done in $((SECONDS - started)) s"
