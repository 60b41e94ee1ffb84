# tasks-service: the tasks API, gRPC token validation, transactional outbox → Kafka relay,
# Redis read model (CQRS). One binary; `tasks-service --help` lists its modes and settings.
PROGRAMS            += tasks-service
tasks-service_SRC   := $(wildcard services/tasks/*.c)
tasks-service_PKGS  := grpc libprotobuf-c rdkafka hiredis libcjson libpq uuid

# Unit tests that #include a service .c file link that file's packages too.
test_tasks_model_PKGS     := libcjson
test_tasks_relay_PKGS     := rdkafka libpq uuid libcjson
test_tasks_readmodel_PKGS := hiredis libcjson libpq uuid
