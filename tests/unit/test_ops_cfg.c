/* Unit tests for lib/ops/ops_cfg (address lookup order: environment, config file, stack.env)
 * and the Redis URL parser of ops_rm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ops_cfg.h"
#include "ops_rm.h"

static void test_parse_line(void **state)
{
    char k[64], v[256];
    assert_int_equal(ops_cfg_parse_line("GATEWAY_URL=http://127.0.0.1:1\n", k, sizeof k, v, sizeof v), 1);
    assert_string_equal(k, "GATEWAY_URL");
    assert_string_equal(v, "http://127.0.0.1:1");
    assert_int_equal(ops_cfg_parse_line("export  A_B='x y'  ", k, sizeof k, v, sizeof v), 1);
    assert_string_equal(k, "A_B");
    assert_string_equal(v, "x y");
    assert_int_equal(ops_cfg_parse_line("Q=\"a=b\"\r\n", k, sizeof k, v, sizeof v), 1);
    assert_string_equal(v, "a=b");
    assert_int_equal(ops_cfg_parse_line("# comment", k, sizeof k, v, sizeof v), 0);
    assert_int_equal(ops_cfg_parse_line("   ", k, sizeof k, v, sizeof v), 0);
    assert_int_equal(ops_cfg_parse_line("no equals", k, sizeof k, v, sizeof v), -1);
    assert_int_equal(ops_cfg_parse_line("=x", k, sizeof k, v, sizeof v), -1);
    assert_int_equal(ops_cfg_parse_line("1A=x", k, sizeof k, v, sizeof v), -1);
    assert_int_equal(ops_cfg_parse_line("A-B=x", k, sizeof k, v, sizeof v), -1);
    char small[4];
    assert_int_equal(ops_cfg_parse_line("A=toolong", k, sizeof k, small, sizeof small), -1);
}

static char dir[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/ops-cfg-test-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/xdg/todo-console", dir);
    ops_mkdirs(p);
    snprintf(p, sizeof p, "%s/run", dir);
    ops_mkdirs(p);
    for (int k = 0; k < OPS_KEY_COUNT; k++) unsetenv(ops_cfg_key_name((ops_key_t)k));
    return 0;
}

static int teardown(void **state)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_lookup_order(void **state)
{
    char p[512];
    snprintf(p, sizeof p, "%s/xdg/todo-console/config", dir);
    write_file(p, "# mine\nGATEWAY_URL=http://config\nREDIS_URL=redis://config:1\n");
    snprintf(p, sizeof p, "%s/run/stack.env", dir);
    write_file(p, "GATEWAY_URL=http://stack\nREDIS_URL=redis://stack:1\nKAFKA_BROKERS=stack:9\n"
                  "UNRELATED=1\n");
    snprintf(p, sizeof p, "%s/xdg", dir);
    setenv("XDG_CONFIG_HOME", p, 1);
    snprintf(p, sizeof p, "%s/state", dir);
    setenv("XDG_STATE_HOME", p, 1);
    snprintf(p, sizeof p, "%s/run", dir);
    setenv("TODO_RUN_DIR", p, 1);
    setenv("GATEWAY_URL", "http://env", 1);

    ops_cfg_t cfg;
    ops_err_t e = OPS_ERR_INIT;
    assert_int_equal(ops_cfg_load(&cfg, NULL, &e), OPS_OK);
    assert_string_equal(ops_cfg_get(&cfg, OPS_GATEWAY_URL), "http://env");
    assert_int_equal(cfg.src[OPS_GATEWAY_URL], OPS_SRC_ENV);
    assert_string_equal(ops_cfg_get(&cfg, OPS_REDIS_URL), "redis://config:1");
    assert_int_equal(cfg.src[OPS_REDIS_URL], OPS_SRC_CONFIG);
    assert_string_equal(ops_cfg_get(&cfg, OPS_KAFKA_BROKERS), "stack:9");
    assert_int_equal(cfg.src[OPS_KAFKA_BROKERS], OPS_SRC_STACK);
    assert_null(ops_cfg_get(&cfg, OPS_JAEGER_QUERY_URL));
    assert_null(ops_cfg_need(&cfg, OPS_JAEGER_QUERY_URL, &e));
    assert_int_equal(e.st, OPS_USAGE);
    assert_non_null(strstr(e.msg, "JAEGER_QUERY_URL"));
    snprintf(p, sizeof p, "%s/state/todo-console", dir);
    assert_string_equal(cfg.state_dir, p);
    ops_cfg_free(&cfg);

    /* an empty environment value does not hide the files */
    setenv("GATEWAY_URL", "", 1);
    assert_int_equal(ops_cfg_load(&cfg, NULL, &e), OPS_OK);
    assert_string_equal(ops_cfg_get(&cfg, OPS_GATEWAY_URL), "http://config");
    ops_cfg_free(&cfg);
    unsetenv("GATEWAY_URL");

    /* a malformed config line is a usage error naming the file and line */
    snprintf(p, sizeof p, "%s/xdg/todo-console/config", dir);
    write_file(p, "GATEWAY_URL=http://config\nthis is wrong\n");
    assert_int_equal(ops_cfg_load(&cfg, NULL, &e), OPS_USAGE);
    assert_non_null(strstr(e.msg, "config:2"));
    ops_cfg_free(&cfg);
    unsetenv("TODO_RUN_DIR");
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("XDG_STATE_HOME");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_line),
        cmocka_unit_test_setup_teardown(test_lookup_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
