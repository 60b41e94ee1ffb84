/* cli_auth — login, logout, whoami. The password is read without echo from the terminal, or
 * from standard input with --password-stdin (for scripts); it is never an argument (argv is
 * visible to every user in ps). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli_verbs.h"
#include "ops_api.h"
#include "ops_table.h"

/* Reads one line from f into out (newline removed). 0, or -1 at EOF / too long. */
static int read_line(FILE *f, char *out, size_t outlen)
{
    if (!fgets(out, (int)outlen, f)) return -1;
    size_t l = strlen(out);
    if (l && out[l - 1] != '\n' && !feof(f)) return -1; /* longer than the buffer */
    while (l && (out[l - 1] == '\n' || out[l - 1] == '\r')) out[--l] = '\0';
    return 0;
}

/* Asks on the terminal; echo off for secrets. 0 or -1 (no terminal, EOF). */
static int ask_tty(const char *prompt, bool secret, char *out, size_t outlen)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty) return -1;
    struct termios old, quiet;
    bool changed = false;
    /* echo goes off before the prompt is shown, so whatever answers the prompt is never echoed
     * (and TCSANOW, not TCSAFLUSH: an answer typed the moment the prompt appears is kept) */
    if (secret && tcgetattr(fileno(tty), &old) == 0) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        changed = tcsetattr(fileno(tty), TCSANOW, &quiet) == 0;
    }
    fputs(prompt, tty);
    fflush(tty);
    int r = read_line(tty, out, outlen);
    if (changed) {
        tcsetattr(fileno(tty), TCSANOW, &old);
        fputc('\n', tty);
    }
    fclose(tty);
    return r;
}

ops_status_t cli_login(cli_ctx_t *c)
{
    char email[256], password[1100];
    const char *e = cli_get(c, "email");
    if (e) {
        snprintf(email, sizeof email, "%s", e);
    } else if (ask_tty("Email: ", false, email, sizeof email) < 0) {
        return cli_usage(c, "no --email and no terminal to ask on");
    }
    if (cli_has(c, "password-stdin")) {
        if (read_line(stdin, password, sizeof password) < 0)
            return cli_usage(c, "--password-stdin: no password on standard input");
    } else if (ask_tty("Password: ", true, password, sizeof password) < 0) {
        return cli_usage(c, "no terminal to read the password from; use --password-stdin");
    }
    ops_api_t *api;
    ops_status_t st = ops_api_open(&api, c->cfg, &c->err);
    if (st == OPS_OK) {
        st = ops_api_login(api, email, password, &c->err);
        if (st == OPS_OK) {
            const ops_session_t *s = ops_api_session(api, &c->err);
            if (c->json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "email", s->email);
                cJSON_AddNumberToObject(o, "user_id", (double)s->user_id);
                cJSON_AddStringToObject(o, "gateway", s->gateway);
                cli_print_json(c, o);
                cJSON_Delete(o);
            } else {
                fprintf(c->out, "logged in as %s (user %lld) at %s\n", s->email,
                        (long long)s->user_id, s->gateway);
            }
        }
        ops_api_close(api);
    }
    memset(password, 0, sizeof password);
    return st;
}

ops_status_t cli_logout(cli_ctx_t *c)
{
    ops_api_t *api;
    ops_status_t st = ops_api_open(&api, c->cfg, &c->err);
    if (st != OPS_OK) return st;
    st = ops_api_logout(api, &c->err);
    ops_api_close(api);
    if (st == OPS_OK && !c->json) fprintf(c->out, "logged out\n");
    if (st == OPS_OK && c->json) fprintf(c->out, "{\"logged_out\":true}\n");
    return st;
}

ops_status_t cli_whoami(cli_ctx_t *c)
{
    ops_api_t *api;
    ops_status_t st = ops_api_open(&api, c->cfg, &c->err);
    if (st != OPS_OK) return st;
    ops_api_resp_t r = OPS_API_RESP_INIT;
    st = ops_api_whoami(api, &r, &c->err);
    if (st == OPS_OK) {
        if (c->json) {
            cli_print_json(c, r.json);
        } else {
            const cJSON *uid = cJSON_GetObjectItemCaseSensitive(r.json, "user_id");
            const cJSON *em = cJSON_GetObjectItemCaseSensitive(r.json, "email");
            const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r.json, "expires_at");
            char *safe = ops_sanitize(cJSON_IsString(em) ? em->valuestring : "");
            char until[64] = "?";
            if (cJSON_IsString(ex))
                snprintf(until, sizeof until, "%.60s", ex->valuestring);
            else if (cJSON_IsNumber(ex))
                snprintf(until, sizeof until, "%.0f", ex->valuedouble);
            fprintf(c->out, "%s (user %lld) at %s; access token valid until %s\n",
                    safe ? safe : "", cJSON_IsNumber(uid) ? (long long)uid->valuedouble : 0LL,
                    ops_api_gateway(api), until);
            free(safe);
        }
    }
    ops_api_resp_free(&r);
    ops_api_close(api);
    return st;
}
