#!/bin/bash
# kafka-topics.sh — Kafka's topic tool (org.apache.kafka.tools.TopicCommand), under the
# name and path the apache/kafka image gives it.
exec java -Xmx256m -Djava.awt.headless=true \
    -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
    -cp '/opt/kafka/libs/*' org.apache.kafka.tools.TopicCommand "$@"
