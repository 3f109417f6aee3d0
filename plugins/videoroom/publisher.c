/* VideoRoom publishers: join, publish (answering the client's offer),
 * configure, unpublish, leave, and the media fan-out from a publisher's
 * PeerConnection to its subscribers and RTP forwarders.
 *
 * Threads: requests run on the plugin queue thread; incoming_rtp/data on
 * the publisher's media loop. The stream table (streams/n_streams) is
 * written under p->mutex while the publisher does not publish (publishing
 * is set after it, cleared before a rewrite), so the media thread reads it
 * without the lock once it saw publishing == 1.
 */
#include <string.h>
#include "cardea/record.h"
#include "videoroom.h"

static void snapshot_free(const cardea_refcount *ref) {
	vr_snapshot *s = cardea_container_of(ref, vr_snapshot, ref);
	for (guint i = 0; i < s->n; i++)
		vr_subscriber_unref(s->t[i].sub);
	g_free(s);
}

void vr_snapshot_unref(vr_snapshot *s) {
	if (s)
		cardea_refcount_unref(&s->ref);
}

static void pstream_clear(vr_pstream *ps) {
	g_free(ps->description);
	g_free(ps->codec);
	g_free(ps->rtpname);
	g_free(ps->fmtp);
	memset(ps, 0, sizeof(*ps));
}

static void publisher_free(const cardea_refcount *ref) {
	vr_publisher *p = cardea_container_of(ref, vr_publisher, ref);
	for (int i = 0; i < VR_MAX_STREAMS; i++) {
		pstream_clear(&p->streams[i]);
		cardea_recorder_close(p->rec[i]);   /* normally closed at unpublish already */
	}
	g_free(p->recording_base);
	vr_snapshot_unref(p->snap);
	g_ptr_array_free(p->links, TRUE);
	g_ptr_array_free(p->forwarders, TRUE);
	vr_room_unref(p->room);
	cardea_plugin_session_unref(p->app);
	g_mutex_clear(&p->mutex);
	g_free(p->id);
	g_free(p->display);
	g_free(p);
}

void vr_publisher_unref(vr_publisher *p) {
	if (p)
		cardea_refcount_unref(&p->ref);
}

vr_publisher *vr_publisher_lookup(vr_room *room, const char *id) {
	g_mutex_lock(&room->mutex);
	vr_publisher *p = g_hash_table_lookup(room->participants, id);
	if (p)
		cardea_refcount_ref(&p->ref);
	g_mutex_unlock(&room->mutex);
	return p;
}

static const char *type_name(vr_mtype t) {
	return t == VR_AUDIO ? "audio" : t == VR_VIDEO ? "video" : "data";
}

/* Caller holds p->mutex. */
static json_t *streams_json(vr_publisher *p) {
	json_t *list = json_array();
	for (int i = 0; i < p->n_streams; i++) {
		vr_pstream *ps = &p->streams[i];
		json_t *o = json_pack("{s:s, s:i, s:s}", "type", type_name(ps->type), "mindex", ps->mindex, "mid", ps->mid);
		if (ps->disabled) {
			json_object_set_new(o, "disabled", json_true());
			json_array_append_new(list, o);
			continue;
		}
		if (ps->codec)
			json_object_set_new(o, "codec", json_string(ps->codec));
		if (ps->description)
			json_object_set_new(o, "description", json_string(ps->description));
		if (ps->type == VR_AUDIO) {
			if (ps->stereo)
				json_object_set_new(o, "stereo", json_true());
			if (ps->fec)
				json_object_set_new(o, "fec", json_true());
			if (ps->dtx)
				json_object_set_new(o, "dtx", json_true());
		}
		if (ps->type == VR_VIDEO && ps->substreams > 1)
			json_object_set_new(o, "simulcast", json_true());
		if (ps->svc)
			json_object_set_new(o, "svc", json_true());
		if (g_atomic_int_get(&ps->muted))
			json_object_set_new(o, "moderated", json_true());
		json_array_append_new(list, o);
	}
	return list;
}

/* Caller holds p->mutex. */
static void codecs_json(vr_publisher *p, json_t *o) {
	for (int i = 0; i < p->n_streams; i++) {
		vr_pstream *ps = &p->streams[i];
		if (ps->disabled || ps->codec == NULL)
			continue;
		const char *key = ps->type == VR_AUDIO ? "audio_codec" : ps->type == VR_VIDEO ? "video_codec" : NULL;
		if (key && json_object_get(o, key) == NULL)
			json_object_set_new(o, key, json_string(ps->codec));
	}
}

void vr_publisher_set_display(vr_publisher *p, json_t *obj, const char *key) {
	g_mutex_lock(&p->mutex);
	if (p->display)
		json_object_set_new(obj, key, json_string(p->display));
	g_mutex_unlock(&p->mutex);
}

json_t *vr_publisher_json(vr_publisher *p, gboolean with_talking) {
	json_t *o = json_pack("{s:o}", "id", vr_id_json(p->id));
	g_mutex_lock(&p->mutex);
	if (p->display)
		json_object_set_new(o, "display", json_string(p->display));
	codecs_json(p, o);
	/* Subscribers must know to decrypt (Janus 1.1.2 lists nothing; an
	 * extra member only for e2ee publishers keeps the others identical). */
	if (p->e2ee)
		json_object_set_new(o, "e2ee", json_true());
	json_object_set_new(o, "streams", streams_json(p));
	g_mutex_unlock(&p->mutex);
	if (with_talking)
		json_object_set_new(o, "talking", json_boolean(g_atomic_int_get(&p->talking)));
	return o;
}

/* ---- fan-out bookkeeping ---- */

/* Caller holds p->mutex: publishes a new snapshot built from p->links. */
static vr_snapshot *snapshot_rebuild(vr_publisher *p) {
	vr_snapshot *s = g_malloc(sizeof(vr_snapshot) + p->links->len * sizeof(vr_target));
	cardea_refcount_init(&s->ref, snapshot_free);
	s->n = p->links->len;
	for (guint i = 0; i < s->n; i++) {
		s->t[i] = *(vr_target *)p->links->pdata[i];
		cardea_refcount_ref(&s->t[i].sub->ref);
	}
	vr_snapshot *old = p->snap;
	p->snap = s;
	return old;
}

void vr_publisher_link(vr_publisher *p, vr_subscriber *sub, int sidx, int pub_mindex) {
	vr_target *t = g_new(vr_target, 1);
	t->sub = sub;
	t->sidx = sidx;
	t->pub_mindex = pub_mindex;
	g_mutex_lock(&p->mutex);
	g_ptr_array_add(p->links, t);
	vr_snapshot *old = snapshot_rebuild(p);
	g_mutex_unlock(&p->mutex);
	/* Unref outside the lock: the last ref may free subscribers. */
	vr_snapshot_unref(old);
}

void vr_publisher_unlink(vr_publisher *p, vr_subscriber *sub, int sidx) {
	g_mutex_lock(&p->mutex);
	for (guint i = 0; i < p->links->len; i++) {
		vr_target *t = p->links->pdata[i];
		if (t->sub == sub && t->sidx == sidx) {
			g_ptr_array_remove_index(p->links, i);
			break;
		}
	}
	vr_snapshot *old = snapshot_rebuild(p);
	g_mutex_unlock(&p->mutex);
	vr_snapshot_unref(old);
}

/* Subscribers watching p (refs, each once). */
static GPtrArray *publisher_subscribers(vr_publisher *p) {
	GPtrArray *subs = g_ptr_array_new_with_free_func((GDestroyNotify)vr_subscriber_unref);
	g_mutex_lock(&p->mutex);
	for (guint i = 0; i < p->links->len; i++) {
		vr_target *t = p->links->pdata[i];
		if (!g_ptr_array_find(subs, t->sub, NULL)) {
			cardea_refcount_ref(&t->sub->ref);
			g_ptr_array_add(subs, t->sub);
		}
	}
	g_mutex_unlock(&p->mutex);
	return subs;
}

/* ---- keyframes ---- */

/* PLI to the publisher for `mindex` (-1: every video stream). Requests on
 * behalf of subscribers (force FALSE) go out at most once per second per
 * publisher; the core merges what is closer than 500 ms anyway. */
void vr_publisher_keyframe(vr_publisher *p, int mindex, gboolean force) {
	gint64 now = g_get_monotonic_time();
	g_mutex_lock(&p->mutex);
	if (!force && now - p->last_fir < G_USEC_PER_SEC) {
		g_mutex_unlock(&p->mutex);
		return;
	}
	p->last_fir = now;
	int idx[VR_MAX_STREAMS], n = 0;
	for (int i = 0; i < p->n_streams; i++)
		if (p->streams[i].type == VR_VIDEO && !p->streams[i].disabled && (mindex < 0 || p->streams[i].mindex == mindex))
			idx[n++] = p->streams[i].mindex;
	g_mutex_unlock(&p->mutex);
	for (int i = 0; i < n; i++)
		vr_core->send_keyframe_request(p->app, idx[i]);
}

/* ---- media (publisher's media loop) ---- */

/* The ssrc-audio-level value (RFC 6464: -dBov, 0 loudest .. 127 silence)
 * from a one-byte or two-byte header extension block; -1 when absent. */
static int rtp_audio_level(const cardea_rtp_packet *pkt, int ext_id) {
	const uint8_t *b = pkt->buffer;
	if (ext_id <= 0 || pkt->length < 12 || !(b[0] & 0x10))
		return -1;
	size_t off = 12 + 4 * (size_t)(b[0] & 0x0f);
	if (off + 4 > pkt->length)
		return -1;
	uint16_t profile = (uint16_t)(b[off] << 8 | b[off + 1]);
	size_t len = 4 * (size_t)(b[off + 2] << 8 | b[off + 3]), i = off + 4, end = off + 4 + len;
	if (end > pkt->length)
		return -1;
	gboolean one = profile == 0xBEDE, two = (profile & 0xFFF0) == 0x1000;
	while ((one || two) && i < end) {
		if (b[i] == 0) {        /* padding */
			i++;
			continue;
		}
		int id = one ? b[i] >> 4 : b[i];
		size_t l = one ? (size_t)(b[i] & 0x0f) + 1 : (i + 1 < end ? b[i + 1] : 0);
		size_t data = i + (one ? 1 : 2);
		if (one && id == 15)
			break;
		if (data + l > end)
			break;
		if (id == ext_id && l >= 1)
			return b[data] & 0x7f;
		i = data + l;
	}
	return -1;
}

/* Media thread: Janus's talking detection. Levels are averaged over
 * audio_active_packets packets; an average under audio_level_average
 * (i.e. louder) means talking. Changes go to everyone in the room. */
static void audio_level(vr_publisher *p, const cardea_rtp_packet *pkt, const vr_pstream *ps) {
	vr_props *props = &p->room->props;     /* plain reads of ints: a racing edit is harmless */
	if (!props->audiolevel_event || ps->level_ext <= 0)
		return;
	int level = rtp_audio_level(pkt, ps->level_ext);
	if (level < 0)
		return;
	p->level_sum += level;
	if (++p->level_count < props->audio_active_packets)
		return;
	double avg = (double)p->level_sum / p->level_count;
	p->level_sum = p->level_count = 0;
	gboolean talking = avg < (double)props->audio_level_average;
	if (talking == (gboolean)g_atomic_int_get(&p->talking))
		return;
	g_atomic_int_set(&p->talking, talking);
	json_t *ev = json_pack("{s:s, s:o, s:o, s:i, s:s, s:f}", "videoroom", talking ? "talking" : "stopped-talking",
		"room", vr_id_json(p->room->id), "id", vr_id_json(p->id), "mindex", ps->mindex, "mid", ps->mid,
		"audio-level-dBov-avg", -avg);
	GPtrArray *apps = vr_room_apps(p->room, NULL, FALSE);
	vr_apps_push(apps, ev);
	vr_apps_free(apps);
	json_decref(ev);
}

void vr_publisher_incoming_rtp(vr_publisher *p, cardea_rtp_packet *pkt) {
	if (!g_atomic_int_get(&p->publishing) || pkt->mindex < 0 || pkt->mindex >= p->n_streams)
		return;
	vr_pstream *ps = &p->streams[pkt->mindex];
	/* Moderated, or paused by the publisher (configure send:false): like
	 * Janus, nothing goes on (subscribers, forwarders) until resumed. */
	if (ps->disabled || g_atomic_int_get(&ps->muted) || g_atomic_int_get(&ps->paused))
		return;
	gint64 now = g_get_monotonic_time();
	g_mutex_lock(&p->mutex);
	vr_snapshot *snap = p->snap;
	if (snap)
		cardea_refcount_ref(&snap->ref);
	/* Forwarders send plain UDP (no core call): done under the lock. */
	for (guint i = 0; i < p->forwarders->len; i++) {
		vr_forwarder *f = p->forwarders->pdata[i];
		if (f->mindex == pkt->mindex && (f->substream < 0 || f->substream == pkt->substream))
			vr_forwarder_send(f, pkt);
	}
	vr_recording_save_rtp(p, pkt);
	g_mutex_unlock(&p->mutex);
	if (ps->type == VR_AUDIO)
		audio_level(p, pkt, ps);
	if (snap) {
		for (guint i = 0; i < snap->n; i++)
			if (snap->t[i].pub_mindex == pkt->mindex)
				vr_subscriber_relay(snap->t[i].sub, snap->t[i].sidx, pkt, p, ps, now);
		vr_snapshot_unref(snap);
	}
	if (ps->type == VR_VIDEO && p->room) {
		gint64 fir = p->room->props.fir_freq;   /* a plain read of an int the edit request may change */
		if (fir > 0 && now - p->last_fir > fir * G_USEC_PER_SEC)
			vr_publisher_keyframe(p, -1, TRUE);
	}
}

void vr_publisher_incoming_data(vr_publisher *p, cardea_data_packet *pkt) {
	if (!g_atomic_int_get(&p->publishing))
		return;
	g_mutex_lock(&p->mutex);
	vr_snapshot *snap = p->snap;
	if (snap)
		cardea_refcount_ref(&snap->ref);
	vr_recording_save_data(p, pkt);
	g_mutex_unlock(&p->mutex);
	if (snap == NULL)
		return;
	for (guint i = 0; i < snap->n; i++) {
		vr_target *t = &snap->t[i];
		if (t->pub_mindex < p->n_streams && p->streams[t->pub_mindex].type == VR_DATA)
			vr_subscriber_relay_data(t->sub, pkt);
	}
	vr_snapshot_unref(snap);
}

/* ---- answer SDP ---- */

static const char *const feedback[][2] = {
	{ "nack", NULL }, { "nack", "pli" }, { "ccm", "fir" }, { "goog-remb", NULL }, { "transport-cc", NULL },
};

static gboolean fb_offered(const cardea_sdp_mline *om, const cardea_sdp_payload *op, const char *type, const char *param) {
	for (guint k = 0; k < op->n_fb; k++)
		if (g_strcmp0(op->fb[k].type, type) == 0 && g_strcmp0(op->fb[k].param, param) == 0)
			return TRUE;
	for (guint k = 0; k < om->n_fb_all; k++)
		if (g_strcmp0(om->fb_all[k].type, type) == 0 && g_strcmp0(om->fb_all[k].param, param) == 0)
			return TRUE;
	return FALSE;
}

/* Janus codec name -> (rtpmap name, clock). */
static gboolean codec_rtp(const char *codec, const char **name, guint32 *clock) {
	static const struct { const char *j, *rtp; guint32 clock; } map[] = {
		{ "opus", "opus", 48000 }, { "g722", "G722", 8000 }, { "pcmu", "PCMU", 8000 }, { "pcma", "PCMA", 8000 },
		{ "isac32", "ISAC", 32000 }, { "isac16", "ISAC", 16000 }, { "vp8", "VP8", 90000 }, { "vp9", "VP9", 90000 },
		{ "h264", "H264", 90000 }, { "av1", "AV1", 90000 }, { "h265", "H265", 90000 },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
		if (strcmp(map[i].j, codec) == 0) {
			*name = map[i].rtp;
			*clock = map[i].clock;
			return TRUE;
		}
	return FALSE;
}

/* The first codec of the room's list (or of the request's `forced` one)
 * that the offer has; *jname gets the Janus name. */
static const cardea_sdp_payload *pick_codec(const cardea_sdp_mline *om, const char *list, const char **jname) {
	gchar **codecs = g_strsplit(list, ",", 0);
	const cardea_sdp_payload *found = NULL;
	static const char *const names[] = { "opus", "g722", "pcmu", "pcma", "isac32", "isac16", "vp8", "vp9", "h264",
		"av1", "h265" };
	for (int i = 0; codecs[i] && found == NULL; i++) {
		const char *name;
		guint32 clock;
		if (!codec_rtp(codecs[i], &name, &clock))
			continue;
		if (strcmp(codecs[i], "h264") == 0) {
			for (guint k = 0; k < om->n_payloads && !found; k++) {
				const cardea_sdp_payload *c = &om->payloads[k];
				if (c->name && g_ascii_strcasecmp(c->name, "H264") == 0 &&
						g_strcmp0(cardea_sdp_payload_param(c, "packetization-mode"), "1") == 0)
					found = c;
			}
		} else {
			found = cardea_sdp_find_codec(om, name, clock, NULL);
		}
		for (size_t k = 0; found && k < G_N_ELEMENTS(names); k++)
			if (strcmp(names[k], codecs[i]) == 0)
				*jname = names[k];
	}
	g_strfreev(codecs);
	return found;
}

/* The fmtp we answer (and offer subscribers) for the chosen payload: for
 * opus only what the room decided, as Janus: useinbandfec=1 when opus_fec
 * and the offer has FEC, usedtx=1 when opus_dtx (asks the publisher to use
 * DTX), stereo=1 when offered; NULL when none applies. Other codecs keep the
 * offer's (H.264 profile, VP9 profile-id, ...). g_malloc'd. */
static char *answer_fmtp(const cardea_sdp_payload *op, const vr_pstream *ps) {
	if (ps->type != VR_AUDIO || g_strcmp0(ps->codec, "opus") != 0)
		return g_strdup(op->fmtp);
	const char *parts[3];
	int n = 0;
	if (ps->fec)
		parts[n++] = "useinbandfec=1";
	if (ps->dtx)
		parts[n++] = "usedtx=1";
	if (ps->stereo)
		parts[n++] = "stereo=1";
	if (n == 0)
		return NULL;
	GString *f = g_string_new(parts[0]);
	for (int i = 1; i < n; i++)
		g_string_append_printf(f, ";%s", parts[i]);
	return g_string_free(f, FALSE);
}

static gboolean is_datachannel(const cardea_sdp_mline *om) {
	return om->kind == CARDEA_SDP_MEDIA_APPLICATION && cardea_sdp_mline_is_active(om) && !om->rtp &&
		om->proto && g_str_has_suffix(om->proto, "DTLS/SCTP") && om->fmt != NULL;
}

/* Answers a publisher's offer: recvonly m-lines with the room's codecs.
 * Fills streams[]; NULL with *error when nothing is usable. */
static char *publisher_answer(const char *offer_text, const vr_props *props, const char *acodec, const char *vcodec,
		vr_pstream *streams, int *n_streams, const char **error) {
	cardea_sdp *offer = cardea_sdp_parse(offer_text, strlen(offer_text), NULL, NULL);
	if (offer == NULL) {
		*error = "Error parsing offer";
		return NULL;
	}
	if (offer->n_mlines > VR_MAX_STREAMS) {
		cardea_sdp_free(offer);
		*error = "Too many m-lines";
		return NULL;
	}
	cardea_sdp *ans = cardea_sdp_new();
	ans->extmap_allow_mixed = offer->extmap_allow_mixed;
	gboolean any = FALSE;
	*n_streams = (int)offer->n_mlines;
	for (guint i = 0; i < offer->n_mlines; i++) {
		const cardea_sdp_mline *om = offer->mlines[i];
		vr_pstream *ps = &streams[i];
		ps->mindex = (int)i;
		g_strlcpy(ps->mid, om->mid ? om->mid : "", sizeof(ps->mid));
		ps->type = om->kind == CARDEA_SDP_MEDIA_AUDIO ? VR_AUDIO : om->kind == CARDEA_SDP_MEDIA_VIDEO ? VR_VIDEO : VR_DATA;
		cardea_sdp_mline *m = cardea_sdp_mline_add(ans, om->kind, om->proto);
		m->media = cardea_sdp_strdup(ans, om->media);
		if (om->mid)
			m->mid = cardea_sdp_strdup(ans, om->mid);
		if (is_datachannel(om)) {
			m->fmt = cardea_sdp_strdup(ans, om->fmt);
			any = TRUE;
			continue;
		}
		const char *jname = NULL;
		const cardea_sdp_payload *op = NULL;
		cardea_sdp_direction dir = cardea_sdp_mline_direction(offer, om);
		if (cardea_sdp_mline_is_active(om) && om->rtp && dir != CARDEA_SDP_DIR_RECVONLY && dir != CARDEA_SDP_DIR_INACTIVE)
			op = pick_codec(om, om->kind == CARDEA_SDP_MEDIA_AUDIO ? acodec : vcodec, &jname);
		if (op == NULL || om->kind == CARDEA_SDP_MEDIA_OTHER || om->kind == CARDEA_SDP_MEDIA_APPLICATION) {
			ps->disabled = TRUE;
			cardea_sdp_mline_reject(ans, m, om);
			continue;
		}
		any = TRUE;
		cardea_sdp_payload *p = cardea_sdp_payload_add(ans, m, op->pt, op->name, op->clock, op->channels);
		ps->pt = (int)op->pt;
		ps->codec = g_strdup(jname);
		ps->rtpname = g_strdup(op->name);
		ps->clock = op->clock;
		ps->channels = op->channels;
		ps->substreams = 1;
		if (ps->type == VR_AUDIO && strcmp(jname, "opus") == 0) {
			ps->fec = props->opus_fec && g_strcmp0(cardea_sdp_payload_param(op, "useinbandfec"), "1") == 0;
			ps->dtx = props->opus_dtx;
			ps->stereo = g_strcmp0(cardea_sdp_payload_param(op, "stereo"), "1") == 0;
		} else if (ps->type == VR_VIDEO) {
			ps->vcodec = cardea_video_codec_from_name(op->name);
			if (ps->vcodec != CARDEA_VIDEO_CODEC_UNKNOWN)
				ps->substreams = cardea_sim_sdp_answer(ans, m, om);
			ps->svc = props->video_svc && (ps->vcodec == CARDEA_VIDEO_CODEC_VP9 || ps->vcodec == CARDEA_VIDEO_CODEC_AV1);
		}
		/* The same fmtp goes into subscribers' offers (subscriber.c copies it). */
		ps->fmtp = answer_fmtp(op, ps);
		if (ps->fmtp)
			cardea_sdp_payload_set_fmtp(ans, p, ps->fmtp);
		m->direction = CARDEA_SDP_DIR_RECVONLY;
		for (guint k = 0; k < G_N_ELEMENTS(feedback); k++)
			if (fb_offered(om, op, feedback[k][0], feedback[k][1]))
				cardea_sdp_payload_add_fb(ans, p, feedback[k][0], feedback[k][1]);
		const cardea_sdp_payload *orx = cardea_sdp_find_rtx(om, op->pt);
		if (orx) {
			cardea_sdp_payload *rx = cardea_sdp_payload_add(ans, m, orx->pt, orx->name, orx->clock, orx->channels);
			if (rx && orx->fmtp)
				cardea_sdp_payload_set_fmtp(ans, rx, orx->fmtp);
		}
		/* Video takes the Dependency Descriptor when offered (as Janus):
		 * AV1 SVC layers are only readable from it, and for e2ee simulcast
		 * it is the one clear-text keyframe signal (subscriber.c). */
		cardea_sdp_ext exts[5] = { CARDEA_SDP_EXT_MID, CARDEA_SDP_EXT_ABS_SEND_TIME, 0, 0, 0 };
		int n = 2;
		if (props->transport_wide_cc_ext)
			exts[n++] = CARDEA_SDP_EXT_TRANSPORT_WIDE_CC;
		if (ps->type == VR_AUDIO && props->audiolevel_ext)
			exts[n++] = CARDEA_SDP_EXT_AUDIO_LEVEL;
		if (ps->type == VR_VIDEO)
			exts[n++] = CARDEA_SDP_EXT_DEPENDENCY_DESCRIPTOR;
		for (int k = 0; k < n; k++) {
			guint id = cardea_sdp_find_extmap(om, exts[k]);
			if (id && cardea_sdp_find_extmap(m, exts[k]) == 0)
				cardea_sdp_extmap_add(ans, m, id, cardea_sdp_ext_uri(exts[k]));
			if (id && exts[k] == CARDEA_SDP_EXT_AUDIO_LEVEL)
				ps->level_ext = (int)id;
			if (id && exts[k] == CARDEA_SDP_EXT_DEPENDENCY_DESCRIPTOR)
				ps->dd_ext = (int)id;
		}
		m->rtcp_mux = TRUE;
	}
	cardea_sdp_free(offer);
	char *text = any ? cardea_sdp_write(ans) : NULL;
	cardea_sdp_free(ans);
	if (text == NULL)
		*error = "No supported codec in the offer";
	return text;
}

/* ---- requests (queue thread) ---- */

static vr_publisher *session_pub(vr_session *s) {
	g_mutex_lock(&s->mutex);
	vr_publisher *p = s->pub;
	if (p)
		cardea_refcount_ref(&p->ref);
	g_mutex_unlock(&s->mutex);
	return p;
}

/* The auth hook for joining as a publisher: pin and allowed token, then the
 * auth module (publish permission, rooms). *display gets the decision's
 * display name when it names one (g_free it). */
static gboolean auth_join_publisher(vr_session *s, vr_room *room, json_t *body, char **display, vr_reply *r) {
	json_t *token = json_object_get(body, "token");
	if (!vr_check_pin(room, body, r))
		return FALSE;
	gboolean ok = TRUE;
	g_mutex_lock(&room->mutex);
	if (room->check_allowed && (!json_is_string(token) || room->allowed == NULL ||
			!g_hash_table_contains(room->allowed, json_string_value(token)))) {
		vr_reply_error(r, VR_ERR_UNAUTHORIZED, "Unauthorized (not in the allowed list)");
		ok = FALSE;
	}
	g_mutex_unlock(&room->mutex);
	if (!ok)
		return FALSE;
	json_t *target = json_pack("{s:O, s:O?}", "room", json_object_get(body, "room"),
		"display", json_object_get(body, "display"));
	json_t *d = vr_auth(s->app, "videoroom.join.publisher", target, r);
	if (d == NULL)
		return FALSE;
	ok = cardea_auth_permission(d, "publish", true);
	if (!ok)
		vr_reply_error(r, VR_ERR_UNAUTHORIZED, "Unauthorized request (no publish permission)");
	else if (json_is_string(json_object_get(d, "display")))
		*display = g_strdup(json_string_value(json_object_get(d, "display")));
	json_decref(d);
	return ok;
}

/* require_e2ee: the offer's jsep must say "e2ee": true (janus.js sets it
 * with insertable streams); Janus ignores an e2ee member of the body. */
static gboolean e2ee_ok(vr_room *room, json_t *jsep, vr_reply *r) {
	g_mutex_lock(&room->mutex);
	gboolean need = room->props.require_e2ee;
	g_mutex_unlock(&room->mutex);
	if (need && !json_is_true(json_object_get(jsep, "e2ee"))) {
		vr_reply_error(r, VR_ERR_UNAUTHORIZED, "Room requires end-to-end encrypted media");
		return FALSE;
	}
	return TRUE;
}

/* A publisher's `bitrate` (bps, 0 = no limit); with the room's bitrate_cap
 * never above the room's bitrate (no limit counts as above it). */
static guint32 capped_bitrate(vr_room *room, json_t *bitrate) {
	guint32 b = (guint32)CLAMP(json_integer_value(bitrate), 0, (json_int_t)G_MAXUINT32);
	g_mutex_lock(&room->mutex);
	if (room->props.bitrate_cap && room->props.bitrate > 0 && (b == 0 || b > room->props.bitrate))
		b = (guint32)room->props.bitrate;
	g_mutex_unlock(&room->mutex);
	return b;
}

static json_t *active_publishers(vr_room *room, vr_publisher *skip, json_t **attendees) {
	GPtrArray *parts = vr_room_participants(room, skip);
	json_t *list = json_array();
	for (guint i = 0; i < parts->len; i++) {
		vr_publisher *p = parts->pdata[i];
		if (g_atomic_int_get(&p->publishing)) {
			json_array_append_new(list, vr_publisher_json(p, TRUE));
		} else if (attendees) {
			json_t *a = json_pack("{s:o}", "id", vr_id_json(p->id));
			vr_publisher_set_display(p, a, "display");
			json_array_append_new(*attendees, a);
		}
	}
	g_ptr_array_unref(parts);
	return list;
}

static json_t *room_event(vr_room *room, const char *key, json_t *value) {
	return json_pack("{s:s, s:o, s:o}", "videoroom", "event", "room", vr_id_json(room->id), key, value);
}

/* Tells the others a publisher's streams (after publish/configure). */
static void notify_publishers(vr_publisher *p) {
	json_t *ev = room_event(p->room, "publishers", json_pack("[o]", vr_publisher_json(p, FALSE)));
	GPtrArray *apps = vr_room_apps(p->room, p, FALSE);
	vr_apps_push(apps, ev);
	vr_apps_free(apps);
	json_decref(ev);
}

static void do_publish(vr_publisher *p, const char *transaction, json_t *body, json_t *jsep, json_t *joined_ev,
	gboolean renegotiate);

static void do_join(vr_session *s, const char *transaction, json_t *body, json_t *jsep, gboolean configure) {
	vr_reply r = { 0 };
	vr_room *room = NULL;
	char *id = NULL, *rid = NULL, *forced_display = NULL;
	if (json_object_get(body, "room") == NULL) {
		vr_reply_error(&r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (room)");
		goto fail;
	}
	rid = vr_id_get(body, "room", &r);
	if (rid == NULL)
		goto fail;
	room = vr_room_lookup(rid);
	if (room == NULL) {
		vr_reply_error(&r, VR_ERR_NO_SUCH_ROOM, "No such room (%s)", rid);
		goto fail;
	}
	json_t *display = json_object_get(body, "display");
	if (display && !json_is_string(display)) {
		vr_reply_error(&r, VR_ERR_INVALID_ELEMENT, "Invalid element type (display should be a string)");
		goto fail;
	}
	if (!auth_join_publisher(s, room, body, &forced_display, &r))
		goto fail;
	if (json_object_get(body, "id")) {
		id = vr_id_get(body, "id", &r);
		if (id == NULL)
			goto fail;
	}
	if (configure && jsep == NULL) {
		vr_reply_error(&r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (jsep)");
		goto fail;
	}
	if (configure && !e2ee_ok(room, jsep, &r))
		goto fail;     /* checked before joining: a refused joinandconfigure leaves no participant */
	vr_publisher *p = g_new0(vr_publisher, 1);
	cardea_refcount_init(&p->ref, publisher_free);
	g_mutex_init(&p->mutex);
	cardea_plugin_session_ref(s->app);
	p->app = s->app;
	p->session = s;
	cardea_refcount_ref(&room->ref);
	p->room = room;
	p->display_forced = forced_display != NULL;
	p->display = forced_display ? forced_display : g_strdup(json_string_value(display));
	forced_display = NULL;
	p->private_id = g_random_int();
	p->links = g_ptr_array_new_with_free_func(g_free);
	p->forwarders = g_ptr_array_new_with_free_func((GDestroyNotify)vr_forwarder_free);
	p->bitrate = (guint32)room->props.bitrate;
	/* Insert into the room, picking a random id if none was asked for. */
	g_mutex_lock(&room->mutex);
	if (g_atomic_int_get(&room->destroyed)) {
		vr_reply_error(&r, VR_ERR_NO_SUCH_ROOM, "No such room (%s)", rid);
	} else if (id && g_hash_table_contains(room->participants, id)) {
		vr_reply_error(&r, VR_ERR_ID_EXISTS, "User ID %s already exists", id);
	} else {
		while (id == NULL || g_hash_table_contains(room->participants, id)) {
			g_free(id);
			id = vr_string_ids ? g_uuid_string_random()
				: g_strdup_printf("%" G_GUINT64_FORMAT, ((guint64)g_random_int() << 20 | g_random_int_range(0, 1 << 20)) + 1);
		}
		p->id = g_strdup(id);
		p->joined = TRUE;
		cardea_refcount_ref(&p->ref);
		g_hash_table_insert(room->participants, p->id, p);
	}
	gboolean notify_joining = room->props.notify_joining;
	char *description = g_strdup(room->props.description ? room->props.description : room->id);
	g_mutex_unlock(&room->mutex);
	if (r.code) {
		g_free(description);
		vr_publisher_unref(p);
		goto fail;
	}
	g_mutex_lock(&s->mutex);
	s->ptype = VR_PT_PUBLISHER;
	s->pub = p;     /* the creation ref */
	g_mutex_unlock(&s->mutex);
	CARDEA_LOG(CARDEA_LOG_INFO, "[videoroom] %s joined room %s as a publisher", p->id, room->id);
	json_t *who = json_pack("{s:s}", "role", "publisher");
	vr_publisher_set_display(p, who, "display");
	vr_notify(p->app, "joined", room->id, p->id, who);
	json_t *attendees = notify_joining ? json_array() : NULL;
	json_t *ev = json_pack("{s:s, s:o, s:s, s:o, s:i, s:o}", "videoroom", "joined", "room", vr_id_json(room->id),
		"description", description, "id", vr_id_json(p->id), "private_id", (json_int_t)p->private_id,
		"publishers", active_publishers(room, p, notify_joining ? &attendees : NULL));
	g_free(description);
	if (attendees)
		json_object_set_new(ev, "attendees", attendees);
	if (notify_joining) {
		json_t *who = json_pack("{s:o}", "id", vr_id_json(p->id));
		vr_publisher_set_display(p, who, "display");
		json_t *jev = room_event(room, "joining", who);
		GPtrArray *apps = vr_room_apps(room, p, FALSE);
		vr_apps_push(apps, jev);
		vr_apps_free(apps);
		json_decref(jev);
	}
	if (!configure) {
		vr_push(s->app, transaction, ev, NULL);
		json_decref(ev);
	} else {
		/* joinandconfigure: the joined event carries the answer. */
		do_publish(p, transaction, body, jsep, ev, FALSE);
		json_decref(ev);
	}
	g_free(id);
	g_free(rid);
	vr_room_unref(room);
	return;
fail:
	g_free(forced_display);
	if (!r.parked)
		vr_push_error(s->app, transaction, r.code, r.error);
	g_free(r.error);
	g_free(id);
	g_free(rid);
	vr_room_unref(room);
}

static gboolean apply_descriptions(vr_publisher *p, json_t *descs) {
	if (!json_is_array(descs))
		return FALSE;
	size_t i;
	json_t *d;
	gboolean changed = FALSE;
	json_array_foreach(descs, i, d) {
		const char *mid = json_string_value(json_object_get(d, "mid"));
		const char *text = json_string_value(json_object_get(d, "description"));
		for (int k = 0; mid && text && k < p->n_streams; k++)
			if (strcmp(p->streams[k].mid, mid) == 0) {
				g_free(p->streams[k].description);
				p->streams[k].description = g_strdup(text);
				changed = TRUE;
			}
	}
	return changed;
}

static int active_publisher_count(vr_room *room) {
	int n = 0;
	g_mutex_lock(&room->mutex);
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, room->participants);
	while (g_hash_table_iter_next(&it, NULL, &v))
		n += g_atomic_int_get(&((vr_publisher *)v)->publishing) ? 1 : 0;
	g_mutex_unlock(&room->mutex);
	return n;
}

/* publish, and configure with an offer (renegotiation). */
static void do_publish(vr_publisher *p, const char *transaction, json_t *body, json_t *jsep, json_t *joined_ev,
		gboolean renegotiate) {
	vr_room *room = p->room;
	const char *type = json_string_value(json_object_get(jsep, "type"));
	if (type == NULL || g_ascii_strcasecmp(type, "offer") != 0) {
		vr_push_error(p->app, transaction, VR_ERR_INVALID_SDP_TYPE, "Invalid SDP type (publishers send offers)");
		return;
	}
	json_t *ac = json_object_get(body, "audiocodec"), *vc = json_object_get(body, "videocodec");
	json_t *bitrate = json_object_get(body, "bitrate"), *display = json_object_get(body, "display");
	if ((ac && !json_is_string(ac)) || (vc && !json_is_string(vc)) || (bitrate && !json_is_integer(bitrate)) ||
			(display && !json_is_string(display))) {
		vr_push_error(p->app, transaction, VR_ERR_INVALID_ELEMENT,
			"Invalid element type (audiocodec/videocodec/display should be strings, bitrate an integer)");
		return;
	}
	const char *rec_error = NULL;
	int rec_code = vr_recording_configure(p, body, &rec_error);
	if (rec_code) {
		vr_push_error(p->app, transaction, rec_code, rec_error);
		return;
	}
	vr_reply er = { 0 };
	if (!e2ee_ok(room, jsep, &er)) {
		vr_push_error(p->app, transaction, er.code, er.error);
		g_free(er.error);
		return;
	}
	gboolean e2ee = json_is_true(json_object_get(jsep, "e2ee"));
	guint32 asked = bitrate ? capped_bitrate(room, bitrate) : 0;
	g_mutex_lock(&room->mutex);
	vr_props props;
	vr_props_copy(&props, &room->props);
	g_mutex_unlock(&room->mutex);
	if (!renegotiate && active_publisher_count(room) >= props.publishers) {
		char *e = g_strdup_printf("Maximum number of publishers (%" G_GINT64_FORMAT ") already reached", props.publishers);
		vr_push_error(p->app, transaction, VR_ERR_PUBLISHERS_FULL, e);
		g_free(e);
		vr_props_clear(&props);
		return;
	}
	/* A codec asked for must be one of the room's. */
	const char *acodec = props.audiocodec, *vcodec = props.videocodec;
	gchar **al = g_strsplit(props.audiocodec, ",", 0), **vl = g_strsplit(props.videocodec, ",", 0);
	if (ac && g_strv_contains((const gchar *const *)al, json_string_value(ac)))
		acodec = json_string_value(ac);
	if (vc && g_strv_contains((const gchar *const *)vl, json_string_value(vc)))
		vcodec = json_string_value(vc);
	vr_pstream streams[VR_MAX_STREAMS];
	memset(streams, 0, sizeof(streams));
	int n = 0;
	const char *error = NULL;
	char *answer = publisher_answer(json_string_value(json_object_get(jsep, "sdp")), &props, acodec, vcodec,
		streams, &n, &error);
	g_strfreev(al);
	g_strfreev(vl);
	vr_props_clear(&props);
	if (answer == NULL) {
		for (int i = 0; i < VR_MAX_STREAMS; i++)
			pstream_clear(&streams[i]);
		vr_push_error(p->app, transaction, VR_ERR_INVALID_SDP, error);
		return;
	}
	/* Swap the stream table while not publishing (the media thread reads it
	 * without the lock), keeping descriptions of mids that stay. */
	g_atomic_int_set(&p->publishing, 0);
	g_mutex_lock(&p->mutex);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < p->n_streams; k++) {
			if (strcmp(p->streams[k].mid, streams[i].mid) != 0)
				continue;
			if (p->streams[k].description && !streams[i].description)
				streams[i].description = g_strdup(p->streams[k].description);
			/* a renegotiation does not resume a stream paused with send:false */
			streams[i].paused = g_atomic_int_get(&p->streams[k].paused);
		}
	for (int i = 0; i < VR_MAX_STREAMS; i++) {
		pstream_clear(&p->streams[i]);
		p->streams[i] = streams[i];
	}
	p->n_streams = n;
	apply_descriptions(p, json_object_get(body, "descriptions"));
	if (display && !p->display_forced) {
		g_free(p->display);
		p->display = g_strdup(json_string_value(display));
	}
	if (bitrate)
		p->bitrate = asked;
	p->e2ee = e2ee;
	json_t *ev = joined_ev ? json_incref(joined_ev)
		: json_pack("{s:s, s:o, s:s}", "videoroom", "event", "room", vr_id_json(room->id), "configured", "ok");
	codecs_json(p, ev);
	json_object_set_new(ev, "streams", streams_json(p));
	g_mutex_unlock(&p->mutex);
	g_atomic_int_set(&p->publishing, 1);
	json_t *ans = json_pack("{s:s, s:s}", "type", "answer", "sdp", answer);
	if (e2ee)
		json_object_set_new(ans, "e2ee", json_true());  /* as Janus: the answer repeats it */
	if (vr_core->push_event(p->app, &vr_plugin, transaction, ev, ans) < 0) {
		g_atomic_int_set(&p->publishing, 0);
		vr_push_error(p->app, transaction, VR_ERR_INVALID_SDP, "Could not negotiate the PeerConnection");
	} else {
		if (p->bitrate && vr_core->send_remb)
			vr_core->send_remb(p->app, p->bitrate);
		CARDEA_LOG(CARDEA_LOG_INFO, "[videoroom] %s publishes %d stream(s) in room %s", p->id, n, room->id);
		/* As Janus: a recording room records every publisher. */
		g_mutex_lock(&room->mutex);
		gboolean room_records = room->props.record;
		g_mutex_unlock(&room->mutex);
		if (room_records && !renegotiate) {
			g_mutex_lock(&p->mutex);
			p->recording_active = TRUE;
			g_mutex_unlock(&p->mutex);
		}
		vr_recording_sync(p);
		vr_notify(p->app, "published", room->id, p->id, json_pack("{s:i}", "streams", n));
		notify_publishers(p);
	}
	json_decref(ev);
	json_decref(ans);
	g_free(answer);
}

/* Tells every subscriber of p that it is gone and unlinks them. */
static void drop_subscribers(vr_publisher *p) {
	GPtrArray *subs = publisher_subscribers(p);
	for (guint i = 0; i < subs->len; i++)
		vr_subscriber_feed_gone(subs->pdata[i], p);
	g_ptr_array_unref(subs);
	g_mutex_lock(&p->mutex);
	g_ptr_array_set_size(p->links, 0);
	vr_snapshot *old = snapshot_rebuild(p);
	g_ptr_array_set_size(p->forwarders, 0);
	g_mutex_unlock(&p->mutex);
	vr_snapshot_unref(old);
}

void vr_publisher_unpublish(vr_publisher *p, gboolean notify) {
	if (!g_atomic_int_compare_and_exchange(&p->publishing, 1, 0))
		return;
	g_atomic_int_set(&p->talking, 0);
	vr_recording_stop(p);
	drop_subscribers(p);
	vr_notify(p->app, "unpublished", p->room->id, p->id, NULL);
	if (notify) {
		json_t *ev = room_event(p->room, "unpublished", vr_id_json(p->id));
		GPtrArray *apps = vr_room_apps(p->room, p, FALSE);
		vr_apps_push(apps, ev);
		vr_apps_free(apps);
		json_decref(ev);
	}
}

void vr_publisher_leave(vr_publisher *p, const char *reason, gboolean notify_self) {
	vr_room *room = p->room;
	vr_publisher_unpublish(p, TRUE);
	g_mutex_lock(&room->mutex);
	gboolean was = p->joined && g_hash_table_lookup(room->participants, p->id) == p;
	p->joined = FALSE;
	if (was)
		g_hash_table_steal(room->participants, p->id);
	g_mutex_unlock(&room->mutex);
	if (!was)
		return;
	json_t *ev = room_event(room, reason ? "kicked" : "leaving", vr_id_json(p->id));
	GPtrArray *apps = vr_room_apps(room, p, FALSE);
	vr_apps_push(apps, ev);
	vr_apps_free(apps);
	json_decref(ev);
	if (notify_self) {
		json_t *self = room_event(room, "leaving", json_string("ok"));
		if (reason)
			json_object_set_new(self, "reason", json_string(reason));
		vr_push(p->app, NULL, self, NULL);
		json_decref(self);
	}
	CARDEA_LOG(CARDEA_LOG_INFO, "[videoroom] %s left room %s%s", p->id, room->id, reason ? " (kicked)" : "");
	vr_notify(p->app, reason ? "kicked" : "left", room->id, p->id, json_pack("{s:s}", "role", "publisher"));
	vr_publisher_unref(p);      /* the room's ref */
}

/* configure `streams`: [{mid, send, keyframe, min_delay, max_delay}]. 0, or
 * the error code (*text its message) when an entry is malformed (430) or
 * names no stream of p (428). Checked before anything changes. */
static int stream_changes_check(vr_publisher *p, json_t *streams, const char **text) {
	size_t i;
	json_t *e;
	json_array_foreach(streams, i, e) {
		json_t *mid = json_object_get(e, "mid"), *send = json_object_get(e, "send"), *kf = json_object_get(e, "keyframe");
		if (!json_is_object(e) || !json_is_string(mid) || (send && !json_is_boolean(send)) || (kf && !json_is_boolean(kf))) {
			*text = "Invalid element type (streams should be objects with a string mid, boolean send/keyframe)";
			return VR_ERR_INVALID_ELEMENT;
		}
		gboolean found = FALSE;
		g_mutex_lock(&p->mutex);
		for (int k = 0; k < p->n_streams && !found; k++)
			found = !p->streams[k].disabled && strcmp(p->streams[k].mid, json_string_value(mid)) == 0;
		g_mutex_unlock(&p->mutex);
		if (!found) {
			*text = "No such mid in this publisher";
			return VR_ERR_NO_SUCH_FEED;
		}
	}
	return 0;
}

/* Caller holds p->mutex. Applies send/keyframe per mid; fills kf with the
 * mindexes that want a keyframe (resumed ones included: subscribers need
 * one to decode again) and returns how many. A resumed stream rebases its
 * subscribers' rewriters (sim_gen), so their sequence numbers carry on
 * without the gap of what was dropped meanwhile. */
static int apply_stream_changes(vr_publisher *p, json_t *streams, int *kf) {
	int n = 0;
	size_t i;
	json_t *e;
	json_array_foreach(streams, i, e) {
		const char *mid = json_string_value(json_object_get(e, "mid"));
		json_t *send = json_object_get(e, "send");
		for (int k = 0; k < p->n_streams; k++) {
			vr_pstream *ps = &p->streams[k];
			if (ps->disabled || strcmp(ps->mid, mid) != 0)
				continue;
			gboolean want_kf = json_is_true(json_object_get(e, "keyframe"));
			if (send && json_is_true(send) && g_atomic_int_compare_and_exchange(&ps->paused, 1, 0)) {
				for (guint t = 0; t < p->links->len; t++) {
					vr_target *tg = p->links->pdata[t];
					if (tg->pub_mindex == ps->mindex)
						g_atomic_int_inc(&tg->sub->streams[tg->sidx]->sim_gen);
				}
				want_kf = TRUE;
				CARDEA_LOG(CARDEA_LOG_VERB, "[videoroom] %s resumes stream %s", p->id, ps->mid);
			} else if (send && json_is_false(send) && g_atomic_int_compare_and_exchange(&ps->paused, 0, 1)) {
				CARDEA_LOG(CARDEA_LOG_VERB, "[videoroom] %s pauses stream %s", p->id, ps->mid);
			}
			if (want_kf && ps->type == VR_VIDEO && n < VR_MAX_STREAMS)
				kf[n++] = ps->mindex;
		}
	}
	return n;
}

static void do_configure(vr_publisher *p, const char *transaction, json_t *body, json_t *jsep) {
	if (jsep) {
		do_publish(p, transaction, body, jsep, NULL, g_atomic_int_get(&p->publishing));
		return;
	}
	json_t *bitrate = json_object_get(body, "bitrate"), *keyframe = json_object_get(body, "keyframe");
	json_t *display = json_object_get(body, "display"), *streams = json_object_get(body, "streams");
	if ((bitrate && !json_is_integer(bitrate)) || (keyframe && !json_is_boolean(keyframe)) ||
			(display && !json_is_string(display)) || (streams && !json_is_array(streams))) {
		vr_push_error(p->app, transaction, VR_ERR_INVALID_ELEMENT, "Invalid element type (configure)");
		return;
	}
	const char *bad = NULL;
	int code = streams ? stream_changes_check(p, streams, &bad) : 0;
	if (code == 0)
		code = vr_recording_configure(p, body, &bad);
	if (code) {
		vr_push_error(p->app, transaction, code, bad);
		return;
	}
	guint32 asked = bitrate ? capped_bitrate(p->room, bitrate) : 0;
	gboolean changed = FALSE;
	int kf[VR_MAX_STREAMS], nkf = 0;
	g_mutex_lock(&p->mutex);
	if (bitrate)
		p->bitrate = asked;
	if (display && !p->display_forced) {
		g_free(p->display);
		p->display = g_strdup(json_string_value(display));
		changed = TRUE;
	}
	changed |= apply_descriptions(p, json_object_get(body, "descriptions"));
	if (streams)
		nkf = apply_stream_changes(p, streams, kf);
	g_mutex_unlock(&p->mutex);
	if (bitrate && vr_core->send_remb)
		vr_core->send_remb(p->app, p->bitrate);
	if (json_is_true(keyframe))
		vr_publisher_keyframe(p, -1, TRUE);
	for (int i = 0; i < nkf; i++)
		vr_publisher_keyframe(p, kf[i], TRUE);
	json_t *ev = room_event(p->room, "configured", json_string("ok"));
	vr_push(p->app, transaction, ev, NULL);
	json_decref(ev);
	if (changed && g_atomic_int_get(&p->publishing))
		notify_publishers(p);
}

void vr_publisher_handle(vr_session *s, const char *request, const char *transaction, json_t *body, json_t *jsep) {
	gboolean join = strcmp(request, "join") == 0, jac = strcmp(request, "joinandconfigure") == 0;
	vr_publisher *p = session_pub(s);
	if (p == NULL) {
		if (join || jac)
			do_join(s, transaction, body, jsep, jac);
		else
			vr_push_error(s->app, transaction, VR_ERR_JOIN_FIRST, "Join first");
		return;
	}
	gboolean in_room = g_atomic_int_get(&p->room->destroyed) == 0;
	g_mutex_lock(&p->room->mutex);
	in_room = in_room && p->joined;
	g_mutex_unlock(&p->room->mutex);
	if (join || jac) {
		vr_push_error(s->app, transaction, VR_ERR_ALREADY_JOINED, "Already in as a publisher on this handle");
	} else if (g_atomic_int_get(&p->room->destroyed) && strcmp(request, "leave") != 0) {
		vr_push_error(s->app, transaction, VR_ERR_NO_SUCH_ROOM, "No such room");
	} else if (!in_room && strcmp(request, "leave") != 0) {
		vr_push_error(s->app, transaction, VR_ERR_JOIN_FIRST, "Join first (not in a room any more)");
	} else if (strcmp(request, "publish") == 0) {
		if (g_atomic_int_get(&p->publishing))
			vr_push_error(s->app, transaction, VR_ERR_ALREADY_PUBLISHED, "Can't publish, already published");
		else if (jsep == NULL)
			do_configure(p, transaction, body, NULL);   /* Janus answers "configured" and waits for an offer */
		else
			do_publish(p, transaction, body, jsep, NULL, FALSE);
	} else if (strcmp(request, "configure") == 0) {
		do_configure(p, transaction, body, jsep);
	} else if (strcmp(request, "unpublish") == 0) {
		if (!g_atomic_int_get(&p->publishing)) {
			vr_push_error(s->app, transaction, VR_ERR_NOT_PUBLISHED, "Can't unpublish, not published");
		} else {
			vr_publisher_unpublish(p, TRUE);
			json_t *ev = room_event(p->room, "unpublished", json_string("ok"));
			vr_push(s->app, transaction, ev, NULL);
			json_decref(ev);
			vr_core->close_pc(s->app);
		}
	} else if (strcmp(request, "leave") == 0) {
		vr_publisher_leave(p, NULL, FALSE);
		json_t *ev = room_event(p->room, "leaving", json_string("ok"));
		vr_push(s->app, transaction, ev, NULL);
		json_decref(ev);
		g_mutex_lock(&s->mutex);
		vr_publisher *own = s->pub;
		s->pub = NULL;
		s->ptype = VR_PT_NONE;
		g_mutex_unlock(&s->mutex);
		vr_core->close_pc(s->app);
		vr_publisher_unref(own);
	} else {
		vr_push_error(s->app, transaction, VR_ERR_INVALID_REQUEST, "Unknown request for a publisher");
	}
	vr_publisher_unref(p);
}

json_t *vr_publisher_query(vr_publisher *p) {
	json_t *info = json_pack("{s:s, s:o, s:o, s:b, s:i}", "type", "publisher", "room", vr_id_json(p->room->id),
		"id", vr_id_json(p->id), "publishing", g_atomic_int_get(&p->publishing), "bitrate", (json_int_t)p->bitrate);
	g_mutex_lock(&p->mutex);
	json_object_set_new(info, "streams", streams_json(p));
	json_object_set_new(info, "subscribers", json_integer(p->snap ? p->snap->n : 0));
	json_object_set_new(info, "rtp_forwarders", vr_forwarders_json(p));
	json_t *files = json_array();
	for (int i = 0; i < VR_MAX_STREAMS; i++)
		if (p->rec[i])
			json_array_append_new(files, json_string(cardea_recorder_path(p->rec[i])));
	g_mutex_unlock(&p->mutex);
	json_object_set_new(info, "recording", json_boolean(json_array_size(files) > 0));
	if (json_array_size(files) > 0)
		json_object_set_new(info, "recordings", files);
	else
		json_decref(files);
	vr_publisher_set_display(p, info, "display");
	return info;
}
