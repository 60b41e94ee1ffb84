# outbox-inspect: the operator's tool for the outbox of the tasks database (CONTRACT §9), a
# verb table (main.c) over lib/ops/ops_outbox. `outbox-inspect --help`, man outbox-inspect.
PROGRAMS               += outbox-inspect
outbox-inspect_SRC     := $(wildcard tools/outbox-inspect/*.c)
outbox-inspect_LIBA    := libops.a
outbox-inspect_PKGS    := libcurl libcjson libpq
MAN_PAGES              += tools/outbox-inspect/outbox-inspect.1

# The unit tests of lib/ops/ops_cmd and of ops_outbox's drain rates link the ops library.
test_ops_cmd_LIBA      := libops.a
test_ops_cmd_PKGS      := libcurl libcjson libpq
test_ops_outbox_LIBA   := libops.a
test_ops_outbox_PKGS   := libcurl libcjson libpq
