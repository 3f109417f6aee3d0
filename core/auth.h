/* The core side of authorisation: asks the first loaded auth module
 * (cardea/auth.h) and hands the answer back, counting decisions.
 *
 * Threads: cardea_auth_check may be called from any thread; `done` runs on
 * whatever thread the module answers from (synchronously, inside the call,
 * when no auth module is loaded). cardea_auth_cancel_all runs on the
 * thread stopping the API, before transports are unloaded.
 */
#ifndef CARDEA_CORE_AUTH_H
#define CARDEA_CORE_AUTH_H

#include <glib.h>
#include <jansson.h>
#include "cardea/auth.h"

/* True when an auth module is loaded (read-only after start-up). */
gboolean cardea_auth_enabled(void);

/* Asks for a decision on `request` (borrowed: {"action", "token", ...}).
 * `done` gets exactly one decision (transfer full, always an object with a
 * boolean "allow"). No module loaded: done({"allow": true}) before return. */
void cardea_auth_check(json_t *request, cardea_auth_done_fn done, void *user_data);

/* Shutdown: answers every request still waiting for its module with a
 * deny ("shutting down") now; the module's late answer is dropped. */
void cardea_auth_cancel_all(void);

/* A deny decision (new reference). */
json_t *cardea_auth_deny_new(const char *reason);

/* Decision counters since start (for /metrics). */
void cardea_auth_counters(guint64 *allowed, guint64 *denied);

/* Admin API: {"janus":"auth_request", "request": {...}} goes to the module
 * named `module` (package or short name; NULL = first). Returns a new
 * reference or NULL when no such module. */
json_t *cardea_auth_admin(const char *module, json_t *request, gboolean *found);

/* Module list for the Admin API: [{"package","name","version_string"}]. */
json_t *cardea_auth_list(void);

#endif
