/* PeerConnection glue, gateway-initiated negotiation: a plugin pushes a
 * jsep of type "offer" (first offer, or a re-offer on a live PC), the
 * client answers with a normal message carrying a jsep of type "answer".
 *
 * The offer: the plugin writes the media half with cardea/sdp.h (m-lines,
 * mids, directions, codecs, extmaps); cardea_pc_offer_local() adds the
 * transport half (ICE credentials and candidates, fingerprint, setup
 * actpass, BUNDLE, rtcp-mux, our SSRCs, RTX) exactly like an answer, and
 * keeps the completed offer on the PC until the answer comes. For a first
 * offer it also starts the transport: a controlling ICE agent gathers now,
 * DTLS waits for the answer (which tells the roles and the fingerprint).
 *
 * The answer: cardea_pc_offer_answer() (API thread, from
 * cardea_pc_process_remote, before the plugin sees the message) checks it
 * against the offer and works out our negotiated half: what the peer
 * accepted (m-lines, PTs, feedback, extensions) and in which direction we
 * send. pc.c applies both halves on the loop in one go, so media on
 * m-lines the renegotiation leaves alone never stops.
 *
 * Threads: the offer is built on the plugin's thread, the answer checked
 * on the API thread; they share the PC's negotiation state under
 * pc->mutex (offer_pending, offer, offer_fresh, offer_restart, offer_data,
 * mids, ssrcs). Loop state is only touched through cardea_loop_invoke.
 */
#include "webrtc/pc-priv.h"
#include "api-errors.h"

/* ---- the offer ---- */

static gboolean offers_nack(const cardea_sdp_mline *m, const cardea_sdp_payload *p) {
	for (guint k = 0; k < p->n_fb; k++)
		if (g_ascii_strcasecmp(p->fb[k].type, "nack") == 0 && p->fb[k].param == NULL)
			return TRUE;
	for (guint k = 0; k < m->n_fb_all; k++)
		if (g_ascii_strcasecmp(m->fb_all[k].type, "nack") == 0 && m->fb_all[k].param == NULL)
			return TRUE;
	return FALSE;
}

/* A dynamic payload type the m-line does not use yet, or -1. 96-127 first,
 * then 35-63 (unassigned in RFC 3551; browsers use them too). */
static gint free_pt(const cardea_sdp_mline *m) {
	for (guint pt = 96; pt < 128; pt++)
		if (cardea_sdp_find_payload(m, pt) == NULL)
			return (gint)pt;
	for (guint pt = 35; pt < 64; pt++)
		if (cardea_sdp_find_payload(m, pt) == NULL)
			return (gint)pt;
	return -1;
}

static gboolean is_repair_codec(const char *name) {
	return name == NULL || g_ascii_strcasecmp(name, "rtx") == 0 || g_ascii_strcasecmp(name, "red") == 0 ||
		g_ascii_strcasecmp(name, "ulpfec") == 0 || g_ascii_strcasecmp(name, "flexfec-03") == 0;
}

/* One rtx payload per video codec that offers NACK, unless the plugin
 * wrote its own: retransmissions then go on their own SSRC (FID). */
static void add_rtx(cardea_sdp *sdp, cardea_sdp_mline *m) {
	if (m->kind != CARDEA_SDP_MEDIA_VIDEO)
		return;
	guint n = m->n_payloads;
	for (guint k = 0; k < n; k++) {
		/* Copy what we need: payload_add may move the array. */
		const cardea_sdp_payload *p = &m->payloads[k];
		guint pt = p->pt;
		guint32 clock = cardea_sdp_payload_clock(p);
		if (is_repair_codec(cardea_sdp_payload_name(p)) || !offers_nack(m, p) || cardea_sdp_find_rtx(m, pt))
			continue;
		gint rtx = free_pt(m);
		if (rtx < 0)
			return;
		cardea_sdp_payload *r = cardea_sdp_payload_add(sdp, m, (guint)rtx, "rtx", clock ? clock : 90000, 0);
		char *fmtp = g_strdup_printf("apt=%u", pt);
		if (r)
			cardea_sdp_payload_set_fmtp(sdp, r, fmtp);
		g_free(fmtp);
	}
}

/* The plugin's m-lines against the PC's: mids present and unique (a
 * missing one is the old one at that index, or the index), a re-offer keeps
 * every m-line slot and its mid. FALSE with *reason. Under pc->mutex. */
static gboolean check_mlines(cardea_pc *pc, cardea_sdp *sdp, gboolean fresh, char **reason) {
	if (sdp->n_mlines == 0 || sdp->n_mlines > PC_MAX_MLINES) {
		*reason = g_strdup_printf("plugin offer has %u m-lines (1 to %d)", sdp->n_mlines, PC_MAX_MLINES);
		return FALSE;
	}
	if (!fresh && sdp->n_mlines < pc->n_mlines) {
		*reason = g_strdup_printf("plugin re-offer has %u m-lines, the session %u: m-lines can be "
			"disabled (port 0) but not removed", sdp->n_mlines, pc->n_mlines);
		return FALSE;
	}
	gboolean any = FALSE;
	for (guint i = 0; i < sdp->n_mlines; i++) {
		cardea_sdp_mline *m = sdp->mlines[i];
		const char *old = !fresh && i < pc->n_mlines && pc->mids[i][0] ? pc->mids[i] : NULL;
		if (m->mid == NULL)
			m->mid = old ? cardea_sdp_strdup(sdp, old) : cardea_sdp_strdup_printf(sdp, "%u", i);
		if (old && strcmp(old, m->mid) != 0) {
			*reason = g_strdup_printf("plugin re-offer changes the mid of m-line %u ('%s' -> '%s')", i, old, m->mid);
			return FALSE;
		}
		if (strlen(m->mid) >= sizeof(pc->mids[i])) {
			*reason = g_strdup_printf("plugin offer: mid of m-line %u is too long", i);
			return FALSE;
		}
		for (guint k = 0; k < i; k++)
			if (strcmp(sdp->mlines[k]->mid, m->mid) == 0) {
				*reason = g_strdup_printf("plugin offer: mid '%s' is used twice", m->mid);
				return FALSE;
			}
		if (!cardea_sdp_mline_is_active(m))
			continue;
		if (m->rtp && m->n_payloads == 0) {
			*reason = g_strdup_printf("plugin offer: m-line %u has no payload type", i);
			return FALSE;
		}
		any = TRUE;
	}
	/* A re-offer may disable everything (the last publisher left): the
	 * transport stays up for the next re-offer. */
	if (!any && fresh) {
		*reason = g_strdup("plugin offer has no active m-line");
		return FALSE;
	}
	return TRUE;
}

/* Loop hand-overs keep the handle (and so the PC) alive until they ran. */
static void unref_pc_handle(gpointer data) {
	cardea_handle_unref(((cardea_pc *)data)->handle);
}

/* Undoes the pending mark of an offer that could not be sent. A first
 * offer's transport goes too (the client never heard of it: no event). */
static void offer_abort(cardea_pc *pc, gboolean fresh) {
	g_mutex_lock(&pc->mutex);
	pc->offer_pending = FALSE;
	g_clear_pointer(&pc->offer, cardea_sdp_free);
	g_mutex_unlock(&pc->mutex);
	if (fresh)
		cardea_pc_priv_end(pc, NULL);
}

json_t *cardea_pc_offer_local(cardea_handle *h, json_t *jsep, char **reason) {
	const char *text = json_string_value(json_object_get(jsep, "sdp"));
	GError *err = NULL;
	cardea_sdp *sdp = cardea_sdp_parse(text, strlen(text), NULL, &err);
	if (sdp == NULL) {
		*reason = g_strdup_printf("plugin SDP: %s", err->message);
		g_error_free(err);
		return NULL;
	}
	if (cardea_loops_count() == 0) {
		cardea_sdp_free(sdp);
		*reason = g_strdup("no media event loop running");
		return NULL;
	}
	cardea_pc *pc = cardea_pc_priv_get(h);
	g_mutex_lock(&pc->mutex);
	if (pc->offer_pending) {
		g_mutex_unlock(&pc->mutex);
		cardea_sdp_free(sdp);
		*reason = g_strdup("an offer is already waiting for its answer");
		return NULL;
	}
	gboolean fresh = !g_atomic_int_get(&pc->active);
	if (!check_mlines(pc, sdp, fresh, reason)) {
		g_mutex_unlock(&pc->mutex);
		cardea_sdp_free(sdp);
		return NULL;
	}
	/* media.max_peerconnections, as for a client offer (pc.c). */
	if (fresh && !cardea_pc_slot_reserve()) {
		g_mutex_unlock(&pc->mutex);
		cardea_sdp_free(sdp);
		*reason = g_strdup_printf("Maximum number of PeerConnections (%d) reached",
			cardea_gw->settings.max_peerconnections);
		return NULL;
	}
	gboolean restart = !fresh && json_is_true(json_object_get(jsep, "restart"));
	if (fresh || restart) {
		g_free(pc->local_ufrag);
		g_free(pc->local_pwd);
		cardea_ice_random_credentials(&pc->local_ufrag, &pc->local_pwd);
	}
	if (fresh) {
		pc->gathering_done = FALSE;
		g_ptr_array_set_size(pc->local_candidates, 0);
		memset(pc->local_ssrcs, 0, sizeof(pc->local_ssrcs));
		memset(pc->local_rtx_ssrcs, 0, sizeof(pc->local_rtx_ssrcs));
		/* We cannot know yet whether the client trickles: Janus clients do. */
		pc->full_trickle = cardea_gw->settings.full_trickle;
		g_clear_pointer(&pc->remote_ufrag, g_free);
		g_clear_pointer(&pc->remote_pwd, g_free);
		pc->remote_mixed = FALSE;
	}
	pc->n_mlines = sdp->n_mlines;
	gboolean bundle_set = FALSE;
	for (guint i = 0; i < sdp->n_mlines; i++) {
		cardea_sdp_mline *m = sdp->mlines[i];
		g_strlcpy(pc->mids[i], m->mid, sizeof(pc->mids[i]));
		if (!bundle_set && cardea_sdp_mline_is_active(m)) {
			pc->bundle_index = i;
			bundle_set = TRUE;
		}
		if (pc->local_ssrcs[i] == 0)
			pc->local_ssrcs[i] = cardea_pc_priv_new_ssrc();
		if (pc->local_rtx_ssrcs[i] == 0)
			pc->local_rtx_ssrcs[i] = cardea_pc_priv_new_ssrc();
	}
	pc->offer_pending = TRUE;
	pc->offer_fresh = fresh;
	pc->offer_restart = restart;
	g_mutex_unlock(&pc->mutex);

	if (fresh) {
		cardea_pc_slot_mark_active(&pc->active, TRUE);
		CARDEA_LOG(CARDEA_LOG_VERB, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] new PeerConnection on loop %d "
			"(gateway offer)", pc->sid, pc->hid, pc->loop->index);
		cardea_handle_ref(h);
		cardea_loop_invoke(pc->loop, cardea_pc_priv_offer_transport, pc, unref_pc_handle);
	} else if (restart) {
		cardea_handle_ref(h);
		cardea_loop_invoke(pc->loop, cardea_pc_priv_offer_restart, pc, unref_pc_handle);
	}

	pc_snapshot snap;
	if (!cardea_pc_priv_snapshot_take(pc, &snap, reason)) {
		cardea_pc_priv_snapshot_clear(&snap);
		cardea_sdp_free(sdp);
		offer_abort(pc, fresh);
		return NULL;
	}
	pc_data_sdp data = { 0 };
	for (guint i = 0; i < sdp->n_mlines; i++) {
		cardea_sdp_mline *m = sdp->mlines[i];
		if (!cardea_sdp_mline_is_active(m))
			continue;
		/* The answerer picks the DTLS roles (RFC 8842 5.2). */
		cardea_pc_priv_mline_transport(sdp, m, &snap, CARDEA_SDP_SETUP_ACTPASS);
		cardea_pc_data_local_mline(sdp, m, &data);
		if (!m->rtp)
			continue;
		add_rtx(sdp, m);
		cardea_sdp_direction dir = cardea_sdp_mline_direction(sdp, m);
		if (dir != CARDEA_SDP_DIR_SENDRECV && dir != CARDEA_SDP_DIR_SENDONLY && dir != CARDEA_SDP_DIR_UNSET)
			continue;
		cardea_pc_priv_mline_ssrc(sdp, m, i, snap.ssrcs[i]);
		/* Adds our RTX SSRC and its FID group when the m-line has rtx. */
		pc_media tmp = { .send = TRUE, .local_ssrc = snap.ssrcs[i] };
		cardea_pc_rtcp_answer_mline(sdp, m, &tmp, snap.rtx_ssrcs[i]);
	}
	if (!cardea_pc_priv_session_complete(sdp, &snap, reason)) {
		cardea_pc_priv_snapshot_clear(&snap);
		cardea_sdp_free(sdp);
		offer_abort(pc, fresh);
		return NULL;
	}
	cardea_pc_priv_snapshot_clear(&snap);
	char *out = cardea_sdp_write(sdp);
	g_mutex_lock(&pc->mutex);
	gboolean alive = pc->offer_pending && g_atomic_int_get(&pc->active);
	if (alive) {
		g_clear_pointer(&pc->offer, cardea_sdp_free);
		pc->offer = sdp;            /* transfer: kept until the answer */
		pc->offer_data = data;
		sdp = NULL;
	}
	g_mutex_unlock(&pc->mutex);
	cardea_sdp_free(sdp);
	if (!alive) {
		g_free(out);
		*reason = g_strdup("the PeerConnection was closed");
		return NULL;
	}
	json_t *result = json_deep_copy(jsep);
	json_object_del(result, "restart");
	json_object_set_new(result, "sdp", json_string(out));
	g_free(out);
	CARDEA_LOG(CARDEA_LOG_VERB, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] gateway %s%s sent",
		pc->sid, pc->hid, fresh ? "offer" : "re-offer", restart ? " (ICE restart)" : "");
	return result;
}

/* ---- the answer ---- */

static gboolean dir_sends(cardea_sdp_direction d) {
	return d == CARDEA_SDP_DIR_SENDRECV || d == CARDEA_SDP_DIR_SENDONLY || d == CARDEA_SDP_DIR_UNSET;
}

static gboolean dir_receives(cardea_sdp_direction d) {
	return d == CARDEA_SDP_DIR_SENDRECV || d == CARDEA_SDP_DIR_RECVONLY || d == CARDEA_SDP_DIR_UNSET;
}

/* Our negotiated half of m-line i: what we offered, cut down to what the
 * answer kept. The answer's PTs, rtcp-fb and extmaps are the agreed ones
 * (an answerer may only narrow the offer). */
static void negotiated_mline(cardea_pc *pc, const cardea_sdp *offer, const cardea_sdp *answer, guint i,
		pc_media *lm) {
	const cardea_sdp_mline *om = offer->mlines[i], *am = answer->mlines[i];
	if (!om->rtp || !cardea_sdp_mline_is_active(om) || !cardea_sdp_mline_is_active(am))
		return;
	lm->active = TRUE;
	lm->send = dir_sends(cardea_sdp_mline_direction(offer, om)) && dir_receives(cardea_sdp_mline_direction(answer, am));
	lm->local_ssrc = pc->local_ssrcs[i];
	for (guint k = 0; k < am->n_payloads && lm->n_local_pts < PC_MAX_PTS; k++) {
		const cardea_sdp_payload *p = &am->payloads[k];
		if (cardea_sdp_find_payload(om, p->pt) == NULL)
			continue;           /* not ours to accept */
		lm->local_pts[lm->n_local_pts++] = (guint8)p->pt;
		const char *name = cardea_sdp_payload_name(p);
		if (lm->codec[0] == '\0' && !is_repair_codec(name))
			g_strlcpy(lm->codec, name, sizeof(lm->codec));
	}
	/* rtx_ssrc 0: only reads the answer (feedback, rtx PTs, extension ids). */
	cardea_pc_rtcp_answer_mline((cardea_sdp *)answer, (cardea_sdp_mline *)am, lm, 0);
	/* Our offer announced the RTX SSRC (FID) when it had rtx: use it if the
	 * answer kept an rtx payload. */
	if (lm->send && lm->fb.n_rtx > 0 && cardea_sdp_find_ssrc_group(om, "FID") != NULL)
		lm->fb.local_rtx_ssrc = pc->local_rtx_ssrcs[i];
}

int cardea_pc_offer_answer(cardea_pc *pc, const cardea_sdp *answer, pc_remote *r, char **reason) {
	cardea_handle *h = pc->handle;
	int code = 0;
	g_mutex_lock(&pc->mutex);
	const cardea_sdp *offer = pc->offer;
	if (!pc->offer_pending || offer == NULL || !g_atomic_int_get(&pc->active)) {
		*reason = g_strdup("Unexpected ANSWER (no OFFER)");
		code = CARDEA_ERROR_UNEXPECTED_ANSWER;
		goto out;
	}
	code = CARDEA_ERROR_JSEP_INVALID_SDP;
	if (answer->n_mlines != offer->n_mlines) {
		*reason = g_strdup_printf("JSEP error: invalid SDP (the answer has %u m-lines, the offer %u)",
			answer->n_mlines, offer->n_mlines);
		goto out;
	}
	const cardea_sdp_mline *first = NULL;
	for (guint i = 0; i < answer->n_mlines; i++) {
		const cardea_sdp_mline *om = offer->mlines[i], *am = answer->mlines[i];
		if (am->kind != om->kind || (am->mid && g_strcmp0(am->mid, om->mid) != 0)) {
			*reason = g_strdup_printf("JSEP error: invalid SDP (m-line %u of the answer is not the offer's '%s')",
				i, om->mid);
			goto out;
		}
		if (!cardea_sdp_mline_is_active(am))
			continue;
		if (!cardea_sdp_mline_is_active(om)) {
			*reason = g_strdup_printf("JSEP error: invalid SDP (m-line %u was disabled in the offer)", i);
			goto out;
		}
		if (first == NULL)
			first = am;
	}
	if (first == NULL) {
		if (pc->offer_fresh || pc->offer_restart) {
			*reason = g_strdup("JSEP error: invalid SDP (no active m-line)");
			goto out;
		}
		/* Everything rejected: the transport and its credentials stay. */
		g_free(r->ufrag);
		g_free(r->pwd);
		r->ufrag = g_strdup(pc->remote_ufrag);
		r->pwd = g_strdup(pc->remote_pwd);
	}
	cardea_sdp_setup setup = first ? cardea_sdp_mline_setup(answer, first) : CARDEA_SDP_SETUP_UNSET;
	if (setup == CARDEA_SDP_SETUP_ACTPASS || setup == CARDEA_SDP_SETUP_HOLDCONN) {
		*reason = g_strdup_printf("JSEP error: invalid SDP (a=setup:%s in an answer)", cardea_sdp_setup_str(setup));
		goto out;
	}
	if (pc->offer_fresh) {
		/* RFC 4145 4: no a=setup means active. */
		r->role = setup == CARDEA_SDP_SETUP_PASSIVE ? CARDEA_DTLS_ROLE_ACTIVE : CARDEA_DTLS_ROLE_PASSIVE;
		pc->role = r->role;
		r->create_dtls = TRUE;
		r->set_credentials = TRUE;
	} else if (pc->offer_restart) {
		/* RFC 8839 4.4.1.1.1: an answer to a restart has new credentials too. */
		if (g_strcmp0(pc->remote_ufrag, r->ufrag) == 0 && g_strcmp0(pc->remote_pwd, r->pwd) == 0) {
			*reason = g_strdup("JSEP error: invalid SDP (an answer to an ICE restart must change the ICE credentials)");
			goto out;
		}
		r->set_credentials = TRUE;
	} else if (g_strcmp0(pc->remote_ufrag, r->ufrag) != 0 || g_strcmp0(pc->remote_pwd, r->pwd) != 0) {
		*reason = g_strdup("JSEP error: invalid SDP (the answer changes the ICE credentials without an ICE restart)");
		goto out;
	}
	code = 0;
	g_free(pc->remote_ufrag);
	g_free(pc->remote_pwd);
	pc->remote_ufrag = g_strdup(r->ufrag);
	pc->remote_pwd = g_strdup(r->pwd);
	pc->remote_mixed = answer->extmap_allow_mixed;
	pc_local *l = g_new0(pc_local, 1);
	l->pc = pc;
	cardea_handle_ref(h);
	l->handle = h;
	l->n_media = offer->n_mlines;
	for (guint i = 0; i < offer->n_mlines; i++)
		negotiated_mline(pc, offer, answer, i, &l->media[i]);
	if (r->data.present)
		l->data = pc->offer_data;
	r->local = l;
	pc->offer_pending = FALSE;
	g_clear_pointer(&pc->offer, cardea_sdp_free);
	g_atomic_int_set(&h->server_offer_pending, 0);
	CARDEA_LOG(CARDEA_LOG_VERB, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] answer to our offer accepted%s",
		pc->sid, pc->hid, pc->offer_fresh ? (pc->role == CARDEA_DTLS_ROLE_ACTIVE ? " (we are DTLS client)" :
			" (we are DTLS server)") : "");
out:
	g_mutex_unlock(&pc->mutex);
	return code;
}

void cardea_pc_offer_reset(cardea_pc *pc) {
	g_mutex_lock(&pc->mutex);
	pc->offer_pending = FALSE;
	g_clear_pointer(&pc->offer, cardea_sdp_free);
	g_mutex_unlock(&pc->mutex);
	g_atomic_int_set(&pc->handle->server_offer_pending, 0);
}
