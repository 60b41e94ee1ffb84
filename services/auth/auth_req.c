/* auth_req — reading requests: JSON string fields, bearer tokens; see auth_req.h. */
#include "auth_req.h"

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
