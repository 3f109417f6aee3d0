/* VideoRoom room properties (see room-config.h): the table below is the
 * only list of them. */
#include <string.h>
#include "room-config.h"

typedef enum { P_BOOL, P_INT, P_STR, P_CODECS_A, P_CODECS_V } prop_type;

typedef struct prop_desc {
	const char *name;
	prop_type type;
	size_t offset;
	gint64 min, max;                /* P_INT */
	gboolean listed;                /* shown by `list` (never secrets) */
	gboolean editable;              /* `edit` accepts new_<name> */
} prop_desc;

#define F(m) offsetof(vr_props, m)
static const prop_desc props[] = {
	{ "description", P_STR, F(description), 0, 0, TRUE, TRUE },
	{ "is_private", P_BOOL, F(is_private), 0, 0, TRUE, TRUE },
	{ "secret", P_STR, F(secret), 0, 0, FALSE, TRUE },
	{ "pin", P_STR, F(pin), 0, 0, FALSE, TRUE },
	{ "require_pvtid", P_BOOL, F(require_pvtid), 0, 0, TRUE, TRUE },
	{ "signed_tokens", P_BOOL, F(signed_tokens), 0, 0, FALSE, FALSE },
	{ "publishers", P_INT, F(publishers), 1, 1000, FALSE, TRUE },
	{ "bitrate", P_INT, F(bitrate), 0, G_MAXUINT32, TRUE, TRUE },
	{ "bitrate_cap", P_BOOL, F(bitrate_cap), 0, 0, TRUE, FALSE },
	{ "fir_freq", P_INT, F(fir_freq), 0, 3600, TRUE, TRUE },
	{ "audiocodec", P_CODECS_A, F(audiocodec), 0, 0, TRUE, FALSE },
	{ "videocodec", P_CODECS_V, F(videocodec), 0, 0, TRUE, FALSE },
	{ "vp9_profile", P_STR, F(vp9_profile), 0, 0, FALSE, FALSE },
	{ "h264_profile", P_STR, F(h264_profile), 0, 0, FALSE, FALSE },
	{ "opus_fec", P_BOOL, F(opus_fec), 0, 0, TRUE, FALSE },
	{ "opus_dtx", P_BOOL, F(opus_dtx), 0, 0, TRUE, FALSE },
	{ "video_svc", P_BOOL, F(video_svc), 0, 0, TRUE, FALSE },
	{ "audiolevel_ext", P_BOOL, F(audiolevel_ext), 0, 0, TRUE, FALSE },
	{ "audiolevel_event", P_BOOL, F(audiolevel_event), 0, 0, TRUE, FALSE },
	{ "audio_active_packets", P_INT, F(audio_active_packets), 1, 100000, TRUE, FALSE },
	{ "audio_level_average", P_INT, F(audio_level_average), 1, 127, TRUE, FALSE },
	{ "videoorient_ext", P_BOOL, F(videoorient_ext), 0, 0, TRUE, FALSE },
	{ "playoutdelay_ext", P_BOOL, F(playoutdelay_ext), 0, 0, TRUE, FALSE },
	{ "transport_wide_cc_ext", P_BOOL, F(transport_wide_cc_ext), 0, 0, TRUE, FALSE },
	{ "record", P_BOOL, F(record), 0, 0, TRUE, TRUE },  /* new_record: a Cardea extra (Janus: enable_recording) */
	{ "rec_dir", P_STR, F(rec_dir), 0, 0, FALSE, TRUE },
	{ "lock_record", P_BOOL, F(lock_record), 0, 0, TRUE, TRUE },
	{ "notify_joining", P_BOOL, F(notify_joining), 0, 0, TRUE, FALSE },
	{ "require_e2ee", P_BOOL, F(require_e2ee), 0, 0, TRUE, FALSE },
	{ "dummy_publisher", P_BOOL, F(dummy_publisher), 0, 0, TRUE, FALSE },
};
#undef F

#define AT(p, d, T) ((T *)((char *)(p) + (d)->offset))

static const char *const audio_codecs[] = { "opus", "multiopus", "g722", "pcmu", "pcma", "isac32", "isac16", "l16", NULL };
static const char *const video_codecs[] = { "vp8", "vp9", "h264", "av1", "h265", NULL };

void vr_props_init(vr_props *p) {
	memset(p, 0, sizeof(*p));
	p->publishers = 3;
	p->audiocodec = g_strdup("opus");
	p->videocodec = g_strdup("vp8");
	p->opus_fec = TRUE;
	p->audiolevel_ext = TRUE;
	p->audio_active_packets = 100;
	p->audio_level_average = 25;
	p->videoorient_ext = p->playoutdelay_ext = p->transport_wide_cc_ext = TRUE;
}

void vr_props_clear(vr_props *p) {
	for (size_t i = 0; i < G_N_ELEMENTS(props); i++)
		if (props[i].type == P_STR || props[i].type == P_CODECS_A || props[i].type == P_CODECS_V)
			g_clear_pointer(AT(p, &props[i], char *), g_free);
}

void vr_props_copy(vr_props *dst, const vr_props *src) {
	*dst = *src;
	for (size_t i = 0; i < G_N_ELEMENTS(props); i++)
		if (props[i].type == P_STR || props[i].type == P_CODECS_A || props[i].type == P_CODECS_V)
			*AT(dst, &props[i], char *) = g_strdup(*AT(src, &props[i], char *));
}

gboolean vr_codec_list_valid(const char *list, gboolean video) {
	if (list == NULL || *list == '\0')
		return FALSE;
	gchar **items = g_strsplit(list, ",", 0);
	gboolean ok = items[0] != NULL;
	for (int i = 0; ok && items[i]; i++) {
		char *low = g_ascii_strdown(g_strstrip(items[i]), -1);
		ok = g_strv_contains(video ? video_codecs : audio_codecs, low);
		g_free(low);
	}
	g_strfreev(items);
	return ok;
}

/* "VP8, h264" -> "vp8,h264" */
static char *codec_list_normalize(const char *list) {
	gchar **items = g_strsplit(list, ",", 0);
	for (int i = 0; items[i]; i++) {
		char *low = g_ascii_strdown(g_strstrip(items[i]), -1);
		g_free(items[i]);
		items[i] = low;
	}
	char *out = g_strjoinv(",", items);
	g_strfreev(items);
	return out;
}

static void set_err(vr_prop_error *err, int code, char *text) {
	if (err) {
		err->code = code;
		err->text = text;
	} else {
		g_free(text);
	}
}

/* video_svc only holds for rooms whose every video codec layers (VP9, AV1):
 * Janus turns it off otherwise, and `list` reports what is in force. The
 * SVC layer selection (subscriber.c) reads room->props.video_svc. */
static void svc_normalize(vr_props *p) {
	if (!p->video_svc || p->videocodec == NULL)
		return;
	gchar **codecs = g_strsplit(p->videocodec, ",", 0);
	for (int i = 0; codecs[i]; i++)
		if (strcmp(codecs[i], "vp9") != 0 && strcmp(codecs[i], "av1") != 0)
			p->video_svc = FALSE;
	g_strfreev(codecs);
}

gboolean vr_props_from_json(vr_props *p, json_t *body, const char *prefix, vr_prop_error *err) {
	gboolean edit = prefix && *prefix;
	for (size_t i = 0; i < G_N_ELEMENTS(props); i++) {
		const prop_desc *d = &props[i];
		if (edit && !d->editable)
			continue;
		char *key = g_strconcat(prefix ? prefix : "", d->name, NULL);
		json_t *v = json_object_get(body, key);
		gboolean ok = TRUE;
		const char *want = NULL;
		if (v == NULL) {
			g_free(key);
			continue;
		}
		switch (d->type) {
		case P_BOOL:
			ok = json_is_boolean(v);
			want = "a boolean";
			if (ok)
				*AT(p, d, gboolean) = json_is_true(v);
			break;
		case P_INT:
			ok = json_is_integer(v) && json_integer_value(v) >= 0;
			want = "a positive integer";
			if (ok) {
				gint64 n = json_integer_value(v);
				*AT(p, d, gint64) = CLAMP(n, d->min, d->max);
			}
			break;
		case P_STR:
			ok = json_is_string(v);
			want = "a string";
			if (ok) {
				g_free(*AT(p, d, char *));
				*AT(p, d, char *) = g_strdup(json_string_value(v));
			}
			break;
		case P_CODECS_A:
		case P_CODECS_V:
			ok = json_is_string(v) && vr_codec_list_valid(json_string_value(v), d->type == P_CODECS_V);
			want = "a list of supported codecs";
			if (ok) {
				g_free(*AT(p, d, char *));
				*AT(p, d, char *) = codec_list_normalize(json_string_value(v));
			}
			break;
		}
		if (!ok) {
			set_err(err, 430, g_strdup_printf("Invalid element type (%s should be %s)", key, want));
			g_free(key);
			return FALSE;
		}
		g_free(key);
	}
	svc_normalize(p);
	return TRUE;
}

gboolean vr_props_from_config(vr_props *p, const cardea_config *cfg, const char *section, GError **error) {
	for (size_t i = 0; i < G_N_ELEMENTS(props); i++) {
		const prop_desc *d = &props[i];
		if (!cardea_config_has(cfg, section, d->name))
			continue;
		switch (d->type) {
		case P_BOOL: {
			gboolean b;
			if (!cardea_config_get_bool(cfg, section, d->name, FALSE, &b, error))
				return FALSE;
			*AT(p, d, gboolean) = b;
			break;
		}
		case P_INT: {
			gint64 n;
			if (!cardea_config_get_int(cfg, section, d->name, 0, d->min, d->max, &n, error))
				return FALSE;
			*AT(p, d, gint64) = n;
			break;
		}
		case P_STR:
		case P_CODECS_A:
		case P_CODECS_V: {
			char *s = NULL;
			if (!cardea_config_get_string(cfg, section, d->name, NULL, &s, error))
				return FALSE;
			if (d->type != P_STR) {
				if (!vr_codec_list_valid(s, d->type == P_CODECS_V)) {
					cardea_config_set_value_error(error, cfg, section, d->name, "has an unknown codec (%s)", s);
					g_free(s);
					return FALSE;
				}
				char *n = codec_list_normalize(s);
				g_free(s);
				s = n;
			}
			g_free(*AT(p, d, char *));
			*AT(p, d, char *) = s;
			break;
		}
		}
	}
	svc_normalize(p);
	return TRUE;
}

static void write_string(GString *out, const char *s) {
	/* libconfig strings: escape backslash and quote, drop control characters. */
	g_string_append_c(out, '"');
	for (const char *c = s; *c; c++) {
		if (*c == '"' || *c == '\\')
			g_string_append_c(out, '\\');
		if ((unsigned char)*c >= 0x20)
			g_string_append_c(out, *c);
	}
	g_string_append_c(out, '"');
}

void vr_props_write(const vr_props *p, const char *room_id, const char *extra_allowed, GString *out) {
	vr_props def;
	vr_props_init(&def);
	g_string_append_printf(out, "room-%s: {\n", room_id);
	for (size_t i = 0; i < G_N_ELEMENTS(props); i++) {
		const prop_desc *d = &props[i];
		switch (d->type) {
		case P_BOOL:
			if (*AT(p, d, gboolean) != *AT(&def, d, gboolean))
				g_string_append_printf(out, "\t%s = %s\n", d->name, *AT(p, d, gboolean) ? "true" : "false");
			break;
		case P_INT:
			if (*AT(p, d, gint64) != *AT(&def, d, gint64))
				g_string_append_printf(out, "\t%s = %" G_GINT64_FORMAT "\n", d->name, *AT(p, d, gint64));
			break;
		default: {
			const char *s = *AT(p, d, char *);
			if (s && g_strcmp0(s, *AT(&def, d, char *)) != 0) {
				g_string_append_printf(out, "\t%s = ", d->name);
				write_string(out, s);
				g_string_append_c(out, '\n');
			}
		}
		}
	}
	if (extra_allowed) {
		g_string_append(out, "\tallowed = ");
		write_string(out, extra_allowed);
		g_string_append_c(out, '\n');
	}
	g_string_append(out, "}\n");
	vr_props_clear(&def);
}

void vr_props_to_json(const vr_props *p, json_t *obj) {
	for (size_t i = 0; i < G_N_ELEMENTS(props); i++) {
		const prop_desc *d = &props[i];
		if (!d->listed)
			continue;
		if (d->type == P_BOOL)
			json_object_set_new(obj, d->name, json_boolean(*AT(p, d, gboolean)));
		else if (d->type == P_INT)
			json_object_set_new(obj, d->name, json_integer(*AT(p, d, gint64)));
		else
			json_object_set_new(obj, d->name, json_string(*AT(p, d, char *) ? *AT(p, d, char *) : ""));
	}
	json_object_set_new(obj, "pin_required", json_boolean(p->pin != NULL));
	json_object_set_new(obj, "max_publishers", json_integer(p->publishers));
	if (p->rec_dir)                 /* as Janus: listed only when set */
		json_object_set_new(obj, "rec_dir", json_string(p->rec_dir));
}
