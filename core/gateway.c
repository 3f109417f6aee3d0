#include <string.h>
#include "gateway.h"

cardea_gateway *cardea_gw;

static cardea_loaded_module *find_by_info(GPtrArray *mods, const void *info) {
	for (guint i = 0; mods && i < mods->len; i++) {
		cardea_loaded_module *m = g_ptr_array_index(mods, i);
		if ((const void *)m->info == info)
			return m;
	}
	return NULL;
}

cardea_loaded_module *cardea_gateway_find_plugin(const char *package) {
	GPtrArray *mods = cardea_gw->plugins;
	for (guint i = 0; package && mods && i < mods->len; i++) {
		cardea_loaded_module *m = g_ptr_array_index(mods, i);
		if (strcmp(m->info->package, package) == 0)
			return m;
	}
	return NULL;
}

cardea_loaded_module *cardea_gateway_plugin_module(const cardea_plugin *plugin) {
	return find_by_info(cardea_gw->plugins, plugin);
}

cardea_loaded_module *cardea_gateway_transport_module(const cardea_transport *transport) {
	return find_by_info(cardea_gw->transports, transport);
}

gboolean cardea_gateway_events_enabled(void) {
	return cardea_gw && cardea_gw->events && cardea_gw->events->len > 0;
}

void cardea_gateway_emit_event(const char *type, guint64 session_id, guint64 handle_id, json_t *data) {
	if (!cardea_gateway_events_enabled()) {
		json_decref(data);
		return;
	}
	json_t *event = json_pack("{s:s, s:I}", "type", type, "timestamp", (json_int_t)g_get_real_time());
	if (session_id)
		json_object_set_new(event, "session_id", json_integer((json_int_t)session_id));
	if (handle_id)
		json_object_set_new(event, "handle_id", json_integer((json_int_t)handle_id));
	if (data)
		json_object_set_new(event, "data", data);
	for (guint i = 0; i < cardea_gw->events->len; i++) {
		cardea_loaded_module *m = g_ptr_array_index(cardea_gw->events, i);
		m->ops.events.incoming_event(event);
	}
	json_decref(event);
}
