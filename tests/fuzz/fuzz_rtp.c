/* RTP: the input is a packet sequence as the media loop would see it. For
 * each packet: demux, parse, every header-extension reader, RTX wrap and
 * unwrap, extension rewriting, then the simulcast path a plugin runs
 * (cardea_video_parse_rtp, the VP8 descriptor read/write, the layer
 * selector and the rewriter) and the receive-side trackers (NACK, TWCC,
 * RTP stats).
 *
 * Input: byte 0 picks the codec and the number of substreams, byte 1 the
 * selector's targets; then records (fuzz-util.h) of
 *   [substream/flags byte][time delta byte][RTP packet bytes]. */
#include <string.h>
#include <glib.h>
#include "cardea/simulcast.h"
#include "webrtc/rtp.h"
#include "webrtc/rtcp.h"
#include "webrtc/nack.h"
#include "fuzz-util.h"

static void extensions(const cardea_rtp_info *info) {
	char str[256];
	uint32_t ast;
	uint16_t seq, rotation;
	bool voice, camera, flip;
	uint8_t level;
	for (uint8_t id = 1; id <= 15; id++) {
		const uint8_t *d;
		uint8_t len;
		if (cardea_rtp_ext_find(info, id, &d, &len) == CARDEA_RTP_OK && len > 0)
			FUZZ_CHECK(d >= info->buf && d + len <= info->buf + info->len);
		if (cardea_rtp_ext_get_string(info, id, str, sizeof(str)) == CARDEA_RTP_OK)
			FUZZ_CHECK(strlen(str) < sizeof(str));
		cardea_rtp_ext_get_abs_send_time(info, id, &ast);
		cardea_rtp_ext_get_transport_seq(info, id, &seq);
		cardea_rtp_ext_get_audio_level(info, id, &voice, &level);
		cardea_rtp_ext_get_video_orientation(info, id, &camera, &flip, &rotation);
	}
}

/* RTX round trip and a new extension block on a copy of the packet. */
static void rewrite(const cardea_rtp_info *info) {
	uint8_t rtx[CARDEA_RTP_PACKET_MAX + 64], out[CARDEA_RTP_PACKET_MAX + 64];
	int n = cardea_rtx_build(info, 97, 0x1234, 7, rtx, sizeof(rtx));
	if (n > 0) {
		cardea_rtp_info ri;
		if (cardea_rtp_parse(rtx, (size_t)n, &ri) == CARDEA_RTP_OK) {
			size_t len = 0;
			if (cardea_rtx_unwrap(rtx, &ri, info->pt, info->ssrc, &len) == CARDEA_RTP_OK) {
				FUZZ_CHECK(len <= (size_t)n);
				cardea_rtp_info back;
				if (cardea_rtp_parse(rtx, len, &back) == CARDEA_RTP_OK)
					FUZZ_CHECK(back.seq == info->seq && back.payload_len == info->payload_len);
			}
		}
	}
	uint8_t ext[64];
	cardea_rtp_ext_writer w;
	cardea_rtp_ext_writer_init(&w, ext, sizeof(ext), info->ext_count & 1);
	cardea_rtp_ext_writer_add_string(&w, 1, "0");
	cardea_rtp_ext_writer_add_transport_seq(&w, 3, info->seq);
	cardea_rtp_ext_writer_add_abs_send_time(&w, 2, info->timestamp & 0xFFFFFF);
	int ext_len = cardea_rtp_ext_writer_finish(&w);
	if (ext_len >= 0) {
		int m = cardea_rtp_rewrite(info, ext_len ? ext : NULL, (size_t)ext_len, out, sizeof(out));
		if (m > 0) {
			cardea_rtp_info ri;
			FUZZ_CHECK(cardea_rtp_parse(out, (size_t)m, &ri) == CARDEA_RTP_OK);
			cardea_rtp_ext_set_transport_seq(out, &ri, 3, 99);
			cardea_rtp_ext_set_abs_send_time(out, &ri, 2, 5);
			cardea_rtp_ext_set_string(out, &ri, 1, "1");
		}
	}
}

static void vp8(const cardea_rtp_packet *pkt) {
	if (pkt->header_len > pkt->length)
		return;
	uint8_t *payload = pkt->buffer + pkt->header_len;
	size_t len = pkt->length - pkt->header_len;
	cardea_vp8_descriptor d;
	if (!cardea_vp8_descriptor_parse(payload, len, &d))
		return;
	FUZZ_CHECK(d.size <= len);
	d.picture_id++;
	d.tl0picidx++;
	FUZZ_CHECK(cardea_vp8_descriptor_write(payload, len, &d));
	cardea_vp8_descriptor again;
	FUZZ_CHECK(cardea_vp8_descriptor_parse(payload, len, &again) && again.size == d.size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz_reader r = { data, size };
	uint8_t b0 = fuzz_u8(&r), b1 = fuzz_u8(&r);
	cardea_video_codec codec = (cardea_video_codec)(b0 % 5);
	int substreams = 1 + (b0 >> 4) % CARDEA_SIM_MAX_SUBSTREAMS;

	cardea_sim_selector sel;
	cardea_sim_selector_init(&sel, substreams);
	cardea_sim_selector_set_substream(&sel, (b1 & 3) - 1);
	cardea_sim_selector_set_temporal(&sel, ((b1 >> 2) & 3) - 1);
	cardea_sim_selector_set_fallback(&sel, (int64_t)(b1 >> 4) * 50000 - 100000);
	cardea_sim_rewriter rw;
	cardea_sim_rewriter_init(&rw, 90000);
	/* The trackers are large: keep them off the stack. */
	static cardea_nack_tracker nack;
	static cardea_twcc_recorder twcc;
	cardea_nack_tracker_init(&nack, NULL);
	cardea_twcc_recorder_init(&twcc);
	cardea_rtp_recv_stats stats;
	cardea_rtp_recv_stats_init(&stats, 0, 90000);
	int64_t now = 1000000;

	uint8_t flags;
	const uint8_t *pkt;
	size_t pkt_len;
	while (fuzz_packet_record(&r, &flags, &now, &pkt, &pkt_len)) {
		/* The plugin may change its packet in place: work on a copy. */
		uint8_t buf[CARDEA_RTP_PACKET_MAX];
		size_t len = pkt_len > sizeof(buf) ? sizeof(buf) : pkt_len;
		memcpy(buf, pkt, len);

		cardea_packet_classify(buf, len);
		cardea_rtp_info info;
		if (cardea_rtp_parse(buf, len, &info) != CARDEA_RTP_OK)
			continue;
		FUZZ_CHECK(info.header_len <= info.len && info.payload_offset + info.payload_len + info.padding_len == info.len);
		extensions(&info);
		rewrite(&info);

		uint16_t twseq;
		if (cardea_rtp_ext_get_transport_seq(&info, 3, &twseq) == CARDEA_RTP_OK)
			cardea_twcc_recorder_add(&twcc, twseq, now);
		cardea_nack_tracker_received(&nack, info.seq, now);
		uint16_t due[64];
		cardea_nack_tracker_due(&nack, now, flags & 0x80 ? 30000 : 0, due, G_N_ELEMENTS(due));
		cardea_rtp_recv_stats_update(&stats, info.seq, info.timestamp, info.payload_len, now);
		if (flags & 0x40) {
			cardea_rtcp_report_block rb;
			cardea_rtp_recv_stats_report(&stats, now, &rb);
			uint8_t fb[1500];
			cardea_twcc_recorder_build(&twcc, 1, 2, fb, sizeof(fb));
		}

		cardea_rtp_packet pkt = {
			.buffer = buf, .length = (uint16_t)len, .mindex = 0, .video = true,
			.pt = info.pt, .marker = info.marker, .seq = info.seq, .timestamp = info.timestamp,
			.ssrc = info.ssrc, .header_len = info.header_len, .substream = flags % CARDEA_SIM_MAX_SUBSTREAMS,
		};
		cardea_video_frame_info fi;
		bool parsed = cardea_video_parse_rtp(codec, &pkt, &fi);
		if (info.payload_len > 0)
			cardea_video_is_keyframe(codec, buf + info.payload_offset, info.payload_len);
		if (codec == CARDEA_VIDEO_CODEC_VP8 && (flags & 0x20))
			vp8(&pkt);
		unsigned res = cardea_sim_selector_process(&sel, &pkt, parsed ? &fi : NULL, now);
		if (res & CARDEA_SIM_RELAY) {
			uint8_t copy[CARDEA_RTP_PACKET_MAX];
			cardea_rtp_packet out;
			FUZZ_CHECK(cardea_sim_packet_copy(&pkt, copy, sizeof(copy), &out));
			if (cardea_sim_rewriter_rewrite(&rw, &out, out.substream, codec, now)) {
				cardea_rtp_info ri;
				FUZZ_CHECK(cardea_rtp_parse(copy, out.length, &ri) == CARDEA_RTP_OK);
			}
		} else if (res & CARDEA_SIM_SKIPPED) {
			cardea_sim_rewriter_skip(&rw, &pkt, pkt.substream);
		}
		if (flags & 0x10)
			cardea_sim_rewriter_rebase(&rw);
	}
	return 0;
}
