/* Unit tests for the SDK's video payload helpers and simulcast pieces
 * (cardea/simulcast.h: core/webrtc/codecs.c, core/webrtc/simulcast.c):
 * keyframe detection per codec, the VP8 payload descriptor, the rewrite
 * context (sequence numbers, timestamps, VP8 picture ids across switches and
 * wraparound), the layer selector (keyframe-only switching, temporal layers,
 * fallback timing with an injected clock) and the SDP answer helper.
 *
 * Payload bytes marked "Chromium" are real: captured from Chromium 156
 * (headless, fake camera, 320x240) sending to an aiortc peer on loopback,
 * after SRTP unprotect. VP8 and VP9 were sent with scalabilityMode L1T3 so
 * their descriptors carry temporal layer ids. Only the first bytes of each
 * payload are kept: everything the parsers read is there.
 */
#include <string.h>

#include <glib.h>

#include "cardea/simulcast.h"

#include "test-util.h"

/* ---- Chromium payloads ---- */

/* VP8 L1T3: keyframe (first packet: S, PID 0, picture id 0x7734, TL0PICIDX
 * 0x18, TID 0 with Y, payload header P = 0 and 320x240), its second packet,
 * then the next frames' first packets: TID 2 (Y), 1 (Y), 2, 0. */
static const char vp8_key[] = "90e0f73418203032009d012a4001f000396b00391c240c2c";
static const char vp8_key_cont[] = "80e0f7341820f8a06cad2c9f2b6e759e867a9b450677ba55";
static const char vp8_t2_sync[] = "b0e0f73518a0511000371c240c2c2c44cc2441a80006d42e";
static const char vp8_t1_sync[] = "90e0f7361860110d00221c240c2c2c44cc2441a8101b7b91";
static const char vp8_t2[] = "b0e0f73718803111003f1c240c2c2c44cc2441a80000dc8f";
static const char vp8_t0[] = "90e0f7381900311b00e4e0af621a77af104f4fb10a2fe492";
/* The whole first RTP packet of the VP8 capture, truncated after 40 payload
 * bytes (abs-send-time id 2, mid id 9), and a padding-only packet (255 bytes
 * of padding, here cut to a 4-byte padding block for size). */
static const char vp8_rtp_key[] = "90600a75d5be763acd6421aebede000222820804903000"
	"0090e0f73418203032009d012a4001f000396b00391c240c2c2c44cc2441a40115eed05fc0";
static const char vp8_rtp_padding[] = "b0600a77d5be763acd6421aebede00029030228215e80000" "00000004";

/* VP9 L1T3 (flexible mode): keyframe first packet (I, L, F, B, V: 15-bit
 * picture id 0x3040, TID 0 U SID 0, SS with one 320x240 layer), a middle and
 * the last packet of that frame, then delta frames: TID 2 (U), TID 1 (U). */
static const char vp9_key[] = "bbb0401010014000f0834983420013f00ef078e090706428";
static const char vp9_key_mid[] = "b1b04010089bb2fce3d288e7a899106ffce7fb9bedd33698";
static const char vp9_key_end[] = "b5b04010b6734fc690b0d499483ac3f93130ad065466d9f1";
static const char vp9_t2[] = "fdb041500287000000027e01deb2f1c120e0cbf00008807f";
static const char vp9_t1[] = "fdb042300487020200027e01deb2f1c120e0cbf0000b807f";

/* H.264 (packetization-mode 1): STAP-A with SPS and PPS, the IDR's first and
 * last FU-A fragments, and a delta frame's single NAL (non-IDR slice). */
static const char h264_stap_sps[] = "7800126742c0158c8d40a0f9350606060784423500000468ce3c80";
static const char h264_fu_idr_start[] = "7c85b80004000005388c2e000206aa3800080fc7000101ff";
static const char h264_fu_idr_end[] = "7c45c005673f7fe6f7f81c20e72001258f1889dd7fe0fb53";
static const char h264_delta[] = "61e0004000be4053ae5ad613e4aae1be2fc389f46813e8c9";

/* AV1: keyframe first packet (Z 0, Y 1, W 2, N 1; first OBU a sequence
 * header of 11 bytes), its continuation (Z 1), a delta frame (W 1, OBU_FRAME). */
static const char av1_key[] = "680b08000000043cffbc01a00830104ab0175d75c5069b00";
static const char av1_key_cont[] = "90b7c5cdc39c71a23da6556f61feadbca5a2be06b4dc22ff";
static const char av1_delta[] = "103030c040fdf8013043403be01d900000000000038e38e0";

static cardea_video_frame_info parse(cardea_video_codec codec, const char *hex, bool *ok) {
	uint8_t buf[256];
	size_t len = unhex(hex, buf, sizeof(buf));
	cardea_video_frame_info fi;
	*ok = cardea_video_parse(codec, buf, len, &fi);
	return fi;
}

/* Every prefix of a real payload must be handled (true or false) without
 * reading past it: the AddressSanitizer build checks the "without". */
static void all_prefixes(cardea_video_codec codec, const char *hex) {
	uint8_t buf[256];
	size_t len = unhex(hex, buf, sizeof(buf));
	for (size_t n = 0; n <= len; n++) {
		uint8_t *copy = g_memdup2(buf, n ? n : 1);
		cardea_video_frame_info fi;
		cardea_video_parse(codec, n ? copy : NULL, n, &fi);
		g_free(copy);
	}
}

static void test_codec_names(void) {
	g_assert_cmpint(cardea_video_codec_from_name("VP8"), ==, CARDEA_VIDEO_CODEC_VP8);
	g_assert_cmpint(cardea_video_codec_from_name("vp9"), ==, CARDEA_VIDEO_CODEC_VP9);
	g_assert_cmpint(cardea_video_codec_from_name("H264"), ==, CARDEA_VIDEO_CODEC_H264);
	g_assert_cmpint(cardea_video_codec_from_name("AV1"), ==, CARDEA_VIDEO_CODEC_AV1);
	g_assert_cmpint(cardea_video_codec_from_name("opus"), ==, CARDEA_VIDEO_CODEC_UNKNOWN);
	g_assert_cmpint(cardea_video_codec_from_name(NULL), ==, CARDEA_VIDEO_CODEC_UNKNOWN);
	g_assert_cmpstr(cardea_video_codec_name(CARDEA_VIDEO_CODEC_VP8), ==, "vp8");
	g_assert_cmpstr(cardea_video_codec_name(CARDEA_VIDEO_CODEC_H264), ==, "h264");
	g_assert_null(cardea_video_codec_name(CARDEA_VIDEO_CODEC_UNKNOWN));
}

static void test_keyframe_vp8(void) {
	bool ok;
	cardea_video_frame_info fi = parse(CARDEA_VIDEO_CODEC_VP8, vp8_key, &ok);
	g_assert_true(ok);
	g_assert_true(fi.keyframe);
	g_assert_true(fi.frame_start);
	g_assert_cmpint(fi.temporal, ==, 0);
	g_assert_true(fi.layer_sync);
	g_assert_cmpint(fi.spatial, ==, -1);
	g_assert_cmpint(fi.width, ==, 320);
	g_assert_cmpint(fi.height, ==, 240);

	fi = parse(CARDEA_VIDEO_CODEC_VP8, vp8_key_cont, &ok);
	g_assert_true(ok);
	g_assert_false(fi.keyframe);
	g_assert_false(fi.frame_start);
	g_assert_cmpint(fi.temporal, ==, 0);

	const struct { const char *hex; int tid; bool sync; } deltas[] = {
		{ vp8_t2_sync, 2, true }, { vp8_t1_sync, 1, true }, { vp8_t2, 2, false }, { vp8_t0, 0, false },
	};
	for (guint i = 0; i < G_N_ELEMENTS(deltas); i++) {
		fi = parse(CARDEA_VIDEO_CODEC_VP8, deltas[i].hex, &ok);
		g_assert_true(ok);
		g_assert_false(fi.keyframe);
		g_assert_true(fi.frame_start);
		g_assert_cmpint(fi.temporal, ==, deltas[i].tid);
		g_assert_cmpint(fi.layer_sync, ==, deltas[i].sync);
		g_assert_cmpint(fi.width, ==, 0);
	}
	/* Same bytes under another codec are not a VP8 keyframe. */
	uint8_t buf[64];
	size_t len = unhex(vp8_key, buf, sizeof(buf));
	g_assert_true(cardea_video_is_keyframe(CARDEA_VIDEO_CODEC_VP8, buf, len));
	g_assert_false(cardea_video_is_keyframe(CARDEA_VIDEO_CODEC_UNKNOWN, buf, len));
	all_prefixes(CARDEA_VIDEO_CODEC_VP8, vp8_key);
	all_prefixes(CARDEA_VIDEO_CODEC_VP8, vp8_t2_sync);
	/* A descriptor with nothing after it is not a payload. */
	g_assert_false(cardea_video_is_keyframe(CARDEA_VIDEO_CODEC_VP8, buf, 6));
}

static void test_keyframe_vp9(void) {
	bool ok;
	cardea_video_frame_info fi = parse(CARDEA_VIDEO_CODEC_VP9, vp9_key, &ok);
	g_assert_true(ok);
	g_assert_true(fi.keyframe);
	g_assert_true(fi.frame_start);
	g_assert_cmpint(fi.temporal, ==, 0);
	g_assert_cmpint(fi.spatial, ==, 0);
	g_assert_true(fi.layer_sync);
	g_assert_cmpint(fi.width, ==, 320);
	g_assert_cmpint(fi.height, ==, 240);
	const char *mids[] = { vp9_key_mid, vp9_key_end };
	for (guint i = 0; i < G_N_ELEMENTS(mids); i++) {
		fi = parse(CARDEA_VIDEO_CODEC_VP9, mids[i], &ok);
		g_assert_true(ok);
		g_assert_false(fi.keyframe);
		g_assert_false(fi.frame_start);
	}
	fi = parse(CARDEA_VIDEO_CODEC_VP9, vp9_t2, &ok);
	g_assert_true(ok);
	g_assert_false(fi.keyframe);
	g_assert_true(fi.frame_start);
	g_assert_cmpint(fi.temporal, ==, 2);
	g_assert_true(fi.layer_sync);
	fi = parse(CARDEA_VIDEO_CODEC_VP9, vp9_t1, &ok);
	g_assert_true(ok);
	g_assert_cmpint(fi.temporal, ==, 1);
	g_assert_false(fi.keyframe);
	/* The VP8 parser sees no keyframe in a VP9 payload. */
	fi = parse(CARDEA_VIDEO_CODEC_VP8, vp9_key, &ok);
	g_assert_false(ok && fi.keyframe);
	all_prefixes(CARDEA_VIDEO_CODEC_VP9, vp9_key);
	all_prefixes(CARDEA_VIDEO_CODEC_VP9, vp9_t1);
}

static void test_keyframe_h264(void) {
	bool ok;
	cardea_video_frame_info fi = parse(CARDEA_VIDEO_CODEC_H264, h264_stap_sps, &ok);
	g_assert_true(ok);
	g_assert_true(fi.keyframe);
	g_assert_true(fi.frame_start);
	g_assert_cmpint(fi.temporal, ==, -1);
	fi = parse(CARDEA_VIDEO_CODEC_H264, h264_fu_idr_start, &ok);
	g_assert_true(ok);
	g_assert_true(fi.keyframe);
	g_assert_true(fi.frame_start);
	fi = parse(CARDEA_VIDEO_CODEC_H264, h264_fu_idr_end, &ok);
	g_assert_true(ok);
	g_assert_false(fi.keyframe);
	g_assert_false(fi.frame_start);
	fi = parse(CARDEA_VIDEO_CODEC_H264, h264_delta, &ok);
	g_assert_true(ok);
	g_assert_false(fi.keyframe);
	g_assert_true(fi.frame_start);
	/* A STAP-A whose sizes run past the end is malformed. */
	uint8_t bad[] = { 0x78, 0x00, 0x12, 0x67, 0x42 };
	g_assert_false(cardea_video_is_keyframe(CARDEA_VIDEO_CODEC_H264, bad, sizeof(bad)));
	uint8_t forbidden[] = { 0xe7, 0x42 };
	g_assert_false(cardea_video_is_keyframe(CARDEA_VIDEO_CODEC_H264, forbidden, sizeof(forbidden)));
	all_prefixes(CARDEA_VIDEO_CODEC_H264, h264_stap_sps);
	all_prefixes(CARDEA_VIDEO_CODEC_H264, h264_fu_idr_start);
}

static void test_keyframe_av1(void) {
	bool ok;
	cardea_video_frame_info fi = parse(CARDEA_VIDEO_CODEC_AV1, av1_key, &ok);
	g_assert_true(ok);
	g_assert_true(fi.keyframe);
	g_assert_true(fi.frame_start);
	fi = parse(CARDEA_VIDEO_CODEC_AV1, av1_key_cont, &ok);
	g_assert_true(ok);
	g_assert_false(fi.keyframe);
	g_assert_false(fi.frame_start);
	fi = parse(CARDEA_VIDEO_CODEC_AV1, av1_delta, &ok);
	g_assert_true(ok);
	g_assert_false(fi.keyframe);
	g_assert_true(fi.frame_start);
	/* Without N, a sequence header first still marks a keyframe; a temporal
	 * delimiter in front of it is skipped. */
	uint8_t no_n[] = { 0x20, 0x02, 0x12, 0x00, 0x08, 0x00, 0x00 };
	g_assert_true(cardea_video_is_keyframe(CARDEA_VIDEO_CODEC_AV1, no_n, sizeof(no_n)));
	/* An element length past the end is malformed. */
	uint8_t bad[] = { 0x28, 0x40, 0x08, 0x00 };
	g_assert_false(cardea_video_is_keyframe(CARDEA_VIDEO_CODEC_AV1, bad, sizeof(bad)));
	all_prefixes(CARDEA_VIDEO_CODEC_AV1, av1_key);
	all_prefixes(CARDEA_VIDEO_CODEC_AV1, av1_delta);
}

static void test_parse_rtp(void) {
	uint8_t buf[128];
	cardea_rtp_packet p = { .buffer = buf };
	p.length = (uint16_t)unhex(vp8_rtp_key, buf, sizeof(buf));
	p.header_len = 24;
	cardea_video_frame_info fi;
	g_assert_true(cardea_video_parse_rtp(CARDEA_VIDEO_CODEC_VP8, &p, &fi));
	g_assert_true(fi.keyframe);
	g_assert_cmpint(fi.width, ==, 320);
	/* Padding only: nothing to parse. */
	p.length = (uint16_t)unhex(vp8_rtp_padding, buf, sizeof(buf));
	p.header_len = 24;
	g_assert_false(cardea_video_parse_rtp(CARDEA_VIDEO_CODEC_VP8, &p, &fi));
	g_assert_false(fi.keyframe);
	g_assert_cmpint(fi.temporal, ==, -1);
	/* A padding count larger than the payload is not trusted. */
	buf[p.length - 1] = 200;
	g_assert_false(cardea_video_parse_rtp(CARDEA_VIDEO_CODEC_VP8, &p, &fi));
	p.header_len = 200;
	g_assert_false(cardea_video_parse_rtp(CARDEA_VIDEO_CODEC_VP8, &p, &fi));
	g_assert_false(cardea_video_parse_rtp(CARDEA_VIDEO_CODEC_VP8, NULL, &fi));
}

/* ---- VP8 descriptor ---- */

static void test_vp8_descriptor(void) {
	uint8_t buf[64], orig[64];
	size_t len = unhex(vp8_t2_sync, buf, sizeof(buf));
	memcpy(orig, buf, len);
	cardea_vp8_descriptor d;
	g_assert_true(cardea_vp8_descriptor_parse(buf, len, &d));
	g_assert_cmpuint(d.size, ==, 6);
	g_assert_true(d.start);
	g_assert_true(d.non_reference);
	g_assert_cmpuint(d.partition, ==, 0);
	g_assert_true(d.has_picture_id && d.picture_id_15);
	g_assert_cmphex(d.picture_id, ==, 0x7735);
	g_assert_true(d.has_tl0picidx);
	g_assert_cmphex(d.tl0picidx, ==, 0x18);
	g_assert_true(d.has_tid);
	g_assert_cmpuint(d.tid, ==, 2);
	g_assert_true(d.layer_sync);
	g_assert_false(d.has_keyidx);

	/* Writing back what was read changes nothing. */
	g_assert_true(cardea_vp8_descriptor_write(buf, len, &d));
	g_assert_cmpmem(buf, len, orig, len);
	/* New values round-trip and leave the payload alone. */
	d.picture_id = 0x0123;
	d.tl0picidx = 0xfe;
	d.tid = 1;
	d.layer_sync = false;
	g_assert_true(cardea_vp8_descriptor_write(buf, len, &d));
	cardea_vp8_descriptor e;
	g_assert_true(cardea_vp8_descriptor_parse(buf, len, &e));
	g_assert_cmphex(e.picture_id, ==, 0x0123);
	g_assert_cmphex(e.tl0picidx, ==, 0xfe);
	g_assert_cmpuint(e.tid, ==, 1);
	g_assert_false(e.layer_sync);
	g_assert_true(e.non_reference);
	g_assert_cmpmem(buf + 6, len - 6, orig + 6, len - 6);
	/* A different layout is refused. */
	cardea_vp8_descriptor other = e;
	other.has_keyidx = true;
	g_assert_false(cardea_vp8_descriptor_write(buf, len, &other));

	/* 7-bit picture id with KEYIDX only: X, I (M = 0), K. */
	uint8_t small[] = { 0x90, 0x90, 0x05, 0x1f, 0x30, 0x00 };
	g_assert_true(cardea_vp8_descriptor_parse(small, sizeof(small), &d));
	g_assert_cmpuint(d.size, ==, 4);
	g_assert_false(d.picture_id_15);
	g_assert_cmpuint(d.picture_id, ==, 5);
	g_assert_false(d.has_tid);
	g_assert_true(d.has_keyidx);
	g_assert_cmpuint(d.keyidx, ==, 0x1f);
	d.picture_id = 0x1ff;  /* written modulo 128 */
	d.keyidx = 3;
	g_assert_true(cardea_vp8_descriptor_write(small, sizeof(small), &d));
	g_assert_cmphex(small[2], ==, 0x7f);
	g_assert_cmphex(small[3], ==, 0x03);
	/* Minimal descriptor: one byte. */
	uint8_t one[] = { 0x10, 0x00 };
	g_assert_true(cardea_vp8_descriptor_parse(one, sizeof(one), &d));
	g_assert_cmpuint(d.size, ==, 1);
	g_assert_false(d.has_picture_id);
	g_assert_true(cardea_vp8_descriptor_write(one, sizeof(one), &d));
	/* Truncated. */
	g_assert_false(cardea_vp8_descriptor_parse(buf, 4, &d));
	g_assert_false(cardea_vp8_descriptor_parse(buf, 0, &d));
	g_assert_false(cardea_vp8_descriptor_parse(NULL, 10, &d));
}

/* ---- rewrite context ---- */

/* A plain RTP packet: 12-byte header, then `payload` (hex, may be NULL). */
static cardea_rtp_packet mkpkt(uint8_t *buf, size_t cap, uint16_t seq, uint32_t ts, uint32_t ssrc,
		const char *payload) {
	memset(buf, 0, cap);
	buf[0] = 0x80;
	buf[1] = 96;
	buf[2] = (uint8_t)(seq >> 8);
	buf[3] = (uint8_t)seq;
	buf[4] = (uint8_t)(ts >> 24);
	buf[5] = (uint8_t)(ts >> 16);
	buf[6] = (uint8_t)(ts >> 8);
	buf[7] = (uint8_t)ts;
	buf[8] = (uint8_t)(ssrc >> 24);
	buf[9] = (uint8_t)(ssrc >> 16);
	buf[10] = (uint8_t)(ssrc >> 8);
	buf[11] = (uint8_t)ssrc;
	size_t n = 12;
	if (payload)
		n += unhex(payload, buf + 12, cap - 12);
	else
		buf[n++] = 0xAA;
	cardea_rtp_packet p = {
		.buffer = buf, .length = (uint16_t)n, .video = true, .pt = 96, .seq = seq, .timestamp = ts,
		.ssrc = ssrc, .header_len = 12,
	};
	return p;
}

static uint16_t wire_seq(const cardea_rtp_packet *p) {
	return (uint16_t)(p->buffer[2] << 8 | p->buffer[3]);
}

static uint32_t wire_ts(const cardea_rtp_packet *p) {
	return (uint32_t)p->buffer[4] << 24 | (uint32_t)p->buffer[5] << 16 | (uint32_t)p->buffer[6] << 8 | p->buffer[7];
}

/* Rewrites one packet; returns its outgoing seq (or -1 when refused) and
 * checks the fields agree with the bytes. */
static int rw(cardea_sim_rewriter *r, uint16_t seq, uint32_t ts, int source, int64_t now, uint32_t *ts_out) {
	uint8_t buf[64];
	cardea_rtp_packet p = mkpkt(buf, sizeof(buf), seq, ts, 1000 + (uint32_t)source, NULL);
	if (!cardea_sim_rewriter_rewrite(r, &p, source, CARDEA_VIDEO_CODEC_H264, now))
		return -1;
	g_assert_cmpuint(p.seq, ==, wire_seq(&p));
	g_assert_cmpuint(p.timestamp, ==, wire_ts(&p));
	if (ts_out)
		*ts_out = p.timestamp;
	return p.seq;
}

static void skip(cardea_sim_rewriter *r, uint16_t seq, int source) {
	uint8_t buf[64];
	cardea_rtp_packet p = mkpkt(buf, sizeof(buf), seq, 0, 1000 + (uint32_t)source, NULL);
	cardea_sim_rewriter_skip(r, &p, source);
}

static void test_rewrite_seq_ts(void) {
	cardea_sim_rewriter r;
	cardea_sim_rewriter_init(&r, 90000);
	uint32_t ts;
	/* The first source goes out unchanged. */
	g_assert_cmpint(rw(&r, 100, 1000, 0, 0, &ts), ==, 100);
	g_assert_cmpuint(ts, ==, 1000);
	g_assert_cmpint(rw(&r, 101, 1000, 0, 0, &ts), ==, 101);
	g_assert_cmpint(rw(&r, 102, 4000, 0, 33333, &ts), ==, 102);
	/* Switch: seqs go on without a hole; the timestamp moves by the 33.333
	 * ms since the last frame (2999 ticks), whatever the new source's is. */
	g_assert_cmpint(rw(&r, 5000, 777777, 1, 66666, &ts), ==, 103);
	g_assert_cmpuint(ts, ==, 4000 + 2999);
	g_assert_cmpint(rw(&r, 5001, 777777, 1, 66700, &ts), ==, 104);
	g_assert_cmpuint(ts, ==, 6999);
	/* A gap inside a source stays a gap (real loss the receiver may NACK). */
	g_assert_cmpint(rw(&r, 5003, 780777, 1, 100000, &ts), ==, 106);
	g_assert_cmpuint(ts, ==, 6999 + 3000);
	/* The lost one shows up late: it gets its own slot back. */
	g_assert_cmpint(rw(&r, 5002, 777777, 1, 100010, &ts), ==, 105);
	/* Older than the switch point: its slot was the old source's. */
	g_assert_cmpint(rw(&r, 4999, 774777, 1, 100020, NULL), ==, -1);
	/* Back to the first source. */
	g_assert_cmpint(rw(&r, 103, 7000, 0, 133333, &ts), ==, 107);
	g_assert_cmpuint(ts, ==, 9999 + 2999);
	/* A switch with no time in between still moves the timestamp on. */
	g_assert_cmpint(rw(&r, 7, 5, 2, 133333, &ts), ==, 108);
	g_assert_cmpuint(ts, ==, 12998 + 1);
	/* rebase(): the same source starts over as if it were new. */
	cardea_sim_rewriter_rebase(&r);
	g_assert_cmpint(rw(&r, 30000, 123, 2, 166666, &ts), ==, 109);
	g_assert_cmpuint(ts, ==, 12999 + 2999);
	/* Not RTP: refused. */
	cardea_rtp_packet bad = { 0 };
	g_assert_false(cardea_sim_rewriter_rewrite(&r, &bad, 2, CARDEA_VIDEO_CODEC_VP8, 0));
}

static void test_rewrite_wraparound(void) {
	cardea_sim_rewriter r;
	cardea_sim_rewriter_init(&r, 90000);
	uint32_t ts;
	g_assert_cmpint(rw(&r, 65534, 0xFFFFFF00u, 0, 0, &ts), ==, 65534);
	g_assert_cmpint(rw(&r, 65535, 0xFFFFFF00u, 0, 0, &ts), ==, 65535);
	g_assert_cmpint(rw(&r, 0, 0x00000100u, 0, 5000, &ts), ==, 0);
	g_assert_cmpuint(ts, ==, 0x100);
	/* Reordered across the wrap. */
	g_assert_cmpint(rw(&r, 65535, 0xFFFFFF00u, 0, 5100, &ts), ==, 65535);
	/* Switch right after the wrap, to a source about to wrap itself. */
	g_assert_cmpint(rw(&r, 65535, 0xFFFFFFF0u, 1, 10000, &ts), ==, 1);
	g_assert_cmpuint(ts, ==, 0x100 + 450);
	g_assert_cmpint(rw(&r, 0, 0x00000010u, 1, 20000, &ts), ==, 2);
	g_assert_cmpuint(ts, ==, 0x100 + 450 + 0x20);
	/* A switch landing the output timestamp across 2^32. */
	cardea_sim_rewriter_init(&r, 90000);
	g_assert_cmpint(rw(&r, 10, 0xFFFFFFFFu - 100, 0, 0, &ts), ==, 10);
	g_assert_cmpint(rw(&r, 20, 50, 1, 10000, &ts), ==, 11);
	g_assert_cmpuint(ts, ==, (uint32_t)(0xFFFFFFFFu - 100 + 900));
	g_assert_cmpint(rw(&r, 21, 50 + 3000, 1, 43333, &ts), ==, 12);
	g_assert_cmpuint(ts, ==, (uint32_t)(0xFFFFFFFFu - 100 + 900 + 3000));
}

static void test_rewrite_skip(void) {
	cardea_sim_rewriter r;
	cardea_sim_rewriter_init(&r, 90000);
	g_assert_cmpint(rw(&r, 10, 0, 0, 0, NULL), ==, 10);
	skip(&r, 11, 0);
	g_assert_cmpint(rw(&r, 12, 0, 0, 0, NULL), ==, 11);
	skip(&r, 13, 0);
	/* 14 lost upstream: its slot (12) stays empty ... */
	g_assert_cmpint(rw(&r, 15, 0, 0, 0, NULL), ==, 13);
	/* ... until the retransmission fills it. */
	g_assert_cmpint(rw(&r, 14, 0, 0, 0, NULL), ==, 12);
	/* Older than a skipped packet: no slot left. */
	g_assert_cmpint(rw(&r, 12, 0, 0, 0, NULL), ==, -1);
	/* Skips of other sources, or of packets already behind, change nothing. */
	skip(&r, 16, 1);
	skip(&r, 9, 0);
	g_assert_cmpint(rw(&r, 16, 0, 0, 0, NULL), ==, 14);
	/* A switch forgets the skips. */
	g_assert_cmpint(rw(&r, 500, 0, 1, 1000, NULL), ==, 15);
	g_assert_cmpint(rw(&r, 501, 0, 1, 1000, NULL), ==, 16);
}

/* A VP8 RTP packet from the Chromium keyframe's descriptor with another
 * picture id / TL0PICIDX. */
static cardea_rtp_packet vp8pkt(uint8_t *buf, size_t cap, uint16_t seq, uint32_t ts, const char *payload,
		int picid, int tl0) {
	cardea_rtp_packet p = mkpkt(buf, cap, seq, ts, 7, payload);
	cardea_vp8_descriptor d;
	g_assert_true(cardea_vp8_descriptor_parse(buf + 12, p.length - 12u, &d));
	if (picid >= 0)
		d.picture_id = (uint16_t)picid;
	if (tl0 >= 0)
		d.tl0picidx = (uint8_t)tl0;
	g_assert_true(cardea_vp8_descriptor_write(buf + 12, p.length - 12u, &d));
	return p;
}

static cardea_vp8_descriptor vp8_out(const cardea_rtp_packet *p) {
	cardea_vp8_descriptor d;
	g_assert_true(cardea_vp8_descriptor_parse(p->buffer + p->header_len, (size_t)p->length - p->header_len, &d));
	return d;
}

static void test_rewrite_vp8(void) {
	cardea_sim_rewriter r;
	cardea_sim_rewriter_init(&r, 90000);
	uint8_t buf[128];
	/* Source 0 (the real keyframe and next frame, picture ids moved to just
	 * before the 15-bit wrap) goes out unchanged. */
	cardea_rtp_packet p = vp8pkt(buf, sizeof(buf), 1, 0, vp8_key, 0x7ffe, -1);
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &p, 0, CARDEA_VIDEO_CODEC_VP8, 0));
	g_assert_cmphex(vp8_out(&p).picture_id, ==, 0x7ffe);
	g_assert_cmphex(vp8_out(&p).tl0picidx, ==, 0x18);
	p = vp8pkt(buf, sizeof(buf), 2, 3000, vp8_t2_sync, 0x7fff, -1);
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &p, 0, CARDEA_VIDEO_CODEC_VP8, 33000));
	g_assert_cmphex(vp8_out(&p).picture_id, ==, 0x7fff);
	/* Switch to source 1 (picture id 0x0100, TL0PICIDX 5): its keyframe
	 * follows on (wrapping the output), and so does the rest of it. */
	p = vp8pkt(buf, sizeof(buf), 900, 50, vp8_key, 0x0100, 5);
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &p, 1, CARDEA_VIDEO_CODEC_VP8, 66000));
	cardea_vp8_descriptor d = vp8_out(&p);
	g_assert_cmphex(d.picture_id, ==, 0x0000);
	g_assert_cmphex(d.tl0picidx, ==, 0x19);
	g_assert_cmpuint(d.tid, ==, 0);
	g_assert_true(d.layer_sync);
	/* The payload after the descriptor is untouched. */
	uint8_t ref[64];
	size_t rlen = unhex(vp8_key, ref, sizeof(ref));
	g_assert_cmpmem(p.buffer + 12 + 6, rlen - 6, ref + 6, rlen - 6);
	p = vp8pkt(buf, sizeof(buf), 901, 50, vp8_key_cont, 0x0100, 5);
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &p, 1, CARDEA_VIDEO_CODEC_VP8, 66000));
	g_assert_cmphex(vp8_out(&p).picture_id, ==, 0x0000);
	p = vp8pkt(buf, sizeof(buf), 902, 3050, vp8_t0, 0x0101, 6);
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &p, 1, CARDEA_VIDEO_CODEC_VP8, 99000));
	g_assert_cmphex(vp8_out(&p).picture_id, ==, 0x0001);
	g_assert_cmphex(vp8_out(&p).tl0picidx, ==, 0x1a);
	p = vp8pkt(buf, sizeof(buf), 903, 6050, vp8_t2, 0x0102, 6);
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &p, 1, CARDEA_VIDEO_CODEC_VP8, 132000));
	g_assert_cmphex(vp8_out(&p).picture_id, ==, 0x0002);
	g_assert_cmphex(vp8_out(&p).tl0picidx, ==, 0x1a);
	/* Back to source 0, whose TL0PICIDX wraps at 8 bits meanwhile. */
	p = vp8pkt(buf, sizeof(buf), 3, 9000, vp8_key, 0x10, 0xff);
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &p, 0, CARDEA_VIDEO_CODEC_VP8, 165000));
	g_assert_cmphex(vp8_out(&p).picture_id, ==, 0x0003);
	g_assert_cmphex(vp8_out(&p).tl0picidx, ==, 0x1b);
	p = vp8pkt(buf, sizeof(buf), 4, 12000, vp8_t0, 0x11, 0x00);
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &p, 0, CARDEA_VIDEO_CODEC_VP8, 198000));
	g_assert_cmphex(vp8_out(&p).picture_id, ==, 0x0004);
	g_assert_cmphex(vp8_out(&p).tl0picidx, ==, 0x1c);
	/* A source with a 7-bit picture id (and no TL0PICIDX) goes on modulo 128. */
	cardea_rtp_packet s = mkpkt(buf, sizeof(buf), 77, 0, 7, "9080053000");
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &s, 2, CARDEA_VIDEO_CODEC_VP8, 231000));
	cardea_vp8_descriptor sd = vp8_out(&s);
	g_assert_false(sd.picture_id_15);
	g_assert_cmphex(sd.picture_id, ==, 0x05);
	s = mkpkt(buf, sizeof(buf), 78, 3000, 7, "9080063000");
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &s, 2, CARDEA_VIDEO_CODEC_VP8, 264000));
	g_assert_cmphex(vp8_out(&s).picture_id, ==, 0x06);
	/* Other codecs' payloads are left alone. */
	s = mkpkt(buf, sizeof(buf), 79, 6000, 7, "9080073000");
	g_assert_true(cardea_sim_rewriter_rewrite(&r, &s, 3, CARDEA_VIDEO_CODEC_H264, 297000));
	g_assert_cmphex(vp8_out(&s).picture_id, ==, 0x07);
}

static void test_packet_copy(void) {
	uint8_t a[64], b[64];
	cardea_rtp_packet in = mkpkt(a, sizeof(a), 5, 6, 7, "0102030405"), out;
	in.substream = 2;
	g_assert_true(cardea_sim_packet_copy(&in, b, sizeof(b), &out));
	g_assert_true(out.buffer == b);
	g_assert_cmpuint(out.length, ==, in.length);
	g_assert_cmpint(out.substream, ==, 2);
	g_assert_cmpmem(a, in.length, b, out.length);
	g_assert_false(cardea_sim_packet_copy(&in, b, 10, &out));
}

/* ---- layer selector ---- */

/* One packet of `sub` with the given frame facts; frame NULL when
 * `padding`. */
static unsigned feed(cardea_sim_selector *s, int sub, bool key, int tid, bool start, bool sync, int64_t now) {
	uint8_t buf[16] = { 0x80 };
	cardea_rtp_packet p = { .buffer = buf, .length = 13, .header_len = 12, .video = true, .substream = sub };
	cardea_video_frame_info fi = {
		.keyframe = key, .frame_start = start || key, .temporal = tid, .spatial = -1, .layer_sync = sync,
	};
	return cardea_sim_selector_process(s, &p, &fi, now);
}

static unsigned feed_padding(cardea_sim_selector *s, int sub, int64_t now) {
	uint8_t buf[16] = { 0x80 };
	cardea_rtp_packet p = { .buffer = buf, .length = 13, .header_len = 12, .video = true, .substream = sub };
	return cardea_sim_selector_process(s, &p, NULL, now);
}

#define RELAY CARDEA_SIM_RELAY
#define CHANGED CARDEA_SIM_SUBSTREAM_CHANGED
#define TCHANGED CARDEA_SIM_TEMPORAL_CHANGED
#define KEY CARDEA_SIM_NEED_KEYFRAME
#define SKIPPED CARDEA_SIM_SKIPPED

static void test_selector_keyframes_only(void) {
	cardea_sim_selector s;
	cardea_sim_selector_init(&s, 3);
	g_assert_cmpint(s.substream_target, ==, 2);
	g_assert_cmpint(s.temporal_target, ==, 2);
	g_assert_cmpint(s.fallback_us, ==, CARDEA_SIM_DEFAULT_FALLBACK_US);
	g_assert_cmpint(s.substream, ==, -1);
	/* Nothing goes out before a keyframe of the target; a keyframe is asked
	 * for at once, then not again within the retry interval. */
	g_assert_cmpuint(feed(&s, 0, false, -1, true, false, 1000), ==, KEY);
	/* The lowest substream's keyframe is not taken while the target, not
	 * seen yet, still may start (the first `fallback`). */
	g_assert_cmpuint(feed(&s, 0, true, -1, true, false, 2000), ==, 0);
	g_assert_cmpuint(feed(&s, 2, false, -1, true, false, 3000), ==, 0);
	g_assert_cmpuint(feed(&s, 2, true, -1, true, false, 4000), ==, CHANGED | RELAY);
	g_assert_cmpint(s.substream, ==, 2);
	g_assert_cmpint(s.temporal, ==, -1);
	g_assert_cmpuint(feed(&s, 1, true, -1, true, false, 5000), ==, 0);
	g_assert_cmpuint(feed(&s, 2, false, -1, false, false, 5000), ==, RELAY);
	/* Padding of the current substream goes on (whole sequence), padding of
	 * another does not. */
	g_assert_cmpuint(feed_padding(&s, 2, 5500), ==, RELAY);
	g_assert_cmpuint(feed_padding(&s, 0, 5500), ==, 0);

	/* Target down: the current substream goes on until the new one's
	 * keyframe. The retry interval (500 ms from the first ask) holds. */
	cardea_sim_selector_set_substream(&s, 0);
	g_assert_cmpuint(feed(&s, 2, false, -1, true, false, 6000), ==, RELAY);
	g_assert_cmpuint(feed(&s, 0, false, -1, true, false, 7000), ==, 0);
	g_assert_cmpuint(feed(&s, 2, false, -1, true, false, 100000), ==, RELAY);
	g_assert_cmpuint(feed(&s, 0, false, -1, true, false, 200000), ==, 0);
	g_assert_cmpuint(feed(&s, 0, false, -1, true, false, 501000), ==, KEY);
	g_assert_cmpuint(feed(&s, 2, true, -1, true, false, 502000), ==, RELAY);
	g_assert_cmpuint(feed(&s, 0, true, -1, true, false, 503000), ==, CHANGED | RELAY);
	g_assert_cmpint(s.substream, ==, 0);
	g_assert_cmpuint(feed(&s, 2, false, -1, true, false, 504000), ==, 0);
	g_assert_cmpuint(feed(&s, 1, true, -1, true, false, 504000), ==, 0);
	/* Clamping and bad input. */
	cardea_sim_selector_set_substream(&s, 7);
	g_assert_cmpint(s.substream_target, ==, 2);
	cardea_sim_selector_set_substream(&s, -3);
	g_assert_cmpint(s.substream_target, ==, 0);
	g_assert_cmpuint(feed(&s, 5, true, -1, true, false, 505000), ==, 0);
	g_assert_cmpuint(feed(&s, -1, true, -1, true, false, 505000), ==, 0);
	g_assert_cmpuint(cardea_sim_selector_process(&s, NULL, NULL, 505000), ==, 0);
}

/* Every 10 ms a frame on each substream in `mask` (bit i: substream i),
 * none of them keyframes; returns the OR of the results for `sub`. */
static unsigned run(cardea_sim_selector *s, unsigned mask, int64_t from, int64_t to, int sub) {
	unsigned acc = 0;
	for (int64_t t = from; t < to; t += 10000)
		for (int i = 0; i < 3; i++)
			if (mask & (1u << i)) {
				unsigned r = feed(s, i, false, -1, true, false, t);
				if (i == sub)
					acc |= r;
			}
	return acc;
}

static void test_selector_fallback(void) {
	cardea_sim_selector s;
	cardea_sim_selector_init(&s, 3);
	g_assert_cmpuint(feed(&s, 2, true, -1, true, false, 1000), ==, CHANGED | RELAY);
	g_assert_cmpuint(run(&s, 7, 10000, 100001, 2) & ~(unsigned)RELAY, ==, 0);
	/* Substream 2 stops after t = 100 ms. 240 ms later it still counts. */
	g_assert_cmpuint(run(&s, 3, 110000, 340001, 1), ==, 0);
	g_assert_cmpint(s.substream, ==, 2);
	/* At 250 ms it is stopped: aim at 1, ask for its keyframe, switch there. */
	g_assert_cmpuint(feed(&s, 0, false, -1, true, false, 350000), ==, KEY);
	g_assert_cmpuint(feed(&s, 1, false, -1, true, false, 350000), ==, 0);
	g_assert_cmpuint(feed(&s, 1, true, -1, true, false, 360000), ==, CHANGED | RELAY);
	g_assert_cmpint(s.substream, ==, 1);
	/* Substream 1 stops too: down to 0. */
	g_assert_cmpuint(run(&s, 1, 370000, 900001, 0) & KEY, ==, KEY);
	g_assert_cmpint(s.substream, ==, 1);
	g_assert_cmpuint(feed(&s, 0, true, -1, true, false, 910000), ==, CHANGED | RELAY);
	/* 2 is back: up again at its keyframe (asked for, not before). */
	g_assert_cmpuint(feed(&s, 2, false, -1, true, false, 1500000), ==, KEY);
	g_assert_cmpuint(feed(&s, 0, false, -1, true, false, 1500000), ==, RELAY);
	g_assert_cmpuint(feed(&s, 2, true, -1, true, false, 1510000), ==, CHANGED | RELAY);
	g_assert_cmpint(s.substream, ==, 2);

	/* A shorter fallback acts sooner. */
	cardea_sim_selector_set_fallback(&s, 50000);
	g_assert_cmpint(s.fallback_us, ==, 50000);
	run(&s, 3, 1520000, 1570001, 0);
	g_assert_cmpuint(feed(&s, 1, true, -1, true, false, 1570000), ==, CHANGED | RELAY);
	cardea_sim_selector_set_fallback(&s, 0);
	g_assert_cmpint(s.fallback_us, ==, CARDEA_SIM_DEFAULT_FALLBACK_US);

	/* Only lower substreams alive and the target is the lowest: nothing
	 * lower exists, so the lowest alive one above is taken. */
	cardea_sim_selector_init(&s, 3);
	cardea_sim_selector_set_substream(&s, 0);
	g_assert_cmpuint(feed(&s, 1, true, -1, true, false, 1000), ==, KEY);
	g_assert_cmpuint(feed(&s, 1, true, -1, true, false, 300000), ==, CHANGED | RELAY);
	/* A sender with 2 substreams never makes the selector wait for a 3rd. */
	cardea_sim_selector_init(&s, 2);
	g_assert_cmpint(s.substream_target, ==, 1);
	g_assert_cmpuint(feed(&s, 1, true, -1, true, false, 1000), ==, CHANGED | RELAY);
	cardea_sim_selector_set_substream(&s, 2);
	g_assert_cmpuint(feed(&s, 1, false, -1, true, false, 2000), ==, RELAY);
}

static void test_selector_temporal(void) {
	cardea_sim_selector s;
	cardea_sim_selector_init(&s, 1);
	/* The keyframe starts substream 0 with every temporal layer. */
	g_assert_cmpuint(feed(&s, 0, true, 0, true, true, 1000), ==, CHANGED | TCHANGED | RELAY);
	g_assert_cmpint(s.temporal, ==, 2);
	g_assert_cmpuint(feed(&s, 0, false, 2, true, true, 2000), ==, RELAY);
	/* Down to 0: at the next frame start, and higher frames are skipped
	 * (all their packets). */
	cardea_sim_selector_set_temporal(&s, 0);
	g_assert_cmpuint(feed(&s, 0, false, 2, false, true, 2500), ==, RELAY);  /* rest of a frame */
	g_assert_cmpuint(feed(&s, 0, false, 1, true, true, 3000), ==, TCHANGED | SKIPPED);
	g_assert_cmpint(s.temporal, ==, 0);
	g_assert_cmpuint(feed(&s, 0, false, 1, false, true, 3000), ==, SKIPPED);
	g_assert_cmpuint(feed(&s, 0, false, 2, true, false, 4000), ==, SKIPPED);
	g_assert_cmpuint(feed(&s, 0, false, 0, true, false, 5000), ==, RELAY);
	/* Up to 2: only at layer sync frames, one layer at a time. */
	cardea_sim_selector_set_temporal(&s, 2);
	g_assert_cmpuint(feed(&s, 0, false, 2, true, false, 6000), ==, SKIPPED);
	g_assert_cmpuint(feed(&s, 0, false, 1, true, false, 7000), ==, SKIPPED);
	g_assert_cmpuint(feed(&s, 0, false, 1, true, true, 8000), ==, TCHANGED | RELAY);
	g_assert_cmpint(s.temporal, ==, 1);
	g_assert_cmpuint(feed(&s, 0, false, 2, true, false, 9000), ==, SKIPPED);
	g_assert_cmpuint(feed(&s, 0, false, 2, true, true, 10000), ==, TCHANGED | RELAY);
	g_assert_cmpint(s.temporal, ==, 2);
	/* A keyframe jumps straight to the target. */
	cardea_sim_selector_set_temporal(&s, 0);
	g_assert_cmpuint(feed(&s, 0, false, 0, true, false, 11000), ==, TCHANGED | RELAY);
	cardea_sim_selector_set_temporal(&s, 1);
	g_assert_cmpuint(feed(&s, 0, true, 0, true, false, 12000), ==, TCHANGED | RELAY);
	g_assert_cmpint(s.temporal, ==, 1);
	cardea_sim_selector_set_temporal(&s, 9);
	g_assert_cmpint(s.temporal_target, ==, 2);
	/* No temporal info (H.264): nothing is skipped, nothing reported. */
	cardea_sim_selector_init(&s, 2);
	g_assert_cmpuint(feed(&s, 1, true, -1, true, false, 1000), ==, CHANGED | RELAY);
	cardea_sim_selector_set_temporal(&s, 0);
	g_assert_cmpuint(feed(&s, 1, false, -1, true, false, 2000), ==, RELAY);
	g_assert_cmpint(s.temporal, ==, -1);
}

/* Selector and rewriter together over the real VP8 L1T3 frames: with the
 * temporal target at 0, what goes out is the TL0 frames with consecutive
 * seqs (the TL1/TL2 packets are skipped, not lost). */
static void test_selector_rewriter_vp8(void) {
	const char *frames[] = { vp8_key, vp8_key_cont, vp8_t2_sync, vp8_t1_sync, vp8_t2, vp8_t0 };
	cardea_sim_selector s;
	cardea_sim_rewriter r;
	cardea_sim_selector_init(&s, 1);
	cardea_sim_rewriter_init(&r, 90000);
	cardea_sim_selector_set_temporal(&s, 0);
	uint16_t expect = 1000;
	int relayed = 0;
	for (guint i = 0; i < G_N_ELEMENTS(frames); i++) {
		uint8_t buf[128];
		cardea_rtp_packet p = mkpkt(buf, sizeof(buf), (uint16_t)(1000 + i), 3000 * i, 9, frames[i]);
		cardea_video_frame_info fi;
		g_assert_true(cardea_video_parse_rtp(CARDEA_VIDEO_CODEC_VP8, &p, &fi));
		unsigned res = cardea_sim_selector_process(&s, &p, &fi, 1000 + 33000 * i);
		if (res & RELAY) {
			g_assert_true(cardea_sim_rewriter_rewrite(&r, &p, p.substream, CARDEA_VIDEO_CODEC_VP8, 1000 + 33000 * i));
			g_assert_cmpuint(p.seq, ==, expect);
			expect++;
			relayed++;
		} else {
			g_assert_true(res & SKIPPED);
			cardea_sim_rewriter_skip(&r, &p, p.substream);
		}
	}
	g_assert_cmpint(relayed, ==, 3);
}

/* ---- SDP ---- */

static const char offer_rid[] =
	"v=0\r\no=- 2330231893503261586 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
	"a=extmap-allow-mixed\r\na=msid-semantic: WMS f1d8\r\n"
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
	"a=ice-ufrag:njKF\r\na=ice-pwd:GaIQIkwJ2q0KcbV8ZKdWv2hG\r\na=ice-options:trickle\r\n"
	"a=fingerprint:sha-256 58:AA:84:45:1D:CC:58:7D:DB:9B:A6:31:D8:9B:E2:6C:C2:D0:7D:E7:80:8E:57:7D:0A:98:70:50:DB:67:F6:07\r\n"
	"a=setup:actpass\r\na=mid:0\r\n"
	"a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
	"a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
	"a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
	"a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"
	"a=sendrecv\r\na=msid:f1d8 0883\r\na=rtcp-mux\r\na=rtcp-rsize\r\n"
	"a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
	"a=rid:h send\r\na=rid:m send\r\na=rid:l send\r\na=simulcast:send h;m;l\r\n";

static const char offer_sim[] =
	"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\na=sendonly\r\n"
	"a=rtpmap:96 VP8/90000\r\n"
	"a=ssrc-group:SIM 11 22 33\r\na=ssrc:11 cname:x\r\na=ssrc:22 cname:x\r\na=ssrc:33 cname:x\r\n";

/* cardea_sim_forward = parse + selector + rewriter: only the chosen
 * substream goes on, renumbered into one sequence, from its keyframe. */
static void test_forward(void) {
	cardea_sim_selector s;
	cardea_sim_rewriter r;
	cardea_sim_selector_init(&s, 2);
	cardea_sim_selector_set_substream(&s, 1);
	cardea_sim_rewriter_init(&r, 90000);
	/* VP8: descriptor 0x90 (X, S, PID 0) + 0x80 (I) + 7-bit picture id,
	 * then a keyframe (P = 0) or a delta frame (P = 1) header byte. */
	const char *key = "9080" "05" "1002009d012a8002e001", *delta = "9080" "06" "110200";
	uint8_t buf[64];
	cardea_rtp_packet p = mkpkt(buf, sizeof(buf), 100, 9000, 1, delta);
	p.substream = 1;
	unsigned out = cardea_sim_forward(&s, &r, CARDEA_VIDEO_CODEC_VP8, &p, 1000);
	g_assert_false(out & CARDEA_SIM_RELAY);            /* no keyframe yet */
	g_assert_true(out & CARDEA_SIM_NEED_KEYFRAME);
	p = mkpkt(buf, sizeof(buf), 101, 12000, 1, key);
	p.substream = 1;
	out = cardea_sim_forward(&s, &r, CARDEA_VIDEO_CODEC_VP8, &p, 2000);
	g_assert_true(out & CARDEA_SIM_RELAY);
	g_assert_true(out & CARDEA_SIM_SUBSTREAM_CHANGED);
	uint16_t first = p.seq;
	p = mkpkt(buf, sizeof(buf), 7, 500, 2, key);        /* the other substream */
	p.substream = 0;
	g_assert_false(cardea_sim_forward(&s, &r, CARDEA_VIDEO_CODEC_VP8, &p, 3000) & CARDEA_SIM_RELAY);
	p = mkpkt(buf, sizeof(buf), 102, 15000, 1, delta);
	p.substream = 1;
	g_assert_true(cardea_sim_forward(&s, &r, CARDEA_VIDEO_CODEC_VP8, &p, 4000) & CARDEA_SIM_RELAY);
	g_assert_cmpuint(p.seq, ==, (uint16_t)(first + 1));
	g_assert_cmpuint(cardea_sim_forward(NULL, &r, CARDEA_VIDEO_CODEC_VP8, &p, 5000), ==, 0);
}

static void test_sdp_answer(void) {
	cardea_sdp *offer = cardea_sdp_parse(offer_rid, strlen(offer_rid), NULL, NULL);
	g_assert_nonnull(offer);
	cardea_sdp *ans = cardea_sdp_new();
	cardea_sdp_mline *m = cardea_sdp_mline_add(ans, CARDEA_SDP_MEDIA_VIDEO, NULL);
	m->mid = cardea_sdp_strdup(ans, "0");
	cardea_sdp_payload_add(ans, m, 96, "VP8", 90000, 0);
	g_assert_cmpint(cardea_sim_sdp_answer(ans, m, offer->mlines[0]), ==, 3);
	/* Twice is harmless. */
	g_assert_cmpint(cardea_sim_sdp_answer(ans, m, offer->mlines[0]), ==, 3);
	g_assert_cmpuint(m->n_rids, ==, 3);
	char *text = cardea_sdp_write(ans);
	g_assert_nonnull(strstr(text, "a=rid:h recv\r\na=rid:m recv\r\na=rid:l recv\r\n"));
	g_assert_nonnull(strstr(text, "a=simulcast:recv h;m;l\r\n"));
	g_assert_nonnull(strstr(text, "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"));
	g_assert_nonnull(strstr(text, "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"));
	/* What we wrote parses back as simulcast recv. */
	cardea_sdp *back = cardea_sdp_parse(text, strlen(text), NULL, NULL);
	g_assert_nonnull(back);
	g_assert_true(back->mlines[0]->simulcast.present);
	g_assert_cmpuint(back->mlines[0]->simulcast.n_recv, ==, 3);
	g_assert_cmpuint(back->mlines[0]->n_rids, ==, 3);
	g_assert_cmpint(back->mlines[0]->rids[0].direction, ==, CARDEA_SDP_RID_RECV);
	cardea_sdp_free(back);
	g_free(text);
	cardea_sdp_free(ans);
	cardea_sdp_free(offer);

	/* Without the rid extension the rids cannot be told apart: declined. */
	char *norid = g_strdup(offer_rid);
	char *ext = strstr(norid, "a=extmap:10 ");
	memcpy(ext, "a=extmap:12 urn:x", strlen("a=extmap:12 urn:x"));
	offer = cardea_sdp_parse(norid, strlen(norid), NULL, NULL);
	g_assert_nonnull(offer);
	ans = cardea_sdp_new();
	m = cardea_sdp_mline_add(ans, CARDEA_SDP_MEDIA_VIDEO, NULL);
	g_assert_cmpint(cardea_sim_sdp_answer(ans, m, offer->mlines[0]), ==, 1);
	g_assert_false(m->simulcast.present);
	g_assert_cmpuint(m->n_rids, ==, 0);
	cardea_sdp_free(ans);
	cardea_sdp_free(offer);
	g_free(norid);

	/* SSRC simulcast: three substreams, nothing to add. */
	offer = cardea_sdp_parse(offer_sim, strlen(offer_sim), NULL, NULL);
	g_assert_nonnull(offer);
	ans = cardea_sdp_new();
	m = cardea_sdp_mline_add(ans, CARDEA_SDP_MEDIA_VIDEO, NULL);
	g_assert_cmpint(cardea_sim_sdp_answer(ans, m, offer->mlines[0]), ==, 3);
	g_assert_false(m->simulcast.present);
	g_assert_cmpuint(m->n_extmaps, ==, 0);
	g_assert_cmpint(cardea_sim_sdp_answer(NULL, m, offer->mlines[0]), ==, 1);
	cardea_sdp_free(ans);
	cardea_sdp_free(offer);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/simulcast/codec/names", test_codec_names);
	g_test_add_func("/simulcast/keyframe/vp8", test_keyframe_vp8);
	g_test_add_func("/simulcast/keyframe/vp9", test_keyframe_vp9);
	g_test_add_func("/simulcast/keyframe/h264", test_keyframe_h264);
	g_test_add_func("/simulcast/keyframe/av1", test_keyframe_av1);
	g_test_add_func("/simulcast/keyframe/rtp-padding", test_parse_rtp);
	g_test_add_func("/simulcast/vp8/descriptor", test_vp8_descriptor);
	g_test_add_func("/simulcast/rewrite/seq-ts", test_rewrite_seq_ts);
	g_test_add_func("/simulcast/rewrite/wraparound", test_rewrite_wraparound);
	g_test_add_func("/simulcast/rewrite/skip", test_rewrite_skip);
	g_test_add_func("/simulcast/rewrite/vp8", test_rewrite_vp8);
	g_test_add_func("/simulcast/rewrite/copy", test_packet_copy);
	g_test_add_func("/simulcast/selector/keyframes-only", test_selector_keyframes_only);
	g_test_add_func("/simulcast/selector/fallback", test_selector_fallback);
	g_test_add_func("/simulcast/selector/temporal", test_selector_temporal);
	g_test_add_func("/simulcast/selector/with-rewriter-vp8", test_selector_rewriter_vp8);
	g_test_add_func("/simulcast/forward", test_forward);
	g_test_add_func("/simulcast/sdp/answer", test_sdp_answer);
	return g_test_run();
}
