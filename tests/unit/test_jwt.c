/* JWT verification (plugins/auth_jwt/jwt.c), HS256 cases built here with
 * OpenSSL's HMAC; RS256/ES256 run end to end in tests/integration/test_jwt.py. */
#include <string.h>
#include <openssl/hmac.h>
#include <glib.h>
#include "../../plugins/auth_jwt/jwt.h"

#define KEY "unit-test-hs256-secret"
#define NOW 1700000000

static char *b64url(const void *data, gsize len) {
	char *s = g_base64_encode(data, len);
	for (char *p = s; *p; p++) {
		if (*p == '+') *p = '-';
		else if (*p == '/') *p = '_';
	}
	char *eq = strchr(s, '=');
	if (eq)
		*eq = '\0';
	return s;
}

static char *token(const char *header, const char *claims, const char *key) {
	char *h = b64url(header, strlen(header)), *c = b64url(claims, strlen(claims));
	char *signing = g_strdup_printf("%s.%s", h, c);
	unsigned char mac[32];
	unsigned int len = 0;
	HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)signing, strlen(signing), mac, &len);
	char *sig = b64url(mac, len);
	char *t = g_strdup_printf("%s.%s", signing, sig);
	g_free(h);
	g_free(c);
	g_free(signing);
	g_free(sig);
	return t;
}

static const cardea_jwt_verifier verifier = { CARDEA_JWT_HS256, KEY, NULL, "iss-1", "aud-1", 30 };

/* NULL expected error = must verify. */
static void check(const char *header, const char *claims, const char *key, const char *want_error) {
	char *t = token(header, claims, key);
	char *error = NULL;
	json_t *c = cardea_jwt_verify(&verifier, t, NOW, &error);
	if (want_error == NULL) {
		g_assert_null(error);
		g_assert_nonnull(c);
	} else {
		g_assert_null(c);
		g_assert_cmpstr(error, ==, want_error);
	}
	json_decref(c);
	g_free(error);
	g_free(t);
}

#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define OK_CLAIMS(extra) "{\"iss\":\"iss-1\",\"aud\":\"aud-1\",\"exp\":1700000100" extra "}"

static void test_valid(void) {
	check(HS, OK_CLAIMS(""), KEY, NULL);
	check(HS, "{\"iss\":\"iss-1\",\"aud\":[\"x\",\"aud-1\"],\"exp\":1700000100}", KEY, NULL);
	/* Within the 30 s leeway on both sides. */
	check(HS, "{\"iss\":\"iss-1\",\"aud\":\"aud-1\",\"exp\":1699999980,\"nbf\":1700000020}", KEY, NULL);
}

static void test_time(void) {
	check(HS, "{\"iss\":\"iss-1\",\"aud\":\"aud-1\",\"exp\":1699999970}", KEY, "expired");
	check(HS, OK_CLAIMS(",\"nbf\":1700000031"), KEY, "not yet valid");
	check(HS, "{\"iss\":\"iss-1\",\"aud\":\"aud-1\"}", KEY, "no exp claim");
	check(HS, "{\"iss\":\"iss-1\",\"aud\":\"aud-1\",\"exp\":\"soon\"}", KEY, "no exp claim");
}

static void test_signature_and_alg(void) {
	check(HS, OK_CLAIMS(""), "another-key", "bad signature");
	check("{\"alg\":\"none\"}", OK_CLAIMS(""), KEY, "algorithm none refused (expected HS256)");
	check("{\"alg\":\"RS256\"}", OK_CLAIMS(""), KEY, "algorithm RS256 refused (expected HS256)");
	check("{\"typ\":\"JWT\"}", OK_CLAIMS(""), KEY, "algorithm (none) refused (expected HS256)");
	check("{\"alg\":\"HS256\",\"crit\":[\"x\"]}", OK_CLAIMS(""), KEY, "unsupported critical header");
}

static void test_claims(void) {
	check(HS, "{\"iss\":\"other\",\"aud\":\"aud-1\",\"exp\":1700000100}", KEY, "wrong issuer");
	check(HS, "{\"iss\":\"iss-1\",\"aud\":[\"x\"],\"exp\":1700000100}", KEY, "wrong audience");
	check(HS, "{\"iss\":\"iss-1\",\"exp\":1700000100}", KEY, "wrong audience");
}

static void test_malformed(void) {
	const char *bad[] = { "", "abc", "a.b", "a.b.c.d", "!!!.e30.sig", "e30.!!!.sig", "W10.e30.c2ln", NULL };
	for (int i = 0; bad[i]; i++) {
		char *error = NULL;
		json_t *c = cardea_jwt_verify(&verifier, bad[i], NOW, &error);
		g_assert_null(c);
		g_assert_nonnull(error);
		g_free(error);
	}
	char *error = NULL;
	g_assert_null(cardea_jwt_verify(&verifier, NULL, NOW, &error));
	g_assert_cmpstr(error, ==, "no token");
	g_free(error);
	/* A valid token with its signature cut off. */
	char *t = token(HS, OK_CLAIMS(""), KEY);
	*(strrchr(t, '.') + 1) = '\0';
	g_assert_null(cardea_jwt_verify(&verifier, t, NOW, &error));
	g_assert_cmpstr(error, ==, "malformed signature");
	g_free(error);
	g_free(t);
	g_assert_cmpint(cardea_jwt_alg_from_name("ES256"), ==, CARDEA_JWT_ES256);
	g_assert_cmpint(cardea_jwt_alg_from_name("none"), ==, -1);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/jwt/valid", test_valid);
	g_test_add_func("/jwt/time", test_time);
	g_test_add_func("/jwt/signature-and-alg", test_signature_and_alg);
	g_test_add_func("/jwt/claims", test_claims);
	g_test_add_func("/jwt/malformed", test_malformed);
	return g_test_run();
}
