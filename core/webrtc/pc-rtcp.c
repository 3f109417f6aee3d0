/* Per-leg RTCP feedback (see pc-rtcp.h for ownership and threads).
 *
 * What the core terminates for each PeerConnection:
 *  - receiving: gaps in the peer's streams are NACKed (at once, then retried
 *    from the tick), RTX from the peer is unwrapped before the plugin sees
 *    it, transport-wide seqs are fed back every twcc_period, REMB carries the
 *    plugin's cap, `media` events follow the no_media_timer and `slowlink`
 *    the NACK counts;
 *  - sending: every packet we send is kept (preallocated slots) so the
 *    peer's NACKs are answered, as RTX when we announced an RTX SSRC, plain
 *    otherwise; our own transport-wide seq and abs-send-time are written on
 *    the way out; keyframe requests to the peer are rate-limited.
 * All packet work uses pc->scratch or the stack: nothing here allocates per
 * packet.
 */
#include "webrtc/pc-priv.h"

#define TICK_MIN_MS 10
#define TICK_MAX_MS 50
#define NACK_BATCH 64                  /* seqs per NACK packet we send */
#define NACK_IN_MAX 256                /* seqs taken from one NACK the peer sends */
#define FEEDBACK_MAX_BYTES 1200        /* keep feedback packets under a safe MTU */
#define REMB_PERIOD_US G_USEC_PER_SEC
#define REMB_UNCAPPED 10000000         /* bps told to the peer when the cap goes away */
#define WINDOW_US G_USEC_PER_SEC       /* slowlink counting window */
#define HISTORY_SLOTS_VIDEO 256
#define HISTORY_SLOTS_AUDIO 64
#define HISTORY_VIDEO_START (64 * 1024)  /* bytes of video ring at first (nack.h) */
/* Retransmission history kept at least this long (the slots bound it, and the
 * ring grows to it: nack.h). */
#define HISTORY_MIN_AGE_US (2 * G_USEC_PER_SEC)

/* Media settings are read at every use: the Admin API may change them
 * (settings.h "admin-mutable"), hence the atomic read. */
static gint setting(gint *field) {
	return g_atomic_int_get(field);
}

static cardea_srtp *srtp_of(cardea_pc *pc) {
	return pc->dtls ? cardea_dtls_get_srtp(pc->dtls) : NULL;
}

static gboolean live(cardea_pc *pc) {
	return pc->up && g_atomic_int_get(&pc->active) && pc->ice != NULL && srtp_of(pc) != NULL;
}

static guint32 sender_ssrc(const pc_media *m) {
	return m->local_ssrc ? m->local_ssrc : 1;
}

/* The RTT to use for m: its own, else the largest any m-line learned (an
 * m-line we only receive on has no SR of ours to measure with). */
static gint64 rtt_for(cardea_pc *pc, const pc_media *m) {
	if (m->rtt_us > 0)
		return m->rtt_us;
	gint64 best = 0;
	for (int i = 0; i < (int)pc->n_media; i++)
		best = MAX(best, pc->media[i].rtt_us);
	return best;
}

/* A compound in pc->scratch, for feedback packets. */
static void builder_start(cardea_pc *pc, cardea_rtcp_builder *b, guint32 sender) {
	cardea_rtcp_builder_init(b, pc->scratch, FEEDBACK_MAX_BYTES, sender, FALSE);
}

static gboolean send_rtcp(cardea_pc *pc, cardea_rtcp_builder *b) {
	gsize len = cardea_rtcp_builder_finish(b);
	cardea_srtp *srtp = srtp_of(pc);
	if (len == 0 || srtp == NULL || pc->ice == NULL)
		return FALSE;
	if (cardea_srtp_protect_rtcp(srtp, pc->scratch, &len, sizeof(pc->scratch)) != CARDEA_SRTP_OK)
		return FALSE;
	return cardea_ice_send(pc->ice, pc->scratch, len) > 0;
}

/* ---- events ---- */

static void media_event(cardea_pc *pc, const pc_media *m, gboolean receiving, gint timer) {
	cardea_handle *h = pc->handle;
	json_t *ev = cardea_handle_event_new(h, "media");
	json_object_set_new(ev, "mid", json_string(m->mid));
	json_object_set_new(ev, "type", json_string(m->video ? "video" : "audio"));
	json_object_set_new(ev, "receiving", json_boolean(receiving));
	if (!receiving && timer > 1)
		json_object_set_new(ev, "seconds", json_integer(timer));
	cardea_session_send_event(h->session, ev);
}

static void slowlink_event(cardea_pc *pc, const pc_media *m, gboolean uplink, guint lost) {
	cardea_handle *h = pc->handle;
	json_t *ev = cardea_handle_event_new(h, "slowlink");
	json_object_set_new(ev, "mid", json_string(m->mid));
	json_object_set_new(ev, "media", json_string(m->video ? "video" : "audio"));
	json_object_set_new(ev, "uplink", json_boolean(uplink));
	json_object_set_new(ev, "lost", json_integer(lost));
	cardea_session_send_event(h->session, ev);
	CARDEA_LOG(CARDEA_LOG_VERB, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] slowlink on mid %s (%s, %u lost)",
		pc->sid, pc->hid, m->mid, uplink ? "uplink" : "downlink", lost);
}

/* ---- sending feedback ---- */

/* Everything the tracker says is due now, in NACK_BATCH packets. */
static void send_nacks(cardea_pc *pc, pc_media *m, gint64 now) {
	pc_rtcp_media *f = &m->fb;
	if (!f->nack || f->tracker == NULL || m->remote_ssrc == 0 || !live(pc))
		return;
	guint16 seqs[NACK_BATCH];
	gint64 rtt = rtt_for(pc, m);
	for (int round = 0; round < CARDEA_NACK_MAX_MISSING / NACK_BATCH; round++) {
		size_t n = cardea_nack_tracker_due(f->tracker, now, rtt, seqs, NACK_BATCH);
		if (n == 0)
			break;
		cardea_rtcp_builder b;
		builder_start(pc, &b, sender_ssrc(m));
		cardea_rtcp_builder_commit(&b, cardea_rtcp_write_nack(cardea_rtcp_builder_tail(&b),
			cardea_rtcp_builder_room(&b), sender_ssrc(m), m->remote_ssrc, seqs, n));
		if (send_rtcp(pc, &b)) {
			f->nacks_out += n;
			f->nack_packets_out++;
		}
	}
}

static void send_keyframe_now(cardea_pc *pc, pc_media *m) {
	pc_rtcp_media *f = &m->fb;
	if (m->remote_ssrc == 0 || !live(pc))
		return;
	/* FIR only for a peer that negotiated it and not PLI. */
	gboolean fir = f->fir && !f->pli;
	cardea_rtcp_builder b;
	builder_start(pc, &b, sender_ssrc(m));
	if (fir)
		cardea_rtcp_builder_commit(&b, cardea_rtcp_write_fir(cardea_rtcp_builder_tail(&b),
			cardea_rtcp_builder_room(&b), sender_ssrc(m), m->remote_ssrc,
			cardea_keyframe_limiter_next_fir_seq(&f->kf)));
	else
		cardea_rtcp_builder_commit(&b, cardea_rtcp_write_pli(cardea_rtcp_builder_tail(&b),
			cardea_rtcp_builder_room(&b), sender_ssrc(m), m->remote_ssrc));
	if (send_rtcp(pc, &b)) {
		m->keyframe_requests_out++;
		if (fir)
			f->firs_out++;
		else
			f->plis_out++;
	}
}

static void ensure_limiter(pc_rtcp_media *f) {
	if (!f->kf_init) {
		cardea_keyframe_limiter_init(&f->kf, CARDEA_PC_KEYFRAME_INTERVAL_US);
		f->kf_init = TRUE;
	}
}

void cardea_pc_rtcp_request_keyframe(cardea_pc *pc, int mi) {
	if (mi < 0 || mi >= (int)pc->n_media || !live(pc))
		return;
	pc_media *m = &pc->media[mi];
	if (!m->present || m->remote_ssrc == 0)
		return;
	ensure_limiter(&m->fb);
	if (cardea_keyframe_limiter_request(&m->fb.kf, g_get_monotonic_time()))
		send_keyframe_now(pc, m);
}

/* The cap the peer is told: the plugin's, lowered to the max_bitrate the
 * auth module gave this handle (docs/auth.md), whichever is set. */
static guint32 remb_effective(const cardea_pc *pc) {
	guint32 plugin = pc->fb.remb_cap, auth = pc->fb.auth_cap;
	return plugin && auth ? MIN(plugin, auth) : (plugin ? plugin : auth);
}

/* One REMB listing the peer's main SSRC on every m-line that negotiated
 * goog-remb; the bitrate is the effective cap. */
static void send_remb_now(cardea_pc *pc, gint64 now) {
	guint64 bitrate = remb_effective(pc) ? remb_effective(pc) : (pc->fb.remb_lift ? REMB_UNCAPPED : 0);
	if (bitrate == 0 || !live(pc))
		return;
	guint32 ssrcs[PC_MAX_MLINES];
	size_t n = 0;
	guint32 me = 0;
	for (int i = 0; i < (int)pc->n_media; i++) {
		pc_media *m = &pc->media[i];
		if (!m->present || !m->active || !m->fb.remb || m->remote_ssrc == 0)
			continue;
		if (me == 0)
			me = sender_ssrc(m);
		ssrcs[n++] = m->remote_ssrc;
	}
	if (n == 0)
		return;
	cardea_rtcp_builder b;
	builder_start(pc, &b, me);
	cardea_rtcp_builder_commit(&b, cardea_rtcp_write_remb(cardea_rtcp_builder_tail(&b),
		cardea_rtcp_builder_room(&b), me, bitrate, ssrcs, n));
	if (send_rtcp(pc, &b)) {
		pc->fb.remb_out++;
		pc->fb.last_remb_us = now;
		pc->fb.remb_lift = FALSE;
	}
}

/* Feedback for every transport-wide seq that arrived since the last one
 * (several packets when it does not fit in one). */
static void send_twcc(cardea_pc *pc) {
	pc_media *m = NULL;
	for (int i = 0; i < (int)pc->n_media && m == NULL; i++)
		if (pc->media[i].present && pc->media[i].active && pc->media[i].fb.twcc)
			m = &pc->media[i];
	if (m == NULL || pc->fb.twcc == NULL || !live(pc))
		return;
	/* libwebrtc reads these packets transport-wide: the media SSRC is only a
	 * label, the peer's main SSRC of the first such m-line. */
	for (int k = 0; k < 8; k++) {
		cardea_rtcp_builder b;
		builder_start(pc, &b, sender_ssrc(m));
		size_t n = cardea_twcc_recorder_build(pc->fb.twcc, sender_ssrc(m), m->remote_ssrc,
			cardea_rtcp_builder_tail(&b), cardea_rtcp_builder_room(&b));
		if (n == 0)
			break;
		cardea_rtcp_builder_commit(&b, n);
		if (send_rtcp(pc, &b))
			pc->fb.twcc_feedback_out++;
	}
}

/* ---- the tick ---- */

static void window_end(cardea_pc *pc, pc_media *m, gint threshold) {
	pc_rtcp_media *f = &m->fb;
	if (threshold > 0 && f->window_lost_in >= (guint)threshold) {
		f->slowlinks++;
		slowlink_event(pc, m, TRUE, f->window_lost_in);
	}
	if (threshold > 0 && f->window_nacked_in >= (guint)threshold) {
		f->slowlinks++;
		slowlink_event(pc, m, FALSE, f->window_nacked_in);
	}
	f->window_lost_in = f->window_nacked_in = 0;
}

static void loss_episode_tick(cardea_pc *pc, pc_media *m, int mi, gint64 now);

static gboolean tick(gpointer data) {
	cardea_pc *pc = data;
	if (!live(pc))
		return G_SOURCE_CONTINUE;
	gint64 now = g_get_monotonic_time();
	gint64 twcc_period = (gint64)MAX(setting(&cardea_gw->settings.twcc_period), 1) * 1000;
	if (pc->fb.twcc && now - pc->fb.last_twcc_us >= twcc_period - 1000) {
		pc->fb.last_twcc_us = now;
		send_twcc(pc);
	}
	gint timer = setting(&cardea_gw->settings.no_media_timer);
	gint threshold = setting(&cardea_gw->settings.slowlink_threshold);
	gint64 queue_us = (gint64)setting(&cardea_gw->settings.min_nack_queue) * 1000;
	gboolean window = now - pc->fb.last_window_us >= WINDOW_US;
	for (int i = 0; i < (int)pc->n_media && live(pc); i++) {
		pc_media *m = &pc->media[i];
		pc_rtcp_media *f = &m->fb;
		if (!m->present || !m->active)
			continue;
		send_nacks(pc, m, now);
		if (f->tracker && cardea_nack_tracker_take_keyframe_request(f->tracker) && m->video)
			cardea_pc_rtcp_request_keyframe(pc, i);
		if (f->kf_init && cardea_keyframe_limiter_poll(&f->kf, now))
			send_keyframe_now(pc, m);
		if (f->history)
			loss_episode_tick(pc, m, i, now);
		if (f->history) {
			/* The ring grows to hold this much of the stream (up to
			 * its slots), so the age costs memory at high bitrates: it
			 * has to outlast the receiver's repair rounds. Each
			 * round costs an RTT plus the receiver's wait for its next
			 * NACK (aiortc re-NACKs only on its next gap), and under heavy
			 * loss half the rounds fail: a 5 RTT limit (260 ms at 50 ms
			 * RTT) left holes unanswerable that aiortc's 128-packet jitter
			 * buffer then waited ~2 s on (tests/integration/test_netem.py).
			 * min_nack_queue and 5 RTT stay floors for long RTTs. */
			f->history->max_age_us = MAX(MAX(queue_us > 0 ? queue_us : CARDEA_RTX_DEFAULT_MAX_AGE_US,
				5 * rtt_for(pc, m)), HISTORY_MIN_AGE_US);
		}
		if (f->receiving && timer > 0 && now - f->last_rtp_us >= (gint64)timer * G_USEC_PER_SEC) {
			f->receiving = FALSE;
			media_event(pc, m, FALSE, timer);
		}
		if (window)
			window_end(pc, m, threshold);
	}
	if (window)
		pc->fb.last_window_us = now;
	guint32 auth = (guint32)g_atomic_int_get(&pc->handle->auth_max_bitrate);
	if (auth != pc->fb.auth_cap) {
		/* A decision arrived (any thread): enforce it now, not at the next period. */
		pc->fb.remb_lift = auth == 0 && pc->fb.remb_cap == 0;
		pc->fb.auth_cap = auth;
		send_remb_now(pc, now);
	} else if (remb_effective(pc) && now - pc->fb.last_remb_us >= REMB_PERIOD_US) {
		send_remb_now(pc, now);
	}
	return G_SOURCE_CONTINUE;
}

/* ---- lifecycle ---- */

void cardea_pc_rtcp_start(cardea_pc *pc) {
	if (pc->fb.tick)
		return;
	gint period = setting(&cardea_gw->settings.twcc_period);
	pc->fb.tick = cardea_loop_tick_add(pc->loop->context, (guint)CLAMP(period, TICK_MIN_MS, TICK_MAX_MS), tick, pc);
}

void cardea_pc_rtcp_free(cardea_pc *pc) {
	for (int i = 0; i < (int)pc->n_media; i++) {
		pc_rtcp_media *f = &pc->media[i].fb;
		g_clear_pointer(&f->tracker, g_free);
		if (f->history) {
			cardea_rtx_buffer_free(f->history);
			g_clear_pointer(&f->history, g_free);
		}
	}
	g_clear_pointer(&pc->fb.twcc, g_free);
	g_clear_pointer(&pc->fb.bwe, g_free);
}

void cardea_pc_rtcp_stop(cardea_pc *pc) {
	cardea_loop_tick_remove(pc->fb.tick);
	cardea_pc_rtcp_free(pc);
	/* Counters per m-line stay for handle_info until the next negotiation
	 * clears pc->media; the transport-wide state goes with the transport. */
	memset(&pc->fb, 0, sizeof(pc->fb));
	for (int i = 0; i < (int)pc->n_media; i++)
		pc->media[i].fb.receiving = FALSE;
}

/* ---- negotiation ---- */

static gboolean fb_in(const cardea_sdp_rtcp_fb *list, guint n, const char *type, const char *param) {
	for (guint k = 0; k < n; k++) {
		if (list[k].type == NULL || g_ascii_strcasecmp(list[k].type, type) != 0)
			continue;
		if (param == NULL ? list[k].param == NULL
				: (list[k].param != NULL && g_ascii_strcasecmp(list[k].param, param) == 0))
			return TRUE;
	}
	return FALSE;
}

static gboolean fb_has(const cardea_sdp_mline *m, const cardea_sdp_payload *p, const char *type, const char *param) {
	return fb_in(p->fb, p->n_fb, type, param) || fb_in(m->fb_all, m->n_fb_all, type, param);
}

void cardea_pc_rtcp_answer_mline(cardea_sdp *sdp, cardea_sdp_mline *m, pc_media *lm, guint32 rtx_ssrc) {
	pc_rtcp_media *f = &lm->fb;
	memset(f, 0, sizeof(*f));
	for (guint k = 0; k < m->n_payloads; k++) {
		const cardea_sdp_payload *p = &m->payloads[k];
		const char *name = cardea_sdp_payload_name(p);
		if (name && g_ascii_strcasecmp(name, "rtx") == 0) {
			if (p->apt >= 0 && p->apt < 128 && p->pt < 128 && f->n_rtx < PC_RTCP_MAX_RTX) {
				f->rtx_pt[f->n_rtx] = (guint8)p->pt;
				f->rtx_apt[f->n_rtx] = (guint8)p->apt;
				f->n_rtx++;
			}
			continue;
		}
		f->nack |= fb_has(m, p, "nack", NULL);
		f->pli |= fb_has(m, p, "nack", "pli");
		f->fir |= fb_has(m, p, "ccm", "fir");
		f->remb |= fb_has(m, p, "goog-remb", NULL);
		f->twcc |= fb_has(m, p, "transport-cc", NULL);
	}
	guint id = cardea_sdp_find_extmap(m, CARDEA_SDP_EXT_TRANSPORT_WIDE_CC);
	f->twcc_ext_id = id <= 255 ? (guint8)id : 0;
	id = cardea_sdp_find_extmap(m, CARDEA_SDP_EXT_ABS_SEND_TIME);
	f->abs_send_time_ext_id = id <= 255 ? (guint8)id : 0;
	/* The feedback is about the extension's seqs: no extension, nothing to say. */
	if (f->twcc_ext_id == 0)
		f->twcc = FALSE;
	if (!lm->send || f->n_rtx == 0 || rtx_ssrc == 0 || rtx_ssrc == lm->local_ssrc ||
			cardea_sdp_find_ssrc_group(m, "FID") != NULL)
		return;
	const cardea_sdp_ssrc *main = cardea_sdp_find_ssrc(m, lm->local_ssrc);
	if (main == NULL)
		return;
	/* Arena strings: they survive the ssrc array growing below. */
	const char *cname = main->cname, *stream = main->msid_stream, *track = main->msid_track;
	cardea_sdp_ssrc_add(sdp, m, rtx_ssrc, cname, stream, track);
	guint32 group[2] = { lm->local_ssrc, rtx_ssrc };
	cardea_sdp_ssrc_group_add(sdp, m, "FID", group, 2);
	f->local_rtx_ssrc = rtx_ssrc;
}

void cardea_pc_rtcp_apply_local(cardea_pc *pc, int i, const pc_media *lm) {
	pc_media *m = &pc->media[i];
	pc_rtcp_media *f = &m->fb;
	const pc_rtcp_media *n = &lm->fb;
	f->nack = n->nack;
	f->pli = n->pli;
	f->fir = n->fir;
	f->remb = n->remb;
	f->twcc = n->twcc;
	memcpy(f->rtx_pt, n->rtx_pt, sizeof(f->rtx_pt));
	memcpy(f->rtx_apt, n->rtx_apt, sizeof(f->rtx_apt));
	f->n_rtx = n->n_rtx;
	f->twcc_ext_id = n->twcc_ext_id;
	f->abs_send_time_ext_id = n->abs_send_time_ext_id;
	if (f->local_rtx_ssrc != n->local_rtx_ssrc) {
		f->local_rtx_ssrc = n->local_rtx_ssrc;
		f->rtx_out.ssrc = n->local_rtx_ssrc;
		f->rtx_out.next_seq = (guint16)g_random_int();
	}
	ensure_limiter(f);
	/* Gaps are tracked on anything we accepted, NACKed only when negotiated
	 * (the count also drives slowlink); the tracker (8 KiB) is allocated by
	 * the first packet the peer sends on the m-line (rtp_in), so a
	 * subscriber's send-only m-lines never carry one. */
	if (m->active && m->send && f->nack && f->history == NULL) {
		f->history = g_new0(cardea_rtx_buffer, 1);
		gint64 age = (gint64)setting(&cardea_gw->settings.min_nack_queue) * 1000;
		if (!cardea_rtx_buffer_init(f->history, m->video ? HISTORY_SLOTS_VIDEO : HISTORY_SLOTS_AUDIO, 0, age))
			g_clear_pointer(&f->history, g_free);
		else if (m->video)
			/* Half a second of 1 Mbit/s from the first packet: the
			 * ring grows only at the end of a lap, and the first
			 * keyframe's repairs come before. */
			cardea_rtx_buffer_reserve(f->history, HISTORY_VIDEO_START);
	}
	/* Transport-wide ids: BUNDLE keeps them equal across m-lines, take the
	 * first accepted m-line that has one. */
	guint8 twcc_id = 0, ast_id = 0;
	gboolean twcc_fb = FALSE, twcc_send = FALSE;
	for (int k = 0; k < (int)pc->n_media; k++) {
		const pc_media *o = k == i ? lm : &pc->media[k];
		if (!o->active)
			continue;
		if (twcc_id == 0)
			twcc_id = o->fb.twcc_ext_id;
		if (ast_id == 0)
			ast_id = o->fb.abs_send_time_ext_id;
		twcc_fb |= o->fb.twcc;
		twcc_send |= o->fb.twcc && o->send;
	}
	pc->fb.twcc_ext_id = twcc_id;
	pc->fb.abs_send_time_ext_id = ast_id;
	if (twcc_fb && pc->fb.twcc == NULL) {
		pc->fb.twcc = g_new(cardea_twcc_recorder, 1);
		cardea_twcc_recorder_init(pc->fb.twcc);
	}
	/* The peer's transport-cc feedback about what we send feeds the
	 * estimate (once allocated it stays until the transport goes). */
	if (twcc_send && twcc_id && pc->fb.bwe == NULL) {
		pc->fb.bwe = g_new(cardea_twcc_bwe, 1);
		cardea_twcc_bwe_init(pc->fb.bwe);
	}
}

/* ---- incoming RTP ---- */

void cardea_pc_rtcp_twcc_in(cardea_pc *pc, const cardea_rtp_info *info, gint64 now) {
	guint16 seq;
	if (pc->fb.twcc == NULL || pc->fb.twcc_ext_id == 0)
		return;
	if (cardea_rtp_ext_get_transport_seq(info, pc->fb.twcc_ext_id, &seq) == CARDEA_RTP_OK)
		cardea_twcc_recorder_add(pc->fb.twcc, seq, now);
}

gboolean cardea_pc_rtcp_tracker_wants(const cardea_nack_tracker *t, guint16 seq16) {
	if (!t->init)
		return TRUE;
	cardea_seq_unwrapper u = t->unwrap;
	gint64 seq = cardea_seq_unwrap(&u, seq16);
	if (seq > t->highest)
		return TRUE;
	size_t lo = 0, hi = t->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->missing[mid].seq == seq)
			return TRUE;
		if (t->missing[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return FALSE;
}

gboolean cardea_pc_rtcp_unwrap(cardea_pc *pc, int mi, guint8 *buf, gsize *len, cardea_rtp_info *info,
		gboolean *repaired) {
	pc_media *m = &pc->media[mi];
	pc_rtcp_media *f = &m->fb;
	*repaired = FALSE;
	for (guint k = 0; k < f->n_rtx; k++) {
		if (f->rtx_pt[k] != info->pt)
			continue;
		/* RTX repairs the main stream; on that very SSRC, or before we know
		 * which one it is, it can only be garbage. */
		if (m->remote_ssrc == 0 || info->ssrc == m->remote_ssrc)
			return FALSE;
		size_t n = 0;
		cardea_rtp_status st = cardea_rtx_unwrap(buf, info, f->rtx_apt[k], m->remote_ssrc, &n);
		if (st == CARDEA_RTP_ERR_RTX_EMPTY) {
			f->rtx_probes_in++;   /* padding-only bandwidth probe */
			return FALSE;
		}
		if (st != CARDEA_RTP_OK || cardea_rtp_parse(buf, n, info) != CARDEA_RTP_OK)
			return FALSE;
		/* libwebrtc also probes with copies of packets that did arrive:
		 * only a seq we are missing is a repair worth passing on. */
		if (f->tracker && !cardea_pc_rtcp_tracker_wants(f->tracker, info->seq)) {
			f->rtx_probes_in++;
			return FALSE;
		}
		*len = n;
		*repaired = TRUE;
		return TRUE;
	}
	return TRUE;
}

void cardea_pc_rtcp_rtp_in(cardea_pc *pc, int mi, const cardea_rtp_info *info, gboolean repaired, gint64 now) {
	pc_media *m = &pc->media[mi];
	pc_rtcp_media *f = &m->fb;
	if (repaired)
		f->retransmissions_in++;
	/* Padding-only packets keep a muted stream's seqs going; they are not media. */
	if (info->payload_len > 0) {
		f->last_rtp_us = now;
		if (!f->receiving) {
			f->receiving = TRUE;
			media_event(pc, m, TRUE, 0);
		}
	}
	if (f->tracker == NULL) {
		if (!m->active)
			return;
		f->tracker = g_new(cardea_nack_tracker, 1);
		cardea_nack_tracker_init(f->tracker, NULL);
	}
	gboolean known = f->tracker->init;
	gint64 before = f->tracker->highest;
	cardea_nack_event ev = cardea_nack_tracker_received(f->tracker, info->seq, now);
	if (known && (ev == CARDEA_NACK_GAP || ev == CARDEA_NACK_RESET)) {
		gint64 lost = f->tracker->highest - before - 1;
		f->lost_in += (guint64)lost;
		f->window_lost_in = (guint)MIN((gint64)f->window_lost_in + lost, (gint64)G_MAXUINT);
	}
	if (ev == CARDEA_NACK_GAP)
		send_nacks(pc, m, now);
}

/* ---- outgoing RTP ---- */

/* Our transport-wide seq and send time on a packet about to leave. */
static void stamp(cardea_pc *pc, guint8 *buf, gsize len, const cardea_rtp_info *info, gint64 now) {
	if (pc->fb.twcc_ext_id &&
			cardea_rtp_ext_set_transport_seq(buf, info, pc->fb.twcc_ext_id, pc->fb.twcc_seq_out) == CARDEA_RTP_OK) {
		if (pc->fb.bwe)
			cardea_twcc_bwe_sent(pc->fb.bwe, pc->fb.twcc_seq_out, len, now);
		pc->fb.twcc_seq_out++;
	}
	if (pc->fb.abs_send_time_ext_id)
		cardea_rtp_ext_set_abs_send_time(buf, info, pc->fb.abs_send_time_ext_id,
			cardea_rtp_abs_send_time_from_us(now));
}

void cardea_pc_rtcp_rtp_out(cardea_pc *pc, int mi, guint8 *buf, gsize len, gint64 now) {
	pc_rtcp_media *f = &pc->media[mi].fb;
	if (!pc->fb.twcc_ext_id && !pc->fb.abs_send_time_ext_id && f->history == NULL)
		return;
	cardea_rtp_info info;
	if (cardea_rtp_parse(buf, len, &info) != CARDEA_RTP_OK)
		return;
	stamp(pc, buf, len, &info, now);
	if (f->history) {
		cardea_rtx_buffer_store(f->history, &info, now);
		if (!f->have_seq_out || (gint16)(guint16)(info.seq - f->newest_seq_out) > 0) {
			f->newest_seq_out = info.seq;
			f->have_seq_out = TRUE;
		}
	}
}

/* The rtx PT repairing `pt` on our side, 0 if none. */
static guint8 rtx_pt_for(const pc_rtcp_media *f, guint8 pt) {
	for (guint k = 0; k < f->n_rtx; k++)
		if (f->rtx_apt[k] == pt)
			return f->rtx_pt[k];
	return 0;
}

/* Resends one NACKed seq. Returns FALSE when the peer can never get it from
 * us any more (it left too long ago), TRUE otherwise. */
static gboolean resend(cardea_pc *pc, pc_media *m, guint16 seq, gint64 now, gint64 rtt) {
	pc_rtcp_media *f = &m->fb;
	const guint8 *stored = NULL;
	size_t stored_len = 0;
	cardea_rtx_result r = cardea_rtx_buffer_get(f->history, seq, now, rtt, &stored, &stored_len);
	if (r != CARDEA_RTX_HIT) {
		/* A repeat within an RTT is expected (the answer is on its way). */
		if (r == CARDEA_RTX_THROTTLED)
			return TRUE;
		f->rtx_misses++;
		/* Not sent yet is a hole the sending side is still repairing:
		 * the repair comes through us when it arrives. If it never does,
		 * the peer is stuck on it: the loss episode looks again as it
		 * ends (loss_episode_tick). */
		if (cardea_rtx_buffer_gone(f->history, seq, now))
			return FALSE;
		if (f->episode_n_holes < G_N_ELEMENTS(f->episode_holes))
			f->episode_holes[f->episode_n_holes++] = seq;
		return TRUE;
	}
	cardea_rtp_info info;
	if (cardea_rtp_parse(stored, stored_len, &info) != CARDEA_RTP_OK)
		return TRUE;
	gsize cap = sizeof(pc->scratch) - CARDEA_SRTP_MAX_OVERHEAD, len;
	guint8 rtx_pt = f->local_rtx_ssrc ? rtx_pt_for(f, info.pt) : 0;
	if (rtx_pt) {
		int n = cardea_rtx_build(&info, rtx_pt, f->local_rtx_ssrc, f->rtx_out.next_seq, pc->scratch, cap);
		if (n < 0)
			return TRUE;
		f->rtx_out.next_seq++;
		len = (gsize)n;
	} else {
		memcpy(pc->scratch, stored, stored_len);
		len = stored_len;
	}
	/* A resent packet is a new packet for transport-wide CC. */
	if (cardea_rtp_parse(pc->scratch, len, &info) == CARDEA_RTP_OK)
		stamp(pc, pc->scratch, len, &info, now);
	if (cardea_srtp_protect_rtp(srtp_of(pc), pc->scratch, &len, sizeof(pc->scratch)) != CARDEA_SRTP_OK)
		return TRUE;
	if (cardea_ice_send(pc->ice, pc->scratch, len) > 0)
		f->retransmissions_out++;
	return TRUE;
}

/* The plugin's incoming_keyframe_request on the peer's behalf (as for a PLI
 * from it), at most once per CARDEA_PC_KEYFRAME_INTERVAL_US for both uses
 * below. FALSE: held back by that limit (or not video). */
static gboolean ask_keyframe_for_peer(cardea_pc *pc, pc_media *m, int mi, gint64 now) {
	pc_rtcp_media *f = &m->fb;
	cardea_handle *h = pc->handle;
	if (!m->video || (f->lost_kf_us != 0 && now - f->lost_kf_us < CARDEA_PC_KEYFRAME_INTERVAL_US))
		return FALSE;
	f->lost_kf_us = now;
	if (g_atomic_int_get(&pc->active) && h->app && h->plugin->ops.plugin.incoming_keyframe_request)
		h->plugin->ops.plugin.incoming_keyframe_request(h->app, mi);
	return TRUE;
}

/* The peer NACKed video we can no longer resend: what it decodes next
 * depends on a packet it will never get, and it may not ask for a keyframe
 * itself soon (aiortc waits for its jitter buffer to overflow). */
static void lost_for_good(cardea_pc *pc, pc_media *m, int mi, gint64 now) {
	if (!ask_keyframe_for_peer(pc, m, mi, now))
		return;
	m->fb.lost_kf_requests++;
	CARDEA_LOG(CARDEA_LOG_DBG, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] NACK on mid %s for packets no longer "
		"kept: asking for a keyframe", pc->sid, pc->hid, m->mid);
}

/* A heavy loss episode toward the peer has ended: it may hold holes whose
 * NACK or repair was lost in it, and a receiver that NACKs each gap once
 * (aiortc: only when it sees a new gap) never asks again; it waits for its
 * jitter buffer to overflow (~2 s) before it asks for a keyframe. So ask on
 * its behalf as the episode ends: "ended" is no NACK for LOSS_QUIET_RTTS
 * RTTs (at least LOSS_QUIET_MIN_US); "heavy" is at least LOSS_EPISODE_MIN
 * NACK messages, one per LOSS_EPISODE_RATIO packets sent or more (steady
 * 5% loss mostly stays below it, as aiortc sends a NACK per new gap: 1-2
 * episodes in 20 s in test_netem.py). One keyframe per episode, through
 * the lost_for_good limiter.
 * A quiet spell inside a burst (few video packets per RTT, the NACKs of
 * that spell lost too) ends an episode early: its keyframe then goes out
 * into the rest of the burst, and the short episode that ends with the
 * burst may have too few NACKs to count (a CI run recovered only by
 * aiortc's own PLI 1.8 s after the burst, with a single episode keyframe).
 * So an episode that ends within LOSS_LINGER_US of a heavy one is heavy
 * too. So is one whose NACKs asked for a packet we had not sent (lost on
 * the publisher's leg) and that still has not come when it ends: nothing
 * else would make the peer ask again (a local run: no episode keyframe,
 * 50 such misses, recovery by aiortc's PLI 1.9 s after the burst). */
#define LOSS_QUIET_RTTS 4
#define LOSS_QUIET_MIN_US (250 * 1000)
#define LOSS_EPISODE_MIN 6
#define LOSS_EPISODE_RATIO 10
#define LOSS_LINGER_US (1500 * 1000)
#define LOSS_RESEND_WINDOW 96   /* seqs behind the newest sent: < aiortc's MAX_MISORDER (100) */

static void loss_episode_nack(pc_media *m, gint64 now) {
	pc_rtcp_media *f = &m->fb;
	if (f->episode_last_nack_us == 0) {
		f->episode_nack_packets = 0;
		f->episode_packets_out_start = m->packets_out;
		f->episode_n_holes = 0;
		f->episode_n_nacked = 0;
	}
	f->episode_last_nack_us = now;
	f->episode_nack_packets++;
}

/* Tick: closes an episode that went quiet; asks for its keyframe (again on
 * later ticks while the limiter holds it back). */
static void loss_episode_tick(cardea_pc *pc, pc_media *m, int mi, gint64 now) {
	pc_rtcp_media *f = &m->fb;
	if (f->episode_last_nack_us != 0 &&
			now - f->episode_last_nack_us >= MAX(LOSS_QUIET_RTTS * rtt_for(pc, m), LOSS_QUIET_MIN_US)) {
		guint64 sent = m->packets_out - f->episode_packets_out_start;
		gboolean heavy = (f->episode_nack_packets >= LOSS_EPISODE_MIN &&
				(guint64)f->episode_nack_packets * LOSS_EPISODE_RATIO >= sent) ||
			now < f->episode_heavy_until_us;
		/* A NACKed packet we never had and that never came since: the
		 * publisher leg lost it for good, the peer waits on it. */
		for (guint k = 0; k < f->episode_n_holes && !heavy; k++)
			heavy = !cardea_rtx_buffer_has(f->history, f->episode_holes[k]);
		if (m->video && heavy) {
			f->episode_kf_pending = TRUE;
			f->episode_heavy_until_us = now + LOSS_LINGER_US;
			/* The last repair round may have been lost too, and a receiver
			 * with an in-order jitter buffer (aiortc) is blocked by the
			 * hole whatever keyframe follows: resend what the episode
			 * NACKed once more (the throttle has long passed). */
			guint n = MIN(f->episode_n_nacked, (guint)G_N_ELEMENTS(f->episode_nacked));
			guint64 before = f->retransmissions_out;
			for (guint k = 0; k < n && live(pc); k++) {
				guint16 seq = f->episode_nacked[k];
				/* Only recent ones: aiortc resets its jitter buffer (and
				 * drops what it holds) on a packet 100+ behind its oldest
				 * unreleased one, which is never ahead of our newest. */
				if ((guint16)(f->newest_seq_out - seq) < LOSS_RESEND_WINDOW &&
						cardea_rtx_buffer_has(f->history, seq))
					resend(pc, m, seq, now, rtt_for(pc, m));
			}
			f->loss_episode_resends += f->retransmissions_out - before;
			f->episode_n_nacked = 0;
		}
		f->episode_last_nack_us = 0;
	}
	if (f->episode_kf_pending && f->episode_last_nack_us == 0 && ask_keyframe_for_peer(pc, m, mi, now)) {
		f->episode_kf_pending = FALSE;
		f->loss_episode_kf_requests++;
	}
}

/* ---- incoming feedback ---- */

/* The peer's estimate to the plugin, through the gate (bwe.h). */
static void report_estimate(cardea_pc *pc, guint32 bps, gint64 now) {
	cardea_handle *h = pc->handle;
	if (!g_atomic_int_get(&pc->active) || h->app == NULL || h->plugin->ops.plugin.incoming_bitrate_estimate == NULL)
		return;
	if (!cardea_bwe_gate_pass(&pc->fb.bwe_gate, bps, now))
		return;
	pc->fb.bwe_reports++;
	h->plugin->ops.plugin.incoming_bitrate_estimate(h->app, bps);
}

static void nack_in(cardea_pc *pc, const cardea_rtcp_pkt *p) {
	cardea_rtcp_fb fb;
	guint16 seqs[NACK_IN_MAX];
	size_t n = 0;
	cardea_rtcp_status st = cardea_rtcp_parse_nack(p, &fb, seqs, G_N_ELEMENTS(seqs), &n);
	if (st != CARDEA_RTCP_OK && st != CARDEA_RTCP_ERR_NO_SPACE)
		return;
	pc_media *m = NULL;
	int mi = -1;
	for (int i = 0; i < (int)pc->n_media && m == NULL; i++)
		if (pc->media[i].active && pc->media[i].send && pc->media[i].local_ssrc == fb.media_ssrc) {
			m = &pc->media[i];
			mi = i;
		}
	if (m == NULL)
		return;
	pc_rtcp_media *f = &m->fb;
	f->nack_packets_in++;
	f->nacks_in += n;
	loss_episode_nack(m, g_get_monotonic_time());
	f->window_nacked_in = (guint)MIN((guint64)f->window_nacked_in + n, (guint64)G_MAXUINT);
	if (f->history == NULL || !live(pc)) {
		f->rtx_misses += n;
		return;
	}
	gint64 now = g_get_monotonic_time(), rtt = rtt_for(pc, m);
	gboolean gone = FALSE;
	for (size_t k = 0; k < n; k++) {
		f->episode_nacked[f->episode_n_nacked++ % G_N_ELEMENTS(f->episode_nacked)] = seqs[k];
		gone |= !resend(pc, m, seqs[k], now, rtt);
	}
	if (gone)
		lost_for_good(pc, m, mi, now);
}

gboolean cardea_pc_rtcp_feedback_in(cardea_pc *pc, const cardea_rtcp_pkt *p) {
	if (p->pt == CARDEA_RTCP_RTPFB && p->count == CARDEA_RTCP_RTPFB_NACK) {
		nack_in(pc, p);
		return TRUE;
	}
	if (p->pt == CARDEA_RTCP_RTPFB && p->count == CARDEA_RTCP_RTPFB_TWCC) {
		/* About what we send: the send-side estimate. */
		pc->fb.twcc_feedback_in++;
		cardea_twcc_bwe *b = pc->fb.bwe;
		cardea_rtcp_twcc hdr;
		size_t n = 0;
		if (b == NULL)
			return TRUE;
		cardea_rtcp_status st = cardea_rtcp_parse_twcc(p, &hdr, b->scratch, G_N_ELEMENTS(b->scratch), &n);
		gint64 now = g_get_monotonic_time();
		if ((st == CARDEA_RTCP_OK || st == CARDEA_RTCP_ERR_NO_SPACE) && cardea_twcc_bwe_feedback(b, b->scratch, n, now))
			report_estimate(pc, b->estimate_bps, now);
		return TRUE;
	}
	if (p->pt == CARDEA_RTCP_PSFB && p->count == CARDEA_RTCP_PSFB_AFB) {
		cardea_rtcp_remb remb;
		size_t n = 0;
		cardea_rtcp_status st = cardea_rtcp_parse_remb(p, &remb, NULL, 0, &n);
		if (st == CARDEA_RTCP_OK || st == CARDEA_RTCP_ERR_NO_SPACE) {
			pc->fb.remb_in = remb.bitrate;
			pc->fb.remb_packets_in++;
			/* Peers that negotiated transport-cc leave the estimate to us. */
			if (pc->fb.bwe == NULL)
				report_estimate(pc, (guint32)MIN(remb.bitrate, (guint64)G_MAXUINT32), g_get_monotonic_time());
		}
		return TRUE;
	}
	return FALSE;
}

/* ---- plugin service: REMB cap ---- */

typedef struct pc_remb {
	cardea_pc *pc;
	cardea_handle *handle;          /* ref: keeps pc alive until the loop ran */
	guint32 bitrate;
} pc_remb;

static gboolean remb_apply(gpointer data) {
	pc_remb *r = data;
	cardea_pc *pc = r->pc;
	if (!g_atomic_int_get(&pc->active))
		return G_SOURCE_REMOVE;
	pc->fb.remb_lift = r->bitrate == 0 && pc->fb.remb_cap != 0 && pc->fb.auth_cap == 0;
	pc->fb.remb_cap = r->bitrate;
	send_remb_now(pc, g_get_monotonic_time());
	return G_SOURCE_REMOVE;
}

static void pc_remb_free(gpointer data) {
	pc_remb *r = data;
	if (r->handle)
		cardea_handle_unref(r->handle);
	g_free(r);
}

void cardea_pc_send_remb(cardea_plugin_session *app, uint32_t bitrate) {
	if (app == NULL || app->core_handle == NULL || g_atomic_int_get(&app->stopped))
		return;
	cardea_handle *h = app->core_handle;
	cardea_pc *pc = pc_of(h);
	if (pc == NULL)
		return;
	pc_remb local = { pc, NULL, bitrate };
	if (cardea_loop_is_current(pc->loop)) {
		remb_apply(&local);
		return;
	}
	pc_remb *r = g_new(pc_remb, 1);
	*r = local;
	cardea_handle_ref(h);
	r->handle = h;
	cardea_loop_invoke(pc->loop, remb_apply, r, pc_remb_free);
}

/* ---- admin ---- */

void cardea_pc_rtcp_info_media(cardea_pc *pc, int mi, json_t *out) {
	const pc_media *m = &pc->media[mi];
	const pc_rtcp_media *f = &m->fb;
	json_object_set_new(out, "receiving", json_boolean(f->receiving));
	json_object_set_new(out, "rtcp_fb", json_pack("{s:b, s:b, s:b, s:b, s:b, s:b}",
		"nack", f->nack, "pli", f->pli, "fir", f->fir, "remb", f->remb, "transport-cc", f->twcc,
		"rtx", f->n_rtx > 0));
	if (f->local_rtx_ssrc)
		json_object_set_new(out, "ssrc-rtx", json_integer(f->local_rtx_ssrc));
	json_object_set_new(out, "nacks_in", json_integer((json_int_t)f->nacks_in));
	json_object_set_new(out, "nacks_out", json_integer((json_int_t)f->nacks_out));
	json_object_set_new(out, "nack_packets_in", json_integer((json_int_t)f->nack_packets_in));
	json_object_set_new(out, "nack_packets_out", json_integer((json_int_t)f->nack_packets_out));
	json_object_set_new(out, "retransmissions_in", json_integer((json_int_t)f->retransmissions_in));
	json_object_set_new(out, "retransmissions_out", json_integer((json_int_t)f->retransmissions_out));
	json_object_set_new(out, "retransmission_misses", json_integer((json_int_t)f->rtx_misses));
	if (f->history)
		json_object_set_new(out, "retransmission_buffer_bytes", json_integer((json_int_t)f->history->ring_size));
	json_object_set_new(out, "rtx_probes_in", json_integer((json_int_t)f->rtx_probes_in));
	json_object_set_new(out, "gaps_in", json_integer((json_int_t)f->lost_in));
	json_object_set_new(out, "plis_out", json_integer((json_int_t)f->plis_out));
	json_object_set_new(out, "firs_out", json_integer((json_int_t)f->firs_out));
	json_object_set_new(out, "keyframe_requests_suppressed", json_integer((json_int_t)f->kf.suppressed));
	json_object_set_new(out, "slowlinks", json_integer((json_int_t)f->slowlinks));
	json_object_set_new(out, "keyframes_for_lost_nacks", json_integer((json_int_t)f->lost_kf_requests));
	json_object_set_new(out, "keyframes_after_loss_episodes", json_integer((json_int_t)f->loss_episode_kf_requests));
	json_object_set_new(out, "resends_after_loss_episodes", json_integer((json_int_t)f->loss_episode_resends));
	if (m->rstats.init) {
		gint64 lost = (gint64)cardea_rtp_recv_stats_expected(&m->rstats) - (gint64)m->rstats.received;
		json_object_set_new(out, "lost_in", json_integer(MAX(lost, 0)));
	}
	if (m->sstats_init) {
		json_object_set_new(out, "lost_out", json_integer(m->sstats.cumulative_lost));
		json_object_set_new(out, "jitter_out", json_integer(m->sstats.jitter));
		json_object_set_new(out, "fraction_lost_out", json_integer(m->sstats.fraction_lost));
	}
	if (m->rtt_us > 0)
		json_object_set_new(out, "rtt_us", json_integer(m->rtt_us));
	if (f->tracker)
		json_object_set_new(out, "nack_recovered", json_integer((json_int_t)f->tracker->recovered));
}

void cardea_pc_rtcp_info(cardea_pc *pc, json_t *out) {
	json_t *o = json_object();
	json_object_set_new(o, "transport-cc", json_integer(pc->fb.twcc_ext_id));
	json_object_set_new(o, "twcc_feedback_out", json_integer((json_int_t)pc->fb.twcc_feedback_out));
	json_object_set_new(o, "twcc_feedback_in", json_integer((json_int_t)pc->fb.twcc_feedback_in));
	json_object_set_new(o, "remb_cap", json_integer(pc->fb.remb_cap));
	json_object_set_new(o, "remb_auth_cap", json_integer(pc->fb.auth_cap));
	json_object_set_new(o, "remb_out", json_integer((json_int_t)pc->fb.remb_out));
	json_object_set_new(o, "remb_in", json_integer((json_int_t)pc->fb.remb_in));
	json_object_set_new(o, "remb_packets_in", json_integer((json_int_t)pc->fb.remb_packets_in));
	json_t *bwe = json_pack("{s:s, s:I, s:I}", "source", pc->fb.bwe ? "transport-cc" : "remb",
		"reported_bps", (json_int_t)pc->fb.bwe_gate.last_bps, "reports", (json_int_t)pc->fb.bwe_reports);
	if (pc->fb.bwe) {
		const cardea_twcc_bwe *b = pc->fb.bwe;
		json_object_set_new(bwe, "estimate_bps", json_integer(b->estimate_bps));
		json_object_set_new(bwe, "received_bps", json_integer(b->received_bps));
		json_object_set_new(bwe, "loss_permille", json_integer(b->loss_permille));
		json_object_set_new(bwe, "windows", json_integer((json_int_t)b->windows));
	}
	json_object_set_new(o, "bwe", bwe);
	json_object_set_new(out, "feedback", o);
}
