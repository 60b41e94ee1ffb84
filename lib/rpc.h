/* rpc — gRPC unary calls on gRPC core's C API, for every client of the system (the
 * ValidateToken client in lib/authclient, auth-service's tests, the ValidateToken bench).
 *
 *   rpc_channel_t *ch = rpc_channel_new("127.0.0.1:28051", err, sizeof err);
 *   void *resp; size_t n;
 *   int st = rpc_unary(ch, "/todo.auth.v1.AuthService/ValidateToken", req, len, 1000,
 *                      traceparent, &resp, &n);
 *   if (st == RPC_OK) { ...unpack resp...; free(resp); } else log rpc_status_name(st)
 *   rpc_channel_free(ch);
 *
 * gRPC core 1.51: a channel connects at once and reconnects by itself (a thread per channel
 * drives its connection: see rpc.c, and why it must); every call gets its
 * own pluck completion queue and blocks the calling thread until its batch completes, which
 * the call's deadline bounds (HTTP handlers run a thread per connection, so blocking is the
 * model). A channel is safe to share between threads. grpc_init/grpc_shutdown are counted
 * by gRPC itself: each channel holds one reference. */
#ifndef TODO_RPC_H
#define TODO_RPC_H

#include <stddef.h>
#include <stdint.h>

#define RPC_OK 0 /* grpc_status_code GRPC_STATUS_OK; the others are gRPC's numbers */

typedef struct rpc_channel rpc_channel_t;

/* An insecure channel to target ("host:port"), reconnecting fast (100 ms .. 500 ms backoff, see rpc.c)
 * so a restarted server is used again within about a second, and without gRPC's own
 * retries (callers decide). NULL with err when the channel cannot be made. */
rpc_channel_t *rpc_channel_new(const char *target, char *err, size_t errlen);

/* Destroys the channel (calls in flight must be over). NULL is ignored. */
void rpc_channel_free(rpc_channel_t *ch);

/* The channel's connectivity as text: IDLE, CONNECTING, READY, TRANSIENT_FAILURE, SHUTDOWN. */
const char *rpc_channel_state(rpc_channel_t *ch);

/* One unary call of method ("/pkg.Service/Method", the full gRPC path) with the serialised request (len bytes)
 * and the W3C traceparent as metadata when not NULL. Blocks at most deadline_ms (plus one
 * second of guard against a stuck core). Returns the gRPC status code; with RPC_OK,
 * *resp and *resp_len hold the raw answer (malloc'd, the caller frees; NULL/0 when the server
 * sent none). A call refused locally is INTERNAL, out of memory RESOURCE_EXHAUSTED. */
int rpc_unary(rpc_channel_t *ch, const char *method, const void *req, size_t len,
              int64_t deadline_ms, const char *traceparent, void **resp, size_t *resp_len);

/* The canonical name of a gRPC status code ("DEADLINE_EXCEEDED"), "UNKNOWN" past the list. */
const char *rpc_status_name(int code);

#endif
