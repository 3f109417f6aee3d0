/* Helpers shared by the unit tests (header-only: each test is its own program). */
#ifndef CARDEA_TEST_UTIL_H
#define CARDEA_TEST_UTIL_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* Hex text (whitespace ignored) to bytes; a test fails on bad input or overflow. */
static inline size_t unhex(const char *hex, uint8_t *out, size_t cap) {
	size_t n = 0;
	int hi = -1;
	for (const char *p = hex; *p; p++) {
		if (g_ascii_isspace(*p))
			continue;
		int v = g_ascii_xdigit_value(*p);
		g_assert_cmpint(v, >=, 0);
		if (hi < 0) {
			hi = v;
			continue;
		}
		g_assert_cmpuint(n, <, cap);
		out[n++] = (uint8_t)((hi << 4) | v);
		hi = -1;
	}
	g_assert_cmpint(hi, ==, -1);
	return n;
}

#endif
