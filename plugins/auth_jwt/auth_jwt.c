/* auth_jwt: local JWT verification, no backend round trip (docs/auth.md).
 *
 * The client's `token` (the one it sends with create/attach, or the one a
 * plugin passes) must be a JWT signed with the configured algorithm and key.
 * Claims: "sub" (user id), "name" (display), "permissions" {publish,
 * subscribe, moderate, max_bitrate, rooms} and optional "actions" (the
 * actions the token may be used for; absent = all). The decision is made
 * inside authorize(), on the caller's thread: verifying is a few µs.
 */
#include <string.h>
#include "cardea/auth.h"
#include "cardea/config.h"
#include "jwt.h"

static struct {
	gboolean active;
	cardea_jwt_verifier v;
	char *secret, *issuer, *audience;
	EVP_PKEY *key;
	GMutex lock;
	guint64 allowed, denied, expired, bad_signature, malformed, other;
} aj;

static void count_failure(const char *why) {
	g_mutex_lock(&aj.lock);
	aj.denied++;
	if (strstr(why, "expired") || strstr(why, "not yet"))
		aj.expired++;
	else if (strstr(why, "signature") || strstr(why, "algorithm"))
		aj.bad_signature++;
	else if (strstr(why, "malformed") || strstr(why, "no token"))
		aj.malformed++;
	else
		aj.other++;
	g_mutex_unlock(&aj.lock);
}

static void aj_authorize(json_t *request, cardea_auth_done_fn done, void *user_data) {
	const char *action = json_string_value(json_object_get(request, "action"));
	char *error = NULL;
	json_t *claims = cardea_jwt_verify(&aj.v, json_string_value(json_object_get(request, "token")),
		g_get_real_time() / G_USEC_PER_SEC, &error);
	if (claims == NULL) {
		CARDEA_LOG(CARDEA_LOG_INFO, "[auth_jwt] %s denied: %s", action ? action : "?", error);
		count_failure(error);
		json_t *d = json_pack("{s:b, s:s}", "allow", 0, "reason", error);
		g_free(error);
		done(d, user_data);
		return;
	}
	json_t *actions = json_object_get(claims, "actions");
	if (json_is_array(actions)) {
		gboolean listed = FALSE;
		size_t i;
		json_t *a;
		json_array_foreach(actions, i, a)
			listed |= action && json_is_string(a) && strcmp(json_string_value(a), action) == 0;
		if (!listed) {
			count_failure("action");
			json_decref(claims);
			done(json_pack("{s:b, s:s}", "allow", 0, "reason", "action not allowed by the token"), user_data);
			return;
		}
	}
	json_t *d = json_pack("{s:b}", "allow", 1);
	json_t *sub = json_object_get(claims, "sub"), *name = json_object_get(claims, "name");
	json_t *perms = json_object_get(claims, "permissions");
	if (json_is_string(sub))
		json_object_set(d, "user_id", sub);
	if (json_is_string(name))
		json_object_set(d, "display", name);
	if (json_is_object(perms))
		json_object_set(d, "permissions", perms);
	json_decref(claims);
	g_mutex_lock(&aj.lock);
	aj.allowed++;
	g_mutex_unlock(&aj.lock);
	done(d, user_data);
}

static json_t *aj_handle_request(json_t *request) {
	if (!aj.active)
		return json_pack("{s:s}", "error", "not configured");
	g_mutex_lock(&aj.lock);
	json_t *s = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "allowed", (json_int_t)aj.allowed,
		"denied", (json_int_t)aj.denied, "expired", (json_int_t)aj.expired,
		"bad_signature", (json_int_t)aj.bad_signature, "malformed", (json_int_t)aj.malformed,
		"other_failures", (json_int_t)aj.other);
	g_mutex_unlock(&aj.lock);
	return s;
}

static bool aj_is_active(void) {
	return aj.active;
}

static void clear(void) {
	g_free(aj.secret);
	g_free(aj.issuer);
	g_free(aj.audience);
	EVP_PKEY_free(aj.key);
	memset(&aj, 0, sizeof(aj));
}

static int aj_init(const cardea_auth_core *core, const char *config_path) {
	memset(&aj, 0, sizeof(aj));
	if (config_path == NULL || !g_file_test(config_path, G_FILE_TEST_EXISTS)) {
		CARDEA_LOG(CARDEA_LOG_INFO, "[auth_jwt] %s not found: inactive", config_path ? config_path : "config");
		return 0;
	}
	GError *error = NULL;
	cardea_config *cfg = cardea_config_load(config_path, &error);
	if (cfg == NULL) {
		CARDEA_LOG(CARDEA_LOG_FATAL, "[auth_jwt] %s", error->message);
		g_error_free(error);
		return -1;
	}
	static const char *const known[] = { "enabled", "alg", "secret", "public_key", "issuer", "audience", "leeway", NULL };
	static const char *const algs[] = { "HS256", "RS256", "ES256", NULL };
	cardea_config_warn_unknown(cfg, "general", known);
	int alg = 0;
	gint64 leeway = 0;
	char *key_path = NULL;
	gboolean ok = cardea_config_get_choice(cfg, "general", "alg", "HS256", algs, &alg, &error) &&
		cardea_config_get_string(cfg, "general", "secret", NULL, &aj.secret, &error) &&
		cardea_config_get_string(cfg, "general", "public_key", NULL, &key_path, &error) &&
		cardea_config_get_string(cfg, "general", "issuer", NULL, &aj.issuer, &error) &&
		cardea_config_get_string(cfg, "general", "audience", NULL, &aj.audience, &error) &&
		cardea_config_get_int(cfg, "general", "leeway", 30, 0, 3600, &leeway, &error);
	if (ok && alg == CARDEA_JWT_HS256 && (aj.secret == NULL || strlen(aj.secret) < 16)) {
		cardea_config_set_value_error(&error, cfg, "general", "secret", "must be set (16 characters at least) for HS256");
		ok = FALSE;
	}
	if (ok && alg != CARDEA_JWT_HS256) {
		char *why = NULL;
		aj.key = key_path ? cardea_jwt_load_public_key(key_path, &why) : NULL;
		if (aj.key == NULL || EVP_PKEY_base_id(aj.key) != (alg == CARDEA_JWT_RS256 ? EVP_PKEY_RSA : EVP_PKEY_EC)) {
			cardea_config_set_value_error(&error, cfg, "general", "public_key", "%s",
				why ? why : key_path ? "is not a key of the configured alg" : "must name a PEM public key file for RS256/ES256");
			ok = FALSE;
		}
		g_free(why);
	}
	g_free(key_path);
	if (!ok) {
		CARDEA_LOG(CARDEA_LOG_FATAL, "[auth_jwt] %s", error->message);
		g_error_free(error);
		cardea_config_free(cfg);
		clear();
		return -1;
	}
	cardea_config_free(cfg);
	g_mutex_init(&aj.lock);
	aj.v.alg = (cardea_jwt_alg)alg;
	aj.v.secret = aj.secret;
	aj.v.public_key = aj.key;
	aj.v.issuer = aj.issuer;
	aj.v.audience = aj.audience;
	aj.v.leeway = leeway;
	aj.active = TRUE;
	CARDEA_LOG(CARDEA_LOG_INFO, "[auth_jwt] verifying %s tokens%s%s", algs[alg],
		aj.issuer ? " from " : "", aj.issuer ? aj.issuer : "");
	return 0;
}

static void aj_destroy(void) {
	if (!aj.active)
		return;
	g_mutex_clear(&aj.lock);
	clear();
}

static cardea_auth auth_jwt = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_AUTH, cardea_auth),
		.package = "cardea.auth.jwt",
		.name = "jwt",
		.description = "Verifies JWTs (HS256/RS256/ES256) locally and reads permissions from their claims",
		.author = "Cardea",
		.version_string = "0.1.0",
		.version = 1,
	},
	.init = aj_init,
	.destroy = aj_destroy,
	.authorize = aj_authorize,
	.handle_request = aj_handle_request,
	.is_active = aj_is_active,
};

CARDEA_MODULE_DEFINE(auth_jwt)
