# Test-only programs: built like every program (rel and asan) but never copied to bin/.
TEST_PROGRAMS += trace-probe
trace-probe_SRC := tests/e2e/trace_probe.c
trace-probe_PKGS :=
