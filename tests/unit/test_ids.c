/* Random ids: range (1 .. 2^53-1, exact in JavaScript) and no repeats;
 * secret comparison: equal, different, prefix, NULL; the token bucket of
 * cardea/security.h: burst, refill rate, cap, unlimited. */
#include <glib.h>
#include "ids.h"

static void test_ids_range(void) {
	for (int i = 0; i < 100000; i++) {
		guint64 id = cardea_id_random();
		g_assert_cmpuint(id, >=, 1);
		g_assert_cmpuint(id, <=, CARDEA_ID_MAX);
	}
}

static void test_ids_unique_and_spread(void) {
	GHashTable *seen = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	gboolean high_bit_seen = FALSE;
	for (int i = 0; i < 20000; i++) {
		guint64 *id = g_new(guint64, 1);
		*id = cardea_id_random();
		g_assert_false(g_hash_table_contains(seen, id));
		if (*id >> 52)
			high_bit_seen = TRUE;
		g_hash_table_add(seen, id);
	}
	/* Half of all 53-bit values have bit 52 set: 20000 draws without one means a broken generator. */
	g_assert_true(high_bit_seen);
	g_hash_table_destroy(seen);
}

static void test_secret_equal(void) {
	g_assert_true(cardea_secret_equal("s3cret", "s3cret"));
	g_assert_true(cardea_secret_equal("", ""));
	g_assert_false(cardea_secret_equal("s3cret", "s3creT"));
	g_assert_false(cardea_secret_equal("s3cret", "s3cre"));
	g_assert_false(cardea_secret_equal("s3cre", "s3cret"));
	g_assert_false(cardea_secret_equal(NULL, "s3cret"));
	g_assert_false(cardea_secret_equal("s3cret", NULL));
	g_assert_false(cardea_secret_equal(NULL, NULL));
}

static int take_n(cardea_token_bucket *b, int n, gint64 now) {
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += cardea_token_bucket_take(b, now) ? 1 : 0;
	return ok;
}

static void test_token_bucket(void) {
	cardea_token_bucket b;
	cardea_token_bucket_init(&b, 10, 20);
	gint64 t = b.last_us;
	/* starts full: the burst, then nothing */
	g_assert_cmpint(take_n(&b, 25, t), ==, 20);
	/* 10 per second: 0.25 s gives 2 (2.5 rounds down, the half is kept) */
	g_assert_cmpint(take_n(&b, 5, t + 250000), ==, 2);
	g_assert_cmpint(take_n(&b, 5, t + 300000), ==, 1);
	/* a long pause refills up to the burst, not beyond */
	g_assert_cmpint(take_n(&b, 50, t + (gint64)3600 * G_USEC_PER_SEC), ==, 20);
	/* time going backwards (another clock) takes nothing extra */
	g_assert_cmpint(take_n(&b, 5, t), ==, 0);
	/* burst 0 = the rate */
	cardea_token_bucket_init(&b, 7, 0);
	g_assert_cmpint(take_n(&b, 10, b.last_us), ==, 7);
	/* rate 0 = unlimited */
	cardea_token_bucket_init(&b, 0, 0);
	g_assert_cmpint(take_n(&b, 100000, b.last_us), ==, 100000);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ids/range", test_ids_range);
	g_test_add_func("/ids/unique-and-spread", test_ids_unique_and_spread);
	g_test_add_func("/ids/secret-equal", test_secret_equal);
	g_test_add_func("/security/token-bucket", test_token_bucket);
	return g_test_run();
}
