/* See jwt.h. */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/bn.h>
#include "jwt.h"

static const char *const alg_names[] = { "HS256", "RS256", "ES256", NULL };

int cardea_jwt_alg_from_name(const char *name) {
	for (int i = 0; name && alg_names[i]; i++)
		if (strcmp(name, alg_names[i]) == 0)
			return i;
	return -1;
}

/* base64url without padding (RFC 7515 §2). NULL on bad input. */
static guchar *b64url_decode(const char *in, size_t len, gsize *out_len) {
	if (len % 4 == 1)
		return NULL;
	GString *s = g_string_sized_new(len + 3);
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!g_ascii_isalnum(c)) {
			g_string_free(s, TRUE);
			return NULL;
		}
		g_string_append_c(s, c);
	}
	while (s->len % 4)
		g_string_append_c(s, '=');
	guchar *out = g_base64_decode(s->str, out_len);
	g_string_free(s, TRUE);
	return out;
}

static json_t *decode_json_part(const char *in, size_t len) {
	gsize n = 0;
	guchar *raw = b64url_decode(in, len, &n);
	if (raw == NULL)
		return NULL;
	json_t *j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
	g_free(raw);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static gboolean verify_hs256(const char *secret, const char *data, size_t len, const guchar *sig, gsize sig_len) {
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (secret == NULL || *secret == '\0')
		return FALSE;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)data, len, mac, &mac_len))
		return FALSE;
	return sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
}

static gboolean verify_pkey(EVP_PKEY *key, int want_type, const char *data, size_t len,
		const unsigned char *sig, size_t sig_len) {
	if (key == NULL || EVP_PKEY_base_id(key) != want_type)
		return FALSE;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	gboolean ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
		EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)data, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* JWS ES256 signatures are r||s (32 bytes each); OpenSSL wants DER. */
static gboolean verify_es256(EVP_PKEY *key, const char *data, size_t len, const guchar *sig, gsize sig_len) {
	if (sig_len != 64)
		return FALSE;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return FALSE;
	}
	unsigned char *der = NULL;
	int der_len = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	gboolean ok = der_len > 0 && verify_pkey(key, EVP_PKEY_EC, data, len, der, (size_t)der_len);
	OPENSSL_free(der);
	return ok;
}

static gboolean aud_matches(json_t *aud, const char *want) {
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	size_t i;
	json_t *a;
	json_array_foreach(aud, i, a)
		if (json_is_string(a) && strcmp(json_string_value(a), want) == 0)
			return TRUE;
	return FALSE;
}

#define FAIL(...) do { *error = g_strdup_printf(__VA_ARGS__); goto fail; } while (0)

json_t *cardea_jwt_verify(const cardea_jwt_verifier *v, const char *token, gint64 now, char **error) {
	json_t *header = NULL, *claims = NULL;
	guchar *sig = NULL;
	*error = NULL;
	if (token == NULL || *token == '\0')
		FAIL("no token");
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
		FAIL("malformed token (not three dot-separated parts)");
	header = decode_json_part(token, (size_t)(dot1 - token));
	claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (header == NULL || claims == NULL)
		FAIL("malformed token (header or claims are not base64url JSON objects)");
	const char *alg = json_string_value(json_object_get(header, "alg"));
	if (alg == NULL || cardea_jwt_alg_from_name(alg) != (int)v->alg)
		FAIL("algorithm %s refused (expected %s)", alg ? alg : "(none)", alg_names[v->alg]);
	if (json_object_get(header, "crit") != NULL)
		FAIL("unsupported critical header");
	gsize sig_len = 0;
	sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len);
	if (sig == NULL || sig_len == 0)
		FAIL("malformed signature");
	size_t signed_len = (size_t)(dot2 - token);
	gboolean ok = FALSE;
	switch (v->alg) {
	case CARDEA_JWT_HS256: ok = verify_hs256(v->secret, token, signed_len, sig, sig_len); break;
	case CARDEA_JWT_RS256: ok = verify_pkey(v->public_key, EVP_PKEY_RSA, token, signed_len, sig, sig_len); break;
	case CARDEA_JWT_ES256: ok = verify_es256(v->public_key, token, signed_len, sig, sig_len); break;
	}
	if (!ok)
		FAIL("bad signature");
	json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
	if (!json_is_number(exp))
		FAIL("no exp claim");
	if ((gint64)json_number_value(exp) + v->leeway <= now)
		FAIL("expired");
	if (nbf != NULL && (!json_is_number(nbf) || (gint64)json_number_value(nbf) - v->leeway > now))
		FAIL("not yet valid");
	if (v->issuer && g_strcmp0(json_string_value(json_object_get(claims, "iss")), v->issuer) != 0)
		FAIL("wrong issuer");
	if (v->audience && !aud_matches(json_object_get(claims, "aud"), v->audience))
		FAIL("wrong audience");
	json_decref(header);
	g_free(sig);
	return claims;
fail:
	json_decref(header);
	json_decref(claims);
	g_free(sig);
	return NULL;
}

EVP_PKEY *cardea_jwt_load_public_key(const char *path, char **error) {
	*error = NULL;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		*error = g_strdup_printf("cannot open %s", path);
		return NULL;
	}
	EVP_PKEY *key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL) {
		*error = g_strdup_printf("%s holds no PEM public key", path);
		return NULL;
	}
	int type = EVP_PKEY_base_id(key);
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
		EVP_PKEY_free(key);
		*error = g_strdup_printf("%s: only RSA and EC keys are supported", path);
		return NULL;
	}
	return key;
}
