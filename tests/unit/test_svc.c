/* Unit tests for lib/svc: choosing the mode from argv, --help, the exit codes of svc_main
 * (bad arguments and bad settings are 2, a failed run 1 with its error on stderr, a one-shot
 * mode's status passed through), and the migrations directory lookup. svc_main runs in a
 * child process (it installs signal handling and owns process-wide state). svc.c is included
 * to reach pick_mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/svc.c"

typedef struct settings {
    int workers;
    const char *token;
} settings_t;

static const cfg_entry_t table[] = {
    CFG_ROW("T_SVC_WORKERS", CFG_INT, "2", 1, 8, offsetof(settings_t, workers), "workers", false),
    CFG_ROW("T_SVC_TOKEN", CFG_STRING, "tok-S3cret", 0, 0, offsetof(settings_t, token), "token",
            true),
};

static settings_t g_settings;

static int run_ok(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    printf("ran %s with %d args%s%s workers=%d\n", s->service, nargs, nargs ? " first=" : "",
           nargs ? args[0] : "", g_settings.workers);
    return 0;
}

static int run_fails(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    snprintf(err, errlen, "the thing failed");
    return 1;
}

static int run_usage(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    return svc_usage_error(s, "FROM must be a number");
}

static int check_workers(const void *cfg, char *err, size_t errlen)
{
    const settings_t *c = cfg;
    if (c->workers == 7) return snprintf(err, errlen, "T_SVC_WORKERS: 7 is unlucky"), -1;
    return 0;
}

static const cfg_table_t own = {table, sizeof table / sizeof table[0], check_workers};

static const svc_mode_t modes[] = {
    {NULL, "", 0, 0, "the service", run_ok, NULL, false},
    {"--fail", "", 0, 0, "fails", run_fails, NULL, false},
    {"--cmd", " ID [ID]", 1, 2, "a command", run_ok, "svc-cmd", true},
    {"--cmd-fails", "", 0, 0, "a failing command", run_fails, NULL, true},
    {"--usage", " X", 1, 1, "a command that refuses its argument", run_usage, NULL, true},
};

static const svc_def_t def = {.name = "test-service",
                              .summary = "A service for the tests.",
                              .env_prefix = "T_SVC",
                              .http_listen = "127.0.0.1:0",
                              .needs = SVC_DATABASE,
                              .migrations = "no/such/migrations",
                              .settings = &own,
                              .cfg = &g_settings,
                              .modes = modes,
                              .nmodes = sizeof modes / sizeof modes[0]};

/* The environment every run gets: the required database URL (a credential in it). */
#define DB_URL "T_SVC_DATABASE_URL=postgres://u:S3cret@127.0.0.1:1/db"

/* Runs svc_main(argv) in a child with env (NAME=VALUE, NULL-terminated); returns its exit
 * status and what it wrote to stdout and stderr (caller frees both). */
static int run_main(const char *const *argv, const char *const *env, char **out, char **errout)
{
    char outp[] = "/tmp/test_svc_out_XXXXXX", errp[] = "/tmp/test_svc_err_XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp);
    assert_true(ofd >= 0 && efd >= 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        putenv(DB_URL);
        for (const char *const *e = env; e && *e; e++) putenv((char *)*e);
        int argc = 0;
        while (argv[argc]) argc++;
        int st = svc_main(&def, argc, (char **)argv);
        fflush(NULL);
        _exit(st);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    char *bufs[2] = {NULL, NULL};
    const char *paths[2] = {outp, errp};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        assert_non_null(f);
        bufs[i] = calloc(1, 65536);
        size_t n = fread(bufs[i], 1, 65535, f);
        bufs[i][n] = '\0';
        fclose(f);
        unlink(paths[i]);
    }
    close(ofd);
    close(efd);
    *out = bufs[0];
    *errout = bufs[1];
    return WEXITSTATUS(status);
}

static void test_pick_mode(void **state)
{
    char *a0[] = {"x", NULL}, *a1[] = {"x", "--cmd", "1", NULL}, *a2[] = {"x", "--cmd", NULL},
         *a3[] = {"x", "--cmd", "1", "2", "3", NULL}, *a4[] = {"x", "--nope", NULL},
         *a5[] = {"x", "extra", NULL};
    assert_ptr_equal(pick_mode(&def, 1, a0), &modes[0]);
    assert_ptr_equal(pick_mode(&def, 3, a1), &modes[2]);
    assert_null(pick_mode(&def, 2, a2)); /* too few arguments */
    assert_null(pick_mode(&def, 5, a3)); /* too many */
    assert_null(pick_mode(&def, 2, a4)); /* unknown flag */
    assert_null(pick_mode(&def, 2, a5)); /* the default mode takes no argument */
}

static void test_help_lists_modes_and_every_setting(void **state)
{
    char *out, *err;
    assert_int_equal(run_main((const char *[]){"test-service", "--help", NULL}, NULL, &out, &err),
                     0);
    assert_non_null(strstr(out, "usage: test-service [MODE]"));
    assert_non_null(strstr(out, "--cmd ID [ID]"));
    assert_non_null(strstr(out, "LOG_LEVEL")); /* the shared settings */
    assert_non_null(strstr(out, "OTLP_ENDPOINT"));
    assert_non_null(strstr(out, "T_SVC_HTTP_LISTEN")); /* the standard settings, prefixed */
    assert_non_null(strstr(out, "T_SVC_DATABASE_URL"));
    assert_non_null(strstr(out, "T_SVC_MIGRATIONS_DIR"));
    assert_non_null(strstr(out, "T_SVC_WORKERS")); /* the service's own */
    free(out);
    free(err);
}

static void test_modes_run_with_their_arguments(void **state)
{
    char *out, *err;
    assert_int_equal(run_main((const char *[]){"t", NULL}, NULL, &out, &err), 0);
    assert_non_null(strstr(out, "ran test-service with 0 args workers=2"));
    /* the configuration line: the secret redacted, the shared settings in the same line */
    assert_non_null(strstr(err, "\"msg\":\"configuration\""));
    assert_non_null(strstr(err, "\"LOG_LEVEL\":\"info\""));
    assert_null(strstr(err, "S3cret")); /* the database URL's and the token's */
    assert_non_null(strstr(err, "\"T_SVC_DATABASE_URL\":\"postgres://u:***@127.0.0.1:1/db\""));
    free(out);
    free(err);
    assert_int_equal(run_main((const char *[]){"t", "--cmd", "42", NULL},
                              (const char *[]){"T_SVC_WORKERS=3", NULL}, &out, &err),
                     0);
    assert_non_null(strstr(out, "ran svc-cmd with 1 args first=42 workers=3"));
    assert_null(strstr(err, "configuration")); /* a one-shot logs only warnings */
    free(out);
    free(err);
}

static void test_exit_codes(void **state)
{
    char *out, *err;
    assert_int_equal(run_main((const char *[]){"t", "--nope", NULL}, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "try 'test-service --help'"));
    free(out);
    free(err);
    assert_int_equal(run_main((const char *[]){"t", NULL},
                              (const char *[]){"T_SVC_WORKERS=99", NULL}, &out, &err),
                     2);
    assert_non_null(strstr(err, "T_SVC_WORKERS"));
    free(out);
    free(err);
    assert_int_equal(run_main((const char *[]){"t", NULL},
                              (const char *[]){"LOG_LEVEL=chatty", NULL}, &out, &err),
                     2);
    assert_non_null(strstr(err, "LOG_LEVEL: 'chatty' is not one of debug, info, warn, error"));
    free(out);
    free(err);
    assert_int_equal(run_main((const char *[]){"t", NULL},
                              (const char *[]){"T_SVC_HTTP_LISTEN=nohost", NULL}, &out, &err),
                     2);
    assert_non_null(strstr(err, "T_SVC_HTTP_LISTEN: 'nohost' is not host:port"));
    free(out);
    free(err);
    assert_int_equal(run_main((const char *[]){"t", NULL},
                              (const char *[]){"T_SVC_DATABASE_URL=", NULL}, &out, &err),
                     2);
    assert_non_null(strstr(err, "T_SVC_DATABASE_URL: required but not set"));
    free(out);
    free(err);
    assert_int_equal(run_main((const char *[]){"t", NULL},
                              (const char *[]){"T_SVC_WORKERS=7", NULL}, &out, &err),
                     2);
    assert_non_null(strstr(err, "7 is unlucky")); /* the service's own check */
    free(out);
    free(err);
    assert_int_equal(run_main((const char *[]){"t", "--fail", NULL}, NULL, &out, &err), 1);
    assert_non_null(strstr(err, "\"msg\":\"start failed\""));
    assert_non_null(strstr(err, "the thing failed"));
    free(out);
    free(err);
    assert_int_equal(run_main((const char *[]){"t", "--cmd-fails", NULL}, NULL, &out, &err), 1);
    assert_non_null(strstr(err, "test-service: the thing failed"));
    free(out);
    free(err);
    assert_int_equal(run_main((const char *[]){"t", "--usage", "x", NULL}, NULL, &out, &err), 2);
    assert_non_null(strstr(err, "test-service: FROM must be a number; try 'test-service --help'"));
    free(out);
    free(err);
}

static void test_migrations_find(void **state)
{
    svc_t s = {.def = &def};
    std_table_build(&s);
    char err[512];
    char dir[] = "/tmp/test_svc_mig_XXXXXX";
    assert_non_null(mkdtemp(dir));
    s.settings.migrations_dir = dir;
    assert_int_equal(svc_migrations_find(&s, err, sizeof err), 0);
    assert_string_equal(s.migrations_dir, dir);
    s.settings.migrations_dir = "/no/such/dir";
    assert_int_equal(svc_migrations_find(&s, err, sizeof err), -1);
    assert_non_null(strstr(err, "T_SVC_MIGRATIONS_DIR: /no/such/dir is not a directory"));
    /* nothing next to the test binary and nothing packaged: the setting is named */
    s.settings.migrations_dir = "";
    assert_int_equal(svc_migrations_find(&s, err, sizeof err), -1);
    assert_non_null(strstr(err, "set T_SVC_MIGRATIONS_DIR"));
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pick_mode),
        cmocka_unit_test(test_help_lists_modes_and_every_setting),
        cmocka_unit_test(test_modes_run_with_their_arguments),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_migrations_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
