/* janus.plugin.videocall: media between the two legs of a call.
 *
 * Each user's PeerConnection is its own leg (own ICE, DTLS, SRTP, NACK/RTX,
 * RTCP): the core terminates it. Here a packet from A is handed to B's leg
 * on the same m-line index (the offers mirror each other, see vc-sdp.c);
 * the core rewrites the SSRC and protects it with B's keys.
 *
 * Threads: incoming_rtp, incoming_keyframe_request, setup_media,
 * incoming_data run on the sender's media loop. Both legs may live on
 * different loops: relay_rtp to a handle of another loop is allowed and
 * costs the core one copy and a hand-over (see plugin.h); on the same loop
 * it is free. What a session sends is rewritten (simulcast) by state that
 * only the sender's loop touches (vc_session.fwd); the receiver's layer
 * targets are atomics of the receiver read through its sim_gen.
 *
 * Per packet: media_mutex (uncontended but for call set-up/teardown) to
 * read the peer and take a reference, then relay without any lock held.
 */
#include <string.h>
#include "videocall.h"

void vc_media_set_peer(vc_session *s, vc_session *peer, const vc_fwd_cfg *cfg) {
	if (peer)
		vc_session_ref(peer);
	g_mutex_lock(&s->media_mutex);
	vc_session *old = s->media_peer;
	s->media_peer = peer;
	if (cfg)
		memcpy(s->fwd_cfg, cfg, sizeof(s->fwd_cfg));
	else if (peer == NULL)
		memset(s->fwd_cfg, 0, sizeof(s->fwd_cfg));
	g_atomic_int_inc(&s->cfg_gen);
	g_mutex_unlock(&s->media_mutex);
	if (old)
		vc_session_unref(old);
}

/* The session media goes to, with a ref (vc_session_unref it), or NULL. */
static vc_session *media_peer(vc_session *s) {
	g_mutex_lock(&s->media_mutex);
	vc_session *p = s->media_peer;
	if (p)
		vc_session_ref(p);
	g_mutex_unlock(&s->media_mutex);
	return p;
}

/* Media thread: picks up a new forwarding config or new receiver targets. */
static void fwd_sync(vc_session *s, vc_session *peer) {
	gint gen = g_atomic_int_get(&s->cfg_gen);
	gint pgen = g_atomic_int_get(&peer->sim_gen);
	if (gen == s->cfg_applied && pgen == s->peer_sim_applied)
		return;
	if (gen != s->cfg_applied) {
		vc_fwd_cfg cfg[VC_MAX_MLINES];
		g_mutex_lock(&s->media_mutex);
		memcpy(cfg, s->fwd_cfg, sizeof(cfg));
		g_mutex_unlock(&s->media_mutex);
		for (int i = 0; i < VC_MAX_MLINES; i++) {
			vc_fwd *f = &s->fwd[i];
			f->cfg = cfg[i];
			/* A new negotiation or a new peer: new sequence spaces. */
			cardea_sim_selector_init(&f->sel, MAX(cfg[i].substreams, 1));
			cardea_sim_rewriter_init(&f->rw, 90000);
		}
		s->cfg_applied = gen;
	}
	gint st = g_atomic_int_get(&peer->substream_target), tt = g_atomic_int_get(&peer->temporal_target);
	gint fb = g_atomic_int_get(&peer->fallback);
	for (int i = 0; i < VC_MAX_MLINES; i++) {
		vc_fwd *f = &s->fwd[i];
		if (f->cfg.substreams <= 1)
			continue;
		cardea_sim_selector_set_substream(&f->sel, st >= 0 ? st : f->cfg.substreams - 1);
		cardea_sim_selector_set_temporal(&f->sel, tt >= 0 ? tt : 2);
		cardea_sim_selector_set_fallback(&f->sel, fb);
	}
	s->peer_sim_applied = pgen;
}

static void push_simulcast_event(vc_session *receiver, cardea_video_codec codec, const char *what, int value) {
	json_t *ev = json_pack("{s:s, s:{s:s, s:s?, s:i}}", "videocall", "event", "result",
		"event", "simulcast", "videocodec", cardea_video_codec_name(codec), what, value);
	vc_core->push_event(receiver->app, &vc_plugin, NULL, ev, NULL);
	json_decref(ev);
}

/* One packet of a simulcast m-line: only the receiver's layer goes on, as
 * one continuous stream. */
static void sim_relay(vc_session *s, vc_session *peer, vc_fwd *f, cardea_rtp_packet *packet) {
	unsigned r = cardea_sim_forward(&f->sel, &f->rw, f->cfg.codec, packet, g_get_monotonic_time());
	if (r & CARDEA_SIM_NEED_KEYFRAME)
		vc_core->send_keyframe_request(s->app, packet->mindex);
	if (r & CARDEA_SIM_SUBSTREAM_CHANGED) {
		g_atomic_int_set(&peer->substream, f->sel.substream);
		push_simulcast_event(peer, f->cfg.codec, "substream", f->sel.substream);
	}
	if (r & CARDEA_SIM_TEMPORAL_CHANGED) {
		g_atomic_int_set(&peer->temporal, f->sel.temporal);
		push_simulcast_event(peer, f->cfg.codec, "temporal", f->sel.temporal);
	}
	if (r & CARDEA_SIM_RELAY) {
		s->relayed++;
		vc_core->relay_rtp(peer->app, packet);
	}
}

void vc_incoming_rtp(cardea_plugin_session *app, cardea_rtp_packet *packet) {
	vc_session *s = app->plugin_handle;
	if (s == NULL || packet->mindex < 0 || packet->mindex >= VC_MAX_MLINES)
		return;
	vc_record_rtp(s, packet);
	if (!g_atomic_int_get(packet->video ? &s->video : &s->audio))
		return;
	vc_session *peer = media_peer(s);
	if (peer == NULL)
		return;
	fwd_sync(s, peer);
	vc_fwd *f = &s->fwd[packet->mindex];
	if (!f->cfg.active || packet->pt >= 128 || !(f->cfg.pt_ok[packet->pt / 32] & (1u << (packet->pt % 32)))) {
		/* Not something the other leg negotiated: dropped, not mapped. */
		s->dropped++;
	} else if (f->cfg.substreams > 1) {
		sim_relay(s, peer, f, packet);
	} else {
		s->relayed++;
		vc_core->relay_rtp(peer->app, packet);
	}
	vc_session_unref(peer);
}

void vc_incoming_keyframe_request(cardea_plugin_session *app, int mindex) {
	vc_session *s = app->plugin_handle;
	if (s == NULL)
		return;
	/* What we send on mindex comes from the peer's same m-line. */
	vc_session *peer = media_peer(s);
	if (peer) {
		vc_core->send_keyframe_request(peer->app, mindex);
		vc_session_unref(peer);
	}
}

void vc_media_request_keyframes(vc_session *sender) {
	g_mutex_lock(&sender->media_mutex);
	guint32 video = 0;
	for (int i = 0; i < VC_MAX_MLINES; i++)
		if (sender->fwd_cfg[i].active && sender->fwd_cfg[i].video)
			video |= 1u << i;
	g_mutex_unlock(&sender->media_mutex);
	for (int i = 0; i < VC_MAX_MLINES; i++)
		if (video & (1u << i))
			vc_core->send_keyframe_request(sender->app, i);
}

void vc_setup_media(cardea_plugin_session *app) {
	vc_session *s = app->plugin_handle;
	if (s == NULL)
		return;
	gint bitrate = g_atomic_int_get(&s->bitrate);
	if (bitrate > 0)
		vc_core->send_remb(app, (uint32_t)bitrate);
	/* This side starts decoding now: whatever the peer sends must start
	 * with a keyframe. The peer's m-lines are ours (mirrored). */
	vc_session *peer = media_peer(s);
	if (peer) {
		vc_media_request_keyframes(peer);
		vc_session_unref(peer);
	}
}

void vc_data_ready(cardea_plugin_session *app) {
	CARDEA_LOG(CARDEA_LOG_VERB, "[videocall] data channels ready (session %p)", (void *)app);
}

void vc_incoming_data(cardea_plugin_session *app, cardea_data_packet *packet) {
	vc_session *s = app->plugin_handle;
	if (s == NULL)
		return;
	/* Same label on the other leg: the core opens it there if needed. */
	vc_session *peer = media_peer(s);
	if (peer) {
		vc_core->relay_data(peer->app, packet);
		vc_session_unref(peer);
	}
}
