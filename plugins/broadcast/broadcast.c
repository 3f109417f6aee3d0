/* cardea.plugin.broadcast: one presenter, many viewers, per channel.
 *
 * Wire API (docs/broadcast.md): body {"request": ...}; synchronous create,
 * destroy, list, info; asynchronous present, watch (each with a jsep offer:
 * the presenter's sendonly one, the viewer's recvonly one), configure
 * (substream/temporal for a viewer), leave. Replies and events carry
 * {"broadcast": "success"|"event", ...}; errors {"broadcast":"event",
 * "error_code": 48x, "error": "..."}.
 *
 * A `present` on a channel that has a presenter takes over when the channel
 * allows it: the old presenter gets {"broadcast":"event","result":"replaced"}
 * and its PeerConnection is closed; viewers keep theirs and get
 * {"broadcast":"event","presenter":"changed"} while the new presenter's
 * stream continues on the same SSRCs (bc-media.c).
 *
 * Sessions live in a table under sessions_mutex and are refcounted; each
 * holds a ref to its cardea_plugin_session so the fan out may still touch
 * `app` (checking `stopped`) from a snapshot taken before a detach.
 */
#include <string.h>
#include "cardea/security.h"
#include "broadcast.h"

#define BC_HINT "Processing"

const cardea_plugin_core *bc_core;
char *bc_admin_key;
static cardea_plugin_queue *queue;
static GMutex sessions_mutex;
static GHashTable *sessions;        /* cardea_plugin_session* -> bc_session* (table's ref) */

/* ---- sessions ---- */

static void session_free(const cardea_refcount *ref) {
	bc_session *s = cardea_container_of(ref, bc_session, ref);
	if (s->channel)
		bc_channel_unref(s->channel);
	g_mutex_clear(&s->mutex);
	g_mutex_clear(&s->fwd_mutex);
	cardea_plugin_session_unref(s->app);
	g_free(s);
}

void bc_session_ref(bc_session *s) {
	cardea_refcount_ref(&s->ref);
}

void bc_session_unref(bc_session *s) {
	if (s)
		cardea_refcount_unref(&s->ref);
}

static bc_session *session_lookup(cardea_plugin_session *app) {
	g_mutex_lock(&sessions_mutex);
	bc_session *s = sessions ? g_hash_table_lookup(sessions, app) : NULL;
	if (s)
		bc_session_ref(s);
	g_mutex_unlock(&sessions_mutex);
	return s;
}

void bc_push(cardea_plugin_session *app, const char *transaction, json_t *data, json_t *jsep) {
	bc_core->push_event(app, &bc_plugin, transaction, data, jsep);
}

void bc_push_error(cardea_plugin_session *app, const char *transaction, int code, const char *text) {
	json_t *ev = json_pack("{s:s, s:i, s:s}", "broadcast", "event", "error_code", code, "error", text);
	bc_push(app, transaction, ev, NULL);
	json_decref(ev);
}

/* Sessions' apps (refs) to notify, collected under ch->mutex and pushed after. */
static void push_all(GPtrArray *apps, json_t *data) {
	for (guint i = 0; i < apps->len; i++)
		bc_push(apps->pdata[i], NULL, data, NULL);
}

static GPtrArray *apps_new(void) {
	return g_ptr_array_new_with_free_func((GDestroyNotify)cardea_plugin_session_unref);
}

static void apps_add(GPtrArray *apps, bc_session *s) {
	cardea_plugin_session_ref(s->app);
	g_ptr_array_add(apps, s->app);
}

/* Tells the presenter of `ch` how many viewers it has. */
static void notify_viewers(bc_channel *ch) {
	g_mutex_lock(&ch->mutex);
	cardea_plugin_session *papp = ch->presenter ? ch->presenter->app : NULL;
	if (papp)
		cardea_plugin_session_ref(papp);
	int n = (int)g_hash_table_size(ch->viewers);
	g_mutex_unlock(&ch->mutex);
	if (papp == NULL)
		return;
	json_t *ev = json_pack("{s:s, s:s, s:i}", "broadcast", "event", "channel", ch->name, "viewers", n);
	bc_push(papp, NULL, ev, NULL);
	json_decref(ev);
	cardea_plugin_session_unref(papp);
}

/* Takes `s` out of its channel (role back to none). Returns the channel
 * (ref) it left, or NULL. `close` also closes its PeerConnection. */
static bc_channel *session_leave(bc_session *s, gboolean close) {
	g_mutex_lock(&s->mutex);
	bc_channel *ch = s->channel;
	bc_role role = s->role;
	s->channel = NULL;
	s->role = BC_ROLE_NONE;
	g_mutex_unlock(&s->mutex);
	if (ch == NULL)
		return NULL;
	GPtrArray *apps = apps_new();
	g_mutex_lock(&ch->mutex);
	if (role == BC_ROLE_PRESENTER && ch->presenter == s) {
		ch->presenter = NULL;
		bc_session_unref(s);
		GHashTableIter it;
		gpointer k;
		g_hash_table_iter_init(&it, ch->viewers);
		while (g_hash_table_iter_next(&it, &k, NULL))
			apps_add(apps, k);
	} else if (role == BC_ROLE_VIEWER && g_hash_table_remove(ch->viewers, s)) {
		bc_channel_resnap_locked(ch);
	}
	g_mutex_unlock(&ch->mutex);
	if (role == BC_ROLE_PRESENTER) {
		json_t *ev = json_pack("{s:s, s:s, s:s}", "broadcast", "event", "channel", ch->name, "presenter", "none");
		push_all(apps, ev);
		json_decref(ev);
	} else if (role == BC_ROLE_VIEWER) {
		notify_viewers(ch);
	}
	g_ptr_array_unref(apps);
	if (role == BC_ROLE_PRESENTER || role == BC_ROLE_VIEWER)
		cardea_plugin_notify(bc_core, &bc_plugin, s->app, role == BC_ROLE_PRESENTER ? "presenter_off" : "viewer_left",
			json_pack("{s:s}", "channel", ch->name));
	if (close && !g_atomic_int_get(&s->app->stopped))
		bc_core->close_pc(s->app);
	return ch;
}

/* ---- auth ---- */

typedef enum { BC_AUTH_DENIED, BC_AUTH_ALLOWED, BC_AUTH_PARKED } bc_auth;

/* Asks the auth module on the queue thread without blocking it: PARKED means
 * the request waits for the answer (reply nothing; it runs again then).
 * Without a module the answer comes inside the call. */
static bc_auth auth_allowed(cardea_plugin_session *app, const char *action, const char *channel, json_t *body) {
	json_t *target = json_pack("{s:s}", "channel", channel);
	json_t *token = json_object_get(body, "token");
	if (json_is_string(token))
		json_object_set(target, "token", token);
	json_t *decision = cardea_plugin_queue_auth(queue, bc_core, app, action, target);
	json_decref(target);
	if (decision == NULL)
		return BC_AUTH_PARKED;
	gboolean ok = cardea_auth_allowed(decision);
	json_decref(decision);
	return ok ? BC_AUTH_ALLOWED : BC_AUTH_DENIED;
}

/* The channel's pin, or its token, must match when set. */
static gboolean channel_access(bc_channel *ch, json_t *body) {
	const char *pin = json_string_value(json_object_get(body, "pin"));
	const char *token = json_string_value(json_object_get(body, "token"));
	if (ch->props.pin == NULL && ch->props.token == NULL)
		return TRUE;
	if (ch->props.pin && cardea_secret_equal(pin, ch->props.pin))
		return TRUE;
	if (ch->props.token && cardea_secret_equal(token, ch->props.token))
		return TRUE;
	return FALSE;
}

/* ---- synchronous requests ---- */

static json_t *error_json(int code, const char *text) {
	return json_pack("{s:s, s:i, s:s}", "broadcast", "event", "error_code", code, "error", text);
}

static gboolean opt_string(json_t *body, const char *key, json_t **err) {
	json_t *v = json_object_get(body, key);
	if (v && !json_is_string(v)) {
		char *t = g_strdup_printf("Invalid element (%s should be a string)", key);
		*err = error_json(BC_ERR_INVALID_ELEMENT, t);
		g_free(t);
		return FALSE;
	}
	return TRUE;
}

static gboolean opt_bool(json_t *body, const char *key, json_t **err) {
	json_t *v = json_object_get(body, key);
	if (v && !json_is_boolean(v)) {
		char *t = g_strdup_printf("Invalid element (%s should be a boolean)", key);
		*err = error_json(BC_ERR_INVALID_ELEMENT, t);
		g_free(t);
		return FALSE;
	}
	return TRUE;
}

static gboolean valid_name(const char *name) {
	if (name == NULL || *name == '\0' || strlen(name) > 64)
		return FALSE;
	for (const char *c = name; *c; c++)
		if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_' && *c != '.')
			return FALSE;
	return TRUE;
}

static json_t *req_create(json_t *body) {
	json_t *err = NULL;
	static const char *const strs[] = { "channel", "description", "secret", "pin", "token", "videocodec",
		"audiocodec", "admin_key" };
	for (guint i = 0; i < G_N_ELEMENTS(strs); i++)
		if (!opt_string(body, strs[i], &err))
			return err;
	if (!opt_bool(body, "is_private", &err) || !opt_bool(body, "takeover", &err))
		return err;
	if (bc_admin_key && g_strcmp0(json_string_value(json_object_get(body, "admin_key")), bc_admin_key) != 0)
		return error_json(BC_ERR_UNAUTHORIZED, "Unauthorized (wrong admin_key)");
	const char *vc = json_string_value(json_object_get(body, "videocodec"));
	const char *ac = json_string_value(json_object_get(body, "audiocodec"));
	if (vc && cardea_video_codec_from_name(vc) == CARDEA_VIDEO_CODEC_UNKNOWN)
		return error_json(BC_ERR_INVALID_ELEMENT, "Invalid element (videocodec: vp8, vp9, h264 or av1)");
	if (ac && g_ascii_strcasecmp(ac, "opus") != 0)
		return error_json(BC_ERR_INVALID_ELEMENT, "Invalid element (audiocodec: opus)");
	const char *name = json_string_value(json_object_get(body, "channel"));
	char *gen = NULL;
	if (name == NULL)
		name = gen = g_strdup_printf("ch-%08x", g_random_int());
	if (!valid_name(name)) {
		g_free(gen);
		return error_json(BC_ERR_INVALID_ELEMENT, "Invalid element (channel: 1-64 of A-Z a-z 0-9 - _ .)");
	}
	json_t *tk = json_object_get(body, "takeover");
	bc_props p = {
		.description = (char *)json_string_value(json_object_get(body, "description")),
		.secret = (char *)json_string_value(json_object_get(body, "secret")),
		.pin = (char *)json_string_value(json_object_get(body, "pin")),
		.token = (char *)json_string_value(json_object_get(body, "token")),
		.is_private = json_is_true(json_object_get(body, "is_private")),
		.takeover = tk ? json_is_true(tk) : TRUE,
		.video_codec = (char *)vc, .audio_codec = (char *)ac,
	};
	bc_channel *ch = bc_channel_new(name, &p);
	int rc = bc_channel_add(ch);
	json_t *res = rc ? error_json(rc, "Channel already exists") :
		json_pack("{s:s, s:s}", "broadcast", "created", "channel", name);
	if (rc == 0)
		CARDEA_LOG(CARDEA_LOG_INFO, "[broadcast] channel %s created", name);
	bc_channel_unref(ch);
	g_free(gen);
	return res;
}

static json_t *req_destroy(json_t *body) {
	json_t *err = NULL;
	if (!opt_string(body, "channel", &err) || !opt_string(body, "secret", &err))
		return err;
	bc_channel *ch = bc_channel_lookup(json_string_value(json_object_get(body, "channel")));
	if (ch == NULL)
		return error_json(BC_ERR_NO_SUCH_CHANNEL, "No such channel");
	if (ch->props.secret && !cardea_secret_equal(json_string_value(json_object_get(body, "secret")), ch->props.secret)) {
		bc_channel_unref(ch);
		return error_json(BC_ERR_UNAUTHORIZED, "Unauthorized (wrong secret)");
	}
	if (!bc_channel_remove(ch)) {
		bc_channel_unref(ch);
		return error_json(BC_ERR_NO_SUCH_CHANNEL, "No such channel");
	}
	/* Everyone in it leaves; their PeerConnections close. */
	GPtrArray *members = g_ptr_array_new_with_free_func((GDestroyNotify)bc_session_unref);
	g_mutex_lock(&ch->mutex);
	if (ch->presenter) {
		bc_session_ref(ch->presenter);
		g_ptr_array_add(members, ch->presenter);
	}
	GHashTableIter it;
	gpointer k;
	g_hash_table_iter_init(&it, ch->viewers);
	while (g_hash_table_iter_next(&it, &k, NULL)) {
		bc_session_ref(k);
		g_ptr_array_add(members, k);
	}
	g_mutex_unlock(&ch->mutex);
	json_t *ev = json_pack("{s:s, s:s}", "broadcast", "destroyed", "channel", ch->name);
	for (guint i = 0; i < members->len; i++) {
		bc_session *s = members->pdata[i];
		bc_push(s->app, NULL, ev, NULL);
		bc_channel_unref(session_leave(s, TRUE));
	}
	json_decref(ev);
	g_ptr_array_unref(members);
	CARDEA_LOG(CARDEA_LOG_INFO, "[broadcast] channel %s destroyed", ch->name);
	json_t *res = json_pack("{s:s, s:s}", "broadcast", "destroyed", "channel", ch->name);
	bc_channel_unref(ch);
	return res;
}

static json_t *req_list(json_t *body) {
	GPtrArray *all = bc_channels_all();
	json_t *list = json_array();
	for (guint i = 0; i < all->len; i++) {
		bc_channel *ch = all->pdata[i];
		if (!ch->props.is_private)
			json_array_append_new(list, bc_channel_json(ch, FALSE));
	}
	g_ptr_array_unref(all);
	return json_pack("{s:s, s:o}", "broadcast", "success", "list", list);
}

static json_t *req_info(json_t *body) {
	json_t *err = NULL;
	if (!opt_string(body, "channel", &err))
		return err;
	bc_channel *ch = bc_channel_lookup(json_string_value(json_object_get(body, "channel")));
	if (ch == NULL)
		return error_json(BC_ERR_NO_SUCH_CHANNEL, "No such channel");
	json_t *info = bc_channel_json(ch, TRUE);
	json_object_set_new(info, "broadcast", json_string("success"));
	/* What each of the presenter's substreams costs, bps (layer choice). */
	g_mutex_lock(&ch->mutex);
	bc_session *p = ch->presenter;
	if (p)
		bc_session_ref(p);
	g_mutex_unlock(&ch->mutex);
	if (p) {
		json_object_set_new(info, "layer_bitrates", bc_layer_rates_json(p));
		bc_session_unref(p);
	}
	bc_channel_unref(ch);
	return info;
}

/* ---- asynchronous requests (queue thread) ---- */

static bc_channel *channel_for(cardea_plugin_session *app, const char *transaction, json_t *body,
		const char *action) {
	json_t *name = json_object_get(body, "channel");
	if (name == NULL) {
		bc_push_error(app, transaction, BC_ERR_MISSING_ELEMENT, "Missing element (channel)");
		return NULL;
	}
	if (!json_is_string(name) || (json_object_get(body, "pin") && !json_is_string(json_object_get(body, "pin"))) ||
			(json_object_get(body, "token") && !json_is_string(json_object_get(body, "token")))) {
		bc_push_error(app, transaction, BC_ERR_INVALID_ELEMENT, "Invalid element (channel, pin, token should be strings)");
		return NULL;
	}
	bc_channel *ch = bc_channel_lookup(json_string_value(name));
	if (ch == NULL) {
		bc_push_error(app, transaction, BC_ERR_NO_SUCH_CHANNEL, "No such channel");
		return NULL;
	}
	bc_auth auth = channel_access(ch, body) ? auth_allowed(app, action, ch->name, body) : BC_AUTH_DENIED;
	if (auth != BC_AUTH_ALLOWED) {
		if (auth == BC_AUTH_DENIED)
			bc_push_error(app, transaction, BC_ERR_UNAUTHORIZED, "Unauthorized");
		bc_channel_unref(ch);
		return NULL;
	}
	return ch;
}

static const char *offer_sdp(cardea_plugin_session *app, const char *transaction, json_t *jsep) {
	const char *type = json_string_value(json_object_get(jsep, "type"));
	if (jsep == NULL) {
		bc_push_error(app, transaction, BC_ERR_MISSING_ELEMENT, "Missing jsep (an SDP offer)");
		return NULL;
	}
	if (g_ascii_strcasecmp(type ? type : "", "offer") != 0) {
		bc_push_error(app, transaction, BC_ERR_INVALID_SDP, "Expected an SDP offer");
		return NULL;
	}
	return json_string_value(json_object_get(jsep, "sdp"));
}

/* What present and watch start with: the offer, the channel (access
 * checked), the session free for `role` (or already in it on that channel,
 * a renegotiation) and the answer (*answer, g_malloc'd) -- or, for a watch
 * without a jsep, the gateway's offer. Returns the channel (ref), or NULL
 * after pushing the error. */
static bc_channel *join_prologue(bc_session *s, const char *transaction, json_t *body, json_t *jsep,
		bc_role role, bc_leg *leg, char **answer) {
	cardea_plugin_session *app = s->app;
	gboolean gateway_offer = role == BC_ROLE_VIEWER && jsep == NULL;
	const char *sdp = gateway_offer ? NULL : offer_sdp(app, transaction, jsep);
	if (sdp == NULL && !gateway_offer)
		return NULL;
	/* WHIP/WHEP resources come from the HTTP transport with "via": "whip";
	 * the backend sees them as their own actions (docs/auth.md). */
	gboolean whip = g_strcmp0(json_string_value(json_object_get(body, "via")), "whip") == 0;
	const char *action = role == BC_ROLE_PRESENTER ? (whip ? "whip.publish" : "broadcast.present")
		: (whip ? "whep.play" : "broadcast.watch");
	bc_channel *ch = channel_for(app, transaction, body, action);
	if (ch == NULL)
		return NULL;
	g_mutex_lock(&s->mutex);
	gboolean busy = s->role != BC_ROLE_NONE && !(s->role == role && s->channel == ch);
	g_mutex_unlock(&s->mutex);
	const char *error = NULL;
	*answer = NULL;
	if (busy)
		bc_push_error(app, transaction, BC_ERR_WRONG_STATE, "Already in a channel: leave first");
	else if (gateway_offer)
		*answer = bc_viewer_offer(&ch->props, leg);
	else if ((*answer = role == BC_ROLE_PRESENTER ? bc_presenter_answer(sdp, &ch->props, leg, &error) :
			bc_viewer_answer(sdp, &ch->props, leg, &error)) == NULL)
		bc_push_error(app, transaction, BC_ERR_INVALID_SDP, error);
	if (*answer == NULL) {
		bc_channel_unref(ch);
		return NULL;
	}
	return ch;
}

static void do_present(bc_session *s, const char *transaction, json_t *body, json_t *jsep) {
	cardea_plugin_session *app = s->app;
	bc_leg leg;
	char *answer = NULL;
	bc_channel *ch = join_prologue(s, transaction, body, jsep, BC_ROLE_PRESENTER, &leg, &answer);
	if (ch == NULL)
		return;
	/* Take the channel over. */
	bc_session *old = NULL;
	GPtrArray *viewers = apps_new();
	g_mutex_lock(&ch->mutex);
	if (g_atomic_int_get(&ch->destroyed) || (ch->presenter && ch->presenter != s && !ch->props.takeover)) {
		gboolean gone = g_atomic_int_get(&ch->destroyed);
		g_mutex_unlock(&ch->mutex);
		bc_push_error(app, transaction, gone ? BC_ERR_NO_SUCH_CHANNEL : BC_ERR_PRESENTER_BUSY,
			gone ? "No such channel" : "The channel has a presenter");
		g_free(answer);
		g_ptr_array_unref(viewers);
		bc_channel_unref(ch);
		return;
	}
	if (ch->presenter != s) {
		old = ch->presenter;    /* the channel's ref moves to us */
		bc_session_ref(s);
		ch->presenter = s;
	}
	int gen = g_atomic_int_add(&ch->presenter_gen, 1) + 1;
	GHashTableIter it;
	gpointer k;
	g_hash_table_iter_init(&it, ch->viewers);
	while (g_hash_table_iter_next(&it, &k, NULL))
		apps_add(viewers, k);
	int nviewers = (int)g_hash_table_size(ch->viewers);
	g_mutex_unlock(&ch->mutex);
	g_mutex_lock(&s->mutex);
	if (s->channel == NULL) {
		bc_channel *ref = ch;
		cardea_refcount_ref(&ref->ref);
		s->channel = ref;
	}
	s->role = BC_ROLE_PRESENTER;
	s->leg = leg;
	s->gen = gen % (G_MAXINT / 8);  /* rewriter source ids stay positive ints */
	g_mutex_unlock(&s->mutex);
	if (old) {
		/* The replaced presenter: it no longer owns the channel. */
		g_mutex_lock(&old->mutex);
		bc_channel *och = old->channel;
		old->channel = NULL;
		old->role = BC_ROLE_NONE;
		g_mutex_unlock(&old->mutex);
		bc_channel_unref(och);
		json_t *ev = json_pack("{s:s, s:s, s:s}", "broadcast", "event", "channel", ch->name, "result", "replaced");
		bc_push(old->app, NULL, ev, NULL);
		json_decref(ev);
		if (!g_atomic_int_get(&old->app->stopped))
			bc_core->close_pc(old->app);
		bc_session_unref(old);
		CARDEA_LOG(CARDEA_LOG_INFO, "[broadcast] channel %s: presenter taken over", ch->name);
	}
	json_t *ev = json_pack("{s:s, s:s, s:s, s:i, s:i}", "broadcast", "event", "channel", ch->name,
		"result", "presenting", "viewers", nviewers, "substreams", leg.substreams);
	json_t *ans = json_pack("{s:s, s:s}", "type", "answer", "sdp", answer);
	if (bc_core->push_event(app, &bc_plugin, transaction, ev, ans) < 0) {
		/* The core took no answer (the PC closed meanwhile): the client
		 * still waits for this transaction's event. */
		bc_channel_unref(session_leave(s, FALSE));
		bc_push_error(app, transaction, BC_ERR_UNKNOWN, "Could not negotiate the PeerConnection");
	} else
		cardea_plugin_notify(bc_core, &bc_plugin, app, "presenter_on",
			json_pack("{s:s, s:b}", "channel", ch->name, "takeover", old != NULL));
	json_decref(ev);
	json_decref(ans);
	g_free(answer);
	if (viewers->len) {
		json_t *vev = json_pack("{s:s, s:s, s:s}", "broadcast", "event", "channel", ch->name, "presenter", "changed");
		push_all(viewers, vev);
		json_decref(vev);
	}
	g_ptr_array_unref(viewers);
	bc_channel_unref(ch);
}

static void do_watch(bc_session *s, const char *transaction, json_t *body, json_t *jsep) {
	cardea_plugin_session *app = s->app;
	bc_leg leg;
	char *answer = NULL;
	bc_channel *ch = join_prologue(s, transaction, body, jsep, BC_ROLE_VIEWER, &leg, &answer);
	if (ch == NULL)
		return;
	g_mutex_lock(&s->mutex);
	g_mutex_lock(&s->fwd_mutex);
	s->leg = leg;
	g_mutex_unlock(&s->fwd_mutex);
	if (s->channel == NULL) {
		cardea_refcount_ref(&ch->ref);
		s->channel = ch;
	}
	s->role = BC_ROLE_VIEWER;
	g_mutex_unlock(&s->mutex);
	g_mutex_lock(&ch->mutex);
	gboolean gone = g_atomic_int_get(&ch->destroyed), fresh = FALSE;
	if (!gone && !g_hash_table_contains(ch->viewers, s)) {
		bc_session_ref(s);
		g_hash_table_add(ch->viewers, s);
		fresh = TRUE;
	}
	gboolean has_presenter = ch->presenter != NULL;
	g_mutex_unlock(&ch->mutex);
	if (gone) {
		bc_channel_unref(session_leave(s, FALSE));
		bc_push_error(app, transaction, BC_ERR_NO_SUCH_CHANNEL, "No such channel");
	} else {
		json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:b}", "broadcast", "event", "channel", ch->name,
			"result", "watching", "presenter", has_presenter ? "present" : "none",
			"substream_auto", g_atomic_int_get(&s->substream_target) < 0);
		/* Without a client offer, `answer` is our offer: the client answers with `start`. */
		json_t *ans = json_pack("{s:s, s:s}", "type", jsep ? "answer" : "offer", "sdp", answer);
		if (bc_core->push_event(app, &bc_plugin, transaction, ev, ans) < 0) {
			bc_channel_unref(session_leave(s, FALSE));
			bc_push_error(app, transaction, BC_ERR_UNKNOWN, "Could not negotiate the PeerConnection");
		} else {
			notify_viewers(ch);
			if (fresh)
				cardea_plugin_notify(bc_core, &bc_plugin, app, "viewer_joined", json_pack("{s:s}", "channel", ch->name));
		}
		json_decref(ev);
		json_decref(ans);
	}
	g_free(answer);
	bc_channel_unref(ch);
}

static void do_configure(bc_session *s, const char *transaction, json_t *body) {
	/* substream -1 goes back to the automatic choice (docs/broadcast.md). */
	json_t *sub = json_object_get(body, "substream"), *tmp = json_object_get(body, "temporal");
	if ((sub && (!json_is_integer(sub) || json_integer_value(sub) < -1 || json_integer_value(sub) > 2)) ||
			(tmp && (!json_is_integer(tmp) || json_integer_value(tmp) < 0 || json_integer_value(tmp) > 2))) {
		bc_push_error(s->app, transaction, BC_ERR_INVALID_ELEMENT,
			"Invalid element (substream should be -1 (automatic), 0, 1 or 2; temporal 0, 1 or 2)");
		return;
	}
	g_mutex_lock(&s->mutex);
	bc_role role = s->role;
	g_mutex_unlock(&s->mutex);
	if (role != BC_ROLE_VIEWER) {
		bc_push_error(s->app, transaction, BC_ERR_WRONG_STATE, "Not watching a channel");
		return;
	}
	if (sub)
		g_atomic_int_set(&s->substream_target, (gint)json_integer_value(sub));
	if (tmp)
		g_atomic_int_set(&s->temporal_target, (gint)json_integer_value(tmp));
	g_atomic_int_set(&s->sel_dirty, 1);
	json_t *ev = json_pack("{s:s, s:s}", "broadcast", "event", "result", "ok");
	bc_push(s->app, transaction, ev, NULL);
	json_decref(ev);
}

/* A viewer's answer to the gateway's offer (the core applied it already). */
static void do_start(bc_session *s, const char *transaction, json_t *jsep) {
	const char *type = json_string_value(json_object_get(jsep, "type"));
	if (jsep == NULL || g_strcmp0(type, "answer") != 0) {
		bc_push_error(s->app, transaction, BC_ERR_MISSING_ELEMENT, "Missing jsep (an SDP answer)");
		return;
	}
	g_mutex_lock(&s->mutex);
	gboolean viewer = s->role == BC_ROLE_VIEWER;
	bc_leg leg = s->leg;
	g_mutex_unlock(&s->mutex);
	if (!viewer) {
		bc_push_error(s->app, transaction, BC_ERR_WRONG_STATE, "Not watching a channel");
		return;
	}
	if (!bc_viewer_apply_answer(json_string_value(json_object_get(jsep, "sdp")), &leg)) {
		bc_push_error(s->app, transaction, BC_ERR_INVALID_SDP, "The answer accepts neither audio nor video");
		bc_channel_unref(session_leave(s, TRUE));
		return;
	}
	g_mutex_lock(&s->mutex);
	g_mutex_lock(&s->fwd_mutex);
	s->leg = leg;
	g_mutex_unlock(&s->fwd_mutex);
	g_mutex_unlock(&s->mutex);
	json_t *ev = json_pack("{s:s, s:s}", "broadcast", "event", "result", "started");
	bc_push(s->app, transaction, ev, NULL);
	json_decref(ev);
}

static void handle_request(cardea_plugin_session *app, const char *transaction, json_t *body, json_t *jsep,
		void *user_data) {
	bc_session *s = session_lookup(app);
	if (s == NULL)
		goto out;
	const char *req = json_string_value(json_object_get(body, "request"));
	if (g_strcmp0(req, "present") == 0) {
		do_present(s, transaction, body, jsep);
	} else if (g_strcmp0(req, "watch") == 0) {
		do_watch(s, transaction, body, jsep);
	} else if (g_strcmp0(req, "configure") == 0) {
		do_configure(s, transaction, body);
	} else if (g_strcmp0(req, "start") == 0) {
		do_start(s, transaction, jsep);
	} else if (g_strcmp0(req, "leave") == 0) {
		bc_channel *ch = session_leave(s, TRUE);
		if (ch == NULL) {
			bc_push_error(app, transaction, BC_ERR_WRONG_STATE, "Not in a channel");
		} else {
			json_t *ev = json_pack("{s:s, s:s, s:s}", "broadcast", "event", "channel", ch->name, "result", "left");
			bc_push(app, transaction, ev, NULL);
			json_decref(ev);
			bc_channel_unref(ch);
		}
	} else {
		bc_push_error(app, transaction, BC_ERR_INVALID_REQUEST, "Unknown request");
	}
out:
	bc_session_unref(s);
	json_decref(body);
	json_decref(jsep);
}

/* ---- plugin API ---- */

static int bc_init(const cardea_plugin_core *c, const char *config_path) {
	bc_core = c;
	GError *error = NULL;
	if (bc_channels_init(config_path, &error) != 0) {
		CARDEA_LOG(CARDEA_LOG_FATAL, "[broadcast] %s", error ? error->message : "bad configuration");
		g_clear_error(&error);
		bc_channels_deinit();
		return -1;
	}
	sessions = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)bc_session_unref);
	queue = cardea_plugin_queue_new("broadcast", handle_request, NULL);
	return 0;
}

static void bc_destroy(void) {
	cardea_plugin_queue_free(queue);
	queue = NULL;
	g_mutex_lock(&sessions_mutex);
	GHashTable *t = sessions;
	sessions = NULL;
	g_mutex_unlock(&sessions_mutex);
	if (t)
		g_hash_table_destroy(t);
	bc_channels_deinit();
	g_free(bc_admin_key);
	bc_admin_key = NULL;
}

static void bc_create_session(cardea_plugin_session *app, int *error) {
	bc_session *s = g_new0(bc_session, 1);
	cardea_plugin_session_ref(app);
	s->app = app;
	s->fwd_gen = -1;
	s->substream_target = s->temporal_target = -1;
	s->leg.audio_mindex = s->leg.video_mindex = -1;
	s->leg.audio_pt = s->leg.video_pt = -1;
	g_mutex_init(&s->mutex);
	g_mutex_init(&s->fwd_mutex);
	cardea_sim_rewriter_init(&s->vrw, 90000);
	cardea_sim_rewriter_init(&s->arw, 48000);
	cardea_bwe_policy_init(&s->policy);
	bc_presenter_reset(s);
	cardea_refcount_init(&s->ref, session_free);
	app->plugin_handle = s;
	g_mutex_lock(&sessions_mutex);
	g_hash_table_insert(sessions, app, s);
	g_mutex_unlock(&sessions_mutex);
}

static cardea_plugin_result bc_handle_message(cardea_plugin_session *app, const char *transaction,
		json_t *message, json_t *jsep) {
	const char *req = json_string_value(json_object_get(message, "request"));
	json_t *(*sync)(json_t *) = NULL;
	if (req == NULL) {
		json_t *err = error_json(json_object_get(message, "request") ? BC_ERR_INVALID_ELEMENT : BC_ERR_MISSING_ELEMENT,
			"Missing or invalid element (request)");
		json_decref(message);
		json_decref(jsep);
		return cardea_plugin_ok(err);
	}
	if (strcmp(req, "create") == 0)
		sync = req_create;
	else if (strcmp(req, "destroy") == 0)
		sync = req_destroy;
	else if (strcmp(req, "list") == 0)
		sync = req_list;
	else if (strcmp(req, "info") == 0)
		sync = req_info;
	if (sync) {
		json_t *res = sync(message);
		json_decref(message);
		json_decref(jsep);
		return cardea_plugin_ok(res);
	}
	cardea_plugin_queue_push(queue, app, transaction, message, jsep);
	return cardea_plugin_wait(BC_HINT);
}

static json_t *bc_handle_admin_message(json_t *message) {
	const char *req = json_string_value(json_object_get(message, "request"));
	if (g_strcmp0(req, "list") == 0)
		return req_list(message);
	if (g_strcmp0(req, "info") == 0)
		return req_info(message);
	return error_json(BC_ERR_INVALID_REQUEST, "Unknown request");
}

static void bc_setup_media(cardea_plugin_session *app) {
	bc_session *s = app->plugin_handle;
	if (s == NULL)
		return;
	g_mutex_lock(&s->mutex);
	bc_role role = s->role;
	bc_channel *ch = s->channel;
	if (ch)
		cardea_refcount_ref(&ch->ref);
	int vmindex = s->leg.video_mindex;
	g_mutex_unlock(&s->mutex);
	if (role == BC_ROLE_VIEWER)
		bc_viewer_reset(s);
	else if (role == BC_ROLE_PRESENTER)
		bc_presenter_reset(s);
	g_atomic_int_set(&s->media_up, 1);
	if (ch == NULL)
		return;
	if (role == BC_ROLE_VIEWER) {
		g_mutex_lock(&ch->mutex);
		if (g_hash_table_contains(ch->viewers, s))
			bc_channel_resnap_locked(ch);
		g_mutex_unlock(&ch->mutex);
		/* The first frame a viewer can decode is the next keyframe. */
		bc_request_keyframe(ch);
	} else if (role == BC_ROLE_PRESENTER && vmindex >= 0) {
		bc_core->send_keyframe_request(app, vmindex);
	}
	bc_channel_unref(ch);
}

static void bc_incoming_keyframe_request(cardea_plugin_session *app, int mindex) {
	bc_session *s = app->plugin_handle;
	if (s == NULL)
		return;
	g_mutex_lock(&s->mutex);
	bc_channel *ch = s->role == BC_ROLE_VIEWER ? s->channel : NULL;
	if (ch)
		cardea_refcount_ref(&ch->ref);
	g_mutex_unlock(&s->mutex);
	if (ch) {
		bc_request_keyframe(ch);
		bc_channel_unref(ch);
	}
}

static void bc_hangup_media(cardea_plugin_session *app) {
	bc_session *s = session_lookup(app);
	if (s == NULL)
		return;
	g_atomic_int_set(&s->media_up, 0);
	g_mutex_lock(&s->mutex);
	bc_role role = s->role;
	g_mutex_unlock(&s->mutex);
	/* A viewer's or presenter's PeerConnection is its membership: it leaves. */
	if (role != BC_ROLE_NONE) {
		bc_channel *ch = session_leave(s, FALSE);
		if (ch) {
			json_t *ev = json_pack("{s:s, s:s, s:s}", "broadcast", "event", "channel", ch->name, "result", "left");
			bc_push(app, NULL, ev, NULL);
			json_decref(ev);
			bc_channel_unref(ch);
		}
	}
	bc_session_unref(s);
}

static void bc_destroy_session(cardea_plugin_session *app, int *error) {
	g_mutex_lock(&sessions_mutex);
	bc_session *s = sessions ? g_hash_table_lookup(sessions, app) : NULL;
	if (s)
		g_hash_table_steal(sessions, app);
	g_mutex_unlock(&sessions_mutex);
	if (s == NULL) {
		*error = -1;
		return;
	}
	g_atomic_int_set(&s->destroyed, 1);
	g_atomic_int_set(&s->media_up, 0);
	bc_channel_unref(session_leave(s, FALSE));
	app->plugin_handle = NULL;
	bc_session_unref(s);
}

static json_t *bc_query_session(cardea_plugin_session *app) {
	bc_session *s = session_lookup(app);
	if (s == NULL)
		return NULL;
	g_mutex_lock(&s->mutex);
	bc_role role = s->role;
	json_t *info = json_pack("{s:s, s:s?}", "role",
		role == BC_ROLE_PRESENTER ? "presenter" : role == BC_ROLE_VIEWER ? "viewer" : "none",
		"channel", s->channel ? s->channel->name : NULL);
	g_mutex_unlock(&s->mutex);
	g_mutex_lock(&s->fwd_mutex);
	json_object_set_new(info, "relayed", json_integer((json_int_t)s->relayed));
	json_object_set_new(info, "substream", json_integer(s->sel.substream));
	if (role == BC_ROLE_VIEWER)
		json_object_set_new(info, "substream_chosen", json_integer(s->policy.layer));
	g_mutex_unlock(&s->fwd_mutex);
	if (role == BC_ROLE_VIEWER) {
		gint st = g_atomic_int_get(&s->substream_target);
		json_object_set_new(info, "substream_auto", json_boolean(st < 0));
		json_object_set_new(info, "substream_target", json_integer(st));
		json_object_set_new(info, "estimate_bps", json_integer(g_atomic_int_get(&s->estimate_bps)));
	} else if (role == BC_ROLE_PRESENTER) {
		json_object_set_new(info, "layer_bitrates", bc_layer_rates_json(s));
	}
	json_object_set_new(info, "media_up", json_boolean(g_atomic_int_get(&s->media_up)));
	bc_session_unref(s);
	return info;
}

static json_t *bc_query_metrics(void) {
	GPtrArray *all = bc_channels_all();
	int viewers = 0, presenters = 0;
	for (guint i = 0; i < all->len; i++) {
		bc_channel *ch = all->pdata[i];
		g_mutex_lock(&ch->mutex);
		viewers += (int)g_hash_table_size(ch->viewers);
		presenters += ch->presenter != NULL;
		g_mutex_unlock(&ch->mutex);
	}
	json_t *m = json_pack("{s:i, s:i, s:i}", "channels", (int)all->len, "presenters", presenters, "viewers", viewers);
	g_ptr_array_unref(all);
	return m;
}

cardea_plugin bc_plugin = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_PLUGIN, cardea_plugin),
		.package = BC_PACKAGE,
		.name = "broadcast",
		.description = "One presenter, many viewers per channel (screen sharing, WHIP/WHEP)",
		.author = "Cardea",
		.version_string = "0.1.0",
		.version = 1,
	},
	.init = bc_init,
	.destroy = bc_destroy,
	.create_session = bc_create_session,
	.handle_message = bc_handle_message,
	.handle_admin_message = bc_handle_admin_message,
	.hangup_media = bc_hangup_media,
	.destroy_session = bc_destroy_session,
	.query_session = bc_query_session,
	.setup_media = bc_setup_media,
	.incoming_rtp = bc_media_incoming_rtp,
	.incoming_keyframe_request = bc_incoming_keyframe_request,
	.query_metrics = bc_query_metrics,
	.incoming_bitrate_estimate = bc_media_estimate,
};

CARDEA_MODULE_DEFINE(bc_plugin)
