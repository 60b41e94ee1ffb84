# todo-console: the scriptable CLI of CONTRACT §9 over the ops client library (lib/ops/,
# libops.a); the full-screen console joins it later. `todo-console --help`, man todo-console.
PROGRAMS             += todo-console
todo-console_SRC     := $(wildcard console/*.c)
todo-console_LIBA    := libops.a
todo-console_PKGS    := libcurl libcjson libpq hiredis rdkafka readline
MAN_PAGES            += console/todo-console.1
COMPLETIONS          += todo-console

# Unit tests of the library link it too.
test_ops_trace_LIBA  := libops.a
test_ops_trace_PKGS  := libcurl libcjson libpq hiredis rdkafka
test_ops_metrics_LIBA := libops.a
test_ops_metrics_PKGS := libcurl libcjson libpq hiredis rdkafka
test_ops_table_LIBA  := libops.a
test_ops_table_PKGS  := libcurl libcjson libpq hiredis rdkafka
test_ops_cfg_LIBA    := libops.a
test_ops_cfg_PKGS    := libcurl libcjson libpq hiredis rdkafka
test_ops_kafka_LIBA  := libops.a
test_ops_kafka_PKGS  := libcurl libcjson libpq hiredis rdkafka
