#include <string.h>
#include <stdlib.h>
#include "tokens.h"
#include "ids.h"
#include "cardea/module.h"

/* token -> GHashTable* set of plugin package names, or NULL meaning "all". */
typedef struct stored_token {
	gboolean all_plugins;
	GHashTable *plugins;   /* owned; package -> itself */
} stored_token;

static GMutex tokens_mutex;
static GHashTable *tokens;     /* owned: char* -> stored_token* */
static char *signing_secret;   /* owned; NULL = stored mode */

static void stored_token_free(gpointer p) {
	stored_token *t = p;
	if (t->plugins)
		g_hash_table_destroy(t->plugins);
	g_free(t);
}

void cardea_tokens_init(const char *secret) {
	g_mutex_lock(&tokens_mutex);
	if (tokens == NULL)
		tokens = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, stored_token_free);
	g_free(signing_secret);
	signing_secret = (secret && *secret) ? g_strdup(secret) : NULL;
	g_mutex_unlock(&tokens_mutex);
}

void cardea_tokens_deinit(void) {
	g_mutex_lock(&tokens_mutex);
	if (tokens)
		g_hash_table_destroy(tokens);
	tokens = NULL;
	g_clear_pointer(&signing_secret, g_free);
	g_mutex_unlock(&tokens_mutex);
}

gboolean cardea_tokens_stored_mode(void) {
	g_mutex_lock(&tokens_mutex);
	gboolean stored = signing_secret == NULL;
	g_mutex_unlock(&tokens_mutex);
	return stored;
}

/* Signed token: "<expiry>,janus,<plugin>...:<sig>". Returns the plugin list
 * (g_strfreev) when the signature and expiry check out, NULL otherwise. */
static gchar **signed_token_plugins(const char *token, const char *secret) {
	const char *colon = strrchr(token, ':');
	if (colon == NULL || colon == token)
		return NULL;
	gsize data_len = (gsize)(colon - token);
	guint8 digest[20];
	gsize digest_len = sizeof(digest);
	GHmac *hmac = g_hmac_new(G_CHECKSUM_SHA1, (const guchar *)secret, strlen(secret));
	g_hmac_update(hmac, (const guchar *)token, (gssize)data_len);
	g_hmac_get_digest(hmac, digest, &digest_len);
	g_hmac_unref(hmac);
	gchar *expected = g_base64_encode(digest, digest_len);
	gboolean ok = cardea_secret_equal(expected, colon + 1);
	g_free(expected);
	if (!ok)
		return NULL;
	gchar *data = g_strndup(token, data_len);
	gchar **parts = g_strsplit(data, ",", -1);
	g_free(data);
	guint n = g_strv_length(parts);
	char *end = NULL;
	gint64 expiry = n >= 2 ? g_ascii_strtoll(parts[0], &end, 10) : 0;
	if (n < 2 || end == parts[0] || *end != '\0' || strcmp(parts[1], "janus") != 0 ||
			expiry < g_get_real_time() / G_USEC_PER_SEC) {
		g_strfreev(parts);
		return NULL;
	}
	/* Keep only the plugin names. */
	gchar **plugins = g_new0(gchar *, n - 1);
	for (guint i = 2; i < n; i++)
		plugins[i - 2] = g_strdup(parts[i]);
	g_strfreev(parts);
	return plugins;
}

gboolean cardea_token_is_valid(const char *token) {
	if (token == NULL || *token == '\0')
		return FALSE;
	g_mutex_lock(&tokens_mutex);
	gboolean ok;
	if (signing_secret) {
		gchar **plugins = signed_token_plugins(token, signing_secret);
		ok = plugins != NULL;
		g_strfreev(plugins);
	} else {
		ok = tokens && g_hash_table_contains(tokens, token);
	}
	g_mutex_unlock(&tokens_mutex);
	return ok;
}

gboolean cardea_token_allows_plugin(const char *token, const char *package) {
	if (token == NULL || package == NULL)
		return FALSE;
	gboolean ok = FALSE;
	g_mutex_lock(&tokens_mutex);
	if (signing_secret) {
		gchar **plugins = signed_token_plugins(token, signing_secret);
		ok = plugins && g_strv_contains((const gchar *const *)plugins, package);
		g_strfreev(plugins);
	} else if (tokens) {
		stored_token *t = g_hash_table_lookup(tokens, token);
		ok = t && (t->all_plugins || g_hash_table_contains(t->plugins, package));
	}
	g_mutex_unlock(&tokens_mutex);
	return ok;
}

static void add_plugins(stored_token *t, const char *const *plugins) {
	for (; plugins && *plugins; plugins++)
		g_hash_table_add(t->plugins, g_strdup(*plugins));
}

gboolean cardea_token_add(const char *token, const char *const *plugins) {
	g_mutex_lock(&tokens_mutex);
	gboolean ok = tokens && !g_hash_table_contains(tokens, token);
	if (ok) {
		stored_token *t = g_new0(stored_token, 1);
		t->plugins = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		t->all_plugins = plugins == NULL;
		add_plugins(t, plugins);
		g_hash_table_insert(tokens, g_strdup(token), t);
	}
	g_mutex_unlock(&tokens_mutex);
	return ok;
}

gboolean cardea_token_allow(const char *token, const char *const *plugins) {
	g_mutex_lock(&tokens_mutex);
	stored_token *t = tokens ? g_hash_table_lookup(tokens, token) : NULL;
	if (t)
		add_plugins(t, plugins);
	g_mutex_unlock(&tokens_mutex);
	return t != NULL;
}

gboolean cardea_token_disallow(const char *token, const char *const *plugins) {
	g_mutex_lock(&tokens_mutex);
	stored_token *t = tokens ? g_hash_table_lookup(tokens, token) : NULL;
	if (t) {
		/* Narrowing an "all plugins" token makes its list explicit first; the
		 * caller passes the known packages through allow if it wants that. */
		t->all_plugins = FALSE;
		for (; plugins && *plugins; plugins++)
			g_hash_table_remove(t->plugins, *plugins);
	}
	g_mutex_unlock(&tokens_mutex);
	return t != NULL;
}

gboolean cardea_token_remove(const char *token) {
	g_mutex_lock(&tokens_mutex);
	gboolean ok = tokens && g_hash_table_remove(tokens, token);
	g_mutex_unlock(&tokens_mutex);
	return ok;
}

static json_t *plugins_json(const stored_token *t) {
	json_t *arr = json_array();
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, t->plugins);
	while (g_hash_table_iter_next(&it, &key, NULL))
		json_array_append_new(arr, json_string(key));
	return arr;
}

json_t *cardea_token_plugins(const char *token) {
	g_mutex_lock(&tokens_mutex);
	stored_token *t = tokens ? g_hash_table_lookup(tokens, token) : NULL;
	json_t *arr = t ? plugins_json(t) : json_array();
	g_mutex_unlock(&tokens_mutex);
	return arr;
}

json_t *cardea_tokens_list(void) {
	json_t *list = json_array();
	g_mutex_lock(&tokens_mutex);
	if (tokens) {
		GHashTableIter it;
		gpointer key, value;
		g_hash_table_iter_init(&it, tokens);
		while (g_hash_table_iter_next(&it, &key, &value)) {
			json_t *entry = json_object();
			json_object_set_new(entry, "token", json_string(key));
			json_object_set_new(entry, "allowed_plugins", plugins_json(value));
			json_array_append_new(list, entry);
		}
	}
	g_mutex_unlock(&tokens_mutex);
	return list;
}
