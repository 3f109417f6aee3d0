/* SDP: parse the input as a remote offer, check the model (validation,
 * lookups, the writer's round trip) and build an answer with the SDK
 * builders plugins use (payloads, fmtp, feedback, header extensions,
 * cardea_sim_sdp_answer), then make sure the answer is SDP the parser
 * accepts. A trickled candidate line is tried on the same bytes. The
 * echotest's own answer code runs in fuzz_api.
 *
 * The gateway's own completion of a plugin's answer (ICE, DTLS, SSRCs:
 * core/webrtc/pc-local.c) needs a handle with a PeerConnection; fuzz_api
 * reaches it through the echotest. */
#include <string.h>
#include <glib.h>
#include "cardea/sdp.h"
#include "cardea/simulcast.h"
#include "fuzz-util.h"

static const char *const video_codecs[] = { "VP8", "VP9", "H264", "AV1", "rtx" };

/* The first payload we would answer with (audio: opus/PCMU, video by name). */
static const cardea_sdp_payload *choose(const cardea_sdp_mline *om) {
	if (om->kind == CARDEA_SDP_MEDIA_AUDIO) {
		const cardea_sdp_payload *p = cardea_sdp_find_codec(om, "opus", 48000, NULL);
		return p ? p : cardea_sdp_find_codec(om, "PCMU", 8000, NULL);
	}
	if (om->kind != CARDEA_SDP_MEDIA_VIDEO)
		return NULL;
	for (guint i = 0; i < G_N_ELEMENTS(video_codecs) - 1; i++) {
		const cardea_sdp_payload *p = cardea_sdp_find_codec(om, video_codecs[i], 90000, NULL);
		if (p)
			return p;
	}
	return NULL;
}

static void lookups(const cardea_sdp *sdp) {
	cardea_sdp_find_group(sdp, "BUNDLE");
	for (guint i = 0; i < sdp->n_mlines; i++) {
		const cardea_sdp_mline *m = sdp->mlines[i];
		if (m->mid)
			FUZZ_CHECK(cardea_sdp_find_mid(sdp, m->mid) != NULL);
		cardea_sdp_mline_ice_ufrag(sdp, m);
		cardea_sdp_mline_ice_pwd(sdp, m);
		cardea_sdp_ice_options_has(cardea_sdp_mline_ice_options(sdp, m), "trickle");
		cardea_sdp_mline_setup(sdp, m);
		cardea_sdp_mline_direction(sdp, m);
		cardea_sdp_mline_fingerprint(sdp, m);
		for (int e = 0; e < CARDEA_SDP_EXT_COUNT_; e++)
			cardea_sdp_find_extmap(m, (cardea_sdp_ext)e);
		for (guint k = 0; k < m->n_payloads; k++) {
			const cardea_sdp_payload *p = &m->payloads[k];
			FUZZ_CHECK(cardea_sdp_find_payload(m, p->pt) == p);
			cardea_sdp_payload_name(p);
			cardea_sdp_payload_clock(p);
			cardea_sdp_find_rtx(m, p->pt);
			cardea_sdp_h264_plid plid;
			if (cardea_sdp_h264_plid_parse(cardea_sdp_payload_param(p, "profile-level-id"), &plid))
				cardea_sdp_h264_plid_compatible(&plid, &plid);
			if (k > 0)
				cardea_sdp_codec_match(p, &m->payloads[k - 1]);
		}
		for (guint k = 0; k < G_N_ELEMENTS(video_codecs); k++)
			cardea_sdp_find_codec(m, video_codecs[k], 0, k < m->n_payloads ? m->payloads[k].fmtp : NULL);
		for (guint k = 0; k < m->n_ssrcs; k++)
			cardea_sdp_find_ssrc(m, m->ssrcs[k].ssrc);
		for (guint k = 0; k < m->n_rids; k++)
			cardea_sdp_find_rid(m, m->rids[k].id);
		cardea_sdp_find_ssrc_group(m, "SIM");
		for (guint k = 0; k < m->n_candidates; k++) {
			char *c = cardea_sdp_candidate_format(&m->candidates[k]);
			cardea_sdp_candidate *back = cardea_sdp_candidate_parse(c, NULL);
			FUZZ_CHECK(back != NULL);
			cardea_sdp_candidate_free(back);
			g_free(c);
		}
		if (i > 0) {
			cardea_sdp_pt_map map;
			cardea_sdp_pt_map_build(&map, m, sdp->mlines[i - 1]);
		}
	}
}

/* An answer through the SDK builders, broader than any one plugin's: every
 * m-line is answered in place (same kind, proto, mid), every payload with a
 * name is kept with its fmtp and feedback, the core's header extensions
 * with the offered ids, and the offered simulcast. m-lines without a usable
 * codec are rejected (port 0, inactive). */
static cardea_sdp *answer(const cardea_sdp *offer) {
	static const cardea_sdp_ext exts[] = { CARDEA_SDP_EXT_MID, CARDEA_SDP_EXT_TRANSPORT_WIDE_CC,
		CARDEA_SDP_EXT_ABS_SEND_TIME, CARDEA_SDP_EXT_AUDIO_LEVEL };
	cardea_sdp *ans = cardea_sdp_new();
	ans->extmap_allow_mixed = offer->extmap_allow_mixed;
	for (guint i = 0; i < offer->n_mlines; i++) {
		const cardea_sdp_mline *om = offer->mlines[i];
		cardea_sdp_mline *m = cardea_sdp_mline_add(ans, om->kind, om->proto);
		m->media = cardea_sdp_strdup(ans, om->media);
		m->mid = om->mid ? cardea_sdp_strdup(ans, om->mid) : NULL;
		m->fmt = !om->rtp && om->fmt ? cardea_sdp_strdup(ans, om->fmt) : NULL;
		m->rtcp_mux = TRUE;
		gboolean usable = cardea_sdp_mline_is_active(om) && om->rtp && choose(om) != NULL;
		m->port = usable ? m->port : 0;
		m->direction = usable ? CARDEA_SDP_DIR_SENDRECV : CARDEA_SDP_DIR_INACTIVE;
		for (guint k = 0; k < om->n_payloads; k++) {
			const cardea_sdp_payload *op = &om->payloads[k];
			cardea_sdp_payload *p = cardea_sdp_payload_add(ans, m, op->pt, op->name, op->clock, op->channels);
			FUZZ_CHECK(p != NULL);   /* PTs are unique in a parsed m-line */
			if (op->fmtp)
				cardea_sdp_payload_set_fmtp(ans, p, op->fmtp);
			for (guint f = 0; usable && f < op->n_fb; f++)
				cardea_sdp_payload_add_fb(ans, p, op->fb[f].type, op->fb[f].param);
		}
		if (!usable)
			continue;
		for (guint k = 0; k < G_N_ELEMENTS(exts); k++) {
			guint id = cardea_sdp_find_extmap(om, exts[k]);
			if (id && cardea_sdp_find_extmap(m, exts[k]) == 0)
				cardea_sdp_extmap_add(ans, m, id, cardea_sdp_ext_uri(exts[k]));
		}
		if (om->kind == CARDEA_SDP_MEDIA_VIDEO) {
			int n = cardea_sim_sdp_answer(ans, m, om);
			FUZZ_CHECK(n >= 1 && n <= CARDEA_SIM_MAX_SUBSTREAMS);
		}
	}
	return ans;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	/* A trickled candidate: bounded, NUL-terminated text. */
	if (size < CARDEA_SDP_DEFAULT_MAX_LINE_LENGTH) {
		char *line = g_strndup((const char *)data, size);
		cardea_sdp_candidate *c = cardea_sdp_candidate_parse(line, NULL);
		if (c) {
			char *text = cardea_sdp_candidate_format(c);
			cardea_sdp_candidate *back = cardea_sdp_candidate_parse(text, NULL);
			FUZZ_CHECK(back != NULL);
			cardea_sdp_candidate_free(back);
			g_free(text);
			cardea_sdp_candidate_free(c);
		}
		g_free(line);
	}

	GError *error = NULL;
	cardea_sdp *offer = cardea_sdp_parse((const char *)data, size, NULL, &error);
	if (offer == NULL) {
		FUZZ_CHECK(error != NULL && error->message != NULL);
		g_error_free(error);
		return 0;
	}
	if (!cardea_sdp_validate_webrtc(offer, &error)) {
		FUZZ_CHECK(error != NULL);
		g_clear_error(&error);
	}
	lookups(offer);

	/* The writer is lossless: what it writes parses, and writes the same again. */
	char *text = cardea_sdp_write(offer);
	cardea_sdp *again = cardea_sdp_parse(text, strlen(text), NULL, NULL);
	FUZZ_CHECK(again != NULL);
	char *text2 = cardea_sdp_write(again);
	FUZZ_CHECK(strcmp(text, text2) == 0);
	g_free(text2);
	cardea_sdp_free(again);
	g_free(text);
	cardea_sdp *copy = cardea_sdp_copy(offer);
	FUZZ_CHECK(copy != NULL);
	cardea_sdp_free(copy);

	cardea_sdp *ans = answer(offer);
	char *ans_text = cardea_sdp_write(ans);
	cardea_sdp *ans_back = cardea_sdp_parse(ans_text, strlen(ans_text), NULL, NULL);
	/* The answer repeats the offer's tokens, so it must be SDP again. */
	FUZZ_CHECK(ans_back != NULL);
	FUZZ_CHECK(ans_back->n_mlines == offer->n_mlines);
	cardea_sdp_free(ans_back);
	g_free(ans_text);
	cardea_sdp_free(ans);
	cardea_sdp_free(offer);
	return 0;
}
