/* Simulcast on the receiving side of a PeerConnection (see pc-sim.h). */
#include "webrtc/pc-priv.h"

/* ---- descriptions ---- */

void cardea_pc_sim_remote(const cardea_sdp_mline *m, gboolean lmh, pc_sim_media *out) {
	memset(out, 0, sizeof(*out));
	if (m == NULL || m->kind != CARDEA_SDP_MEDIA_VIDEO || !cardea_sdp_mline_is_active(m))
		return;
	out->rid_ext_id = (guint8)cardea_sdp_find_extmap(m, CARDEA_SDP_EXT_RID);
	out->rrid_ext_id = (guint8)cardea_sdp_find_extmap(m, CARDEA_SDP_EXT_REPAIRED_RID);
	/* rids in the order the sender lists them: a=simulcast send (first
	 * alternative of each stream), else its a=rid send lines. */
	const char *listed[CARDEA_SIM_MAX_SUBSTREAMS];
	guint n = 0;
	if (m->simulcast.present) {
		for (guint i = 0; i < m->simulcast.n_send && n < CARDEA_SIM_MAX_SUBSTREAMS; i++)
			if (m->simulcast.send[i].n_alts > 0 && m->simulcast.send[i].alts[0].rid)
				listed[n++] = m->simulcast.send[i].alts[0].rid;
	} else {
		for (guint i = 0; i < m->n_rids && n < CARDEA_SIM_MAX_SUBSTREAMS; i++)
			if (m->rids[i].direction == CARDEA_SDP_RID_SEND && m->rids[i].id)
				listed[n++] = m->rids[i].id;
	}
	if (n > 1 && out->rid_ext_id) {
		out->by_rid = TRUE;
		out->n = n;
		for (guint i = 0; i < n; i++)
			g_strlcpy(out->rids[lmh ? i : n - 1 - i], listed[i], PC_SIM_RID_MAX);
		return;
	}
	const cardea_sdp_ssrc_group *sim = cardea_sdp_find_ssrc_group(m, "SIM");
	if (sim == NULL || sim->n_ssrcs < 2)
		return;
	out->n = MIN(sim->n_ssrcs, CARDEA_SIM_MAX_SUBSTREAMS);
	for (guint i = 0; i < out->n; i++)
		out->ssrcs[i] = sim->ssrcs[i];
	for (guint g = 0; g < m->n_ssrc_groups; g++) {
		const cardea_sdp_ssrc_group *fid = &m->ssrc_groups[g];
		if (g_strcmp0(fid->semantics, "FID") != 0 || fid->n_ssrcs < 2)
			continue;
		for (guint i = 0; i < out->n; i++)
			if (fid->ssrcs[0] == out->ssrcs[i])
				out->rtx_ssrcs[i] = fid->ssrcs[1];
	}
}

void cardea_pc_sim_local(const cardea_sdp_mline *m, pc_sim_media *out) {
	out->accepted = m && m->simulcast.present && m->simulcast.n_recv > 0;
}

void cardea_pc_sim_apply_remote(pc_sim_media *cur, const pc_sim_media *next) {
	gboolean same = cur->n == next->n && cur->by_rid == next->by_rid &&
		memcmp(cur->rids, next->rids, sizeof(cur->rids)) == 0;
	guint32 ssrcs[CARDEA_SIM_MAX_SUBSTREAMS], rtx[CARDEA_SIM_MAX_SUBSTREAMS];
	memcpy(ssrcs, cur->ssrcs, sizeof(ssrcs));
	memcpy(rtx, cur->rtx_ssrcs, sizeof(rtx));
	gboolean accepted = cur->accepted;
	gint64 last_pli = cur->last_pli_us;
	guint64 unmapped = cur->unmapped_drops, rtx_drops = cur->rtx_drops;
	*cur = *next;
	/* Our answer comes later and sets this again. */
	cur->accepted = accepted;
	cur->last_pli_us = last_pli;
	cur->unmapped_drops = unmapped;
	cur->rtx_drops = rtx_drops;
	if (same && next->by_rid) {
		/* The sender stops tagging packets once it heard from us: what we
		 * learned is all we will get for these rids. */
		memcpy(cur->ssrcs, ssrcs, sizeof(ssrcs));
		memcpy(cur->rtx_ssrcs, rtx, sizeof(rtx));
	}
}

void cardea_pc_sim_apply_local(pc_sim_media *cur, const pc_sim_media *next) {
	cur->accepted = next->accepted;
}

/* ---- incoming RTP ---- */

static int rid_index(const pc_sim_media *sim, const char *rid) {
	for (guint i = 0; i < sim->n; i++)
		if (strcmp(sim->rids[i], rid) == 0)
			return (int)i;
	return -1;
}

/* The substream whose RTX SSRC this is (learning it from repaired-rid), or -1. */
static int rtx_of(pc_sim_media *sim, const cardea_rtp_info *info) {
	for (guint i = 0; i < sim->n; i++)
		if (sim->rtx_ssrcs[i] == info->ssrc)
			return (int)i;
	if (!sim->by_rid || sim->rrid_ext_id == 0)
		return -1;
	char rid[PC_SIM_RID_MAX];
	if (cardea_rtp_ext_get_string(info, sim->rrid_ext_id, rid, sizeof(rid)) != CARDEA_RTP_OK)
		return -1;
	int i = rid_index(sim, rid);
	if (i >= 0)
		sim->rtx_ssrcs[i] = info->ssrc;
	return i;
}

int cardea_pc_sim_substream(cardea_pc *pc, int mi, const cardea_rtp_info *info) {
	pc_media *m = &pc->media[mi];
	pc_sim_media *sim = &m->sim;
	if (sim->n < 2 || (sim->by_rid && !sim->accepted))
		return 0;
	for (guint i = 0; i < sim->n; i++)
		if (sim->ssrcs[i] == info->ssrc)
			return (int)i;
	int r = rtx_of(sim, info);
	if (r >= 0) {
		/* Only the main SSRC is NACKed and repaired (pc-rtcp.c): an RTX for
		 * another substream would be unwrapped onto the wrong stream. */
		if (sim->ssrcs[r] != 0 && sim->ssrcs[r] == m->remote_ssrc)
			return r;
		sim->rtx_drops++;
		return -1;
	}
	if (sim->by_rid && sim->rid_ext_id) {
		char rid[PC_SIM_RID_MAX];
		if (cardea_rtp_ext_get_string(info, sim->rid_ext_id, rid, sizeof(rid)) == CARDEA_RTP_OK) {
			int i = rid_index(sim, rid);
			if (i >= 0) {
				if (sim->ssrcs[i] != info->ssrc)
					CARDEA_LOG(CARDEA_LOG_VERB, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] mid %s: rid %s "
						"(substream %d) is SSRC %"G_GUINT32_FORMAT, pc->sid, pc->hid, m->mid, rid, i, info->ssrc);
				sim->ssrcs[i] = info->ssrc;
				return i;
			}
		}
	}
	/* Unknown: guessing would mix two encodings into one stream. */
	sim->unmapped_drops++;
	return -1;
}

/* ---- keyframe requests ---- */

void cardea_pc_sim_request_keyframe(cardea_pc *pc, int mi) {
	if (mi < 0 || mi >= (int)pc->n_media)
		return;
	pc_media *m = &pc->media[mi];
	pc_sim_media *sim = &m->sim;
	cardea_srtp *srtp = pc->dtls ? cardea_dtls_get_srtp(pc->dtls) : NULL;
	if (sim->n < 2 || (sim->by_rid && !sim->accepted) || !pc->up || pc->ice == NULL || srtp == NULL)
		return;
	gint64 now = g_get_monotonic_time();
	if (sim->last_pli_us && now - sim->last_pli_us < CARDEA_PC_KEYFRAME_INTERVAL_US)
		return;
	guint32 me = m->local_ssrc ? m->local_ssrc : 1;
	gboolean fir = m->fb.fir && !m->fb.pli;
	cardea_rtcp_builder b;
	cardea_rtcp_builder_init(&b, pc->scratch, sizeof(pc->scratch) - CARDEA_SRTP_MAX_OVERHEAD, me, FALSE);
	guint n = 0;
	for (guint i = 0; i < sim->n; i++) {
		guint32 ssrc = sim->ssrcs[i];
		if (ssrc == 0 || ssrc == m->remote_ssrc)
			continue;
		if (fir)
			cardea_rtcp_builder_commit(&b, cardea_rtcp_write_fir(cardea_rtcp_builder_tail(&b),
				cardea_rtcp_builder_room(&b), me, ssrc, cardea_keyframe_limiter_next_fir_seq(&m->fb.kf)));
		else
			cardea_rtcp_builder_commit(&b, cardea_rtcp_write_pli(cardea_rtcp_builder_tail(&b),
				cardea_rtcp_builder_room(&b), me, ssrc));
		n++;
	}
	if (n == 0)
		return;
	sim->last_pli_us = now;
	gsize len = cardea_rtcp_builder_finish(&b);
	if (len > 0 && cardea_srtp_protect_rtcp(srtp, pc->scratch, &len, sizeof(pc->scratch)) == CARDEA_SRTP_OK &&
			cardea_ice_send(pc->ice, pc->scratch, len) > 0)
		m->keyframe_requests_out += n;
}

/* ---- admin ---- */

void cardea_pc_sim_info(const pc_sim_media *sim, json_t *out) {
	if (sim->n < 2)
		return;
	json_t *o = json_object();
	json_object_set_new(o, "substreams", json_integer(sim->n));
	json_object_set_new(o, "by", json_string(sim->by_rid ? "rid" : "ssrc"));
	if (sim->by_rid) {
		json_object_set_new(o, "accepted", json_boolean(sim->accepted));
		json_t *rids = json_array();
		for (guint i = 0; i < sim->n; i++)
			json_array_append_new(rids, json_string(sim->rids[i]));
		json_object_set_new(o, "rids", rids);
	}
	json_t *ssrcs = json_array(), *rtx = json_array();
	for (guint i = 0; i < sim->n; i++) {
		json_array_append_new(ssrcs, json_integer(sim->ssrcs[i]));
		json_array_append_new(rtx, json_integer(sim->rtx_ssrcs[i]));
	}
	json_object_set_new(o, "ssrcs", ssrcs);
	json_object_set_new(o, "rtx_ssrcs", rtx);
	json_object_set_new(o, "unmapped_drops", json_integer((json_int_t)sim->unmapped_drops));
	json_object_set_new(o, "rtx_drops", json_integer((json_int_t)sim->rtx_drops));
	json_object_set_new(out, "simulcast", o);
}
