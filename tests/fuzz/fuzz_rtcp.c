/* RTCP: the input is one compound packet as it arrives from a peer. It is
 * walked, every packet goes to its type's parser, and what parsed is
 * written back with the matching writer and parsed again (the values must
 * survive). NACKed seqs are answered from a retransmission buffer, as the
 * PeerConnection does. */
#include <string.h>
#include <glib.h>
#include "webrtc/rtcp.h"
#include "webrtc/nack.h"
#include "fuzz-util.h"

static cardea_rtx_buffer history;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
	FUZZ_CHECK(cardea_rtx_buffer_init(&history, 64, 1500, 0));
	/* A few stored packets, so NACKs can hit. */
	for (uint16_t seq = 0; seq < 64; seq += 3) {
		uint8_t pkt[40] = { 0x80, 96, (uint8_t)(seq >> 8), (uint8_t)seq };
		cardea_rtp_info info;
		FUZZ_CHECK(cardea_rtp_parse(pkt, sizeof(pkt), &info) == CARDEA_RTP_OK);
		cardea_rtx_buffer_store(&history, &info, 1000);
	}
	return 0;
}

static void feedback(const cardea_rtcp_pkt *p) {
	cardea_rtcp_fb fb;
	uint8_t out[1500];
	if (cardea_rtcp_parse_fb(p, &fb) != CARDEA_RTCP_OK)
		return;
	FUZZ_CHECK(fb.fci + fb.fci_len <= p->data + p->len);
	if (p->pt == CARDEA_RTCP_RTPFB && p->count == CARDEA_RTCP_RTPFB_NACK) {
		uint16_t seqs[512];
		size_t n = 0;
		cardea_rtcp_status st = cardea_rtcp_parse_nack(p, &fb, seqs, G_N_ELEMENTS(seqs), &n);
		FUZZ_CHECK(n <= G_N_ELEMENTS(seqs));
		if (st == CARDEA_RTCP_OK || st == CARDEA_RTCP_ERR_NO_SPACE) {
			cardea_rtx_stream rtx = { 97, 0x5678, 0 };
			for (size_t i = 0; i < n; i++) {
				size_t len;
				cardea_rtx_buffer_answer(&history, seqs[i], 2000 + (int64_t)i, 0, i & 1 ? &rtx : NULL,
					out, sizeof(out), &len);
			}
			size_t need = cardea_rtcp_nack_size(seqs, n);
			size_t w = cardea_rtcp_write_nack(out, sizeof(out), fb.sender_ssrc, fb.media_ssrc, seqs, n);
			FUZZ_CHECK(w == 0 || w == need);
		}
	} else if (p->pt == CARDEA_RTCP_RTPFB && p->count == CARDEA_RTCP_RTPFB_TWCC) {
		cardea_rtcp_twcc hdr;
		static cardea_twcc_status st[1024];
		size_t n = 0;
		cardea_rtcp_parse_twcc(p, &hdr, NULL, 0, &n);
		if (cardea_rtcp_parse_twcc(p, &hdr, st, G_N_ELEMENTS(st), &n) == CARDEA_RTCP_OK) {
			FUZZ_CHECK(n <= G_N_ELEMENTS(st));
			/* Re-encode what arrived (ascending unwrapped seqs). */
			static cardea_twcc_arrival arr[1024];
			size_t k = 0;
			for (size_t i = 0; i < n; i++)
				if (st[i].received && st[i].recv_us >= 0)
					arr[k++] = (cardea_twcc_arrival){ hdr.base_seq + (int64_t)i, st[i].recv_us };
			if (k > 0) {
				size_t used = 0;
				cardea_rtcp_write_twcc(out, sizeof(out), 1, 2, hdr.fb_count, hdr.base_seq, arr, k, &used);
				FUZZ_CHECK(used <= k);
			}
		}
	} else if (p->pt == CARDEA_RTCP_PSFB && p->count == CARDEA_RTCP_PSFB_FIR) {
		cardea_rtcp_fir_entry e[16];
		size_t n = 0;
		cardea_rtcp_parse_fir(p, &fb, e, G_N_ELEMENTS(e), &n);
		FUZZ_CHECK(n <= G_N_ELEMENTS(e));
	} else if (p->pt == CARDEA_RTCP_PSFB && p->count == CARDEA_RTCP_PSFB_AFB) {
		cardea_rtcp_remb remb;
		uint32_t ssrcs[8];
		size_t n = 0;
		cardea_rtcp_status st = cardea_rtcp_parse_remb(p, &remb, ssrcs, G_N_ELEMENTS(ssrcs), &n);
		FUZZ_CHECK(n <= G_N_ELEMENTS(ssrcs));
		if (st == CARDEA_RTCP_OK) {
			size_t w = cardea_rtcp_write_remb(out, sizeof(out), remb.sender_ssrc, remb.bitrate, ssrcs, n);
			cardea_rtcp_iter it;
			cardea_rtcp_pkt back;
			cardea_rtcp_remb remb2;
			size_t n2;
			if (w > 0 && cardea_rtcp_iter_init(&it, out, w) == CARDEA_RTCP_OK && cardea_rtcp_next(&it, &back)) {
				FUZZ_CHECK(cardea_rtcp_parse_remb(&back, &remb2, ssrcs, G_N_ELEMENTS(ssrcs), &n2) == CARDEA_RTCP_OK);
				/* The mantissa/exponent form rounds down. */
				FUZZ_CHECK(remb2.bitrate <= remb.bitrate);
			}
		}
	}
}

static void reports(const cardea_rtcp_pkt *p) {
	uint8_t out[1500];
	cardea_rtp_send_stats send;
	cardea_rtp_send_stats_init(&send, 1, 90000);
	if (p->pt == CARDEA_RTCP_SR) {
		cardea_rtcp_sr sr, back;
		if (cardea_rtcp_parse_sr(p, &sr) != CARDEA_RTCP_OK)
			return;
		FUZZ_CHECK(sr.report_count <= CARDEA_RTCP_MAX_REPORTS);
		for (unsigned i = 0; i < sr.report_count; i++)
			cardea_rtp_send_stats_on_report(&send, &sr.reports[i], 5000000);
		size_t w = cardea_rtcp_write_sr(out, sizeof(out), &sr);
		cardea_rtcp_iter it;
		cardea_rtcp_pkt q;
		FUZZ_CHECK(w > 0 && cardea_rtcp_iter_init(&it, out, w) == CARDEA_RTCP_OK && cardea_rtcp_next(&it, &q));
		FUZZ_CHECK(cardea_rtcp_parse_sr(&q, &back) == CARDEA_RTCP_OK && back.ssrc == sr.ssrc &&
			back.report_count == sr.report_count);
	} else if (p->pt == CARDEA_RTCP_RR) {
		cardea_rtcp_rr rr;
		if (cardea_rtcp_parse_rr(p, &rr) != CARDEA_RTCP_OK)
			return;
		FUZZ_CHECK(rr.report_count <= CARDEA_RTCP_MAX_REPORTS);
		for (unsigned i = 0; i < rr.report_count; i++)
			cardea_rtp_send_stats_on_report(&send, &rr.reports[i], 5000000);
		FUZZ_CHECK(cardea_rtcp_write_rr(out, sizeof(out), &rr) > 0);
	} else if (p->pt == CARDEA_RTCP_BYE) {
		uint32_t ssrcs[4];
		size_t n = 0;
		cardea_rtcp_parse_bye(p, ssrcs, G_N_ELEMENTS(ssrcs), &n);
		FUZZ_CHECK(n <= G_N_ELEMENTS(ssrcs));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	unsigned count = 0;
	cardea_rtcp_status vst = cardea_rtcp_validate(data, size, &count);
	cardea_rtcp_iter it;
	cardea_rtcp_status st = cardea_rtcp_iter_init(&it, data, size);
	/* The iterator and the validator agree on what is acceptable. */
	FUZZ_CHECK((st == CARDEA_RTCP_OK) == (vst == CARDEA_RTCP_OK));
	if (st != CARDEA_RTCP_OK)
		return 0;
	cardea_rtcp_pkt p;
	unsigned seen = 0;
	while (cardea_rtcp_next(&it, &p)) {
		seen++;
		FUZZ_CHECK(p.data >= data && p.data + p.len <= data + size);
		FUZZ_CHECK(p.body + p.body_len <= p.data + p.len);
		reports(&p);
		feedback(&p);
	}
	FUZZ_CHECK(seen == it.count && seen == count);
	return 0;
}
