/* cardea/security.h: constant-time secret comparison and the token bucket
 * the transports use for their per-connection request rate limits. */
#include <string.h>
#include "cardea/security.h"

gboolean cardea_secret_equal(const char *given, const char *expected) {
	if (given == NULL || expected == NULL)
		return FALSE;
	size_t lg = strlen(given), le = strlen(expected);
	/* Walk the longer length so timing does not reveal the expected length's prefix. */
	size_t n = MAX(lg, le);
	unsigned char diff = (unsigned char)(lg != le);
	for (size_t i = 0; i < n; i++) {
		unsigned char a = i < lg ? (unsigned char)given[i] : 0;
		unsigned char b = i < le ? (unsigned char)expected[i] : 0;
		diff |= a ^ b;
	}
	return diff == 0;
}

void cardea_token_bucket_init(cardea_token_bucket *b, guint rate, guint burst) {
	memset(b, 0, sizeof(*b));
	b->rate = rate;
	b->burst = burst ? burst : MAX(rate, 1u);
	b->tokens_us = (gint64)b->burst * G_USEC_PER_SEC;
	b->last_us = g_get_monotonic_time();
}

/* Integer arithmetic in millionths of a token: one token per 1e6/rate us,
 * no float rounding drift over a long-lived connection. */
bool cardea_token_bucket_take(cardea_token_bucket *b, gint64 now_us) {
	if (b->rate == 0)
		return true;
	gint64 cap = (gint64)b->burst * G_USEC_PER_SEC;
	if (now_us > b->last_us) {
		gint64 elapsed = now_us - b->last_us;
		/* Past a full refill the exact amount does not matter (and the
		 * product below cannot overflow). */
		if (elapsed >= cap / b->rate + 1)
			b->tokens_us = cap;
		else
			b->tokens_us = MIN(cap, b->tokens_us + elapsed * (gint64)b->rate);
		b->last_us = now_us;
	}
	if (b->tokens_us < G_USEC_PER_SEC)
		return false;
	b->tokens_us -= G_USEC_PER_SEC;
	return true;
}
