/* janus.plugin.videoroom: the SFU. Plugin glue and request dispatch; the
 * threads, locks and files are described in videoroom.h, the wire API in
 * janus-api.md section 8 and docs/videoroom.md.
 *
 * Synchronous requests (list, exists, rtp_forward, ...) are answered on the
 * core's request thread that delivered them; those the auth module guards
 * (create, destroy, kick, moderate) go to the plugin's queue thread with a
 * deferred reply, so waiting for the backend holds no core thread;
 * everything else goes to the queue thread and is answered with an event.
 */
#include <stdarg.h>
#include <string.h>
#include "videoroom.h"

#define VR_HINT "I'm taking my time!"

const cardea_plugin_core *vr_core;
gboolean vr_string_ids;
char *vr_admin_key;
gboolean vr_lock_rtp_forward;
char *vr_config_path;

static cardea_plugin_queue *queue;
static __thread gboolean on_queue_thread;
static GMutex sessions_mutex;
static GHashTable *sessions;        /* cardea_plugin_session* -> vr_session* (table's ref) */

void vr_reply_error(vr_reply *r, int code, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	g_free(r->error);
	r->error = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	r->code = code;
}

void vr_push(cardea_plugin_session *app, const char *transaction, json_t *data, json_t *jsep) {
	if (app && !g_atomic_int_get(&app->stopped))
		vr_core->push_event(app, &vr_plugin, transaction, data, jsep);
}

void vr_notify(cardea_plugin_session *app, const char *name, const char *room, const char *id, json_t *fields) {
	if (!vr_core->events_is_enabled()) {
		json_decref(fields);
		return;
	}
	json_t *ev = json_pack("{s:o, s:o?}", "room", vr_id_json(room), "id", id ? vr_id_json(id) : NULL);
	if (json_is_object(fields))
		json_object_update(ev, fields);
	json_decref(fields);
	cardea_plugin_notify(vr_core, &vr_plugin, app, name, ev);
}

void vr_push_error(cardea_plugin_session *app, const char *transaction, int code, const char *text) {
	json_t *ev = json_pack("{s:s, s:i, s:s}", "videoroom", "event", "error_code", code, "error", text);
	vr_push(app, transaction, ev, NULL);
	json_decref(ev);
}

json_t *vr_id_json(const char *id) {
	if (id == NULL)
		return json_null();
	if (vr_string_ids)
		return json_string(id);
	return json_integer((json_int_t)g_ascii_strtoull(id, NULL, 10));
}

char *vr_id_get(json_t *body, const char *key, vr_reply *r) {
	json_t *v = json_object_get(body, key);
	if (v == NULL)
		return NULL;
	if (vr_string_ids) {
		if (json_is_string(v) && json_string_length(v) > 0)
			return g_strdup(json_string_value(v));
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (%s should be a string)", key);
		return NULL;
	}
	if (json_is_integer(v) && json_integer_value(v) > 0)
		return g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (%s should be a positive integer)", key);
	return NULL;
}

static void session_free(const cardea_refcount *ref) {
	vr_session *s = cardea_container_of(ref, vr_session, ref);
	g_mutex_clear(&s->mutex);
	g_free(s);
}

static vr_session *session_lookup(cardea_plugin_session *app) {
	g_mutex_lock(&sessions_mutex);
	vr_session *s = sessions ? g_hash_table_lookup(sessions, app) : NULL;
	if (s)
		cardea_refcount_ref(&s->ref);
	g_mutex_unlock(&sessions_mutex);
	return s;
}

static void session_unref(vr_session *s) {
	cardea_refcount_unref(&s->ref);
}

/* ---- queue thread ---- */

json_t *vr_queue_auth(cardea_plugin_session *app, const char *action, json_t *target, gboolean *on_queue) {
	*on_queue = on_queue_thread;
	return on_queue_thread ? cardea_plugin_queue_auth(queue, vr_core, app, action, target) : NULL;
}

static cardea_plugin_result sync_result(vr_reply *r) {
	if (r->code) {
		json_decref(r->data);
		r->data = json_pack("{s:s, s:i, s:s}", "videoroom", "event", "error_code", r->code, "error", r->error);
		CARDEA_LOG(CARDEA_LOG_VERB, "[videoroom] request failed: %d %s", r->code, r->error);
	}
	g_free(r->error);
	return cardea_plugin_ok(r->data);
}

/* A guarded synchronous request moved here from handle_message: run it
 * (maybe parked for the auth module, then run again) and answer the
 * deferred reply. */
static void handle_deferred_sync(cardea_plugin_session *app, vr_sync_fn fn, json_t *body) {
	vr_reply r = { .app = app };
	fn(body, &r);
	if (r.parked) {
		json_decref(r.data);
		g_free(r.error);
		return;
	}
	vr_core->reply_later(cardea_plugin_queue_take_reply(queue), sync_result(&r));
}

static void handle_async(cardea_plugin_session *app, const char *transaction, json_t *body, json_t *jsep,
		void *user_data) {
	on_queue_thread = TRUE;
	vr_sync_fn sync = vr_sync_lookup(json_string_value(json_object_get(body, "request")));
	if (sync) {
		handle_deferred_sync(app, sync, body);
		json_decref(body);
		json_decref(jsep);
		return;
	}
	vr_session *s = session_lookup(app);
	if (s == NULL || g_atomic_int_get(&s->destroyed))
		goto out;
	const char *request = json_string_value(json_object_get(body, "request"));
	g_mutex_lock(&s->mutex);
	vr_ptype pt = s->ptype;
	g_mutex_unlock(&s->mutex);
	gboolean join = g_strcmp0(request, "join") == 0 || g_strcmp0(request, "joinandconfigure") == 0;
	if (pt == VR_PT_NONE && join) {
		json_t *ptype = json_object_get(body, "ptype");
		const char *p = json_string_value(ptype);
		if (ptype == NULL)
			vr_push_error(app, transaction, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (ptype)");
		else if (!json_is_string(ptype))
			vr_push_error(app, transaction, VR_ERR_INVALID_ELEMENT, "Invalid element type (ptype should be a string)");
		else if (strcmp(p, "publisher") == 0)
			vr_publisher_handle(s, request, transaction, body, jsep);
		else if (strcmp(p, "subscriber") == 0 || strcmp(p, "listener") == 0)
			vr_subscriber_handle(s, request, transaction, body, jsep);
		else
			vr_push_error(app, transaction, VR_ERR_INVALID_ELEMENT, "Invalid element (ptype)");
	} else if (pt == VR_PT_NONE) {
		vr_push_error(app, transaction, VR_ERR_JOIN_FIRST, "Join first");
	} else if (pt == VR_PT_PUBLISHER) {
		vr_publisher_handle(s, request, transaction, body, jsep);
	} else {
		vr_subscriber_handle(s, request, transaction, body, jsep);
	}
out:
	if (s)
		session_unref(s);
	json_decref(body);
	json_decref(jsep);
}

/* ---- plugin API ---- */

static const char *const async_requests[] = { "join", "joinandconfigure", "configure", "publish", "unpublish",
	"start", "pause", "switch", "update", "subscribe", "unsubscribe", "leave", NULL };
/* Synchronous requests that ask the auth module (requests.c auth hooks). */
static const char *const guarded_sync_requests[] = { "create", "destroy", "kick", "moderate", NULL };

static cardea_plugin_result vr_handle_message(cardea_plugin_session *app, const char *transaction,
		json_t *message, json_t *jsep) {
	vr_reply r = { .app = app };    /* synchronous requests ask the auth module for this handle */
	json_t *req = json_object_get(message, "request");
	if (req == NULL) {
		vr_reply_error(&r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (request)");
	} else if (!json_is_string(req)) {
		vr_reply_error(&r, VR_ERR_INVALID_ELEMENT, "Invalid element type (request should be a string)");
	} else {
		const char *request = json_string_value(req);
		vr_sync_fn fn = vr_sync_lookup(request);
		cardea_plugin_reply *later = fn && g_strv_contains(guarded_sync_requests, request) ?
			vr_core->defer_reply(app) : NULL;
		if (later) {
			cardea_plugin_queue_push_sync(queue, app, transaction, message, jsep, vr_core, later);
			return cardea_plugin_later();
		} else if (fn) {
			fn(message, &r);
		} else if (g_strv_contains(async_requests, request)) {
			cardea_plugin_queue_push(queue, app, transaction, message, jsep);
			return cardea_plugin_wait(VR_HINT);
		} else {
			vr_reply_error(&r, VR_ERR_INVALID_REQUEST, "Unknown request '%s'", request);
		}
	}
	json_decref(message);
	json_decref(jsep);
	return sync_result(&r);
}

static json_t *vr_handle_admin_message(json_t *message) {
	vr_reply r = { 0 };
	const char *request = json_string_value(json_object_get(message, "request"));
	vr_sync_fn fn = request ? vr_sync_lookup(request) : NULL;
	if (fn)
		fn(message, &r);
	else
		vr_reply_error(&r, VR_ERR_INVALID_REQUEST, "Unknown request '%s'", request ? request : "");
	if (r.code) {
		json_decref(r.data);
		r.data = json_pack("{s:s, s:i, s:s}", "videoroom", "event", "error_code", r.code, "error", r.error);
	}
	g_free(r.error);
	return r.data;
}

static int vr_init(const cardea_plugin_core *c, const char *config_path) {
	vr_core = c;
	vr_config_path = g_strdup(config_path);
	GError *error = NULL;
	if (vr_rooms_init(config_path, &error) != 0) {
		CARDEA_LOG(CARDEA_LOG_FATAL, "[videoroom] %s", error ? error->message : "cannot load the config");
		g_clear_error(&error);
		vr_rooms_deinit();
		return -1;
	}
	sessions = g_hash_table_new(NULL, NULL);
	queue = cardea_plugin_queue_new("videoroom", handle_async, NULL);
	return 0;
}

static void vr_destroy(void) {
	cardea_plugin_queue_free(queue);
	queue = NULL;
	vr_rooms_deinit();
	g_mutex_lock(&sessions_mutex);
	g_hash_table_destroy(sessions);
	sessions = NULL;
	g_mutex_unlock(&sessions_mutex);
	g_clear_pointer(&vr_config_path, g_free);
	g_clear_pointer(&vr_admin_key, g_free);
}

static void vr_create_session(cardea_plugin_session *app, int *error) {
	vr_session *s = g_new0(vr_session, 1);
	s->app = app;
	g_mutex_init(&s->mutex);
	cardea_refcount_init(&s->ref, session_free);
	app->plugin_handle = s;
	g_mutex_lock(&sessions_mutex);
	g_hash_table_insert(sessions, app, s);
	g_mutex_unlock(&sessions_mutex);
}

/* Takes the session's role refs (publisher/subscriber) out under its lock. */
static void session_take(vr_session *s, vr_publisher **pub, vr_subscriber **sub) {
	g_mutex_lock(&s->mutex);
	*pub = s->pub;
	*sub = s->sub;
	s->pub = NULL;
	s->sub = NULL;
	s->ptype = VR_PT_NONE;
	g_mutex_unlock(&s->mutex);
}

static void vr_hangup_media(cardea_plugin_session *app) {
	vr_session *s = session_lookup(app);
	if (s == NULL)
		return;
	g_mutex_lock(&s->mutex);
	vr_publisher *pub = s->pub;
	vr_subscriber *sub = s->sub;
	if (pub)
		cardea_refcount_ref(&pub->ref);
	if (sub)
		cardea_refcount_ref(&sub->ref);
	g_mutex_unlock(&s->mutex);
	if (pub) {
		/* Like Janus: a publisher whose PC dies stops publishing but stays. */
		vr_publisher_unpublish(pub, TRUE);
		vr_publisher_unref(pub);
	}
	if (sub) {
		g_atomic_int_set(&sub->paused, 1);
		g_atomic_int_set(&sub->data_ready, 0);
		vr_subscriber_unref(sub);
	}
	session_unref(s);
}

static void vr_destroy_session(cardea_plugin_session *app, int *error) {
	g_mutex_lock(&sessions_mutex);
	vr_session *s = g_hash_table_lookup(sessions, app);
	if (s)
		g_hash_table_remove(sessions, app);
	g_mutex_unlock(&sessions_mutex);
	if (s == NULL) {
		*error = -1;
		return;
	}
	g_atomic_int_set(&s->destroyed, 1);
	vr_publisher *pub;
	vr_subscriber *sub;
	session_take(s, &pub, &sub);
	if (pub) {
		vr_publisher_leave(pub, NULL, FALSE);
		vr_publisher_unref(pub);
	}
	if (sub) {
		vr_subscriber_leave(sub);
		vr_subscriber_unref(sub);
	}
	app->plugin_handle = NULL;
	session_unref(s);
}

static json_t *vr_query_session(cardea_plugin_session *app) {
	vr_session *s = session_lookup(app);
	if (s == NULL)
		return NULL;
	g_mutex_lock(&s->mutex);
	vr_publisher *pub = s->pub;
	vr_subscriber *sub = s->sub;
	if (pub)
		cardea_refcount_ref(&pub->ref);
	if (sub)
		cardea_refcount_ref(&sub->ref);
	g_mutex_unlock(&s->mutex);
	json_t *info = NULL;
	if (pub) {
		info = vr_publisher_query(pub);
		vr_publisher_unref(pub);
	} else if (sub) {
		info = vr_subscriber_query(sub);
		vr_subscriber_unref(sub);
	} else {
		info = json_pack("{s:s}", "type", "none");
	}
	json_object_set_new(info, "destroyed", json_integer(g_atomic_int_get(&s->destroyed)));
	session_unref(s);
	return info;
}

/* Media callbacks: the handle's plugin_handle is valid until destroy_session,
 * which the core calls only after hangup (no media callback after that). The
 * role pointers are read under the session lock and ref'd. */
static vr_publisher *media_pub(cardea_plugin_session *app) {
	vr_session *s = app->plugin_handle;
	if (s == NULL)
		return NULL;
	g_mutex_lock(&s->mutex);
	vr_publisher *p = s->pub;
	if (p)
		cardea_refcount_ref(&p->ref);
	g_mutex_unlock(&s->mutex);
	return p;
}

static vr_subscriber *media_sub(cardea_plugin_session *app) {
	vr_session *s = app->plugin_handle;
	if (s == NULL)
		return NULL;
	g_mutex_lock(&s->mutex);
	vr_subscriber *p = s->sub;
	if (p)
		cardea_refcount_ref(&p->ref);
	g_mutex_unlock(&s->mutex);
	return p;
}

static void vr_setup_media(cardea_plugin_session *app) {
	vr_publisher *p = media_pub(app);
	if (p) {
		if (p->bitrate && vr_core->send_remb)
			vr_core->send_remb(app, p->bitrate);
		vr_publisher_keyframe(p, -1, TRUE);
		vr_publisher_unref(p);
		return;
	}
	vr_subscriber *sub = media_sub(app);
	if (sub) {
		/* Every feed: a keyframe so the new subscriber can start decoding. */
		vr_subscriber_keyframe_request(sub, -1);
		vr_subscriber_unref(sub);
	}
}

static void vr_incoming_rtp(cardea_plugin_session *app, cardea_rtp_packet *packet) {
	/* The session lock is uncontended here except during join/leave. */
	vr_publisher *p = media_pub(app);
	if (p == NULL)
		return;
	vr_publisher_incoming_rtp(p, packet);
	vr_publisher_unref(p);
}

static void vr_incoming_keyframe_request(cardea_plugin_session *app, int mindex) {
	vr_subscriber *sub = media_sub(app);
	if (sub == NULL)
		return;
	vr_subscriber_keyframe_request(sub, mindex);
	vr_subscriber_unref(sub);
}

static void vr_data_ready(cardea_plugin_session *app) {
	vr_subscriber *sub = media_sub(app);
	if (sub) {
		g_atomic_int_set(&sub->data_ready, 1);
		vr_subscriber_unref(sub);
	}
}

static void vr_incoming_data(cardea_plugin_session *app, cardea_data_packet *packet) {
	vr_publisher *p = media_pub(app);
	if (p == NULL)
		return;
	vr_publisher_incoming_data(p, packet);
	vr_publisher_unref(p);
}

/* Gauges for /metrics: rooms, joined participants, publishers, subscribers. */
static json_t *vr_query_metrics(void) {
	GPtrArray *all = vr_rooms_all();
	json_int_t parts = 0, pubs = 0, subs = 0;
	for (guint i = 0; i < all->len; i++) {
		vr_room *room = all->pdata[i];
		GPtrArray *p = vr_room_participants(room, NULL);
		parts += p->len;
		for (guint k = 0; k < p->len; k++)
			pubs += g_atomic_int_get(&((vr_publisher *)p->pdata[k])->publishing) ? 1 : 0;
		g_ptr_array_unref(p);
		g_mutex_lock(&room->mutex);
		subs += g_hash_table_size(room->subscribers);
		g_mutex_unlock(&room->mutex);
	}
	json_t *m = json_pack("{s:I, s:I, s:I, s:I}", "rooms", (json_int_t)all->len, "participants", parts,
		"publishers", pubs, "subscribers", subs);
	g_ptr_array_unref(all);
	return m;
}

cardea_plugin vr_plugin = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_PLUGIN, cardea_plugin),
		.package = VR_PACKAGE,
		.name = "videoroom",
		.description = "Video rooms: an SFU with the Janus VideoRoom (1.x multistream) API",
		.author = "Cardea",
		.version_string = "0.1.0",
		.version = 1,
	},
	.init = vr_init,
	.destroy = vr_destroy,
	.create_session = vr_create_session,
	.handle_message = vr_handle_message,
	.handle_admin_message = vr_handle_admin_message,
	.hangup_media = vr_hangup_media,
	.destroy_session = vr_destroy_session,
	.query_session = vr_query_session,
	.setup_media = vr_setup_media,
	.incoming_rtp = vr_incoming_rtp,
	.incoming_keyframe_request = vr_incoming_keyframe_request,
	.data_ready = vr_data_ready,
	.incoming_data = vr_incoming_data,
	.query_metrics = vr_query_metrics,
};

CARDEA_MODULE_DEFINE(vr_plugin)
