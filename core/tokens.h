/* Token authentication (janus-api.md §3.5).
 *
 * Two modes, chosen by settings: stored tokens managed over the Admin API
 * (add/allow/disallow/remove/list), or, when token_auth_secret is set,
 * signed tokens "<expiry>,janus,<plugin>[,<plugin>...]:<base64 HMAC-SHA1>"
 * verified locally. Thread-safe (one internal mutex, never held while calling out).
 */
#ifndef CARDEA_TOKENS_H
#define CARDEA_TOKENS_H

#include <glib.h>
#include <jansson.h>

void cardea_tokens_init(const char *signing_secret);
void cardea_tokens_deinit(void);
/* TRUE when tokens are stored ones (Admin-managed), FALSE in signed mode. */
gboolean cardea_tokens_stored_mode(void);

gboolean cardea_token_is_valid(const char *token);
/* The token may be used with `package`. */
gboolean cardea_token_allows_plugin(const char *token, const char *package);

/* Stored-token management. `plugins` NULL = every plugin. Return FALSE when
 * the token is unknown (allow/disallow/remove) or already exists (add). */
gboolean cardea_token_add(const char *token, const char *const *plugins);
gboolean cardea_token_allow(const char *token, const char *const *plugins);
gboolean cardea_token_disallow(const char *token, const char *const *plugins);
gboolean cardea_token_remove(const char *token);
/* [{"token": "...", "allowed_plugins": [...]}] (new reference). */
json_t *cardea_tokens_list(void);
/* The plugins a stored token allows (new reference; array). */
json_t *cardea_token_plugins(const char *token);

#endif
