/* Unit tests for lib/cfg: loading settings from the environment through a table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "cfg.h"
#include "log.h"

struct settings {
    int port;
    int64_t timeout_ms;
    bool debug;
    const char *db_url;
    const char *token;
    const char *name;
};

static const cfg_entry_t table[] = {
    CFG_ROW("T_PORT", CFG_INT, "8081", 1, 65535, offsetof(struct settings, port), "HTTP port", false),
    CFG_ROW("T_TIMEOUT", CFG_DURATION, "5s", 1000, 3600000, offsetof(struct settings, timeout_ms),
            "request timeout", false),
    CFG_ROW("T_DEBUG", CFG_BOOL, "false", 0, 0, offsetof(struct settings, debug), "verbose", false),
    CFG_ROW("T_DB_URL", CFG_STRING, NULL, 0, 0, offsetof(struct settings, db_url), "database", true),
    CFG_ROW("T_TOKEN", CFG_STRING, "", 0, 0, offsetof(struct settings, token), "api token", true),
    CFG_ROW("T_NAME", CFG_STRING, "todo", 0, 0, offsetof(struct settings, name), "name", false),
};
#define N (sizeof table / sizeof table[0])

/* Typed values: host:port and enumerations; secrets of several forms. */
struct typed {
    cfg_hostport_t listen, relay;
    int level;
    const char *redis, *pem;
};
static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
static const cfg_entry_t typed[] = {
    CFG_ROW("T_LISTEN", CFG_HOSTPORT, "127.0.0.1:8081", 0, 0, offsetof(struct typed, listen), "listen",
            false),
    CFG_ROW("T_RELAY", CFG_HOSTPORT, "", 0, 0, offsetof(struct typed, relay), "optional", false),
    CFG_ENUM_ROW("T_LEVEL", "info", offsetof(struct typed, level), levels, "log level"),
    CFG_ROW("T_REDIS", CFG_STRING, "redis://127.0.0.1:6379/0", 0, 0, offsetof(struct typed, redis),
            "redis", true),
    CFG_ROW("T_PEM", CFG_STRING, "", 0, 0, offsetof(struct typed, pem), "key", true),
};
#define NTYPED (sizeof typed / sizeof typed[0])

static int reset_env(void **state)
{
    for (size_t i = 0; i < N; i++)
        unsetenv(table[i].name);
    setenv("T_DB_URL", "postgres://localhost/todo", 1);
    return 0;
}

/* Loads with one variable set to value; returns cfg_load's result, err filled. */
static int load_with(const char *name, const char *value, struct settings *s, char *err,
                     size_t errlen)
{
    setenv(name, value, 1);
    err[0] = '\0';
    return cfg_load(table, N, s, err, errlen);
}

static void test_defaults_fill_the_struct(void **state)
{
    struct settings s;
    char err[256];
    assert_int_equal(cfg_load(table, N, &s, err, sizeof err), 0);
    assert_int_equal(s.port, 8081);
    assert_int_equal(s.timeout_ms, 5000);
    assert_false(s.debug);
    assert_string_equal(s.db_url, "postgres://localhost/todo");
    assert_string_equal(s.token, "");
    assert_string_equal(s.name, "todo");
}

static void test_environment_overrides_defaults(void **state)
{
    struct settings s;
    char err[256];
    setenv("T_PORT", "65535", 1);
    setenv("T_TIMEOUT", "15m", 1);
    setenv("T_DEBUG", "YES", 1);
    setenv("T_NAME", "other", 1);
    assert_int_equal(cfg_load(table, N, &s, err, sizeof err), 0);
    assert_int_equal(s.port, 65535);
    assert_int_equal(s.timeout_ms, 15 * 60 * 1000);
    assert_true(s.debug);
    assert_string_equal(s.name, "other");
}

static void test_empty_variable_means_default(void **state)
{
    struct settings s;
    char err[256];
    assert_int_equal(load_with("T_PORT", "", &s, err, sizeof err), 0);
    assert_int_equal(s.port, 8081);
}

static void test_missing_required_names_the_variable(void **state)
{
    struct settings s;
    char err[256];
    unsetenv("T_DB_URL");
    assert_int_equal(cfg_load(table, N, &s, err, sizeof err), -1);
    assert_string_equal(err, "T_DB_URL: required but not set");
}

static void test_bad_integers_are_refused(void **state)
{
    struct settings s;
    char err[256];
    assert_int_equal(load_with("T_PORT", "abc", &s, err, sizeof err), -1);
    assert_string_equal(err, "T_PORT: 'abc' is not an integer (expected 1..65535)");
    const char *bad[] = {"12abc", " 80", "+80", "0x50", "8.0", "99999999999999999999", "-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(load_with("T_PORT", bad[i], &s, err, sizeof err), -1);
    assert_int_equal(load_with("T_PORT", "0", &s, err, sizeof err), -1);
    assert_string_equal(err, "T_PORT: '0' is out of range (expected 1..65535)");
    assert_int_equal(load_with("T_PORT", "65536", &s, err, sizeof err), -1);
    assert_int_equal(load_with("T_PORT", "-1", &s, err, sizeof err), -1);
    assert_int_equal(load_with("T_PORT", "1", &s, err, sizeof err), 0);
    assert_int_equal(s.port, 1);
}

static void test_unbounded_int_is_limited_to_int_range(void **state)
{
    static const cfg_entry_t t[] = {CFG_ROW("T_PORT", CFG_INT, "0", 0, 0, 0, "", false)};
    int v;
    char err[256];
    setenv("T_PORT", "-2147483648", 1);
    assert_int_equal(cfg_load(t, 1, &v, err, sizeof err), 0);
    assert_int_equal(v, -2147483647 - 1);
    setenv("T_PORT", "2147483648", 1);
    assert_int_equal(cfg_load(t, 1, &v, err, sizeof err), -1);
    assert_string_equal(err, "T_PORT: '2147483648' is out of range");
}

static void test_durations_parse_with_units(void **state)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"500ms", 500}, {"15s", 15000}, {"15m", 900000},  {"1h", 3600000},
                {"30d", 2592000000}, {"0", 0}, {"0s", 0},        {"007s", 7000}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(cfg_parse_duration(good[i].text, &ms), 0);
        assert_int_equal(ms, good[i].ms);
    }
    const char *bad[] = {"",   "15",  "s",    "1.5s", "-1s", "+1s",  "15 s",
                         "1S", "1sec", "1h30m", "ms",  "9223372036854775807s",
                         "99999999999999999999ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        assert_int_equal(cfg_parse_duration(bad[i], &ms), -1);
        assert_int_equal(ms, 42);
    }
}

static void test_bad_durations_are_refused(void **state)
{
    struct settings s;
    char err[256];
    assert_int_equal(load_with("T_TIMEOUT", "15", &s, err, sizeof err), -1);
    assert_string_equal(err, "T_TIMEOUT: '15' is not a duration like 500ms, 15s, 15m, 1h, 30d "
                             "(expected 1s..1h)");
    assert_int_equal(load_with("T_TIMEOUT", "999ms", &s, err, sizeof err), -1);
    assert_string_equal(err, "T_TIMEOUT: '999ms' is out of range (expected 1s..1h)");
    assert_int_equal(load_with("T_TIMEOUT", "61m", &s, err, sizeof err), -1);
    assert_int_equal(load_with("T_TIMEOUT", "3600000ms", &s, err, sizeof err), 0);
    assert_int_equal(s.timeout_ms, 3600000);
}

static void test_booleans(void **state)
{
    struct settings s;
    char err[256];
    const char *yes[] = {"true", "TRUE", "1", "yes", "On"};
    const char *no[] = {"false", "0", "no", "OFF"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_int_equal(load_with("T_DEBUG", yes[i], &s, err, sizeof err), 0);
        assert_true(s.debug);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        assert_int_equal(load_with("T_DEBUG", no[i], &s, err, sizeof err), 0);
        assert_false(s.debug);
    }
    assert_int_equal(load_with("T_DEBUG", "maybe", &s, err, sizeof err), -1);
    assert_string_equal(err, "T_DEBUG: 'maybe' is not a boolean "
                             "(expected true/false, yes/no, on/off, 1/0)");
}

static void test_secret_values_are_not_echoed_in_errors(void **state)
{
    static const cfg_entry_t t[] = {CFG_ROW("T_PORT", CFG_INT, "1", 0, 0, 0, "", true)};
    int v;
    char err[256];
    setenv("T_PORT", "hunter2", 1);
    assert_int_equal(cfg_load(t, 1, &v, err, sizeof err), -1);
    assert_string_equal(err, "T_PORT: '***' is not an integer");
}

static void test_bad_default_is_reported_as_such(void **state)
{
    static const cfg_entry_t t[] = {CFG_ROW("T_PORT", CFG_INT, "http", 1, 9, 0, "", false)};
    int v;
    char err[256];
    assert_int_equal(cfg_load(t, 1, &v, err, sizeof err), -1);
    assert_string_equal(err, "T_PORT: 'http' is not an integer (expected 1..9) [default]");
}

static void test_error_message_is_truncated_safely(void **state)
{
    struct settings s;
    char err[8];
    assert_int_equal(load_with("T_PORT", "abc", &s, err, sizeof err), -1);
    assert_string_equal(err, "T_PORT:");
}

/* cfg_log of the sections into line (one JSON line). */
static void log_line(const cfg_section_t *sec, size_t nsec, char *line, size_t linelen)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    log_set_output(f);
    cfg_log(sec, nsec);
    log_set_output(NULL);
    line[0] = '\0';
    rewind(f);
    assert_non_null(fgets(line, (int)linelen, f));
    fclose(f);
}

/* cfg_log writes one JSON line; read it back and check the masked values. */
static void test_log_masks_secrets_and_url_passwords(void **state)
{
    struct settings s;
    char err[256];
    setenv("T_DB_URL", "postgres://app:s3cret@db:5432/todo?sslmode=disable", 1);
    setenv("T_TOKEN", "tok-123", 1);
    setenv("T_TIMEOUT", "90s", 1);
    assert_int_equal(cfg_load(table, N, &s, err, sizeof err), 0);

    FILE *f = tmpfile();
    assert_non_null(f);
    log_set_output(f);
    char line[2048];
    log_line(&(cfg_section_t){table, N, &s}, 1, line, sizeof line);

    assert_null(strstr(line, "s3cret"));
    assert_null(strstr(line, "tok-123"));
    cJSON *j = cJSON_Parse(line);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring, "configuration");
    assert_string_equal(cJSON_GetObjectItem(j, "T_DB_URL")->valuestring,
                        "postgres://app:***@db:5432/todo?sslmode=disable");
    assert_string_equal(cJSON_GetObjectItem(j, "T_TOKEN")->valuestring, "***");
    assert_string_equal(cJSON_GetObjectItem(j, "T_TIMEOUT")->valuestring, "90s");
    assert_int_equal(cJSON_GetObjectItem(j, "T_PORT")->valueint, 8081);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "T_DEBUG")));
    cJSON_Delete(j);
}

static void test_usage_lists_every_variable(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cfg_usage(f, &(cfg_section_t){table, 2, NULL}, 1);
    fclose(f);
    assert_string_equal(text,
                        "Environment variables:\n"
                        "  T_PORT                         int       8081           HTTP port "
                        "(1..65535)\n"
                        "  T_TIMEOUT                      duration  5s             request timeout "
                        "(1s..1h)\n");
    free(text);
    f = open_memstream(&text, &len);
    cfg_usage(f, (cfg_section_t[]){{table + 3, 2, NULL}, {typed, NTYPED, NULL}}, 2);
    fclose(f);
    assert_non_null(
        strstr(text, "T_DB_URL                       string    (required)     database\n"));
    assert_non_null(
        strstr(text, "T_TOKEN                        string    ''             api token\n"));
    assert_non_null(strstr(text, "T_LEVEL                        enum      info           "
                                 "log level (debug|info|warn|error)\n"));
    free(text);
}

/* ---- typed values: host:port and enumerations ---------------------------------------- */


static int reset_typed(void **state)
{
    for (size_t i = 0; i < NTYPED; i++) unsetenv(typed[i].name);
    return 0;
}

static int reset_both(void **state)
{
    reset_env(state);
    return reset_typed(state);
}

static void test_hostport_is_parsed_once(void **state)
{
    struct typed t;
    char err[256];
    assert_int_equal(cfg_load(typed, NTYPED, &t, err, sizeof err), 0);
    assert_string_equal(t.listen.host, "127.0.0.1");
    assert_int_equal(t.listen.port, 8081);
    assert_string_equal(t.listen.text, "127.0.0.1:8081");
    assert_string_equal(t.relay.text, ""); /* optional, unset */
    assert_int_equal(t.relay.port, 0);
    setenv("T_RELAY", "[::1]:9000", 1);
    assert_int_equal(cfg_load(typed, NTYPED, &t, err, sizeof err), 0);
    assert_string_equal(t.relay.host, "::1");
    assert_int_equal(t.relay.port, 9000);
    setenv("T_LISTEN", "localhost", 1);
    assert_int_equal(cfg_load(typed, NTYPED, &t, err, sizeof err), -1);
    assert_string_equal(err, "T_LISTEN: 'localhost' is not host:port");
    setenv("T_LISTEN", "h:70000", 1);
    assert_int_equal(cfg_load(typed, NTYPED, &t, err, sizeof err), -1);
    assert_string_equal(err, "T_LISTEN: 'h:70000' is not host:port");
}

static void test_enum_is_an_index_and_lists_its_choices(void **state)
{
    struct typed t;
    char err[256];
    assert_int_equal(cfg_load(typed, NTYPED, &t, err, sizeof err), 0);
    assert_int_equal(t.level, 1);
    setenv("T_LEVEL", "WARN", 1);
    assert_int_equal(cfg_load(typed, NTYPED, &t, err, sizeof err), 0);
    assert_int_equal(t.level, 2);
    setenv("T_LEVEL", "chatty", 1);
    assert_int_equal(cfg_load(typed, NTYPED, &t, err, sizeof err), -1);
    assert_string_equal(err, "T_LEVEL: 'chatty' is not one of debug, info, warn, error");
}

/* One configuration line from both tables, with value of T_DB_URL / T_REDIS set; returns
 * the JSON of the line (caller deletes). */
static cJSON *config_line(const char *db_url, const char *redis)
{
    setenv("T_DB_URL", db_url, 1);
    if (redis) setenv("T_REDIS", redis, 1);
    struct settings s;
    struct typed t;
    char err[256], line[4096];
    assert_int_equal(cfg_load(table, N, &s, err, sizeof err), 0);
    assert_int_equal(cfg_load(typed, NTYPED, &t, err, sizeof err), 0);
    log_line((cfg_section_t[]){{table, N, &s}, {typed, NTYPED, &t}}, 2, line, sizeof line);
    assert_null(strstr(line, "S3cret"));
    cJSON *j = cJSON_Parse(line);
    assert_non_null(j);
    return j;
}

static const char *field(cJSON *j, const char *name)
{
    cJSON *v = cJSON_GetObjectItem(j, name);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/* Every form a service accepts a credential in is hidden in the configuration line. */
static void test_config_line_hides_url_userinfo_password(void **state)
{
    cJSON *j = config_line("postgres://tasks:S3cret@db:5432/tasks", NULL);
    assert_string_equal(field(j, "T_DB_URL"), "postgres://tasks:***@db:5432/tasks");
    assert_string_equal(field(j, "T_LISTEN"), "127.0.0.1:8081");
    assert_string_equal(field(j, "T_LEVEL"), "info");
    cJSON_Delete(j);
}

static void test_config_line_hides_query_password(void **state)
{
    cJSON *j = config_line("postgres://u@h/db?sslmode=disable&password=S3cret", NULL);
    assert_string_equal(field(j, "T_DB_URL"), "postgres://u@h/db?sslmode=disable&password=***");
    cJSON_Delete(j);
}

static void test_config_line_hides_conninfo_password(void **state)
{
    cJSON *j = config_line("host=db password=S3cret dbname=tasks", NULL);
    assert_non_null(strstr(field(j, "T_DB_URL"), "password='***'"));
    assert_non_null(strstr(field(j, "T_DB_URL"), "host='db'"));
    cJSON_Delete(j);
    j = config_line("host=db password = 'S3cret x' dbname=tasks", NULL);
    assert_null(strstr(field(j, "T_DB_URL"), "x'"));
    cJSON_Delete(j);
}

static void test_config_line_hides_redis_password(void **state)
{
    cJSON *j = config_line("host=db", "redis://S3cret@h:6379/0");
    assert_string_equal(field(j, "T_REDIS"), "redis://***@h:6379/0");
    cJSON_Delete(j);
    j = config_line("host=db", "redis://:S3cret@h:6379/0");
    assert_string_equal(field(j, "T_REDIS"), "redis://:***@h:6379/0");
    cJSON_Delete(j);
    j = config_line("host=db", "redis://h:6379/0"); /* nothing to hide: shown whole */
    assert_string_equal(field(j, "T_REDIS"), "redis://h:6379/0");
    cJSON_Delete(j);
}

static void test_config_line_hides_unknown_secret_whole(void **state)
{
    setenv("T_PEM", "-----BEGIN EC PRIVATE KEY-----\nS3cret==\n-----END EC PRIVATE KEY-----", 1);
    cJSON *j = config_line("host=db", NULL);
    assert_string_equal(field(j, "T_PEM"), "***");
    cJSON_Delete(j);
}

static void test_split_hostport(void **state)
{
    (void)state;
    char h[64];
    uint16_t p;
    assert_int_equal(cfg_split_hostport("127.0.0.1:28081", h, sizeof h, &p), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(p, 28081);
    assert_int_equal(cfg_split_hostport("[::1]:9000", h, sizeof h, &p), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(p, 9000);
    assert_int_equal(cfg_split_hostport("0.0.0.0:0", h, sizeof h, &p), 0);
    assert_int_equal(cfg_split_hostport("host", h, sizeof h, &p), -1);
    assert_int_equal(cfg_split_hostport(":80", h, sizeof h, &p), -1);
    assert_int_equal(cfg_split_hostport("h:", h, sizeof h, &p), -1);
    assert_int_equal(cfg_split_hostport("h:65536", h, sizeof h, &p), -1);
    assert_int_equal(cfg_split_hostport("h:8x", h, sizeof h, &p), -1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, reset_env)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_hostport),
        T(test_defaults_fill_the_struct),
        T(test_environment_overrides_defaults),
        T(test_empty_variable_means_default),
        T(test_missing_required_names_the_variable),
        T(test_bad_integers_are_refused),
        T(test_unbounded_int_is_limited_to_int_range),
        T(test_durations_parse_with_units),
        T(test_bad_durations_are_refused),
        T(test_booleans),
        T(test_secret_values_are_not_echoed_in_errors),
        T(test_bad_default_is_reported_as_such),
        T(test_error_message_is_truncated_safely),
        T(test_log_masks_secrets_and_url_passwords),
        T(test_usage_lists_every_variable),
#define TT(f) cmocka_unit_test_setup(f, reset_typed)
#define TB(f) cmocka_unit_test_setup(f, reset_both)
        TT(test_hostport_is_parsed_once),
        TT(test_enum_is_an_index_and_lists_its_choices),
        TB(test_config_line_hides_url_userinfo_password),
        TB(test_config_line_hides_query_password),
        TB(test_config_line_hides_conninfo_password),
        TB(test_config_line_hides_redis_password),
        TB(test_config_line_hides_unknown_secret_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
