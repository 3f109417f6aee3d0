/* Random ids: range (1 .. 2^53-1, exact in JavaScript) and no repeats;
 * secret comparison: equal, different, prefix, NULL. */
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

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ids/range", test_ids_range);
	g_test_add_func("/ids/unique-and-spread", test_ids_unique_and_spread);
	g_test_add_func("/ids/secret-equal", test_secret_equal);
	return g_test_run();
}
