# auth-service: users, ES256 access tokens, rotating refresh tokens, gRPC ValidateToken.
PROGRAMS           += auth-service
auth-service_SRC   := $(wildcard services/auth/*.c)
auth-service_PKGS  := grpc libprotobuf-c libjwt libsodium libcrypto libcjson
auth-service_GEN   := $(BUILD)/gen/proto/grpc/health/v1/health.pb-c.c

# auth-bench: a small gRPC core client that measures ValidateToken (tests/bench/auth.sh);
# a test program, built into build/rel/bin, not bin/.
TEST_PROGRAMS      += auth-bench
auth-bench_SRC     := tests/bench/auth_bench.c
auth-bench_PKGS    := grpc libprotobuf-c

# Unit tests that #include a service .c file link that file's packages too.
test_auth_jwt_PKGS     := libjwt libsodium libcrypto libcjson
test_auth_pass_PKGS    := libsodium
test_auth_refresh_PKGS := libsodium
test_auth_grpc_PKGS    := grpc libprotobuf-c libjwt libsodium libcrypto libcjson
