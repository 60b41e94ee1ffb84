/* auth_req — reading what a client sent: the string fields of a JSON body (bearer tokens
 * are read by lib/http's one reader). Kept apart from the handlers so it can be tested
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
 * not an object, a member missing, repeated or not a string, a member not named in f) is
 * answered 400 with the contract's error body (invalid_request) and returns -1. A \\u0000
 * escape never gets here: lib/http refuses it for every body. */
int auth_req_fields(http_req *req, auth_field_t *f, size_t n);

#endif
