/* Random identifiers and constant-time secret comparison. */
#ifndef CARDEA_IDS_H
#define CARDEA_IDS_H

#include <glib.h>

/* Largest id that is exact in a JavaScript double (2^53 - 1). */
#define CARDEA_ID_MAX G_GUINT64_CONSTANT(9007199254740991)

/* A random id in [1, CARDEA_ID_MAX] from the kernel CSPRNG: session and
 * handle ids double as capabilities, so they must not be guessable. */
guint64 cardea_id_random(void);
/* Compares two secrets in time independent of where they differ. NULLs never match. */
gboolean cardea_secret_equal(const char *a, const char *b);

#endif
