/* janus.plugin.videocall: the SDPs of a call (the gateway is in the media
 * path, so each side negotiates its own leg with the gateway).
 *
 *   caller --offer O--> gateway --offer O' (vc_sdp_offer_from(O))--> callee
 *   caller <--answer A'-- gateway <--answer A-- callee
 *                  A' = vc_sdp_answer_from(O, A)
 *
 * O' keeps O's m-lines one for one (index, mid, direction), so media goes
 * from an m-line of one leg to the same index on the other, and O's payload
 * types, fmtp and header extension ids, so a packet crosses unchanged apart
 * from what the core rewrites per leg (SSRC, SRTP). Only codecs the core
 * relays are kept (and their rtx); simulcast is not passed on: the callee
 * gets one stream, picked by the plugin. A' accepts what the callee
 * accepted, with the codecs it chose, so each side only sends what the
 * other one takes. Renegotiations (`set` with a jsep) use the same two
 * functions in either direction. Transport attributes (ICE, DTLS, BUNDLE,
 * SSRCs, candidates) are the core's.
 *
 * Only the queue thread calls these; no shared state.
 */
#include <string.h>
#include "videocall.h"

/* Codecs the core can relay as they are. */
static const char *const audio_codecs[] = { "opus", "PCMU", "PCMA", "G722", "telephone-event" };
static const char *const video_codecs[] = { "VP8", "VP9", "H264", "AV1" };

/* Feedback the core implements per leg. */
static const char *const video_fb[][2] = {
	{ "nack", NULL }, { "nack", "pli" }, { "ccm", "fir" }, { "goog-remb", NULL }, { "transport-cc", NULL },
};

/* Header extensions passed on with the offerer's ids. The core itself uses
 * mid, transport-cc and abs-send-time; the others only matter end to end. */
static const cardea_sdp_ext relayed_exts[] = {
	CARDEA_SDP_EXT_MID, CARDEA_SDP_EXT_TRANSPORT_WIDE_CC, CARDEA_SDP_EXT_ABS_SEND_TIME,
	CARDEA_SDP_EXT_AUDIO_LEVEL, CARDEA_SDP_EXT_VIDEO_ORIENTATION,
};

/* TRUE when `id` means another extension on some m-line of `sdp`. With
 * BUNDLE an id must mean one thing on the whole transport (RFC 8843); some
 * offerers (aiortc) reuse ids per m-line, and a packet relayed with such an
 * id would be misread on the other leg: those extensions are not relayed. */
static gboolean ext_id_clash(const cardea_sdp *sdp, guint id, cardea_sdp_ext ext) {
	for (guint i = 0; i < sdp->n_mlines; i++) {
		const cardea_sdp_mline *m = sdp->mlines[i];
		for (guint k = 0; k < m->n_extmaps; k++)
			if (m->extmaps[k].id == id && m->extmaps[k].ext != ext)
				return TRUE;
	}
	return FALSE;
}

/* The relayed header extensions `om` (of `offer`) has, with its ids. For
 * an answer (`bm`, the other leg's answer, not NULL): the core's own
 * extensions per leg, the end-to-end ones only when the other side took
 * them too. */
static void add_exts(cardea_sdp *out, cardea_sdp_mline *m, const cardea_sdp *offer, const cardea_sdp_mline *om,
		const cardea_sdp_mline *bm) {
	for (guint k = 0; k < G_N_ELEMENTS(relayed_exts); k++) {
		cardea_sdp_ext ext = relayed_exts[k];
		guint id = cardea_sdp_find_extmap(om, ext);
		gboolean core_ext = ext == CARDEA_SDP_EXT_MID || ext == CARDEA_SDP_EXT_TRANSPORT_WIDE_CC ||
			ext == CARDEA_SDP_EXT_ABS_SEND_TIME;
		if (id == 0 || ext_id_clash(offer, id, ext))
			continue;
		if (bm == NULL || core_ext || cardea_sdp_find_extmap(bm, ext) == id)
			cardea_sdp_extmap_add(out, m, id, cardea_sdp_ext_uri(ext));
	}
}

/* Direction, rtcp-mux/rsize and header extensions of an accepted RTP m-line. */
static void finish_rtp_mline(cardea_sdp *out, cardea_sdp_mline *m, cardea_sdp_direction dir, const cardea_sdp *offer,
		const cardea_sdp_mline *om, const cardea_sdp_mline *bm) {
	m->direction = dir == CARDEA_SDP_DIR_UNSET ? CARDEA_SDP_DIR_SENDRECV : dir;
	m->rtcp_mux = TRUE;
	m->rtcp_rsize = om->rtcp_rsize;
	add_exts(out, m, offer, om, bm);
}

static gboolean codec_relayed(const cardea_sdp_mline *m, const cardea_sdp_payload *p) {
	const char *name = cardea_sdp_payload_name(p);
	if (name == NULL)
		return FALSE;
	if (m->kind == CARDEA_SDP_MEDIA_AUDIO) {
		for (guint i = 0; i < G_N_ELEMENTS(audio_codecs); i++)
			if (g_ascii_strcasecmp(name, audio_codecs[i]) == 0)
				return TRUE;
		return FALSE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(video_codecs); i++)
		if (g_ascii_strcasecmp(name, video_codecs[i]) == 0)
			return TRUE;
	return FALSE;
}

static gboolean is_rtx(const cardea_sdp_payload *p) {
	return p->name && g_ascii_strcasecmp(p->name, "rtx") == 0;
}

/* Copies a payload (and, with `om`, the core's feedback `om` has for it). */
static cardea_sdp_payload *copy_payload(cardea_sdp *sdp, cardea_sdp_mline *m, const cardea_sdp_payload *p,
		const char *fmtp, const cardea_sdp_mline *om) {
	cardea_sdp_payload *np = cardea_sdp_payload_add(sdp, m, p->pt, cardea_sdp_payload_name(p),
		cardea_sdp_payload_clock(p), p->channels);
	if (np == NULL)
		return NULL;
	if (fmtp)
		cardea_sdp_payload_set_fmtp(sdp, np, fmtp);
	if (om && !is_rtx(p))
		for (guint k = 0; k < G_N_ELEMENTS(video_fb); k++)
			if (cardea_sdp_payload_has_fb(om, p, video_fb[k][0], video_fb[k][1]))
				cardea_sdp_payload_add_fb(sdp, np, video_fb[k][0], video_fb[k][1]);
	return np;
}

static gboolean is_datachannel(const cardea_sdp_mline *om) {
	return om->kind == CARDEA_SDP_MEDIA_APPLICATION && cardea_sdp_mline_is_active(om) && !om->rtp &&
		om->proto && g_str_has_suffix(om->proto, "DTLS/SCTP") && om->fmt != NULL;
}

static cardea_sdp_mline *mirror_mline(cardea_sdp *sdp, const cardea_sdp_mline *om) {
	cardea_sdp_mline *m = cardea_sdp_mline_add(sdp, om->kind, om->proto);
	m->media = cardea_sdp_strdup(sdp, om->media);
	if (om->mid)
		m->mid = cardea_sdp_strdup(sdp, om->mid);
	return m;
}

char *vc_sdp_offer_from(const char *offer_text, const char **error) {
	cardea_sdp *offer = offer_text ? cardea_sdp_parse(offer_text, strlen(offer_text), NULL, NULL) : NULL;
	if (offer == NULL) {
		*error = "Invalid SDP";
		return NULL;
	}
	cardea_sdp *out = cardea_sdp_new();
	out->extmap_allow_mixed = offer->extmap_allow_mixed;
	gboolean any = FALSE;
	for (guint i = 0; i < offer->n_mlines; i++) {
		const cardea_sdp_mline *om = offer->mlines[i];
		cardea_sdp_mline *m = mirror_mline(out, om);
		if (is_datachannel(om) && i < VC_MAX_MLINES) {
			m->fmt = cardea_sdp_strdup(out, om->fmt);
			any = TRUE;
			continue;
		}
		gboolean usable = i < VC_MAX_MLINES && cardea_sdp_mline_is_active(om) && om->rtp &&
			(om->kind == CARDEA_SDP_MEDIA_AUDIO || om->kind == CARDEA_SDP_MEDIA_VIDEO);
		guint kept = 0;
		for (guint k = 0; usable && k < om->n_payloads; k++) {
			const cardea_sdp_payload *op = &om->payloads[k];
			if (is_rtx(op) || !codec_relayed(om, op))
				continue;
			if (copy_payload(out, m, op, op->fmtp, om) == NULL)
				continue;
			kept++;
			const cardea_sdp_payload *orx = cardea_sdp_find_rtx(om, op->pt);
			if (orx && om->kind == CARDEA_SDP_MEDIA_VIDEO)
				copy_payload(out, m, orx, orx->fmtp, NULL);
		}
		if (kept == 0) {
			cardea_sdp_mline_reject(out, m, om);
			continue;
		}
		any = TRUE;
		finish_rtp_mline(out, m, cardea_sdp_mline_direction(offer, om), offer, om, NULL);
	}
	cardea_sdp_free(offer);
	char *text = any ? cardea_sdp_write(out) : NULL;
	cardea_sdp_free(out);
	if (text == NULL)
		*error = "No media in the offer can be relayed";
	return text;
}

static void pt_set(guint32 *mask, guint pt) {
	if (pt < 128)
		mask[pt / 32] |= 1u << (pt % 32);
}

static cardea_sdp_mline *answer_mline(const cardea_sdp *ans, const cardea_sdp_mline *om, guint index) {
	if (om->mid) {
		cardea_sdp_mline *bm = cardea_sdp_find_mid(ans, om->mid);
		if (bm)
			return bm;
	}
	return index < ans->n_mlines ? ans->mlines[index] : NULL;
}

/* One RTP m-line of the answer: the answerer's codecs (as it wants to
 * receive them: its fmtp), each with the offerer's rtx and feedback. */
static guint answer_payloads(cardea_sdp *out, cardea_sdp_mline *m, const cardea_sdp_mline *om,
		const cardea_sdp_mline *bm, vc_fwd_cfg *ofwd, vc_fwd_cfg *afwd) {
	guint kept = 0;
	for (guint k = 0; k < bm->n_payloads; k++) {
		const cardea_sdp_payload *bp = &bm->payloads[k];
		if (is_rtx(bp))
			continue;
		const cardea_sdp_payload *op = cardea_sdp_find_payload(om, bp->pt);
		if (op == NULL || !cardea_sdp_codec_match(op, bp) || !codec_relayed(om, op))
			continue;
		if (copy_payload(out, m, op, bp->fmtp ? bp->fmtp : op->fmtp, om) == NULL)
			continue;
		if (kept == 0 && om->kind == CARDEA_SDP_MEDIA_VIDEO)
			ofwd->codec = afwd->codec = cardea_video_codec_from_name(cardea_sdp_payload_name(op));
		kept++;
		/* Both legs use these PTs for this codec. */
		pt_set(ofwd->pt_ok, bp->pt);
		pt_set(afwd->pt_ok, bp->pt);
		const cardea_sdp_payload *orx = cardea_sdp_find_rtx(om, op->pt);
		if (orx && om->kind == CARDEA_SDP_MEDIA_VIDEO)
			copy_payload(out, m, orx, orx->fmtp, NULL);
	}
	return kept;
}

char *vc_sdp_answer_from(const char *offer_text, const char *peer_answer_text,
		vc_fwd_cfg *offerer_fwd, vc_fwd_cfg *answerer_fwd, const char **error) {
	memset(offerer_fwd, 0, sizeof(vc_fwd_cfg) * VC_MAX_MLINES);
	memset(answerer_fwd, 0, sizeof(vc_fwd_cfg) * VC_MAX_MLINES);
	cardea_sdp *offer = offer_text ? cardea_sdp_parse(offer_text, strlen(offer_text), NULL, NULL) : NULL;
	cardea_sdp *pans = peer_answer_text ?
		cardea_sdp_parse(peer_answer_text, strlen(peer_answer_text), NULL, NULL) : NULL;
	if (offer == NULL || pans == NULL) {
		cardea_sdp_free(offer);
		cardea_sdp_free(pans);
		*error = "Invalid SDP";
		return NULL;
	}
	cardea_sdp *out = cardea_sdp_new();
	out->extmap_allow_mixed = offer->extmap_allow_mixed && pans->extmap_allow_mixed;
	gboolean any = FALSE;
	for (guint i = 0; i < offer->n_mlines; i++) {
		const cardea_sdp_mline *om = offer->mlines[i];
		const cardea_sdp_mline *bm = answer_mline(pans, om, i);
		cardea_sdp_mline *m = mirror_mline(out, om);
		gboolean both = i < VC_MAX_MLINES && bm && cardea_sdp_mline_is_active(om) &&
			cardea_sdp_mline_is_active(bm) && bm->kind == om->kind;
		if (both && is_datachannel(om) && !bm->rtp) {
			m->fmt = cardea_sdp_strdup(out, om->fmt);
			any = TRUE;
			continue;
		}
		if (!both || !om->rtp || !bm->rtp) {
			cardea_sdp_mline_reject(out, m, om);
			continue;
		}
		vc_fwd_cfg *ofwd = &offerer_fwd[i], *afwd = &answerer_fwd[i];
		if (answer_payloads(out, m, om, bm, ofwd, afwd) == 0) {
			memset(ofwd, 0, sizeof(*ofwd));
			memset(afwd, 0, sizeof(*afwd));
			cardea_sdp_mline_reject(out, m, om);
			continue;
		}
		any = TRUE;
		ofwd->active = afwd->active = TRUE;
		ofwd->video = afwd->video = om->kind == CARDEA_SDP_MEDIA_VIDEO;
		ofwd->substreams = afwd->substreams = 1;
		/* The answerer's direction is, seen from the gateway, also the
		 * right answer to the offerer: what it does not send the gateway
		 * cannot send on, and the reverse. */
		finish_rtp_mline(out, m, cardea_sdp_mline_direction(pans, bm), offer, om, bm);
		/* Simulcast from the offerer: all substreams come in, the plugin
		 * sends one on. */
		if (ofwd->video && ofwd->codec != CARDEA_VIDEO_CODEC_UNKNOWN)
			ofwd->substreams = cardea_sim_sdp_answer(out, m, om);
	}
	cardea_sdp_free(offer);
	cardea_sdp_free(pans);
	char *text = any ? cardea_sdp_write(out) : NULL;
	cardea_sdp_free(out);
	if (text == NULL)
		*error = "The other side accepted no media";
	return text;
}
