# todo-system — one non-recursive Makefile.
#
# Every C program is built twice from the same sources:
#   build/rel/   -O2, the binaries that `make build` copies into bin/
#   build/asan/  AddressSanitizer + UBSan, used by the unit and end-to-end suites
# A program directory adds itself with a small module.mk (see services/*/module.mk);
# the shared library is every lib/*.c, and every tests/unit/test_*.c is one cmocka binary.

SHELL        := /bin/bash
.DEFAULT_GOAL := build
CC           ?= cc
BUILD        := build
PYTHON       := /usr/bin/python3
PKG_CONFIG   ?= pkg-config

# Packages the shared library needs; programs add their own in module.mk.
LIB_PKGS     := libmicrohttpd libcjson libcurl libpq uuid
# Every package any part uses, for the include path (computed once).
ALL_PKGS     := $(LIB_PKGS) grpc libprotobuf-c libjwt libsodium rdkafka hiredis ncursesw cmocka
pkg_cflags    = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pkg_libs      = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

WARN         := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
CPPFLAGS     += -D_GNU_SOURCE -Ilib -Ilib/ops -I$(BUILD)/gen $(call pkg_cflags,$(ALL_PKGS))
CFLAGS       += -std=c11 $(WARN) -g -pthread
REL_FLAGS    := -O2
ASAN_FLAGS   := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SYS_LIBS     := -lpthread -lm

# Quiet by default (one short line per step); `make V=1` prints whole commands.
ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
endif

VARIANTS     := rel asan
rel_FLAGS    := $(REL_FLAGS)
asan_FLAGS   := $(ASAN_FLAGS)

# ---- program directories ---------------------------------------------------------------
# module.mk sets:  PROGRAMS += NAME;  NAME_SRC := …c files;  NAME_PKGS := pkg-config names;
#                  NAME_GEN := generated .c files it needs (optional);
#                  NAME_LIBA := archives besides libtodo.a it links, e.g. libops.a (optional);
#                  MAN_PAGES += NAME.1;  COMPLETIONS += NAME (prints its script: NAME completion bash)
PROGRAMS     :=
MAN_PAGES    :=
COMPLETIONS  :=
TEST_PROGRAMS :=
GEN_SRC      :=
GEN_HDR      :=
include $(wildcard proto/module.mk services/*/module.mk console/module.mk tools/*/module.mk tests/e2e/module.mk)

# ---- compile rules ---------------------------------------------------------------------
# Every object waits (order-only) for the generated protobuf headers.
$(BUILD)/rel/%.o: %.c | $(GEN_HDR)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(CFLAGS) $(REL_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/asan/%.o: %.c | $(GEN_HDR)
	@mkdir -p $(@D)
	$(call say,CC-SAN,$<)$(CC) $(CPPFLAGS) $(CFLAGS) $(ASAN_FLAGS) -MMD -MP -c $< -o $@

# ---- the shared library ----------------------------------------------------------------
# Every lib/*.c plus the protobuf-c code of the auth API (lib/authclient's messages). A few
# modules need packages that only their users link, named in the user's NAME_PKGS:
#   lib/kafka: rdkafka        lib/rpc, lib/authclient: grpc libprotobuf-c
# (a static archive brings in only the modules a program calls, so the others need nothing).
LIB_SRC      := $(wildcard lib/*.c) $(BUILD)/gen/proto/auth/v1/auth.pb-c.c
LIB_LIBS     := $(call pkg_libs,$(LIB_PKGS))
test_kafka_PKGS      := rdkafka
test_authclient_PKGS := grpc libprotobuf-c
test_svc_PKGS        := grpc libprotobuf-c

define LIB_template
$(BUILD)/$(1)/libtodo.a: $(patsubst %.c,$(BUILD)/$(1)/%.o,$(LIB_SRC))
	@rm -f $$@
	$$(call say,AR,$$@)ar rcs $$@ $$^
endef
$(foreach v,$(VARIANTS),$(eval $(call LIB_template,$(v))))

# ---- the ops client library (lib/ops/) -------------------------------------------------
# What todo-console, outbox-inspect and trace-view share (gateway, Kafka, outbox, read
# model, Jaeger, trace model, health, tables); a program links it with NAME_LIBA := libops.a.
OPS_SRC      := $(wildcard lib/ops/*.c)
OPS_PKGS     := libcurl libcjson libpq hiredis rdkafka

define OPS_template
$(BUILD)/$(1)/libops.a: $(patsubst %.c,$(BUILD)/$(1)/%.o,$(OPS_SRC))
	@rm -f $$@
	$$(call say,AR,$$@)ar rcs $$@ $$^
endef
$(foreach v,$(VARIANTS),$(eval $(call OPS_template,$(v))))

# ---- programs (services, console, tools) -----------------------------------------------

define PROGRAM_template
$(BUILD)/$(2)/bin/$(1): $(patsubst %.c,$(BUILD)/$(2)/%.o,$($(1)_SRC) $($(1)_GEN)) $(addprefix $(BUILD)/$(2)/,$($(1)_LIBA)) $(BUILD)/$(2)/libtodo.a
	@mkdir -p $$(@D)
	$$(call say,LINK,$$@)$$(CC) $$(CFLAGS) $$($(2)_FLAGS) -o $$@ $$^ $$(call pkg_libs,$$($(1)_PKGS)) $$(LIB_LIBS) $$(SYS_LIBS)
endef
$(foreach p,$(PROGRAMS) $(TEST_PROGRAMS),$(foreach v,$(VARIANTS),$(eval $(call PROGRAM_template,$(p),$(v)))))

# Copied under a temporary name and renamed: a running binary (the stack's) cannot be
# overwritten in place ("Text file busy"), but it can be replaced.
bin/%: $(BUILD)/rel/bin/%
	@mkdir -p bin
	$(call say,CP,$@)cp $< $@.tmp && mv -f $@.tmp $@

# ---- unit tests ------------------------------------------------------------------------
# A test that #includes a program's .c file names that file's packages in NAME_PKGS
# (e.g. test_auth_jwt_PKGS := libjwt in services/auth/module.mk).
UNIT_SRC     := $(wildcard tests/unit/test_*.c)
UNIT_NAMES   := $(patsubst tests/unit/%.c,%,$(UNIT_SRC))

define UNIT_template
$(BUILD)/$(2)/tests/unit/$(1): $(BUILD)/$(2)/tests/unit/$(1).o $(addprefix $(BUILD)/$(2)/,$($(1)_LIBA)) $(BUILD)/$(2)/libtodo.a
	$$(call say,LINK,$$@)$$(CC) $$(CFLAGS) $$($(2)_FLAGS) -o $$@ $$^ $$(call pkg_libs,cmocka $$($(1)_PKGS)) $$(LIB_LIBS) $$(SYS_LIBS)
endef
$(foreach t,$(UNIT_NAMES),$(foreach v,$(VARIANTS),$(eval $(call UNIT_template,$(t),$(v)))))

UNIT_BINS    := $(foreach v,$(VARIANTS),$(addprefix $(BUILD)/$(v)/tests/unit/,$(UNIT_NAMES)))

# ---- fuzz targets (clang + libFuzzer) ----------------------------------------------------
# Each tests/fuzz/fuzz_NAME.c is one libFuzzer binary linked against a clang build of the
# library instrumented for coverage, ASan and UBSan.
FUZZ_CC      := clang
FUZZ_FLAGS   := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

$(BUILD)/fuzz/%.o: %.c | $(GEN_HDR)
	@mkdir -p $(@D)
	$(call say,CC-FUZ,$<)$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(WARN) -pthread $(FUZZ_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/fuzz/libtodo.a: $(patsubst %.c,$(BUILD)/fuzz/%.o,$(LIB_SRC))
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/tests/fuzz/fuzz_%.o $(BUILD)/fuzz/libtodo.a
	$(call say,LINK,$@)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIB_LIBS) $(SYS_LIBS)

.PRECIOUS: $(BUILD)/fuzz/%.o
# generated sources are real outputs, not intermediates make may delete
.SECONDARY: $(GEN_SRC) $(GEN_HDR)

# ---- top-level targets (CONTRACT §1) ---------------------------------------------------
.PHONY: all build build-asan deps up down status run test test-unit test-e2e test-infra test-compose \
        test-k8s compose-up compose-down k8s-up k8s-down bench chaos fuzz clean install

all: build

build: $(GEN_SRC) $(addprefix bin/,$(PROGRAMS))

build-asan: $(GEN_SRC) $(addprefix $(BUILD)/asan/bin/,$(PROGRAMS))

deps:
	@infra/deps.sh

up: build
	@infra/local/stack up

down:
	@infra/local/stack down

status:
	@infra/local/stack status

run: deps
	@$(MAKE) --no-print-directory up
	@if [ -x bin/todo-console ]; then exec bin/todo-console; \
	 else echo "todo-console is not built yet; the stack is up: see 'make status'"; fi

test: deps
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-infra
	@$(MAKE) --no-print-directory test-e2e
	@$(MAKE) --no-print-directory test-compose KEEP_ENGINE=1
	@$(MAKE) --no-print-directory test-k8s

# Unit tests run twice: the optimised build and the ASan+UBSan build; then every fuzz
# target replays its committed seed corpus once (a regression check, not a fuzzing run).
test-unit: $(UNIT_BINS) $(FUZZ_BINS)
	@tests/unit/run.sh $(UNIT_BINS)
	@for f in $(FUZZ_BINS); do n=$${f##*/fuzz_}; \
	   $$f -runs=0 tests/fuzz/corpus/$$n >/dev/null 2>&1 || { echo "fuzz seed replay failed: $$f"; exit 1; }; \
	 done; echo "fuzz seeds: $(words $(FUZZ_BINS)) targets replayed"

# End-to-end: the real stack, real servers, independent clients (pytest). The stack runs
# the services' ASan+UBSan builds; any sanitizer report in their logs fails the suite.
# The tests run in a random order (pytest-random-order: modules shuffled, and the tests
# inside each), from a seed printed first; `make test-e2e E2E_SEED=N` repeats an order.
# The sanitizer check runs whatever pytest said: it stops the services first (leaks are
# reported at exit), and a failing suite must not hide a sanitizer report.
E2E_SEED     := $(shell od -An -N2 -tu2 /dev/urandom | tr -d ' ')
test-e2e: build build-asan $(addprefix $(BUILD)/asan/bin/,$(TEST_PROGRAMS))
	@tests/e2e/sanitizer-check.sh mark
	@TODO_BIN_DIR=$(BUILD)/asan/bin infra/local/stack up
	@echo "e2e: random order, seed $(E2E_SEED) (make test-e2e E2E_SEED=$(E2E_SEED) repeats it)"
	@rc=0; TODO_BIN_DIR=$(BUILD)/asan/bin $(PYTHON) -m pytest -q -p random_order \
	   --random-order-seed=$(E2E_SEED) tests/e2e || rc=$$?; \
	 TODO_BIN_DIR=$(BUILD)/asan/bin tests/e2e/sanitizer-check.sh check || rc=1; exit $$rc

# Docker Compose and Kubernetes files, checked without Docker or a cluster (tests/infra).
test-infra: build
	@$(PYTHON) -m pytest -q tests/infra

# The whole system in Docker containers (tests/compose), when a Docker engine can run here:
# otherwise one line says why and the suite is skipped (TODO_REQUIRE_DOCKER=1, as in CI,
# makes that a failure). Afterwards dockerd is stopped if `make deps` started it and
# nothing else uses it (infra/docker/engine.sh).
test-compose:
	@if ! out=$$(infra/docker/engine.sh start 2>&1); then \
	     echo "compose suite skipped: $$(echo "$$out" | grep -m1 -E 'no Docker engine|needs root|no docker' || echo "$$out" | tail -1)"; \
	     [ "$${TODO_REQUIRE_DOCKER:-0}" = 1 ] && { echo "TODO_REQUIRE_DOCKER=1: a Docker engine is required"; exit 1; }; \
	     exit 0; \
	 fi; \
	 infra/docker/engine.sh lock $(PYTHON) -m pytest -q -rs -s tests/compose; st=$$?; \
	 [ -n "$(KEEP_ENGINE)" ] || infra/docker/engine.sh stop-if-started; exit $$st

# infra/k8s on a real single-node Kubernetes cluster built from source (tests/k8s): the node
# runs in a container (infra/kube/cluster). Where no node can run (no Docker engine, a kernel
# or engine that refuses the node's namespaces) one line says why and the suite is skipped;
# TODO_REQUIRE_K8S=1 (CI) makes that a failure. dockerd is stopped afterwards as for compose
# (`make test` keeps it between the two suites: KEEP_ENGINE=1).
test-k8s:
	@if ! why=$$(infra/kube/cluster check 2>&1); then \
	     echo "k8s suite skipped: $$(echo "$$why" | tail -1)"; \
	     [ "$${TODO_REQUIRE_K8S:-0}" = 1 ] && { echo "TODO_REQUIRE_K8S=1: a Kubernetes node is required"; exit 1; }; \
	     exit 0; \
	 fi; \
	 infra/docker/engine.sh lock $(PYTHON) -m pytest -q -rs -s tests/k8s; st=$$?; \
	 [ -n "$(KEEP_ENGINE)" ] || infra/docker/engine.sh stop-if-started; exit $$st

# `docker compose up -d` with everything it needs (README "Docker Compose"); the same
# STACK_PORT_OFFSET and port variables as the local stack.
compose-up: deps
	@infra/docker/compose up

compose-down:
	@infra/docker/compose down $(if $(filter 1 yes true,$(VOLUMES)),-v)

# A single-node Kubernetes cluster (built from source by make deps) in a container, running
# infra/k8s with the compose build's images (README "Kubernetes"); k8s-down removes it.
k8s-up: deps
	@infra/kube/cluster up

k8s-down:
	@infra/kube/cluster down

bench: build $(addprefix $(BUILD)/rel/bin/,$(TEST_PROGRAMS))
	@infra/local/stack up
	@tests/bench/run.sh

# Fault-injection runs (tests/chaos/, ≤ 20 minutes; not part of `make test`): each scenario
# against the real stack with an independent checker; the figures go to RELIABILITY.md.
# CHAOS_SCENARIOS="kafka_stop redis_hang" runs only those (the table then goes to .run/chaos/).
chaos: build build-asan
	@tests/chaos/run.sh

fuzz: $(FUZZ_BINS)
	@tests/fuzz/run.sh $(FUZZ_BINS)

# Programs, man pages and bash completion under PREFIX (DESTDIR for packaging).
PREFIX       ?= /usr/local
install: build
	@install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	$(call say,INSTALL,$(PREFIX))install -m 0755 $(addprefix bin/,$(PROGRAMS)) $(DESTDIR)$(PREFIX)/bin/
	@$(if $(MAN_PAGES),install -m 0644 $(MAN_PAGES) $(DESTDIR)$(PREFIX)/share/man/man1/)
	@for p in $(COMPLETIONS); do \
	   bin/$$p completion bash >$(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$p || exit 1; done

clean:
	rm -rf $(BUILD) bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
