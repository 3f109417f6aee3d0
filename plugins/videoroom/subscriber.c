/* VideoRoom subscribers: one PeerConnection the gateway offers, carrying
 * streams of any publishers of the room; join, start, pause, configure,
 * update/subscribe/unsubscribe (re-offers), switch, leave; and the relay of
 * one publisher packet to one subscriber stream.
 *
 * Threads: requests on the plugin queue thread; feed_gone on whatever
 * thread ends a publisher; vr_subscriber_relay on the publisher's media
 * loop. A stream's m-line (mindex = position in our offer) never moves:
 * removed streams keep their slot as an inactive m-line and new ones are
 * appended, so the mindex a publisher's snapshot holds stays right.
 */
#include <string.h>
#include "videoroom.h"

static void sstream_clear(vr_sstream *ss) {
	vr_publisher_unref(ss->feed);
	g_free(ss->crossrefid);
	g_free(ss->rtpname);
	g_free(ss->codec);
	g_free(ss->fmtp);
	g_free(ss->svc_sel);
	g_free(ss->e2ee);
	memset(ss, 0, sizeof(*ss));
}

static void subscriber_free(const cardea_refcount *ref) {
	vr_subscriber *sub = cardea_container_of(ref, vr_subscriber, ref);
	for (int i = 0; i < VR_MAX_SUB_STREAMS; i++)
		if (sub->streams[i]) {
			sstream_clear(sub->streams[i]);
			g_free(sub->streams[i]);
		}
	vr_room_unref(sub->room);
	cardea_plugin_session_unref(sub->app);
	g_mutex_clear(&sub->mutex);
	g_free(sub);
}

void vr_subscriber_unref(vr_subscriber *s) {
	if (s)
		cardea_refcount_unref(&s->ref);
}

static const char *type_name(vr_mtype t) {
	return t == VR_AUDIO ? "audio" : t == VR_VIDEO ? "video" : "data";
}

/* ---- media (the feed's media loop) ---- */

/* Applies targets the queue thread changed (sim_gen), like the echotest. */
static void sim_sync(vr_sstream *ss) {
	gint gen = g_atomic_int_get(&ss->sim_gen);
	if (gen == ss->sim_applied && ss->rw_init)
		return;
	ss->sim_applied = gen;
	if (!ss->rw_init) {
		cardea_sim_rewriter_init(&ss->rw, ss->clock ? ss->clock : 90000);
		if (ss->substreams > 1)
			cardea_sim_selector_init(&ss->sel, ss->substreams);
		if (ss->svc && ss->svc_sel == NULL) {
			ss->svc_sel = g_new(cardea_svc_selector, 1);
			cardea_svc_selector_init(ss->svc_sel);
		}
		ss->rw_init = TRUE;
	} else {
		/* A switch or a resume: the next packet starts a new base. */
		cardea_sim_rewriter_rebase(&ss->rw);
	}
	/* Its DD structures and timestamps belong to the feed before a switch. */
	if (ss->e2ee)
		cardea_sim_e2ee_init(ss->e2ee, 0);
	if (ss->substreams > 1) {
		gint st = g_atomic_int_get(&ss->substream_target), tt = g_atomic_int_get(&ss->temporal_target);
		cardea_sim_selector_set_substream(&ss->sel, st >= 0 ? st : ss->substreams - 1);
		cardea_sim_selector_set_temporal(&ss->sel, tt >= 0 ? tt : 2);
		cardea_sim_selector_set_fallback(&ss->sel, g_atomic_int_get(&ss->fallback));
	}
	if (ss->svc_sel) {
		gint st = g_atomic_int_get(&ss->spatial_target), tt = g_atomic_int_get(&ss->temporal_layer_target);
		cardea_svc_selector_set_spatial(ss->svc_sel, st >= 0 ? st : CARDEA_SVC_MAX_SPATIAL - 1);
		cardea_svc_selector_set_temporal(ss->svc_sel, tt >= 0 ? tt : 7);
		cardea_svc_selector_set_fallback(ss->svc_sel, g_atomic_int_get(&ss->fallback));
	}
}

static void layer_event(vr_subscriber *sub, vr_sstream *ss, const char *what, int value) {
	json_t *ev = json_pack("{s:s, s:o, s:s, s:i, s:s?, s:i}", "videoroom", "event", "room", vr_id_json(sub->room->id),
		"mid", ss->mid, "mindex", ss->mindex, "videocodec", cardea_video_codec_name(ss->vcodec), what, value);
	vr_push(sub->app, NULL, ev, NULL);
	json_decref(ev);
}

/* SVC: one event with what changed, as Janus sends it. */
static void svc_event(vr_subscriber *sub, vr_sstream *ss, unsigned r) {
	json_t *ev = json_pack("{s:s, s:o, s:s, s:i, s:s?}", "videoroom", "event", "room", vr_id_json(sub->room->id),
		"mid", ss->mid, "mindex", ss->mindex, "videocodec", cardea_video_codec_name(ss->vcodec));
	if (r & CARDEA_SVC_SPATIAL_CHANGED)
		json_object_set_new(ev, "spatial_layer", json_integer(ss->svc_sel->spatial));
	if (r & CARDEA_SIM_TEMPORAL_CHANGED)
		json_object_set_new(ev, "temporal_layer", json_integer(ss->svc_sel->temporal));
	vr_push(sub->app, NULL, ev, NULL);
	json_decref(ev);
}

void vr_subscriber_relay(vr_subscriber *sub, int sidx, const cardea_rtp_packet *pkt, vr_publisher *src,
		const vr_pstream *ps, gint64 now) {
	if (g_atomic_int_get(&sub->paused) || g_atomic_int_get(&sub->left) || sidx < 0 || sidx >= VR_MAX_SUB_STREAMS)
		return;
	vr_sstream *ss = g_atomic_pointer_get(&sub->streams[sidx]);
	if (ss == NULL || !g_atomic_int_get(&ss->send))
		return;
	uint8_t buf[CARDEA_RTP_PACKET_MAX];
	cardea_rtp_packet out;
	if (!cardea_sim_packet_copy(pkt, buf, sizeof(buf), &out))
		return;
	out.mindex = sidx;
	sim_sync(ss);
	if (ss->substreams > 1 && ps->type == VR_VIDEO) {
		unsigned r;
		if (src->e2ee) {
			/* Encrypted payloads: no keyframe flag to read (svc.h). */
			if (ss->e2ee == NULL) {
				ss->e2ee = g_new(cardea_sim_e2ee, 1);
				cardea_sim_e2ee_init(ss->e2ee, 0);
			}
			ss->e2ee->dd_ext = ps->dd_ext;
			r = cardea_sim_e2ee_forward(ss->e2ee, &ss->sel, &ss->rw, ss->vcodec, &out, now);
		} else {
			r = cardea_sim_forward(&ss->sel, &ss->rw, ss->vcodec, &out, now);
		}
		if (r & CARDEA_SIM_NEED_KEYFRAME)
			vr_core->send_keyframe_request(src->app, pkt->mindex);
		if (r & CARDEA_SIM_SUBSTREAM_CHANGED) {
			g_atomic_int_set(&ss->substream, ss->sel.substream);
			layer_event(sub, ss, "substream", ss->sel.substream);
		}
		if (r & CARDEA_SIM_TEMPORAL_CHANGED) {
			g_atomic_int_set(&ss->temporal, ss->sel.temporal);
			layer_event(sub, ss, "temporal", ss->sel.temporal);
		}
		if (r & CARDEA_SIM_RELAY)
			vr_core->relay_rtp(sub->app, &out);
		return;
	}
	if (ss->svc_sel && ps->type == VR_VIDEO) {
		ss->svc_sel->av1_dd_ext = ps->dd_ext;
		unsigned r = cardea_svc_forward(ss->svc_sel, &ss->rw, ss->vcodec, &out, now);
		/* AV1: the receiver's decoder reads the DD under the id it was
		 * offered; a feed switched to may have sent it under another. */
		if ((r & CARDEA_SIM_RELAY) && ss->vcodec == CARDEA_VIDEO_CODEC_AV1 && ss->dd_ext > 0 &&
				ps->dd_ext != ss->dd_ext && !cardea_svc_rtp_extension_swap(&out, ps->dd_ext, ss->dd_ext))
			r &= ~(unsigned)CARDEA_SIM_RELAY;
		if (r & CARDEA_SIM_NEED_KEYFRAME)
			vr_core->send_keyframe_request(src->app, pkt->mindex);
		if (r & (CARDEA_SVC_SPATIAL_CHANGED | CARDEA_SIM_TEMPORAL_CHANGED)) {
			g_atomic_int_set(&ss->spatial_layer, ss->svc_sel->spatial);
			g_atomic_int_set(&ss->temporal_layer, ss->svc_sel->temporal);
			svc_event(sub, ss, r);
		}
		if (r & CARDEA_SIM_RELAY)
			vr_core->relay_rtp(sub->app, &out);
		return;
	}
	/* One source (a switch rebases through sim_sync): sequence numbers and
	 * timestamps stay continuous across pause/resume and switches. */
	if (cardea_sim_rewriter_rewrite(&ss->rw, &out, 0, ps->type == VR_VIDEO ? ss->vcodec : CARDEA_VIDEO_CODEC_UNKNOWN, now))
		vr_core->relay_rtp(sub->app, &out);
}

void vr_subscriber_relay_data(vr_subscriber *sub, const cardea_data_packet *pkt) {
	if (g_atomic_int_get(&sub->data_ready) && !g_atomic_int_get(&sub->paused) && !g_atomic_int_get(&sub->left))
		vr_core->relay_data(sub->app, pkt);
}

/* mindex < 0: every stream, forced (a new PeerConnection). */
void vr_subscriber_keyframe_request(vr_subscriber *sub, int mindex) {
	vr_publisher *feeds[VR_MAX_SUB_STREAMS];
	int fm[VR_MAX_SUB_STREAMS], n = 0;
	g_mutex_lock(&sub->mutex);
	for (int i = 0; i < sub->n_streams; i++) {
		vr_sstream *ss = sub->streams[i];
		if ((mindex < 0 || i == mindex) && ss->active && ss->feed && ss->type == VR_VIDEO) {
			cardea_refcount_ref(&ss->feed->ref);
			feeds[n] = ss->feed;
			fm[n++] = ss->feed_mindex;
		}
	}
	g_mutex_unlock(&sub->mutex);
	for (int i = 0; i < n; i++) {
		vr_publisher_keyframe(feeds[i], fm[i], mindex < 0);
		vr_publisher_unref(feeds[i]);
	}
}

/* ---- offer ---- */

/* Caller holds sub->mutex. The media description of our offer; the core
 * adds ICE, DTLS, SSRCs and BUNDLE. Publishers' packets are relayed with
 * their own extension ids, which must not be read as ours (the receiver
 * demuxes by SSRC), so the only extension offered is the AV1 Dependency
 * Descriptor of an SVC stream, under the feed's own id: the receiver's AV1
 * depacketizer needs it to tell the layer frames apart. */
static char *build_offer(vr_subscriber *sub) {
	cardea_sdp *sdp = cardea_sdp_new();
	for (int i = 0; i < sub->n_streams; i++) {
		vr_sstream *ss = sub->streams[i];
		cardea_sdp_mline *m = cardea_sdp_mline_add(sdp, ss->type == VR_AUDIO ? CARDEA_SDP_MEDIA_AUDIO :
			ss->type == VR_VIDEO ? CARDEA_SDP_MEDIA_VIDEO : CARDEA_SDP_MEDIA_APPLICATION, NULL);
		m->mid = cardea_sdp_strdup(sdp, ss->mid);
		if (ss->type == VR_DATA)
			continue;
		cardea_sdp_payload *p = cardea_sdp_payload_add(sdp, m, (guint)ss->pt, ss->rtpname, ss->clock, ss->channels);
		if (p && ss->fmtp)
			cardea_sdp_payload_set_fmtp(sdp, p, ss->fmtp);
		m->rtcp_mux = TRUE;
		if (!ss->active) {
			/* A removed stream stays in the BUNDLE as "inactive" rather than
			 * port 0: some clients (aiortc) refuse a port-0 m-line that lacks
			 * ICE credentials, and the slot can be reused later. */
			m->direction = CARDEA_SDP_DIR_INACTIVE;
			continue;
		}
		if (p && ss->type == VR_VIDEO) {
			cardea_sdp_payload_add_fb(sdp, p, "nack", NULL);
			cardea_sdp_payload_add_fb(sdp, p, "nack", "pli");
			cardea_sdp_payload_add_fb(sdp, p, "ccm", "fir");
			cardea_sdp_payload_add_fb(sdp, p, "goog-remb", NULL);
		}
		if (ss->svc && ss->vcodec == CARDEA_VIDEO_CODEC_AV1 && ss->dd_ext > 0)
			cardea_sdp_extmap_add(sdp, m, (guint)ss->dd_ext, CARDEA_AV1_DD_EXT_URI);
		m->direction = CARDEA_SDP_DIR_SENDONLY;
		if (sub->use_msid && ss->feed) {
			char *track = g_strdup_printf("%s-%d", ss->feed->id, ss->feed_mindex);
			cardea_sdp_msid_add(sdp, m, ss->feed->id, track);
			g_free(track);
		}
	}
	char *text = cardea_sdp_write(sdp);
	cardea_sdp_free(sdp);
	return text;
}

/* Caller holds sub->mutex. */
static json_t *streams_json(vr_subscriber *sub) {
	json_t *list = json_array();
	for (int i = 0; i < sub->n_streams; i++) {
		vr_sstream *ss = sub->streams[i];
		json_t *o = json_pack("{s:s, s:b, s:i, s:s, s:b, s:b}", "type", type_name(ss->type), "active", ss->active,
			"mindex", ss->mindex, "mid", ss->mid, "ready", FALSE, "send", g_atomic_int_get(&ss->send));
		if (ss->active && ss->feed) {
			vr_publisher *f = ss->feed;
			json_object_set_new(o, "feed_id", vr_id_json(f->id));
			g_mutex_lock(&f->mutex);
			if (f->display)
				json_object_set_new(o, "feed_display", json_string(f->display));
			for (int k = 0; k < f->n_streams; k++)
				if (f->streams[k].mindex == ss->feed_mindex) {
					json_object_set_new(o, "feed_mid", json_string(f->streams[k].mid));
					if (f->streams[k].description)
						json_object_set_new(o, "feed_description", json_string(f->streams[k].description));
				}
			g_mutex_unlock(&f->mutex);
			if (ss->codec)
				json_object_set_new(o, "codec", json_string(ss->codec));
			if (ss->type == VR_DATA)
				json_object_set_new(o, "sources", json_integer(1));
		}
		if (ss->crossrefid)
			json_object_set_new(o, "crossrefid", json_string(ss->crossrefid));
		if (ss->active && ss->substreams > 1) {
			gint st = g_atomic_int_get(&ss->substream_target), tt = g_atomic_int_get(&ss->temporal_target);
			gint fb = g_atomic_int_get(&ss->fallback);
			json_object_set_new(o, "simulcast", json_pack("{s:i, s:i, s:i, s:i, s:i}",
				"substream", g_atomic_int_get(&ss->substream), "substream-target", st >= 0 ? st : ss->substreams - 1,
				"temporal-layer", g_atomic_int_get(&ss->temporal), "temporal-layer-target", tt >= 0 ? tt : 2,
				"fallback", fb > 0 ? fb : CARDEA_SIM_DEFAULT_FALLBACK_US));
		}
		if (ss->active && ss->svc) {
			gint st = g_atomic_int_get(&ss->spatial_target), tt = g_atomic_int_get(&ss->temporal_layer_target);
			json_object_set_new(o, "svc", json_pack("{s:i, s:i, s:i, s:i}",
				"spatial-layer", g_atomic_int_get(&ss->spatial_layer), "target-spatial-layer", st,
				"temporal-layer", g_atomic_int_get(&ss->temporal_layer), "target-temporal-layer", tt));
		}
		json_array_append_new(list, o);
	}
	return list;
}

/* Sends {videoroom: event_name, room, streams} with a fresh offer. */
static void push_offer(vr_subscriber *sub, const char *transaction, const char *event_name) {
	g_mutex_lock(&sub->mutex);
	gboolean any = FALSE;
	for (int i = 0; i < sub->n_streams; i++)
		any |= sub->streams[i]->active;
	/* Nothing left to send: no offer (a PeerConnection needs one active
	 * m-line); the client learns it from the streams list. */
	char *offer = any ? build_offer(sub) : NULL;
	json_t *ev = json_pack("{s:s, s:o, s:o}", "videoroom", event_name, "room", vr_id_json(sub->room->id),
		"streams", streams_json(sub));
	g_mutex_unlock(&sub->mutex);
	json_t *jsep = offer ? json_pack("{s:s, s:s}", "type", "offer", "sdp", offer) : NULL;
	if (vr_core->push_event(sub->app, &vr_plugin, transaction, ev, jsep) < 0)
		vr_push_error(sub->app, transaction, VR_ERR_UNKNOWN, "Could not create the offer");
	json_decref(ev);
	json_decref(jsep);
	g_free(offer);
}

/* ---- adding and removing streams ---- */

/* spatial_layer / temporal_layer (SVC), when present: integers 0..7. */
static gboolean svc_args_valid(json_t *o, vr_reply *r) {
	const char *keys[] = { "spatial_layer", "temporal_layer" };
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		json_t *v = json_object_get(o, keys[i]);
		if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 7)) {
			vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element (%s should be an integer 0..7)", keys[i]);
			return FALSE;
		}
	}
	return TRUE;
}

/* Adds the streams one `streams` entry asks for (caller holds nothing).
 * Returns the number added, -1 with *r on error. */
static int add_entry(vr_subscriber *sub, json_t *entry, vr_reply *r) {
	if (!json_is_object(entry)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (streams should be an array of objects)");
		return -1;
	}
	if (json_object_get(entry, "feed") == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (feed)");
		return -1;
	}
	char *fid = vr_id_get(entry, "feed", r);
	if (fid == NULL)
		return -1;
	json_t *mid = json_object_get(entry, "mid"), *cref = json_object_get(entry, "crossrefid");
	if ((mid && !json_is_string(mid)) || (cref && !json_is_string(cref))) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (mid/crossrefid should be strings)");
		g_free(fid);
		return -1;
	}
	vr_publisher *feed = vr_publisher_lookup(sub->room, fid);
	if (feed == NULL || !g_atomic_int_get(&feed->publishing)) {
		vr_reply_error(r, VR_ERR_NO_SUCH_FEED, "No such feed (%s)", fid);
		vr_publisher_unref(feed);
		g_free(fid);
		return -1;
	}
	g_free(fid);
	json_t *sst = json_object_get(entry, "substream"), *tmp = json_object_get(entry, "temporal");
	json_t *sl = json_object_get(entry, "spatial_layer"), *tl = json_object_get(entry, "temporal_layer");
	if (!svc_args_valid(entry, r)) {
		vr_publisher_unref(feed);
		return -1;
	}
	/* SVC layer selection needs the payload (VP9) or the Dependency
	 * Descriptor (AV1) to say the layers: AV1 without one is forwarded whole. */
	g_mutex_lock(&sub->room->mutex);
	gboolean room_svc = sub->room->props.video_svc;
	g_mutex_unlock(&sub->room->mutex);
	int added = 0;
	int links[VR_MAX_STREAMS][2], nl = 0;
	/* Copy what we need of the feed's streams first: the lock order is
	 * sub->mutex before pub->mutex, never the other way round. */
	vr_pstream copy[VR_MAX_STREAMS];
	int nc = 0;
	g_mutex_lock(&feed->mutex);
	for (int k = 0; k < feed->n_streams; k++) {
		vr_pstream *ps = &feed->streams[k];
		if (ps->disabled || (mid && strcmp(ps->mid, json_string_value(mid)) != 0))
			continue;
		copy[nc] = *ps;
		copy[nc].rtpname = g_strdup(ps->rtpname);
		copy[nc].codec = g_strdup(ps->codec);
		copy[nc++].fmtp = g_strdup(ps->fmtp);
	}
	g_mutex_unlock(&feed->mutex);
	g_mutex_lock(&sub->mutex);
	for (int k = 0; k < nc; k++) {
		vr_pstream *ps = &copy[k];
		if (sub->n_streams >= VR_MAX_SUB_STREAMS)
			break;
		/* Allocated as streams are added (a subscription rarely has more
		 * than a few): never freed before the subscriber, since a
		 * publisher's snapshot may still name this index. */
		vr_sstream *ss = g_new0(vr_sstream, 1);
		g_atomic_pointer_set(&sub->streams[sub->n_streams], ss);
		ss->used = ss->active = TRUE;
		ss->type = ps->type;
		ss->mindex = sub->n_streams;
		g_snprintf(ss->mid, sizeof(ss->mid), "%d", sub->n_streams);
		ss->crossrefid = g_strdup(json_string_value(cref));
		cardea_refcount_ref(&feed->ref);
		ss->feed = feed;
		ss->feed_mindex = ps->mindex;
		ss->pt = ps->pt;
		ss->rtpname = g_steal_pointer(&ps->rtpname);
		ss->codec = g_steal_pointer(&ps->codec);
		ss->fmtp = g_steal_pointer(&ps->fmtp);
		ss->clock = ps->clock;
		ss->channels = ps->channels;
		ss->vcodec = ps->vcodec;
		ss->substreams = ps->substreams;
		ss->send = 1;
		ss->substream_target = json_is_integer(sst) ? (gint)CLAMP(json_integer_value(sst), 0, 2) : -1;
		ss->temporal_target = json_is_integer(tmp) ? (gint)CLAMP(json_integer_value(tmp), 0, 2) : -1;
		ss->substream = ss->temporal = -1;
		ss->svc = room_svc && ps->svc && ps->substreams <= 1 && (ps->vcodec == CARDEA_VIDEO_CODEC_VP9 ||
			(ps->vcodec == CARDEA_VIDEO_CODEC_AV1 && ps->dd_ext > 0));
		ss->dd_ext = ss->svc && ps->vcodec == CARDEA_VIDEO_CODEC_AV1 ? ps->dd_ext : 0;
		ss->spatial_target = json_is_integer(sl) ? (gint)json_integer_value(sl) : -1;
		ss->temporal_layer_target = json_is_integer(tl) ? (gint)json_integer_value(tl) : -1;
		ss->spatial_layer = ss->temporal_layer = -1;
		links[nl][0] = ss->mindex;
		links[nl++][1] = ps->mindex;
		sub->n_streams++;
		added++;
	}
	g_mutex_unlock(&sub->mutex);
	for (int k = 0; k < nc; k++) {
		g_free(copy[k].rtpname);
		g_free(copy[k].codec);
		g_free(copy[k].fmtp);
	}
	for (int i = 0; i < nl; i++)
		vr_publisher_link(feed, sub, links[i][0], links[i][1]);
	vr_publisher_unref(feed);
	if (added == 0 && mid) {
		vr_reply_error(r, VR_ERR_NO_SUCH_FEED, "No such mid (%s)", json_string_value(mid));
		return -1;
	}
	return added;
}

/* Caller holds nothing. Removes stream i (port 0 in the next offer). */
static void remove_stream(vr_subscriber *sub, int i) {
	g_mutex_lock(&sub->mutex);
	vr_sstream *ss = sub->streams[i];
	vr_publisher *feed = ss->feed;
	ss->feed = NULL;
	ss->active = FALSE;
	g_mutex_unlock(&sub->mutex);
	if (feed) {
		vr_publisher_unlink(feed, sub, i);
		vr_publisher_unref(feed);
	}
}

/* unsubscribe entries: {feed}, {feed, mid} or {sub_mid}. */
static int remove_entry(vr_subscriber *sub, json_t *entry, vr_reply *r) {
	if (!json_is_object(entry)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (streams should be an array of objects)");
		return -1;
	}
	char *fid = json_object_get(entry, "feed") ? vr_id_get(entry, "feed", r) : NULL;
	if (r->code)
		return -1;
	const char *mid = json_string_value(json_object_get(entry, "mid"));
	const char *sub_mid = json_string_value(json_object_get(entry, "sub_mid"));
	if (fid == NULL && sub_mid == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (feed or sub_mid)");
		return -1;
	}
	int idx[VR_MAX_SUB_STREAMS], n = 0;
	g_mutex_lock(&sub->mutex);
	for (int i = 0; i < sub->n_streams; i++) {
		vr_sstream *ss = sub->streams[i];
		if (!ss->active || ss->feed == NULL)
			continue;
		if (sub_mid && strcmp(ss->mid, sub_mid) != 0)
			continue;
		if (fid && strcmp(ss->feed->id, fid) != 0)
			continue;
		if (mid) {
			gboolean same = FALSE;
			g_mutex_lock(&ss->feed->mutex);
			for (int k = 0; k < ss->feed->n_streams; k++)
				same |= ss->feed->streams[k].mindex == ss->feed_mindex && strcmp(ss->feed->streams[k].mid, mid) == 0;
			g_mutex_unlock(&ss->feed->mutex);
			if (!same)
				continue;
		}
		idx[n++] = i;
	}
	g_mutex_unlock(&sub->mutex);
	g_free(fid);
	for (int i = 0; i < n; i++)
		remove_stream(sub, idx[i]);
	return n;
}

void vr_subscriber_feed_gone(vr_subscriber *sub, vr_publisher *pub) {
	int idx[VR_MAX_SUB_STREAMS], n = 0;
	g_mutex_lock(&sub->mutex);
	for (int i = 0; i < sub->n_streams; i++)
		if (sub->streams[i]->active && sub->streams[i]->feed == pub)
			idx[n++] = i;
	g_mutex_unlock(&sub->mutex);
	for (int i = 0; i < n; i++)
		remove_stream(sub, idx[i]);
	/* As Janus 1.1.2: the re-offer (removed m-lines a=inactive) only while
	 * some stream is left; when the last source goes, the subscriber gets
	 * nothing (clients learn it from `unpublished` on their publisher
	 * handle, and may unsubscribe or leave). */
	gboolean any = FALSE;
	g_mutex_lock(&sub->mutex);
	for (int i = 0; i < sub->n_streams; i++)
		any |= sub->streams[i]->active;
	g_mutex_unlock(&sub->mutex);
	if (n > 0 && any && sub->autoupdate && !g_atomic_int_get(&sub->left))
		push_offer(sub, NULL, "updated");
}

/* ---- requests (queue thread) ---- */

static gboolean private_id_valid(vr_room *room, json_t *pvt, vr_reply *r);

/* The auth hook for joining as a subscriber: pin, private_id when required,
 * then the auth module (subscribe permission, rooms). */
static gboolean auth_join_subscriber(vr_session *s, vr_room *room, json_t *body, vr_reply *r) {
	if (!vr_check_pin(room, body, r))
		return FALSE;
	g_mutex_lock(&room->mutex);
	gboolean need = room->props.require_pvtid;
	g_mutex_unlock(&room->mutex);
	json_t *pvt = json_object_get(body, "private_id");
	if (pvt && !json_is_integer(pvt)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (private_id should be an integer)");
		return FALSE;
	}
	if (need && !private_id_valid(room, pvt, r))
		return FALSE;
	json_t *feeds = json_object_get(body, "streams");
	json_t *target = json_pack("{s:O, s:O?}", "room", json_object_get(body, "room"),
		"feeds", feeds ? feeds : json_object_get(body, "feed"));
	json_t *d = vr_auth(s->app, "videoroom.join.subscriber", target, r);
	if (d == NULL)
		return FALSE;
	gboolean ok = cardea_auth_permission(d, "subscribe", true);
	if (!ok)
		vr_reply_error(r, VR_ERR_UNAUTHORIZED, "Unauthorized request (no subscribe permission)");
	json_decref(d);
	return ok;
}

/* A room with require_pvtid: `pvt` must be a publisher's private_id. */
static gboolean private_id_valid(vr_room *room, json_t *pvt, vr_reply *r) {
	if (pvt == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (private_id)");
		return FALSE;
	}
	gboolean ok = FALSE;
	g_mutex_lock(&room->mutex);
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, room->participants);
	while (!ok && g_hash_table_iter_next(&it, NULL, &v))
		ok = ((vr_publisher *)v)->private_id == (guint32)json_integer_value(pvt);
	g_mutex_unlock(&room->mutex);
	if (!ok)
		vr_reply_error(r, VR_ERR_UNAUTHORIZED, "Unauthorized (this room requires a valid private_id)");
	return ok;
}

static gboolean streams_arg(json_t *body, const char *key, gboolean required, vr_reply *r) {
	json_t *s = json_object_get(body, key);
	if (s == NULL) {
		if (required)
			vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (%s)", key);
		return !required;
	}
	if (!json_is_array(s) || json_array_size(s) == 0) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (%s should be a non-empty array)", key);
		return FALSE;
	}
	return TRUE;
}

static void do_join(vr_session *s, const char *transaction, json_t *body) {
	vr_reply r = { 0 };
	vr_room *room = NULL;
	vr_subscriber *sub = NULL;
	char *rid = NULL;
	if (json_object_get(body, "room") == NULL) {
		vr_reply_error(&r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (room)");
		goto fail;
	}
	if ((rid = vr_id_get(body, "room", &r)) == NULL)
		goto fail;
	if ((room = vr_room_lookup(rid)) == NULL) {
		vr_reply_error(&r, VR_ERR_NO_SUCH_ROOM, "No such room (%s)", rid);
		goto fail;
	}
	if (!auth_join_subscriber(s, room, body, &r))
		goto fail;
	json_t *streams = json_object_get(body, "streams"), *legacy = json_object_get(body, "feed");
	json_t *use_msid = json_object_get(body, "use_msid"), *autoupdate = json_object_get(body, "autoupdate");
	if ((use_msid && !json_is_boolean(use_msid)) || (autoupdate && !json_is_boolean(autoupdate))) {
		vr_reply_error(&r, VR_ERR_INVALID_ELEMENT, "Invalid element type (use_msid/autoupdate should be booleans)");
		goto fail;
	}
	if (streams == NULL && legacy == NULL) {
		vr_reply_error(&r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (streams)");
		goto fail;
	}
	if (streams && !streams_arg(body, "streams", TRUE, &r))
		goto fail;
	sub = g_new0(vr_subscriber, 1);
	cardea_refcount_init(&sub->ref, subscriber_free);
	g_mutex_init(&sub->mutex);
	cardea_plugin_session_ref(s->app);
	sub->app = s->app;
	cardea_refcount_ref(&room->ref);
	sub->room = room;
	sub->use_msid = json_is_true(use_msid);
	sub->autoupdate = autoupdate == NULL || json_is_true(autoupdate);
	sub->paused = 1;
	sub->pvt_id = (guint32)json_integer_value(json_object_get(body, "private_id"));
	if (streams) {
		size_t i;
		json_t *e;
		json_array_foreach(streams, i, e)
			if (add_entry(sub, e, &r) < 0)
				break;
	} else {
		add_entry(sub, body, &r);
	}
	if (r.code == 0 && sub->n_streams == 0)
		vr_reply_error(&r, VR_ERR_NO_SUCH_FEED, "No streams to subscribe to");
	if (r.code)
		goto fail;
	g_mutex_lock(&room->mutex);
	gboolean gone = g_atomic_int_get(&room->destroyed);
	if (!gone) {
		cardea_refcount_ref(&sub->ref);
		g_hash_table_insert(room->subscribers, sub, sub);
	}
	g_mutex_unlock(&room->mutex);
	if (gone) {
		vr_reply_error(&r, VR_ERR_NO_SUCH_ROOM, "No such room (%s)", rid);
		goto fail;
	}
	g_mutex_lock(&s->mutex);
	s->ptype = VR_PT_SUBSCRIBER;
	s->sub = sub;       /* the creation ref */
	g_mutex_unlock(&s->mutex);
	CARDEA_LOG(CARDEA_LOG_INFO, "[videoroom] subscriber with %d stream(s) in room %s", sub->n_streams, room->id);
	vr_notify(s->app, "joined", room->id, NULL, json_pack("{s:s, s:i}", "role", "subscriber", "streams", sub->n_streams));
	push_offer(sub, transaction, "attached");
	g_free(rid);
	vr_room_unref(room);
	return;
fail:
	if (!r.parked)
		vr_push_error(s->app, transaction, r.code, r.error);
	if (sub) {
		for (int i = 0; i < sub->n_streams; i++)
			remove_stream(sub, i);
		vr_subscriber_unref(sub);
	}
	g_free(r.error);
	g_free(rid);
	vr_room_unref(room);
}

void vr_subscriber_leave(vr_subscriber *sub) {
	if (!g_atomic_int_compare_and_exchange(&sub->left, 0, 1))
		return;
	for (int i = 0; i < sub->n_streams; i++)
		remove_stream(sub, i);
	vr_room *room = sub->room;
	g_mutex_lock(&room->mutex);
	gboolean was = g_hash_table_steal(room->subscribers, sub);
	g_mutex_unlock(&room->mutex);
	vr_notify(sub->app, "left", room->id, NULL, json_pack("{s:s}", "role", "subscriber"));
	if (was)
		vr_subscriber_unref(sub);
}

static json_t *sub_event(vr_subscriber *sub, const char *key, const char *value) {
	return json_pack("{s:s, s:o, s:s}", "videoroom", "event", "room", vr_id_json(sub->room->id), key, value);
}

static void do_configure(vr_subscriber *sub, const char *transaction, json_t *body) {
	vr_reply r = { 0 };
	json_t *streams = json_object_get(body, "streams");
	if (streams && !streams_arg(body, "streams", FALSE, &r)) {
		vr_push_error(sub->app, transaction, r.code, r.error);
		g_free(r.error);
		return;
	}
	/* Legacy: top-level send/substream/temporal apply to every stream. */
	json_t *all = streams ? NULL : body;
	size_t i;
	json_t *e;
	gboolean svc_ok = all ? svc_args_valid(all, &r) : TRUE;
	json_array_foreach(streams, i, e)
		svc_ok = svc_ok && svc_args_valid(e, &r);
	if (!svc_ok) {
		vr_push_error(sub->app, transaction, r.code, r.error);
		g_free(r.error);
		return;
	}
	int kf[VR_MAX_SUB_STREAMS], nk = 0;
	g_mutex_lock(&sub->mutex);
	for (int k = 0; k < sub->n_streams; k++) {
		vr_sstream *ss = sub->streams[k];
		json_t *match = all;
		json_array_foreach(streams, i, e)
			if (g_strcmp0(json_string_value(json_object_get(e, "mid")), ss->mid) == 0)
				match = e;
		if (match == NULL)
			continue;
		json_t *send = json_object_get(match, "send"), *sst = json_object_get(match, "substream");
		json_t *tmp = json_object_get(match, "temporal"), *fb = json_object_get(match, "fallback");
		if (json_is_boolean(send)) {
			if (json_is_true(send) && !g_atomic_int_get(&ss->send))
				kf[nk++] = k;
			g_atomic_int_set(&ss->send, json_is_true(send));
		}
		if (json_is_integer(sst))
			g_atomic_int_set(&ss->substream_target, (gint)CLAMP(json_integer_value(sst), 0, 2));
		if (json_is_integer(tmp))
			g_atomic_int_set(&ss->temporal_target, (gint)CLAMP(json_integer_value(tmp), 0, 2));
		if (json_is_integer(fb))
			g_atomic_int_set(&ss->fallback, (gint)CLAMP(json_integer_value(fb), 0, G_MAXINT));
		/* SVC targets: only streams whose layers are selected (as Janus,
		 * others ignore them). */
		json_t *sl = json_object_get(match, "spatial_layer"), *tl = json_object_get(match, "temporal_layer");
		gboolean svc_set = ss->svc && (sl || tl);
		if (ss->svc && sl)
			g_atomic_int_set(&ss->spatial_target, (gint)json_integer_value(sl));
		if (ss->svc && tl)
			g_atomic_int_set(&ss->temporal_layer_target, (gint)json_integer_value(tl));
		if (json_is_integer(sst) || json_is_integer(tmp) || json_is_integer(fb) || svc_set)
			g_atomic_int_inc(&ss->sim_gen);
	}
	g_mutex_unlock(&sub->mutex);
	for (int k = 0; k < nk; k++)
		vr_subscriber_keyframe_request(sub, kf[k]);
	json_t *ev = sub_event(sub, "configured", "ok");
	vr_push(sub->app, transaction, ev, NULL);
	json_decref(ev);
}

static void do_update(vr_subscriber *sub, const char *transaction, json_t *body, const char *request) {
	vr_reply r = { 0 };
	gboolean upd = strcmp(request, "update") == 0;
	json_t *add = json_object_get(body, upd ? "subscribe" : strcmp(request, "subscribe") == 0 ? "streams" : NULL);
	json_t *del = json_object_get(body, upd ? "unsubscribe" : strcmp(request, "unsubscribe") == 0 ? "streams" : NULL);
	if (add == NULL && del == NULL) {
		vr_reply_error(&r, VR_ERR_MISSING_ELEMENT, upd ? "Missing mandatory element (subscribe or unsubscribe)"
			: "Missing mandatory element (streams)");
	} else if ((add && (!json_is_array(add) || json_array_size(add) == 0)) ||
			(del && (!json_is_array(del) || json_array_size(del) == 0))) {
		vr_reply_error(&r, VR_ERR_INVALID_ELEMENT, "Invalid element type (streams should be a non-empty array)");
	}
	int changes = 0;
	size_t i;
	json_t *e;
	if (r.code == 0 && del) {
		json_array_foreach(del, i, e) {
			int n = remove_entry(sub, e, &r);
			if (n < 0)
				break;
			changes += n;
		}
	}
	if (r.code == 0 && add) {
		json_array_foreach(add, i, e) {
			int n = add_entry(sub, e, &r);
			if (n < 0)
				break;
			changes += n;
		}
	}
	if (r.code) {
		vr_push_error(sub->app, transaction, r.code, r.error);
		g_free(r.error);
		if (changes == 0)
			return;
	}
	if (changes == 0) {
		json_t *ev = json_pack("{s:s, s:o}", "videoroom", "updated", "room", vr_id_json(sub->room->id));
		vr_push(sub->app, transaction, ev, NULL);
		json_decref(ev);
		return;
	}
	push_offer(sub, r.code ? NULL : transaction, "updated");
}

static void do_switch(vr_subscriber *sub, const char *transaction, json_t *body) {
	vr_reply r = { 0 };
	if (!streams_arg(body, "streams", TRUE, &r)) {
		vr_push_error(sub->app, transaction, r.code, r.error);
		g_free(r.error);
		return;
	}
	int changes = 0;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(body, "streams"), i, e) {
		const char *fmid = json_string_value(json_object_get(e, "mid"));
		const char *smid = json_string_value(json_object_get(e, "sub_mid"));
		char *fid = json_object_get(e, "feed") ? vr_id_get(e, "feed", &r) : NULL;
		if (fid == NULL || fmid == NULL || smid == NULL) {
			if (r.code == 0)
				vr_reply_error(&r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (feed, mid, sub_mid)");
			g_free(fid);
			break;
		}
		vr_publisher *feed = vr_publisher_lookup(sub->room, fid);
		g_free(fid);
		int pidx = -1;
		if (feed && g_atomic_int_get(&feed->publishing)) {
			g_mutex_lock(&feed->mutex);
			for (int k = 0; k < feed->n_streams; k++)
				if (strcmp(feed->streams[k].mid, fmid) == 0 && !feed->streams[k].disabled)
					pidx = k;
			g_mutex_unlock(&feed->mutex);
		}
		if (pidx < 0) {
			vr_reply_error(&r, VR_ERR_NO_SUCH_FEED, "No such feed/mid (%s)", fmid);
			vr_publisher_unref(feed);
			break;
		}
		int sidx = -1;
		g_mutex_lock(&sub->mutex);
		for (int k = 0; k < sub->n_streams; k++)
			if (strcmp(sub->streams[k]->mid, smid) == 0)
				sidx = k;
		/* Same media type and codec only: no renegotiation. */
		gboolean ok = sidx >= 0 && sub->streams[sidx]->type == feed->streams[pidx].type &&
			g_strcmp0(sub->streams[sidx]->codec, feed->streams[pidx].codec) == 0 && sub->streams[sidx]->active;
		vr_publisher *old = NULL;
		if (ok) {
			old = sub->streams[sidx]->feed;
			cardea_refcount_ref(&feed->ref);
			sub->streams[sidx]->feed = feed;
			sub->streams[sidx]->feed_mindex = pidx;
			g_atomic_int_inc(&sub->streams[sidx]->sim_gen);
		}
		g_mutex_unlock(&sub->mutex);
		if (!ok) {
			vr_reply_error(&r, VR_ERR_INVALID_ELEMENT, "Cannot switch %s to %s (no such stream, or another type/codec)",
				smid, fmid);
			vr_publisher_unref(feed);
			break;
		}
		if (old) {
			vr_publisher_unlink(old, sub, sidx);
			vr_publisher_unref(old);
		}
		vr_publisher_link(feed, sub, sidx, pidx);
		vr_publisher_keyframe(feed, pidx, TRUE);
		vr_publisher_unref(feed);
		changes++;
	}
	if (r.code) {
		vr_push_error(sub->app, transaction, r.code, r.error);
		g_free(r.error);
		return;
	}
	g_mutex_lock(&sub->mutex);
	json_t *ev = json_pack("{s:s, s:o, s:s, s:i, s:o}", "videoroom", "event", "room", vr_id_json(sub->room->id),
		"switched", "ok", "changes", changes, "streams", streams_json(sub));
	g_mutex_unlock(&sub->mutex);
	vr_push(sub->app, transaction, ev, NULL);
	json_decref(ev);
}

void vr_subscriber_handle(vr_session *s, const char *request, const char *transaction, json_t *body, json_t *jsep) {
	g_mutex_lock(&s->mutex);
	vr_subscriber *sub = s->sub;
	if (sub)
		cardea_refcount_ref(&sub->ref);
	g_mutex_unlock(&s->mutex);
	if (sub == NULL) {
		if (strcmp(request, "join") == 0)
			do_join(s, transaction, body);
		else
			vr_push_error(s->app, transaction, VR_ERR_JOIN_FIRST, "Join first");
		return;
	}
	if (strcmp(request, "join") == 0 || strcmp(request, "joinandconfigure") == 0) {
		vr_push_error(s->app, transaction, VR_ERR_ALREADY_JOINED, "Already in as a subscriber on this handle");
	} else if (strcmp(request, "start") == 0) {
		if (jsep && g_ascii_strcasecmp(json_string_value(json_object_get(jsep, "type")), "answer") != 0) {
			vr_push_error(s->app, transaction, VR_ERR_INVALID_SDP_TYPE, "Invalid SDP type (subscribers answer)");
		} else {
			g_atomic_int_set(&sub->paused, 0);
			vr_subscriber_keyframe_request(sub, -1);
			json_t *ev = sub_event(sub, "started", "ok");
			vr_push(s->app, transaction, ev, NULL);
			json_decref(ev);
		}
	} else if (strcmp(request, "pause") == 0) {
		g_atomic_int_set(&sub->paused, 1);
		json_t *ev = sub_event(sub, "paused", "ok");
		vr_push(s->app, transaction, ev, NULL);
		json_decref(ev);
	} else if (strcmp(request, "configure") == 0) {
		do_configure(sub, transaction, body);
	} else if (strcmp(request, "update") == 0 || strcmp(request, "subscribe") == 0 ||
			strcmp(request, "unsubscribe") == 0) {
		do_update(sub, transaction, body, request);
	} else if (strcmp(request, "switch") == 0) {
		do_switch(sub, transaction, body);
	} else if (strcmp(request, "leave") == 0) {
		vr_subscriber_leave(sub);
		json_t *ev = sub_event(sub, "left", "ok");
		vr_push(s->app, transaction, ev, NULL);
		json_decref(ev);
		g_mutex_lock(&s->mutex);
		vr_subscriber *own = s->sub;
		s->sub = NULL;
		s->ptype = VR_PT_NONE;
		g_mutex_unlock(&s->mutex);
		vr_core->close_pc(s->app);
		vr_subscriber_unref(own);
	} else {
		vr_push_error(s->app, transaction, VR_ERR_INVALID_REQUEST, "Unknown request for a subscriber");
	}
	vr_subscriber_unref(sub);
}

json_t *vr_subscriber_query(vr_subscriber *sub) {
	json_t *info = json_pack("{s:s, s:o, s:b}", "type", "subscriber", "room", vr_id_json(sub->room->id),
		"paused", g_atomic_int_get(&sub->paused));
	g_mutex_lock(&sub->mutex);
	json_object_set_new(info, "streams", streams_json(sub));
	g_mutex_unlock(&sub->mutex);
	return info;
}
