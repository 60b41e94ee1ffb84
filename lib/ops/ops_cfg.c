/* ops_cfg — addresses from the environment, the config file and the stack's stack.env. */
#include "ops_cfg.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const key_names[OPS_KEY_COUNT] = {
    [OPS_GATEWAY_URL] = "GATEWAY_URL",
    [OPS_AUTH_HTTP_URL] = "AUTH_HTTP_URL",
    [OPS_TASKS_HTTP_URL] = "TASKS_HTTP_URL",
    [OPS_NOTIFY_HTTP_URL] = "NOTIFY_HTTP_URL",
    [OPS_KAFKA_BROKERS] = "KAFKA_BROKERS",
    [OPS_REDIS_URL] = "REDIS_URL",
    [OPS_TASKS_DATABASE_URL] = "TASKS_DATABASE_URL",
    [OPS_JAEGER_QUERY_URL] = "JAEGER_QUERY_URL",
    [OPS_OTLP_ENDPOINT] = "OTLP_ENDPOINT",
    [OPS_PROMETHEUS_URL] = "PROMETHEUS_URL",
};

const char *ops_cfg_key_name(ops_key_t key)
{
    return (unsigned)key < OPS_KEY_COUNT ? key_names[key] : "?";
}

const char *ops_cfg_src_name(ops_src_t src)
{
    switch (src) {
    case OPS_SRC_ENV: return "environment";
    case OPS_SRC_CONFIG: return "config file";
    case OPS_SRC_STACK: return "stack.env";
    default: return "unset";
    }
}

int ops_cfg_parse_line(const char *line, char *key, size_t keylen, char *val, size_t vallen)
{
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#' || *p == '\n' || *p == '\r') return 0;
    if (!strncmp(p, "export ", 7)) {
        p += 7;
        while (*p == ' ') p++;
    }
    const char *eq = strchr(p, '=');
    if (!eq || eq == p) return -1;
    size_t kl = (size_t)(eq - p);
    if (kl >= keylen) return -1;
    for (size_t i = 0; i < kl; i++) {
        char c = p[i];
        if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (i > 0 && c >= '0' && c <= '9')))
            return -1;
    }
    memcpy(key, p, kl);
    key[kl] = '\0';
    const char *v = eq + 1;
    size_t vl = strcspn(v, "\r\n");
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
    if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
        v++;
        vl -= 2;
    }
    if (vl >= vallen) return -1;
    memcpy(val, v, vl);
    val[vl] = '\0';
    return 1;
}

/* Reads path's KEY=VALUE lines into the keys still unset. A missing file is not an error. */
static ops_status_t read_file(ops_cfg_t *cfg, const char *path, ops_src_t src, ops_err_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR) return OPS_OK;
        return ops_fail(err, OPS_FAIL, "%s: %s", path, strerror(errno));
    }
    char line[8192], key[128], val[4096];
    int lineno = 0;
    ops_status_t st = OPS_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        int r = ops_cfg_parse_line(line, key, sizeof key, val, sizeof val);
        if (r < 0 && src == OPS_SRC_CONFIG) {
            st = ops_fail(err, OPS_USAGE, "%s:%d: not a KEY=VALUE line", path, lineno);
            break;
        }
        if (r <= 0) continue;
        for (int k = 0; k < OPS_KEY_COUNT; k++)
            if (!strcmp(key, key_names[k]) && !cfg->val[k] && val[0]) {
                if (!(cfg->val[k] = strdup(val))) {
                    st = ops_fail(err, OPS_FAIL, "out of memory");
                    break;
                }
                cfg->src[k] = src;
            }
    }
    fclose(f);
    return st;
}

/* Walks up from dir (at most 4 levels) looking for .run/stack.env; fills out on success. */
static bool find_stack_env(const char *dir, char *out, size_t outlen)
{
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", dir);
    for (int level = 0; level < 5 && d[0]; level++) {
        char cand[PATH_MAX + 32];
        snprintf(cand, sizeof cand, "%s/.run/stack.env", d);
        if (access(cand, F_OK) == 0 && strlen(cand) < outlen) {
            snprintf(out, outlen, "%s", cand);
            return true;
        }
        char *slash = strrchr(d, '/');
        if (!slash) break;
        if (slash == d) {
            if (!d[1]) break;
            d[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
    return false;
}

static void xdg_dir(const char *var, const char *fallback, char *out, size_t outlen)
{
    const char *x = getenv(var), *home = getenv("HOME");
    if (x && x[0] == '/')
        snprintf(out, outlen, "%s/todo-console", x);
    else
        snprintf(out, outlen, "%s/%s/todo-console", home && *home ? home : "/tmp", fallback);
}

ops_status_t ops_cfg_load(ops_cfg_t *cfg, const char *argv0, ops_err_t *err)
{
    memset(cfg, 0, sizeof *cfg);
    for (int k = 0; k < OPS_KEY_COUNT; k++) {
        const char *v = getenv(key_names[k]);
        if (v && *v) {
            if (!(cfg->val[k] = strdup(v))) return ops_fail(err, OPS_FAIL, "out of memory");
            cfg->src[k] = OPS_SRC_ENV;
        }
    }
    char confdir[4096];
    xdg_dir("XDG_CONFIG_HOME", ".config", confdir, sizeof confdir);
    snprintf(cfg->config_file, sizeof cfg->config_file, "%.4000s/config", confdir);
    xdg_dir("XDG_STATE_HOME", ".local/state", cfg->state_dir, sizeof cfg->state_dir);
    ops_status_t st = read_file(cfg, cfg->config_file, OPS_SRC_CONFIG, err);
    if (st != OPS_OK) return st;

    const char *run = getenv("TODO_RUN_DIR");
    if (run && *run) {
        snprintf(cfg->stack_env, sizeof cfg->stack_env, "%.4000s/stack.env", run);
    } else {
        char exe[PATH_MAX] = "";
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0)
            exe[n] = '\0';
        else if (!argv0 || !realpath(argv0, exe))
            exe[0] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        char cwd[PATH_MAX];
        if (!(exe[0] && find_stack_env(exe, cfg->stack_env, sizeof cfg->stack_env)) &&
            getcwd(cwd, sizeof cwd))
            find_stack_env(cwd, cfg->stack_env, sizeof cfg->stack_env);
    }
    if (cfg->stack_env[0]) return read_file(cfg, cfg->stack_env, OPS_SRC_STACK, err);
    return OPS_OK;
}

const char *ops_cfg_get(const ops_cfg_t *cfg, ops_key_t key)
{
    return (unsigned)key < OPS_KEY_COUNT ? cfg->val[key] : NULL;
}

const char *ops_cfg_need(const ops_cfg_t *cfg, ops_key_t key, ops_err_t *err)
{
    const char *v = ops_cfg_get(cfg, key);
    if (!v)
        ops_fail(err, OPS_USAGE,
                 "%s is not set (looked in the environment, %s and %s); is the stack up "
                 "('make up')?",
                 ops_cfg_key_name(key), cfg->config_file,
                 cfg->stack_env[0] ? cfg->stack_env : ".run/stack.env (none found)");
    return v;
}

void ops_cfg_free(ops_cfg_t *cfg)
{
    for (int k = 0; k < OPS_KEY_COUNT; k++) {
        free(cfg->val[k]);
        cfg->val[k] = NULL;
    }
}

int ops_mkdirs(const char *dir)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0700) < 0 && errno != EEXIST) return -1;
            *s = '/';
        }
    if (mkdir(p, 0700) < 0 && errno != EEXIST) return -1;
    return 0;
}
