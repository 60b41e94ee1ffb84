/* ops_session — the saved login: tokens in $XDG_STATE_HOME/todo-console/session.json, 0600.
 *
 * The file is written to a temporary name created with mode 0600 and renamed over the old
 * one, so a reader never sees half a session and the tokens are never world-readable, even
 * for a moment. A session remembers the gateway it was made for: a session for another
 * gateway (a second stack) is not used. Refreshes are serialised between processes with an
 * flock on session.lock, because a refresh token is single-use (CONTRACT §3): two processes
 * refreshing the same token at once would revoke the whole family. */
#ifndef OPS_SESSION_H
#define OPS_SESSION_H

#include <stdint.h>

#include "ops_err.h"

typedef struct ops_session {
    char gateway[512];
    char email[256];
    int64_t user_id;          /* 0 when unknown */
    char access_token[4096];
    char refresh_token[1024];
    int64_t expires_at;       /* Unix seconds when the access token expires (local estimate) */
} ops_session_t;

/* Reads dir/session.json. OPS_OK with *s filled, OPS_AUTH ("not logged in") when there is no
 * session or it belongs to another gateway (gateway may be NULL to accept any), OPS_FAIL when
 * the file is unreadable or corrupt. */
ops_status_t ops_session_load(const char *dir, const char *gateway, ops_session_t *s,
                              ops_err_t *err);

/* Writes s to dir/session.json (creating dir with mode 0700), mode 0600, atomically. */
ops_status_t ops_session_save(const char *dir, const ops_session_t *s, ops_err_t *err);

/* Removes the session file; a missing one is fine. */
void ops_session_remove(const char *dir);

/* Takes (and returns an fd for) the exclusive lock dir/session.lock, waiting at most about
 * timeout_ms; -1 when it could not be taken. ops_session_unlock releases it. */
int ops_session_lock(const char *dir, int timeout_ms);
void ops_session_unlock(int fd);

#endif
