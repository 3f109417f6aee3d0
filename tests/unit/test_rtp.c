/* Unit tests for core/webrtc/rtp.c: parsing (valid and every broken form),
 * header extensions (one-byte and two-byte, readers, in-place setters, block
 * writer), rewriting, RFC 7983 demux, sequence helpers and RTX.
 *
 * "Chrome" packets below are real: captured from Chromium 120 (headless,
 * fake devices) sending to an aiortc peer on loopback, after SRTP unprotect.
 * The "aiortc" packet was serialized by aiortc 1.4's RtpPacket, an
 * independent encoder, to check our writer byte for byte.
 */
#include <string.h>

#include <glib.h>

#include "webrtc/rtp.h"

/* Hex (whitespace ignored) to bytes; aborts the test on bad input. */
#include "test-util.h"

/* Chrome, Opus: mid=0 (id 4), audio level V=1 127 (id 1). */
static const char chrome_audio[] =
	"90ef0ef1f427afced04781fdbede0001403010ff780be4c136ecc58d8c49469904c5aaed"
	"92e7634a3a1898ee62cb60ff6c1b2900";

/* Chrome, VP8 seq 0x36b5 (abs-send-time id 2, mid id 4), and one of its RTX
 * copies (PT 97, RTX SSRC, OSN 0x36b5): header bytes, shared payload. */
static const char chrome_vp8_header[] = "90e036b5b79dfb850fd857e4bede000222a227c740310000";
static const char chrome_rtx_header[] = "90e1783bb79dfb8524a09f57bede000222a23faf4031000036b5";
static const char chrome_vp8_payload[] =
	"8080d0f11cdb4c055678d3f8a689053e5efffe00105e3487f6a10bfab014de1ff4e576c1a3b64bcf62f77070a49c7b64"
	"e0af43d06460d5b4ef7162199691b7dc11e0ca5b6ff16056d7c9c9367ce28747f6c79a5525d53b886fb1206c1fa57bac"
	"748dfe622b5f1779e2a218cd0436eb28a8b9b46675fe2d6072fedb501f88b68825aed9d24e32f3ad72e48d81925a0f89"
	"553bed0147af36fcec95d3b4e86e8f94deb67fac4e18d0d9f06a85671a354cd833cda2f34d8ce92716b7d286c1c17b8a"
	"25352a76f3d39cf424bac09defafc6b7453c1e6614a5177f8988c82b81cf600b663819056fd1724ee567b1506837acb2"
	"dbb0dfb5e58cdabdcbc05e1e3a3793cfbe30f60ca49bbf5c864e6d55cd65d39ee63135051a33c1fb0449f2a7765ce62d"
	"64ab636b8572aafe2e01ef13bf1668fa47771bff277fffc35ffe14a7bbfe277c48287db3c51c36e06c23aebc1674f417"
	"76cbbbd56bf2f63498d8ec7ddf6907ffc665c461dd594dda01469a37178d584663f2cd2488ab71d541422025246a9c1b"
	"6516dfb6b6ed43775e2d3911ce80a370bc6753ded433f4ad4f35822959fa79bc4576bacab4f1f422a7004fdab8f08121"
	"cd0d58a846c4924a8251ed24b25dcb9b8f477ac853aa8237ebbdef0eece1b8f6ccd280501f471018a305b174185cd858"
	"64fd7e1d42aa08fbc2d01b3f209b127fbfe247f06986250c2a040dc91ac7e66e8bf2b789e5aabe911f5cd084219a3686"
	"7150910a677a9328eb6ab168a46242a74b2f3e77ddf1668f76d6ef65f23bfffc1affe0726ddfe4efc8c28467bc83eec6"
	"90ff6daf4516015f88631cac6e86f388786c411987fb5ee65ff54ff55f33855ad1c0e1641dc375c01c1598202e0dcf22"
	"a3141ab10602f3999b7db062361e424475b7c8ce3c43ba40deb3be836189c0de5df9e185b99cce51c7a68bf9d6db4a0c"
	"f208296ebe40782234cb2b5cb073cc21b7f3621b63d46b56d7db0ef7854bf58b031753cec7a8d6adafb61def0a97eb16"
	"062ea54c103a37b75a62b77b78118a31f755dac7d6a5a0cbfe48a2e0fff806e8380a0ae0335a8c3d5e880e27c76b8479"
	"0292c70a0d7a9d6fc0aa67e75755fffb4c5f48dab913df8020024401198743656a27b2ffe04824abe774dc69bf00";

/* Chrome RTX padding-only probe: header + ext, no payload, 255 bytes of
 * padding (254 zeros and the count). */
static const char chrome_probe_header[] = "b06178340000000024a09f57bede0002403122a217380000";

/* aiortc: PT 111, M, seq 0x1234, ts 0xdeadbeef, ssrc 0x11223344, extensions
 * mid "0" (4), abs-send-time 0x123456 (2), audio level V 42 (1),
 * transport-cc 0x0102 (3), payload fc ff fe. */
static const char aiortc_audio[] = "90ef1234deadbeef11223344bede000340302212345610aa31010200fcfffe";

static size_t chrome_vp8(uint8_t *out, size_t cap, bool rtx) {
	size_t n = unhex(rtx ? chrome_rtx_header : chrome_vp8_header, out, cap);
	return n + unhex(chrome_vp8_payload, out + n, cap - n);
}

/* ---- Valid packets ---- */

static void test_parse_chrome_audio(void) {
	uint8_t buf[128];
	size_t len = unhex(chrome_audio, buf, sizeof(buf));
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	g_assert_true(info.buf == buf);
	g_assert_cmpuint(info.len, ==, 52);
	g_assert_cmpuint(info.pt, ==, 111);
	g_assert_true(info.marker);
	g_assert_cmpuint(info.seq, ==, 0x0ef1);
	g_assert_cmpuint(info.timestamp, ==, 0xf427afce);
	g_assert_cmpuint(info.ssrc, ==, 0xd04781fd);
	g_assert_cmpuint(info.csrc_count, ==, 0);
	g_assert_true(info.has_ext);
	g_assert_cmphex(info.ext_profile, ==, 0xBEDE);
	g_assert_cmpuint(info.ext_offset, ==, 12);
	g_assert_cmpuint(info.ext_len, ==, 4);
	g_assert_cmpuint(info.header_len, ==, 20);
	g_assert_cmpuint(info.payload_offset, ==, 20);
	g_assert_cmpuint(info.payload_len, ==, 32);
	g_assert_cmpuint(info.padding_len, ==, 0);
	g_assert_cmpuint(info.ext_count, ==, 2);
	g_assert_false(info.ext_overflow);

	char mid[8];
	g_assert_cmpint(cardea_rtp_ext_get_string(&info, 4, mid, sizeof(mid)), ==, CARDEA_RTP_OK);
	g_assert_cmpstr(mid, ==, "0");
	bool voice = false;
	uint8_t level = 0;
	g_assert_cmpint(cardea_rtp_ext_get_audio_level(&info, 1, &voice, &level), ==, CARDEA_RTP_OK);
	g_assert_true(voice);
	g_assert_cmpuint(level, ==, 127);
	g_assert_cmpint(cardea_rtp_ext_get_abs_send_time(&info, 2, NULL), ==, CARDEA_RTP_ERR_NOT_FOUND);
	/* mid is one byte: asking for it as a 2-byte transport seq is a size error. */
	g_assert_cmpint(cardea_rtp_ext_get_transport_seq(&info, 4, NULL), ==, CARDEA_RTP_ERR_EXT_SIZE);
	const uint8_t *data;
	uint8_t dlen;
	g_assert_cmpint(cardea_rtp_ext_find(&info, 0, &data, &dlen), ==, CARDEA_RTP_ERR_ARGS);
	g_assert_cmpint(cardea_rtp_ext_find(&info, 1, &data, &dlen), ==, CARDEA_RTP_OK);
	g_assert_true(data == buf + 19);
	g_assert_cmpuint(dlen, ==, 1);
	g_assert_true(cardea_packet_is_rtp(buf, len));
	g_assert_false(cardea_packet_is_rtcp(buf, len));

	/* The packed header view agrees with the parser. */
	G_STATIC_ASSERT(sizeof(cardea_rtp_header) == CARDEA_RTP_HEADER_SIZE);
	const cardea_rtp_header *h = (const cardea_rtp_header *)(buf + 0);
	g_assert_cmpuint(cardea_rtp_header_version(h), ==, 2);
	g_assert_cmpuint(cardea_rtp_header_pt(h), ==, 111);
	g_assert_true(cardea_rtp_header_marker(h));
	g_assert_cmpuint(cardea_rtp_header_seq(h), ==, info.seq);
	g_assert_cmpuint(cardea_rtp_header_timestamp(h), ==, info.timestamp);
	g_assert_cmpuint(cardea_rtp_header_ssrc(h), ==, info.ssrc);
	/* ... also at an odd address (packed: no alignment assumed). */
	uint8_t odd[64];
	memcpy(odd + 1, buf, 12);
	h = (const cardea_rtp_header *)(odd + 1);
	g_assert_cmpuint(cardea_rtp_header_ssrc(h), ==, 0xd04781fd);
}

static void test_parse_chrome_video(void) {
	uint8_t buf[1024];
	size_t len = chrome_vp8(buf, sizeof(buf), false);
	cardea_rtp_info info;
	g_assert_cmpuint(len, ==, 838);
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.pt, ==, 96);
	g_assert_true(info.marker);
	g_assert_cmpuint(info.seq, ==, 0x36b5);
	g_assert_cmpuint(info.ssrc, ==, 0x0fd857e4);
	g_assert_cmpuint(info.header_len, ==, 24);
	g_assert_cmpuint(info.payload_len, ==, 814);
	uint32_t ast = 0;
	g_assert_cmpint(cardea_rtp_ext_get_abs_send_time(&info, 2, &ast), ==, CARDEA_RTP_OK);
	g_assert_cmphex(ast, ==, 0xa227c7);
	char mid[8];
	g_assert_cmpint(cardea_rtp_ext_get_string(&info, 4, mid, sizeof(mid)), ==, CARDEA_RTP_OK);
	g_assert_cmpstr(mid, ==, "1");
	/* "1" plus NUL does not fit in 1 byte. */
	g_assert_cmpint(cardea_rtp_ext_get_string(&info, 4, mid, 1), ==, CARDEA_RTP_ERR_NO_SPACE);
}

static void test_parse_chrome_probe(void) {
	uint8_t buf[300];
	size_t len = unhex(chrome_probe_header, buf, sizeof(buf));
	memset(buf + len, 0, 254);
	len += 254;
	buf[len++] = 255;
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.len, ==, 279);
	g_assert_cmpuint(info.pt, ==, 97);
	g_assert_false(info.marker);
	g_assert_cmpuint(info.padding_len, ==, 255);
	g_assert_cmpuint(info.payload_len, ==, 0);
	g_assert_cmpuint(info.payload_offset, ==, 24);
	g_assert_cmpuint(info.ext_count, ==, 2);
	uint32_t ast = 0;
	g_assert_cmpint(cardea_rtp_ext_get_abs_send_time(&info, 2, &ast), ==, CARDEA_RTP_OK);
	g_assert_cmphex(ast, ==, 0xa21738);
	/* Nothing to unwrap: a probe carries no OSN. */
	size_t nl = 0;
	g_assert_cmpint(cardea_rtx_unwrap(buf, &info, 96, 1, &nl), ==, CARDEA_RTP_ERR_RTX_EMPTY);
}

static void test_parse_aiortc(void) {
	uint8_t buf[64];
	size_t len = unhex(aiortc_audio, buf, sizeof(buf));
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.ext_count, ==, 4);
	g_assert_cmpuint(info.payload_len, ==, 3);
	char mid[4];
	uint32_t ast;
	uint16_t tseq;
	bool voice;
	uint8_t level;
	g_assert_cmpint(cardea_rtp_ext_get_string(&info, 4, mid, sizeof(mid)), ==, CARDEA_RTP_OK);
	g_assert_cmpstr(mid, ==, "0");
	g_assert_cmpint(cardea_rtp_ext_get_abs_send_time(&info, 2, &ast), ==, CARDEA_RTP_OK);
	g_assert_cmphex(ast, ==, 0x123456);
	g_assert_cmpint(cardea_rtp_ext_get_transport_seq(&info, 3, &tseq), ==, CARDEA_RTP_OK);
	g_assert_cmphex(tseq, ==, 0x0102);
	g_assert_cmpint(cardea_rtp_ext_get_audio_level(&info, 1, &voice, &level), ==, CARDEA_RTP_OK);
	g_assert_true(voice);
	g_assert_cmpuint(level, ==, 42);

	/* Our writer, same elements in the same order, over a copy stripped of
	 * its block, must give aiortc's bytes exactly. */
	uint8_t block[32], out[64], stripped[64];
	cardea_rtp_ext_writer w;
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), false);
	g_assert_cmpint(cardea_rtp_ext_writer_add_string(&w, 4, "0"), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_add_abs_send_time(&w, 2, 0x123456), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_add_audio_level(&w, 1, true, 42), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_add_transport_seq(&w, 3, 0x0102), ==, CARDEA_RTP_OK);
	int blen = cardea_rtp_ext_writer_finish(&w);
	g_assert_cmpint(blen, ==, 16);
	int slen = cardea_rtp_rewrite(&info, NULL, 0, stripped, sizeof(stripped));
	g_assert_cmpint(slen, ==, 15);
	g_assert_cmphex(stripped[0], ==, 0x80);
	cardea_rtp_info sinfo;
	g_assert_cmpint(cardea_rtp_parse(stripped, (size_t)slen, &sinfo), ==, CARDEA_RTP_OK);
	g_assert_false(sinfo.has_ext);
	int olen = cardea_rtp_rewrite(&sinfo, block, (size_t)blen, out, sizeof(out));
	g_assert_cmpint(olen, ==, (int)len);
	g_assert_cmpmem(out, (size_t)olen, buf, len);
}

/* Two-byte header (RFC 8285 4.3): padding bytes between elements, a zero
 * length element, a 20-byte element and an id above 14. */
static void test_parse_two_byte(void) {
	uint8_t buf[128];
	size_t len = unhex(
		"9060 0001 00000002 00000003"
		"1000 0009"                                  /* 9 words = 36 bytes */
		"0103 6d6964"                                /* id 1 "mid" */
		"00 00"                                      /* padding bytes */
		"0f00"                                       /* id 15, empty */
		"c814 3031323334353637383930313233343536373839"  /* id 200, 20 bytes */
		"0201 5a"                                    /* id 2 'Z' */
		"00 00"                                      /* pad to 36 */
		"aabbccdd", buf, sizeof(buf));
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmphex(info.ext_profile, ==, 0x1000);
	g_assert_cmpuint(info.ext_len, ==, 36);
	g_assert_cmpuint(info.ext_count, ==, 4);
	g_assert_cmpuint(info.payload_len, ==, 4);
	char s[32];
	g_assert_cmpint(cardea_rtp_ext_get_string(&info, 1, s, sizeof(s)), ==, CARDEA_RTP_OK);
	g_assert_cmpstr(s, ==, "mid");
	g_assert_cmpint(cardea_rtp_ext_get_string(&info, 200, s, sizeof(s)), ==, CARDEA_RTP_OK);
	g_assert_cmpstr(s, ==, "01234567890123456789");
	const uint8_t *d;
	uint8_t dl = 9;
	g_assert_cmpint(cardea_rtp_ext_find(&info, 15, &d, &dl), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(dl, ==, 0);
	g_assert_cmpint(cardea_rtp_ext_get_string(&info, 2, s, sizeof(s)), ==, CARDEA_RTP_OK);
	g_assert_cmpstr(s, ==, "Z");
	/* appbits in the low nibble are still the two-byte form. */
	buf[13] = 0x07;
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.ext_count, ==, 4);

	/* Writer: the same layout minus the padding bytes. */
	uint8_t block[64];
	cardea_rtp_ext_writer w;
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), true);
	g_assert_cmpint(cardea_rtp_ext_writer_add_string(&w, 1, "mid"), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_add(&w, 15, NULL, 0), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_add_string(&w, 200, "01234567890123456789"), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_finish(&w), ==, 4 + 32);
	uint8_t expect[36];
	unhex("10000008 01036d6964 0f00 c8143031323334353637383930313233343536373839 000000", expect, sizeof(expect));
	g_assert_cmpmem(block, 36, expect, 36);
}

/* Opaque (non RFC 8285) profile: kept, not indexed. */
static void test_parse_opaque_and_csrc(void) {
	uint8_t buf[64];
	size_t len = unhex("92080007 00000010 00000020 00000001 00000002"
		"abcd0001 ffffffff" "0102 0304 0000 0003", buf, sizeof(buf));
	buf[0] |= 0x30;  /* X and P */
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.csrc_count, ==, 2);
	g_assert_cmphex(info.ext_profile, ==, 0xabcd);
	g_assert_cmpuint(info.ext_count, ==, 0);
	g_assert_cmpuint(info.header_len, ==, 12 + 8 + 8);
	g_assert_cmpuint(info.padding_len, ==, 3);
	g_assert_cmpuint(info.payload_len, ==, 5);
	const uint8_t *d;
	uint8_t dl;
	g_assert_cmpint(cardea_rtp_ext_find(&info, 1, &d, &dl), ==, CARDEA_RTP_ERR_NOT_FOUND);
	/* The one-byte form stops at id 15: what follows is not parsed. */
	len = unhex("90000001 00000000 00000000 bede0002 10aa f0 ffffff 00000000 55", buf, sizeof(buf));
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.ext_count, ==, 1);
	g_assert_cmpuint(info.payload_len, ==, 3);
}

/* More than CARDEA_RTP_MAX_EXT_ELEMS elements: the rest is still found. */
static void test_parse_many_elements(void) {
	uint8_t buf[256], block[128];
	cardea_rtp_ext_writer w;
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), true);
	for (unsigned id = 1; id <= 30; id++) {
		uint8_t v = (uint8_t)(id * 3);
		g_assert_cmpint(cardea_rtp_ext_writer_add(&w, (uint8_t)id, &v, 1), ==, CARDEA_RTP_OK);
	}
	int blen = cardea_rtp_ext_writer_finish(&w);
	g_assert_cmpint(blen, ==, 4 + 92);
	uint8_t base[12] = { 0x80, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3 };
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(base, sizeof(base), &info), ==, CARDEA_RTP_OK);
	int len = cardea_rtp_rewrite(&info, block, (size_t)blen, buf, sizeof(buf));
	g_assert_cmpint(len, ==, 12 + blen);
	g_assert_cmpint(cardea_rtp_parse(buf, (size_t)len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.ext_count, ==, CARDEA_RTP_MAX_EXT_ELEMS);
	g_assert_true(info.ext_overflow);
	for (unsigned id = 1; id <= 30; id++) {
		const uint8_t *d;
		uint8_t dl;
		g_assert_cmpint(cardea_rtp_ext_find(&info, (uint8_t)id, &d, &dl), ==, CARDEA_RTP_OK);
		g_assert_cmpuint(dl, ==, 1);
		g_assert_cmpuint(d[0], ==, id * 3);
	}
	const uint8_t *d;
	uint8_t dl;
	g_assert_cmpint(cardea_rtp_ext_find(&info, 31, &d, &dl), ==, CARDEA_RTP_ERR_NOT_FOUND);
}

/* ---- Broken packets ---- */

typedef struct broken_case {
	const char *name;
	const char *hex;
	cardea_rtp_status want;
} broken_case;

static const broken_case broken[] = {
	{ "empty", "", CARDEA_RTP_ERR_TOO_SHORT },
	{ "11 bytes", "8060000100000002000000", CARDEA_RTP_ERR_TOO_SHORT },
	{ "version 0", "0060000100000002 00000003", CARDEA_RTP_ERR_VERSION },
	{ "version 1", "4060000100000002 00000003", CARDEA_RTP_ERR_VERSION },
	{ "version 3", "c060000100000002 00000003", CARDEA_RTP_ERR_VERSION },
	{ "rtcp pt 72 (SR with M)", "80c8000100000002 00000003", CARDEA_RTP_ERR_RTCP_PT },
	{ "rtcp pt 64", "8040000100000002 00000003", CARDEA_RTP_ERR_RTCP_PT },
	{ "cc 1, no csrc", "8160000100000002 00000003", CARDEA_RTP_ERR_CSRC },
	{ "cc 15, 2 csrcs", "8f60000100000002 00000003 00000004 00000005", CARDEA_RTP_ERR_CSRC },
	{ "X, no ext header", "9060000100000002 00000003", CARDEA_RTP_ERR_EXT_HEADER },
	{ "X, 2 of 4 header bytes", "9060000100000002 00000003 bede", CARDEA_RTP_ERR_EXT_HEADER },
	{ "X, cc 1, header cut", "9160000100000002 00000003 00000004 bede00", CARDEA_RTP_ERR_EXT_HEADER },
	{ "ext length 1, no data", "9060000100000002 00000003 bede0001", CARDEA_RTP_ERR_EXT_LENGTH },
	{ "ext length 0xffff", "9060000100000002 00000003 bedeffff 10aa0000", CARDEA_RTP_ERR_EXT_LENGTH },
	{ "ext length 2, 1 word", "9060000100000002 00000003 bede0002 10aa0000", CARDEA_RTP_ERR_EXT_LENGTH },
	{ "one-byte elem past block", "9060000100000002 00000003 bede0001 13aabbcc dd", CARDEA_RTP_ERR_EXT_ELEMENT },
	{ "one-byte elem len 16 in 1 word", "9060000100000002 00000003 bede0001 1f000000", CARDEA_RTP_ERR_EXT_ELEMENT },
	{ "two-byte len past block", "9060000100000002 00000003 10000001 0105aabb", CARDEA_RTP_ERR_EXT_ELEMENT },
	{ "two-byte id at block end", "9060000100000002 00000003 10000001 0001aa05", CARDEA_RTP_ERR_EXT_ELEMENT },
	{ "padding 0", "a060000100000002 00000003 aabbcc00", CARDEA_RTP_ERR_PADDING_ZERO },
	{ "padding past payload", "a060000100000002 00000003 aabbcc05", CARDEA_RTP_ERR_PADDING_LENGTH },
	{ "padding 255 into header", "a060000100000002 000000ff", CARDEA_RTP_ERR_PADDING_LENGTH },
	{ "padding into ext", "b060000100000002 00000003 bede0001 10aa0006", CARDEA_RTP_ERR_PADDING_LENGTH },
};

static void test_broken(void) {
	for (size_t i = 0; i < G_N_ELEMENTS(broken); i++) {
		uint8_t buf[64];
		size_t len = unhex(broken[i].hex, buf, sizeof(buf));
		cardea_rtp_info info;
		memset(&info, 0x5a, sizeof(info));
		cardea_rtp_status st = cardea_rtp_parse(buf, len, &info);
		if (st != broken[i].want)
			g_error("%s: got %s, want %s", broken[i].name, cardea_rtp_status_name(st),
				cardea_rtp_status_name(broken[i].want));
		/* A failed parse leaves *out untouched. */
		g_assert_cmphex(info.ssrc, ==, 0x5a5a5a5a);
	}
	cardea_rtp_info info;
	uint8_t big[CARDEA_RTP_MAX_PACKET + 1] = { 0x80, 96 };
	g_assert_cmpint(cardea_rtp_parse(big, sizeof(big), &info), ==, CARDEA_RTP_ERR_TOO_LONG);
	g_assert_cmpint(cardea_rtp_parse(big, sizeof(big) - 1, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_parse(NULL, 20, &info), ==, CARDEA_RTP_ERR_ARGS);
	g_assert_cmpint(cardea_rtp_parse(big, 20, NULL), ==, CARDEA_RTP_ERR_ARGS);
	for (int s = 0; s <= CARDEA_RTP_STATUS_COUNT; s++)
		g_assert_nonnull(cardea_rtp_status_name((cardea_rtp_status)s));
	g_assert_cmpstr(cardea_rtp_status_name(CARDEA_RTP_ERR_EXT_LENGTH), ==, "ext-length");
	g_assert_cmpstr(cardea_rtp_status_name(CARDEA_RTP_STATUS_COUNT), ==, "unknown");
}

/* Checks what a successful parse promises: everything inside the packet. */
static void check_info_bounds(const cardea_rtp_info *info, size_t len) {
	g_assert_cmpuint(info->len, ==, len);
	g_assert_cmpuint((size_t)info->payload_offset + info->payload_len + info->padding_len, ==, len);
	g_assert_cmpuint(info->header_len, >=, 12);
	if (info->has_ext)
		g_assert_cmpuint((size_t)info->ext_offset + 4 + info->ext_len, <=, info->header_len);
	for (unsigned i = 0; i < info->ext_count; i++)
		g_assert_cmpuint((size_t)info->ext[i].offset + info->ext[i].len, <=, (size_t)info->ext_offset + 4 + info->ext_len);
}

/* Every prefix of every valid packet: an error or a consistent result.
 * Under ASan/valgrind this also proves no read beyond the prefix. */
static void test_truncation(void) {
	uint8_t full[1024];
	const char *const packets[] = { chrome_audio, aiortc_audio, chrome_probe_header };
	for (size_t k = 0; k < G_N_ELEMENTS(packets) + 1; k++) {
		size_t len = k < G_N_ELEMENTS(packets) ? unhex(packets[k], full, sizeof(full))
			: chrome_vp8(full, sizeof(full), true);
		for (size_t cut = 0; cut <= len; cut++) {
			/* A heap copy of exactly cut bytes, so overreads are caught. */
			uint8_t *p = g_memdup2(full, cut ? cut : 1);
			cardea_rtp_info info;
			if (cardea_rtp_parse(p, cut, &info) == CARDEA_RTP_OK)
				check_info_bounds(&info, cut);
			g_free(p);
		}
	}
}

/* Random bit flips and random headers: never a crash, and any success is
 * consistent. */
static void test_mutations(void) {
	uint8_t orig[1024];
	size_t len = chrome_vp8(orig, sizeof(orig), false);
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)g_test_rand_int_range(1, (gint32)len + 1);
		uint8_t *p = g_memdup2(orig, n);
		int flips = g_test_rand_int_range(1, 6);
		for (int f = 0; f < flips; f++) {
			/* Bias towards the header, where the lengths live. */
			size_t at = (size_t)g_test_rand_int_range(0, (gint32)MIN(n, round % 2 ? 32 : n));
			p[at] ^= (uint8_t)(1u << g_test_rand_int_range(0, 8));
		}
		if (round % 7 == 0)
			p[n - 1] = (uint8_t)g_test_rand_int_range(0, 256);
		cardea_rtp_info info;
		if (cardea_rtp_parse(p, n, &info) == CARDEA_RTP_OK) {
			check_info_bounds(&info, n);
			for (unsigned id = 1; id < 20; id++) {
				char s[300];
				cardea_rtp_ext_get_string(&info, (uint8_t)id, s, sizeof(s));
			}
		}
		g_free(p);
	}
}

/* ---- Rewriting ---- */

static void test_setters(void) {
	uint8_t buf[1024];
	size_t len = chrome_vp8(buf, sizeof(buf), false);
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	cardea_rtp_set_seq(buf, 0xfffe);
	cardea_rtp_set_timestamp(buf, 0x01020304);
	cardea_rtp_set_ssrc(buf, 0xcafebabe);
	cardea_rtp_set_pt(buf, 100);
	cardea_rtp_set_marker(buf, false);
	g_assert_cmpint(cardea_rtp_ext_set_abs_send_time(buf, &info, 2, 0xabcdef), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_set_string(buf, &info, 4, "7"), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_set_string(buf, &info, 4, "77"), ==, CARDEA_RTP_ERR_EXT_SIZE);
	g_assert_cmpint(cardea_rtp_ext_set_string(buf, &info, 4, ""), ==, CARDEA_RTP_ERR_EXT_SIZE);
	g_assert_cmpint(cardea_rtp_ext_set_transport_seq(buf, &info, 3, 1), ==, CARDEA_RTP_ERR_NOT_FOUND);
	g_assert_cmpint(cardea_rtp_ext_set_transport_seq(buf, &info, 2, 1), ==, CARDEA_RTP_ERR_EXT_SIZE);
	uint8_t expect[24];
	unhex("00 64 fffe 01020304 cafebabe bede0002 22abcdef 40370000", expect, sizeof(expect));
	expect[0] = 0x90;
	g_assert_cmpmem(buf, 24, expect, 24);
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.seq, ==, 0xfffe);
	g_assert_cmpuint(info.pt, ==, 100);
	g_assert_false(info.marker);
	cardea_rtp_set_marker(buf, true);
	g_assert_cmphex(buf[1], ==, 0xe4);
	cardea_rtp_set_pt(buf, 0xff);  /* 7 bits only */
	g_assert_cmphex(buf[1], ==, 0xff);

	/* Transport seq in place, on a packet that has one. */
	len = unhex(aiortc_audio, buf, sizeof(buf));
	g_assert_cmpint(cardea_rtp_parse(buf, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_set_transport_seq(buf, &info, 3, 0xbeef), ==, CARDEA_RTP_OK);
	uint16_t ts = 0;
	g_assert_cmpint(cardea_rtp_ext_get_transport_seq(&info, 3, &ts), ==, CARDEA_RTP_OK);
	g_assert_cmphex(ts, ==, 0xbeef);
}

static void test_abs_send_time(void) {
	g_assert_cmphex(cardea_rtp_abs_send_time_from_us(0), ==, 0);
	g_assert_cmphex(cardea_rtp_abs_send_time_from_us(1000000), ==, 0x040000);
	g_assert_cmphex(cardea_rtp_abs_send_time_from_us(500000), ==, 0x020000);
	g_assert_cmphex(cardea_rtp_abs_send_time_from_us(63 * 1000000 + 750000), ==, 0xff0000);
	g_assert_cmphex(cardea_rtp_abs_send_time_from_us(64 * 1000000), ==, 0);
	g_assert_cmphex(cardea_rtp_abs_send_time_from_us(65 * 1000000), ==, 0x040000);
	/* A wall clock in microseconds does not overflow the shift. */
	g_assert_cmphex(cardea_rtp_abs_send_time_from_us(1700000000LL * 1000000 + 250000), ==,
		((1700000000LL % 64) << 18) | 0x010000);
	g_assert_cmphex(cardea_rtp_abs_send_time_from_us(-1000000), ==, 63u << 18);
	/* 1 us is 0.26 units: rounds to 0; 2 us to 1. */
	g_assert_cmphex(cardea_rtp_abs_send_time_from_us(1), ==, 0);
	g_assert_cmphex(cardea_rtp_abs_send_time_from_us(2), ==, 1);
}

static void test_ext_writer(void) {
	uint8_t block[64];
	cardea_rtp_ext_writer w;
	/* Empty: no block. */
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), false);
	g_assert_cmpint(cardea_rtp_ext_writer_finish(&w), ==, 0);
	/* One-byte limits. */
	uint8_t data[17] = { 0 };
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), false);
	g_assert_cmpint(cardea_rtp_ext_writer_add(&w, 15, data, 1), ==, CARDEA_RTP_ERR_ARGS);
	g_assert_cmpint(cardea_rtp_ext_writer_finish(&w), ==, -1);
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), false);
	g_assert_cmpint(cardea_rtp_ext_writer_add(&w, 1, data, 17), ==, CARDEA_RTP_ERR_ARGS);
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), false);
	g_assert_cmpint(cardea_rtp_ext_writer_add(&w, 1, data, 0), ==, CARDEA_RTP_ERR_ARGS);
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), false);
	g_assert_cmpint(cardea_rtp_ext_writer_add(&w, 0, data, 1), ==, CARDEA_RTP_ERR_ARGS);
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), false);
	g_assert_cmpint(cardea_rtp_ext_writer_add(&w, 14, data, 16), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_finish(&w), ==, 4 + 20);
	/* Two-byte: id 0 is not an id. */
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), true);
	g_assert_cmpint(cardea_rtp_ext_writer_add(&w, 0, data, 1), ==, CARDEA_RTP_ERR_ARGS);
	/* No space: exact fit works, one byte more fails, and the padding must fit. */
	cardea_rtp_ext_writer_init(&w, block, 8, false);
	g_assert_cmpint(cardea_rtp_ext_writer_add_transport_seq(&w, 3, 7), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_finish(&w), ==, 8);
	cardea_rtp_ext_writer_init(&w, block, 7, false);
	g_assert_cmpint(cardea_rtp_ext_writer_add_transport_seq(&w, 3, 7), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_finish(&w), ==, -1);
	cardea_rtp_ext_writer_init(&w, block, 6, false);
	g_assert_cmpint(cardea_rtp_ext_writer_add_abs_send_time(&w, 2, 1), ==, CARDEA_RTP_ERR_NO_SPACE);
	g_assert_cmpint(cardea_rtp_ext_writer_add_transport_seq(&w, 3, 7), ==, CARDEA_RTP_ERR_NO_SPACE);
	cardea_rtp_ext_writer_init(&w, NULL, 0, false);
	g_assert_cmpint(cardea_rtp_ext_writer_finish(&w), ==, -1);

	/* Every typed writer, read back through the parser. */
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), false);
	g_assert_cmpint(cardea_rtp_ext_writer_add_string(&w, 1, "a"), ==, CARDEA_RTP_OK);        /* mid */
	g_assert_cmpint(cardea_rtp_ext_writer_add_string(&w, 10, "hi"), ==, CARDEA_RTP_OK);      /* rid */
	g_assert_cmpint(cardea_rtp_ext_writer_add_string(&w, 11, "lo"), ==, CARDEA_RTP_OK);      /* repaired-rid */
	g_assert_cmpint(cardea_rtp_ext_writer_add_abs_send_time(&w, 2, 0xfedcba98), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_add_transport_seq(&w, 3, 0xffff), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_add_audio_level(&w, 5, false, 200), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_add_video_orientation(&w, 13, true, false, 270), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_writer_add_video_orientation(&w, 12, false, true, 45), ==, CARDEA_RTP_ERR_ARGS);
	g_assert_cmpint(cardea_rtp_ext_writer_finish(&w), ==, -1);  /* failed add poisons the block */
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), false);
	cardea_rtp_ext_writer_add_string(&w, 1, "a");
	cardea_rtp_ext_writer_add_string(&w, 10, "hi");
	cardea_rtp_ext_writer_add_string(&w, 11, "lo");
	cardea_rtp_ext_writer_add_abs_send_time(&w, 2, 0xfedcba98);
	cardea_rtp_ext_writer_add_transport_seq(&w, 3, 0xffff);
	cardea_rtp_ext_writer_add_audio_level(&w, 5, false, 200);
	cardea_rtp_ext_writer_add_video_orientation(&w, 13, true, false, 270);
	int blen = cardea_rtp_ext_writer_finish(&w);
	/* 2+3+3+4+3+2+2 = 19 bytes of elements -> 20, plus the header. */
	g_assert_cmpint(blen, ==, 24);
	uint8_t expect[24];
	unhex("bede0005 1061 a16869 b16c6f 22dcba98 31ffff 507f d00b 00", expect, sizeof(expect));
	g_assert_cmpmem(block, 24, expect, 24);

	uint8_t pkt[64] = { 0x80, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xaa };
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(pkt, 13, &info), ==, CARDEA_RTP_OK);
	uint8_t out[64];
	int len = cardea_rtp_rewrite(&info, block, (size_t)blen, out, sizeof(out));
	g_assert_cmpint(len, ==, 12 + 24 + 1);
	g_assert_cmpint(cardea_rtp_parse(out, (size_t)len, &info), ==, CARDEA_RTP_OK);
	char s[8];
	uint32_t ast;
	uint16_t tseq;
	bool voice, camera, flip;
	uint8_t level;
	uint16_t rotation;
	g_assert_cmpint(cardea_rtp_ext_get_string(&info, 1, s, sizeof(s)), ==, CARDEA_RTP_OK);
	g_assert_cmpstr(s, ==, "a");
	g_assert_cmpint(cardea_rtp_ext_get_string(&info, 10, s, sizeof(s)), ==, CARDEA_RTP_OK);
	g_assert_cmpstr(s, ==, "hi");
	g_assert_cmpint(cardea_rtp_ext_get_string(&info, 11, s, sizeof(s)), ==, CARDEA_RTP_OK);
	g_assert_cmpstr(s, ==, "lo");
	g_assert_cmpint(cardea_rtp_ext_get_abs_send_time(&info, 2, &ast), ==, CARDEA_RTP_OK);
	g_assert_cmphex(ast, ==, 0xdcba98);
	g_assert_cmpint(cardea_rtp_ext_get_transport_seq(&info, 3, &tseq), ==, CARDEA_RTP_OK);
	g_assert_cmphex(tseq, ==, 0xffff);
	g_assert_cmpint(cardea_rtp_ext_get_audio_level(&info, 5, &voice, &level), ==, CARDEA_RTP_OK);
	g_assert_false(voice);
	g_assert_cmpuint(level, ==, 127);
	g_assert_cmpint(cardea_rtp_ext_get_video_orientation(&info, 13, &camera, &flip, &rotation), ==, CARDEA_RTP_OK);
	g_assert_true(camera);
	g_assert_false(flip);
	g_assert_cmpuint(rotation, ==, 270);
	g_assert_cmpuint(info.payload_len, ==, 1);
	g_assert_cmphex(out[len - 1], ==, 0xaa);
}

/* rewrite keeps CSRCs and padding, swaps or drops the block, checks room,
 * and works in place. */
static void test_rewrite(void) {
	uint8_t pkt[64];
	size_t len = unhex("b1600001 00000002 00000003 00000004 bede0001 10aa0000 cafe 0002", pkt, sizeof(pkt));
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(pkt, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.padding_len, ==, 2);
	uint8_t block[16], out[64];
	cardea_rtp_ext_writer w;
	cardea_rtp_ext_writer_init(&w, block, sizeof(block), false);
	cardea_rtp_ext_writer_add_string(&w, 4, "abcdef");
	int blen = cardea_rtp_ext_writer_finish(&w);
	g_assert_cmpint(blen, ==, 12);
	int n = cardea_rtp_rewrite(&info, block, (size_t)blen, out, sizeof(out));
	g_assert_cmpint(n, ==, 16 + 12 + 4);
	uint8_t expect[32];
	unhex("b1600001 00000002 00000003 00000004 bede0002 45616263 64656600 cafe 0002", expect, sizeof(expect));
	g_assert_cmpmem(out, (size_t)n, expect, 32);
	/* Too small by one. */
	g_assert_cmpint(cardea_rtp_rewrite(&info, block, (size_t)blen, out, 31), ==, -1);
	/* A block that is not whole words is refused. */
	g_assert_cmpint(cardea_rtp_rewrite(&info, block, 6, out, sizeof(out)), ==, -1);
	/* In place: grow, then shrink back to no block. */
	cardea_rtp_info i2;
	memcpy(out, pkt, len);
	g_assert_cmpint(cardea_rtp_parse(out, len, &i2), ==, CARDEA_RTP_OK);
	n = cardea_rtp_rewrite(&i2, block, (size_t)blen, out, sizeof(out));
	g_assert_cmpmem(out, (size_t)n, expect, 32);
	g_assert_cmpint(cardea_rtp_parse(out, (size_t)n, &i2), ==, CARDEA_RTP_OK);
	n = cardea_rtp_rewrite(&i2, NULL, 0, out, sizeof(out));
	g_assert_cmpint(n, ==, 16 + 4);
	unhex("a1600001 00000002 00000003 00000004 cafe 0002", expect, sizeof(expect));
	g_assert_cmpmem(out, (size_t)n, expect, 20);
}

/* ---- Demux ---- */

static void test_demux(void) {
	uint8_t p[16] = { 0 };
	g_assert_cmpint(cardea_packet_classify(p, 0), ==, CARDEA_PACKET_UNKNOWN);
	g_assert_cmpint(cardea_packet_classify(NULL, 4), ==, CARDEA_PACKET_UNKNOWN);
	p[0] = 0x00;
	g_assert_cmpint(cardea_packet_classify(p, 16), ==, CARDEA_PACKET_STUN);
	p[0] = 0x01;
	g_assert_cmpint(cardea_packet_classify(p, 16), ==, CARDEA_PACKET_STUN);
	p[0] = 3;
	g_assert_cmpint(cardea_packet_classify(p, 16), ==, CARDEA_PACKET_STUN);
	p[0] = 4;
	g_assert_cmpint(cardea_packet_classify(p, 16), ==, CARDEA_PACKET_UNKNOWN);
	p[0] = 20;
	g_assert_cmpint(cardea_packet_classify(p, 16), ==, CARDEA_PACKET_DTLS);
	p[0] = 22;
	g_assert_cmpint(cardea_packet_classify(p, 16), ==, CARDEA_PACKET_DTLS);
	p[0] = 63;
	g_assert_cmpint(cardea_packet_classify(p, 16), ==, CARDEA_PACKET_DTLS);
	p[0] = 64;  /* ZRTP / TURN channel range */
	g_assert_cmpint(cardea_packet_classify(p, 16), ==, CARDEA_PACKET_UNKNOWN);
	p[0] = 0x80;
	for (unsigned b = 0; b < 256; b++) {
		p[1] = (uint8_t)b;
		bool rtcp = b >= 192 && b <= 223;
		g_assert_cmpint(cardea_packet_classify(p, 16), ==, rtcp ? CARDEA_PACKET_RTCP : CARDEA_PACKET_RTP);
		g_assert_true(cardea_packet_is_rtcp(p, 16) == rtcp);
		g_assert_true(cardea_packet_is_rtp(p, 16) == !rtcp);
	}
	p[1] = 200;
	g_assert_false(cardea_packet_is_rtcp(p, 3));
	g_assert_cmpint(cardea_packet_classify(p, 1), ==, CARDEA_PACKET_UNKNOWN);
	p[1] = 96;
	g_assert_false(cardea_packet_is_rtp(p, 11));
	p[0] = 0xc0;  /* 192: outside 128..191 */
	g_assert_cmpint(cardea_packet_classify(p, 16), ==, CARDEA_PACKET_UNKNOWN);
}

/* ---- Sequence numbers ---- */

static void test_seq(void) {
	g_assert_cmpint(cardea_seq_diff(1, 0), ==, 1);
	g_assert_cmpint(cardea_seq_diff(0, 65535), ==, 1);
	g_assert_cmpint(cardea_seq_diff(65535, 0), ==, -1);
	g_assert_cmpint(cardea_seq_diff(5, 65530), ==, 11);
	g_assert_cmpint(cardea_seq_diff(0x8000, 0), ==, -32768);
	g_assert_true(cardea_seq_newer(0, 65535));
	g_assert_true(cardea_seq_newer(100, 99));
	g_assert_false(cardea_seq_newer(99, 100));
	g_assert_false(cardea_seq_newer(7, 7));
	g_assert_false(cardea_seq_newer(65535, 0));
	g_assert_true(cardea_seq_newer(0x7fff, 0));
	g_assert_false(cardea_seq_newer(0x8000, 0));

	cardea_seq_unwrapper u = { 0 };
	g_assert_cmpint(cardea_seq_unwrap(&u, 65533), ==, 65533);
	g_assert_cmpint(cardea_seq_unwrap(&u, 65535), ==, 65535);
	g_assert_cmpint(cardea_seq_unwrap(&u, 1), ==, 65537);
	g_assert_cmpint(cardea_seq_unwrap(&u, 0), ==, 65536);       /* late, after the wrap */
	g_assert_cmpint(cardea_seq_unwrap(&u, 65534), ==, 65534);   /* late, before the wrap */
	g_assert_cmpint(cardea_seq_unwrap(&u, 2), ==, 65538);
	/* Many wraps forward in steps. */
	int64_t v = 0;
	for (int i = 0; i < 5 * 65536; i += 1000)
		v = cardea_seq_unwrap(&u, (uint16_t)(65538 + i + 1000));
	g_assert_cmpint(v, ==, 65538 + 327000 + 1000);  /* last i is 327000 */
	/* Backwards from 0 goes negative instead of wrapping forward. */
	cardea_seq_unwrapper u2 = { 0 };
	g_assert_cmpint(cardea_seq_unwrap(&u2, 0), ==, 0);
	g_assert_cmpint(cardea_seq_unwrap(&u2, 65535), ==, -1);
	g_assert_cmpint(cardea_seq_unwrap(&u2, 1), ==, 1);

	cardea_ts_unwrapper t = { 0 };
	g_assert_cmpint(cardea_ts_unwrap(&t, 0xfffffff0u), ==, 0xfffffff0LL);
	g_assert_cmpint(cardea_ts_unwrap(&t, 0x10), ==, 0x100000010LL);
	g_assert_cmpint(cardea_ts_unwrap(&t, 0xffffff00u), ==, 0xffffff00LL);
	g_assert_cmpint(cardea_ts_unwrap(&t, 0x20), ==, 0x100000020LL);
}

/* ---- RTX ---- */

static void test_rtx_roundtrip(void) {
	/* CSRC, extension and padding: the RTX copy drops only the padding. */
	uint8_t pkt[64];
	size_t len = unhex("b1e01234 00000100 00000abc 00000def bede0001 22010203 c0ffee 000003", pkt, sizeof(pkt));
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(pkt, len, &info), ==, CARDEA_RTP_OK);
	uint8_t rtx[64];
	g_assert_cmpint(cardea_rtx_build(&info, 97, 0x5555, 0xffff, rtx, 24 + 2 + 3 - 1), ==, -1);
	g_assert_cmpint(cardea_rtx_build(&info, 97, 0x5555, 0xffff, pkt, sizeof(pkt)), ==, -1);  /* aliasing */
	int n = cardea_rtx_build(&info, 97, 0x5555, 0xffff, rtx, sizeof(rtx));
	g_assert_cmpint(n, ==, 24 + 2 + 3);
	uint8_t expect[29];
	unhex("91e1ffff 00000100 00005555 00000def bede0001 22010203 1234 c0ffee", expect, sizeof(expect));
	g_assert_cmpmem(rtx, (size_t)n, expect, sizeof(expect));

	cardea_rtp_info ri;
	g_assert_cmpint(cardea_rtp_parse(rtx, (size_t)n, &ri), ==, CARDEA_RTP_OK);
	size_t nl = 0;
	g_assert_cmpint(cardea_rtx_unwrap(rtx, &ri, 96, 0xabc, &nl), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(nl, ==, 27);
	uint8_t back[27];
	unhex("91e01234 00000100 00000abc 00000def bede0001 22010203 c0ffee", back, sizeof(back));
	g_assert_cmpmem(rtx, nl, back, sizeof(back));

	/* Unwrapping an RTX packet that itself has padding keeps it valid. */
	len = unhex("a0610005 00000001 00000002 1234 aabb 000003", pkt, sizeof(pkt));
	g_assert_cmpint(cardea_rtp_parse(pkt, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtx_unwrap(pkt, &info, 96, 9, &nl), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_parse(pkt, nl, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.seq, ==, 0x1234);
	g_assert_cmpuint(info.payload_len, ==, 2);
	g_assert_cmpuint(info.padding_len, ==, 3);
	g_assert_cmphex(pkt[info.payload_offset], ==, 0xaa);
	/* One payload byte is not an OSN. */
	len = unhex("80610005 00000001 00000002 12", pkt, sizeof(pkt));
	g_assert_cmpint(cardea_rtp_parse(pkt, len, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtx_unwrap(pkt, &info, 96, 9, &nl), ==, CARDEA_RTP_ERR_RTX_EMPTY);
}

/* Chrome's own RTX copy of seq 0x36b5 unwraps to the original packet (the
 * abs-send-time differs: it was stamped when resent). */
static void test_rtx_chrome(void) {
	uint8_t rtx[1024], orig[1024];
	size_t rlen = chrome_vp8(rtx, sizeof(rtx), true), olen = chrome_vp8(orig, sizeof(orig), false);
	g_assert_cmpuint(rlen, ==, 840);
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(rtx, rlen, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.pt, ==, 97);
	g_assert_cmpuint(info.ssrc, ==, 0x24a09f57);
	size_t nl = 0;
	g_assert_cmpint(cardea_rtx_unwrap(rtx, &info, 96, 0x0fd857e4, &nl), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(nl, ==, olen);
	g_assert_cmpint(cardea_rtp_parse(rtx, nl, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpint(cardea_rtp_ext_set_abs_send_time(rtx, &info, 2, 0xa227c7), ==, CARDEA_RTP_OK);
	g_assert_cmpmem(rtx, nl, orig, olen);
	/* And our RTX copy of the original equals Chrome's (same RTX seq/AST). */
	g_assert_cmpint(cardea_rtp_parse(orig, olen, &info), ==, CARDEA_RTP_OK);
	uint8_t mine[1024], theirs[1024];
	int n = cardea_rtx_build(&info, 97, 0x24a09f57, 0x783b, mine, sizeof(mine));
	g_assert_cmpint(n, ==, 840);
	chrome_vp8(theirs, sizeof(theirs), true);
	g_assert_cmpint(cardea_rtp_parse(mine, (size_t)n, &info), ==, CARDEA_RTP_OK);
	cardea_rtp_ext_set_abs_send_time(mine, &info, 2, 0xa23faf);
	g_assert_cmpmem(mine, (size_t)n, theirs, 840);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/rtp/parse/chrome-audio", test_parse_chrome_audio);
	g_test_add_func("/rtp/parse/chrome-video", test_parse_chrome_video);
	g_test_add_func("/rtp/parse/chrome-probe", test_parse_chrome_probe);
	g_test_add_func("/rtp/parse/aiortc", test_parse_aiortc);
	g_test_add_func("/rtp/parse/two-byte", test_parse_two_byte);
	g_test_add_func("/rtp/parse/opaque-csrc", test_parse_opaque_and_csrc);
	g_test_add_func("/rtp/parse/many-elements", test_parse_many_elements);
	g_test_add_func("/rtp/broken/each", test_broken);
	g_test_add_func("/rtp/broken/truncation", test_truncation);
	g_test_add_func("/rtp/broken/mutations", test_mutations);
	g_test_add_func("/rtp/rewrite/setters", test_setters);
	g_test_add_func("/rtp/rewrite/abs-send-time", test_abs_send_time);
	g_test_add_func("/rtp/rewrite/ext-writer", test_ext_writer);
	g_test_add_func("/rtp/rewrite/block", test_rewrite);
	g_test_add_func("/rtp/demux", test_demux);
	g_test_add_func("/rtp/seq", test_seq);
	g_test_add_func("/rtp/rtx/roundtrip", test_rtx_roundtrip);
	g_test_add_func("/rtp/rtx/chrome", test_rtx_chrome);
	return g_test_run();
}
