# notification-service: consumes task-events, records each event exactly once in effect,
# notifications (log, webhook channels), reminders, the notifications API.
PROGRAMS                    += notification-service
notification-service_SRC    := $(wildcard services/notify/*.c)
notification-service_PKGS   := grpc libprotobuf-c rdkafka libcjson libpq libcurl

test_notify_event_PKGS := libcjson
