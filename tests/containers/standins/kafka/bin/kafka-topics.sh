#!/bin/bash
# As the distribution's bin/kafka-topics.sh: Kafka's own topic tool (from kafka-tools), which
# docker-compose.yml's healthcheck runs as `kafka-topics.sh --bootstrap-server localhost:9092 --list`.
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.TopicCommand "$@"
