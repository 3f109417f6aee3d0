/* Broadcast channel registry: channels from cardea.plugin.broadcast.jcfg
 * (one section per channel, "general" excepted) and those created at run
 * time. The table (name -> bc_channel*, the table's ref) lives under
 * channels_lock; lookups return a ref, so a channel destroyed while a
 * request works on it stays valid until that request lets go.
 */
#include <string.h>
#include "broadcast.h"

static GMutex channels_lock;
static GHashTable *channels;        /* name -> bc_channel* (ref) */

void bc_props_clear(bc_props *p) {
	g_free(p->description);
	g_free(p->secret);
	g_free(p->pin);
	g_free(p->token);
	g_free(p->video_codec);
	g_free(p->audio_codec);
	memset(p, 0, sizeof(*p));
}

void bc_snap_unref(bc_snap *snap) {
	if (snap)
		cardea_refcount_unref(&snap->ref);
}

static void snap_free(const cardea_refcount *ref) {
	bc_snap *snap = cardea_container_of(ref, bc_snap, ref);
	for (guint i = 0; i < snap->n; i++)
		bc_session_unref(snap->v[i]);
	g_free(snap);
}

static void channel_free(const cardea_refcount *ref) {
	bc_channel *ch = cardea_container_of(ref, bc_channel, ref);
	bc_props_clear(&ch->props);
	g_hash_table_destroy(ch->viewers);
	bc_snap_unref(ch->snap);
	if (ch->presenter)
		bc_session_unref(ch->presenter);
	g_mutex_clear(&ch->mutex);
	g_free(ch->name);
	g_free(ch);
}

void bc_channel_unref(bc_channel *ch) {
	if (ch)
		cardea_refcount_unref(&ch->ref);
}

bc_channel *bc_channel_new(const char *name, const bc_props *props) {
	bc_channel *ch = g_new0(bc_channel, 1);
	ch->name = g_strdup(name);
	ch->props.description = g_strdup(props->description ? props->description : name);
	ch->props.secret = g_strdup(props->secret);
	ch->props.pin = g_strdup(props->pin);
	ch->props.token = g_strdup(props->token);
	ch->props.is_private = props->is_private;
	ch->props.takeover = props->takeover;
	ch->props.video_codec = g_ascii_strdown(props->video_codec ? props->video_codec : "vp8", -1);
	ch->props.audio_codec = g_ascii_strdown(props->audio_codec ? props->audio_codec : "opus", -1);
	g_mutex_init(&ch->mutex);
	ch->viewers = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)bc_session_unref);
	cardea_refcount_init(&ch->ref, channel_free);
	return ch;
}

bc_channel *bc_channel_lookup(const char *name) {
	if (name == NULL)
		return NULL;
	g_mutex_lock(&channels_lock);
	bc_channel *ch = channels ? g_hash_table_lookup(channels, name) : NULL;
	if (ch)
		cardea_refcount_ref(&ch->ref);
	g_mutex_unlock(&channels_lock);
	return ch;
}

int bc_channel_add(bc_channel *ch) {
	int rc = 0;
	g_mutex_lock(&channels_lock);
	if (channels == NULL || g_hash_table_contains(channels, ch->name)) {
		rc = BC_ERR_CHANNEL_EXISTS;
	} else {
		cardea_refcount_ref(&ch->ref);
		g_hash_table_insert(channels, ch->name, ch);
	}
	g_mutex_unlock(&channels_lock);
	return rc;
}

gboolean bc_channel_remove(bc_channel *ch) {
	g_mutex_lock(&channels_lock);
	gboolean found = channels && g_hash_table_lookup(channels, ch->name) == ch;
	if (found) {
		g_atomic_int_set(&ch->destroyed, 1);
		g_hash_table_steal(channels, ch->name);
	}
	g_mutex_unlock(&channels_lock);
	if (found)
		bc_channel_unref(ch);   /* the table's ref; the caller still holds one */
	return found;
}

GPtrArray *bc_channels_all(void) {
	GPtrArray *all = g_ptr_array_new_with_free_func((GDestroyNotify)bc_channel_unref);
	g_mutex_lock(&channels_lock);
	if (channels) {
		GHashTableIter it;
		gpointer v;
		g_hash_table_iter_init(&it, channels);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			bc_channel *ch = v;
			cardea_refcount_ref(&ch->ref);
			g_ptr_array_add(all, ch);
		}
	}
	g_mutex_unlock(&channels_lock);
	return all;
}

void bc_channel_resnap_locked(bc_channel *ch) {
	guint n = 0;
	GHashTableIter it;
	gpointer k;
	g_hash_table_iter_init(&it, ch->viewers);
	while (g_hash_table_iter_next(&it, &k, NULL))
		if (g_atomic_int_get(&((bc_session *)k)->media_up))
			n++;
	bc_snap *snap = g_malloc0(sizeof(bc_snap) + n * sizeof(bc_session *));
	cardea_refcount_init(&snap->ref, snap_free);
	g_hash_table_iter_init(&it, ch->viewers);
	while (g_hash_table_iter_next(&it, &k, NULL) && snap->n < n) {
		bc_session *s = k;
		if (g_atomic_int_get(&s->media_up)) {
			bc_session_ref(s);
			snap->v[snap->n++] = s;
		}
	}
	bc_snap *old = ch->snap;
	ch->snap = snap;
	/* The old snapshot's refs are only viewer refs: dropping them never
	 * calls the core, so this is safe under the mutex. */
	bc_snap_unref(old);
}

guint bc_channel_viewer_count(bc_channel *ch) {
	g_mutex_lock(&ch->mutex);
	guint n = g_hash_table_size(ch->viewers);
	g_mutex_unlock(&ch->mutex);
	return n;
}

json_t *bc_channel_json(bc_channel *ch, gboolean details) {
	g_mutex_lock(&ch->mutex);
	json_t *j = json_pack("{s:s, s:s, s:b, s:b, s:b, s:i, s:s, s:s}", "channel", ch->name,
		"description", ch->props.description, "pin_required", ch->props.pin != NULL,
		"has_presenter", ch->presenter != NULL, "takeover", ch->props.takeover,
		"viewers", (int)g_hash_table_size(ch->viewers),
		"videocodec", ch->props.video_codec, "audiocodec", ch->props.audio_codec);
	if (details) {
		json_object_set_new(j, "permanent", json_boolean(ch->permanent));
		json_object_set_new(j, "is_private", json_boolean(ch->props.is_private));
	}
	g_mutex_unlock(&ch->mutex);
	return j;
}

/* ---- config ---- */

static const char *const channel_keys[] = {
	"description", "secret", "pin", "token", "is_private", "takeover", "videocodec", "audiocodec", NULL,
};
static const char *const vcodecs[] = { "vp8", "vp9", "h264", "av1", NULL };
static const char *const acodecs[] = { "opus", NULL };

static gboolean load_channel(const cardea_config *cfg, const char *section, GError **error) {
	bc_props p = { 0 };
	int vi = 0, ai = 0;
	gboolean ok = cardea_config_get_string(cfg, section, "description", NULL, &p.description, error) &&
		cardea_config_get_string(cfg, section, "secret", NULL, &p.secret, error) &&
		cardea_config_get_string(cfg, section, "pin", NULL, &p.pin, error) &&
		cardea_config_get_string(cfg, section, "token", NULL, &p.token, error) &&
		cardea_config_get_bool(cfg, section, "is_private", FALSE, &p.is_private, error) &&
		cardea_config_get_bool(cfg, section, "takeover", TRUE, &p.takeover, error) &&
		cardea_config_get_choice(cfg, section, "videocodec", "vp8", vcodecs, &vi, error) &&
		cardea_config_get_choice(cfg, section, "audiocodec", "opus", acodecs, &ai, error);
	if (ok) {
		cardea_config_warn_unknown(cfg, section, channel_keys);
		p.video_codec = g_strdup(vcodecs[vi]);
		p.audio_codec = g_strdup(acodecs[ai]);
		bc_channel *ch = bc_channel_new(section, &p);
		ch->permanent = TRUE;
		if (bc_channel_add(ch) != 0) {
			cardea_config_set_value_error(error, cfg, section, NULL, "duplicate channel");
			ok = FALSE;
		}
		bc_channel_unref(ch);
	}
	bc_props_clear(&p);
	return ok;
}

int bc_channels_init(const char *config_path, GError **error) {
	g_mutex_lock(&channels_lock);
	channels = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)bc_channel_unref);
	g_mutex_unlock(&channels_lock);
	if (config_path == NULL || !g_file_test(config_path, G_FILE_TEST_EXISTS))
		return 0;
	cardea_config *cfg = cardea_config_load(config_path, error);
	if (cfg == NULL)
		return -1;
	int rc = 0;
	static const char *const general_keys[] = { "admin_key", "enabled", NULL };
	cardea_config_warn_unknown(cfg, "general", general_keys);
	if (!cardea_config_get_string(cfg, "general", "admin_key", NULL, &bc_admin_key, error))
		rc = -1;
	gchar **sections = cardea_config_list_sections(cfg);
	for (guint i = 0; rc == 0 && sections && sections[i]; i++) {
		if (strcmp(sections[i], "general") == 0)
			continue;
		if (!load_channel(cfg, sections[i], error))
			rc = -1;
	}
	g_strfreev(sections);
	cardea_config_free(cfg);
	return rc;
}

void bc_channels_deinit(void) {
	g_mutex_lock(&channels_lock);
	GHashTable *t = channels;
	channels = NULL;
	g_mutex_unlock(&channels_lock);
	if (t)
		g_hash_table_destroy(t);
}
