/* auth_req — reading what a client sent: string fields of a JSON body and the bearer
 * token of an Authorization header. Kept apart from the handlers so it can be tested
 * without a database. */
#ifndef AUTH_REQ_H
#define AUTH_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

typedef struct auth_field {
    const char *name; /* in: the JSON member */
    const char *val;  /* out: its string value (owned by the request) */
    size_t len;       /* out: its length in bytes */
} auth_field_t;

/* Reads the named string members of the request's JSON object body. Any problem (no body,
 * not an object, a \\u0000 escape, a member missing or not a string) is answered 400 with
 * the contract's error body (invalid_request / invalid_json) and returns -1. */
int auth_req_fields(http_req *req, auth_field_t *f, size_t n);

/* True if a JSON text contains a \\u0000 escape inside a string: cJSON would cut the string
 * there, so "pass\\u0000anything" would log in as "pass". */
bool auth_req_has_nul_escape(const char *json, size_t len);

/* The token of an Authorization header value: "Bearer" (any case), blanks, the token,
 * optional trailing blanks. Returns a pointer into header and the length, or NULL. */
const char *auth_req_bearer(const char *header, size_t *len);

#endif
