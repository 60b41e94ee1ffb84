# The unit tests of lib/ops/ops_cmd and of ops_outbox's drain rates link the ops library.
test_ops_cmd_LIBA      := libops.a
test_ops_cmd_PKGS      := libcurl libcjson libpq
test_ops_outbox_LIBA   := libops.a
test_ops_outbox_PKGS   := libcurl libcjson libpq
