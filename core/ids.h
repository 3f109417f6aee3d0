/* Random identifiers (constant-time secret comparison is in cardea/security.h). */
#ifndef CARDEA_IDS_H
#define CARDEA_IDS_H

#include <glib.h>
#include "cardea/security.h"   /* cardea_secret_equal */

/* Largest id that is exact in a JavaScript double (2^53 - 1). */
#define CARDEA_ID_MAX G_GUINT64_CONSTANT(9007199254740991)

/* A random id in [1, CARDEA_ID_MAX] from the kernel CSPRNG: session and
 * handle ids double as capabilities, so they must not be guessable. */
guint64 cardea_id_random(void);

#endif
