/* auth_jwt — ES256 access tokens: the signing key, issuing, strict validation, JWKS.
 *
 *   char *pem; bool created;
 *   auth_jwt_key_load(env_pem, state_dir, &pem, &created, err, sizeof err);
 *   auth_jwt_new(pem, strlen(pem), &opts, &jwt, err, sizeof err);
 *   auth_jwt_issue(jwt, user_id, email, time(NULL), &token, &exp, err, sizeof err);
 *   auth_tok_status_t st = auth_jwt_verify(jwt, token, strlen(token), time(NULL), &claims);
 *
 * libjwt 1.10 signs. Validation is strict and does not rely on libjwt (DEPENDENCIES.md:
 * it accepts HS256 MAC'd with the public key, and checks no claims): the header must say
 * alg ES256 and name our kid (so alg:none or HS256 never get near a key), the signature
 * must be exactly 64 bytes and verify with our EC key (libcrypto, key parsed once: libjwt
 * re-parses the PEM on every call, 9x slower), and exp/nbf/iat/iss/aud/sub/email are
 * checked with their JSON types. An auth_jwt_t is immutable after auth_jwt_new and may be
 * used from any number of threads. */
#ifndef AUTH_JWT_H
#define AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Longest token auth_jwt_verify looks at; ours are about 450 bytes. */
#define AUTH_JWT_MAX_LEN 4096
/* The key file created in the state directory on first start. */
#define AUTH_JWT_KEY_FILE "jwt-es256.pem"

typedef struct auth_jwt auth_jwt_t;

typedef struct auth_jwt_opts {
    const char *issuer;   /* iss written and required (copied) */
    const char *audience; /* aud written and required (copied) */
    int64_t ttl_s;        /* access token lifetime in seconds */
    int64_t leeway_s;     /* clock skew tolerated on exp, nbf and iat */
} auth_jwt_opts_t;

/* Outcome of auth_jwt_verify; auth_tok_reason names each one for clients and metrics. */
typedef enum {
    AUTH_TOK_VALID = 0,
    AUTH_TOK_MISSING,       /* empty token */
    AUTH_TOK_TOO_LARGE,     /* longer than AUTH_JWT_MAX_LEN */
    AUTH_TOK_MALFORMED,     /* not three base64url segments of JSON objects */
    AUTH_TOK_BAD_ALG,       /* header alg is not ES256 (none, HS256, RS256 …) */
    AUTH_TOK_UNKNOWN_KEY,   /* kid missing or not one of ours */
    AUTH_TOK_BAD_SIGNATURE, /* signature does not verify with our key */
    AUTH_TOK_EXPIRED,       /* now >= exp + leeway */
    AUTH_TOK_NOT_YET_VALID, /* nbf or iat later than now + leeway */
    AUTH_TOK_BAD_ISSUER,    /* iss is not ours */
    AUTH_TOK_BAD_AUDIENCE,  /* aud is not, or does not contain, ours */
    AUTH_TOK_BAD_CLAIMS,    /* a required claim is missing or has the wrong type */
    AUTH_TOK_STATUS_COUNT
} auth_tok_status_t;

typedef struct auth_claims {
    int64_t user_id; /* sub, as a number */
    char email[256];
    int64_t iat;
    int64_t exp;
} auth_claims_t;

/* The short snake_case name of a status ("valid", "expired", "bad_signature", …). */
const char *auth_tok_reason(auth_tok_status_t st);

/* Finds the private key: env_pem if it is non-empty (a PEM EC P-256 private key), else
 * STATE_DIR/jwt-es256.pem, which is created (directory 0700, file 0600, written under a
 * temporary name and linked into place so concurrent starters agree on one key) when it
 * does not exist. An existing key file readable by group or others is refused. Returns 0
 * with a malloc'd NUL-terminated PEM in *pem (wipe and free it with auth_jwt_pem_free) and
 * *created telling whether a new key was generated, or -1 with the reason in err. */
int auth_jwt_key_load(const char *env_pem, const char *state_dir, char **pem, bool *created,
                      char *err, size_t errlen);

/* Wipes and frees a PEM returned by auth_jwt_key_load. NULL is ignored. */
void auth_jwt_pem_free(char *pem);

/* Generates a fresh EC P-256 private key as PKCS#8 PEM (malloc'd; free with
 * auth_jwt_pem_free). Returns NULL if OpenSSL fails. */
char *auth_jwt_generate_pem(void);

/* Builds the signer/verifier from a PEM private key (EC P-256 only). Derives the public
 * key and the kid (RFC 7638 thumbprint). Returns 0, or -1 with the reason in err. */
int auth_jwt_new(const char *pem, size_t len, const auth_jwt_opts_t *opts, auth_jwt_t **out,
                 char *err, size_t errlen);

void auth_jwt_free(auth_jwt_t *jwt);

/* The kid written in every token header and in the JWKS. */
const char *auth_jwt_kid(const auth_jwt_t *jwt);

/* The configured access token lifetime in seconds. */
int64_t auth_jwt_ttl(const auth_jwt_t *jwt);

/* Appends the JWK Set ({"keys":[{kty,crv,x,y,kid,use,alg}]}) to out. 0 or -1 (no memory). */
int auth_jwt_jwks(const auth_jwt_t *jwt, buf_t *out);

/* Signs an access token for the user, issued at now and expiring at now + ttl (written to
 * *exp). Returns 0 with a malloc'd token in *token (free()), or -1 with err. */
int auth_jwt_issue(const auth_jwt_t *jwt, int64_t user_id, const char *email, int64_t now,
                   char **token, int64_t *exp, char *err, size_t errlen);

/* Checks a token (len bytes, need not be NUL-terminated) at time now. On AUTH_TOK_VALID
 * fills *out; otherwise *out is zeroed. Never trusts anything from the token before the
 * signature is verified, except what it needs to reject it. */
auth_tok_status_t auth_jwt_verify(const auth_jwt_t *jwt, const char *token, size_t len, int64_t now,
                                  auth_claims_t *out);

#endif
