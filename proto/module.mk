# protobuf-c code for the .proto files, generated into build/gen/proto/… and compiled
# into the programs that name them in their NAME_GEN. Objects wait for the headers.
PROTO_FILES  := proto/auth/v1/auth.proto proto/grpc/health/v1/health.proto
PROTO_C      := $(patsubst %.proto,$(BUILD)/gen/%.pb-c.c,$(PROTO_FILES))
PROTO_H      := $(PROTO_C:.c=.h)
GEN_SRC      += $(PROTO_C)
GEN_HDR      += $(PROTO_H)

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: %.proto
	@mkdir -p $(BUILD)/gen
	$(call say,PROTOC,$<)protoc-c --proto_path=. --c_out=$(BUILD)/gen $<
