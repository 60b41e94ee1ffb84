/* auth_req — reading requests: JSON string fields, bearer tokens; see auth_req.h. */
#include "auth_req.h"

#include <string.h>
#include <strings.h>

bool auth_req_has_nul_escape(const char *s, size_t len)
{
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        if (!in_str) {
            in_str = s[i] == '"';
        } else if (s[i] == '"') {
            in_str = false;
        } else if (s[i] == '\\' && i + 1 < len) {
            if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0) return true;
            i++; /* skip the escaped character (\" or \\ included) */
        }
    }
    return false;
}

const char *auth_req_bearer(const char *h, size_t *len)
{
    if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) return NULL;
    h += 6;
    while (*h == ' ' || *h == '\t')
        h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (n == 0) return NULL;
    *len = n;
    return h;
}

int auth_req_fields(http_req *req, auth_field_t *f, size_t n)
{
    const cJSON *body = http_req_json(req);
    size_t rawlen;
    const char *raw = http_req_body(req, &rawlen);
    if (!body) {
        http_error(req, 400, "invalid_request", "a JSON object body is required");
        return -1;
    }
    if (!cJSON_IsObject(body)) {
        http_error(req, 400, "invalid_request", "the body must be a JSON object");
        return -1;
    }
    if (auth_req_has_nul_escape(raw, rawlen)) {
        http_error(req, 400, "invalid_json", "strings must not contain NUL characters");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, f[i].name);
        if (!v) {
            http_errorf(req, 400, "invalid_request", "missing field '%s'", f[i].name);
            return -1;
        }
        if (!cJSON_IsString(v)) {
            http_errorf(req, 400, "invalid_request", "field '%s' must be a string", f[i].name);
            return -1;
        }
        f[i].val = v->valuestring;
        f[i].len = strlen(v->valuestring);
    }
    return 0;
}
