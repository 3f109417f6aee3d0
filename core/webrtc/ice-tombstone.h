/* The old selected socket of an ICE restart on new ports, answering checks
 * with 400 for a while so a browser drops a stale pair at once
 * (ice-tombstone.c says why). Loop thread only. */
#ifndef CARDEA_WEBRTC_ICE_TOMBSTONE_H
#define CARDEA_WEBRTC_ICE_TOMBSTONE_H

#include <glib.h>

typedef struct cardea_ice_tombstone cardea_ice_tombstone;

/* Takes a dup of `fd` (the caller keeps its own) and answers, on `context`,
 * checks signed with `pwd` for `ms` milliseconds; then closes and frees
 * itself, setting *owner (may be NULL) to NULL. NULL on failure. */
cardea_ice_tombstone *cardea_ice_tombstone_new(GMainContext *context, int fd, const char *pwd, guint ms,
	cardea_ice_tombstone **owner);
void cardea_ice_tombstone_free(cardea_ice_tombstone *t);

#endif
