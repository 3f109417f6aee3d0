/* Cardea SDK: small helpers for abuse resistance, shared by the core,
 * transports and plugins so every module gets them right the same way.
 *
 *  - cardea_secret_equal(): compare a secret a client sent (api_secret,
 *    admin_secret, a room secret or pin, a channel token) with the expected
 *    one in time that does not depend on where they differ. A plain strcmp
 *    returns at the first wrong byte, which lets a client guess a secret
 *    byte by byte by timing the answers.
 *  - cardea_token_bucket: a per-connection request rate limit (tokens per
 *    second plus a burst), used by the transports' requests_per_second.
 */
#ifndef CARDEA_SECURITY_H
#define CARDEA_SECURITY_H

#include <stdbool.h>
#include <glib.h>
#include "cardea/module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TRUE when both are non-NULL and equal. Runs over the longer of the two
 * strings whatever their content, so timing says nothing about how much of
 * the expected secret a guess got right. NULL never matches (not even
 * NULL). Any thread. */
CARDEA_SDK_API gboolean cardea_secret_equal(const char *given, const char *expected);

/* A token bucket: `rate` tokens per second, at most `burst` banked. A
 * request takes one token; none left means "too many requests". Not
 * thread-safe: each bucket belongs to one connection and is used by the
 * thread that reads that connection. Plain data: embed it, no free. */
typedef struct cardea_token_bucket {
	guint rate;          /* tokens per second; 0 = unlimited (take always succeeds) */
	guint burst;         /* bucket size (>= 1 when rate > 0) */
	gint64 tokens_us;    /* tokens banked, in millionths of a token */
	gint64 last_us;      /* monotonic time of the last refill */
} cardea_token_bucket;

/* Starts full. burst 0 means burst = rate. */
CARDEA_SDK_API void cardea_token_bucket_init(cardea_token_bucket *b, guint rate, guint burst);
/* Takes one token at monotonic time `now_us` (g_get_monotonic_time()).
 * FALSE when the bucket is empty (the caller refuses the request). */
CARDEA_SDK_API bool cardea_token_bucket_take(cardea_token_bucket *b, gint64 now_us);

#ifdef __cplusplus
}
#endif
#endif
