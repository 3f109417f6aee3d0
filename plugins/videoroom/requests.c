/* VideoRoom synchronous requests: answered on the core request thread that
 * delivered them (also reachable through Admin API message_plugin). A
 * name -> handler table replaces Janus's string-compare chain. */
#include <string.h>
#include "cardea/security.h"
#include "videoroom.h"

vr_room *vr_room_from(json_t *body, vr_reply *r) {
	if (json_object_get(body, "room") == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (room)");
		return NULL;
	}
	char *id = vr_id_get(body, "room", r);
	if (id == NULL)
		return NULL;
	vr_room *room = vr_room_lookup(id);
	if (room == NULL)
		vr_reply_error(r, VR_ERR_NO_SUCH_ROOM, "No such room (%s)", id);
	g_free(id);
	return room;
}

/* Compares a secret-like member against `expected` (NULL: nothing needed). */
static gboolean check_key(json_t *body, const char *key, const char *expected, vr_reply *r) {
	if (expected == NULL)
		return TRUE;
	json_t *v = json_object_get(body, key);
	if (v == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (%s)", key);
		return FALSE;
	}
	if (!json_is_string(v)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (%s should be a string)", key);
		return FALSE;
	}
	if (!cardea_secret_equal(json_string_value(v), expected)) {
		vr_reply_error(r, VR_ERR_UNAUTHORIZED, "Unauthorized (wrong %s)", key);
		return FALSE;
	}
	return TRUE;
}

gboolean vr_check_secret(vr_room *room, json_t *body, vr_reply *r) {
	g_mutex_lock(&room->mutex);
	char *secret = g_strdup(room->props.secret);
	g_mutex_unlock(&room->mutex);
	gboolean ok = check_key(body, "secret", secret, r);
	g_free(secret);
	return ok;
}

gboolean vr_check_pin(vr_room *room, json_t *body, vr_reply *r) {
	g_mutex_lock(&room->mutex);
	char *pin = g_strdup(room->props.pin);
	g_mutex_unlock(&room->mutex);
	gboolean ok = check_key(body, "pin", pin, r);
	g_free(pin);
	return ok;
}

static gboolean get_bool(json_t *body, const char *key, gboolean def, gboolean *out, vr_reply *r) {
	json_t *v = json_object_get(body, key);
	*out = def;
	if (v == NULL)
		return TRUE;
	if (!json_is_boolean(v)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (%s should be a boolean)", key);
		return FALSE;
	}
	*out = json_is_true(v);
	return TRUE;
}

json_t *vr_auth(cardea_plugin_session *app, const char *action, json_t *target, vr_reply *r) {
	if (app == NULL) {
		json_decref(target);
		return json_pack("{s:b}", "allow", 1);
	}
	gboolean on_queue = FALSE;
	json_t *d = vr_queue_auth(app, action, target, &on_queue);
	if (on_queue && d == NULL) {
		r->parked = TRUE;
		json_decref(target);
		return NULL;
	}
	if (!on_queue)
		d = cardea_plugin_auth_wait(vr_core, app, action, target, VR_AUTH_TIMEOUT);
	json_t *room = json_object_get(target, "room");
	const char *why = NULL;
	if (d == NULL)
		why = "auth timeout";
	else if (!cardea_auth_allowed(d))
		why = json_string_value(json_object_get(d, "reason")) ? json_string_value(json_object_get(d, "reason")) : "denied";
	else if (room && !cardea_auth_room_allowed(d, room))
		why = "room not allowed";
	if (why) {
		vr_reply_error(r, VR_ERR_UNAUTHORIZED, "Unauthorized request (%s)", why);
		CARDEA_LOG(CARDEA_LOG_INFO, "[videoroom] %s refused (handle %p): %s", action, (void *)app, why);
		json_decref(d);
		d = NULL;
	}
	json_decref(target);
	return d;
}

/* ---- auth hooks: one per guarded action. The plugin's own admin_key /
 * room secret rules first, then the auth module (docs/auth.md). ---- */

/* The decision's permission `perm` (when not NULL) must not be false. */
static gboolean auth_ask(vr_reply *r, const char *action, json_t *target, const char *perm) {
	json_t *d = vr_auth(r->app, action, target, r);
	if (d == NULL)
		return FALSE;
	gboolean ok = perm == NULL || cardea_auth_permission(d, perm, true);
	if (!ok)
		vr_reply_error(r, VR_ERR_UNAUTHORIZED, "Unauthorized request (no %s permission)", perm);
	json_decref(d);
	return ok;
}

static gboolean auth_create(json_t *body, vr_reply *r) {
	if (!check_key(body, "admin_key", vr_admin_key, r))
		return FALSE;
	json_t *room = json_object_get(body, "room");
	json_t *d = vr_auth(r->app, "videoroom.create", room ? json_pack("{s:O}", "room", room) : json_object(), r);
	if (d == NULL)
		return FALSE;
	/* A rooms list restricts the ids: a random one cannot be in it. */
	gboolean ok = room != NULL || !json_is_array(json_object_get(json_object_get(d, "permissions"), "rooms"));
	if (!ok)
		vr_reply_error(r, VR_ERR_UNAUTHORIZED, "Unauthorized request (room not allowed)");
	json_decref(d);
	return ok;
}

static json_t *admin_target(vr_room *room, json_t *body) {
	json_t *t = json_pack("{s:o}", "room", vr_id_json(room->id));
	json_t *peer = json_object_get(body, "id");
	if (peer)
		json_object_set(t, "peer", peer);
	return t;
}

static gboolean auth_destroy(vr_room *room, json_t *body, vr_reply *r) {
	return vr_check_secret(room, body, r) && auth_ask(r, "videoroom.destroy", admin_target(room, body), NULL);
}

static gboolean auth_kick(vr_room *room, json_t *body, vr_reply *r) {
	return vr_check_secret(room, body, r) && auth_ask(r, "videoroom.kick", admin_target(room, body), "moderate");
}

static gboolean auth_moderate(vr_room *room, json_t *body, vr_reply *r) {
	return vr_check_secret(room, body, r) && auth_ask(r, "videoroom.moderate", admin_target(room, body), "moderate");
}

static void save_or_log(const char *what, const char *room) {
	GError *error = NULL;
	if (!vr_rooms_save(&error)) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[videoroom] room %s %s, but the config file was not updated: %s", room, what,
			error ? error->message : "?");
		g_clear_error(&error);
	}
}

static gboolean allowed_list(json_t *list, vr_reply *r) {
	if (!json_is_array(list)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (allowed should be an array)");
		return FALSE;
	}
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		if (!json_is_string(v)) {
			vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (allowed should be an array of strings)");
			return FALSE;
		}
	}
	return TRUE;
}

static void req_create(json_t *body, vr_reply *r) {
	if (!auth_create(body, r))
		return;
	gboolean permanent;
	json_t *allowed = json_object_get(body, "allowed");
	if (!get_bool(body, "permanent", FALSE, &permanent, r) || (allowed && !allowed_list(allowed, r)))
		return;
	char *id = NULL;
	if (json_object_get(body, "room")) {
		id = vr_id_get(body, "room", r);
		if (id == NULL)
			return;
	} else {
		id = vr_room_random_id();
	}
	vr_props props;
	vr_props_init(&props);
	vr_prop_error perr = { 0 };
	if (!vr_props_from_json(&props, body, NULL, &perr)) {
		vr_reply_error(r, perr.code, "%s", perr.text);
		g_free(perr.text);
		vr_props_clear(&props);
		g_free(id);
		return;
	}
	vr_room *room = vr_room_new(id, &props);
	vr_props_clear(&props);
	room->permanent = permanent && vr_config_path != NULL;
	if (allowed) {
		room->check_allowed = TRUE;
		room->allowed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		size_t i;
		json_t *v;
		json_array_foreach(allowed, i, v)
			g_hash_table_add(room->allowed, g_strdup(json_string_value(v)));
	}
	if (vr_room_add(room) != 0) {
		vr_reply_error(r, VR_ERR_ROOM_EXISTS, "Room %s already exists", id);
		vr_room_unref(room);
		g_free(id);
		return;
	}
	CARDEA_LOG(CARDEA_LOG_INFO, "[videoroom] room %s created%s", id, permanent ? " (permanent)" : "");
	vr_notify(r->app, "created", id, NULL, json_pack("{s:b}", "permanent", permanent));
	if (room->permanent)
		save_or_log("created", id);
	r->data = json_pack("{s:s, s:o, s:b}", "videoroom", "created", "room", vr_id_json(id), "permanent", permanent);
	g_free(id);
}

static void req_edit(json_t *body, vr_reply *r) {
	vr_room *room = vr_room_from(body, r);
	if (room == NULL)
		return;
	gboolean permanent;
	if (!vr_check_secret(room, body, r) || !get_bool(body, "permanent", FALSE, &permanent, r)) {
		vr_room_unref(room);
		return;
	}
	vr_props props;
	g_mutex_lock(&room->mutex);
	vr_props_copy(&props, &room->props);
	g_mutex_unlock(&room->mutex);
	vr_prop_error perr = { 0 };
	if (!vr_props_from_json(&props, body, "new_", &perr)) {
		vr_reply_error(r, perr.code, "%s", perr.text);
		g_free(perr.text);
		vr_props_clear(&props);
		vr_room_unref(room);
		return;
	}
	g_mutex_lock(&room->mutex);
	gboolean was_recording = room->props.record;
	vr_props_clear(&room->props);
	room->props = props;
	g_mutex_unlock(&room->mutex);
	/* new_record (a Cardea extra) acts like enable_recording; new_rec_dir
	 * applies to recordings started from now on. */
	if (json_object_get(body, "new_record") && props.record != was_recording)
		vr_room_set_recording(room, props.record);
	if (permanent && room->permanent)
		save_or_log("edited", room->id);
	r->data = json_pack("{s:s, s:o, s:b}", "videoroom", "edited", "room", vr_id_json(room->id), "permanent", permanent);
	vr_room_unref(room);
}

/* Removes every participant and subscriber, telling each. */
static void room_empty(vr_room *room) {
	json_t *ev = json_pack("{s:s, s:o}", "videoroom", "destroyed", "room", vr_id_json(room->id));
	GPtrArray *apps = vr_room_apps(room, NULL, TRUE);
	vr_apps_push(apps, ev);
	json_decref(ev);
	for (guint i = 0; i < apps->len; i++)
		vr_core->close_pc(apps->pdata[i]);
	vr_apps_free(apps);
	/* Drop the room's refs; each handle's own state notices `destroyed`. */
	g_mutex_lock(&room->mutex);
	GHashTable *parts = room->participants, *subs = room->subscribers;
	room->participants = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)vr_publisher_unref);
	room->subscribers = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)vr_subscriber_unref);
	GList *pl = g_hash_table_get_values(parts);
	for (GList *l = pl; l; l = l->next) {
		vr_publisher *p = l->data;
		g_mutex_lock(&p->mutex);
		p->joined = FALSE;
		g_mutex_unlock(&p->mutex);
	}
	g_list_free(pl);
	g_mutex_unlock(&room->mutex);
	g_hash_table_destroy(parts);
	g_hash_table_destroy(subs);
}

static void req_destroy(json_t *body, vr_reply *r) {
	vr_room *room = vr_room_from(body, r);
	if (room == NULL)
		return;
	gboolean permanent;
	if (!auth_destroy(room, body, r) || !get_bool(body, "permanent", FALSE, &permanent, r)) {
		vr_room_unref(room);
		return;
	}
	if (!vr_room_remove(room)) {
		vr_reply_error(r, VR_ERR_NO_SUCH_ROOM, "No such room (%s)", room->id);
		vr_room_unref(room);
		return;
	}
	room_empty(room);
	if (permanent && room->permanent)
		save_or_log("destroyed", room->id);
	CARDEA_LOG(CARDEA_LOG_INFO, "[videoroom] room %s destroyed", room->id);
	vr_notify(r->app, "destroyed", room->id, NULL, NULL);
	r->data = json_pack("{s:s, s:o, s:b}", "videoroom", "destroyed", "room", vr_id_json(room->id), "permanent", permanent);
	vr_room_unref(room);
}

static void req_exists(json_t *body, vr_reply *r) {
	if (json_object_get(body, "room") == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (room)");
		return;
	}
	char *id = vr_id_get(body, "room", r);
	if (id == NULL)
		return;
	vr_room *room = vr_room_lookup(id);
	r->data = json_pack("{s:s, s:o, s:b}", "videoroom", "success", "room", vr_id_json(id), "exists", room != NULL);
	vr_room_unref(room);
	g_free(id);
}

static void req_list(json_t *body, vr_reply *r) {
	gboolean admin = vr_admin_key && g_strcmp0(json_string_value(json_object_get(body, "admin_key")), vr_admin_key) == 0;
	json_t *list = json_array();
	GPtrArray *all = vr_rooms_all();
	for (guint i = 0; i < all->len; i++) {
		vr_room *room = all->pdata[i];
		g_mutex_lock(&room->mutex);
		if (!room->props.is_private || admin) {
			json_t *o = json_object();
			json_object_set_new(o, "room", vr_id_json(room->id));
			vr_props_to_json(&room->props, o);
			json_object_set_new(o, "num_participants", json_integer(g_hash_table_size(room->participants)));
			json_array_append_new(list, o);
		}
		g_mutex_unlock(&room->mutex);
	}
	g_ptr_array_unref(all);
	r->data = json_pack("{s:s, s:o}", "videoroom", "success", "list", list);
}

static json_t *allowed_json(vr_room *room) {
	json_t *a = json_array();
	if (room->allowed) {
		GHashTableIter it;
		gpointer k;
		g_hash_table_iter_init(&it, room->allowed);
		while (g_hash_table_iter_next(&it, &k, NULL))
			json_array_append_new(a, json_string(k));
	}
	return a;
}

static void req_allowed(json_t *body, vr_reply *r) {
	vr_room *room = vr_room_from(body, r);
	if (room == NULL)
		return;
	if (!vr_check_secret(room, body, r))
		goto out;
	json_t *action = json_object_get(body, "action"), *list = json_object_get(body, "allowed");
	const char *a = json_string_value(action);
	if (action == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (action)");
		goto out;
	}
	if (a == NULL || (strcmp(a, "enable") && strcmp(a, "disable") && strcmp(a, "add") && strcmp(a, "remove"))) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Unsupported action '%s' (allowed)", a ? a : "");
		goto out;
	}
	gboolean edit = strcmp(a, "add") == 0 || strcmp(a, "remove") == 0;
	if (edit && list == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (allowed)");
		goto out;
	}
	if (list && !allowed_list(list, r))
		goto out;
	/* As Janus: enable/disable switch the check, add/remove edit the list. */
	g_mutex_lock(&room->mutex);
	if (strcmp(a, "enable") == 0)
		room->check_allowed = TRUE;
	if (strcmp(a, "disable") == 0) {
		room->check_allowed = FALSE;
	} else {
		if (room->allowed == NULL)
			room->allowed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		size_t i;
		json_t *v;
		if (list) {
			json_array_foreach(list, i, v) {
				if (strcmp(a, "remove") == 0)
					g_hash_table_remove(room->allowed, json_string_value(v));
				else
					g_hash_table_add(room->allowed, g_strdup(json_string_value(v)));
			}
		}
	}
	r->data = json_pack("{s:s, s:o}", "videoroom", "success", "room", vr_id_json(room->id));
	if (strcmp(a, "disable") != 0)
		json_object_set_new(r->data, "allowed", allowed_json(room));
	g_mutex_unlock(&room->mutex);
out:
	vr_room_unref(room);
}

/* The participant `id` names, or NULL with 429/430/428. */
static vr_publisher *participant_from(vr_room *room, json_t *body, const char *key, vr_reply *r) {
	if (json_object_get(body, key) == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (%s)", key);
		return NULL;
	}
	char *id = vr_id_get(body, key, r);
	if (id == NULL)
		return NULL;
	vr_publisher *p = vr_publisher_lookup(room, id);
	if (p == NULL)
		vr_reply_error(r, VR_ERR_NO_SUCH_FEED, "No such user %s in room %s", id, room->id);
	g_free(id);
	return p;
}

static void req_kick(json_t *body, vr_reply *r) {
	vr_room *room = vr_room_from(body, r);
	if (room == NULL)
		return;
	vr_publisher *p = NULL;
	if (auth_kick(room, body, r) && (p = participant_from(room, body, "id", r)) != NULL) {
		vr_publisher_leave(p, "kicked", TRUE);
		vr_core->close_pc(p->app);
		r->data = json_pack("{s:s}", "videoroom", "success");
		vr_publisher_unref(p);
	}
	vr_room_unref(room);
}

static void req_moderate(json_t *body, vr_reply *r) {
	vr_room *room = vr_room_from(body, r);
	if (room == NULL)
		return;
	vr_publisher *p = NULL;
	if (!auth_moderate(room, body, r) || (p = participant_from(room, body, "id", r)) == NULL)
		goto out;
	json_t *mid = json_object_get(body, "mid"), *mute = json_object_get(body, "mute");
	if (mid == NULL || mute == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (%s)", mid ? "mute" : "mid");
		goto out;
	}
	if (!json_is_string(mid) || !json_is_boolean(mute)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (%s)",
			json_is_string(mid) ? "mute should be a boolean" : "mid should be a string");
		goto out;
	}
	int found = -1;
	g_mutex_lock(&p->mutex);
	for (int i = 0; i < p->n_streams; i++)
		if (strcmp(p->streams[i].mid, json_string_value(mid)) == 0) {
			found = i;
			g_atomic_int_set(&p->streams[i].muted, json_is_true(mute));
		}
	g_mutex_unlock(&p->mutex);
	if (found < 0) {
		vr_reply_error(r, VR_ERR_NO_SUCH_FEED, "No such mid %s for user %s", json_string_value(mid), p->id);
		goto out;
	}
	/* Everyone (the moderated one too) hears about it, as in Janus. */
	json_t *ev = json_pack("{s:s, s:o, s:o, s:s, s:s}", "videoroom", "event", "room", vr_id_json(room->id),
		"id", vr_id_json(p->id), "mid", json_string_value(mid), "moderation", json_is_true(mute) ? "muted" : "unmuted");
	GPtrArray *apps = vr_room_apps(room, NULL, FALSE);
	vr_apps_push(apps, ev);
	vr_apps_free(apps);
	json_decref(ev);
	if (!json_is_true(mute))
		vr_publisher_keyframe(p, found, TRUE);
	r->data = json_pack("{s:s}", "videoroom", "success");
out:
	if (p)
		vr_publisher_unref(p);
	vr_room_unref(room);
}

static void req_listparticipants(json_t *body, vr_reply *r) {
	vr_room *room = vr_room_from(body, r);
	if (room == NULL)
		return;
	GPtrArray *parts = vr_room_participants(room, NULL);
	json_t *list = json_array();
	for (guint i = 0; i < parts->len; i++) {
		vr_publisher *p = parts->pdata[i];
		json_t *o = json_pack("{s:o, s:b}", "id", vr_id_json(p->id), "publisher", g_atomic_int_get(&p->publishing));
		vr_publisher_set_display(p, o, "display");
		if (g_atomic_int_get(&p->publishing))
			json_object_set_new(o, "talking", json_boolean(g_atomic_int_get(&p->talking)));
		if (vr_recording_active(p))
			json_object_set_new(o, "recording", json_true());   /* Cardea extra: only while recording */
		json_array_append_new(list, o);
	}
	g_ptr_array_unref(parts);
	r->data = json_pack("{s:s, s:o, s:o}", "videoroom", "participants", "room", vr_id_json(room->id),
		"participants", list);
	vr_room_unref(room);
}

static void req_enable_recording(json_t *body, vr_reply *r) {
	vr_room *room = vr_room_from(body, r);
	if (room == NULL)
		return;
	json_t *rec = json_object_get(body, "record");
	if (!vr_check_secret(room, body, r)) {
	} else if (rec == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (record)");
	} else if (!json_is_boolean(rec)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (record should be a boolean)");
	} else {
		vr_room_set_recording(room, json_is_true(rec));
		r->data = json_pack("{s:s, s:b}", "videoroom", "success", "record", json_is_true(rec));
	}
	vr_room_unref(room);
}

static const struct {
	const char *name;
	vr_sync_fn fn;
} sync_requests[] = {
	{ "create", req_create },
	{ "edit", req_edit },
	{ "destroy", req_destroy },
	{ "exists", req_exists },
	{ "list", req_list },
	{ "allowed", req_allowed },
	{ "kick", req_kick },
	{ "moderate", req_moderate },
	{ "listparticipants", req_listparticipants },
	{ "listforwarders", vr_list_forwarders },
	{ "rtp_forward", vr_rtp_forward },
	{ "stop_rtp_forward", vr_stop_rtp_forward },
	{ "enable_recording", req_enable_recording },
};

vr_sync_fn vr_sync_lookup(const char *request) {
	for (size_t i = 0; i < G_N_ELEMENTS(sync_requests); i++)
		if (strcmp(sync_requests[i].name, request) == 0)
			return sync_requests[i].fn;
	return NULL;
}
