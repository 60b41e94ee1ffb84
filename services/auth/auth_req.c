/* auth_req — reading requests: JSON string fields, bearer tokens; see auth_req.h. */
#include "auth_req.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int auth_req_fields(http_req *req, auth_field_t *f, size_t n)
{
    const cJSON *body = http_req_json(req); /* lib/http refused NULs and \u0000 escapes */
    if (!body) {
        http_error(req, 400, "invalid_request", "a JSON object body is required");
        return -1;
    }
    if (!cJSON_IsObject(body)) {
        http_error(req, 400, "invalid_request", "the body must be a JSON object");
        return -1;
    }
    /* Only the named members, each once: an unknown or repeated member is refused (as
     * tasks-service does), so a typo is named in the answer and no two readers of the body
     * can disagree about which of two "email" members counts. */
    const cJSON *m;
    cJSON_ArrayForEach(m, body)
    {
        size_t i = 0;
        while (i < n && strcmp(m->string ? m->string : "", f[i].name) != 0)
            i++;
        if (i == n) {
            char shown[48];
            snprintf(shown, sizeof shown, "%.40s", m->string ? m->string : "");
            for (char *p = shown; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F) *p = '?';
            http_errorf(req, 400, "invalid_request", "unknown field '%s'", shown);
            return -1;
        }
        if (cJSON_GetObjectItemCaseSensitive(body, f[i].name) != m) {
            http_errorf(req, 400, "invalid_request", "field '%s' appears twice", f[i].name);
            return -1;
        }
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
