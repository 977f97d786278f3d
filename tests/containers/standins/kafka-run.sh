#!/bin/bash
# Starts tansu as compose's KAFKA_LISTENERS and KAFKA_ADVERTISED_LISTENERS describe the broker
# (the PLAINTEXT listener; tansu has no separate controller).
set -euo pipefail
listener=${KAFKA_LISTENERS:-PLAINTEXT://:9092}
advertised=${KAFKA_ADVERTISED_LISTENERS:-PLAINTEXT://localhost:9092}
port=$(sed -E 's/.*PLAINTEXT:\/\/[^:,]*:([0-9]+).*/\1/' <<<"$listener")
host_port=$(sed -E 's/.*PLAINTEXT:\/\/([^,]+).*/\1/' <<<"$advertised")
exec /opt/kafka/bin/tansu broker \
    --listener-url "tcp://0.0.0.0:$port" \
    --advertised-listener-url "tcp://$host_port" \
    --storage-engine memory://tansu/
