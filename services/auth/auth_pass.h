/* auth_pass — password policy and argon2id hashing (libsodium crypto_pwhash_str).
 *
 * Hashing costs ~0.1 s of CPU and opslimit × memlimit of memory, so at most `concurrency`
 * hashes run at once (a counting semaphore); the rest wait their turn instead of letting
 * 200 simultaneous logins allocate 200 × 64 MiB. A password is never logged or kept:
 * callers pass it in and forget it. */
#ifndef AUTH_PASS_H
#define AUTH_PASS_H

#include <stdbool.h>
#include <stddef.h>

#include <sodium.h>

#define AUTH_PASS_MIN 8    /* characters (code points) */
#define AUTH_PASS_MAX 1024 /* characters */
#define AUTH_PASS_MAX_BYTES (AUTH_PASS_MAX * 4)
#define AUTH_PASS_HASH_MAX crypto_pwhash_STRBYTES

/* Sets the argon2id cost for new hashes (opslimit passes over memlimit_kib KiB) and the
 * number of hashes computed at once (0 = number of CPUs). Also builds the decoy hash that
 * auth_pass_verify_none checks against. Call once before other threads use this module.
 * Returns 0, or -1 with the reason in err (libsodium unusable, costs out of bounds). */
int auth_pass_init(unsigned long long opslimit, size_t memlimit_kib, unsigned concurrency,
                   char *err, size_t errlen);

/* Releases what auth_pass_init took. */
void auth_pass_shutdown(void);

/* The policy for a new password: AUTH_PASS_MIN..AUTH_PASS_MAX characters of valid UTF-8
 * without NUL or other control characters. Returns NULL if acceptable, else a message
 * for the client ("password must be at least 8 characters long"). */
const char *auth_pass_policy(const char *pw, size_t len);

/* Hashes pw into out (an "$argon2id$…" string). Returns 0, or -1 (out of memory). */
int auth_pass_hash(const char *pw, size_t len, char out[AUTH_PASS_HASH_MAX]);

/* True if pw matches hash. A hash that is not a valid argon2 string never matches. */
bool auth_pass_verify(const char *hash, const char *pw, size_t len);

/* Spends the time of a verify against a decoy hash, for unknown users, so the answer's
 * timing does not reveal whether an account exists. Always returns false. */
bool auth_pass_verify_none(const char *pw, size_t len);

/* True if hash was made with other costs than the configured ones (rehash at login). */
bool auth_pass_needs_rehash(const char *hash);

#endif
