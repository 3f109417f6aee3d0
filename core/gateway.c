#include <string.h>
#include "gateway.h"
#include "api.h"
#include "session.h"
#include "tokens.h"

cardea_gateway *cardea_gw;

void cardea_gateway_init(cardea_gateway *gw) {
	gw->accepting = 1;
	gw->start_time = g_get_monotonic_time();
	gw->plugins = g_ptr_array_new();
	gw->transports = g_ptr_array_new();
	gw->auth = g_ptr_array_new();
	gw->events = g_ptr_array_new();
	cardea_tokens_init(gw->settings.token_auth ? gw->settings.token_auth_secret : NULL);
	cardea_sessions_init();
	cardea_api_fill_plugin_core(&gw->plugin_core);
	cardea_api_fill_transport_core(&gw->transport_core);
	gw->auth_core.configs_folder = gw->settings.configs_folder;
	gw->events_core.configs_folder = gw->settings.configs_folder;
}

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

/* Installed-but-unconfigured events modules (is_active false) do not count. */
static gboolean events_module_active(cardea_loaded_module *m) {
	return m->ops.events.is_active == NULL || m->ops.events.is_active();
}

gboolean cardea_gateway_events_enabled(void) {
	for (guint i = 0; cardea_gw && cardea_gw->events && i < cardea_gw->events->len; i++)
		if (events_module_active(g_ptr_array_index(cardea_gw->events, i)))
			return TRUE;
	return FALSE;
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
		if (events_module_active(m))
			m->ops.events.incoming_event(event);
	}
	json_decref(event);
}
