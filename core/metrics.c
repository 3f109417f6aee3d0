/* See metrics.h. Media counters are sums over the PeerConnections alive at
 * scrape time (a closed PC's packets leave the sum), so they are exported
 * as gauges, not counters. */
#include <string.h>
#include "metrics.h"
#include "auth.h"
#include "gateway.h"
#include "session.h"
#include "webrtc/pc.h"
#include "webrtc/relay.h"

/* Per-m-line numbers summed into cardea_media_<name>. */
static const char *const media_keys[] = {
	"packets_in", "packets_out", "bytes_in", "bytes_out", "nacks_in", "nacks_out",
	"plis_out", "firs_out", "keyframe_requests_in", "keyframe_requests_out",
	"retransmissions_in", "retransmissions_out", "lost_in", "lost_out", "slowlinks", NULL,
};
#define N_MEDIA_KEYS (G_N_ELEMENTS(media_keys) - 1)

typedef struct media_sums {
	guint64 handles, pcs, pcs_up;
	gint64 v[N_MEDIA_KEYS];
} media_sums;

static void add_pc(media_sums *m, json_t *info) {
	if (!json_is_object(info))
		return;
	m->pcs++;
	if (json_is_true(json_object_get(info, "webrtcup")))
		m->pcs_up++;
	size_t i;
	json_t *media;
	json_array_foreach(json_object_get(info, "media"), i, media) {
		for (size_t k = 0; k < N_MEDIA_KEYS; k++) {
			json_t *v = json_object_get(media, media_keys[k]);
			if (json_is_integer(v) && json_integer_value(v) > 0)
				m->v[k] += json_integer_value(v);
		}
	}
}

static void walk_sessions(media_sums *m) {
	json_t *ids = cardea_sessions_list();
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id) {
		cardea_session *s = cardea_session_find((guint64)json_integer_value(id));
		if (s == NULL)
			continue;
		json_t *hids = cardea_session_list_handles(s);
		size_t j;
		json_t *hid;
		json_array_foreach(hids, j, hid) {
			cardea_handle *h = cardea_handle_find(s, (guint64)json_integer_value(hid));
			if (h == NULL)
				continue;
			m->handles++;
			if (h->pc != NULL) {
				json_t *info = cardea_pc_info(h);
				add_pc(m, info);
				json_decref(info);
			}
			cardea_handle_unref(h);
		}
		json_decref(hids);
		cardea_session_unref(s);
	}
	json_decref(ids);
}

/* Metric names may hold [a-zA-Z0-9_:]: anything else from a module becomes '_'. */
static char *metric_name(const char *prefix, const char *key) {
	char *name = g_strconcat(prefix, key, NULL);
	for (char *p = name; *p; p++)
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != ':')
			*p = '_';
	return name;
}

/* Label values escape backslash, quote and newline. */
static char *label_value(const char *v) {
	GString *out = g_string_new(NULL);
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			g_string_append_c(out, '\\');
		if (*v == '\n')
			g_string_append(out, "\\n");
		else
			g_string_append_c(out, *v);
	}
	return g_string_free(out, FALSE);
}

/* A module's {"name": number} object as gauges labelled with the module. */
static void append_module_numbers(GString *out, GHashTable *typed, const char *prefix, const char *label,
		const char *package, json_t *numbers) {
	const char *key;
	json_t *v;
	char *lv = label_value(package);
	json_object_foreach(numbers, key, v) {
		if (!json_is_number(v))
			continue;
		char *name = metric_name(prefix, key);
		/* One TYPE line per name, even when several modules export it. */
		if (!g_hash_table_contains(typed, name)) {
			g_string_append_printf(out, "# TYPE %s gauge\n", name);
			g_hash_table_add(typed, g_strdup(name));
		}
		g_string_append_printf(out, "%s{%s=\"%s\"} %.17g\n", name, label, lv, json_number_value(v));
		g_free(name);
	}
	g_free(lv);
}

char *cardea_metrics_text(void) {
	GString *out = g_string_new(NULL);
	media_sums m = { 0 };
	walk_sessions(&m);
	g_string_append_printf(out, "# HELP cardea_uptime_seconds Seconds since the gateway started.\n"
		"# TYPE cardea_uptime_seconds gauge\ncardea_uptime_seconds %"G_GINT64_FORMAT"\n",
		(g_get_monotonic_time() - cardea_gw->start_time) / G_USEC_PER_SEC);
	g_string_append_printf(out, "# HELP cardea_sessions Live Janus API sessions.\n"
		"# TYPE cardea_sessions gauge\ncardea_sessions %u\n", cardea_sessions_count());
	g_string_append_printf(out, "# HELP cardea_handles Live plugin handles.\n"
		"# TYPE cardea_handles gauge\ncardea_handles %"G_GUINT64_FORMAT"\n", m.handles);
	g_string_append_printf(out, "# HELP cardea_peerconnections PeerConnections (any state).\n"
		"# TYPE cardea_peerconnections gauge\ncardea_peerconnections %"G_GUINT64_FORMAT"\n", m.pcs);
	g_string_append_printf(out, "# HELP cardea_peerconnections_live PeerConnections counted against media.max_peerconnections.\n"
		"# TYPE cardea_peerconnections_live gauge\ncardea_peerconnections_live %u\n", cardea_pc_slots_in_use());
	g_string_append_printf(out, "# HELP cardea_peerconnections_up PeerConnections past webrtcup.\n"
		"# TYPE cardea_peerconnections_up gauge\ncardea_peerconnections_up %"G_GUINT64_FORMAT"\n", m.pcs_up);
	for (size_t k = 0; k < N_MEDIA_KEYS; k++)
		g_string_append_printf(out, "# HELP cardea_media_%s Sum over live PeerConnections.\n"
			"# TYPE cardea_media_%s gauge\ncardea_media_%s %"G_GINT64_FORMAT"\n",
			media_keys[k], media_keys[k], media_keys[k], m.v[k]);
	guint64 allowed = 0, denied = 0;
	cardea_auth_counters(&allowed, &denied);
	g_string_append_printf(out, "# HELP cardea_auth_decisions_total Auth module decisions by result.\n"
		"# TYPE cardea_auth_decisions_total counter\n"
		"cardea_auth_decisions_total{result=\"allow\"} %"G_GUINT64_FORMAT"\n"
		"cardea_auth_decisions_total{result=\"deny\"} %"G_GUINT64_FORMAT"\n", allowed, denied);
	cardea_relay_metrics_append(out);
	GHashTable *typed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	json_t *stats = json_pack("{s:s}", "request", "stats");
	for (guint i = 0; i < cardea_gw->auth->len; i++) {
		cardea_loaded_module *mod = g_ptr_array_index(cardea_gw->auth, i);
		if (mod->ops.auth.handle_request == NULL)
			continue;
		json_t *r = mod->ops.auth.handle_request(stats);
		append_module_numbers(out, typed, "cardea_auth_", "module", mod->info->package, r);
		json_decref(r);
	}
	for (guint i = 0; i < cardea_gw->events->len; i++) {
		cardea_loaded_module *mod = g_ptr_array_index(cardea_gw->events, i);
		json_t *r = mod->ops.events.handle_request(stats);
		append_module_numbers(out, typed, "cardea_events_", "module", mod->info->package, r);
		json_decref(r);
	}
	json_decref(stats);
	for (guint i = 0; cardea_gw->plugins && i < cardea_gw->plugins->len; i++) {
		cardea_loaded_module *mod = g_ptr_array_index(cardea_gw->plugins, i);
		if (mod->ops.plugin.query_metrics == NULL)
			continue;
		json_t *r = mod->ops.plugin.query_metrics();
		append_module_numbers(out, typed, "cardea_plugin_", "plugin", mod->info->package, r);
		json_decref(r);
	}
	/* Transports' own counters ({"request":"stats"}: rate-limited requests,
	 * slow clients dropped, open connections), labelled with the transport. */
	json_t *tstats = json_pack("{s:s}", "request", "stats");
	for (guint i = 0; cardea_gw->transports && i < cardea_gw->transports->len; i++) {
		cardea_loaded_module *mod = g_ptr_array_index(cardea_gw->transports, i);
		json_t *r = mod->ops.transport.query_transport(tstats);
		if (json_object_get(r, "error") == NULL)
			append_module_numbers(out, typed, "cardea_transport_", "transport", mod->info->package, r);
		json_decref(r);
	}
	json_decref(tstats);
	g_hash_table_destroy(typed);
	return g_string_free(out, FALSE);
}
