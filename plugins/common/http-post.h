/* A signed JSON POST with libcurl, shared by the auth_http and webhook
 * modules (compiled into each; not part of the SDK).
 *
 * Signature: header "X-Cardea-Signature: sha256=<hex HMAC-SHA256 of the exact
 * body bytes, keyed with the configured secret>", omitted without a secret.
 * A receiver recomputes it over the raw body and compares in constant time.
 *
 * Threads: a cardea_http_poster belongs to one thread (libcurl easy handles
 * are not thread-safe); keeping it alive keeps the connection alive.
 */
#ifndef CARDEA_MODULE_HTTP_POST_H
#define CARDEA_MODULE_HTTP_POST_H

#include <glib.h>

typedef struct cardea_http_poster cardea_http_poster;

typedef enum {
	CARDEA_POST_OK = 0,        /* 2xx */
	CARDEA_POST_HTTP_ERROR,    /* the server answered non-2xx */
	CARDEA_POST_TIMEOUT,       /* no full answer within timeout_ms */
	CARDEA_POST_UNREACHABLE,   /* connect/DNS/TLS/transfer failure */
} cardea_post_result;

/* Call once per process before any poster exists (main thread, in init). */
void cardea_http_post_global_init(void);

cardea_http_poster *cardea_http_poster_new(void);
void cardea_http_poster_free(cardea_http_poster *p);

/* POSTs `body` as application/json. *response (g_free, may be NULL) gets
 * the answer body (capped at 1 MiB), *status the HTTP status (0 if none),
 * *error (g_free) a one-line reason when not OK. */
cardea_post_result cardea_http_post(cardea_http_poster *p, const char *url, const char *body,
	const char *secret, long timeout_ms, char **response, long *status, char **error);

/* Lower-case hex HMAC-SHA256 of data with key (g_free). */
char *cardea_hmac_sha256_hex(const char *key, const char *data, size_t len);

#endif
