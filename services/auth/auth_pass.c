/* auth_pass — password policy and argon2id hashing; see auth_pass.h. */
#include "auth_pass.h"

#include <errno.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static unsigned long long g_ops;
static size_t g_mem; /* bytes */
static sem_t g_slots;
static bool g_ready;
static char g_decoy[AUTH_PASS_HASH_MAX];

static long utf8_printable_chars(const unsigned char *s, size_t len);
static void slot_take(void);
static void slot_give(void);

int auth_pass_init(unsigned long long opslimit, size_t memlimit_kib, unsigned concurrency,
                   char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    size_t mem = memlimit_kib * 1024;
    if (opslimit < crypto_pwhash_OPSLIMIT_MIN || opslimit > crypto_pwhash_OPSLIMIT_MAX ||
        mem < crypto_pwhash_MEMLIMIT_MIN || memlimit_kib > SIZE_MAX / 1024) {
        snprintf(err, errlen, "argon2id costs out of bounds (opslimit %llu, memlimit %zu KiB)",
                 opslimit, memlimit_kib);
        return -1;
    }
    if (concurrency == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        concurrency = n > 0 ? (unsigned)n : 1;
    }
    if (g_ready) auth_pass_shutdown();
    if (sem_init(&g_slots, 0, concurrency) < 0) {
        snprintf(err, errlen, "sem_init: %s", strerror(errno));
        return -1;
    }
    g_ops = opslimit;
    g_mem = mem;
    g_ready = true;
    unsigned char rnd[32];
    randombytes_buf(rnd, sizeof rnd);
    if (crypto_pwhash_str(g_decoy, (const char *)rnd, sizeof rnd, g_ops, g_mem) != 0) {
        snprintf(err, errlen, "argon2id failed (not enough memory for %zu KiB?)", memlimit_kib);
        auth_pass_shutdown();
        return -1;
    }
    return 0;
}

void auth_pass_shutdown(void)
{
    if (!g_ready) return;
    sem_destroy(&g_slots);
    g_ready = false;
}

static void slot_take(void)
{
    while (sem_wait(&g_slots) < 0 && errno == EINTR)
        ;
}

static void slot_give(void)
{
    sem_post(&g_slots);
}

/* The number of code points of s when it is valid UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF) with no C0 control character and no DEL; else -1. */
static long utf8_printable_chars(const unsigned char *s, size_t len)
{
    size_t i = 0;
    long chars = 0;
    while (i < len) {
        unsigned char c = s[i];
        chars++;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) return -1;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0)
            n = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            n = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            n = 3, cp = c & 0x07, min = 0x10000;
        else
            return -1;
        if (n >= len - i) return -1; /* truncated sequence */
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return -1;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
        i += n + 1;
    }
    return chars;
}

const char *auth_pass_policy(const char *pw, size_t len)
{
    /* counted in characters (NIST SP 800-63B), as a client or an API description counts */
    long chars = len <= AUTH_PASS_MAX_BYTES ? utf8_printable_chars((const unsigned char *)pw, len)
                                            : AUTH_PASS_MAX + 1;
    if (chars < 0) return "password must be valid UTF-8 without control characters";
    if (chars < AUTH_PASS_MIN) return "password must be at least 8 characters long";
    if (chars > AUTH_PASS_MAX) return "password must be at most 1024 characters long";
    return NULL;
}

int auth_pass_hash(const char *pw, size_t len, char out[AUTH_PASS_HASH_MAX])
{
    slot_take();
    int rc = crypto_pwhash_str(out, pw, len, g_ops, g_mem);
    slot_give();
    return rc == 0 ? 0 : -1;
}

bool auth_pass_verify(const char *hash, const char *pw, size_t len)
{
    /* crypto_pwhash_str_verify reads the costs from the hash itself; refuse anything
     * that is not argon2id before paying for it. */
    if (strncmp(hash, "$argon2id$", 10) != 0) return false;
    slot_take();
    int rc = crypto_pwhash_str_verify(hash, pw, len);
    slot_give();
    return rc == 0;
}

bool auth_pass_verify_none(const char *pw, size_t len)
{
    (void)auth_pass_verify(g_decoy, pw, len);
    return false;
}

bool auth_pass_needs_rehash(const char *hash)
{
    return crypto_pwhash_str_needs_rehash(hash, g_ops, g_mem) != 0;
}
