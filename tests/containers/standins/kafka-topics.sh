#!/bin/bash
# Stand-in for Kafka's kafka-topics.sh, as compose's healthcheck calls it:
# `kafka-topics.sh --bootstrap-server HOST:PORT --list` succeeds when the broker accepts a
# connection. Nothing else is supported.
set -euo pipefail
server=localhost:9092
while (($#)); do
    case $1 in
        --bootstrap-server) server=$2; shift 2 ;;
        --list) shift ;;
        *) echo "kafka-topics.sh (stand-in): unsupported argument $1" >&2; exit 2 ;;
    esac
done
exec 3<>"/dev/tcp/${server%:*}/${server##*:}"
