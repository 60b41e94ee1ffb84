/* redact — the one place that hides credentials inside settings and connection strings, so
 * they can be logged and shown in errors. Used by lib/cfg (the start-up configuration line,
 * error messages about secret settings) and lib/pg (connection errors).
 *
 *   char shown[512];
 *   redact(getenv("TASKS_DATABASE_URL"), shown, sizeof shown);
 *   "postgres://tasks:S3cret@db/tasks"          -> "postgres://tasks:***@db/tasks"
 *   "postgres://u@h/db?password=S3cret"         -> "postgres://u@h/db?password=***"
 *   "host=db password='S3 cret' dbname=tasks"   -> "host='db' password='***' dbname='tasks'"
 *   "redis://S3cret@h:6379/0"                   -> the same with S3cret as ***
 *   "-----BEGIN EC PRIVATE KEY-----…"           -> "***"
 *
 * The rule is "show what identifies the target, never what authenticates to it": a value
 * in none of the forms above cannot be shown safely, so it is replaced whole. Callers apply
 * it to every setting that can carry a credential (cfg's `secret` entries). */
#ifndef TODO_REDACT_H
#define TODO_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define REDACTED "***"

/* Copies value into out with every password replaced by "***":
 *  - URLs scheme://user:password@host…: the password (the last '@' ends the userinfo, so a
 *    password may contain '@'); for redis:// and rediss://, a userinfo without ':' is the
 *    password itself (redis://password@host);
 *  - query parameters password= and sslpassword= of a URL;
 *  - libpq key=value conninfo strings (libpq's own parser, so its quoting rules apply):
 *    password and sslpassword;
 *  - anything else: "***" whole.
 * Returns 1 when something was hidden, 0 when the value carried nothing to hide (out is then
 * the value itself), -1 when out is too small (out then holds "***", never a prefix that
 * could end inside a password). out must have room for at least 4 bytes. */
int redact(const char *value, char *out, size_t outlen);

#endif
