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
