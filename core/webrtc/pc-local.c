/* PeerConnection glue, second half: the local description (what the
 * plugin's SDP becomes before the client sees it) and admin handle_info.
 * Both run off the loop thread and only exchange data with it through
 * pc->mutex or cardea_loop_invoke (see pc.h). */
#include "webrtc/pc-priv.h"

/* ---- local description ---- */

void cardea_pc_priv_local_free(gpointer data) {
	pc_local *l = data;
	cardea_handle_unref(l->handle);
	g_free(l);
}

gboolean cardea_pc_priv_apply_local(gpointer data) {
	pc_local *l = data;
	cardea_pc *pc = l->pc;
	cardea_pc_priv_media_reserve(pc, l->n_media);
	for (int i = 0; i < (int)pc->n_media; i++) {
		pc_media *m = &pc->media[i], *lm = &l->media[i];
		m->active = lm->active;
		m->send = lm->send;
		m->local_ssrc = lm->local_ssrc;
		memcpy(m->local_pts, lm->local_pts, sizeof(m->local_pts));
		m->n_local_pts = lm->n_local_pts;
		memcpy(m->codec, lm->codec, sizeof(m->codec));
		cardea_pc_rtcp_apply_local(pc, i, lm);
		cardea_pc_sim_apply_local(&m->sim, &lm->sim);
	}
	pc->data_local = l->data;
	cardea_pc_data_maybe_start(pc);
	return G_SOURCE_REMOVE;
}

/* "sha-256 AB:CD:..." into bytes. */
static guint parse_fingerprint(const char *text, cardea_sdp_hash *hash, guint8 *out, guint cap) {
	const char *sp = strchr(text, ' ');
	if (sp == NULL)
		return 0;
	*hash = g_str_has_prefix(text, "sha-256") ? CARDEA_SDP_HASH_SHA256 :
		g_str_has_prefix(text, "sha-384") ? CARDEA_SDP_HASH_SHA384 :
		g_str_has_prefix(text, "sha-512") ? CARDEA_SDP_HASH_SHA512 : CARDEA_SDP_HASH_OTHER;
	guint n = 0;
	for (const char *p = sp + 1; *p && n < cap; ) {
		int hi = g_ascii_xdigit_value(p[0]), lo = p[1] ? g_ascii_xdigit_value(p[1]) : -1;
		if (hi < 0 || lo < 0)
			return 0;
		out[n++] = (guint8)(hi << 4 | lo);
		p += 2;
		if (*p == ':')
			p++;
	}
	return n;
}

gboolean cardea_pc_priv_snapshot_take(cardea_pc *pc, pc_snapshot *snap, char **reason) {
	memset(snap, 0, sizeof(*snap));
	/* Half-trickle: our SDP carries every candidate, so wait (bounded) for
	 * gathering. Full trickle: what we have now; the rest goes in events. */
	gint64 deadline = g_get_monotonic_time() + PC_GATHER_WAIT_US;
	g_mutex_lock(&pc->mutex);
	/* A PC closed meanwhile (detach, hangup) gathers nothing: stop waiting
	 * within a slice instead of holding the plugin's thread for the whole
	 * wait (at shutdown that thread then woke up after the core was gone). */
	while (!pc->gathering_done && !pc->full_trickle && g_atomic_int_get(&pc->active)) {
		gint64 now = g_get_monotonic_time();
		if (now >= deadline)
			break;
		g_cond_wait_until(&pc->cond, &pc->mutex, MIN(deadline, now + PC_GATHER_SLICE_US));
	}
	snap->complete = pc->gathering_done || !pc->full_trickle;
	snap->ufrag = g_strdup(pc->local_ufrag);
	snap->pwd = g_strdup(pc->local_pwd);
	snap->candidates = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < pc->local_candidates->len; i++)
		g_ptr_array_add(snap->candidates, g_strdup(g_ptr_array_index(pc->local_candidates, i)));
	snap->n_mlines = pc->n_mlines;
	memcpy(snap->mids, pc->mids, sizeof(snap->mids));
	memcpy(snap->ssrcs, pc->local_ssrcs, sizeof(snap->ssrcs));
	memcpy(snap->rtx_ssrcs, pc->local_rtx_ssrcs, sizeof(snap->rtx_ssrcs));
	snap->role = pc->role;
	snap->mixed = pc->remote_mixed;
	snap->sess_id = pc->sdp_sess_id;
	snap->sess_version = ++pc->sdp_version;
	g_mutex_unlock(&pc->mutex);
	if (!g_atomic_int_get(&pc->active)) {
		*reason = g_strdup("the PeerConnection was closed");
		return FALSE;
	}
	if (snap->ufrag == NULL || snap->pwd == NULL) {
		*reason = g_strdup("ICE agent not ready");
		return FALSE;
	}
	return TRUE;
}

void cardea_pc_priv_snapshot_clear(pc_snapshot *snap) {
	g_free(snap->ufrag);
	g_free(snap->pwd);
	if (snap->candidates)
		g_ptr_array_free(snap->candidates, TRUE);
	memset(snap, 0, sizeof(*snap));
}

void cardea_pc_priv_mline_transport(cardea_sdp *sdp, cardea_sdp_mline *m, const pc_snapshot *snap,
		cardea_sdp_setup setup) {
	m->ice_ufrag = cardea_sdp_strdup(sdp, snap->ufrag);
	m->ice_pwd = cardea_sdp_strdup(sdp, snap->pwd);
	m->ice_options = cardea_sdp_strdup(sdp, "trickle");
	m->setup = setup;
	m->rtcp_mux = TRUE;
	for (guint k = 0; k < snap->candidates->len; k++) {
		cardea_sdp_candidate *c = cardea_sdp_candidate_parse(g_ptr_array_index(snap->candidates, k), NULL);
		if (c) {
			cardea_sdp_candidate_add(sdp, m, c);
			cardea_sdp_candidate_free(c);
		}
	}
	m->end_of_candidates = snap->complete;
}

gboolean cardea_pc_priv_session_complete(cardea_sdp *sdp, const pc_snapshot *snap, char **reason) {
	const char *fp_text = cardea_dtls_context_fingerprint();
	guint8 digest[64];
	cardea_sdp_hash hash = CARDEA_SDP_HASH_OTHER;
	guint digest_len = fp_text ? parse_fingerprint(fp_text, &hash, digest, sizeof(digest)) : 0;
	if (digest_len == 0) {
		*reason = g_strdup("no DTLS certificate");
		return FALSE;
	}
	if (cardea_sdp_find_group(sdp, "BUNDLE") == NULL) {
		cardea_sdp_group *bundle = NULL;
		for (guint i = 0; i < sdp->n_mlines; i++) {
			if (!cardea_sdp_mline_is_active(sdp->mlines[i]) || sdp->mlines[i]->mid == NULL)
				continue;
			if (bundle == NULL)
				bundle = cardea_sdp_group_add(sdp, "BUNDLE");
			cardea_sdp_group_add_mid(sdp, bundle, sdp->mlines[i]->mid);
		}
	}
	if (sdp->n_fingerprints == 0)
		cardea_sdp_fingerprint_add(sdp, NULL, hash, digest, digest_len);
	if (sdp->msid_semantic == NULL) {
		sdp->msid_semantic = cardea_sdp_strdup(sdp, "WMS");
		sdp->msid_semantic_ids = cardea_sdp_strdup(sdp, "*");
	}
	if (sdp->ice_options == NULL)
		sdp->ice_options = cardea_sdp_strdup(sdp, "trickle");
	sdp->ice_lite = cardea_gw->settings.ice_lite;
	sdp->origin.sess_id = snap->sess_id;
	sdp->origin.sess_version = snap->sess_version;
	return TRUE;
}

void cardea_pc_priv_mline_ssrc(cardea_sdp *sdp, cardea_sdp_mline *m, guint index, guint32 ssrc) {
	if (m->n_ssrcs > 0)
		return;
	char *track = g_strdup_printf("janus%u", index);
	if (m->n_msids == 0)
		cardea_sdp_msid_add(sdp, m, "janus", track);
	cardea_sdp_ssrc_add(sdp, m, ssrc, "janus", NULL, NULL);
	g_free(track);
}

/* Our answer to the client's offer. */
static json_t *local_answer(cardea_handle *h, cardea_pc *pc, json_t *jsep, char **reason) {
	const char *text = json_string_value(json_object_get(jsep, "sdp"));
	GError *err = NULL;
	cardea_sdp *sdp = cardea_sdp_parse(text, strlen(text), NULL, &err);
	if (sdp == NULL) {
		*reason = g_strdup_printf("plugin SDP: %s", err->message);
		g_error_free(err);
		return NULL;
	}
	pc_snapshot snap;
	json_t *result = NULL;
	if (!cardea_pc_priv_snapshot_take(pc, &snap, reason))
		goto done;
	if (sdp->n_mlines != snap.n_mlines) {
		*reason = g_strdup_printf("plugin SDP has %u m-lines, the offer %u", sdp->n_mlines, snap.n_mlines);
		goto done;
	}
	pc_local *l = g_new0(pc_local, 1);
	l->pc = pc;
	cardea_handle_ref(h);
	l->handle = h;
	cardea_sdp_setup setup = snap.role == CARDEA_DTLS_ROLE_ACTIVE ? CARDEA_SDP_SETUP_ACTIVE : CARDEA_SDP_SETUP_PASSIVE;
	l->n_media = sdp->n_mlines;
	for (guint i = 0; i < sdp->n_mlines; i++) {
		cardea_sdp_mline *m = sdp->mlines[i];
		if (m->mid == NULL && snap.mids[i][0])
			m->mid = cardea_sdp_strdup(sdp, snap.mids[i]);
		if (!cardea_sdp_mline_is_active(m))
			continue;
		cardea_pc_priv_mline_transport(sdp, m, &snap, setup);
		cardea_pc_data_local_mline(sdp, m, &l->data);
		if (!m->rtp)
			continue;
		cardea_sdp_direction dir = cardea_sdp_mline_direction(sdp, m);
		pc_media *lm = &l->media[i];
		lm->active = TRUE;
		lm->send = dir == CARDEA_SDP_DIR_SENDRECV || dir == CARDEA_SDP_DIR_SENDONLY || dir == CARDEA_SDP_DIR_UNSET;
		lm->local_ssrc = snap.ssrcs[i];
		for (guint k = 0; k < m->n_payloads && lm->n_local_pts < PC_MAX_PTS; k++)
			lm->local_pts[lm->n_local_pts++] = (guint8)m->payloads[k].pt;
		if (m->n_payloads > 0)
			g_strlcpy(lm->codec, cardea_sdp_payload_name(&m->payloads[0]) ? cardea_sdp_payload_name(&m->payloads[0]) : "", sizeof(lm->codec));
		if (lm->send)
			cardea_pc_priv_mline_ssrc(sdp, m, i, snap.ssrcs[i]);
		cardea_pc_rtcp_answer_mline(sdp, m, lm, snap.rtx_ssrcs[i]);
		cardea_pc_sim_local(m, &lm->sim);
	}
	if (!cardea_pc_priv_session_complete(sdp, &snap, reason)) {
		cardea_pc_priv_local_free(l);
		goto done;
	}
	sdp->extmap_allow_mixed = snap.mixed;
	char *out = cardea_sdp_write(sdp);
	result = json_deep_copy(jsep);
	json_object_set_new(result, "sdp", json_string(out));
	g_free(out);
	cardea_loop_invoke(pc->loop, cardea_pc_priv_apply_local, l, cardea_pc_priv_local_free);
done:
	cardea_pc_priv_snapshot_clear(&snap);
	cardea_sdp_free(sdp);
	return result;
}

json_t *cardea_pc_local_jsep(cardea_handle *h, json_t *jsep, char **reason) {
	const char *type = json_string_value(json_object_get(jsep, "type"));
	if (type && g_ascii_strcasecmp(type, "offer") == 0)
		return cardea_pc_offer_local(h, jsep, reason);
	cardea_pc *pc = pc_of(h);
	if (type == NULL || g_ascii_strcasecmp(type, "answer") != 0) {
		*reason = g_strdup_printf("unknown jsep type '%s'", type ? type : "");
		return NULL;
	}
	if (pc == NULL || !g_atomic_int_get(&pc->active)) {
		*reason = g_strdup("no PeerConnection to answer for");
		return NULL;
	}
	return local_answer(h, pc, jsep, reason);
}

/* ---- admin ---- */

typedef struct pc_info_req {
	cardea_pc *pc;
	json_t *out;
} pc_info_req;

static gboolean info_loop(gpointer data) {
	pc_info_req *q = data;
	cardea_pc *pc = q->pc;
	json_t *o = json_object();
	json_object_set_new(o, "active", json_boolean(g_atomic_int_get(&pc->active)));
	json_object_set_new(o, "loop", json_integer(pc->loop->index));
	json_object_set_new(o, "ice", pc->ice ? cardea_ice_info(pc->ice) : json_null());
	if (pc->dtls) {
		cardea_dtls_stats ds;
		cardea_dtls_get_stats(pc->dtls, &ds);
		cardea_srtp_suite suite = cardea_dtls_get_profile(pc->dtls);
		json_t *d = json_pack("{s:s, s:s, s:s?, s:I, s:I, s:I}",
			"state", cardea_dtls_state_name(cardea_dtls_get_state(pc->dtls)),
			"role", cardea_dtls_get_role(pc->dtls) == CARDEA_DTLS_ROLE_ACTIVE ? "client" : "server",
			"profile", suite != CARDEA_SRTP_SUITE_NONE ? cardea_dtls_profile_name(suite) : NULL,
			"datagrams_in", (json_int_t)ds.datagrams_in, "datagrams_out", (json_int_t)ds.datagrams_out,
			"retransmissions", (json_int_t)ds.retransmissions);
		cardea_srtp *srtp = cardea_dtls_get_srtp(pc->dtls);
		if (srtp) {
			cardea_srtp_stats ss;
			cardea_srtp_get_stats(srtp, &ss);
			json_object_set_new(d, "srtp", json_pack("{s:I, s:I, s:I, s:I, s:I}",
				"rtp_in_ok", (json_int_t)ss.rtp_in.ok, "rtp_in_auth_failures", (json_int_t)ss.rtp_in.auth_failures,
				"rtp_in_replays", (json_int_t)ss.rtp_in.replays, "rtp_out_ok", (json_int_t)ss.rtp_out.ok,
				"rtcp_in_ok", (json_int_t)ss.rtcp_in.ok));
		}
		json_object_set_new(o, "dtls", d);
	} else {
		json_object_set_new(o, "dtls", json_null());
	}
	json_object_set_new(o, "webrtcup", json_boolean(pc->up));
	json_t *media = json_array();
	for (int i = 0; i < (int)pc->n_media; i++) {
		pc_media *m = &pc->media[i];
		if (!m->present)
			continue;
		json_array_append_new(media, json_pack("{s:i, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"mindex", i, "mid", m->mid, "type", m->video ? "video" : "audio", "codec", m->codec,
			"send", m->send, "ssrc", (json_int_t)m->local_ssrc, "ssrc-peer", (json_int_t)m->remote_ssrc,
			"packets_in", (json_int_t)m->packets_in, "bytes_in", (json_int_t)m->bytes_in,
			"packets_out", (json_int_t)m->packets_out, "bytes_out", (json_int_t)m->bytes_out,
			"keyframe_requests_in", (json_int_t)m->keyframe_requests_in,
			"keyframe_requests_out", (json_int_t)m->keyframe_requests_out));
		json_t *jm = json_array_get(media, json_array_size(media) - 1);
		if (m->rtt_us > 0)
			json_object_set_new(jm, "rtt_ms", json_integer(m->rtt_us / 1000));
		if (m->rstats.init)
			json_object_set_new(jm, "jitter_in", json_integer(m->rstats.jitter_q4 >> 4));
		cardea_pc_rtcp_info_media(pc, i, jm);
		cardea_pc_sim_info(&m->sim, jm);
	}
	json_object_set_new(o, "media", media);
	cardea_pc_rtcp_info(pc, o);
	json_object_set_new(o, "data", cardea_pc_data_info(pc));
	json_object_set_new(o, "drops", json_pack("{s:I, s:I, s:I, s:I, s:I}",
		"srtp", (json_int_t)pc->srtp_drops, "rtp_invalid", (json_int_t)pc->rtp_invalid,
		"rtp_unknown_mline", (json_int_t)pc->rtp_unknown, "rtcp_invalid", (json_int_t)pc->rtcp_invalid,
		"before_webrtcup", (json_int_t)pc->early_drops));
	json_object_set_new(json_object_get(o, "drops"), "unaccepted_pt_out", json_integer((json_int_t)pc->pt_drops));
	q->out = o;
	return G_SOURCE_REMOVE;
}

json_t *cardea_pc_info(cardea_handle *h) {
	cardea_pc *pc = pc_of(h);
	if (pc == NULL)
		return json_null();
	pc_info_req q = { pc, NULL };
	cardea_pc_priv_run_sync(pc, info_loop, &q);
	return q.out ? q.out : json_null();
}
