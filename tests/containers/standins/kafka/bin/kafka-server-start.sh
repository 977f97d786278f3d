#!/bin/bash
# Stand-in for the distribution's bin/kafka-server-start.sh: the broker (`kafka.Kafka
# server.properties`) logging with config/log4j2.yaml. Its heap is 512 MiB where the original
# script gives 1 GiB: plenty for a test's few topics, on a machine that runs other tests beside
# it (the broker then holds about 400-430 MB). KAFKA_HEAP_OPTS sets another, as it does there.
set -euo pipefail
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx512M}
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml}
exec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$@"
