/* VideoRoom room properties: one table drives reading them from a `create`
 * request, from a room-<id> section of cardea.plugin.videoroom.jcfg, and
 * writing them back (permanent rooms), so the three never drift apart.
 *
 * Pure code: no plugin state, no threads, no logging; the unit test
 * (tests/unit/test_videoroom_rooms.c) links it directly.
 */
#ifndef VR_ROOM_CONFIG_H
#define VR_ROOM_CONFIG_H

#include <glib.h>
#include <jansson.h>
#include "cardea/config.h"

typedef struct vr_props {
	char *description;
	gboolean is_private;
	char *secret, *pin;             /* NULL: none */
	gboolean require_pvtid;
	gboolean signed_tokens;
	gint64 publishers;              /* max active publishers */
	gint64 bitrate;                 /* bps, 0: no cap */
	gboolean bitrate_cap;
	gint64 fir_freq;                /* seconds between keyframe requests, 0: only on demand */
	char *audiocodec, *videocodec;  /* comma-separated lists, lower case */
	char *vp9_profile, *h264_profile;
	gboolean opus_fec, opus_dtx, video_svc;
	gboolean audiolevel_ext, audiolevel_event;
	gint64 audio_active_packets, audio_level_average;
	gboolean videoorient_ext, playoutdelay_ext, transport_wide_cc_ext;
	gboolean record, lock_record;
	char *rec_dir;
	gboolean notify_joining, require_e2ee;
	gboolean dummy_publisher;
} vr_props;

typedef struct vr_prop_error {
	int code;                       /* 429 missing / 430 invalid element */
	char *text;                     /* g_malloc'd */
} vr_prop_error;

/* Defaults as Janus: 3 publishers, opus, vp8, fec and the extensions on. */
void vr_props_init(vr_props *p);
void vr_props_clear(vr_props *p);
void vr_props_copy(vr_props *dst, const vr_props *src);

/* Reads the properties present in `body` (create, or edit with prefix
 * "new_"), leaving the others alone. FALSE with *err on a wrong type or
 * an unknown codec. */
gboolean vr_props_from_json(vr_props *p, json_t *body, const char *prefix, vr_prop_error *err);
/* Reads a room-<id> section. FALSE with *error (FILE:LINE: ...). */
gboolean vr_props_from_config(vr_props *p, const cardea_config *cfg, const char *section, GError **error);
/* Appends "room-<id>: {\n ... }\n" with every property that differs from
 * the default (secrets included: the file is the admin's). */
void vr_props_write(const vr_props *p, const char *room_id, const char *extra_allowed, GString *out);
/* The public part of a room for `list`: the room flags, no secrets. */
void vr_props_to_json(const vr_props *p, json_t *obj);

/* Valid codec lists ("opus,pcmu"), each name known. */
gboolean vr_codec_list_valid(const char *list, gboolean video);

#endif
