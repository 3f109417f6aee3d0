/* Cardea SDK: auth modules (business authorisation, e.g. a callback to the
 * company's backend or local JWT verification).
 *
 * The core asks the first loaded auth module before `create` (action
 * "session.create") and `attach` ("handle.attach"); plugins ask it through
 * cardea_plugin_core.auth_check before their guarded actions (docs/auth.md
 * lists them). Without an auth module only api_secret/token_auth apply.
 *
 * Decisions are asynchronous: authorize() must return at once and call
 * `done` exactly once later, from any thread (or from inside authorize()
 * when the answer is known at once, e.g. a cache hit).
 *
 * A decision object:
 *   {"allow": bool, "reason": "...", "user_id": "...", "display": "...",
 *    "permissions": {"publish": bool, "subscribe": bool, "moderate": bool,
 *                    "max_bitrate": int, "rooms": [ids or names]}}
 * A missing permission means "not restricted" (the helpers below).
 */
#ifndef CARDEA_AUTH_H
#define CARDEA_AUTH_H

#include <stdbool.h>
#include <jansson.h>
#include "cardea/module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* `decision` is transfer full: {"allow": bool, "reason", "user_id", "permissions": {...}}. */
typedef void (*cardea_auth_done_fn)(json_t *decision, void *user_data);

typedef struct cardea_auth_core {
	const char *configs_folder;
	void *_reserved[8];
} cardea_auth_core;

typedef struct cardea_auth {
	cardea_module_info info;
	int (*init)(const cardea_auth_core *core, const char *config_path);
	void (*destroy)(void);
	/* `request` is borrowed: {"action": "session.create"|..., "token", "session_id", ...}. */
	void (*authorize)(json_t *request, cardea_auth_done_fn done, void *user_data);
	/* Optional: Admin API `auth_request` ({"request": "stats"|"flush"|...}).
	 * `request` borrowed; returns a new reference or NULL. */
	json_t *(*handle_request)(json_t *request);
	/* Optional: false when the module is installed but not configured (no
	 * config file): the core then treats it as absent. NULL = always active. */
	bool (*is_active)(void);
	void *_reserved[6];
} cardea_auth;

/* ---- reading a decision (any thread; `decision` borrowed, may be NULL) ---- */
static inline bool cardea_auth_allowed(const json_t *decision) {
	return json_is_true(json_object_get(decision, "allow"));
}
/* A boolean permission; absent = `def`. */
static inline bool cardea_auth_permission(const json_t *decision, const char *name, bool def) {
	json_t *v = json_object_get(json_object_get(decision, "permissions"), name);
	return json_is_boolean(v) ? json_is_true(v) : def;
}
/* max_bitrate in bps, 0 = no cap. */
static inline json_int_t cardea_auth_max_bitrate(const json_t *decision) {
	json_t *v = json_object_get(json_object_get(decision, "permissions"), "max_bitrate");
	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}
/* A decimal string equal to integer `n` ("12" == 12, "12a" != 12). */
static inline bool cardea_auth_id_equal(const char *text, json_int_t n) {
	char *end = NULL;
	if (text == NULL || *text == '\0')
		return false;
	gint64 v = g_ascii_strtoll(text, &end, 10);
	return end && *end == '\0' && v == n;
}
/* Whether `room` (an integer or string id, borrowed) is in permissions.rooms;
 * no "rooms" list = every room. Integers and their decimal strings match. */
static inline bool cardea_auth_room_allowed(const json_t *decision, const json_t *room) {
	json_t *rooms = json_object_get(json_object_get(decision, "permissions"), "rooms");
	if (!json_is_array(rooms))
		return true;
	size_t i;
	json_t *r;
	json_array_foreach(rooms, i, r) {
		if (json_equal(r, (json_t *)room))
			return true;
		if (json_is_integer(r) && json_is_string(room) &&
				cardea_auth_id_equal(json_string_value(room), json_integer_value(r)))
			return true;
		if (json_is_string(r) && json_is_integer(room) &&
				cardea_auth_id_equal(json_string_value(r), json_integer_value(room)))
			return true;
	}
	return false;
}

#ifdef __cplusplus
}
#endif
#endif
