# The unit tests of lib/ops/ops_waterfall link the ops library.
test_ops_waterfall_LIBA := libops.a
test_ops_waterfall_PKGS := libcurl libcjson libpq
