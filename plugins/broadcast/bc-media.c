/* Broadcast SDP answers and the media fan out.
 *
 * Codec rule: every leg of a channel uses the channel's codecs (VP8 + opus
 * by default), so a new presenter's stream fits the PeerConnections viewers
 * already have; only the payload type numbers may differ between legs, and
 * the fan out writes each viewer's own PT into its copy.
 *
 * Handover: each viewer has one rewriter per kind whose `source` is the
 * presenter generation (times 4, plus the substream for video): a new
 * presenter starts a new base, so viewers see one continuous stream on the
 * SSRC they negotiated, and their selector waits for the new presenter's
 * keyframe (requested at once) before forwarding video.
 */
#include <string.h>
#include "broadcast.h"

/* ---- SDP ---- */

static const char *const feedback[][2] = {
	{ "nack", NULL }, { "nack", "pli" }, { "ccm", "fir" }, { "goog-remb", NULL }, { "transport-cc", NULL },
};

/* The channel's codec in the offered m-line. */
static const cardea_sdp_payload *channel_codec(const cardea_sdp_mline *om, const bc_props *props) {
	if (om->kind == CARDEA_SDP_MEDIA_AUDIO)
		return cardea_sdp_find_codec(om, props->audio_codec, 48000, NULL);
	if (om->kind != CARDEA_SDP_MEDIA_VIDEO)
		return NULL;
	if (g_ascii_strcasecmp(props->video_codec, "h264") == 0) {
		for (guint i = 0; i < om->n_payloads; i++) {
			const cardea_sdp_payload *c = &om->payloads[i];
			if (c->name && g_ascii_strcasecmp(c->name, "H264") == 0 &&
					g_strcmp0(cardea_sdp_payload_param(c, "packetization-mode"), "1") == 0)
				return c;
		}
		return NULL;
	}
	return cardea_sdp_find_codec(om, props->video_codec, 90000, NULL);
}

/* Builds an answer accepting the first audio and the first video m-line in
 * the channel's codecs with direction `dir`; the presenter side also
 * accepts simulcast. */
static char *make_answer(const char *offer_text, const bc_props *props, gboolean presenter, bc_leg *leg,
		const char **error) {
	leg->audio_mindex = leg->video_mindex = -1;
	leg->audio_pt = leg->video_pt = -1;
	leg->vcodec = cardea_video_codec_from_name(props->video_codec);
	leg->substreams = 1;
	if (offer_text == NULL) {
		*error = "Missing SDP";
		return NULL;
	}
	cardea_sdp *offer = cardea_sdp_parse(offer_text, strlen(offer_text), NULL, NULL);
	if (offer == NULL) {
		*error = "Error parsing the offer";
		return NULL;
	}
	cardea_sdp *ans = cardea_sdp_new();
	ans->extmap_allow_mixed = offer->extmap_allow_mixed;
	for (guint i = 0; i < offer->n_mlines; i++) {
		const cardea_sdp_mline *om = offer->mlines[i];
		cardea_sdp_mline *m = cardea_sdp_mline_add(ans, om->kind, om->proto);
		m->media = cardea_sdp_strdup(ans, om->media);
		if (om->mid)
			m->mid = cardea_sdp_strdup(ans, om->mid);
		cardea_sdp_direction od = cardea_sdp_mline_direction(offer, om);
		/* A presenter must send, a viewer must receive. */
		gboolean dir_ok = presenter ? (od == CARDEA_SDP_DIR_SENDONLY || od == CARDEA_SDP_DIR_SENDRECV ||
				od == CARDEA_SDP_DIR_UNSET) :
			(od == CARDEA_SDP_DIR_RECVONLY || od == CARDEA_SDP_DIR_SENDRECV || od == CARDEA_SDP_DIR_UNSET);
		int *slot = om->kind == CARDEA_SDP_MEDIA_AUDIO ? &leg->audio_mindex :
			om->kind == CARDEA_SDP_MEDIA_VIDEO ? &leg->video_mindex : NULL;
		const cardea_sdp_payload *op = NULL;
		if (slot && *slot < 0 && dir_ok && om->rtp && cardea_sdp_mline_is_active(om))
			op = channel_codec(om, props);
		if (op == NULL) {
			cardea_sdp_mline_reject(ans, m, om);
			continue;
		}
		*slot = (int)i;
		if (om->kind == CARDEA_SDP_MEDIA_AUDIO)
			leg->audio_pt = (int)op->pt;
		else
			leg->video_pt = (int)op->pt;
		cardea_sdp_payload *p = cardea_sdp_payload_add(ans, m, op->pt, op->name, op->clock, op->channels);
		if (op->fmtp)
			cardea_sdp_payload_set_fmtp(ans, p, op->fmtp);
		for (guint k = 0; k < G_N_ELEMENTS(feedback); k++)
			if (cardea_sdp_payload_has_fb(om, op, feedback[k][0], feedback[k][1]))
				cardea_sdp_payload_add_fb(ans, p, feedback[k][0], feedback[k][1]);
		const cardea_sdp_payload *orx = cardea_sdp_find_rtx(om, op->pt);
		if (orx && om->kind == CARDEA_SDP_MEDIA_VIDEO) {
			cardea_sdp_payload *rx = cardea_sdp_payload_add(ans, m, orx->pt, orx->name, orx->clock, orx->channels);
			if (rx && orx->fmtp)
				cardea_sdp_payload_set_fmtp(ans, rx, orx->fmtp);
		}
		static const cardea_sdp_ext exts[] = { CARDEA_SDP_EXT_MID, CARDEA_SDP_EXT_TRANSPORT_WIDE_CC,
			CARDEA_SDP_EXT_ABS_SEND_TIME };
		for (guint k = 0; k < G_N_ELEMENTS(exts); k++) {
			guint id = cardea_sdp_find_extmap(om, exts[k]);
			if (id)
				cardea_sdp_extmap_add(ans, m, id, cardea_sdp_ext_uri(exts[k]));
		}
		if (presenter && om->kind == CARDEA_SDP_MEDIA_VIDEO && leg->vcodec != CARDEA_VIDEO_CODEC_UNKNOWN)
			leg->substreams = cardea_sim_sdp_answer(ans, m, om);
		m->direction = presenter ? CARDEA_SDP_DIR_RECVONLY : CARDEA_SDP_DIR_SENDONLY;
		m->rtcp_mux = TRUE;
	}
	cardea_sdp_free(offer);
	char *text = NULL;
	if (leg->audio_mindex >= 0 || leg->video_mindex >= 0)
		text = cardea_sdp_write(ans);
	else
		*error = presenter ? "No audio or video in the channel's codecs to receive in the offer" :
			"No audio or video in the channel's codecs to send in the offer";
	cardea_sdp_free(ans);
	return text;
}

char *bc_presenter_answer(const char *offer, const bc_props *props, bc_leg *leg, const char **error) {
	return make_answer(offer, props, TRUE, leg, error);
}

char *bc_viewer_answer(const char *offer, const bc_props *props, bc_leg *leg, const char **error) {
	return make_answer(offer, props, FALSE, leg, error);
}

/* ---- media ---- */

#define BC_POLICY_US 100000    /* automatic layer choice: at most this often per viewer */

void bc_viewer_reset(bc_session *s) {
	g_mutex_lock(&s->fwd_mutex);
	s->fwd_gen = -1;    /* the next packet re-inits the selector (and the policy) */
	cardea_sim_rewriter_init(&s->vrw, 90000);
	cardea_sim_rewriter_init(&s->arw, 48000);
	g_mutex_unlock(&s->fwd_mutex);
	/* A new PeerConnection: its estimate starts over. */
	g_atomic_int_set(&s->estimate_bps, 0);
}

void bc_presenter_reset(bc_session *s) {
	cardea_bwe_meter_init(&s->meter);
	for (int i = 0; i < CARDEA_BWE_LAYERS; i++)
		g_atomic_int_set(&s->layer_bps[i], 0);
}

void bc_media_estimate(cardea_plugin_session *app, uint32_t bitrate) {
	bc_session *s = app->plugin_handle;
	if (s != NULL)
		g_atomic_int_set(&s->estimate_bps, (gint)MIN(bitrate, (uint32_t)G_MAXINT));
}

json_t *bc_layer_rates_json(bc_session *p) {
	json_t *a = json_array();
	for (int i = 0; i < CARDEA_BWE_LAYERS; i++)
		json_array_append_new(a, json_integer(g_atomic_int_get(&p->layer_bps[i])));
	return a;
}

void bc_request_keyframe(bc_channel *ch) {
	g_mutex_lock(&ch->mutex);
	bc_session *p = ch->presenter;
	if (p)
		bc_session_ref(p);
	g_mutex_unlock(&ch->mutex);
	if (p == NULL)
		return;
	g_mutex_lock(&p->mutex);
	int mindex = p->leg.video_mindex;
	g_mutex_unlock(&p->mutex);
	/* The core merges requests closer than 500 ms per m-line: viewers
	 * joining together cost one PLI, and none of them is left waiting. */
	if (mindex >= 0 && !g_atomic_int_get(&p->app->stopped))
		bc_core->send_keyframe_request(p->app, mindex);
	bc_session_unref(p);
}

/* Layer event to a viewer whose forwarded substream/temporal layer changed;
 * a substream change also says whether it was chosen automatically and from
 * what estimate. */
static void push_layer(bc_session *v, cardea_video_codec codec, const char *what, int value) {
	json_t *ev = json_pack("{s:s, s:s?, s:i}", "broadcast", "event", "videocodec",
		cardea_video_codec_name(codec), what, value);
	if (strcmp(what, "substream") == 0) {
		json_object_set_new(ev, "substream_auto", json_boolean(g_atomic_int_get(&v->substream_target) < 0));
		gint est = g_atomic_int_get(&v->estimate_bps);
		if (est > 0)
			json_object_set_new(ev, "estimate_bps", json_integer(est));
	}
	bc_push(v->app, NULL, ev, NULL);
	json_decref(ev);
}

/* Automatic layer choice for a viewer (fwd_mutex held): the substream its
 * estimate affords, given to the selector, which switches at a keyframe. */
static void auto_layer(bc_session *v, const bc_leg *pleg, const uint32_t *rates, int64_t now) {
	if (pleg->substreams < 2 || g_atomic_int_get(&v->substream_target) >= 0)
		return;
	if (v->policy_us != 0 && now - v->policy_us < BC_POLICY_US)
		return;
	v->policy_us = now;
	uint32_t est = (uint32_t)g_atomic_int_get(&v->estimate_bps);
	int layer = cardea_bwe_policy_choose(&v->policy, rates, pleg->substreams, est, now);
	if (layer != v->sel.substream_target)
		cardea_sim_selector_set_substream(&v->sel, layer);
}

/* One viewer's copy of `packet`; returns what the selector said (for keyframe requests). */
static unsigned forward_one(bc_session *v, const cardea_rtp_packet *packet, const cardea_video_frame_info *fi,
		int gen, const bc_leg *pleg, const uint32_t *rates, int64_t now) {
	if (!g_atomic_int_get(&v->media_up) || g_atomic_int_get(&v->app->stopped))
		return 0;
	uint8_t buf[CARDEA_RTP_PACKET_MAX];
	cardea_rtp_packet out;
	if (!cardea_sim_packet_copy(packet, buf, sizeof(buf), &out))
		return 0;
	unsigned r = 0;
	gboolean send = FALSE;
	int mindex, pt, sub = -1, tmp = -1;
	g_mutex_lock(&v->fwd_mutex);
	mindex = packet->video ? v->leg.video_mindex : v->leg.audio_mindex;
	pt = packet->video ? v->leg.video_pt : v->leg.audio_pt;
	if (mindex < 0 || pt < 0) {
		g_mutex_unlock(&v->fwd_mutex);
		return 0;
	}
	if (v->fwd_gen != gen) {
		/* A new presenter (or a new PeerConnection): start over at its next keyframe. */
		v->fwd_gen = gen;
		cardea_sim_selector_init(&v->sel, pleg->substreams);
		cardea_bwe_policy_init(&v->policy);
		v->policy_us = 0;
		g_atomic_int_set(&v->sel_dirty, 1);
	}
	if (g_atomic_int_compare_and_exchange(&v->sel_dirty, 1, 0)) {
		gint st = g_atomic_int_get(&v->substream_target), tt = g_atomic_int_get(&v->temporal_target);
		/* Automatic: what the policy chose last (it runs again at once). */
		cardea_sim_selector_set_substream(&v->sel, st >= 0 ? st :
			v->policy.layer >= 0 ? v->policy.layer : pleg->substreams - 1);
		cardea_sim_selector_set_temporal(&v->sel, tt >= 0 ? tt : 2);
		v->policy_us = 0;
	}
	if (packet->video) {
		auto_layer(v, pleg, rates, now);
		r = cardea_sim_selector_process(&v->sel, &out, fi, now);
		if (r & CARDEA_SIM_RELAY)
			send = cardea_sim_rewriter_rewrite(&v->vrw, &out, gen * 4 + out.substream, pleg->vcodec, now);
		else if (r & CARDEA_SIM_SKIPPED)
			cardea_sim_rewriter_skip(&v->vrw, &out, gen * 4 + out.substream);
		if (pleg->substreams > 1 && (r & CARDEA_SIM_SUBSTREAM_CHANGED))
			sub = v->sel.substream;
		if (r & CARDEA_SIM_TEMPORAL_CHANGED)
			tmp = v->sel.temporal;
	} else {
		send = cardea_sim_rewriter_rewrite(&v->arw, &out, gen, CARDEA_VIDEO_CODEC_UNKNOWN, now);
	}
	if (send)
		v->relayed++;
	g_mutex_unlock(&v->fwd_mutex);
	if (send) {
		/* The viewer's own m-line and payload type (legs may number differently). */
		out.mindex = mindex;
		out.pt = (uint8_t)pt;
		out.buffer[1] = (uint8_t)((out.buffer[1] & 0x80) | (pt & 0x7f));
		bc_core->relay_rtp(v->app, &out);
	}
	if (sub >= 0)
		push_layer(v, pleg->vcodec, "substream", sub);
	if (tmp >= 0 && pleg->substreams > 1)
		push_layer(v, pleg->vcodec, "temporal", tmp);
	return r;
}

/* Presenter media thread. */
void bc_media_incoming_rtp(cardea_plugin_session *app, cardea_rtp_packet *packet) {
	bc_session *p = app->plugin_handle;
	if (p == NULL)
		return;
	g_mutex_lock(&p->mutex);
	bc_channel *ch = p->role == BC_ROLE_PRESENTER ? p->channel : NULL;
	if (ch)
		cardea_refcount_ref(&ch->ref);
	int gen = p->gen;
	bc_leg leg = p->leg;
	g_mutex_unlock(&p->mutex);
	if (ch == NULL)
		return;
	if (packet->mindex != (packet->video ? leg.video_mindex : leg.audio_mindex)) {
		bc_channel_unref(ch);
		return;
	}
	/* What each substream costs (whole packets: what a viewer receives). */
	int64_t now = g_get_monotonic_time();
	if (packet->video && cardea_bwe_meter_add(&p->meter, packet->substream, packet->length, now))
		for (int i = 0; i < CARDEA_BWE_LAYERS; i++)
			g_atomic_int_set(&p->layer_bps[i], (gint)MIN(p->meter.rate_bps[i], (uint32_t)G_MAXINT));
	g_mutex_lock(&ch->mutex);
	bc_snap *snap = ch->presenter == p && ch->snap ? ch->snap : NULL;
	if (snap)
		cardea_refcount_ref(&snap->ref);
	g_mutex_unlock(&ch->mutex);
	bc_channel_unref(ch);
	if (snap == NULL)
		return;
	cardea_video_frame_info fi;
	gboolean parsed = packet->video && cardea_video_parse_rtp(leg.vcodec, packet, &fi);
	unsigned need = 0;
	for (guint i = 0; i < snap->n; i++)
		need |= forward_one(snap->v[i], packet, parsed ? &fi : NULL, gen, &leg, p->meter.rate_bps, now);
	bc_snap_unref(snap);
	if (need & CARDEA_SIM_NEED_KEYFRAME)
		bc_core->send_keyframe_request(app, leg.video_mindex);
}

/* ---- gateway offers (watch without a jsep) ---- */

/* A viewer offer: audio (opus) then video (the channel's codec), both
 * sendonly; the core adds ICE, DTLS, BUNDLE and SSRCs. */
char *bc_viewer_offer(const bc_props *props, bc_leg *leg) {
	cardea_sdp *sdp = cardea_sdp_new();
	cardea_video_codec vc = cardea_video_codec_from_name(props->video_codec);
	leg->vcodec = vc;
	leg->substreams = 1;
	for (int i = 0; i < 2; i++) {
		gboolean video = i == 1;
		cardea_sdp_mline *m = cardea_sdp_mline_add(sdp, video ? CARDEA_SDP_MEDIA_VIDEO : CARDEA_SDP_MEDIA_AUDIO, NULL);
		m->mid = cardea_sdp_strdup_printf(sdp, "%d", i);
		cardea_sdp_payload *p;
		if (!video) {
			p = cardea_sdp_payload_add(sdp, m, 111, "opus", 48000, 2);
			cardea_sdp_payload_set_fmtp(sdp, p, "minptime=10;useinbandfec=1");
			leg->audio_mindex = 0;
			leg->audio_pt = 111;
		} else {
			static const struct { cardea_video_codec c; guint pt; const char *name; const char *fmtp; } table[] = {
				{ CARDEA_VIDEO_CODEC_VP8, 96, "VP8", NULL },
				{ CARDEA_VIDEO_CODEC_VP9, 98, "VP9", "profile-id=0" },
				{ CARDEA_VIDEO_CODEC_H264, 102, "H264",
					"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" },
				{ CARDEA_VIDEO_CODEC_AV1, 45, "AV1", NULL },
			};
			guint k = 0;
			while (k < G_N_ELEMENTS(table) - 1 && table[k].c != vc)
				k++;
			p = cardea_sdp_payload_add(sdp, m, table[k].pt, table[k].name, 90000, 0);
			if (table[k].fmtp)
				cardea_sdp_payload_set_fmtp(sdp, p, table[k].fmtp);
			for (guint f = 0; f < G_N_ELEMENTS(feedback); f++)
				cardea_sdp_payload_add_fb(sdp, p, feedback[f][0], feedback[f][1]);
			leg->video_mindex = 1;
			leg->video_pt = (int)table[k].pt;
		}
		cardea_sdp_extmap_add(sdp, m, 1, cardea_sdp_ext_uri(CARDEA_SDP_EXT_MID));
		cardea_sdp_extmap_add(sdp, m, 3, cardea_sdp_ext_uri(CARDEA_SDP_EXT_TRANSPORT_WIDE_CC));
		m->direction = CARDEA_SDP_DIR_SENDONLY;
		m->rtcp_mux = TRUE;
	}
	char *text = cardea_sdp_write(sdp);
	cardea_sdp_free(sdp);
	return text;
}

/* The viewer's answer to bc_viewer_offer (already applied by the core):
 * m-lines it rejected or will not receive are dropped from the leg. False
 * when nothing is left. */
gboolean bc_viewer_apply_answer(const char *answer, bc_leg *leg) {
	cardea_sdp *sdp = answer ? cardea_sdp_parse(answer, strlen(answer), NULL, NULL) : NULL;
	if (sdp == NULL)
		return FALSE;
	int *mindex[2] = { &leg->audio_mindex, &leg->video_mindex };
	for (int i = 0; i < 2; i++) {
		const cardea_sdp_mline *m = *mindex[i] >= 0 && (guint)*mindex[i] < sdp->n_mlines ? sdp->mlines[*mindex[i]] : NULL;
		cardea_sdp_direction d = m ? cardea_sdp_mline_direction(sdp, m) : CARDEA_SDP_DIR_INACTIVE;
		if (m == NULL || !cardea_sdp_mline_is_active(m) || d == CARDEA_SDP_DIR_SENDONLY || d == CARDEA_SDP_DIR_INACTIVE)
			*mindex[i] = -1;
	}
	cardea_sdp_free(sdp);
	if (leg->audio_mindex < 0)
		leg->audio_pt = -1;
	if (leg->video_mindex < 0)
		leg->video_pt = -1;
	return leg->audio_mindex >= 0 || leg->video_mindex >= 0;
}
