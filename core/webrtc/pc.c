/* PeerConnection glue (see pc.h for ownership and threads).
 *
 * Packet path, all on the PC's loop thread: ICE receive -> classify (RFC
 * 7983) -> DTLS, or SRTP unprotect -> RTP parse -> m-line lookup -> plugin
 * incoming_rtp -> (plugin) relay_rtp -> copy into the thread's send buffer ->
 * SSRC rewrite -> SRTP protect -> ICE send. Nothing is allocated per packet.
 */
#include "webrtc/pc-priv.h"
#include "api-errors.h"

/* ---- helpers ---- */

static char **local_addresses(void) {
	static gsize once = 0;
	static char **addrs = NULL;
	if (g_once_init_enter(&once)) {
		const cardea_settings *s = &cardea_gw->settings;
		addrs = cardea_ice_local_addresses(s->ice_enforce_list, s->ice_ignore_list, s->ipv6, FALSE);
		g_once_init_leave(&once, 1);
	}
	return addrs;
}

/* nat_1_1_mapping as a list (NULL when unset), parsed once. */
static char **public_ips(void) {
	static gsize once = 0;
	static char **ips = NULL;
	if (g_once_init_enter(&once)) {
		const char *v = cardea_gw->settings.nat_1_1_mapping;
		if (v && *v) {
			GPtrArray *out = g_ptr_array_new();
			char **items = g_strsplit_set(v, ", ", -1);
			for (char **i = items; *i; i++)
				if (**i)
					g_ptr_array_add(out, g_strdup(*i));
			g_strfreev(items);
			g_ptr_array_add(out, NULL);
			ips = (char **)g_ptr_array_free(out, FALSE);
			if (ips[0] == NULL)
				g_clear_pointer(&ips, g_strfreev);
		}
		g_once_init_leave(&once, 1);
	}
	return ips;
}

/* Runs fn(data) on the PC's loop and waits for it; at once when already
 * there. The destroy notify also fires when the loop is gone, so we never
 * wait forever at shutdown. */
typedef struct pc_sync {
	GSourceFunc fn;
	gpointer data;
	GMutex mutex;
	GCond cond;
	gboolean done;
} pc_sync;

static gboolean sync_run(gpointer d) {
	pc_sync *s = d;
	s->fn(s->data);
	return G_SOURCE_REMOVE;
}

static void sync_done(gpointer d) {
	pc_sync *s = d;
	g_mutex_lock(&s->mutex);
	s->done = TRUE;
	g_cond_signal(&s->cond);
	g_mutex_unlock(&s->mutex);
}

void cardea_pc_priv_run_sync(cardea_pc *pc, GSourceFunc fn, gpointer data) {
	if (cardea_loop_is_current(pc->loop)) {
		fn(data);
		return;
	}
	pc_sync s = { fn, data };
	g_mutex_init(&s.mutex);
	g_cond_init(&s.cond);
	cardea_loop_invoke(pc->loop, sync_run, &s, sync_done);
	g_mutex_lock(&s.mutex);
	while (!s.done)
		g_cond_wait(&s.cond, &s.mutex);
	g_mutex_unlock(&s.mutex);
	g_mutex_clear(&s.mutex);
	g_cond_clear(&s.cond);
}

static void send_handle_event(cardea_pc *pc, const char *kind, const char *reason) {
	cardea_handle *h = pc->handle;
	json_t *ev = cardea_handle_event_new(h, kind);
	if (reason)
		json_object_set_new(ev, "reason", json_string(reason));
	cardea_session_send_event(h->session, ev);
}

/* ---- transport teardown (loop thread) ---- */

static gboolean teardown_loop(gpointer data) {
	cardea_pc *pc = data;
	if (pc->teardown) {
		g_source_destroy(pc->teardown);
		g_source_unref(pc->teardown);
		pc->teardown = NULL;
	}
	if (pc->dtls_timer) {
		g_source_destroy(pc->dtls_timer);
		g_source_unref(pc->dtls_timer);
		pc->dtls_timer = NULL;
	}
	g_clear_pointer(&pc->rtcp_tick, cardea_loop_tick_remove);
	cardea_pc_rtcp_stop(pc);
	cardea_pc_data_teardown(pc);
	if (pc->dtls) {
		/* close_notify lets the peer tear down at once instead of timing out. */
		if (pc->ice && cardea_dtls_get_state(pc->dtls) == CARDEA_DTLS_STATE_CONNECTED)
			cardea_dtls_close(pc->dtls);
		cardea_dtls_free(pc->dtls);
		pc->dtls = NULL;
	}
	if (pc->ice) {
		cardea_ice_free(pc->ice);
		pc->ice = NULL;
	}
	pc->ice_connected = pc->dtls_connected = pc->up = FALSE;
	return G_SOURCE_REMOVE;
}

static gboolean deferred_teardown(gpointer data) {
	cardea_pc *pc = data;
	/* teardown_loop() destroys pc->teardown, i.e. this very source: drop our
	 * pointer first so it is not destroyed while dispatching. */
	g_source_unref(pc->teardown);
	pc->teardown = NULL;
	teardown_loop(pc);
	return G_SOURCE_REMOVE;
}

/* Ends the current negotiation once: plugin hangup_media, `hangup` event
 * (reason NULL: none, for detach), transport closed. Any thread. */
static void pc_end(cardea_pc *pc, const char *reason) {
	if (!g_atomic_int_compare_and_exchange(&pc->active, 1, 0))
		return;
	cardea_pc_slot_release();
	cardea_handle *h = pc->handle;
	CARDEA_LOG(CARDEA_LOG_INFO, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] PeerConnection closed (%s)",
		pc->sid, pc->hid, reason ? reason : "detach");
	cardea_pc_offer_reset(pc);
	if (!cardea_loop_is_current(pc->loop)) {
		/* Wait for the loop first: once this returns no media callback is
		 * running or will run, so hangup_media is really the last one. */
		cardea_pc_priv_run_sync(pc, teardown_loop, pc);
	}
	if (reason)
		send_handle_event(pc, "hangup", reason);
	cardea_plugin_session *app = h->app;
	if (app && h->plugin->ops.plugin.hangup_media)
		h->plugin->ops.plugin.hangup_media(app);
	if (cardea_loop_is_current(pc->loop)) {
		/* Probably inside an ICE or DTLS callback: free them from a fresh
		 * dispatch. `active` is 0 already, so no plugin callback runs meanwhile. */
		if (pc->teardown == NULL) {
			pc->teardown = g_idle_source_new();
			g_source_set_priority(pc->teardown, G_PRIORITY_HIGH);
			g_source_set_callback(pc->teardown, deferred_teardown, pc, NULL);
			g_source_attach(pc->teardown, pc->loop->context);
		}
	}
}

void cardea_pc_priv_end(cardea_pc *pc, const char *reason) {
	pc_end(pc, reason);
}

void cardea_pc_hangup(cardea_handle *h, const char *reason) {
	cardea_pc *pc = pc_of(h);
	if (pc)
		pc_end(pc, reason ? reason : "Janus API");
}

void cardea_pc_destroy(cardea_handle *h) {
	cardea_pc *pc = pc_of(h);
	if (pc == NULL)
		return;
	pc_end(pc, NULL);
	/* Also cancels a deferred teardown still pending from a loop-side hangup. */
	cardea_pc_priv_run_sync(pc, teardown_loop, pc);
}

void cardea_pc_free(cardea_pc *pc) {
	if (pc == NULL)
		return;
	cardea_pc_rtcp_free(pc);
	g_free(pc->media);
	cardea_loop_release(pc->loop);
	g_free(pc->local_ufrag);
	g_free(pc->local_pwd);
	g_ptr_array_free(pc->local_candidates, TRUE);
	g_free(pc->remote_ufrag);
	g_free(pc->remote_pwd);
	cardea_sdp_free(pc->offer);
	g_mutex_clear(&pc->mutex);
	g_cond_clear(&pc->cond);
	g_free(pc);
}

/* ---- DTLS (loop thread) ---- */

static gboolean dtls_timer_cb(gpointer data);

static void dtls_rearm(cardea_pc *pc) {
	if (pc->dtls_timer) {
		g_source_destroy(pc->dtls_timer);
		g_source_unref(pc->dtls_timer);
		pc->dtls_timer = NULL;
	}
	if (pc->dtls == NULL)
		return;
	gint64 ms = cardea_dtls_timeout_ms(pc->dtls);
	if (ms < 0)
		return;
	pc->dtls_timer = g_timeout_source_new((guint)ms);
	g_source_set_callback(pc->dtls_timer, dtls_timer_cb, pc, NULL);
	g_source_attach(pc->dtls_timer, pc->loop->context);
}

static gboolean dtls_timer_cb(gpointer data) {
	cardea_pc *pc = data;
	GSource *self = pc->dtls_timer;
	pc->dtls_timer = NULL;
	if (pc->dtls)
		cardea_dtls_handle_timeout(pc->dtls);
	g_source_unref(self);
	dtls_rearm(pc);
	return G_SOURCE_REMOVE;
}

static void dtls_send_cb(cardea_dtls *dtls, const guint8 *buf, gsize len, gpointer user_data) {
	cardea_pc *pc = user_data;
	if (pc->ice)
		cardea_ice_send(pc->ice, buf, len);
}

static void check_up(cardea_pc *pc) {
	if (pc->up || !pc->ice_connected || !pc->dtls_connected || !g_atomic_int_get(&pc->active))
		return;
	pc->up = TRUE;
	pc->last_in_us = 0;
	CARDEA_LOG(CARDEA_LOG_INFO, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] WebRTC media is up (%s)",
		pc->sid, pc->hid, cardea_dtls_profile_name(cardea_dtls_get_profile(pc->dtls)));
	send_handle_event(pc, "webrtcup", NULL);
	cardea_handle *h = pc->handle;
	if (h->app && h->plugin->ops.plugin.setup_media)
		h->plugin->ops.plugin.setup_media(h->app);
}

static void dtls_state_cb(cardea_dtls *dtls, cardea_dtls_state state, const char *reason, gpointer user_data) {
	cardea_pc *pc = user_data;
	if (state == CARDEA_DTLS_STATE_CONNECTED) {
		pc->dtls_connected = TRUE;
		check_up(pc);
		cardea_pc_data_maybe_start(pc);
	} else if (state == CARDEA_DTLS_STATE_FAILED || state == CARDEA_DTLS_STATE_CLOSED) {
		if (g_atomic_int_get(&pc->active))
			CARDEA_LOG(CARDEA_LOG_WARN, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] DTLS %s: %s",
				pc->sid, pc->hid, cardea_dtls_state_name(state), reason ? reason : "?");
		pc_end(pc, "DTLS alert");
	}
}

/* ---- RTP/RTCP in (loop thread) ---- */

static int media_for_rtp(cardea_pc *pc, const cardea_rtp_info *info) {
	for (int i = 0; i < (int)pc->n_media; i++) {
		pc_media *m = &pc->media[i];
		for (guint k = 0; k < m->n_remote_ssrcs; k++)
			if (m->remote_ssrcs[k] == info->ssrc)
				return i;
	}
	int found = -1;
	if (pc->mid_ext_id) {
		char mid[32];
		if (cardea_rtp_ext_get_string(info, pc->mid_ext_id, mid, sizeof(mid)) == CARDEA_RTP_OK)
			for (int i = 0; i < (int)pc->n_media && found < 0; i++)
				if (pc->media[i].present && strcmp(pc->media[i].mid, mid) == 0)
					found = i;
	}
	if (found < 0) {
		/* Last resort: a payload type used by exactly one m-line. */
		for (int i = 0; i < (int)pc->n_media; i++) {
			pc_media *m = &pc->media[i];
			for (guint k = 0; k < m->n_pts; k++) {
				if (m->pts[k] != info->pt)
					continue;
				if (found >= 0)
					return -1;
				found = i;
			}
		}
	}
	if (found >= 0 && pc->media[found].n_remote_ssrcs < PC_MAX_SSRCS) {
		pc_media *m = &pc->media[found];
		m->remote_ssrcs[m->n_remote_ssrcs++] = info->ssrc;
	}
	return found;
}

static void incoming_rtp(cardea_pc *pc, guint8 *buf, gsize len) {
	cardea_srtp *srtp = pc->dtls ? cardea_dtls_get_srtp(pc->dtls) : NULL;
	if (srtp == NULL || !pc->up) {
		pc->early_drops++;
		return;
	}
	if (cardea_srtp_unprotect_rtp(srtp, buf, &len) != CARDEA_SRTP_OK) {
		pc->srtp_drops++;
		return;
	}
	cardea_rtp_info info;
	if (cardea_rtp_parse(buf, len, &info) != CARDEA_RTP_OK) {
		pc->rtp_invalid++;
		return;
	}
	gint64 now = g_get_monotonic_time();
	pc->last_in_us = now;
	cardea_pc_rtcp_twcc_in(pc, &info, now);
	int mi = media_for_rtp(pc, &info);
	if (mi < 0) {
		pc->rtp_unknown++;
		return;
	}
	/* Before RTX is unwrapped: an RTX SSRC tells which substream it repairs. */
	int substream = cardea_pc_sim_substream(pc, mi, &info);
	if (substream < 0)
		return;
	pc_media *m = &pc->media[mi];
	gboolean repaired;
	if (!cardea_pc_rtcp_unwrap(pc, mi, buf, &len, &info, &repaired))
		return;
	gboolean accepted = FALSE;
	for (guint k = 0; k < m->n_local_pts && !accepted; k++)
		accepted = m->local_pts[k] == info.pt;
	if (!accepted) {
		pc->rtp_unknown++;
		return;
	}
	if (m->remote_ssrc == 0)
		m->remote_ssrc = info.ssrc;
	if (info.ssrc == m->remote_ssrc) {
		if (!m->rstats.init && m->rstats.ssrc != info.ssrc)
			cardea_rtp_recv_stats_init(&m->rstats, info.ssrc, m->video ? 90000 : 48000);
		cardea_rtp_recv_stats_update(&m->rstats, info.seq, info.timestamp, info.payload_len, now);
		cardea_pc_rtcp_rtp_in(pc, mi, &info, repaired, now);
	}
	m->packets_in++;
	m->bytes_in += len;
	cardea_handle *h = pc->handle;
	if (!g_atomic_int_get(&pc->active) || h->app == NULL || h->plugin->ops.plugin.incoming_rtp == NULL)
		return;
	cardea_rtp_packet pkt = {
		.buffer = buf, .length = (uint16_t)len, .mindex = mi, .video = m->video,
		.pt = info.pt, .marker = info.marker, .seq = info.seq, .timestamp = info.timestamp,
		.ssrc = info.ssrc, .header_len = info.header_len, .substream = substream,
	};
	h->plugin->ops.plugin.incoming_rtp(h->app, &pkt);
}

static void keyframe_request_in(cardea_pc *pc, guint32 media_ssrc) {
	int mi = -1;
	for (int i = 0; i < (int)pc->n_media && mi < 0; i++)
		if (pc->media[i].active && pc->media[i].local_ssrc == media_ssrc)
			mi = i;
	if (mi < 0) {
		/* FIR puts 0 in the header's media SSRC: use the first video m-line. */
		for (int i = 0; i < (int)pc->n_media && mi < 0; i++)
			if (pc->media[i].active && pc->media[i].video)
				mi = i;
	}
	if (mi < 0)
		return;
	pc->media[mi].keyframe_requests_in++;
	cardea_handle *h = pc->handle;
	if (g_atomic_int_get(&pc->active) && h->app && h->plugin->ops.plugin.incoming_keyframe_request)
		h->plugin->ops.plugin.incoming_keyframe_request(h->app, mi);
}

/* SR/RR from the peer: LSR for our RRs, RTT for what we send. */
static void rtcp_report_in(cardea_pc *pc, const cardea_rtcp_pkt *p) {
	gint64 now = g_get_monotonic_time();
	cardea_rtcp_sr sr;
	cardea_rtcp_rr rr;
	const cardea_rtcp_report_block *blocks;
	guint n;
	if (p->pt == CARDEA_RTCP_SR) {
		if (cardea_rtcp_parse_sr(p, &sr) != CARDEA_RTCP_OK)
			return;
		for (int i = 0; i < (int)pc->n_media; i++)
			if (pc->media[i].rstats.init && pc->media[i].rstats.ssrc == sr.ssrc)
				cardea_rtp_recv_stats_on_sr(&pc->media[i].rstats, sr.ntp_sec, sr.ntp_frac, now);
		blocks = sr.reports;
		n = sr.report_count;
	} else {
		if (cardea_rtcp_parse_rr(p, &rr) != CARDEA_RTCP_OK)
			return;
		blocks = rr.reports;
		n = rr.report_count;
	}
	for (guint k = 0; k < n; k++)
		for (int i = 0; i < (int)pc->n_media; i++) {
			pc_media *m = &pc->media[i];
			if (m->sstats_init && m->local_ssrc == blocks[k].ssrc &&
					cardea_rtp_send_stats_on_report(&m->sstats, &blocks[k], now))
				m->rtt_us = m->sstats.rtt_us;
		}
}

/* Consent (RFC 7675) with a 30 s expiry. libnice's own consent mode gives up
 * 10 s after its last answered check and sends each check once, so a single
 * lost request or answer hung up calls whose media flowed (3 of 19 runs of
 * tests/integration/test_netem.py at 5% loss). The agent now runs keepalive
 * connchecks instead (ice.c: it gives up after 50 s without an answer), and
 * this ends a PC whose peer sent authenticated RTP or RTCP and then none for
 * PC_PEER_SILENCE_US while media m-lines are negotiated: WebRTC stacks send
 * RTCP every few seconds even when they only receive. Peers that never sent
 * any (cardea-load's subscribers send no RTCP) and data-channel-only PCs are
 * left to the agent's 50 s. */
static gboolean peer_silent(cardea_pc *pc, gint64 now) {
	gboolean media = FALSE;
	for (int i = 0; i < (int)pc->n_media && !media; i++)
		media = pc->media[i].present && pc->media[i].active;
	if (!media || pc->last_in_us == 0 || now - pc->last_in_us < PC_PEER_SILENCE_US)
		return FALSE;
	CARDEA_LOG(CARDEA_LOG_WARN, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] nothing from the peer for %"
		G_GINT64_FORMAT" s: consent expired", pc->sid, pc->hid, (now - pc->last_in_us) / G_USEC_PER_SEC);
	pc_end(pc, "ICE failed");
	return TRUE;
}

/* Every second: one compound per m-line, SR when we sent since the start,
 * else RR, each with a report block about what the peer sends there. */
static gboolean rtcp_timer_cb(gpointer data) {
	cardea_pc *pc = data;
	cardea_srtp *srtp = pc->dtls ? cardea_dtls_get_srtp(pc->dtls) : NULL;
	if (!pc->up || srtp == NULL)
		return G_SOURCE_CONTINUE;
	gint64 now = g_get_monotonic_time(), wall = g_get_real_time();
	if (peer_silent(pc, now))
		return G_SOURCE_CONTINUE;
	for (int i = 0; i < (int)pc->n_media; i++) {
		pc_media *m = &pc->media[i];
		if (!m->present || !m->active)
			continue;
		guint32 me = m->local_ssrc ? m->local_ssrc : 1;
		cardea_rtcp_report_block rb;
		gboolean have_rb = m->rstats.init && cardea_rtp_recv_stats_report(&m->rstats, now, &rb);
		cardea_rtcp_builder b;
		cardea_rtcp_builder_init(&b, pc->scratch, sizeof(pc->scratch) - CARDEA_SRTP_MAX_OVERHEAD, me, FALSE);
		if (m->sstats_init && m->sstats.packets > 0) {
			cardea_rtcp_sr sr;
			cardea_rtp_send_stats_build_sr(&m->sstats, now, wall, &sr);
			if (have_rb)
				sr.reports[sr.report_count++] = rb;
			cardea_rtcp_builder_commit(&b, cardea_rtcp_write_sr(cardea_rtcp_builder_tail(&b),
				cardea_rtcp_builder_room(&b), &sr));
		} else {
			cardea_rtcp_rr rr = { .ssrc = me };
			if (have_rb)
				rr.reports[rr.report_count++] = rb;
			cardea_rtcp_builder_commit(&b, cardea_rtcp_write_rr(cardea_rtcp_builder_tail(&b),
				cardea_rtcp_builder_room(&b), &rr));
		}
		cardea_rtcp_builder_commit(&b, cardea_rtcp_write_sdes_cname(cardea_rtcp_builder_tail(&b),
			cardea_rtcp_builder_room(&b), me, "janus"));
		gsize len = cardea_rtcp_builder_finish(&b);
		if (len > 0 && cardea_srtp_protect_rtcp(srtp, pc->scratch, &len, sizeof(pc->scratch)) == CARDEA_SRTP_OK)
			cardea_ice_send(pc->ice, pc->scratch, len);
	}
	return G_SOURCE_CONTINUE;
}

static void incoming_rtcp(cardea_pc *pc, guint8 *buf, gsize len) {
	cardea_srtp *srtp = pc->dtls ? cardea_dtls_get_srtp(pc->dtls) : NULL;
	if (srtp == NULL || !pc->up) {
		pc->early_drops++;
		return;
	}
	if (cardea_srtp_unprotect_rtcp(srtp, buf, &len) != CARDEA_SRTP_OK) {
		pc->srtp_drops++;
		return;
	}
	pc->last_in_us = g_get_monotonic_time();
	cardea_rtcp_iter it;
	if (cardea_rtcp_iter_init(&it, buf, len) != CARDEA_RTCP_OK) {
		pc->rtcp_invalid++;
		return;
	}
	cardea_rtcp_pkt p;
	while (cardea_rtcp_next(&it, &p)) {
		if (p.pt == CARDEA_RTCP_SR || p.pt == CARDEA_RTCP_RR) {
			rtcp_report_in(pc, &p);
			continue;
		}
		if (cardea_pc_rtcp_feedback_in(pc, &p))
			continue;
		if (p.pt != CARDEA_RTCP_PSFB || (p.count != CARDEA_RTCP_PSFB_PLI && p.count != CARDEA_RTCP_PSFB_FIR))
			continue;
		cardea_rtcp_fb fb;
		if (cardea_rtcp_parse_fb(&p, &fb) != CARDEA_RTCP_OK)
			continue;
		guint32 target = fb.media_ssrc;
		if (p.count == CARDEA_RTCP_PSFB_FIR && fb.fci_len >= 8)
			target = ((guint32)fb.fci[0] << 24) | ((guint32)fb.fci[1] << 16) | ((guint32)fb.fci[2] << 8) | fb.fci[3];
		keyframe_request_in(pc, target);
	}
}

/* ---- ICE callbacks (loop thread) ---- */

/* Full trickle: a server `trickle` event per local candidate (NULL: the
 * `completed` one), as soon as it is known. It may overtake the jsep that
 * carries our credentials; clients queue such candidates (janus.js does). */
static void send_trickle(cardea_pc *pc, const char *candidate, const char *mid) {
	cardea_handle *h = pc->handle;
	json_t *ev = cardea_handle_event_new(h, "trickle");
	json_t *c = candidate ? json_pack("{s:s, s:i, s:s}", "sdpMid", mid, "sdpMLineIndex", 0, "candidate", candidate)
		: json_pack("{s:b}", "completed", 1);
	json_object_set_new(ev, "candidate", c);
	cardea_session_send_event(h->session, ev);
}

static void ice_candidate_cb(cardea_ice *ice, const char *candidate, void *user_data) {
	cardea_pc *pc = user_data;
	char mid[32];
	g_mutex_lock(&pc->mutex);
	g_ptr_array_add(pc->local_candidates, g_strdup(candidate));
	gboolean trickle = pc->full_trickle;
	g_strlcpy(mid, pc->mids[pc->bundle_index], sizeof(mid));
	g_mutex_unlock(&pc->mutex);
	if (trickle && g_atomic_int_get(&pc->active))
		send_trickle(pc, candidate, mid);
}

/* `ice` NULL: no transport could be made; only wakes the SDP builder. */
static void ice_gathering_done_cb(cardea_ice *ice, void *user_data) {
	cardea_pc *pc = user_data;
	g_mutex_lock(&pc->mutex);
	pc->gathering_done = TRUE;
	g_cond_broadcast(&pc->cond);
	gboolean trickle = pc->full_trickle;
	g_mutex_unlock(&pc->mutex);
	if (ice && trickle && g_atomic_int_get(&pc->active))
		send_trickle(pc, NULL, NULL);
}

static void ice_state_cb(cardea_ice *ice, cardea_ice_state state, void *user_data) {
	cardea_pc *pc = user_data;
	CARDEA_LOG(CARDEA_LOG_VERB, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] ICE %s",
		pc->sid, pc->hid, cardea_ice_state_name(state));
	if (state == CARDEA_ICE_CONNECTED && !pc->ice_connected) {
		pc->ice_connected = TRUE;
		if (pc->dtls) {
			cardea_dtls_start(pc->dtls);
			dtls_rearm(pc);
		}
		check_up(pc);
	} else if (state == CARDEA_ICE_FAILED) {
		pc_end(pc, "ICE failed");
	}
}

static void ice_receive_cb(cardea_ice *ice, guint8 *buf, gsize len, void *user_data) {
	cardea_pc *pc = user_data;
	if (!g_atomic_int_get(&pc->active))
		return;
	switch (cardea_packet_classify(buf, len)) {
	case CARDEA_PACKET_DTLS:
		if (pc->dtls) {
			cardea_dtls_incoming(pc->dtls, buf, len);
			dtls_rearm(pc);
		}
		break;
	case CARDEA_PACKET_RTP:
		incoming_rtp(pc, buf, len);
		break;
	case CARDEA_PACKET_RTCP:
		incoming_rtcp(pc, buf, len);
		break;
	default:
		break;
	}
}

/* ---- remote description (API thread parses, loop thread applies) ---- */


static void pc_remote_free(gpointer data) {
	pc_remote *r = data;
	cardea_handle_unref(r->handle);
	g_free(r->ufrag);
	g_free(r->pwd);
	g_free(r->local_ufrag);
	g_free(r->local_pwd);
	g_free(r->fp_alg);
	g_free(r->fp_value);
	g_ptr_array_free(r->candidates, TRUE);
	if (r->local)
		cardea_pc_priv_local_free(r->local);
	g_free(r);
}

/* The ICE agent (credentials chosen by the API thread: pc->local_*) and
 * the RTCP timers; gathering starts with cardea_ice_gather. */
static gboolean create_ice(cardea_pc *pc, gboolean controlling, const char *ufrag, const char *pwd) {
	const cardea_settings *s = &cardea_gw->settings;
	cardea_ice_options o = {
		.controlling = controlling,
		.lite = s->ice_lite,
		.tcp = s->ice_tcp,
		.stun_server = s->stun_server,
		.stun_port = (guint)s->stun_port,
		.turn_server = s->turn_server,
		.turn_port = (guint)s->turn_port,
		.turn_type = s->turn_type,
		.turn_user = s->turn_user,
		.turn_pwd = s->turn_pwd,
		.port_min = (guint)MAX(s->rtp_port_min, 0),
		.port_max = (guint)MAX(s->rtp_port_max, 0),
		.local_addresses = local_addresses(),
		.public_ips = public_ips(),
		.keepalive_checks = TRUE,
		.ufrag = ufrag,
		.pwd = pwd,
	};
	static const cardea_ice_callbacks icb = {
		ice_candidate_cb, ice_gathering_done_cb, ice_state_cb, ice_receive_cb,
	};
	/* pc->local_ufrag/pwd were set with r->local_* by the API thread. */
	pc->ice = cardea_ice_new(pc->loop->context, &o, &icb, pc);
	if (pc->ice == NULL)
		return FALSE;
	pc->rtcp_tick = cardea_loop_tick_add(pc->loop->context, 1000, rtcp_timer_cb, pc);
	cardea_pc_rtcp_start(pc);
	return TRUE;
}

/* DTLS once the role and the peer's fingerprint are known (the remote
 * offer, or the answer to ours; ICE may already be connected then). */
static gboolean create_dtls(cardea_pc *pc, const pc_remote *r) {
	cardea_dtls_config dc = { .role = r->role, .mtu = (guint)cardea_gw->settings.dtls_mtu, .log_id = pc->hid };
	static const cardea_dtls_callbacks dcb = { dtls_send_cb, dtls_state_cb, cardea_pc_data_dtls_in };
	GError *err = NULL;
	pc->dtls = cardea_dtls_new(&dc, &dcb, pc, &err);
	if (pc->dtls == NULL || !cardea_dtls_add_remote_fingerprint(pc->dtls, r->fp_alg, r->fp_value, &err)) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] DTLS setup failed: %s",
			pc->sid, pc->hid, err ? err->message : "?");
		g_clear_error(&err);
		return FALSE;
	}
	if (pc->ice_connected) {
		cardea_dtls_start(pc->dtls);
		dtls_rearm(pc);
	}
	return TRUE;
}

static gboolean create_transport(cardea_pc *pc, pc_remote *r) {
	if (!create_ice(pc, r->controlling, r->local_ufrag, r->local_pwd) || !create_dtls(pc, r))
		return FALSE;
	cardea_ice_set_remote_credentials(pc->ice, r->ufrag, r->pwd);
	return cardea_ice_gather(pc->ice);
}

/* A plugin thread may mark the PC active again for its offer just after the
 * handle was detached (push_event checked the handle before the detach): the
 * detach's teardown has run by then, so a transport made now would outlive
 * the PC, whose last handle ref goes with this very invocation (its timers
 * then fired on freed memory: fuzz_api, tests/fuzz/README.md). Runs on the
 * loop, where the detach's teardown is queued after any earlier invocation. */
static gboolean detached_meanwhile(cardea_pc *pc) {
	if (!g_atomic_int_get(&pc->handle->detached))
		return FALSE;
	if (g_atomic_int_compare_and_exchange(&pc->active, 1, 0))
		cardea_pc_slot_release();
	/* Unblock the offer builder waiting for candidates (it then fails). */
	ice_gathering_done_cb(NULL, pc);
	return TRUE;
}

/* A new transport starts every m-line's counters and feedback state afresh. */
static void media_clear(cardea_pc *pc) {
	if (pc->n_media > 0)
		memset(pc->media, 0, pc->n_media * sizeof(pc_media));
}

gboolean cardea_pc_priv_offer_transport(gpointer data) {
	cardea_pc *pc = data;
	if (!g_atomic_int_get(&pc->active) || detached_meanwhile(pc))
		return G_SOURCE_REMOVE;
	teardown_loop(pc);
	media_clear(pc);
	/* Credentials were chosen under the mutex by the offer builder. */
	g_mutex_lock(&pc->mutex);
	char *ufrag = g_strdup(pc->local_ufrag), *pwd = g_strdup(pc->local_pwd);
	g_mutex_unlock(&pc->mutex);
	/* RFC 8445 6.1.1: the offerer controls (ice.c keeps a lite agent controlled). */
	gboolean ok = create_ice(pc, TRUE, ufrag, pwd) && cardea_ice_gather(pc->ice);
	g_free(ufrag);
	g_free(pwd);
	if (!ok) {
		ice_gathering_done_cb(NULL, pc);
		pc_end(pc, "ICE gathering error");
	}
	return G_SOURCE_REMOVE;
}

gboolean cardea_pc_priv_offer_restart(gpointer data) {
	cardea_pc *pc = data;
	if (!g_atomic_int_get(&pc->active) || pc->ice == NULL || detached_meanwhile(pc))
		return G_SOURCE_REMOVE;
	g_mutex_lock(&pc->mutex);
	char *ufrag = g_strdup(pc->local_ufrag), *pwd = g_strdup(pc->local_pwd);
	g_mutex_unlock(&pc->mutex);
	if (!cardea_ice_restart(pc->ice, ufrag, pwd))
		pc_end(pc, "ICE failed");
	else
		CARDEA_LOG(CARDEA_LOG_INFO, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] ICE restart (our offer)",
			pc->sid, pc->hid);
	g_free(ufrag);
	g_free(pwd);
	return G_SOURCE_REMOVE;
}

static gboolean apply_remote(gpointer data) {
	pc_remote *r = data;
	cardea_pc *pc = r->pc;
	if (!g_atomic_int_get(&pc->active) || detached_meanwhile(pc))
		return G_SOURCE_REMOVE;
	if (r->fresh) {
		teardown_loop(pc);
		media_clear(pc);
		if (!create_transport(pc, r)) {
			/* Unblock a local-SDP builder waiting for candidates. */
			ice_gathering_done_cb(NULL, pc);
			pc_end(pc, "ICE gathering error");
			return G_SOURCE_REMOVE;
		}
	} else if (r->restart && pc->ice) {
		/* DTLS, SRTP and the m-lines carry on; only connectivity is redone,
		 * on new local ports (ice.h says why a peer's restart needs them). */
		if (!cardea_ice_restart_new_ports(pc->ice, r->local_ufrag, r->local_pwd) ||
				!cardea_ice_set_remote_credentials(pc->ice, r->ufrag, r->pwd)) {
			ice_gathering_done_cb(NULL, pc);
			pc_end(pc, "ICE failed");
			return G_SOURCE_REMOVE;
		}
		CARDEA_LOG(CARDEA_LOG_INFO, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] ICE restart",
			pc->sid, pc->hid);
	}
	if (r->local && pc->ice == NULL)
		return G_SOURCE_REMOVE;     /* our offer's transport failed: already ended */
	if (r->create_dtls && pc->dtls == NULL && !create_dtls(pc, r)) {
		pc_end(pc, "DTLS error");
		return G_SOURCE_REMOVE;
	}
	if (r->set_credentials && !cardea_ice_set_remote_credentials(pc->ice, r->ufrag, r->pwd)) {
		pc_end(pc, "ICE failed");
		return G_SOURCE_REMOVE;
	}
	pc->mid_ext_id = r->mid_ext_id;
	cardea_pc_priv_media_reserve(pc, r->n_media);
	for (int i = 0; i < (int)pc->n_media; i++) {
		pc_media *m = &pc->media[i], *rm = &r->media[i];
		m->present = rm->present;
		m->video = rm->video;
		memcpy(m->mid, rm->mid, sizeof(m->mid));
		memcpy(m->remote_ssrcs, rm->remote_ssrcs, sizeof(m->remote_ssrcs));
		m->n_remote_ssrcs = rm->n_remote_ssrcs;
		/* The first a=ssrc is the media SSRC (rtx follows): a PLI target even
		 * before the first packet arrives. */
		if (m->remote_ssrc == 0 && rm->n_remote_ssrcs > 0)
			m->remote_ssrc = rm->remote_ssrcs[0];
		memcpy(m->pts, rm->pts, sizeof(m->pts));
		m->n_pts = rm->n_pts;
		cardea_pc_sim_apply_remote(&m->sim, &rm->sim);
	}
	pc->data_remote = r->data;
	if (r->local)
		cardea_pc_priv_apply_local(r->local);
	cardea_pc_data_maybe_start(pc);
	for (guint i = 0; i < r->candidates->len; i++)
		cardea_ice_add_remote_candidate(pc->ice, g_ptr_array_index(r->candidates, i));
	if (r->end_of_candidates)
		cardea_ice_remote_gathering_done(pc->ice);
	return G_SOURCE_REMOVE;
}

void cardea_pc_priv_media_reserve(cardea_pc *pc, guint n) {
	g_assert(n <= PC_MAX_MLINES);
	if (n <= pc->n_media)
		return;
	pc->media = g_renew(pc_media, pc->media, n);
	memset(pc->media + pc->n_media, 0, (n - pc->n_media) * sizeof(pc_media));
	pc->n_media = n;
}

cardea_pc *cardea_pc_priv_get(cardea_handle *h) {
	cardea_pc *pc = pc_of(h);
	if (pc != NULL)
		return pc;
	pc = g_new0(cardea_pc, 1);
	pc->handle = h;
	pc->sid = h->session->id;
	pc->hid = h->id;
	pc->loop = cardea_loop_acquire(-1);
	g_mutex_init(&pc->mutex);
	g_cond_init(&pc->cond);
	pc->local_candidates = g_ptr_array_new_with_free_func(g_free);
	/* RFC 3264 5: one session id for every description we send, the
	 * version grows with each (63 bits: some parsers choke on more). */
	pc->sdp_sess_id = ((guint64)g_random_int() << 31 ^ g_random_int()) & G_GINT64_CONSTANT(0x3fffffffffffffff);
	pc->sdp_version = 0;
	/* A client offer (API thread) and a plugin offer (its own thread) may
	 * race to create it: one wins, the other uses the winner's. */
	if (!g_atomic_pointer_compare_and_exchange(&h->pc, NULL, pc)) {
		cardea_pc_free(pc);
		pc = pc_of(h);
	}
	return pc;
}

guint32 cardea_pc_priv_new_ssrc(void) {
	guint32 v;
	do {
		v = g_random_int();
	} while (v == 0);
	return v;
}

static gboolean trickle_apply(gpointer data);
static void drain_trickles(cardea_handle *h, cardea_pc *pc);

int cardea_pc_process_remote(cardea_handle *h, json_t *jsep, char **reason) {
	const char *type = json_string_value(json_object_get(jsep, "type"));
	const char *text = json_string_value(json_object_get(jsep, "sdp"));
	gboolean offer = type && g_ascii_strcasecmp(type, "offer") == 0;
	GError *err = NULL;
	cardea_sdp *sdp = cardea_sdp_parse(text, strlen(text), NULL, &err);
	if (sdp == NULL || !cardea_sdp_validate_webrtc(sdp, &err)) {
		*reason = g_strdup_printf("JSEP error: invalid SDP (%s)", err ? err->message : "?");
		g_clear_error(&err);
		cardea_sdp_free(sdp);
		return CARDEA_ERROR_JSEP_INVALID_SDP;
	}
	if (cardea_loops_count() == 0) {
		cardea_sdp_free(sdp);
		*reason = g_strdup("No media event loop running");
		return CARDEA_ERROR_WEBRTC_STATE;
	}
	const cardea_sdp_mline *first = NULL;
	for (guint i = 0; i < sdp->n_mlines && first == NULL; i++)
		if (cardea_sdp_mline_is_active(sdp->mlines[i]))
			first = sdp->mlines[i];
	/* An answer may reject every m-line of a re-offer that disabled them all
	 * (the transport stays up): pc-offer.c decides. */
	if ((first == NULL && offer) || sdp->n_mlines > PC_MAX_MLINES) {
		cardea_sdp_free(sdp);
		*reason = g_strdup_printf("JSEP error: invalid SDP (%s)",
			first ? "too many m-lines" : "no active m-line");
		return CARDEA_ERROR_JSEP_INVALID_SDP;
	}
	pc_remote *r = g_new0(pc_remote, 1);
	r->candidates = g_ptr_array_new_with_free_func(g_free);
	if (first == NULL)
		first = sdp->mlines[0];     /* only for the lookups below: nothing is active */
	r->ufrag = g_strdup(cardea_sdp_mline_ice_ufrag(sdp, first));
	r->pwd = g_strdup(cardea_sdp_mline_ice_pwd(sdp, first));
	const cardea_sdp_fingerprint *fp = cardea_sdp_mline_fingerprint(sdp, first);
	r->fp_alg = g_strdup(fp ? fp->algorithm : NULL);
	r->fp_value = g_strdup(fp ? fp->value : NULL);
	cardea_sdp_setup setup = cardea_sdp_mline_setup(sdp, first);
	/* Like Janus we take the DTLS client role whenever the peer lets us
	 * (offer actpass/passive, or an answer saying passive). */
	r->role = setup == CARDEA_SDP_SETUP_ACTIVE ? CARDEA_DTLS_ROLE_PASSIVE : CARDEA_DTLS_ROLE_ACTIVE;
	/* RFC 8445 6.1.1: the offerer controls, unless it is lite and we are not
	 * (ice.c keeps a lite agent controlled whatever this says). */
	r->controlling = !offer || sdp->ice_lite;
	r->end_of_candidates = sdp->end_of_candidates;
	r->mid_ext_id = (guint8)cardea_sdp_find_extmap(first, CARDEA_SDP_EXT_MID);
	const char *rid_order = json_string_value(json_object_get(jsep, "rid_order"));
	gboolean lmh = rid_order && g_ascii_strcasecmp(rid_order, "lmh") == 0;
	r->n_media = sdp->n_mlines;
	for (guint i = 0; i < sdp->n_mlines; i++) {
		const cardea_sdp_mline *m = sdp->mlines[i];
		pc_media *pm = &r->media[i];
		pm->present = cardea_sdp_mline_is_active(m) && m->rtp;
		pm->video = m->kind == CARDEA_SDP_MEDIA_VIDEO;
		g_strlcpy(pm->mid, m->mid ? m->mid : "", sizeof(pm->mid));
		for (guint k = 0; k < m->n_ssrcs && pm->n_remote_ssrcs < PC_MAX_SSRCS; k++)
			pm->remote_ssrcs[pm->n_remote_ssrcs++] = m->ssrcs[k].ssrc;
		for (guint k = 0; k < m->n_payloads && pm->n_pts < PC_MAX_PTS; k++)
			pm->pts[pm->n_pts++] = (guint8)m->payloads[k].pt;
		cardea_pc_sim_remote(m, lmh, &pm->sim);
		/* Bundled: only the candidates of the transport we use (aiortc writes
		 * one ICE agent per m-line before BUNDLE is agreed). */
		if (g_strcmp0(cardea_sdp_mline_ice_ufrag(sdp, m), r->ufrag) == 0)
			for (guint k = 0; k < m->n_candidates; k++)
				g_ptr_array_add(r->candidates, cardea_sdp_candidate_format(&m->candidates[k]));
		if (m->end_of_candidates)
			r->end_of_candidates = TRUE;
	}

	cardea_pc_data_remote_sdp(sdp, &r->data);
	cardea_pc *pc = offer ? cardea_pc_priv_get(h) : pc_of(h);
	r->pc = pc;
	cardea_handle_ref(h);
	r->handle = h;
	if (!offer) {
		/* The answer to our offer: pc-offer.c checks it against the offer
		 * and works out our negotiated half. */
		int code = pc ? cardea_pc_offer_answer(pc, sdp, r, reason) : CARDEA_ERROR_UNEXPECTED_ANSWER;
		if (pc == NULL)
			*reason = g_strdup("Unexpected ANSWER (no OFFER)");
		cardea_sdp_free(sdp);
		if (code != 0) {
			pc_remote_free(r);
			return code;
		}
		cardea_loop_invoke(pc->loop, apply_remote, r, pc_remote_free);
		drain_trickles(h, pc);
		return 0;
	}
	gboolean fresh = !g_atomic_int_get(&pc->active);
	json_t *trickle = json_object_get(jsep, "trickle");
	g_mutex_lock(&pc->mutex);
	if (pc->offer_pending) {
		/* Glare: both sides offered. Ours stands; the client answers it first. */
		g_mutex_unlock(&pc->mutex);
		cardea_sdp_free(sdp);
		pc_remote_free(r);
		*reason = g_strdup("JSEP error: an offer from the gateway is pending (answer it first)");
		return CARDEA_ERROR_WEBRTC_STATE;
	}
	/* media.max_peerconnections: a PC that is not live yet needs a slot. */
	if (fresh && !cardea_pc_slot_reserve()) {
		g_mutex_unlock(&pc->mutex);
		cardea_sdp_free(sdp);
		pc_remote_free(r);
		*reason = g_strdup_printf("Maximum number of PeerConnections (%d) reached",
			cardea_gw->settings.max_peerconnections);
		return CARDEA_ERROR_UNKNOWN;
	}
	/* A live DTLS association keeps its roles (RFC 8842 5.5): an answer to
	 * a re-offer repeats the role we have, whatever the offer allows. */
	if (!fresh)
		r->role = pc->role;
	/* New remote credentials on a live transport = ICE restart (same ones: a
	 * plain renegotiation). Our new credentials are chosen here, not on the
	 * loop, so the answer can never carry stale ones. */
	gboolean restart = !fresh && (g_strcmp0(pc->remote_ufrag, r->ufrag) != 0 || g_strcmp0(pc->remote_pwd, r->pwd) != 0);
	if (fresh || restart) {
		g_free(pc->local_ufrag);
		g_free(pc->local_pwd);
		cardea_ice_random_credentials(&pc->local_ufrag, &pc->local_pwd);
		r->local_ufrag = g_strdup(pc->local_ufrag);
		r->local_pwd = g_strdup(pc->local_pwd);
		g_free(pc->remote_ufrag);
		g_free(pc->remote_pwd);
		pc->remote_ufrag = g_strdup(r->ufrag);
		pc->remote_pwd = g_strdup(r->pwd);
	}
	if (fresh || restart) {
		/* The answer waits for (or trickles) the candidates gathered anew. */
		pc->gathering_done = FALSE;
		g_ptr_array_set_size(pc->local_candidates, 0);
	}
	if (fresh) {
		memset(pc->local_ssrcs, 0, sizeof(pc->local_ssrcs));
		memset(pc->local_rtx_ssrcs, 0, sizeof(pc->local_rtx_ssrcs));
		pc->full_trickle = cardea_gw->settings.full_trickle && !json_is_false(trickle);
	}
	pc->n_mlines = sdp->n_mlines;
	pc->bundle_index = first->index;
	pc->role = r->role;
	pc->remote_mixed = sdp->extmap_allow_mixed;
	for (guint i = 0; i < sdp->n_mlines; i++) {
		g_strlcpy(pc->mids[i], r->media[i].mid, sizeof(pc->mids[i]));
		if (pc->local_ssrcs[i] == 0)
			pc->local_ssrcs[i] = cardea_pc_priv_new_ssrc();
		if (pc->local_rtx_ssrcs[i] == 0)
			pc->local_rtx_ssrcs[i] = cardea_pc_priv_new_ssrc();
	}
	g_mutex_unlock(&pc->mutex);
	cardea_sdp_free(sdp);
	r->fresh = fresh;
	r->restart = restart;
	if (fresh)
		CARDEA_LOG(CARDEA_LOG_VERB, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] new PeerConnection on loop %d (we are DTLS %s)",
			pc->sid, pc->hid, pc->loop->index, r->role == CARDEA_DTLS_ROLE_ACTIVE ? "client" : "server");
	cardea_pc_slot_mark_active(&pc->active, fresh);
	cardea_loop_invoke(pc->loop, apply_remote, r, pc_remote_free);
	drain_trickles(h, pc);
	return 0;
}

/* Trickles that came before the SDP they belong to. */
static void drain_trickles(cardea_handle *h, cardea_pc *pc) {
	g_mutex_lock(&h->mutex);
	GQueue queued = h->pending_candidates;
	g_queue_init(&h->pending_candidates);
	g_mutex_unlock(&h->mutex);
	gint64 now = g_get_monotonic_time(), max_age = (gint64)cardea_gw->settings.candidates_timeout * G_USEC_PER_SEC;
	guint expired = 0;
	json_t *c;
	while ((c = g_queue_pop_head(&queued)) != NULL) {
		json_t *at = json_object_get(c, CARDEA_HANDLE_QUEUED_AT);
		if (json_is_integer(at) && now - json_integer_value(at) > max_age)
			expired++;
		else
			cardea_pc_trickle(h, c);
		json_decref(c);
	}
	if (expired)
		CARDEA_LOG(CARDEA_LOG_WARN, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] dropped %u trickle candidate(s) "
			"queued for more than candidates_timeout (%d s)", pc->sid, pc->hid, expired,
			cardea_gw->settings.candidates_timeout);
}

/* ---- trickle ---- */

typedef struct pc_trickle {
	cardea_pc *pc;
	cardea_handle *handle;          /* ref */
	char *candidate;                /* NULL: end of candidates */
} pc_trickle;

static void pc_trickle_free(gpointer data) {
	pc_trickle *t = data;
	cardea_handle_unref(t->handle);
	g_free(t->candidate);
	g_free(t);
}

static gboolean trickle_apply(gpointer data) {
	pc_trickle *t = data;
	cardea_pc *pc = t->pc;
	if (pc->ice == NULL || !g_atomic_int_get(&pc->active))
		return G_SOURCE_REMOVE;
	if (t->candidate == NULL)
		cardea_ice_remote_gathering_done(pc->ice);
	else if (!cardea_ice_add_remote_candidate(pc->ice, t->candidate))
		CARDEA_LOG(CARDEA_LOG_WARN, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] ignoring bad trickle candidate",
			pc->sid, pc->hid);
	return G_SOURCE_REMOVE;
}

gboolean cardea_pc_trickle(cardea_handle *h, json_t *candidate) {
	cardea_pc *pc = pc_of(h);
	if (pc == NULL || !g_atomic_int_get(&pc->active))
		return FALSE;
	/* Bundle: candidates for other m-lines belong to transports nobody uses. */
	json_t *mid = json_object_get(candidate, "sdpMid"), *index = json_object_get(candidate, "sdpMLineIndex");
	g_mutex_lock(&pc->mutex);
	gboolean other = (json_is_string(mid) && strcmp(json_string_value(mid), pc->mids[pc->bundle_index]) != 0) ||
		(mid == NULL && json_is_integer(index) && json_integer_value(index) != (json_int_t)pc->bundle_index);
	/* Before the answer to an offer of ours that (re)starts ICE the agent has
	 * no remote credentials: queue on the handle, the answer drains it. */
	gboolean early = pc->offer_pending && (pc->offer_fresh || pc->offer_restart);
	g_mutex_unlock(&pc->mutex);
	if (early)
		return FALSE;
	if (other)
		return TRUE;
	pc_trickle *t = g_new0(pc_trickle, 1);
	t->pc = pc;
	cardea_handle_ref(h);
	t->handle = h;
	if (!json_is_true(json_object_get(candidate, "completed"))) {
		const char *cand = json_string_value(json_object_get(candidate, "candidate"));
		if (cand == NULL || *cand == '\0') {
			/* An empty candidate string also means end-of-candidates. */
			t->candidate = NULL;
		} else {
			t->candidate = g_strdup(cand);
		}
	}
	cardea_loop_invoke(pc->loop, trickle_apply, t, pc_trickle_free);
	return TRUE;
}

/* ---- media out (plugin services) ---- */

/* relay_rtp (cardea_pc_relay_rtp) and the per-loop relay rings: relay.c. */

static cardea_handle *media_handle(cardea_plugin_session *app) {
	if (app == NULL || app->core_handle == NULL || g_atomic_int_get(&app->stopped))
		return NULL;
	return app->core_handle;
}

typedef struct pc_kf {
	cardea_pc *pc;
	cardea_handle *handle;          /* ref */
	int mindex;
} pc_kf;

static gboolean keyframe_apply(gpointer data) {
	pc_kf *k = data;
	/* Rate-limited PLI/FIR (pc-rtcp.c), and the other simulcast substreams. */
	cardea_pc_rtcp_request_keyframe(k->pc, k->mindex);
	cardea_pc_sim_request_keyframe(k->pc, k->mindex);
	return G_SOURCE_REMOVE;
}

static void pc_kf_free(gpointer data) {
	pc_kf *k = data;
	cardea_handle_unref(k->handle);
	g_free(k);
}

void cardea_pc_send_keyframe_request(cardea_plugin_session *app, int mindex) {
	cardea_handle *h = media_handle(app);
	cardea_pc *pc = pc_of(h);
	if (pc == NULL)
		return;
	pc_kf local = { pc, NULL, mindex };
	if (cardea_loop_is_current(pc->loop)) {
		keyframe_apply(&local);
		return;
	}
	pc_kf *k = g_new(pc_kf, 1);
	*k = local;
	cardea_handle_ref(h);
	k->handle = h;
	cardea_loop_invoke(pc->loop, keyframe_apply, k, pc_kf_free);
}

