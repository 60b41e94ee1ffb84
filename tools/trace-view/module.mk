# trace-view: a trace as a waterfall in the terminal (CONTRACT §9), from Jaeger or from
# Jaeger's JSON; the model and the layout are lib/ops (ops_trace, ops_waterfall).
# `trace-view --help`, man trace-view.
PROGRAMS               += trace-view
trace-view_SRC         := $(wildcard tools/trace-view/*.c)
trace-view_LIBA        := libops.a
trace-view_PKGS        := libcurl libcjson libpq
MAN_PAGES              += tools/trace-view/trace-view.1

# The unit tests of lib/ops/ops_waterfall link the ops library.
test_ops_waterfall_LIBA := libops.a
test_ops_waterfall_PKGS := libcurl libcjson libpq
