/* Cardea SDK: auth modules (business authorisation, e.g. a callback to the
 * company's backend or local JWT verification).
 *
 * The loader loads them today; the core hooks that consult them (session
 * create, attach, plugin-declared guarded actions) arrive with the auth
 * issue. Until an auth module is loaded, only api_secret/token_auth apply.
 *
 * Decisions are asynchronous: authorize() must return at once and call
 * `done` exactly once later, from any thread.
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
	void *_reserved[8];
} cardea_auth;

#ifdef __cplusplus
}
#endif
#endif
