#include <sys/random.h>
#include <string.h>
#include "ids.h"

guint64 cardea_id_random(void) {
	for (;;) {
		guint64 v = 0;
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = ((guint64)g_random_int() << 32) | g_random_int();
		v &= CARDEA_ID_MAX;
		if (v != 0)
			return v;
	}
}

gboolean cardea_secret_equal(const char *a, const char *b) {
	if (a == NULL || b == NULL)
		return FALSE;
	size_t la = strlen(a), lb = strlen(b);
	/* Walk the longer length so timing does not reveal the expected length's prefix. */
	size_t n = MAX(la, lb);
	unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < n; i++) {
		unsigned char ca = i < la ? (unsigned char)a[i] : 0;
		unsigned char cb = i < lb ? (unsigned char)b[i] : 0;
		diff |= ca ^ cb;
	}
	return diff == 0;
}
