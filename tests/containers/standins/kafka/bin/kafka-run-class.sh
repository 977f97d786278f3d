#!/bin/bash
# Stand-in for the distribution's bin/kafka-run-class.sh: `java CLASS ARGS` with every jar of
# /opt/kafka/libs on the class path and the script's defaults (a heap of 256 MiB; G1 with short
# pauses; tools log with config/tools-log4j2.yaml), each replaced by its variable when set:
# KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_LOG4J_OPTS, plus KAFKA_OPTS.
set -euo pipefail
heap=${KAFKA_HEAP_OPTS:--Xmx256M}
performance=${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 \
-Djava.awt.headless=true}
log4j=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.yaml}
# The options are lists of words, split here as in the original script.
exec java $heap $performance $log4j ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$@"
