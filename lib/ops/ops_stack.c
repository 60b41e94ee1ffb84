/* ops_stack — run infra/local/stack of the checkout beside the program; see ops_stack.h. */
#include "ops_stack.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"

extern char **environ;

#define OUT_MAX (64 * 1024)

/* dir/infra/local/stack when it is an executable file. */
static bool script_in(const char *dir, char *out, size_t outlen)
{
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/infra/local/stack", dir);
    struct stat sb;
    if (stat(p, &sb) < 0 || !S_ISREG(sb.st_mode) || access(p, X_OK) < 0 || strlen(p) >= outlen)
        return false;
    snprintf(out, outlen, "%s", p);
    return true;
}

/* Walks up from dir (at most 5 levels) for a checkout holding infra/local/stack. */
static bool script_above(const char *dir, char *out, size_t outlen)
{
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", dir);
    for (int level = 0; level < 6 && d[0]; level++) {
        if (script_in(d, out, outlen)) return true;
        char *slash = strrchr(d, '/');
        if (!slash || slash == d) break;
        *slash = '\0';
    }
    return false;
}

ops_status_t ops_stack_find(const ops_cfg_t *cfg, ops_stack_t *out, ops_err_t *err)
{
    memset(out, 0, sizeof *out);
    if (!cfg->stack_env[0] || access(cfg->stack_env, R_OK) < 0)
        return ops_fail(err, OPS_USAGE,
                        "not beside a local stack: no .run/stack.env was found (start one with "
                        "'make up', or set TODO_RUN_DIR)");
    char env[PATH_MAX];
    if (!realpath(cfg->stack_env, env)) snprintf(env, sizeof env, "%s", cfg->stack_env);
    char *slash = strrchr(env, '/');
    if (!slash) return ops_fail(err, OPS_USAGE, "not beside a local stack: %s", cfg->stack_env);
    *slash = '\0';
    snprintf(out->run_dir, sizeof out->run_dir, "%s", env);
    /* the checkout holding this .run/, else the one the program runs from */
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", env);
    char *ps = strrchr(parent, '/');
    if (ps) *ps = '\0';
    size_t el = strlen(env);
    bool found = el > 5 && !strcmp(env + el - 5, "/.run") &&
                 script_in(parent, out->script, sizeof out->script);
    if (!found) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            char *es = strrchr(exe, '/');
            if (es) *es = '\0';
            found = script_above(exe, out->script, sizeof out->script);
        }
    }
    if (!found)
        return ops_fail(err, OPS_USAGE,
                        "not beside a local stack: no infra/local/stack for the stack in %s",
                        out->run_dir);
    /* the offset the stack was started with, as it recorded it */
    FILE *f = fopen(cfg->stack_env, "r");
    if (f) {
        char line[1024], k[64], v[16];
        while (fgets(line, sizeof line, f))
            if (ops_cfg_parse_line(line, k, sizeof k, v, sizeof v) == 1 &&
                !strcmp(k, "STACK_PORT_OFFSET") && strspn(v, "0123456789") == strlen(v))
                snprintf(out->offset, sizeof out->offset, "%s", v);
        fclose(f);
    }
    return OPS_OK;
}

static bool name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 32) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-')) return false;
    return true;
}

/* The child's environment: ours, with TODO_RUN_DIR and STACK_PORT_OFFSET replaced. */
static char **child_env(const ops_stack_t *s, char *run, char *off)
{
    size_t n = 0;
    while (environ[n]) n++;
    char **e = calloc(n + 3, sizeof *e);
    if (!e) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "TODO_RUN_DIR=", 13) &&
            (!s->offset[0] || strncmp(environ[i], "STACK_PORT_OFFSET=", 18)))
            e[k++] = environ[i];
    snprintf(run, PATH_MAX + 16, "TODO_RUN_DIR=%s", s->run_dir);
    e[k++] = run;
    if (s->offset[0]) {
        snprintf(off, 48, "STACK_PORT_OFFSET=%s", s->offset);
        e[k++] = off;
    }
    return e;
}

/* The last non-empty line of text, into out. */
static void last_line(const char *text, char *out, size_t outlen)
{
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == ' ')) end--;
    const char *start = end;
    while (start > text && start[-1] != '\n') start--;
    snprintf(out, outlen, "%.*s", (int)(end - start), start);
}

ops_status_t ops_stack_run(const ops_stack_t *s, const char *verb, const char *part,
                           int timeout_ms, buf_t *out, ops_err_t *err)
{
    static const char *const verbs[] = {"start", "stop", "restart", "status"};
    bool known = false;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) known |= !strcmp(verb, verbs[i]);
    if (!known) return ops_fail(err, OPS_USAGE, "stack: unknown verb '%.20s' (start, stop, restart, status)", verb);
    bool status = !strcmp(verb, "status");
    if (status ? part != NULL : !name_ok(part))
        return ops_fail(err, OPS_USAGE, "stack %s: '%.40s' is not a part name", verb, part ? part : "");
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return ops_fail(err, OPS_FAIL, "stack: pipe: %s", strerror(errno));
    char run[PATH_MAX + 16], off[48];
    char **env = child_env(s, run, off);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    /* nothing else of ours (sockets, the terminal's descriptors, a UI's wake pipe) may leak
     * into the script, or into the long-lived parts it starts */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_setpgroup(&at, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigset_t dfl;
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {(char *)s->script, (char *)verb, (char *)part, NULL};
    pid_t pid;
    int rc = env ? posix_spawn(&pid, s->script, &fa, &at, argv, env) : ENOMEM;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(env);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return ops_fail(err, OPS_FAIL, "stack: cannot run %s: %s", s->script, strerror(rc));
    }
    /* read until the script exits (a part it started in the background might hold the pipe
     * open if it inherited it; it does not, but the wait is on the process, not on EOF) */
    int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 120000);
    int wst = 0;
    bool exited = false, timed_out = false;
    char chunk[4096];
    while (!exited) {
        struct pollfd p = {fds[0], POLLIN, 0};
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            timed_out = true;
            kill(-pid, SIGKILL);
            waitpid(pid, &wst, 0);
            break;
        }
        int r = poll(&p, 1, left < 100 ? (int)left : 100);
        if (r > 0) {
            ssize_t n = read(fds[0], chunk, sizeof chunk);
            if (n > 0 && out && out->len + (size_t)n <= OUT_MAX) buf_append(out, chunk, (size_t)n);
        }
        pid_t w = waitpid(pid, &wst, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD)) exited = true;
    }
    /* what the script wrote just before it exited */
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    ssize_t n;
    while ((n = read(fds[0], chunk, sizeof chunk)) > 0)
        if (out && out->len + (size_t)n <= OUT_MAX) buf_append(out, chunk, (size_t)n);
    close(fds[0]);
    char last[200] = "";
    if (out) last_line(buf_str(out), last, sizeof last);
    if (timed_out)
        return ops_fail(err, OPS_FAIL, "stack %s %s: no answer in %d s (stopped)", verb,
                        part ? part : "", timeout_ms / 1000);
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
        return ops_fail(err, OPS_FAIL, "stack %s %s failed: %s", verb, part ? part : "",
                        last[0] ? last : "no output");
    return OPS_OK;
}
