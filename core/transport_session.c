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

gboolean cardea_transport_read_json_style(const cardea_config *config, size_t *flags, GError **error) {
	static const char *const styles[] = { "indented", "plain", "compact", NULL };
	/* The same jansson flags as Janus for each style. */
	static const size_t style_flags[] = {
		JSON_INDENT(3) | JSON_PRESERVE_ORDER,
		JSON_INDENT(0) | JSON_PRESERVE_ORDER,
		JSON_COMPACT | JSON_PRESERVE_ORDER,
	};
	int i = 2;
	if (!cardea_config_get_choice(config, "general", "json", "compact", styles, &i, error))
		return FALSE;
	*flags = style_flags[i];
	return TRUE;
}
