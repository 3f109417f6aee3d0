/* JSON Web Token verification (RFC 7519 / 7515 compact form) with OpenSSL:
 * HS256, RS256 and ES256 only. The algorithm is fixed by configuration, never
 * taken on trust from the token: a token whose header names another one
 * (including "none") is rejected, which closes the classic alg-confusion
 * holes. Pure functions, no global state: safe from any thread. */
#ifndef CARDEA_JWT_H
#define CARDEA_JWT_H

#include <glib.h>
#include <jansson.h>
#include <openssl/evp.h>

typedef enum { CARDEA_JWT_HS256 = 0, CARDEA_JWT_RS256, CARDEA_JWT_ES256 } cardea_jwt_alg;

typedef struct cardea_jwt_verifier {
	cardea_jwt_alg alg;
	const char *secret;        /* HS256 key (borrowed) */
	EVP_PKEY *public_key;      /* RS256/ES256 key (borrowed) */
	const char *issuer;        /* required "iss" or NULL */
	const char *audience;      /* required in "aud" (string or array) or NULL */
	gint64 leeway;             /* seconds of clock skew tolerated on exp/nbf/iat */
} cardea_jwt_verifier;

/* "HS256" -> CARDEA_JWT_HS256...; -1 for anything else. */
int cardea_jwt_alg_from_name(const char *name);

/* Verifies `token` at time `now` (seconds since the epoch). Returns the claims
 * (new reference) or NULL with *error (g_free) saying why: malformed,
 * wrong algorithm, bad signature, expired, not yet valid, wrong issuer or
 * audience. "exp" is required (a token that never expires is refused). */
json_t *cardea_jwt_verify(const cardea_jwt_verifier *v, const char *token, gint64 now, char **error);

/* Reads a PEM public key file (RSA or EC P-256). NULL with *error on failure. */
EVP_PKEY *cardea_jwt_load_public_key(const char *path, char **error);

#endif
