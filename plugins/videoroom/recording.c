/* VideoRoom recording (docs/recording.md): one .mjr file per publisher
 * stream, written with the SDK recorder (cardea/record.h).
 *
 * A publisher records while it publishes and p->recording_active is set:
 * set at publish when the room records, changed by the publisher's
 * configure (record/filename; lock_record rooms want the room secret, else
 * the change is ignored, as Janus does) and by enable_recording / edit
 * new_record for everyone in the room.
 *
 * Threads: start/stop run on the queue thread (publish, configure,
 * unpublish) or a core request worker (enable_recording, edit). Files are
 * opened and closed with no lock held; only the pointer swap into
 * p->rec[] happens under p->mutex, which the media thread holds while it
 * writes a packet (vr_recording_save_*), so a recorder is never closed
 * under a write. Names follow Janus:
 *   <rec_dir>/videoroom-<room>-user-<id>-<µs now>-<audio|video|data>-<mindex>.mjr
 *   <rec_dir>/<filename>-<audio|video|data>-<mindex>.mjr    (configure filename)
 */
#include <string.h>
#include "cardea/record.h"
#include "cardea/security.h"
#include "videoroom.h"

static const char *type_name(vr_mtype t) {
	return t == VR_AUDIO ? "audio" : t == VR_VIDEO ? "video" : "data";
}

static cardea_recorder_type rec_type(vr_mtype t) {
	return t == VR_AUDIO ? CARDEA_RECORDER_AUDIO : t == VR_VIDEO ? CARDEA_RECORDER_VIDEO : CARDEA_RECORDER_DATA;
}

/* What opening a stream's recorder needs, copied under p->mutex. */
typedef struct stream_want {
	gboolean want;
	vr_mtype type;
	char *codec, *fmtp;
} stream_want;

/* Stops every recorder of p (any thread but the media one). */
void vr_recording_stop(vr_publisher *p) {
	cardea_recorder *old[VR_MAX_STREAMS];
	g_mutex_lock(&p->mutex);
	memcpy(old, p->rec, sizeof(old));
	memset(p->rec, 0, sizeof(p->rec));
	g_mutex_unlock(&p->mutex);
	for (int i = 0; i < VR_MAX_STREAMS; i++) {
		if (old[i] == NULL)
			continue;
		CARDEA_LOG(CARDEA_LOG_INFO, "[videoroom] %s in room %s: stopped recording %s (%" G_GUINT64_FORMAT " packets)",
			p->id, p->room->id, cardea_recorder_path(old[i]), cardea_recorder_packets(old[i]));
		cardea_recorder_close(old[i]);
	}
}

/* Opens the recorders p lacks for its current streams, closes those of
 * streams that went away. Only while p publishes with recording_active. */
static void recording_start(vr_publisher *p) {
	g_mutex_lock(&p->room->mutex);
	char *dir = g_strdup(p->room->props.rec_dir);
	g_mutex_unlock(&p->room->mutex);
	stream_want want[VR_MAX_STREAMS];
	memset(want, 0, sizeof(want));
	g_mutex_lock(&p->mutex);
	char *base = g_strdup(p->recording_base);
	for (int i = 0; i < p->n_streams; i++) {
		const vr_pstream *ps = &p->streams[i];
		if (ps->disabled || p->rec[i] != NULL || (ps->type != VR_DATA && ps->codec == NULL))
			continue;
		want[i].want = TRUE;
		want[i].type = ps->type;
		want[i].codec = g_strdup(ps->type == VR_DATA ? "text" : ps->codec);
		/* As Janus: the fmtp (profiles) matters to the post-processor for video only. */
		want[i].fmtp = ps->type == VR_VIDEO ? g_strdup(ps->fmtp) : NULL;
	}
	g_mutex_unlock(&p->mutex);
	cardea_recorder *opened[VR_MAX_STREAMS] = { 0 };
	gint64 now = g_get_real_time();
	for (int i = 0; i < VR_MAX_STREAMS; i++) {
		if (!want[i].want)
			continue;
		char *name = base ? g_strdup_printf("%s-%s-%d", base, type_name(want[i].type), i)
			: g_strdup_printf("videoroom-%s-user-%s-%" G_GINT64_FORMAT "-%s-%d", p->room->id, p->id, now,
				type_name(want[i].type), i);
		GError *error = NULL;
		opened[i] = cardea_recorder_open(dir, name, rec_type(want[i].type), want[i].codec, want[i].fmtp, &error);
		if (opened[i] == NULL) {
			CARDEA_LOG(CARDEA_LOG_ERR, "[videoroom] %s in room %s: can't record %s stream %d: %s", p->id,
				p->room->id, type_name(want[i].type), i, error ? error->message : "?");
			g_clear_error(&error);
		} else {
			CARDEA_LOG(CARDEA_LOG_INFO, "[videoroom] %s in room %s: recording %s stream %d to %s", p->id,
				p->room->id, type_name(want[i].type), i, cardea_recorder_path(opened[i]));
		}
		g_free(name);
		g_free(want[i].codec);
		g_free(want[i].fmtp);
	}
	cardea_recorder *drop[VR_MAX_STREAMS] = { 0 };
	gboolean started[VR_MAX_STREAMS] = { 0 };
	g_mutex_lock(&p->mutex);
	for (int i = 0; i < VR_MAX_STREAMS; i++) {
		gboolean live = i < p->n_streams && !p->streams[i].disabled;
		if (!live) {
			drop[i] = p->rec[i];
			p->rec[i] = NULL;
		}
		if (opened[i] && live && p->rec[i] == NULL) {
			p->rec[i] = opened[i];
			opened[i] = NULL;
			started[i] = TRUE;
		}
	}
	g_mutex_unlock(&p->mutex);
	for (int i = 0; i < VR_MAX_STREAMS; i++) {
		/* A new video file must start with a keyframe to be playable. */
		if (started[i] && want[i].type == VR_VIDEO)
			vr_publisher_keyframe(p, i, TRUE);
		cardea_recorder_close(opened[i]);   /* lost a race with a concurrent start: not used */
		cardea_recorder_close(drop[i]);
	}
	g_free(base);
	g_free(dir);
}

void vr_recording_sync(vr_publisher *p) {
	g_mutex_lock(&p->mutex);
	gboolean on = p->recording_active;
	g_mutex_unlock(&p->mutex);
	if (on && g_atomic_int_get(&p->publishing))
		recording_start(p);
	else
		vr_recording_stop(p);
}

gboolean vr_recording_active(vr_publisher *p) {
	g_mutex_lock(&p->mutex);
	gboolean on = FALSE;
	for (int i = 0; i < VR_MAX_STREAMS && !on; i++)
		on = p->rec[i] != NULL;
	g_mutex_unlock(&p->mutex);
	return on;
}

int vr_recording_configure(vr_publisher *p, json_t *body, const char **error) {
	json_t *record = json_object_get(body, "record"), *filename = json_object_get(body, "filename");
	if (record == NULL && filename == NULL)
		return 0;
	if ((record && !json_is_boolean(record)) || (filename && !json_is_string(filename))) {
		*error = "Invalid element type (record should be a boolean, filename a string)";
		return VR_ERR_INVALID_ELEMENT;
	}
	if (filename && !cardea_recorder_name_valid(json_string_value(filename))) {
		*error = "Invalid element (filename: a relative name without '..' is needed)";
		return VR_ERR_INVALID_ELEMENT;
	}
	g_mutex_lock(&p->room->mutex);
	gboolean locked = p->room->props.lock_record;
	char *secret = g_strdup(p->room->props.secret);
	g_mutex_unlock(&p->room->mutex);
	if (locked && secret) {
		const char *given = json_string_value(json_object_get(body, "secret"));
		gboolean ok = given && cardea_secret_equal(given, secret);
		g_free(secret);
		if (!ok) {
			/* Janus's behaviour: configure still succeeds, recording is unchanged. */
			CARDEA_LOG(CARDEA_LOG_WARN, "[videoroom] %s in room %s: recording is locked (room secret needed), "
				"record/filename ignored", p->id, p->room->id);
			return 0;
		}
	} else {
		g_free(secret);
	}
	g_mutex_lock(&p->mutex);
	gboolean was = p->recording_active;
	if (record)
		p->recording_active = json_is_true(record);
	if (filename) {
		g_free(p->recording_base);
		p->recording_base = g_strdup(json_string_value(filename));
	}
	gboolean now = p->recording_active;
	g_mutex_unlock(&p->mutex);
	if (was != now)
		vr_recording_sync(p);
	return 0;
}

void vr_room_set_recording(vr_room *room, gboolean record) {
	g_mutex_lock(&room->mutex);
	room->props.record = record;
	g_mutex_unlock(&room->mutex);
	GPtrArray *parts = vr_room_participants(room, NULL);
	for (guint i = 0; i < parts->len; i++) {
		vr_publisher *p = parts->pdata[i];
		g_mutex_lock(&p->mutex);
		p->recording_active = record;
		g_mutex_unlock(&p->mutex);
		vr_recording_sync(p);
	}
	g_ptr_array_unref(parts);
	CARDEA_LOG(CARDEA_LOG_INFO, "[videoroom] room %s: recording %s", room->id, record ? "enabled" : "disabled");
}

/* Media thread, p->mutex held. Simulcast: the lowest substream only (one
 * SSRC per file, what janus-pp-rec expects). */
void vr_recording_save_rtp(vr_publisher *p, const cardea_rtp_packet *pkt) {
	cardea_recorder *rec = p->rec[pkt->mindex];
	if (rec && pkt->substream == 0)
		cardea_recorder_save_rtp(rec, pkt->buffer, pkt->length);
}

void vr_recording_save_data(vr_publisher *p, const cardea_data_packet *pkt) {
	for (int i = 0; i < p->n_streams; i++)
		if (p->rec[i] && p->streams[i].type == VR_DATA && pkt->len > 0)
			cardea_recorder_save_data(p->rec[i], pkt->buf, pkt->len);
}
