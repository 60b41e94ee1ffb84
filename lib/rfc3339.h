/* rfc3339 — times as the API, the events and the logs write them: RFC 3339 in UTC with
 * milliseconds ("2024-05-01T12:00:00.123Z"), parsed back from any RFC 3339 form a client
 * may send (Z or ±hh:mm, 0–9 fraction digits). Pure arithmetic (Howard Hinnant's civil-date
 * algorithms): no time zone database, no locale, no gmtime. */
#ifndef TODO_RFC3339_H
#define TODO_RFC3339_H

#include <stdint.h>

#define RFC3339_LEN 24 /* "2024-05-01T12:00:00.123Z" */

/* Parses an RFC 3339 date-time into Unix milliseconds (a fraction beyond milliseconds is
 * cut). Only 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z after the offset. 0 or -1. */
int rfc3339_parse(const char *s, int64_t *ms);

/* Formats Unix milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ" (RFC3339_LEN characters + NUL). */
void rfc3339_format(int64_t ms, char out[RFC3339_LEN + 1]);

#endif
