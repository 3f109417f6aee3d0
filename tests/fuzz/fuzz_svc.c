/* SVC: the VP9 payload descriptor and the AV1 Dependency Descriptor
 * parsers (cardea/svc.h) on raw bytes, then a packet sequence through the
 * SVC layer selector (cardea_svc_forward), the e2ee simulcast path
 * (cardea_sim_e2ee_forward) and the extension id swap.
 *
 * Input: byte 0: bit 0 codec (0 VP9, 1 AV1), bit 1 also run the e2ee VP8
 * simulcast path; byte 1: spatial target (low nibble) and temporal target
 * (high nibble); byte 2: the DD extension id (1..255, 0 = none); then
 * records [u16 length][flags][time delta][bytes]. Each record's bytes are
 * fed to both descriptor parsers as they are (the DD parser keeps its
 * structure across records, as a receiver does) and, when they parse as
 * RTP, go through the selectors. flags: bits 0-1 substream, bit 2 new
 * targets from the next two bytes of the record, bit 3 rewriter rebase. */
#include <string.h>
#include <glib.h>
#include "cardea/svc.h"
#include "webrtc/rtp.h"
#include "fuzz-util.h"

static void check_vp9(const uint8_t *data, size_t len) {
	cardea_vp9_descriptor d;
	if (!cardea_vp9_descriptor_parse(data, len, &d))
		return;
	FUZZ_CHECK(d.size >= 1 && d.size < len);
	FUZZ_CHECK(d.n_pdiff <= 3 && d.tid <= 7 && d.sid <= 7);
	if (d.has_ss) {
		FUZZ_CHECK(d.ss_spatial >= 1 && d.ss_spatial <= CARDEA_VP9_MAX_SPATIAL);
		if (d.has_layers)
			FUZZ_CHECK(d.sid < d.ss_spatial);
	}
	if (!d.flexible && d.has_layers)
		FUZZ_CHECK(d.has_tl0picidx);
}

static void check_dd(const uint8_t *data, size_t len, cardea_av1_dd_structure *st) {
	cardea_av1_dd_structure before = *st;
	cardea_av1_dd dd;
	if (!cardea_av1_dd_parse(data, len, st, &dd)) {
		/* A failed parse never commits a structure. */
		FUZZ_CHECK(memcmp(&before, st, sizeof(before)) == 0);
		return;
	}
	FUZZ_CHECK(st->valid);
	FUZZ_CHECK(st->n_templates >= 1 && st->n_templates <= CARDEA_AV1_DD_MAX_TEMPLATES);
	FUZZ_CHECK(st->n_targets >= 1 && st->n_targets <= CARDEA_AV1_DD_MAX_TARGETS);
	FUZZ_CHECK(st->max_spatial < CARDEA_AV1_DD_MAX_SPATIAL && st->max_temporal <= 7);
	FUZZ_CHECK(dd.spatial >= 0 && dd.spatial <= st->max_spatial);
	FUZZ_CHECK(dd.temporal >= 0 && dd.temporal <= st->max_temporal);
	if (!dd.has_structure)
		FUZZ_CHECK(memcmp(&before, st, sizeof(before)) == 0);
	/* Parsing the same bytes again against what it left gives the same frame. */
	cardea_av1_dd_structure again = *st;
	cardea_av1_dd dd2;
	FUZZ_CHECK(cardea_av1_dd_parse(data, len, &again, &dd2));
	FUZZ_CHECK(dd2.spatial == dd.spatial && dd2.temporal == dd.temporal && dd2.switch_mask == dd.switch_mask);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz_reader r = { data, size };
	uint8_t b0 = fuzz_u8(&r), b1 = fuzz_u8(&r), ext = fuzz_u8(&r);
	cardea_video_codec codec = b0 & 1 ? CARDEA_VIDEO_CODEC_AV1 : CARDEA_VIDEO_CODEC_VP9;
	bool e2ee = b0 & 2;

	cardea_svc_selector sel;
	cardea_svc_selector_init(&sel);
	cardea_svc_selector_set_spatial(&sel, b1 & 0x0F);
	cardea_svc_selector_set_temporal(&sel, b1 >> 4);
	sel.av1_dd_ext = ext;
	cardea_sim_rewriter rw, erw;
	cardea_sim_rewriter_init(&rw, 90000);
	cardea_sim_rewriter_init(&erw, 90000);
	cardea_sim_selector ssel;
	cardea_sim_selector_init(&ssel, CARDEA_SIM_MAX_SUBSTREAMS);
	cardea_sim_selector_set_substream(&ssel, b1 & 3);
	static cardea_sim_e2ee ee;
	cardea_sim_e2ee_init(&ee, ext);
	static cardea_av1_dd_structure raw_st;
	memset(&raw_st, 0, sizeof(raw_st));
	int64_t now = 1000000;

	uint8_t flags;
	const uint8_t *body;
	size_t blen;
	while (fuzz_packet_record(&r, &flags, &now, &body, &blen)) {
		if ((flags & 4) && blen >= 2) {
			cardea_svc_selector_set_spatial(&sel, body[0] - 1);
			cardea_svc_selector_set_temporal(&sel, body[1] - 1);
			cardea_sim_selector_set_substream(&ssel, body[0] % 3);
			body += 2;
			blen -= 2;
		}
		check_vp9(body, blen);
		check_dd(body, blen, &raw_st);

		uint8_t buf[CARDEA_RTP_PACKET_MAX];
		size_t len = blen > sizeof(buf) ? sizeof(buf) : blen;
		memcpy(buf, body, len);
		cardea_rtp_info info;
		if (cardea_rtp_parse(buf, len, &info) != CARDEA_RTP_OK)
			continue;
		cardea_rtp_packet pkt = {
			.buffer = buf, .length = (uint16_t)len, .mindex = 0, .video = true,
			.pt = info.pt, .marker = info.marker, .seq = info.seq, .timestamp = info.timestamp,
			.ssrc = info.ssrc, .header_len = info.header_len, .substream = flags & 3,
		};
		if (pkt.substream >= CARDEA_SIM_MAX_SUBSTREAMS)
			pkt.substream = 0;

		/* The swap is its own inverse, and touches only extension ids. */
		uint8_t orig[CARDEA_RTP_PACKET_MAX];
		memcpy(orig, buf, len);
		int a = 1 + (flags >> 4), b = ext ? ext : 1;
		if (cardea_svc_rtp_extension_swap(&pkt, a, b)) {
			const uint8_t *e1;
			size_t l1;
			if (cardea_svc_rtp_extension(&pkt, b, &e1, &l1) && a != b) {
				const uint8_t *e0;
				size_t l0;
				FUZZ_CHECK(cardea_svc_rtp_extension(&(cardea_rtp_packet){ .buffer = orig, .length = (uint16_t)len },
					a, &e0, &l0));
				/* The element found under b now is the one that was under a. */
				FUZZ_CHECK(l0 == l1 && e1 - buf == e0 - orig && memcmp(e0, e1, l0) == 0);
			}
			FUZZ_CHECK(cardea_svc_rtp_extension_swap(&pkt, a, b));
			FUZZ_CHECK(memcmp(orig, buf, len) == 0);
		} else {
			FUZZ_CHECK(memcmp(orig, buf, len) == 0);
		}

		if (e2ee) {
			uint8_t copy[CARDEA_RTP_PACKET_MAX];
			cardea_rtp_packet out;
			FUZZ_CHECK(cardea_sim_packet_copy(&pkt, copy, sizeof(copy), &out));
			unsigned res = cardea_sim_e2ee_forward(&ee, &ssel, &erw, CARDEA_VIDEO_CODEC_VP8, &out, now);
			FUZZ_CHECK(out.length == pkt.length);
			if (res & CARDEA_SIM_RELAY) {
				cardea_rtp_info ri;
				FUZZ_CHECK(cardea_rtp_parse(copy, out.length, &ri) == CARDEA_RTP_OK);
			}
			FUZZ_CHECK(ssel.substream >= -1 && ssel.substream < CARDEA_SIM_MAX_SUBSTREAMS);
		}

		unsigned res = cardea_svc_forward(&sel, &rw, codec, &pkt, now);
		FUZZ_CHECK(pkt.length == len);
		FUZZ_CHECK(sel.spatial >= -1 && sel.spatial < CARDEA_SVC_MAX_SPATIAL);
		FUZZ_CHECK(sel.temporal >= -1 && sel.temporal <= 7);
		if (res & CARDEA_SIM_RELAY) {
			/* Only layers at or below the current ones go out. */
			cardea_rtp_info ri;
			FUZZ_CHECK(cardea_rtp_parse(buf, len, &ri) == CARDEA_RTP_OK);
			FUZZ_CHECK(sel.spatial >= 0);
			if (res & CARDEA_SVC_MARKER)
				FUZZ_CHECK(buf[1] & 0x80);
		}
		if (flags & 8)
			cardea_sim_rewriter_rebase(&rw);
	}
	return 0;
}
