/* VideoRoom room registry: rooms from cardea.plugin.videoroom.jcfg and those
 * created at run time, and writing the permanent ones back.
 *
 * The registry is a hash table id -> vr_room* (the table's ref) under
 * rooms_lock. Lookups return a ref, so a room destroyed while a request
 * works on it stays valid until that request lets go (it is then only
 * marked `destroyed`).
 */
#include <string.h>
#include "videoroom.h"

static GMutex rooms_lock;
static GHashTable *rooms;           /* id -> vr_room* (ref) */
static GMutex save_lock;            /* one writer of the config file at a time */
static char *general_text;          /* the config's general section, written back verbatim */

static void room_free(const cardea_refcount *ref) {
	vr_room *room = cardea_container_of(ref, vr_room, ref);
	vr_props_clear(&room->props);
	if (room->allowed)
		g_hash_table_destroy(room->allowed);
	g_hash_table_destroy(room->participants);
	g_hash_table_destroy(room->subscribers);
	g_mutex_clear(&room->mutex);
	g_free(room->id);
	g_free(room);
}

void vr_room_unref(vr_room *room) {
	if (room)
		cardea_refcount_unref(&room->ref);
}

vr_room *vr_room_new(const char *id, const vr_props *props) {
	vr_room *room = g_new0(vr_room, 1);
	room->id = g_strdup(id);
	vr_props_copy(&room->props, props);
	if (room->props.description == NULL)
		room->props.description = g_strdup_printf("Room %s", id);   /* Janus's default */
	g_mutex_init(&room->mutex);
	room->participants = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)vr_publisher_unref);
	room->subscribers = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)vr_subscriber_unref);
	cardea_refcount_init(&room->ref, room_free);
	return room;
}

vr_room *vr_room_lookup(const char *id) {
	if (id == NULL)
		return NULL;
	g_mutex_lock(&rooms_lock);
	vr_room *room = rooms ? g_hash_table_lookup(rooms, id) : NULL;
	if (room)
		cardea_refcount_ref(&room->ref);
	g_mutex_unlock(&rooms_lock);
	return room;
}

int vr_room_add(vr_room *room) {
	int rc = 0;
	g_mutex_lock(&rooms_lock);
	if (rooms == NULL || g_hash_table_contains(rooms, room->id))
		rc = VR_ERR_ROOM_EXISTS;
	else
		g_hash_table_insert(rooms, room->id, room);
	g_mutex_unlock(&rooms_lock);
	return rc;
}

gboolean vr_room_remove(vr_room *room) {
	g_mutex_lock(&rooms_lock);
	gboolean ok = rooms && g_hash_table_lookup(rooms, room->id) == room;
	if (ok) {
		g_atomic_int_set(&room->destroyed, 1);
		g_hash_table_steal(rooms, room->id);
	}
	g_mutex_unlock(&rooms_lock);
	if (ok)
		vr_room_unref(room);    /* the table's ref; the caller still holds its own */
	return ok;
}

GPtrArray *vr_rooms_all(void) {
	GPtrArray *all = g_ptr_array_new_with_free_func((GDestroyNotify)vr_room_unref);
	g_mutex_lock(&rooms_lock);
	if (rooms) {
		GHashTableIter it;
		gpointer v;
		g_hash_table_iter_init(&it, rooms);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			cardea_refcount_ref(&((vr_room *)v)->ref);
			g_ptr_array_add(all, v);
		}
	}
	g_mutex_unlock(&rooms_lock);
	return all;
}

char *vr_room_random_id(void) {
	for (;;) {
		char *id = vr_string_ids ? g_uuid_string_random()
			: g_strdup_printf("%" G_GUINT64_FORMAT, ((guint64)g_random_int() << 21 | g_random_int_range(0, 1 << 21)) + 1);
		vr_room *r = vr_room_lookup(id);
		if (r == NULL)
			return id;
		vr_room_unref(r);
		g_free(id);
	}
}

GPtrArray *vr_room_apps(vr_room *room, vr_publisher *skip, gboolean subscribers_too) {
	GPtrArray *apps = g_ptr_array_new();
	g_mutex_lock(&room->mutex);
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, room->participants);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		vr_publisher *p = v;
		if (p == skip)
			continue;
		cardea_plugin_session_ref(p->app);
		g_ptr_array_add(apps, p->app);
	}
	if (subscribers_too) {
		g_hash_table_iter_init(&it, room->subscribers);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			vr_subscriber *s = v;
			cardea_plugin_session_ref(s->app);
			g_ptr_array_add(apps, s->app);
		}
	}
	g_mutex_unlock(&room->mutex);
	return apps;
}

GPtrArray *vr_room_participants(vr_room *room, vr_publisher *skip) {
	GPtrArray *parts = g_ptr_array_new_with_free_func((GDestroyNotify)vr_publisher_unref);
	g_mutex_lock(&room->mutex);
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, room->participants);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		if (v == skip)
			continue;
		cardea_refcount_ref(&((vr_publisher *)v)->ref);
		g_ptr_array_add(parts, v);
	}
	g_mutex_unlock(&room->mutex);
	return parts;
}

void vr_apps_push(GPtrArray *apps, json_t *data) {
	for (guint i = 0; i < apps->len; i++)
		vr_push(apps->pdata[i], NULL, data, NULL);
}

void vr_apps_free(GPtrArray *apps) {
	for (guint i = 0; i < apps->len; i++)
		cardea_plugin_session_unref(apps->pdata[i]);
	g_ptr_array_free(apps, TRUE);
}

/* ---- config file ---- */

static const char *const general_keys[] = { "admin_key", "lock_rtp_forward", "events", "string_ids", "publishers",
	NULL };

static gboolean load_room(const cardea_config *cfg, const char *section, GError **error) {
	const char *id = section + strlen("room-");
	if (*id == '\0' || (!vr_string_ids && strspn(id, "0123456789") != strlen(id))) {
		cardea_config_set_value_error(error, cfg, section, NULL, "is not a valid room id");
		return FALSE;
	}
	vr_props props;
	vr_props_init(&props);
	char **allowed = NULL;
	if (!vr_props_from_config(&props, cfg, section, error) ||
			!cardea_config_get_list(cfg, section, "allowed", &allowed, error)) {
		vr_props_clear(&props);
		return FALSE;
	}
	vr_room *room = vr_room_new(id, &props);
	vr_props_clear(&props);
	room->permanent = TRUE;
	if (allowed && allowed[0]) {
		room->check_allowed = TRUE;
		room->allowed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		for (int i = 0; allowed[i]; i++)
			g_hash_table_add(room->allowed, g_strdup(allowed[i]));
	}
	g_strfreev(allowed);
	if (vr_room_add(room) != 0) {
		cardea_config_set_value_error(error, cfg, section, NULL, "defines room %s twice", id);
		vr_room_unref(room);
		return FALSE;
	}
	CARDEA_LOG(CARDEA_LOG_VERB, "[videoroom] room %s from the config file", id);
	return TRUE;
}

int vr_rooms_init(const char *config_path, GError **error) {
	rooms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)vr_room_unref);
	if (config_path == NULL || !g_file_test(config_path, G_FILE_TEST_EXISTS))
		return 0;
	cardea_config *cfg = cardea_config_load(config_path, error);
	if (cfg == NULL)
		return -1;
	int rc = 0;
	gboolean b;
	if (!cardea_config_get_bool(cfg, "general", "string_ids", FALSE, &b, error))
		rc = -1;
	vr_string_ids = b;
	if (rc == 0 && !cardea_config_get_string(cfg, "general", "admin_key", NULL, &vr_admin_key, error))
		rc = -1;
	if (rc == 0 && !cardea_config_get_bool(cfg, "general", "lock_rtp_forward", FALSE, &b, error))
		rc = -1;
	vr_lock_rtp_forward = b;
	if (rc == 0)
		cardea_config_warn_unknown(cfg, "general", general_keys);
	/* Keep the general section as the admin wrote it for vr_rooms_save. */
	GString *g = g_string_new("general: {\n");
	gchar **keys = cardea_config_list_keys(cfg, "general");
	for (int i = 0; rc == 0 && keys && keys[i]; i++) {
		char *v = NULL;
		if (cardea_config_get_string(cfg, "general", keys[i], NULL, &v, NULL) && v) {
			gboolean quote = !(g_ascii_strcasecmp(v, "true") == 0 || g_ascii_strcasecmp(v, "false") == 0 ||
				strspn(v, "0123456789") == strlen(v));
			g_string_append_printf(g, quote ? "\t%s = \"%s\"\n" : "\t%s = %s\n", keys[i], v);
		}
		g_free(v);
	}
	g_strfreev(keys);
	g_string_append(g, "}\n");
	general_text = g_string_free(g, FALSE);
	gchar **sections = cardea_config_list_sections(cfg);
	for (int i = 0; rc == 0 && sections && sections[i]; i++) {
		if (g_str_has_prefix(sections[i], "room-") && !load_room(cfg, sections[i], error))
			rc = -1;
	}
	g_strfreev(sections);
	cardea_config_free(cfg);
	return rc;
}

void vr_rooms_deinit(void) {
	g_mutex_lock(&rooms_lock);
	GHashTable *t = rooms;
	rooms = NULL;
	g_mutex_unlock(&rooms_lock);
	if (t)
		g_hash_table_destroy(t);
	g_clear_pointer(&general_text, g_free);
}

static gint room_cmp(gconstpointer a, gconstpointer b) {
	const vr_room *x = *(vr_room *const *)a, *y = *(vr_room *const *)b;
	return g_strcmp0(x->id, y->id);
}

gboolean vr_rooms_save(GError **error) {
	if (vr_config_path == NULL) {
		g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_IO, "no config file path");
		return FALSE;
	}
	g_mutex_lock(&save_lock);
	GPtrArray *all = vr_rooms_all();
	g_ptr_array_sort(all, room_cmp);
	GString *out = g_string_new("# Written by the videoroom plugin (permanent rooms); edits are kept.\n");
	g_string_append(out, general_text ? general_text : "general: {\n}\n");
	for (guint i = 0; i < all->len; i++) {
		vr_room *room = all->pdata[i];
		g_mutex_lock(&room->mutex);
		if (room->permanent && !g_atomic_int_get(&room->destroyed)) {
			char *allowed = NULL;
			if (room->check_allowed && room->allowed && g_hash_table_size(room->allowed) > 0) {
				GList *keys = g_hash_table_get_keys(room->allowed);
				GString *a = g_string_new(NULL);
				for (GList *k = keys; k; k = k->next)
					g_string_append_printf(a, "%s%s", a->len ? "," : "", (char *)k->data);
				g_list_free(keys);
				allowed = g_string_free(a, FALSE);
			}
			vr_props_write(&room->props, room->id, allowed, out);
			g_free(allowed);
		}
		g_mutex_unlock(&room->mutex);
	}
	g_ptr_array_unref(all);
	gboolean ok = cardea_config_write_file(vr_config_path, out->str, error);
	g_string_free(out, TRUE);
	g_mutex_unlock(&save_lock);
	return ok;
}
