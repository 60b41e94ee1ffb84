/* Unit tests for lib/authclient: the meaning of answers (fail closed), the validation cache (bounded, never past the token's expiry), and the gRPC client
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

#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authclient.h"

static void test_map_answer(void **state)
{
    (void)state;
    assert_int_equal(authclient_map_answer(GRPC_STATUS_OK, true, true, 5), AUTHCLIENT_OK);
    assert_int_equal(authclient_map_answer(GRPC_STATUS_OK, true, false, 0), AUTHCLIENT_INVALID);
    assert_int_equal(authclient_map_answer(GRPC_STATUS_UNAUTHENTICATED, false, false, 0), AUTHCLIENT_INVALID);
    assert_int_equal(authclient_map_answer(GRPC_STATUS_INVALID_ARGUMENT, false, false, 0), AUTHCLIENT_INVALID);
    /* everything else fails closed */
    assert_int_equal(authclient_map_answer(GRPC_STATUS_UNAVAILABLE, false, false, 0), AUTHCLIENT_UNAVAILABLE);
    assert_int_equal(authclient_map_answer(GRPC_STATUS_DEADLINE_EXCEEDED, false, false, 0),
                     AUTHCLIENT_UNAVAILABLE);
    assert_int_equal(authclient_map_answer(GRPC_STATUS_UNIMPLEMENTED, false, false, 0), AUTHCLIENT_UNAVAILABLE);
    assert_int_equal(authclient_map_answer(GRPC_STATUS_INTERNAL, true, true, 5), AUTHCLIENT_UNAVAILABLE);
    assert_int_equal(authclient_map_answer(GRPC_STATUS_OK, false, false, 0), AUTHCLIENT_UNAVAILABLE);
    assert_int_equal(authclient_map_answer(GRPC_STATUS_OK, true, true, 0), AUTHCLIENT_UNAVAILABLE);
}

static void test_cache(void **state)
{
    (void)state;
    authclient_cache_t *c = authclient_cache_new(64);
    authclient_user_t u = {.user_id = 9, .expires_at = 1000}, got = {0};
    strcpy(u.email, "a@example.com");
    /* the entry lives min(ttl, expiry): here the token expires first, at 1,000,000 ms */
    authclient_cache_put(c, "tok-1", 5, &u, 990000, 60000);
    assert_true(authclient_cache_get(c, "tok-1", 5, 999999, &got));
    assert_int_equal(got.user_id, 9);
    assert_string_equal(got.email, "a@example.com");
    assert_false(authclient_cache_get(c, "tok-1", 5, 1000000, &got));
    assert_false(authclient_cache_get(c, "tok-1", 5, 999999, &got)); /* freed once expired */
    /* here the ttl ends first */
    authclient_cache_put(c, "tok-1", 5, &u, 900000, 1000);
    assert_true(authclient_cache_get(c, "tok-1", 5, 900999, &got));
    assert_false(authclient_cache_get(c, "tok-1", 5, 901000, &got));
    /* an already expired token is not stored; a prefix is a different token */
    authclient_cache_put(c, "tok-2", 5, &u, 2000000, 60000);
    assert_false(authclient_cache_get(c, "tok-2", 5, 2000000, &got));
    authclient_cache_put(c, "tok-3", 5, &u, 900000, 60000);
    assert_false(authclient_cache_get(c, "tok-", 4, 900001, &got));
    /* ttl 0: the cache is off */
    authclient_cache_put(c, "tok-4", 5, &u, 900000, 0);
    assert_false(authclient_cache_get(c, "tok-4", 5, 900001, &got));
    authclient_cache_free(c);
}

static void test_cache_is_bounded(void **state)
{
    (void)state;
    authclient_cache_t *c = authclient_cache_new(1); /* one slot: each put replaces the last */
    authclient_user_t u = {.user_id = 1, .expires_at = 4000000000LL}, got = {0};
    authclient_cache_put(c, "first", 5, &u, 0, 60000);
    u.user_id = 2;
    authclient_cache_put(c, "second", 6, &u, 0, 60000);
    assert_false(authclient_cache_get(c, "first", 5, 1, &got));
    assert_true(authclient_cache_get(c, "second", 6, 1, &got));
    assert_int_equal(got.user_id, 2);
    authclient_cache_free(c);
    assert_null(authclient_cache_get(NULL, "x", 1, 0, &got) ? (void *)1 : NULL);
}

static int64_t elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static authclient_t *client_for(const char *target, int64_t deadline_ms)
{
    authclient_config_t cfg = {.target = target, .deadline_ms = deadline_ms,
                                .cache_ttl_ms = 10000, .cache_size = 16};
    authclient_t *c;
    char err[256];
    assert_int_equal(authclient_new(&cfg, &c, err, sizeof err), 0);
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
    authclient_t *c = client_for(target, 800);
    authclient_user_t u;
    char why[64];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(authclient_validate(c, "abc", 3, &u, why, sizeof why), AUTHCLIENT_UNAVAILABLE);
    assert_true(elapsed_ms(&t0) < 800 + 500);
    authclient_free(c);
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
    authclient_t *c = client_for(target, 300);
    authclient_user_t u;
    char why[64];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(authclient_validate(c, "abc", 3, &u, why, sizeof why), AUTHCLIENT_UNAVAILABLE);
    int64_t took = elapsed_ms(&t0);
    assert_true(took < 300 + 700);
    authclient_free(c);
    close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_answer),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_is_bounded),
        cmocka_unit_test(test_fails_closed_when_nobody_listens),
        cmocka_unit_test(test_fails_closed_at_the_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
