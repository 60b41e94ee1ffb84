/* auth_grpc — the gRPC server (gRPC core C API + protobuf-c), CONTRACT §4:
 *
 *   /todo.auth.v1.AuthService/ValidateToken   the token checked by auth_jwt_verify
 *   /grpc.health.v1.Health/Check              SERVING ("" or "todo.auth.v1.AuthService"),
 *                                             NOT_SERVING while stopping, NOT_FOUND otherwise
 *   anything else                             UNIMPLEMENTED (answered, never left to hang)
 *
 * Model: one completion queue, `threads` workers calling grpc_completion_queue_next, and a
 * fixed number of call slots, each a small state machine (requested → answering →
 * requested again). A slot is one call in flight, so `max_inflight` bounds the calls being
 * answered; further calls wait inside gRPC core until a slot frees or their deadline passes.
 * A call whose deadline has already passed when its slot picks it up is answered
 * DEADLINE_EXCEEDED without doing the work. A `traceparent` metadata entry continues the
 * caller's trace: the call runs in a SERVER span, a child of it. */
#ifndef AUTH_GRPC_H
#define AUTH_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "auth_jwt.h"
#include "auth_metrics.h"

typedef struct auth_grpc auth_grpc_t;

typedef struct auth_grpc_config {
    const char *listen;      /* "host:port"; port 0 picks a free one (auth_grpc_port) */
    unsigned threads;        /* completion-queue workers; 0: 2 */
    unsigned max_inflight;   /* call slots for ValidateToken; 0: 64 */
    unsigned max_message;    /* largest request message in bytes; 0: 256 KiB */
    const auth_jwt_t *jwt;   /* must outlive the server */
    auth_metrics_t *metrics; /* may be NULL */
} auth_grpc_config_t;

/* Initialises gRPC (grpc_init; its log lines go through lib/log), binds, starts the
 * workers. Returns 0 with the server in *out, or -1 with err (address unusable or in use). */
int auth_grpc_start(const auth_grpc_config_t *cfg, auth_grpc_t **out, char *err, size_t errlen);

/* The port bound. */
int auth_grpc_port(const auth_grpc_t *srv);

/* True until auth_grpc_stop is called (for the /ready check). */
int auth_grpc_ready_check(void *arg, char *err, size_t errlen);

/* Graceful stop: no new calls; calls in progress get up to drain_ms to finish, then are
 * cancelled; workers are joined, everything freed, grpc_shutdown. NULL is ignored. */
void auth_grpc_stop(auth_grpc_t *srv, unsigned drain_ms);

/* The ValidateToken logic on serialized messages, without gRPC (tests, and the server):
 * unpacks a ValidateTokenRequest from in, verifies its token at time now and packs the
 * ValidateTokenResponse into a malloc'd *out. Returns 0, or -1 if in is not a valid
 * request message (the call is then answered INVALID_ARGUMENT). *st gets the outcome. */
int auth_grpc_validate_msg(const auth_jwt_t *jwt, const uint8_t *in, size_t inlen, int64_t now,
                           uint8_t **out, size_t *outlen, auth_tok_status_t *st);

#endif
