/* ops_session — the saved login; see ops_session.h. */
#include "ops_session.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "ops_cfg.h"

static void copy_str(const cJSON *o, const char *k, char *out, size_t outlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(out, outlen, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int64_t get_int(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

ops_status_t ops_session_load(const char *dir, const char *gateway, ops_session_t *s,
                              ops_err_t *err)
{
    memset(s, 0, sizeof *s);
    char path[4200];
    snprintf(path, sizeof path, "%s/session.json", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return ops_fail(err, OPS_AUTH, "not logged in (run 'todo-console login')");
        return ops_fail(err, OPS_FAIL, "%s: %s", path, strerror(errno));
    }
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *o = cJSON_Parse(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return ops_fail(err, OPS_AUTH, "%s is corrupt; log in again (todo-console login)", path);
    }
    copy_str(o, "gateway", s->gateway, sizeof s->gateway);
    copy_str(o, "email", s->email, sizeof s->email);
    copy_str(o, "access_token", s->access_token, sizeof s->access_token);
    copy_str(o, "refresh_token", s->refresh_token, sizeof s->refresh_token);
    s->user_id = get_int(o, "user_id");
    s->expires_at = get_int(o, "expires_at");
    cJSON_Delete(o);
    if (!s->access_token[0])
        return ops_fail(err, OPS_AUTH, "not logged in (run 'todo-console login')");
    if (gateway && strcmp(gateway, s->gateway))
        return ops_fail(err, OPS_AUTH,
                        "not logged in to %s (the saved session is for %s; run "
                        "'todo-console login')",
                        gateway, s->gateway);
    return OPS_OK;
}

ops_status_t ops_session_save(const char *dir, const ops_session_t *s, ops_err_t *err)
{
    if (ops_mkdirs(dir) < 0) return ops_fail(err, OPS_FAIL, "%s: %s", dir, strerror(errno));
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"gateway\":");
    buf_json_str(&b, s->gateway);
    buf_puts(&b, ",\"email\":");
    buf_json_str(&b, s->email);
    buf_printf(&b, ",\"user_id\":%lld,\"expires_at\":%lld,\"access_token\":",
               (long long)s->user_id, (long long)s->expires_at);
    buf_json_str(&b, s->access_token);
    buf_puts(&b, ",\"refresh_token\":");
    buf_json_str(&b, s->refresh_token);
    buf_puts(&b, "}\n");
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/session.json", dir);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    ops_status_t st = OPS_OK;
    if (fd < 0 || fchmod(fd, 0600) < 0 || b.oom ||
        write(fd, buf_str(&b), b.len) != (ssize_t)b.len || fsync(fd) < 0) {
        st = ops_fail(err, OPS_FAIL, "%s: %s", tmp, b.oom ? "out of memory" : strerror(errno));
    }
    if (fd >= 0) close(fd);
    if (st == OPS_OK && rename(tmp, path) < 0)
        st = ops_fail(err, OPS_FAIL, "%s: %s", path, strerror(errno));
    if (st != OPS_OK) unlink(tmp);
    buf_free(&b);
    return st;
}

void ops_session_remove(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/session.json", dir);
    unlink(path);
}

int ops_session_lock(const char *dir, int timeout_ms)
{
    if (ops_mkdirs(dir) < 0) return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/session.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    for (int waited = 0;; waited += 20) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
        if (waited >= timeout_ms) break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL); /* polling a lock held by another process: no event to wait on */
    }
    close(fd);
    return -1;
}

void ops_session_unlock(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}
