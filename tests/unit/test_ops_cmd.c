/* Unit tests for lib/ops/ops_cmd: the verb and option tables of outbox-inspect and trace-view —
 * values, switches, the optional value of --last [N], -o json anywhere, --help and --version,
 * and a usage error (exit 2) for everything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops_cmd.h"

static ops_status_t run_nothing(ops_cmd_t *c)
{
    (void)c;
    return OPS_OK;
}

static const ops_cmd_opt_t o_list[] = {
    {"dead", 0, NULL, "dead rows", false},
    {"limit", 'l', "N", "at most N", false},
    {"task", 't', "ID", "one task", false},
    OPS_CMD_OPT_END};
static const ops_cmd_opt_t o_none[] = {OPS_CMD_OPT_END};
static const ops_cmd_verb_t verbs[] = {
    {"list", "", "rows", o_list, 0, 0, run_nothing},
    {"show", "ID", "one row", o_none, 1, 1, run_nothing},
};
static const ops_cmd_prog_t prog = {"tool", "9.9", "a tool", verbs, 2, "NOTES\n", NULL};

static const ops_cmd_opt_t o_single[] = {
    {"last", 'l', "N", "the last N", true},
    {"width", 'w', "N", "columns", false},
    OPS_CMD_OPT_END};
static const ops_cmd_verb_t one[] = {{"", "[ID]", "the one thing", o_single, 0, 1, run_nothing}};
static const ops_cmd_prog_t single = {"viewer", "1.0", "views", one, 1, NULL, NULL};

typedef struct {
    ops_cmd_t c;
    char *pos[16];
    char *out;
    size_t outlen;
    FILE *f;
    int rc;
} parsed_t;

/* Parses the words (NULL-terminated) into p; output captured in p->out. */
static void parse(parsed_t *p, const ops_cmd_prog_t *pr, const char *const *words)
{
    memset(p, 0, sizeof *p);
    char *argv[16];
    int argc = 0;
    while (words[argc]) {
        argv[argc] = (char *)words[argc];
        argc++;
    }
    p->f = open_memstream(&p->out, &p->outlen);
    p->c.out = p->f;
    p->rc = ops_cmd_parse(pr, &p->c, argc, argv, p->pos);
    fflush(p->f);
}

static void done(parsed_t *p)
{
    fclose(p->f);
    free(p->out);
}

static void expect_usage(const ops_cmd_prog_t *pr, const char *const *words, const char *needle)
{
    parsed_t p;
    parse(&p, pr, words);
    assert_int_equal(p.rc, OPS_USAGE);
    assert_int_equal(p.c.err.st, OPS_USAGE);
    if (!strstr(p.c.err.msg, needle)) fail_msg("'%s' does not mention '%s'", p.c.err.msg, needle);
    done(&p);
}

static void test_values_and_switches(void **state)
{
    parsed_t p;
    parse(&p, &prog, (const char *const[]){"list", "--dead", "-l", "5", "--task=7", NULL});
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.c.verb->name, "list");
    assert_string_equal(ops_cmd_get(&p.c, "dead"), "");
    assert_string_equal(ops_cmd_get(&p.c, "limit"), "5");
    assert_string_equal(ops_cmd_get(&p.c, "task"), "7");
    assert_false(p.c.json);
    done(&p);
    parse(&p, &prog, (const char *const[]){"-o", "json", "list", "-l9", NULL});
    assert_int_equal(p.rc, 0);
    assert_true(p.c.json);
    assert_string_equal(ops_cmd_get(&p.c, "limit"), "9");
    assert_null(ops_cmd_get(&p.c, "dead"));
    assert_false(ops_cmd_has(&p.c, "task"));
    done(&p);
    /* -o after the verb too, and the last value of an option wins */
    parse(&p, &prog, (const char *const[]){"list", "-l", "1", "--output=json", "--limit", "2", NULL});
    assert_int_equal(p.rc, 0);
    assert_true(p.c.json);
    assert_string_equal(ops_cmd_get(&p.c, "limit"), "2");
    done(&p);
    parse(&p, &prog, (const char *const[]){"show", "--", "-5", NULL});
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.c.npos, 1);
    assert_string_equal(p.c.pos[0], "-5");
    done(&p);
}

static void test_usage_errors(void **state)
{
    expect_usage(&prog, (const char *const[]){NULL}, "no verb");
    expect_usage(&prog, (const char *const[]){"lsit", NULL}, "unknown verb 'lsit'");
    expect_usage(&prog, (const char *const[]){"list", "--deadd", NULL}, "unknown option '--deadd' for list");
    expect_usage(&prog, (const char *const[]){"list", "-x", NULL}, "unknown option '-x'");
    expect_usage(&prog, (const char *const[]){"list", "--limit", NULL}, "'--limit' needs a value");
    expect_usage(&prog, (const char *const[]){"list", "--dead=yes", NULL}, "takes no value");
    expect_usage(&prog, (const char *const[]){"list", "extra", NULL}, "unexpected argument 'extra'");
    expect_usage(&prog, (const char *const[]){"show", NULL}, "tool show needs ID");
    expect_usage(&prog, (const char *const[]){"show", "1", "2", NULL}, "unexpected argument '2'");
    expect_usage(&prog, (const char *const[]){"-o", "yaml", "list", NULL}, "not json or table");
    expect_usage(&prog, (const char *const[]){"--limit", "3", "list", NULL}, "unknown option");
}

static void test_help_and_version(void **state)
{
    parsed_t p;
    parse(&p, &prog, (const char *const[]){"--help", NULL});
    assert_int_equal(p.rc, 1);
    assert_non_null(strstr(p.out, "usage: tool [-o json|table] VERB"));
    assert_non_null(strstr(p.out, "  list "));
    assert_non_null(strstr(p.out, "  show ID"));
    assert_non_null(strstr(p.out, "NOTES"));
    assert_non_null(strstr(p.out, "Exit status:\n  0  ok\n"));
    assert_non_null(strstr(p.out, "  4  unreachable"));
    done(&p);
    /* a verb's help lists its options, whatever else is on the line */
    parse(&p, &prog, (const char *const[]){"list", "--limit", "x", "-h", NULL});
    assert_int_equal(p.rc, 1);
    assert_non_null(strstr(p.out, "usage: tool list [OPTIONS]"));
    assert_non_null(strstr(p.out, "-l, --limit N"));
    assert_non_null(strstr(p.out, "--dead"));
    done(&p);
    parse(&p, &prog, (const char *const[]){"list", "-V", NULL});
    assert_int_equal(p.rc, 1);
    assert_string_equal(p.out, "tool 9.9\n");
    done(&p);
}

static void test_single_verb_program_and_optional_value(void **state)
{
    parsed_t p;
    parse(&p, &single, (const char *const[]){"abc123", NULL});
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.c.npos, 1);
    assert_string_equal(p.c.pos[0], "abc123");
    done(&p);
    /* --last alone, --last N, --last=N; a word that is not a count stays a positional */
    parse(&p, &single, (const char *const[]){"--last", NULL});
    assert_int_equal(p.rc, 0);
    assert_string_equal(ops_cmd_get(&p.c, "last"), "");
    done(&p);
    parse(&p, &single, (const char *const[]){"--last", "5", "-w", "80", NULL});
    assert_int_equal(p.rc, 0);
    assert_string_equal(ops_cmd_get(&p.c, "last"), "5");
    assert_string_equal(ops_cmd_get(&p.c, "width"), "80");
    assert_int_equal(p.c.npos, 0);
    done(&p);
    parse(&p, &single, (const char *const[]){"--last=7", NULL});
    assert_string_equal(ops_cmd_get(&p.c, "last"), "7");
    done(&p);
    parse(&p, &single, (const char *const[]){"--last", "4bf92f35", NULL});
    assert_int_equal(p.rc, 0);
    assert_string_equal(ops_cmd_get(&p.c, "last"), "");
    assert_string_equal(p.c.pos[0], "4bf92f35");
    done(&p);
    parse(&p, &single, (const char *const[]){"--help", NULL});
    assert_int_equal(p.rc, 1);
    assert_non_null(strstr(p.out, "usage: viewer [OPTIONS] [ID]"));
    assert_non_null(strstr(p.out, "-l, --last [N]"));
    done(&p);
    expect_usage(&single, (const char *const[]){"a", "b", NULL}, "unexpected argument 'b'");
}

static void test_int_and_duration(void **state)
{
    ops_cmd_t c;
    memset(&c, 0, sizeof c);
    int64_t v;
    assert_int_equal(ops_cmd_int(&c, "42", "--n", 1, 100, &v), OPS_OK);
    assert_int_equal(v, 42);
    assert_int_equal(ops_cmd_int(&c, "0", "--n", 1, 100, &v), OPS_USAGE);
    assert_non_null(strstr(c.err.msg, "--n: '0' is not an integer from 1 to 100"));
    assert_int_equal(ops_cmd_int(&c, "12abc", "--n", 1, 100, &v), OPS_USAGE);
    assert_int_equal(ops_cmd_int(&c, "", "--n", 1, 100, &v), OPS_USAGE);
    assert_int_equal(ops_cmd_int(&c, "99999999999999999999", "--n", 1, INT64_MAX, &v), OPS_USAGE);
    assert_int_equal(ops_cmd_duration(&c, "7d", "--older-than", &v), OPS_OK);
    assert_int_equal(v, 7LL * 24 * 3600 * 1000);
    assert_int_equal(ops_cmd_duration(&c, "250ms", "--older-than", &v), OPS_OK);
    assert_int_equal(v, 250);
    assert_int_equal(ops_cmd_duration(&c, "7x", "--older-than", &v), OPS_USAGE);
    assert_non_null(strstr(c.err.msg, "--older-than: '7x' is not a duration"));
    assert_int_equal(ops_cmd_duration(&c, "-1h", "--older-than", &v), OPS_USAGE);
    /* the bound: 36500 days, so µs and now() minus it stay in range */
    assert_int_equal(ops_cmd_duration(&c, "36500d", "--older-than", &v), OPS_OK);
    assert_int_equal(v, OPS_CMD_MAX_DURATION_MS);
    assert_int_equal(ops_cmd_duration(&c, "36501d", "--older-than", &v), OPS_USAGE);
    assert_non_null(strstr(c.err.msg, "--older-than: '36501d' is longer than 36500d"));
    assert_int_equal(ops_cmd_duration(&c, "99999999999d", "--lookback", &v), OPS_USAGE);
    /* the rule apart, as todo-console's parser takes it */
    assert_int_equal(ops_cmd_parse_duration("36500d", &v), 0);
    assert_int_equal(ops_cmd_parse_duration("36501d", &v), -2);
    assert_int_equal(ops_cmd_parse_duration("99999999999d", &v), -2);
    assert_int_equal(ops_cmd_parse_duration("7x", &v), -1);
    assert_int_equal(ops_cmd_parse_duration(NULL, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_switches),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_single_verb_program_and_optional_value),
        cmocka_unit_test(test_int_and_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
