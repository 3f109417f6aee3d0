/* Stored tokens (Admin-managed) and signed tokens (token_auth_secret). */
#include <string.h>
#include <glib.h>
#include "tokens.h"

static void test_stored_tokens(void) {
	cardea_tokens_init(NULL);
	g_assert_true(cardea_tokens_stored_mode());
	g_assert_false(cardea_token_is_valid("t1"));
	const char *echo[] = { "janus.plugin.echotest", NULL };
	g_assert_true(cardea_token_add("t1", echo));
	g_assert_false(cardea_token_add("t1", echo));
	g_assert_true(cardea_token_is_valid("t1"));
	g_assert_false(cardea_token_is_valid(""));
	g_assert_false(cardea_token_is_valid(NULL));
	g_assert_true(cardea_token_allows_plugin("t1", "janus.plugin.echotest"));
	g_assert_false(cardea_token_allows_plugin("t1", "janus.plugin.videoroom"));

	const char *room[] = { "janus.plugin.videoroom", NULL };
	g_assert_true(cardea_token_allow("t1", room));
	g_assert_true(cardea_token_allows_plugin("t1", "janus.plugin.videoroom"));
	g_assert_true(cardea_token_disallow("t1", echo));
	g_assert_false(cardea_token_allows_plugin("t1", "janus.plugin.echotest"));
	g_assert_false(cardea_token_allow("nope", room));
	g_assert_false(cardea_token_disallow("nope", room));

	json_t *plugins = cardea_token_plugins("t1");
	g_assert_cmpuint(json_array_size(plugins), ==, 1);
	g_assert_cmpstr(json_string_value(json_array_get(plugins, 0)), ==, "janus.plugin.videoroom");
	json_decref(plugins);

	g_assert_true(cardea_token_add("all", NULL));
	g_assert_true(cardea_token_allows_plugin("all", "anything.at.all"));
	json_t *list = cardea_tokens_list();
	g_assert_cmpuint(json_array_size(list), ==, 2);
	json_decref(list);

	g_assert_true(cardea_token_remove("t1"));
	g_assert_false(cardea_token_remove("t1"));
	g_assert_false(cardea_token_is_valid("t1"));
	cardea_tokens_deinit();
}

/* Builds "<expiry>,janus,<plugins>:<base64 hmac-sha1>" the way a backend would. */
static char *sign(const char *secret, gint64 expiry, const char *plugins) {
	char *data = g_strdup_printf("%" G_GINT64_FORMAT ",janus,%s", expiry, plugins);
	guint8 digest[20];
	gsize len = sizeof(digest);
	GHmac *h = g_hmac_new(G_CHECKSUM_SHA1, (const guchar *)secret, strlen(secret));
	g_hmac_update(h, (const guchar *)data, -1);
	g_hmac_get_digest(h, digest, &len);
	g_hmac_unref(h);
	char *sig = g_base64_encode(digest, len);
	char *token = g_strdup_printf("%s:%s", data, sig);
	g_free(sig);
	g_free(data);
	return token;
}

static void test_signed_tokens(void) {
	cardea_tokens_init("topsecret");
	g_assert_false(cardea_tokens_stored_mode());
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	char *good = sign("topsecret", now + 3600, "janus.plugin.echotest,janus.plugin.videoroom");
	char *expired = sign("topsecret", now - 10, "janus.plugin.echotest");
	char *wrong_key = sign("othersecret", now + 3600, "janus.plugin.echotest");
	g_assert_true(cardea_token_is_valid(good));
	g_assert_true(cardea_token_allows_plugin(good, "janus.plugin.videoroom"));
	g_assert_false(cardea_token_allows_plugin(good, "janus.plugin.videocall"));
	g_assert_false(cardea_token_is_valid(expired));
	g_assert_false(cardea_token_is_valid(wrong_key));
	/* Tampering with the plugin list breaks the signature. */
	char *tampered = g_strdup(good);
	char *p = strstr(tampered, "echotest");
	p[0] = 'E';
	g_assert_false(cardea_token_is_valid(tampered));
	g_assert_false(cardea_token_is_valid("garbage"));
	g_assert_false(cardea_token_is_valid(":"));
	g_assert_false(cardea_token_is_valid("123,janus:"));
	/* Stored-token management is off in signed mode. */
	g_assert_false(cardea_token_add("x", NULL) && cardea_token_is_valid("x"));
	g_free(good);
	g_free(expired);
	g_free(wrong_key);
	g_free(tampered);
	cardea_tokens_deinit();
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tokens/stored", test_stored_tokens);
	g_test_add_func("/tokens/signed", test_signed_tokens);
	return g_test_run();
}
