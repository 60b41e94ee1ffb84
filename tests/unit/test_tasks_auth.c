/* Unit tests for services/tasks/tasks_auth.c: bearer parsing, the meaning of answers (fail
 * closed), the validation cache (bounded, never past the token's expiry), and the gRPC client
 * failing closed within its deadline against a closed port and a peer that never answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../services/tasks/tasks_auth.c"
#include "proto/auth/v1/auth.pb-c.c"

static void test_bearer(void **state)
{
    (void)state;
    const char *tok;
    size_t len;
    assert_int_equal(auth_bearer_token("Bearer abc.DEF-_~+/=", &tok, &len), 0);
    assert_int_equal(len, strlen("abc.DEF-_~+/="));
    assert_memory_equal(tok, "abc.DEF-_~+/=", len);
    assert_int_equal(auth_bearer_token("bearer   x  ", &tok, &len), 0);
    assert_int_equal(len, 1);
    const char *bad[] = {NULL, "", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "Bearer a\"",
                         "Bearer a\r\nX: y", "Bearerabc", "Bearer ä"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (auth_bearer_token(bad[i], &tok, &len) == 0) fail_msg("accepted #%zu", i);
    char *huge = malloc(AUTH_TOKEN_MAX + 16);
    strcpy(huge, "Bearer ");
    memset(huge + 7, 'a', AUTH_TOKEN_MAX + 1);
    huge[7 + AUTH_TOKEN_MAX + 1] = '\0';
    assert_int_equal(auth_bearer_token(huge, &tok, &len), -1);
    huge[7 + AUTH_TOKEN_MAX] = '\0';
    assert_int_equal(auth_bearer_token(huge, &tok, &len), 0);
    free(huge);
}

static void test_map_answer(void **state)
{
    (void)state;
    assert_int_equal(auth_map_answer(GRPC_STATUS_OK, true, true, 5), AUTH_OK);
    assert_int_equal(auth_map_answer(GRPC_STATUS_OK, true, false, 0), AUTH_INVALID);
    assert_int_equal(auth_map_answer(GRPC_STATUS_UNAUTHENTICATED, false, false, 0), AUTH_INVALID);
    assert_int_equal(auth_map_answer(GRPC_STATUS_INVALID_ARGUMENT, false, false, 0), AUTH_INVALID);
    /* everything else fails closed */
    assert_int_equal(auth_map_answer(GRPC_STATUS_UNAVAILABLE, false, false, 0), AUTH_UNAVAILABLE);
    assert_int_equal(auth_map_answer(GRPC_STATUS_DEADLINE_EXCEEDED, false, false, 0),
                     AUTH_UNAVAILABLE);
    assert_int_equal(auth_map_answer(GRPC_STATUS_UNIMPLEMENTED, false, false, 0), AUTH_UNAVAILABLE);
    assert_int_equal(auth_map_answer(GRPC_STATUS_INTERNAL, true, true, 5), AUTH_UNAVAILABLE);
    assert_int_equal(auth_map_answer(GRPC_STATUS_OK, false, false, 0), AUTH_UNAVAILABLE);
    assert_int_equal(auth_map_answer(GRPC_STATUS_OK, true, true, 0), AUTH_UNAVAILABLE);
}

static void test_cache(void **state)
{
    (void)state;
    auth_cache_t *c = auth_cache_new(64);
    auth_user_t u = {.user_id = 9, .expires_at = 1000}, got = {0};
    strcpy(u.email, "a@example.com");
    /* the entry lives min(ttl, expiry): here the token expires first, at 1,000,000 ms */
    auth_cache_put(c, "tok-1", 5, &u, 990000, 60000);
    assert_true(auth_cache_get(c, "tok-1", 5, 999999, &got));
    assert_int_equal(got.user_id, 9);
    assert_string_equal(got.email, "a@example.com");
    assert_false(auth_cache_get(c, "tok-1", 5, 1000000, &got));
    assert_false(auth_cache_get(c, "tok-1", 5, 999999, &got)); /* freed once expired */
    /* here the ttl ends first */
    auth_cache_put(c, "tok-1", 5, &u, 900000, 1000);
    assert_true(auth_cache_get(c, "tok-1", 5, 900999, &got));
    assert_false(auth_cache_get(c, "tok-1", 5, 901000, &got));
    /* an already expired token is not stored; a prefix is a different token */
    auth_cache_put(c, "tok-2", 5, &u, 2000000, 60000);
    assert_false(auth_cache_get(c, "tok-2", 5, 2000000, &got));
    auth_cache_put(c, "tok-3", 5, &u, 900000, 60000);
    assert_false(auth_cache_get(c, "tok-", 4, 900001, &got));
    /* ttl 0: the cache is off */
    auth_cache_put(c, "tok-4", 5, &u, 900000, 0);
    assert_false(auth_cache_get(c, "tok-4", 5, 900001, &got));
    auth_cache_free(c);
}

static void test_cache_is_bounded(void **state)
{
    (void)state;
    auth_cache_t *c = auth_cache_new(1); /* one slot: each put replaces the last */
    auth_user_t u = {.user_id = 1, .expires_at = 4000000000LL}, got = {0};
    auth_cache_put(c, "first", 5, &u, 0, 60000);
    u.user_id = 2;
    auth_cache_put(c, "second", 6, &u, 0, 60000);
    assert_false(auth_cache_get(c, "first", 5, 1, &got));
    assert_true(auth_cache_get(c, "second", 6, 1, &got));
    assert_int_equal(got.user_id, 2);
    auth_cache_free(c);
    assert_null(auth_cache_get(NULL, "x", 1, 0, &got) ? (void *)1 : NULL);
}

static int64_t elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static auth_client_t *client_for(const char *target, int64_t deadline_ms)
{
    auth_client_config_t cfg = {.target = target, .deadline_ms = deadline_ms,
                                .cache_ttl_ms = 10000, .cache_size = 16};
    auth_client_t *c;
    char err[256];
    assert_int_equal(auth_client_new(&cfg, &c, err, sizeof err), 0);
    return c;
}

/* A port nobody listens on: UNAVAILABLE, well within the deadline. */
static void test_fails_closed_when_nobody_listens(void **state)
{
    (void)state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s); /* the port is now (almost certainly) closed */
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", ntohs(a.sin_port));
    auth_client_t *c = client_for(target, 800);
    auth_user_t u;
    char why[64];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(auth_validate(c, "abc", 3, &u, why, sizeof why), AUTH_UNAVAILABLE);
    assert_true(elapsed_ms(&t0) < 800 + 500);
    auth_client_free(c);
}

/* A peer that accepts and never speaks HTTP/2: fails closed by the deadline, not later. */
static void test_fails_closed_at_the_deadline(void **state)
{
    (void)state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 16), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", ntohs(a.sin_port));
    auth_client_t *c = client_for(target, 300);
    auth_user_t u;
    char why[64];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(auth_validate(c, "abc", 3, &u, why, sizeof why), AUTH_UNAVAILABLE);
    int64_t took = elapsed_ms(&t0);
    assert_true(took < 300 + 700);
    auth_client_free(c);
    close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_map_answer),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_is_bounded),
        cmocka_unit_test(test_fails_closed_when_nobody_listens),
        cmocka_unit_test(test_fails_closed_at_the_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
