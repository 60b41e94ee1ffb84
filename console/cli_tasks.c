/* cli_tasks — the tasks verbs: list, show, add, edit, done, rm (CONTRACT §3 through the
 * gateway). With -o json each prints exactly what the API answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli_verbs.h"
#include "ops_api.h"
#include "ops_table.h"

#define TITLE_STDIN_MAX (4u << 20)

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void num_of(const cJSON *o, const char *k, char *out, size_t outlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(out, outlen, cJSON_IsNumber(v) ? "%.0f" : "", cJSON_IsNumber(v) ? v->valuedouble : 0);
}

/* A task's row: ID, done mark, priority, title, tags, due, updated, version. */
static void task_row(ops_table_t *t, const cJSON *task)
{
    char id[24], pri[8], ver[24], tags[512] = "";
    num_of(task, "id", id, sizeof id);
    num_of(task, "priority", pri, sizeof pri);
    num_of(task, "version", ver, sizeof ver);
    const cJSON *tg, *arr = cJSON_GetObjectItemCaseSensitive(task, "tags");
    size_t off = 0;
    cJSON_ArrayForEach(tg, arr)
    {
        if (!cJSON_IsString(tg)) continue;
        int w = snprintf(tags + off, sizeof tags - off, "%s%s", off ? "," : "", tg->valuestring);
        if (w < 0 || (size_t)w >= sizeof tags - off) break;
        off += (size_t)w;
    }
    bool done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(task, "done"));
    const char *row[] = {id, done ? "✓" : "", pri, str_of(task, "title"), tags,
                         str_of(task, "due_at"), str_of(task, "updated_at"), ver};
    ops_table_add(t, row);
}

static ops_table_t *task_table(void)
{
    static const char *const cols[] = {"ID", "DONE", "PRI", "TITLE", "TAGS", "DUE", "UPDATED", "VER"};
    ops_table_t *t = ops_table_new(cols, 8);
    ops_table_flex(t, 3);
    ops_table_flex(t, 4);
    ops_table_right(t, 0);
    ops_table_right(t, 7);
    return t;
}

static void print_table(cli_ctx_t *c, ops_table_t *t)
{
    ops_table_print(t, c->out, ops_term_width(c->out), ops_use_color(c->out));
    ops_table_free(t);
}

/* Prints one task answer (json: as is; table: one row). */
static void print_task(cli_ctx_t *c, const cJSON *task)
{
    if (c->json) {
        cli_print_json(c, task);
        return;
    }
    ops_table_t *t = task_table();
    task_row(t, task);
    print_table(c, t);
}

static ops_status_t open_api(cli_ctx_t *c, ops_api_t **api)
{
    return ops_api_open(api, c->cfg, &c->err);
}

ops_status_t cli_tasks_list(cli_ctx_t *c)
{
    ops_task_filter_t f = OPS_TASK_FILTER_INIT;
    if (cli_has(c, "done") && cli_has(c, "open")) return cli_usage(c, "--done and --open exclude each other");
    if (cli_has(c, "done")) f.done = 1;
    if (cli_has(c, "open")) f.done = 0;
    f.tag = cli_get(c, "tag");
    f.q = cli_get(c, "q");
    f.cursor = cli_get(c, "cursor");
    int64_t limit = 0;
    if (cli_has(c, "limit") && cli_int(c, cli_get(c, "limit"), "--limit", 1, 1000, &limit))
        return OPS_USAGE;
    f.limit = (int)limit;
    const char *vals[] = {f.tag, f.q, f.cursor};
    for (int i = 0; i < 3; i++)
        if (vals[i] && !cli_utf8_ok(vals[i])) return cli_usage(c, "a filter is not valid UTF-8");
    ops_api_t *api;
    ops_status_t st = open_api(c, &api);
    if (st != OPS_OK) return st;
    ops_api_resp_t r = OPS_API_RESP_INIT;
    cJSON *all = NULL; /* --all: every page merged into one answer */
    char cursor[64] = "", source[16] = "";
    ops_table_t *t = c->json ? NULL : task_table();
    size_t count = 0;
    for (int page = 0;; page++) {
        if (page > 0) f.cursor = cursor;
        st = ops_api_tasks_list(api, &f, &r, &c->err);
        if (st != OPS_OK) break;
        snprintf(source, sizeof source, "%s", r.read_source);
        const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(r.json, "tasks"), *task;
        if (!cJSON_IsArray(tasks)) {
            st = ops_fail(&c->err, OPS_FAIL, "GET /api/tasks: the answer has no \"tasks\" array");
            break;
        }
        if (c->json && !cli_has(c, "all")) {
            cli_print_json(c, r.json);
            break;
        }
        if (c->json) {
            if (!all) {
                all = cJSON_CreateObject();
                cJSON_AddItemToObject(all, "tasks", cJSON_CreateArray());
            }
            cJSON *dst = cJSON_GetObjectItemCaseSensitive(all, "tasks");
            cJSON_ArrayForEach(task, tasks) cJSON_AddItemToArray(dst, cJSON_Duplicate(task, 1));
        } else {
            cJSON_ArrayForEach(task, tasks)
            {
                task_row(t, task);
                count++;
            }
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(r.json, "next_cursor");
        bool more = (cJSON_IsString(next) && next->valuestring[0]) || cJSON_IsNumber(next);
        if (!cli_has(c, "all") || !more) {
            if (!cli_has(c, "all") && more && !c->json)
                fprintf(stderr, "(more: --cursor %s, or --all)\n",
                        cJSON_IsString(next) ? next->valuestring : "");
            break;
        }
        if (cJSON_IsString(next))
            snprintf(cursor, sizeof cursor, "%s", next->valuestring);
        else
            snprintf(cursor, sizeof cursor, "%.0f", next->valuedouble);
        if (c->interrupted && *c->interrupted) break;
    }
    if (st == OPS_OK && all) {
        cJSON_AddNullToObject(all, "next_cursor");
        cli_print_json(c, all);
    }
    if (st == OPS_OK && t) {
        print_table(c, t);
        t = NULL;
        if (isatty(fileno(c->out)))
            fprintf(stderr, "%zu task%s, read from %s\n", count, count == 1 ? "" : "s",
                    source[0] ? source : "?");
    }
    ops_table_free(t);
    cJSON_Delete(all);
    ops_api_resp_free(&r);
    ops_api_close(api);
    return st;
}

/* Runs one call on task id; prints the task it answers with. */
static ops_status_t one_task(cli_ctx_t *c,
                             ops_status_t (*call)(ops_api_t *, int64_t, ops_api_resp_t *,
                                                  ops_err_t *))
{
    int64_t id;
    if (cli_task_id(c, c->pos[0], &id)) return OPS_USAGE;
    ops_api_t *api;
    ops_status_t st = open_api(c, &api);
    if (st != OPS_OK) return st;
    ops_api_resp_t r = OPS_API_RESP_INIT;
    st = call(api, id, &r, &c->err);
    if (st == OPS_OK) print_task(c, r.json);
    ops_api_resp_free(&r);
    ops_api_close(api);
    return st;
}

ops_status_t cli_tasks_show(cli_ctx_t *c)
{
    return one_task(c, ops_api_task_get);
}

ops_status_t cli_tasks_done(cli_ctx_t *c)
{
    return one_task(c, ops_api_task_complete);
}

/* A title from an argument, or standard input for "-" (bounded, trailing newline dropped). */
static ops_status_t read_title(cli_ctx_t *c, const char *arg, buf_t *out)
{
    if (strcmp(arg, "-")) {
        buf_puts(out, arg);
    } else {
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
            if (out->len + n > TITLE_STDIN_MAX)
                return cli_usage(c, "the title on standard input is larger than %u bytes",
                                 TITLE_STDIN_MAX);
            buf_append(out, chunk, n);
        }
        while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
            out->data[--out->len] = '\0';
    }
    if (out->oom) return ops_fail(&c->err, OPS_FAIL, "out of memory");
    if (strlen(buf_str(out)) != out->len) return cli_usage(c, "the title contains a NUL byte");
    if (!cli_utf8_ok(buf_str(out))) return cli_usage(c, "the title is not valid UTF-8");
    return OPS_OK;
}

/* Adds the fields common to add and edit: priority, tags, due. */
static ops_status_t common_fields(cli_ctx_t *c, cJSON *body)
{
    if (cli_has(c, "priority")) {
        int64_t p;
        /* the API decides the range; the CLI only insists on a number */
        if (cli_int(c, cli_get(c, "priority"), "--priority", INT32_MIN, INT32_MAX, &p)) return OPS_USAGE;
        cJSON_AddNumberToObject(body, "priority", (double)p);
    }
    int nt;
    const char *const *tags = cli_all(c, "tag", &nt);
    if (nt) {
        cJSON *arr = cJSON_AddArrayToObject(body, "tags");
        for (int i = 0; i < nt; i++) {
            if (!cli_utf8_ok(tags[i])) return cli_usage(c, "--tag is not valid UTF-8");
            cJSON_AddItemToArray(arr, cJSON_CreateString(tags[i]));
        }
    }
    if (cli_has(c, "due")) {
        if (!cli_utf8_ok(cli_get(c, "due"))) return cli_usage(c, "--due is not valid UTF-8");
        cJSON_AddStringToObject(body, "due_at", cli_get(c, "due"));
    }
    return OPS_OK;
}

ops_status_t cli_tasks_add(cli_ctx_t *c)
{
    buf_t title = BUF_INIT;
    cJSON *body = cJSON_CreateObject();
    ops_status_t st = read_title(c, c->pos[0], &title);
    if (st == OPS_OK) {
        cJSON_AddStringToObject(body, "title", buf_str(&title));
        st = common_fields(c, body);
    }
    buf_free(&title);
    ops_api_t *api = NULL;
    if (st == OPS_OK) st = open_api(c, &api);
    if (st == OPS_OK) {
        ops_api_resp_t r = OPS_API_RESP_INIT;
        st = ops_api_task_create(api, body, &r, &c->err);
        if (st == OPS_OK) print_task(c, r.json);
        ops_api_resp_free(&r);
    }
    ops_api_close(api);
    cJSON_Delete(body);
    return st;
}

ops_status_t cli_tasks_edit(cli_ctx_t *c)
{
    int64_t id;
    if (cli_task_id(c, c->pos[0], &id)) return OPS_USAGE;
    if (cli_has(c, "done") && cli_has(c, "open")) return cli_usage(c, "--done and --open exclude each other");
    if (cli_has(c, "tag") && cli_has(c, "no-tags")) return cli_usage(c, "--tag and --no-tags exclude each other");
    if (cli_has(c, "due") && cli_has(c, "no-due")) return cli_usage(c, "--due and --no-due exclude each other");
    cJSON *body = cJSON_CreateObject();
    ops_status_t st = OPS_OK;
    if (cli_has(c, "title")) {
        buf_t title = BUF_INIT;
        st = read_title(c, cli_get(c, "title"), &title);
        if (st == OPS_OK) cJSON_AddStringToObject(body, "title", buf_str(&title));
        buf_free(&title);
    }
    if (st == OPS_OK) st = common_fields(c, body);
    if (cli_has(c, "no-tags")) cJSON_AddArrayToObject(body, "tags");
    if (cli_has(c, "no-due")) cJSON_AddNullToObject(body, "due_at");
    if (cli_has(c, "done")) cJSON_AddTrueToObject(body, "done");
    if (cli_has(c, "open")) cJSON_AddFalseToObject(body, "done");
    if (st == OPS_OK && cJSON_GetArraySize(body) == 0)
        st = cli_usage(c, "nothing to change: give --title, --priority, --tag, --due, --done …");
    ops_api_t *api = NULL;
    if (st == OPS_OK) st = open_api(c, &api);
    if (st == OPS_OK) {
        ops_api_resp_t r = OPS_API_RESP_INIT;
        st = ops_api_task_patch(api, id, body, &r, &c->err);
        if (st == OPS_OK) print_task(c, r.json);
        ops_api_resp_free(&r);
    }
    ops_api_close(api);
    cJSON_Delete(body);
    return st;
}

ops_status_t cli_tasks_rm(cli_ctx_t *c)
{
    int64_t id;
    if (cli_task_id(c, c->pos[0], &id)) return OPS_USAGE;
    ops_api_t *api;
    ops_status_t st = open_api(c, &api);
    if (st != OPS_OK) return st;
    ops_api_resp_t r = OPS_API_RESP_INIT;
    st = ops_api_task_delete(api, id, &r, &c->err);
    /* 204 has no body: with -o json there is nothing the API returned to print */
    if (st == OPS_OK && !c->json) fprintf(c->out, "deleted task %lld\n", (long long)id);
    ops_api_resp_free(&r);
    ops_api_close(api);
    return st;
}
