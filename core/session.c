#include <string.h>
#include "session.h"
#include "gateway.h"
#include "ids.h"
#include "api-errors.h"
#include "webrtc/pc.h"

/* Trickles queued per handle before the media stack takes them: bounded so
 * a client cannot grow memory by trickling forever. */
#define MAX_PENDING_CANDIDATES 128

static GMutex sessions_mutex;
static GHashTable *sessions;  /* owned: guint64* id -> cardea_session* (the table's ref) */

static guint64 *id_key(guint64 id) {
	guint64 *k = g_new(guint64, 1);
	*k = id;
	return k;
}

void cardea_sessions_init(void) {
	g_mutex_lock(&sessions_mutex);
	if (sessions == NULL)
		sessions = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	g_mutex_unlock(&sessions_mutex);
}

void cardea_sessions_deinit(void) {
	g_mutex_lock(&sessions_mutex);
	GHashTable *t = sessions;
	sessions = NULL;
	g_mutex_unlock(&sessions_mutex);
	if (t) {
		GHashTableIter it;
		gpointer value;
		g_hash_table_iter_init(&it, t);
		while (g_hash_table_iter_next(&it, NULL, &value))
			cardea_session_unref(value);
		g_hash_table_destroy(t);
	}
}

/* ---- sessions ---- */

static void session_free(const cardea_refcount *ref) {
	cardea_session *s = cardea_container_of(ref, cardea_session, ref);
	cardea_transport_session_unref(s->source);
	g_hash_table_destroy(s->handles);
	g_mutex_clear(&s->mutex);
	g_free(s);
}

void cardea_session_ref(cardea_session *s) {
	cardea_refcount_ref(&s->ref);
}

void cardea_session_unref(cardea_session *s) {
	if (s)
		cardea_refcount_unref(&s->ref);
}

cardea_session *cardea_session_create(guint64 wanted_id, cardea_loaded_module *transport,
		cardea_transport_session *ts, int *code) {
	if (!g_atomic_int_get(&cardea_gw->accepting)) {
		*code = CARDEA_ERROR_NOT_ACCEPTING_SESSIONS;
		return NULL;
	}
	cardea_session *s = g_new0(cardea_session, 1);
	g_mutex_init(&s->mutex);
	s->handles = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	s->timeout = -1;
	s->last_activity = g_get_monotonic_time();
	s->source_transport = transport;
	cardea_transport_session_ref(ts);
	s->source = ts;
	cardea_refcount_init(&s->ref, session_free);

	g_mutex_lock(&sessions_mutex);
	gint max = cardea_gw->settings.max_sessions;
	if (max > 0 && g_hash_table_size(sessions) >= (guint)max) {
		g_mutex_unlock(&sessions_mutex);
		*code = CARDEA_ERROR_UNKNOWN;
		cardea_session_unref(s);
		return NULL;
	}
	if (wanted_id != 0) {
		if (g_hash_table_contains(sessions, &wanted_id)) {
			g_mutex_unlock(&sessions_mutex);
			*code = CARDEA_ERROR_SESSION_CONFLICT;
			cardea_session_unref(s);
			return NULL;
		}
		s->id = wanted_id;
	} else {
		do {
			s->id = cardea_id_random();
		} while (g_hash_table_contains(sessions, &s->id));
	}
	g_hash_table_insert(sessions, id_key(s->id), s);   /* the table's ref */
	cardea_session_ref(s);                             /* the caller's ref */
	g_mutex_unlock(&sessions_mutex);

	if (transport && ts)
		transport->ops.transport.session_created(ts, s->id);
	cardea_gateway_emit_event("session.created", s->id, 0, NULL);
	return s;
}

cardea_session *cardea_session_find(guint64 id) {
	g_mutex_lock(&sessions_mutex);
	cardea_session *s = sessions ? g_hash_table_lookup(sessions, &id) : NULL;
	if (s)
		cardea_session_ref(s);
	g_mutex_unlock(&sessions_mutex);
	return s;
}

void cardea_session_touch(cardea_session *s) {
	__atomic_store_n(&s->last_activity, g_get_monotonic_time(), __ATOMIC_RELAXED);
}

/* The client events that also matter to events modules (docs/events.md):
 * every PeerConnection state change reaches the client through here, so
 * one hook covers them all. Any thread; the modules only queue. */
static void mirror_event(cardea_session *s, json_t *event) {
	const char *kind = json_string_value(json_object_get(event, "janus"));
	const char *type = NULL;
	if (kind == NULL || !cardea_gateway_events_enabled())
		return;
	if (strcmp(kind, "webrtcup") == 0)
		type = "webrtc.up";
	else if (strcmp(kind, "hangup") == 0)
		type = "webrtc.hangup";
	else if (strcmp(kind, "slowlink") == 0)
		type = "webrtc.slowlink";
	else if (strcmp(kind, "media") == 0)
		type = json_is_true(json_object_get(event, "receiving")) ? "media.on" : "media.off";
	if (type == NULL)
		return;
	json_t *data = json_copy(event);
	json_object_del(data, "janus");
	json_object_del(data, "session_id");
	json_object_del(data, "sender");
	json_int_t hid = json_integer_value(json_object_get(event, "sender"));
	cardea_gateway_emit_event(type, s->id, hid > 0 ? (guint64)hid : 0, data);
}

void cardea_session_send_event(cardea_session *s, json_t *event) {
	mirror_event(s, event);
	g_mutex_lock(&s->mutex);
	cardea_transport_session *ts = s->source;
	cardea_loaded_module *transport = s->source_transport;
	cardea_transport_session_ref(ts);
	g_mutex_unlock(&s->mutex);
	if (ts && transport && !g_atomic_int_get(&ts->gone))
		transport->ops.transport.send_message(ts, NULL, false, event);
	else
		json_decref(event);
	cardea_transport_session_unref(ts);
}

/* Every value of `table`, each with a ref taken by `ref` (caller unrefs),
 * copied under `mutex` so callers can call out without holding it. */
static GPtrArray *snapshot(GMutex *mutex, GHashTable *table, void (*ref)(gpointer)) {
	GPtrArray *list = g_ptr_array_new();
	g_mutex_lock(mutex);
	if (table) {
		GHashTableIter it;
		gpointer value;
		g_hash_table_iter_init(&it, table);
		while (g_hash_table_iter_next(&it, NULL, &value)) {
			ref(value);
			g_ptr_array_add(list, value);
		}
	}
	g_mutex_unlock(mutex);
	return list;
}

static GPtrArray *session_handles_snapshot(cardea_session *s) {
	return snapshot(&s->mutex, s->handles, (void (*)(gpointer))cardea_handle_ref);
}

static void detach_all(cardea_session *s, gboolean notify) {
	GPtrArray *handles = session_handles_snapshot(s);
	for (guint i = 0; i < handles->len; i++) {
		cardea_handle *h = g_ptr_array_index(handles, i);
		cardea_handle_detach(h, notify);
		cardea_handle_unref(h);
	}
	g_ptr_array_free(handles, TRUE);
}

void cardea_session_destroy(cardea_session *s, gboolean timeout) {
	if (!g_atomic_int_compare_and_exchange(&s->destroyed, 0, 1))
		return;
	g_mutex_lock(&sessions_mutex);
	gpointer stolen_key = NULL;
	gboolean in_table = sessions && g_hash_table_steal_extended(sessions, &s->id, &stolen_key, NULL);
	g_mutex_unlock(&sessions_mutex);
	g_free(stolen_key);
	if (timeout) {
		json_t *event = json_pack("{s:s, s:I}", "janus", "timeout", "session_id", (json_int_t)s->id);
		cardea_session_send_event(s, event);
		CARDEA_LOG(CARDEA_LOG_INFO, "[session %"G_GUINT64_FORMAT"] timed out", s->id);
	}
	detach_all(s, FALSE);
	g_mutex_lock(&s->mutex);
	cardea_transport_session *ts = s->source;
	cardea_loaded_module *transport = s->source_transport;
	cardea_transport_session_ref(ts);
	g_mutex_unlock(&s->mutex);
	if (ts && transport && !g_atomic_int_get(&ts->gone))
		transport->ops.transport.session_over(ts, s->id, timeout, false);
	cardea_transport_session_unref(ts);
	cardea_gateway_emit_event(timeout ? "session.timeout" : "session.destroyed", s->id, 0, NULL);
	if (in_table)
		cardea_session_unref(s);
}

void cardea_session_claim(cardea_session *s, cardea_loaded_module *transport, cardea_transport_session *ts) {
	g_mutex_lock(&s->mutex);
	cardea_transport_session *old = s->source;
	cardea_loaded_module *old_transport = s->source_transport;
	cardea_transport_session_ref(ts);
	s->source = ts;
	s->source_transport = transport;
	s->gone_since = 0;
	g_mutex_unlock(&s->mutex);
	if (old != ts) {
		if (old && old_transport && !g_atomic_int_get(&old->gone))
			old_transport->ops.transport.session_over(old, s->id, false, true);
		if (transport && ts)
			transport->ops.transport.session_created(ts, s->id);
	}
	cardea_transport_session_unref(old);
	cardea_session_touch(s);
	CARDEA_LOG(CARDEA_LOG_INFO, "[session %"G_GUINT64_FORMAT"] claimed by a new connection", s->id);
}

/* All live sessions, each with a ref. (`sessions` itself only changes in
 * init/deinit, when no other thread runs.) */
static GPtrArray *sessions_snapshot(void) {
	return snapshot(&sessions_mutex, sessions, (void (*)(gpointer))cardea_session_ref);
}

void cardea_sessions_transport_gone(cardea_transport_session *ts) {
	GPtrArray *list = sessions_snapshot();
	gint reclaim = cardea_gw->settings.reclaim_session_timeout;
	gint64 now = g_get_monotonic_time();
	for (guint i = 0; i < list->len; i++) {
		cardea_session *s = g_ptr_array_index(list, i);
		g_mutex_lock(&s->mutex);
		gboolean owned = s->source == ts;
		if (owned && reclaim > 0)
			s->gone_since = now;
		g_mutex_unlock(&s->mutex);
		if (owned && reclaim == 0) {
			CARDEA_LOG(CARDEA_LOG_INFO, "[session %"G_GUINT64_FORMAT"] transport gone, destroying", s->id);
			cardea_session_destroy(s, FALSE);
		} else if (owned) {
			CARDEA_LOG(CARDEA_LOG_INFO, "[session %"G_GUINT64_FORMAT"] transport gone, reclaimable for %d s", s->id, reclaim);
		}
		cardea_session_unref(s);
	}
	g_ptr_array_free(list, TRUE);
}

void cardea_sessions_watchdog(void) {
	GPtrArray *list = sessions_snapshot();
	gint64 now = g_get_monotonic_time();
	gint global_timeout = g_atomic_int_get(&cardea_gw->settings.session_timeout);
	gint reclaim = cardea_gw->settings.reclaim_session_timeout;
	for (guint i = 0; i < list->len; i++) {
		cardea_session *s = g_ptr_array_index(list, i);
		gint64 idle = now - __atomic_load_n(&s->last_activity, __ATOMIC_RELAXED);
		g_mutex_lock(&s->mutex);
		gboolean gone = s->gone_since != 0;
		g_mutex_unlock(&s->mutex);
		gint timeout = g_atomic_int_get(&s->timeout);
		if (timeout < 0)
			timeout = global_timeout;
		if (gone && reclaim > 0 && idle >= (gint64)reclaim * G_USEC_PER_SEC) {
			CARDEA_LOG(CARDEA_LOG_INFO, "[session %"G_GUINT64_FORMAT"] not reclaimed within %d s, destroying", s->id, reclaim);
			cardea_session_destroy(s, FALSE);
		} else if (timeout > 0 && idle >= (gint64)timeout * G_USEC_PER_SEC) {
			cardea_session_destroy(s, TRUE);
		}
		cardea_session_unref(s);
	}
	g_ptr_array_free(list, TRUE);
}

void cardea_sessions_destroy_all(void) {
	GPtrArray *list = sessions_snapshot();
	for (guint i = 0; i < list->len; i++) {
		cardea_session *s = g_ptr_array_index(list, i);
		/* Clients still connected learn that their handles are gone. */
		detach_all(s, TRUE);
		cardea_session_destroy(s, FALSE);
		cardea_session_unref(s);
	}
	g_ptr_array_free(list, TRUE);
}

json_t *cardea_sessions_list(void) {
	json_t *arr = json_array();
	g_mutex_lock(&sessions_mutex);
	if (sessions) {
		GHashTableIter it;
		gpointer key;
		g_hash_table_iter_init(&it, sessions);
		while (g_hash_table_iter_next(&it, &key, NULL))
			json_array_append_new(arr, json_integer((json_int_t)*(guint64 *)key));
	}
	g_mutex_unlock(&sessions_mutex);
	return arr;
}

guint cardea_sessions_count(void) {
	g_mutex_lock(&sessions_mutex);
	guint n = sessions ? g_hash_table_size(sessions) : 0;
	g_mutex_unlock(&sessions_mutex);
	return n;
}

/* ---- handles ---- */

static void handle_free(const cardea_refcount *ref) {
	cardea_handle *h = cardea_container_of(ref, cardea_handle, ref);
	g_queue_clear_full(&h->pending_candidates, (GDestroyNotify)json_decref);
	cardea_pc_free(h->pc);
	g_mutex_clear(&h->mutex);
	g_cond_clear(&h->acked);
	g_free(h->opaque_id);
	g_free(h->auth_token);
	json_decref(h->auth_decision);
	cardea_session_unref(h->session);
	g_free(h);
}

void cardea_handle_set_auth(cardea_handle *h, const char *token, json_t *decision) {
	g_free(h->auth_token);
	h->auth_token = g_strdup(token);
	json_decref(h->auth_decision);
	h->auth_decision = decision ? json_incref(decision) : NULL;
	cardea_handle_note_decision(h, decision);
}

void cardea_handle_note_decision(cardea_handle *h, const json_t *decision) {
	json_int_t max = cardea_auth_allowed(decision) ? cardea_auth_max_bitrate(decision) : 0;
	if (max > 0)
		g_atomic_int_set(&h->auth_max_bitrate, (gint)MIN(max, G_MAXINT));
}

void cardea_handle_ref(cardea_handle *h) {
	cardea_refcount_ref(&h->ref);
}

void cardea_handle_unref(cardea_handle *h) {
	if (h)
		cardea_refcount_unref(&h->ref);
}

static void plugin_session_free(const cardea_refcount *ref) {
	cardea_plugin_session *app = cardea_container_of(ref, cardea_plugin_session, ref);
	cardea_handle_unref(app->core_handle);
	g_free(app);
}

void cardea_plugin_session_ref(cardea_plugin_session *app) {
	if (app)
		cardea_refcount_ref(&app->ref);
}

void cardea_plugin_session_unref(cardea_plugin_session *app) {
	if (app)
		cardea_refcount_unref(&app->ref);
}

cardea_handle *cardea_handle_create(cardea_session *s, cardea_loaded_module *plugin,
		const char *opaque_id, int *code, char **reason) {
	gint max = cardea_gw->settings.max_handles_per_session;
	if (max > 0 && cardea_session_handle_count(s) >= (guint)max) {
		*code = CARDEA_ERROR_UNKNOWN;
		*reason = g_strdup_printf("Maximum number of handles per session (%d) reached", max);
		return NULL;
	}
	cardea_handle *h = g_new0(cardea_handle, 1);
	cardea_session_ref(s);
	h->session = s;
	h->plugin = plugin;
	h->opaque_id = g_strdup(opaque_id);
	h->created = g_get_monotonic_time();
	g_mutex_init(&h->mutex);
	g_cond_init(&h->acked);
	g_queue_init(&h->pending_candidates);
	cardea_refcount_init(&h->ref, handle_free);   /* the caller's ref */

	cardea_plugin_session *app = g_new0(cardea_plugin_session, 1);
	cardea_handle_ref(h);                          /* app->core_handle's ref */
	app->core_handle = h;
	cardea_refcount_init(&app->ref, plugin_session_free);
	h->app = app;                                  /* the handle's ref of app */

	g_mutex_lock(&s->mutex);
	do {
		h->id = cardea_id_random();
	} while (g_hash_table_contains(s->handles, &h->id));
	g_mutex_unlock(&s->mutex);

	int error = 0;
	plugin->ops.plugin.create_session(app, &error);
	if (error != 0) {
		*code = CARDEA_ERROR_PLUGIN_ATTACH;
		*reason = g_strdup_printf("Couldn't attach to plugin: error '%d'", error);
		g_atomic_int_set(&app->stopped, 1);
		h->app = NULL;
		cardea_plugin_session_unref(app);
		cardea_handle_unref(h);
		return NULL;
	}
	g_mutex_lock(&s->mutex);
	cardea_handle_ref(h);                          /* the session table's ref */
	g_hash_table_insert(s->handles, id_key(h->id), h);
	g_mutex_unlock(&s->mutex);
	if (g_atomic_int_get(&s->destroyed)) {
		/* The session went away while the plugin attached: undo. */
		cardea_handle_detach(h, FALSE);
		cardea_handle_unref(h);
		*code = CARDEA_ERROR_SESSION_NOT_FOUND;
		*reason = g_strdup_printf("No such session %"G_GUINT64_FORMAT, s->id);
		return NULL;
	}
	cardea_gateway_emit_event("handle.attached", s->id, h->id,
		json_pack("{s:s, s:s?}", "plugin", plugin->info->package, "opaque_id", opaque_id));
	return h;
}

cardea_handle *cardea_handle_find(cardea_session *s, guint64 id) {
	g_mutex_lock(&s->mutex);
	cardea_handle *h = g_hash_table_lookup(s->handles, &id);
	if (h)
		cardea_handle_ref(h);
	g_mutex_unlock(&s->mutex);
	return h;
}

json_t *cardea_handle_event_new(cardea_handle *h, const char *kind) {
	json_t *event = json_pack("{s:s, s:I, s:I}", "janus", kind,
		"session_id", (json_int_t)h->session->id, "sender", (json_int_t)h->id);
	if (cardea_gw->settings.opaqueid_in_api && h->opaque_id)
		json_object_set_new(event, "opaque_id", json_string(h->opaque_id));
	return event;
}

void cardea_handle_detach(cardea_handle *h, gboolean notify) {
	if (!g_atomic_int_compare_and_exchange(&h->detached, 0, 1))
		return;
	cardea_session *s = h->session;
	cardea_plugin_session *app = h->app;
	g_atomic_int_set(&app->stopped, 1);
	/* Media stops before the plugin forgets the handle (no hangup event on detach). */
	cardea_pc_destroy(h);
	g_mutex_lock(&s->mutex);
	gboolean in_table = g_hash_table_remove(s->handles, &h->id);
	g_mutex_unlock(&s->mutex);
	int error = 0;
	h->plugin->ops.plugin.destroy_session(app, &error);
	if (error != 0)
		CARDEA_LOG(CARDEA_LOG_WARN, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] plugin %s destroy_session error %d",
			s->id, h->id, h->plugin->info->package, error);
	if (notify)
		cardea_session_send_event(s, cardea_handle_event_new(h, "detached"));
	cardea_gateway_emit_event("handle.detached", s->id, h->id, NULL);
	h->app = NULL;
	cardea_plugin_session_unref(app);
	if (in_table)
		cardea_handle_unref(h);
}

json_t *cardea_session_list_handles(cardea_session *s) {
	json_t *arr = json_array();
	g_mutex_lock(&s->mutex);
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, s->handles);
	while (g_hash_table_iter_next(&it, &key, NULL))
		json_array_append_new(arr, json_integer((json_int_t)*(guint64 *)key));
	g_mutex_unlock(&s->mutex);
	return arr;
}

guint cardea_session_handle_count(cardea_session *s) {
	g_mutex_lock(&s->mutex);
	guint n = g_hash_table_size(s->handles);
	g_mutex_unlock(&s->mutex);
	return n;
}

void cardea_handle_queue_candidate(cardea_handle *h, json_t *candidate) {
	g_mutex_lock(&h->mutex);
	if (g_queue_get_length(&h->pending_candidates) >= MAX_PENDING_CANDIDATES)
		json_decref(g_queue_pop_head(&h->pending_candidates));
	json_object_set_new(candidate, CARDEA_HANDLE_QUEUED_AT, json_integer(g_get_monotonic_time()));
	g_queue_push_tail(&h->pending_candidates, candidate);
	g_mutex_unlock(&h->mutex);
}

/* ---- PeerConnection cap (media.max_peerconnections) ---- */

static volatile gint live_pcs;

gboolean cardea_pc_slot_reserve(void) {
	gint max = cardea_gw->settings.max_peerconnections;
	for (;;) {
		gint n = g_atomic_int_get(&live_pcs);
		if (max > 0 && n >= max)
			return FALSE;
		if (g_atomic_int_compare_and_exchange(&live_pcs, n, n + 1))
			return TRUE;
	}
}

void cardea_pc_slot_mark_active(volatile gint *active, gboolean reserved) {
	if (g_atomic_int_compare_and_exchange(active, 0, 1)) {
		if (!reserved)
			g_atomic_int_inc(&live_pcs);
	} else if (reserved) {
		/* Someone else activated it meanwhile (and counted it). */
		g_atomic_int_add(&live_pcs, -1);
	}
}

void cardea_pc_slot_release(void) {
	g_atomic_int_add(&live_pcs, -1);
}

guint cardea_pc_slots_in_use(void) {
	gint n = g_atomic_int_get(&live_pcs);
	return n > 0 ? (guint)n : 0;
}
