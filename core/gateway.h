/* Process-wide state of the daemon, set up by main.c.
 *
 * Threads (see also DESIGN.md):
 *  - main thread: start-up, signals (GLib main loop), shutdown;
 *  - the API thread (api.c): parses and dispatches every Janus/Admin request,
 *    runs the session watchdog and every session/handle table mutation, and
 *    calls plugin create_session/destroy_session/query_session;
 *  - request workers (GThreadPool): plugin handle_message and
 *    handle_admin_message, so a slow plugin never stalls the API thread;
 *  - transport threads: only call cardea_transport_core functions, which queue.
 */
#ifndef CARDEA_GATEWAY_H
#define CARDEA_GATEWAY_H

#include <glib.h>
#include "settings.h"
#include "modules.h"

typedef struct cardea_gateway {
	cardea_settings settings;     /* read-only after start-up (see settings.h for the mutable ones) */
	GPtrArray *plugins;           /* cardea_loaded_module*, read-only after start-up */
	GPtrArray *transports;
	GPtrArray *auth;
	GPtrArray *events;
	volatile gint accepting;      /* Admin accept_new_sessions */
	gint64 start_time;            /* monotonic µs */
	cardea_plugin_core plugin_core;
	cardea_transport_core transport_core;
	cardea_auth_core auth_core;
	cardea_events_core events_core;
} cardea_gateway;

/* The one instance; NULL-safe to read after main() set it up. */
extern cardea_gateway *cardea_gw;

/* After the settings are loaded (main thread): the empty module arrays,
 * tokens, the session table and the callback tables modules get. Shared by
 * main.c and the in-process API fuzzer (tests/fuzz/fuzz_api.c). */
void cardea_gateway_init(cardea_gateway *gw);

/* Module lookups (arrays are read-only after start-up: no lock). */
cardea_loaded_module *cardea_gateway_find_plugin(const char *package);
cardea_loaded_module *cardea_gateway_plugin_module(const cardea_plugin *plugin);
cardea_loaded_module *cardea_gateway_transport_module(const cardea_transport *transport);

/* Hands an event to every events module. `data` is transfer full. */
void cardea_gateway_emit_event(const char *type, guint64 session_id, guint64 handle_id, json_t *data);
gboolean cardea_gateway_events_enabled(void);

#endif
