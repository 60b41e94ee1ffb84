/* Unit tests for services/auth/auth_jwt.c: issuing, strict validation against every forgery
 * the issue lists, key files, JWKS. Keys are generated at run time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../services/auth/auth_jwt.c"

#include <openssl/hmac.h>
#include <openssl/rsa.h>

#define NOW 1800000000LL
#define ISS "auth-service"
#define AUD "todo-system"

static char *g_pem;   /* the service key */
static char *g_other; /* an unrelated key */
static auth_jwt_t *g_jwt;

static int setup(void **state)
{
    (void)state;
    char err[256];
    g_pem = auth_jwt_generate_pem();
    g_other = auth_jwt_generate_pem();
    auth_jwt_opts_t o = {ISS, AUD, 900, 30};
    if (!g_pem || !g_other || auth_jwt_new(g_pem, strlen(g_pem), &o, &g_jwt, err, sizeof err))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    auth_jwt_free(g_jwt);
    auth_jwt_pem_free(g_pem);
    auth_jwt_pem_free(g_other);
    return 0;
}

static void b64(const void *data, size_t n, char *out, size_t outlen)
{
    sodium_bin2base64(out, outlen, data, n, B64URL);
}

/* header.payload.signature with an ES256 signature by pem (as any JWT library would). */
static char *sign_es256(const char *pem, const char *header, const char *payload)
{
    static char tok[8192];
    char h[2048], p[4096];
    b64(header, strlen(header), h, sizeof h);
    b64(payload, strlen(payload), p, sizeof p);
    snprintf(tok, sizeof tok, "%s.%s", h, p);
    char err[128];
    EVP_PKEY *k = pkey_from_pem(pem, strlen(pem), err, sizeof err);
    assert_non_null(k);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t derlen = sizeof der;
    assert_int_equal(EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(c, der, &derlen, (unsigned char *)tok, strlen(tok)), 1);
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    const unsigned char *dp = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &dp, (long)derlen);
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    unsigned char raw[64];
    BN_bn2binpad(r, raw, 32);
    BN_bn2binpad(s, raw + 32, 32);
    ECDSA_SIG_free(es);
    char sig[100];
    b64(raw, 64, sig, sizeof sig);
    strcat(tok, ".");
    strcat(tok, sig);
    return tok;
}

static char *header_ok(void)
{
    static char h[256];
    snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             auth_jwt_kid(g_jwt));
    return h;
}

static char *payload(const char *iss, const char *aud, long long iat, long long exp,
                     const char *extra)
{
    static char p[1024];
    snprintf(p, sizeof p,
             "{\"sub\":\"42\",\"email\":\"a@example.com\",\"iss\":\"%s\",\"aud\":\"%s\","
             "\"iat\":%lld,\"exp\":%lld%s}",
             iss, aud, iat, exp, extra ? extra : "");
    return p;
}

static auth_tok_status_t check(const char *tok)
{
    auth_claims_t c;
    return auth_jwt_verify(g_jwt, tok, strlen(tok), NOW, &c);
}

/* ---- issuing and the happy path ------------------------------------------------------- */

static void test_issue_then_verify(void **state)
{
    (void)state;
    char *tok, err[128];
    int64_t exp;
    assert_int_equal(auth_jwt_issue(g_jwt, 7, "bob@example.com", NOW, &tok, &exp, err, sizeof err),
                     0);
    assert_int_equal(exp, NOW + 900);
    auth_claims_t c;
    assert_int_equal(auth_jwt_verify(g_jwt, tok, strlen(tok), NOW, &c), AUTH_TOK_VALID);
    assert_int_equal(c.user_id, 7);
    assert_string_equal(c.email, "bob@example.com");
    assert_int_equal(c.exp, NOW + 900);
    assert_int_equal(c.iat, NOW);
    /* the header names our kid and ES256 (decoded independently of the verifier) */
    const char *dot = strchr(tok, '.');
    unsigned char hdr[512];
    size_t n;
    assert_int_equal(
        sodium_base642bin(hdr, sizeof hdr - 1, tok, (size_t)(dot - tok), NULL, &n, NULL, B64URL),
        0);
    hdr[n] = 0;
    assert_non_null(strstr((char *)hdr, "\"alg\":\"ES256\""));
    assert_non_null(strstr((char *)hdr, auth_jwt_kid(g_jwt)));
    /* valid until exp + leeway, not at it */
    assert_int_equal(auth_jwt_verify(g_jwt, tok, strlen(tok), NOW + 900 + 29, &c), AUTH_TOK_VALID);
    assert_int_equal(auth_jwt_verify(g_jwt, tok, strlen(tok), NOW + 900 + 30, &c),
                     AUTH_TOK_EXPIRED);
    assert_int_equal(c.user_id, 0); /* claims cleared on failure */
    free(tok);
}

static void test_two_tokens_differ_by_jti(void **state)
{
    (void)state;
    char *a, *b, err[128];
    int64_t exp;
    assert_int_equal(auth_jwt_issue(g_jwt, 1, "a@example.com", NOW, &a, &exp, err, sizeof err), 0);
    assert_int_equal(auth_jwt_issue(g_jwt, 1, "a@example.com", NOW, &b, &exp, err, sizeof err), 0);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_hand_signed_valid_token_accepted(void **state)
{
    (void)state; /* proves the forgeries below fail for their flaw, not for the helper */
    assert_int_equal(check(sign_es256(g_pem, header_ok(), payload(ISS, AUD, NOW, NOW + 60, NULL))),
                     AUTH_TOK_VALID);
    char extra_aud[256];
    snprintf(extra_aud, sizeof extra_aud,
             "{\"sub\":\"42\",\"email\":\"a@example.com\",\"iss\":\"%s\",\"aud\":[\"x\",\"%s\"],"
             "\"iat\":%lld,\"exp\":%lld}",
             ISS, AUD, NOW, NOW + 60);
    assert_int_equal(check(sign_es256(g_pem, header_ok(), extra_aud)), AUTH_TOK_VALID);
}

/* ---- forgeries ------------------------------------------------------------------------ */

static void test_alg_none_rejected(void **state)
{
    (void)state;
    char h[64], p[1024], tok[2048];
    const char *hdr = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    const char *pl = payload(ISS, AUD, NOW, NOW + 60, NULL);
    b64(hdr, strlen(hdr), h, sizeof h);
    b64(pl, strlen(pl), p, sizeof p);
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    assert_int_equal(check(tok), AUTH_TOK_MALFORMED); /* empty signature segment */
    snprintf(tok, sizeof tok, "%s.%s.AAAA", h, p);
    assert_int_equal(check(tok), AUTH_TOK_BAD_ALG);
    /* "None", "ES256 " and a missing alg are not ES256 either */
    const char *variants[] = {"{\"alg\":\"None\"}", "{\"alg\":\"ES256 \"}", "{\"typ\":\"JWT\"}",
                              "{\"alg\":null}", "{\"alg\":[\"ES256\"]}"};
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        b64(variants[i], strlen(variants[i]), h, sizeof h);
        snprintf(tok, sizeof tok, "%s.%s.AAAA", h, p);
        assert_int_equal(check(tok), AUTH_TOK_BAD_ALG);
    }
}

/* The classic confusion: HS256 with the public key (PEM text) as the HMAC secret. */
static void test_hs256_with_public_key_rejected(void **state)
{
    (void)state;
    char err[128];
    EVP_PKEY *k = pkey_from_pem(g_pem, strlen(g_pem), err, sizeof err);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *pub;
    long publen = BIO_get_mem_data(b, &pub);
    char hdr[256], h[512], p[1024], input[2048], sig[64], tok[4096];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             auth_jwt_kid(g_jwt));
    const char *pl = payload(ISS, AUD, NOW, NOW + 60, NULL);
    b64(hdr, strlen(hdr), h, sizeof h);
    b64(pl, strlen(pl), p, sizeof p);
    snprintf(input, sizeof input, "%s.%s", h, p);
    unsigned char mac[32];
    unsigned int maclen = 32;
    HMAC(EVP_sha256(), pub, (int)publen, (unsigned char *)input, strlen(input), mac, &maclen);
    b64(mac, 32, sig, sizeof sig);
    snprintf(tok, sizeof tok, "%s.%s", input, sig);
    assert_int_equal(check(tok), AUTH_TOK_BAD_ALG);
    BIO_free(b);
    EVP_PKEY_free(k);
}

static void test_signature_from_another_key_rejected(void **state)
{
    (void)state; /* same kid in the header, so only the signature check can catch it */
    assert_int_equal(
        check(sign_es256(g_other, header_ok(), payload(ISS, AUD, NOW, NOW + 60, NULL))),
        AUTH_TOK_BAD_SIGNATURE);
}

static void test_unknown_or_missing_kid_rejected(void **state)
{
    (void)state;
    const char *pl = payload(ISS, AUD, NOW, NOW + 60, NULL);
    assert_int_equal(check(sign_es256(g_pem, "{\"alg\":\"ES256\",\"kid\":\"other\"}", pl)),
                     AUTH_TOK_UNKNOWN_KEY);
    assert_int_equal(check(sign_es256(g_pem, "{\"alg\":\"ES256\"}", pl)), AUTH_TOK_UNKNOWN_KEY);
}

static void test_crit_and_bad_typ_rejected(void **state)
{
    (void)state;
    char h[256];
    const char *pl = payload(ISS, AUD, NOW, NOW + 60, NULL);
    snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"crit\":[\"exp\"]}",
             auth_jwt_kid(g_jwt));
    assert_int_equal(check(sign_es256(g_pem, h, pl)), AUTH_TOK_MALFORMED);
    snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JOSE+JSON\"}",
             auth_jwt_kid(g_jwt));
    assert_int_equal(check(sign_es256(g_pem, h, pl)), AUTH_TOK_MALFORMED);
}

static void test_expired_and_not_yet_valid(void **state)
{
    (void)state;
    assert_int_equal(
        check(sign_es256(g_pem, header_ok(), payload(ISS, AUD, NOW - 3600, NOW - 60, NULL))),
        AUTH_TOK_EXPIRED);
    assert_int_equal(check(sign_es256(g_pem, header_ok(),
                                      payload(ISS, AUD, NOW, NOW + 7200, ",\"nbf\":1800003600"))),
                     AUTH_TOK_NOT_YET_VALID);
    /* issued in the future beyond the leeway */
    assert_int_equal(
        check(sign_es256(g_pem, header_ok(), payload(ISS, AUD, NOW + 3600, NOW + 7200, NULL))),
        AUTH_TOK_NOT_YET_VALID);
    /* within the leeway both ways */
    assert_int_equal(
        check(sign_es256(g_pem, header_ok(),
                         payload(ISS, AUD, NOW + 20, NOW + 60, ",\"nbf\":1800000020"))),
        AUTH_TOK_VALID);
}

static void test_wrong_issuer_or_audience(void **state)
{
    (void)state;
    assert_int_equal(
        check(sign_es256(g_pem, header_ok(), payload("evil", AUD, NOW, NOW + 60, NULL))),
        AUTH_TOK_BAD_ISSUER);
    assert_int_equal(
        check(sign_es256(g_pem, header_ok(), payload(ISS, "other", NOW, NOW + 60, NULL))),
        AUTH_TOK_BAD_AUDIENCE);
    /* a prefix or a case variant is not a match */
    assert_int_equal(
        check(sign_es256(g_pem, header_ok(), payload("auth-servic", AUD, NOW, NOW + 60, NULL))),
        AUTH_TOK_BAD_ISSUER);
    assert_int_equal(
        check(sign_es256(g_pem, header_ok(), payload(ISS, "TODO-SYSTEM", NOW, NOW + 60, NULL))),
        AUTH_TOK_BAD_AUDIENCE);
}

static void test_claim_types_enforced(void **state)
{
    (void)state;
    char p[512];
    const char *bad[] = {
        /* exp as a string */
        "{\"sub\":\"42\",\"email\":\"a@x.io\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
        "\",\"iat\":1800000000,\"exp\":\"1900000000\"}",
        /* exp with a fraction */
        "{\"sub\":\"42\",\"email\":\"a@x.io\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
        "\",\"iat\":1800000000,\"exp\":1800000060.5}",
        /* sub as a number */
        "{\"sub\":42,\"email\":\"a@x.io\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
        "\",\"iat\":1800000000,\"exp\":1800000060}",
        /* sub not decimal / zero / negative / overflow */
        "{\"sub\":\"4x\",\"email\":\"a@x.io\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
        "\",\"iat\":1800000000,\"exp\":1800000060}",
        "{\"sub\":\"0\",\"email\":\"a@x.io\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
        "\",\"iat\":1800000000,\"exp\":1800000060}",
        "{\"sub\":\"-1\",\"email\":\"a@x.io\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
        "\",\"iat\":1800000000,\"exp\":1800000060}",
        "{\"sub\":\"99999999999999999999\",\"email\":\"a@x.io\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
        "\",\"iat\":1800000000,\"exp\":1800000060}",
        /* missing email, missing exp, missing iat */
        "{\"sub\":\"42\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
        "\",\"iat\":1800000000,\"exp\":1800000060}",
        "{\"sub\":\"42\",\"email\":\"a@x.io\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
        "\",\"iat\":1800000000}",
        "{\"sub\":\"42\",\"email\":\"a@x.io\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
        "\",\"exp\":1800000060}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(p, sizeof p, "%s", bad[i]);
        assert_int_equal(check(sign_es256(g_pem, header_ok(), p)), AUTH_TOK_BAD_CLAIMS);
    }
}

static void test_tampered_payload_and_truncated_signature(void **state)
{
    (void)state;
    char *tok, err[128];
    int64_t exp;
    assert_int_equal(auth_jwt_issue(g_jwt, 42, "a@example.com", NOW, &tok, &exp, err, sizeof err),
                     0);
    /* swap the payload for one claiming user 1 */
    char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    const char *pl = payload(ISS, AUD, NOW, NOW + 900, NULL);
    char *p1 = strstr(pl, "\"42\"");
    p1[2] = '1'; /* "41" */
    char pb[1024], forged[4096];
    b64(pl, strlen(pl), pb, sizeof pb);
    snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(d1 - tok), tok, pb, d2);
    assert_int_equal(check(forged), AUTH_TOK_BAD_SIGNATURE);
    /* a signature cut short, by one character or by half */
    snprintf(forged, sizeof forged, "%.*s", (int)strlen(tok) - 1, tok);
    assert_int_not_equal(check(forged), AUTH_TOK_VALID);
    snprintf(forged, sizeof forged, "%.*s", (int)(strlen(tok) - 43), tok);
    assert_int_equal(check(forged), AUTH_TOK_BAD_SIGNATURE);
    /* one flipped bit in the signature */
    snprintf(forged, sizeof forged, "%s", tok);
    forged[strlen(forged) - 5] = forged[strlen(forged) - 5] == 'A' ? 'B' : 'A';
    assert_int_equal(check(forged), AUTH_TOK_BAD_SIGNATURE);
    /* the same token with trailing garbage, a trailing NUL, or inner blanks */
    snprintf(forged, sizeof forged, "%s.x", tok);
    assert_int_equal(check(forged), AUTH_TOK_MALFORMED);
    memcpy(forged, tok, strlen(tok) + 1);
    assert_int_equal(auth_jwt_verify(g_jwt, forged, strlen(tok) + 1, NOW, &(auth_claims_t){0}),
                     AUTH_TOK_MALFORMED);
    free(tok);
}

static void test_not_a_jwt(void **state)
{
    (void)state;
    assert_int_equal(check(""), AUTH_TOK_MISSING);
    const char *junk[] = {"garbage", "a.b",         "a.b.c.d",        "..",     "a..c", ".b.c",
                          "a b.c.d", "eyJ.eyJ.sig", "////.////.////", "a.b.c\n"};
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
        assert_int_equal(check(junk[i]), AUTH_TOK_MALFORMED);
    /* header that is JSON but not an object */
    char h[64], tok[256];
    b64("[1,2]", 5, h, sizeof h);
    snprintf(tok, sizeof tok, "%s.eyJ9.AAAA", h);
    assert_int_equal(check(tok), AUTH_TOK_MALFORMED);
}

static void test_oversized_token(void **state)
{
    (void)state;
    size_t n = 100 * 1024;
    char *big = malloc(n + 1);
    memset(big, 'A', n);
    big[n] = 0;
    big[10] = '.';
    big[20] = '.';
    assert_int_equal(check(big), AUTH_TOK_TOO_LARGE);
    free(big);
}

/* ---- keys and JWKS -------------------------------------------------------------------- */

static void test_key_file_created_once_with_mode_0600(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_auth_jwt_XXXXXX", err[256], path[700];
    assert_non_null(mkdtemp(dir));
    char sub[600];
    snprintf(sub, sizeof sub, "%s/state", dir);
    char *a = NULL, *b = NULL;
    bool created;
    assert_int_equal(auth_jwt_key_load("", sub, &a, &created, err, sizeof err), 0);
    assert_true(created);
    snprintf(path, sizeof path, "%s/%s", sub, AUTH_JWT_KEY_FILE);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(auth_jwt_key_load(NULL, sub, &b, &created, err, sizeof err), 0);
    assert_false(created);
    assert_string_equal(a, b); /* the same key after a "restart" */
    auth_jwt_pem_free(b);
    /* the environment's key wins over the file */
    assert_int_equal(auth_jwt_key_load(g_other, sub, &b, &created, err, sizeof err), 0);
    assert_string_equal(b, g_other);
    auth_jwt_pem_free(b);
    /* a key file others can read is refused, naming the file */
    chmod(path, 0644);
    assert_int_equal(auth_jwt_key_load(NULL, sub, &b, &created, err, sizeof err), -1);
    assert_non_null(strstr(err, "chmod 600"));
    unlink(path);
    rmdir(sub);
    rmdir(dir);
    auth_jwt_pem_free(a);
}

static void test_only_p256_keys_accepted(void **state)
{
    (void)state;
    char err[256];
    auth_jwt_t *j = NULL;
    auth_jwt_opts_t o = {ISS, AUD, 900, 30};
    assert_int_equal(auth_jwt_new("not a key", 9, &o, &j, err, sizeof err), -1);
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, rsa, NULL, NULL, 0, NULL, NULL);
    char *pem;
    long n = BIO_get_mem_data(b, &pem);
    assert_int_equal(auth_jwt_new(pem, (size_t)n, &o, &j, err, sizeof err), -1);
    assert_non_null(strstr(err, "P-256"));
    BIO_free(b);
    EVP_PKEY_free(rsa);
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, p384, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(b, &pem);
    assert_int_equal(auth_jwt_new(pem, (size_t)n, &o, &j, err, sizeof err), -1);
    BIO_free(b);
    EVP_PKEY_free(p384);
    assert_null(j);
}

static void test_jwks_describes_the_key(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_int_equal(auth_jwt_jwks(g_jwt, &b), 0);
    cJSON *j = cJSON_Parse(buf_str(&b));
    assert_non_null(j);
    cJSON *keys = cJSON_GetObjectItem(j, "keys");
    assert_int_equal(cJSON_GetArraySize(keys), 1);
    cJSON *k = cJSON_GetArrayItem(keys, 0);
    assert_string_equal(cJSON_GetObjectItem(k, "kty")->valuestring, "EC");
    assert_string_equal(cJSON_GetObjectItem(k, "crv")->valuestring, "P-256");
    assert_string_equal(cJSON_GetObjectItem(k, "alg")->valuestring, "ES256");
    assert_string_equal(cJSON_GetObjectItem(k, "kid")->valuestring, auth_jwt_kid(g_jwt));
    /* x and y are the key's public point: rebuild it and check a signature with it */
    unsigned char pt[65] = {0x04};
    size_t n;
    assert_int_equal(sodium_base642bin(pt + 1, 32, cJSON_GetObjectItem(k, "x")->valuestring, 43,
                                       NULL, &n, NULL, B64URL),
                     0);
    assert_int_equal(sodium_base642bin(pt + 33, 32, cJSON_GetObjectItem(k, "y")->valuestring, 43,
                                       NULL, &n, NULL, B64URL),
                     0);
    OSSL_PARAM params[] = {OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
                           OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, 65),
                           OSSL_PARAM_END};
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pub = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(pc), 1);
    assert_int_equal(EVP_PKEY_fromdata(pc, &pub, EVP_PKEY_PUBLIC_KEY, params), 1);
    char *tok = sign_es256(g_pem, header_ok(), payload(ISS, AUD, NOW, NOW + 60, NULL));
    char *d2 = strrchr(tok, '.');
    unsigned char sig[64];
    assert_int_equal(sodium_base642bin(sig, 64, d2 + 1, strlen(d2 + 1), NULL, &n, NULL, B64URL), 0);
    assert_true(es256_verify(pub, tok, (size_t)(d2 - tok), sig));
    EVP_PKEY_free(pub);
    EVP_PKEY_CTX_free(pc);
    cJSON_Delete(j);
    buf_free(&b);
}

static void test_reason_names(void **state)
{
    (void)state;
    for (int i = 0; i < AUTH_TOK_STATUS_COUNT; i++)
        assert_non_null(auth_tok_reason(i));
    assert_string_equal(auth_tok_reason(AUTH_TOK_EXPIRED), "expired");
    assert_string_equal(auth_tok_reason(AUTH_TOK_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(auth_tok_reason(AUTH_TOK_MALFORMED), "malformed");
    assert_string_equal(auth_tok_reason(AUTH_TOK_STATUS_COUNT), "unknown");
}

/* ---- the cache of verified tokens ------------------------------------------------------ */

static bool cached(const auth_jwt_t *j, const char *tok)
{
    const vcache_entry *e = &j->cache->slots[token_hash(tok, strlen(tok)) % VCACHE_SLOTS];
    return e->len == strlen(tok) && memcmp(e->tok, tok, e->len) == 0;
}

static void test_cached_token_gets_the_answers_of_a_full_check(void **state)
{
    (void)state;
    char *tok, err[128];
    int64_t exp;
    assert_int_equal(auth_jwt_issue(g_jwt, 9, "c@example.com", NOW, &tok, &exp, err, sizeof err),
                     0);
    assert_false(cached(g_jwt, tok));
    auth_claims_t c;
    assert_int_equal(auth_jwt_verify(g_jwt, tok, strlen(tok), NOW, &c), AUTH_TOK_VALID);
    assert_true(cached(g_jwt, tok)); /* the next checks are answered from the cache */
    memset(&c, 0, sizeof c);
    assert_int_equal(auth_jwt_verify(g_jwt, tok, strlen(tok), NOW + 1, &c), AUTH_TOK_VALID);
    assert_int_equal(c.user_id, 9);
    assert_string_equal(c.email, "c@example.com");
    assert_int_equal(c.exp, NOW + 900);
    assert_int_equal(c.iat, NOW);
    /* the time claims are checked on every hit: expired after exp + leeway, not yet valid
     * before iat - leeway (a clock set back) */
    assert_int_equal(auth_jwt_verify(g_jwt, tok, strlen(tok), NOW + 900 + 30, &c),
                     AUTH_TOK_EXPIRED);
    assert_int_equal(c.user_id, 0);
    assert_int_equal(auth_jwt_verify(g_jwt, tok, strlen(tok), NOW - 31, &c),
                     AUTH_TOK_NOT_YET_VALID);
    assert_int_equal(auth_jwt_verify(g_jwt, tok, strlen(tok), NOW + 900 + 29, &c), AUTH_TOK_VALID);
    /* nothing but the same bytes hits: a flipped signature bit, a prefix, a trailing NUL */
    char forged[4096];
    snprintf(forged, sizeof forged, "%s", tok);
    forged[strlen(forged) - 5] = forged[strlen(forged) - 5] == 'A' ? 'B' : 'A';
    assert_int_equal(check(forged), AUTH_TOK_BAD_SIGNATURE);
    snprintf(forged, sizeof forged, "%.*s", (int)(strlen(tok) - 43), tok);
    assert_int_equal(check(forged), AUTH_TOK_BAD_SIGNATURE);
    memcpy(forged, tok, strlen(tok) + 1);
    assert_int_equal(auth_jwt_verify(g_jwt, forged, strlen(tok) + 1, NOW, &c), AUTH_TOK_MALFORMED);
    /* the cache belongs to the key: a verifier with another key does not accept the token */
    auth_jwt_t *other;
    auth_jwt_opts_t o = {ISS, AUD, 900, 30};
    assert_int_equal(auth_jwt_new(g_other, strlen(g_other), &o, &other, err, sizeof err), 0);
    assert_int_not_equal(auth_jwt_verify(other, tok, strlen(tok), NOW, &c), AUTH_TOK_VALID);
    auth_jwt_free(other);
    free(tok);
}

static void test_cached_token_keeps_its_not_before(void **state)
{
    (void)state; /* nbf within the leeway: valid now, not valid for a clock set back */
    const char *tok = sign_es256(g_pem, header_ok(),
                                 payload(ISS, AUD, NOW, NOW + 600, ",\"nbf\":1800000020"));
    assert_int_equal(check(tok), AUTH_TOK_VALID);
    assert_true(cached(g_jwt, tok));
    auth_claims_t c;
    assert_int_equal(auth_jwt_verify(g_jwt, tok, strlen(tok), NOW - 11, &c),
                     AUTH_TOK_NOT_YET_VALID);
    assert_int_equal(auth_jwt_verify(g_jwt, tok, strlen(tok), NOW - 10, &c), AUTH_TOK_VALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_then_verify),
        cmocka_unit_test(test_two_tokens_differ_by_jti),
        cmocka_unit_test(test_hand_signed_valid_token_accepted),
        cmocka_unit_test(test_alg_none_rejected),
        cmocka_unit_test(test_hs256_with_public_key_rejected),
        cmocka_unit_test(test_signature_from_another_key_rejected),
        cmocka_unit_test(test_unknown_or_missing_kid_rejected),
        cmocka_unit_test(test_crit_and_bad_typ_rejected),
        cmocka_unit_test(test_expired_and_not_yet_valid),
        cmocka_unit_test(test_wrong_issuer_or_audience),
        cmocka_unit_test(test_claim_types_enforced),
        cmocka_unit_test(test_tampered_payload_and_truncated_signature),
        cmocka_unit_test(test_not_a_jwt),
        cmocka_unit_test(test_oversized_token),
        cmocka_unit_test(test_key_file_created_once_with_mode_0600),
        cmocka_unit_test(test_only_p256_keys_accepted),
        cmocka_unit_test(test_jwks_describes_the_key),
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_cached_token_gets_the_answers_of_a_full_check),
        cmocka_unit_test(test_cached_token_keeps_its_not_before),
    };
    return cmocka_run_group_tests_name("auth_jwt", tests, setup, teardown);
}
