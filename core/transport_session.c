/* Transport connection objects (see cardea/transport.h for the contract). */
#include "cardea/transport.h"

static void transport_session_free(const cardea_refcount *ref) {
	cardea_transport_session *ts = cardea_container_of(ref, cardea_transport_session, ref);
	if (ts->free_p && ts->transport_p)
		ts->free_p(ts->transport_p);
	g_free(ts);
}

cardea_transport_session *cardea_transport_session_new(void *transport_p, void (*free_p)(void *)) {
	cardea_transport_session *ts = g_new0(cardea_transport_session, 1);
	ts->transport_p = transport_p;
	ts->free_p = free_p;
	cardea_refcount_init(&ts->ref, transport_session_free);
	return ts;
}

void cardea_transport_session_ref(cardea_transport_session *ts) {
	if (ts)
		cardea_refcount_ref(&ts->ref);
}

void cardea_transport_session_unref(cardea_transport_session *ts) {
	if (ts)
		cardea_refcount_unref(&ts->ref);
}
