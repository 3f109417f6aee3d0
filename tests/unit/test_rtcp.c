/* Unit tests for core/webrtc/rtcp.c: compound walking and validation,
 * parsers and writers per type (byte-exact), TWCC feedback, the compound
 * builder, NTP helpers and the SR/RR statistics (RFC 3550 A.1/A.3/A.8)
 * against hand-computed values.
 *
 * Reference bytes: the SR+SDES compound is real, captured from Chromium 120
 * (see test_rtp.c); the "aiortc" packets were serialized by aiortc 1.4 (an
 * independent implementation); the two transport-cc packets are the test
 * vectors published with pion/rtcp (transport_layer_cc_test.go).
 */
#include <string.h>

#include <glib.h>

#include "webrtc/rtcp.h"

#include "test-util.h"

/* Chrome: SR (no report blocks) + SDES CNAME "/hKUSbms3zlinNZn". */
static const char chrome_sr_sdes[] =
	"80c80006 0fd857e4 eeaf1528 f168405b b79e9419 00000013 00002362"
	"81ca0006 0fd857e4 0110 2f684b5553626d73337a6c696e4e5a6e 0000";

static const char aiortc_sr[] =
	"81c8000c 11223344 e1b2c3d4 a5b6c7d8 01020304 000003e8 0001e240"
	"55667788 19 fffffd 0001ffff 0000004d c3d4a5b6 00010000";
static const char aiortc_rr[] =
	"82c9000d 11223344"
	"00000001 00 7fffff 00000005 00000000 00000000 00000000"
	"00000002 ff 800000 00000006 00000001 00000002 00000003";
/* lost = 100 101 105 116 117 118 200 */
static const char aiortc_nack[] = "81cd0005 11223344 55667788 00648011 00750001 00c80000";
static const char aiortc_pli[] = "81ce0002 11223344 55667788";
/* 1234567 bit/s -> exp 3, mantissa 154320 (1234560) */
static const char aiortc_remb[] = "8fce0006 11223344 00000000 52454d42 02 0e5ad0 55667788 99aabbcc";
static const char aiortc_bye[] = "82cb0002 11223344 55667788";
static const char aiortc_sdes[] = "81ca0003 11223344 0104 61626364 0000";

/* pion "example6" (Unmarshal): 9 statuses, a 2-bit vector then a run of
 * not-received longer than the count, 5 small + 1 large delta, P-padded. */
static const char pion_twcc_parse[] =
	"afcd0007 9b74f61f 9371dcbc 853c0009 63f916b3 d5520030 9baa6aaa 7b010901";
/* pion "example4" (Marshal): 7 small deltas in one run-length chunk. */
static const char pion_twcc_write[] =
	"afcd0007 fa17fa17 193dd8bb 00040007 10636e01 20074c24 24100c0c 10000003";

/* Parses hex as a compound that must hold exactly one packet. */
static void one_packet(const char *hex, uint8_t *buf, size_t cap, cardea_rtcp_pkt *pkt) {
	size_t len = unhex(hex, buf, cap);
	cardea_rtcp_iter it;
	g_assert_cmpint(cardea_rtcp_iter_init(&it, buf, len), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(it.count, ==, 1);
	g_assert_true(cardea_rtcp_next(&it, pkt));
	g_assert_false(cardea_rtcp_next(&it, pkt));
}

/* ---- Compound walking ---- */

static void test_chrome_compound(void) {
	uint8_t buf[64];
	size_t len = unhex(chrome_sr_sdes, buf, sizeof(buf));
	g_assert_cmpuint(len, ==, 56);
	g_assert_true(cardea_packet_is_rtcp(buf, len));
	cardea_rtcp_iter it;
	cardea_rtcp_pkt pkt;
	g_assert_cmpint(cardea_rtcp_iter_init(&it, buf, len), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(it.count, ==, 2);
	g_assert_true(cardea_rtcp_next(&it, &pkt));
	g_assert_cmpuint(pkt.pt, ==, CARDEA_RTCP_SR);
	g_assert_cmpuint(pkt.len, ==, 28);
	cardea_rtcp_sr sr;
	g_assert_cmpint(cardea_rtcp_parse_sr(&pkt, &sr), ==, CARDEA_RTCP_OK);
	g_assert_cmphex(sr.ssrc, ==, 0x0fd857e4);
	g_assert_cmphex(sr.ntp_sec, ==, 0xeeaf1528);
	g_assert_cmphex(sr.ntp_frac, ==, 0xf168405b);
	g_assert_cmphex(sr.rtp_ts, ==, 0xb79e9419);
	g_assert_cmpuint(sr.packet_count, ==, 0x13);
	g_assert_cmpuint(sr.octet_count, ==, 0x2362);
	g_assert_cmpuint(sr.report_count, ==, 0);
	g_assert_true(cardea_rtcp_next(&it, &pkt));
	g_assert_cmpuint(pkt.pt, ==, CARDEA_RTCP_SDES);
	g_assert_cmpuint(pkt.count, ==, 1);
	g_assert_cmpuint(pkt.body_len, ==, 24);
	g_assert_false(cardea_rtcp_next(&it, &pkt));
	/* Parsers refuse the wrong type. */
	g_assert_cmpint(cardea_rtcp_parse_sr(&pkt, &sr), ==, CARDEA_RTCP_ERR_ARGS);

	/* Our writers through the builder give Chrome's bytes exactly. */
	uint8_t out[64];
	cardea_rtcp_builder b;
	cardea_rtcp_builder_init(&b, out, sizeof(out), 0x0fd857e4, false);
	g_assert_true(cardea_rtcp_builder_commit(&b, cardea_rtcp_write_sr(cardea_rtcp_builder_tail(&b),
		cardea_rtcp_builder_room(&b), &sr)));
	g_assert_true(cardea_rtcp_builder_commit(&b, cardea_rtcp_write_sdes_cname(cardea_rtcp_builder_tail(&b),
		cardea_rtcp_builder_room(&b), 0x0fd857e4, "/hKUSbms3zlinNZn")));
	g_assert_cmpuint(cardea_rtcp_builder_finish(&b), ==, 56);
	g_assert_cmpmem(out, 56, buf, 56);
}

typedef struct broken_case {
	const char *name;
	const char *hex;
	cardea_rtcp_status want;
} broken_case;

static const broken_case broken[] = {
	{ "empty", "", CARDEA_RTCP_ERR_TOO_SHORT },
	{ "3 bytes", "80c900", CARDEA_RTCP_ERR_TOO_SHORT },
	{ "trailing 2 bytes", "80c90001 11223344 8000", CARDEA_RTCP_ERR_TOO_SHORT },
	{ "version 0", "00c90001 11223344", CARDEA_RTCP_ERR_VERSION },
	{ "version 3 second", "80c90001 11223344 c0c90001 11223344", CARDEA_RTCP_ERR_VERSION },
	{ "pt 96 (RTP)", "80600001 11223344", CARDEA_RTCP_ERR_PT },
	{ "pt 224", "80e00001 11223344", CARDEA_RTCP_ERR_PT },
	{ "length one word too long", "80c90002 11223344", CARDEA_RTCP_ERR_LENGTH },
	{ "length 0xffff", "80c9ffff 11223344", CARDEA_RTCP_ERR_LENGTH },
	{ "second packet lies", "80c90001 11223344 81cd0005 11223344 55667788", CARDEA_RTCP_ERR_LENGTH },
	{ "padding 0", "a0c90001 11223300", CARDEA_RTCP_ERR_PADDING },
	{ "padding past body", "a0c90001 11223305", CARDEA_RTCP_ERR_PADDING },
	{ "padding on empty body", "a0c90000", CARDEA_RTCP_ERR_TOO_SHORT },
};

static void test_broken_compound(void) {
	for (size_t i = 0; i < G_N_ELEMENTS(broken); i++) {
		uint8_t buf[64];
		size_t len = unhex(broken[i].hex, buf, sizeof(buf));
		cardea_rtcp_iter it;
		cardea_rtcp_pkt pkt;
		cardea_rtcp_status st = cardea_rtcp_iter_init(&it, buf, len);
		/* "padding on empty body": the pad count byte would be the header's
		 * own last byte; caught as a 4-byte packet with pad 0 > body 0. */
		if (i == G_N_ELEMENTS(broken) - 1)
			g_assert_cmpint(st, ==, CARDEA_RTCP_ERR_PADDING);
		else if (st != broken[i].want)
			g_error("%s: got %s, want %s", broken[i].name, cardea_rtcp_status_name(st),
				cardea_rtcp_status_name(broken[i].want));
		/* Nothing of a broken compound is handed out, not even the valid
		 * packets before the broken one. */
		g_assert_false(cardea_rtcp_next(&it, &pkt));
		g_assert_cmpint(cardea_rtcp_validate(buf, len, NULL), ==, st);
	}
	g_assert_cmpint(cardea_rtcp_validate(NULL, 8, NULL), ==, CARDEA_RTCP_ERR_ARGS);
	g_assert_cmpstr(cardea_rtcp_status_name(CARDEA_RTCP_ERR_LENGTH), ==, "length");
	g_assert_cmpstr(cardea_rtcp_status_name(CARDEA_RTCP_STATUS_COUNT), ==, "unknown");
}

/* Zero-length packets (header only) are legal and each moves the walk on by
 * 4 bytes: a buffer full of them is a long walk, not an endless one. */
static void test_zero_length_walk(void) {
	uint8_t buf[4000];
	for (size_t i = 0; i < sizeof(buf); i += 4) {
		buf[i] = 0x80;
		buf[i + 1] = 201;
		buf[i + 2] = 0;
		buf[i + 3] = 0;
	}
	cardea_rtcp_iter it;
	cardea_rtcp_pkt pkt;
	g_assert_cmpint(cardea_rtcp_iter_init(&it, buf, sizeof(buf)), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(it.count, ==, 1000);
	unsigned n = 0;
	while (cardea_rtcp_next(&it, &pkt)) {
		cardea_rtcp_rr rr;
		g_assert_cmpuint(pkt.body_len, ==, 0);
		/* An RR needs at least its SSRC. */
		g_assert_cmpint(cardea_rtcp_parse_rr(&pkt, &rr), ==, CARDEA_RTCP_ERR_BODY);
		n++;
	}
	g_assert_cmpuint(n, ==, 1000);
}

/* Bodies too short for what their header claims. */
static void test_broken_bodies(void) {
	uint8_t buf[128];
	cardea_rtcp_pkt pkt;
	cardea_rtcp_sr sr;
	cardea_rtcp_rr rr;
	cardea_rtcp_fb fb;
	uint16_t seqs[32];
	uint32_t ssrcs[4];
	cardea_rtcp_fir_entry fir[4];
	cardea_rtcp_remb remb;
	cardea_rtcp_twcc tw;
	cardea_twcc_status st[64];
	size_t n;

	one_packet("80c80000", buf, sizeof(buf), &pkt);    /* SR, no sender info */
	g_assert_cmpint(cardea_rtcp_parse_sr(&pkt, &sr), ==, CARDEA_RTCP_ERR_BODY);
	one_packet("81c80006 11223344 00000000 00000000 00000000 00000000 00000000", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_sr(&pkt, &sr), ==, CARDEA_RTCP_ERR_BODY);  /* RC 1, no block */
	one_packet("9fc90001 11223344", buf, sizeof(buf), &pkt);  /* RC 31 */
	g_assert_cmpint(cardea_rtcp_parse_rr(&pkt, &rr), ==, CARDEA_RTCP_ERR_BODY);
	/* Padding counts against the body: 1 block claimed, padding eats it. */
	one_packet("a1c90007 11223344 00000001 00000000 00000000 00000000 00000000 00000018", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_rr(&pkt, &rr), ==, CARDEA_RTCP_ERR_BODY);
	one_packet("83cb0002 11223344 55667788", buf, sizeof(buf), &pkt);  /* SC 3, 2 SSRCs */
	g_assert_cmpint(cardea_rtcp_parse_bye(&pkt, ssrcs, 4, &n), ==, CARDEA_RTCP_ERR_BODY);
	one_packet("81cd0001 11223344", buf, sizeof(buf), &pkt);  /* NACK without media SSRC */
	g_assert_cmpint(cardea_rtcp_parse_fb(&pkt, &fb), ==, CARDEA_RTCP_ERR_BODY);
	g_assert_cmpint(cardea_rtcp_parse_nack(&pkt, &fb, seqs, 32, &n), ==, CARDEA_RTCP_ERR_BODY);
	one_packet("81cd0002 11223344 55667788", buf, sizeof(buf), &pkt);  /* NACK, no FCI */
	g_assert_cmpint(cardea_rtcp_parse_nack(&pkt, &fb, seqs, 32, &n), ==, CARDEA_RTCP_ERR_BODY);
	one_packet("a1cd0003 11223344 55667788 00640002", buf, sizeof(buf), &pkt);  /* FCI cut by padding */
	g_assert_cmpint(cardea_rtcp_parse_nack(&pkt, &fb, seqs, 32, &n), ==, CARDEA_RTCP_ERR_BODY);
	one_packet("84ce0003 11223344 00000000 55667788", buf, sizeof(buf), &pkt);  /* FIR entry cut */
	g_assert_cmpint(cardea_rtcp_parse_fir(&pkt, &fb, fir, 4, &n), ==, CARDEA_RTCP_ERR_BODY);
	one_packet("8fce0004 11223344 00000000 52454d42 010e5ad0", buf, sizeof(buf), &pkt);  /* 1 SSRC, none */
	g_assert_cmpint(cardea_rtcp_parse_remb(&pkt, &remb, ssrcs, 4, &n), ==, CARDEA_RTCP_ERR_BODY);
	one_packet("8fce0004 11223344 00000000 52454d43 000e5ad0", buf, sizeof(buf), &pkt);  /* "REMC" */
	g_assert_cmpint(cardea_rtcp_parse_remb(&pkt, &remb, ssrcs, 4, &n), ==, CARDEA_RTCP_ERR_FORMAT);
	one_packet("8fce0003 11223344 00000000 52454d42", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_remb(&pkt, &remb, ssrcs, 4, &n), ==, CARDEA_RTCP_ERR_BODY);
	/* TWCC: chunks missing for the count; deltas missing; reserved symbols. */
	one_packet("8fcd0004 11223344 55667788 00010010 00000001", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, NULL, 0, NULL), ==, CARDEA_RTCP_ERR_BODY);
	one_packet("8fcd0005 11223344 55667788 00010003 00000001 20030102", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, st, 64, &n), ==, CARDEA_RTCP_ERR_BODY);
	one_packet("8fcd0005 11223344 55667788 00010003 00000001 60030000", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, st, 64, &n), ==, CARDEA_RTCP_ERR_FORMAT);
	one_packet("8fcd0005 11223344 55667788 00010003 00000001 f0000000", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, st, 64, &n), ==, CARDEA_RTCP_ERR_FORMAT);
	one_packet("8fcd0003 11223344 55667788 00010003", buf, sizeof(buf), &pkt);  /* no ref time */
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, NULL, 0, NULL), ==, CARDEA_RTCP_ERR_BODY);
	/* Wrong FMT for the parser. */
	one_packet(aiortc_pli, buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_nack(&pkt, &fb, seqs, 32, &n), ==, CARDEA_RTCP_ERR_ARGS);
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, NULL, 0, NULL), ==, CARDEA_RTCP_ERR_ARGS);
	g_assert_cmpint(cardea_rtcp_parse_remb(&pkt, &remb, NULL, 0, NULL), ==, CARDEA_RTCP_ERR_ARGS);
	g_assert_cmpint(cardea_rtcp_parse_fir(&pkt, &fb, fir, 4, &n), ==, CARDEA_RTCP_ERR_ARGS);
}

/* ---- SR / RR / SDES / BYE ---- */

static void test_sr_rr(void) {
	uint8_t buf[256], out[256];
	cardea_rtcp_pkt pkt;
	cardea_rtcp_sr sr;
	one_packet(aiortc_sr, buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_sr(&pkt, &sr), ==, CARDEA_RTCP_OK);
	g_assert_cmphex(sr.ssrc, ==, 0x11223344);
	g_assert_cmphex(sr.ntp_sec, ==, 0xe1b2c3d4);
	g_assert_cmphex(sr.ntp_frac, ==, 0xa5b6c7d8);
	g_assert_cmpuint(sr.packet_count, ==, 1000);
	g_assert_cmpuint(sr.octet_count, ==, 123456);
	g_assert_cmpuint(sr.report_count, ==, 1);
	g_assert_cmphex(sr.reports[0].ssrc, ==, 0x55667788);
	g_assert_cmpuint(sr.reports[0].fraction_lost, ==, 25);
	g_assert_cmpint(sr.reports[0].cumulative_lost, ==, -3);
	g_assert_cmphex(sr.reports[0].ext_highest_seq, ==, 0x1ffff);
	g_assert_cmpuint(sr.reports[0].jitter, ==, 77);
	g_assert_cmphex(sr.reports[0].lsr, ==, 0xc3d4a5b6);
	g_assert_cmpuint(sr.reports[0].dlsr, ==, 65536);
	size_t n = cardea_rtcp_write_sr(out, sizeof(out), &sr);
	g_assert_cmpuint(n, ==, pkt.len);
	g_assert_cmpmem(out, n, buf, pkt.len);
	g_assert_cmpuint(cardea_rtcp_write_sr(out, n - 1, &sr), ==, 0);

	cardea_rtcp_rr rr;
	one_packet(aiortc_rr, buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_rr(&pkt, &rr), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(rr.report_count, ==, 2);
	g_assert_cmpint(rr.reports[0].cumulative_lost, ==, 0x7fffff);
	g_assert_cmpint(rr.reports[1].cumulative_lost, ==, -0x800000);
	g_assert_cmpuint(rr.reports[1].fraction_lost, ==, 255);
	g_assert_cmpuint(rr.reports[1].dlsr, ==, 3);
	n = cardea_rtcp_write_rr(out, sizeof(out), &rr);
	g_assert_cmpmem(out, n, buf, pkt.len);
	/* Out-of-range cumulative loss is clamped to 24 bits, not wrapped. */
	rr.reports[0].cumulative_lost = 0x1000000;
	rr.reports[1].cumulative_lost = -0x1000000;
	cardea_rtcp_write_rr(out, sizeof(out), &rr);
	g_assert_cmpmem(out, n, buf, pkt.len);
	rr.report_count = 32;
	g_assert_cmpuint(cardea_rtcp_write_rr(out, sizeof(out), &rr), ==, 0);
	cardea_rtcp_rr empty = { .ssrc = 7 };
	n = cardea_rtcp_write_rr(out, sizeof(out), &empty);
	g_assert_cmpuint(n, ==, 8);
	uint8_t expect[8];
	unhex("80c90001 00000007", expect, 8);
	g_assert_cmpmem(out, n, expect, 8);

	/* SR with 31 blocks: the largest. */
	memset(&sr, 0, sizeof(sr));
	sr.report_count = 31;
	for (unsigned i = 0; i < 31; i++)
		sr.reports[i].ssrc = i;
	uint8_t big[1024];
	g_assert_cmpuint(cardea_rtcp_write_sr(out, sizeof(out), &sr), ==, 0);
	n = cardea_rtcp_write_sr(big, sizeof(big), &sr);
	g_assert_cmpuint(n, ==, 28 + 31 * 24);
	cardea_rtcp_iter it;
	g_assert_cmpint(cardea_rtcp_iter_init(&it, big, n), ==, CARDEA_RTCP_OK);
	g_assert_true(cardea_rtcp_next(&it, &pkt));
	memset(&sr, 0, sizeof(sr));
	g_assert_cmpint(cardea_rtcp_parse_sr(&pkt, &sr), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(sr.report_count, ==, 31);
	g_assert_cmpuint(sr.reports[30].ssrc, ==, 30);
}

static void test_sdes_bye(void) {
	uint8_t buf[64], out[64];
	size_t len = unhex(aiortc_sdes, buf, sizeof(buf));
	size_t n = cardea_rtcp_write_sdes_cname(out, sizeof(out), 0x11223344, "abcd");
	g_assert_cmpmem(out, n, buf, len);
	/* Type, length, text and at least one NUL, padded: 1 char fills two
	 * words exactly, 5 chars three, 6 chars need a fourth. */
	g_assert_cmpuint(cardea_rtcp_write_sdes_cname(out, sizeof(out), 1, "a"), ==, 12);
	g_assert_cmphex(out[11], ==, 0);
	g_assert_cmpuint(cardea_rtcp_write_sdes_cname(out, sizeof(out), 1, "abcde"), ==, 16);
	g_assert_cmpuint(cardea_rtcp_write_sdes_cname(out, sizeof(out), 1, "abcdef"), ==, 20);
	g_assert_cmpuint(cardea_rtcp_write_sdes_cname(out, sizeof(out), 1, ""), ==, 0);
	g_assert_cmpuint(cardea_rtcp_write_sdes_cname(out, 15, 1, "abcd"), ==, 0);

	cardea_rtcp_pkt pkt;
	uint32_t ssrcs[2];
	one_packet(aiortc_bye, buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_bye(&pkt, ssrcs, 2, &n), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(n, ==, 2);
	g_assert_cmphex(ssrcs[1], ==, 0x55667788);
	g_assert_cmpint(cardea_rtcp_parse_bye(&pkt, ssrcs, 1, &n), ==, CARDEA_RTCP_ERR_NO_SPACE);
	g_assert_cmpuint(n, ==, 1);
	uint32_t two[2] = { 0x11223344, 0x55667788 };
	n = cardea_rtcp_write_bye(out, sizeof(out), two, 2);
	g_assert_cmpmem(out, n, buf, pkt.len);
	/* BYE with a reason string after the SSRCs still parses. */
	one_packet("81cb0002 11223344 03627965", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_bye(&pkt, ssrcs, 2, &n), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(n, ==, 1);
}

/* ---- Feedback ---- */

static void test_nack(void) {
	uint8_t buf[256], out[256];
	cardea_rtcp_pkt pkt;
	cardea_rtcp_fb fb;
	uint16_t seqs[64];
	size_t n;
	one_packet(aiortc_nack, buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_nack(&pkt, &fb, seqs, 64, &n), ==, CARDEA_RTCP_OK);
	g_assert_cmphex(fb.sender_ssrc, ==, 0x11223344);
	g_assert_cmphex(fb.media_ssrc, ==, 0x55667788);
	static const uint16_t lost[] = { 100, 101, 105, 116, 117, 118, 200 };
	g_assert_cmpmem(seqs, n * 2, lost, sizeof(lost));
	g_assert_cmpuint(cardea_rtcp_nack_size(lost, 7), ==, 24);
	n = cardea_rtcp_write_nack(out, sizeof(out), 0x11223344, 0x55667788, lost, 7);
	g_assert_cmpmem(out, n, buf, pkt.len);
	g_assert_cmpuint(cardea_rtcp_write_nack(out, 23, 0x11223344, 0x55667788, lost, 7), ==, 0);
	g_assert_cmpuint(cardea_rtcp_write_nack(out, sizeof(out), 1, 2, lost, 0), ==, 0);
	/* Truncated expansion. */
	g_assert_cmpint(cardea_rtcp_parse_nack(&pkt, NULL, seqs, 3, &n), ==, CARDEA_RTCP_ERR_NO_SPACE);
	g_assert_cmpuint(n, ==, 3);
	g_assert_cmpuint(seqs[2], ==, 105);

	/* 41 consecutive losses: PID + 16 BLP bits per pair -> 3 pairs. */
	uint16_t many[41];
	for (unsigned i = 0; i < 41; i++)
		many[i] = (uint16_t)(1000 + i);
	n = cardea_rtcp_write_nack(out, sizeof(out), 1, 2, many, 41);
	g_assert_cmpuint(n, ==, 12 + 3 * 4);
	uint8_t expect[24];
	unhex("81cd0005 00000001 00000002 03e8ffff 03f9ffff 040a003f", expect, sizeof(expect));
	g_assert_cmpmem(out, n, expect, sizeof(expect));
	size_t total = n;
	cardea_rtcp_iter it;
	g_assert_cmpint(cardea_rtcp_iter_init(&it, out, total), ==, CARDEA_RTCP_OK);
	g_assert_true(cardea_rtcp_next(&it, &pkt));
	g_assert_cmpint(cardea_rtcp_parse_nack(&pkt, NULL, seqs, 64, &n), ==, CARDEA_RTCP_OK);
	g_assert_cmpmem(seqs, n * 2, many, sizeof(many));

	/* Across the wrap, with a duplicate: one pair. */
	static const uint16_t wrap[] = { 65530, 65531, 65535, 65535, 0, 5, 10 };
	static const uint16_t wrap_back[] = { 65530, 65531, 65535, 0, 5, 10 };
	n = cardea_rtcp_write_nack(out, sizeof(out), 1, 2, wrap, G_N_ELEMENTS(wrap));
	g_assert_cmpuint(n, ==, 16);
	g_assert_cmphex(out[12], ==, 0xff);
	g_assert_cmphex(out[13], ==, 0xfa);
	g_assert_cmpint(cardea_rtcp_iter_init(&it, out, n), ==, CARDEA_RTCP_OK);
	g_assert_true(cardea_rtcp_next(&it, &pkt));
	g_assert_cmpint(cardea_rtcp_parse_nack(&pkt, NULL, seqs, 64, &n), ==, CARDEA_RTCP_OK);
	g_assert_cmpmem(seqs, n * 2, wrap_back, sizeof(wrap_back));

	/* Random sorted sets round-trip exactly. */
	for (int round = 0; round < 200; round++) {
		uint16_t set[300], got[600];
		size_t k = 0;
		uint16_t s = (uint16_t)g_test_rand_int_range(0, 65536);
		size_t want = (size_t)g_test_rand_int_range(1, 300);
		while (k < want) {
			s = (uint16_t)(s + g_test_rand_int_range(1, 40));
			set[k++] = s;
		}
		uint8_t big[2048];
		n = cardea_rtcp_write_nack(big, sizeof(big), 1, 2, set, k);
		g_assert_cmpuint(n, ==, cardea_rtcp_nack_size(set, k));
		g_assert_cmpint(cardea_rtcp_iter_init(&it, big, n), ==, CARDEA_RTCP_OK);
		g_assert_true(cardea_rtcp_next(&it, &pkt));
		size_t m;
		g_assert_cmpint(cardea_rtcp_parse_nack(&pkt, NULL, got, 600, &m), ==, CARDEA_RTCP_OK);
		g_assert_cmpmem(got, m * 2, set, k * 2);
	}
}

static void test_pli_fir(void) {
	uint8_t buf[64], out[64];
	cardea_rtcp_pkt pkt;
	cardea_rtcp_fb fb;
	size_t len = unhex(aiortc_pli, buf, sizeof(buf));
	size_t n = cardea_rtcp_write_pli(out, sizeof(out), 0x11223344, 0x55667788);
	g_assert_cmpmem(out, n, buf, len);
	g_assert_cmpuint(cardea_rtcp_write_pli(out, 11, 1, 2), ==, 0);
	one_packet(aiortc_pli, buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_fb(&pkt, &fb), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(pkt.count, ==, CARDEA_RTCP_PSFB_PLI);
	g_assert_cmphex(fb.media_ssrc, ==, 0x55667788);
	g_assert_cmpuint(fb.fci_len, ==, 0);

	n = cardea_rtcp_write_fir(out, sizeof(out), 0x11223344, 0x55667788, 7);
	g_assert_cmpuint(n, ==, 20);
	uint8_t expect[20];
	unhex("84ce0004 11223344 00000000 55667788 07000000", expect, sizeof(expect));
	g_assert_cmpmem(out, n, expect, sizeof(expect));
	g_assert_cmpuint(cardea_rtcp_write_fir(out, 19, 1, 2, 3), ==, 0);
	cardea_rtcp_iter it;
	cardea_rtcp_fir_entry e[2];
	g_assert_cmpint(cardea_rtcp_iter_init(&it, out, n), ==, CARDEA_RTCP_OK);
	g_assert_true(cardea_rtcp_next(&it, &pkt));
	g_assert_cmpint(cardea_rtcp_parse_fir(&pkt, &fb, e, 2, &n), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(n, ==, 1);
	g_assert_cmphex(e[0].ssrc, ==, 0x55667788);
	g_assert_cmpuint(e[0].seq_nr, ==, 7);
	/* Two entries, room for one. */
	one_packet("84ce0006 11223344 00000000 00000001 01000000 00000002 02000000", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_fir(&pkt, NULL, e, 1, &n), ==, CARDEA_RTCP_ERR_NO_SPACE);
	g_assert_cmpint(cardea_rtcp_parse_fir(&pkt, NULL, e, 2, &n), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(e[1].seq_nr, ==, 2);
}

static void test_remb(void) {
	uint8_t buf[64], out[64];
	cardea_rtcp_pkt pkt;
	cardea_rtcp_remb remb;
	uint32_t ssrcs[4];
	size_t n;
	one_packet(aiortc_remb, buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_remb(&pkt, &remb, ssrcs, 4, &n), ==, CARDEA_RTCP_OK);
	g_assert_cmphex(remb.sender_ssrc, ==, 0x11223344);
	g_assert_cmpuint(remb.bitrate, ==, 1234560);
	g_assert_cmpuint(remb.ssrc_count, ==, 2);
	g_assert_cmpuint(n, ==, 2);
	g_assert_cmphex(ssrcs[1], ==, 0x99aabbcc);
	g_assert_cmpint(cardea_rtcp_parse_remb(&pkt, &remb, ssrcs, 1, &n), ==, CARDEA_RTCP_ERR_NO_SPACE);
	uint32_t two[2] = { 0x55667788, 0x99aabbcc };
	n = cardea_rtcp_write_remb(out, sizeof(out), 0x11223344, 1234567, two, 2);
	g_assert_cmpmem(out, n, buf, pkt.len);
	g_assert_cmpuint(cardea_rtcp_write_remb(out, 27, 1, 1, two, 2), ==, 0);

	/* Exponent/mantissa: largest exact mantissa, first shift, big values. */
	struct { uint64_t in; uint8_t exp; uint32_t mant; } cases[] = {
		{ 0, 0, 0 },
		{ 1, 0, 1 },
		{ 262143, 0, 262143 },
		{ 262144, 1, 131072 },
		{ 262145, 1, 131072 },           /* rounded down */
		{ 1000000, 2, 250000 },
		{ 2500000, 4, 156250 },
		{ 1000000000, 12, 244140 },
		{ UINT64_MAX, 46, 262143 },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		uint8_t e;
		uint32_t m;
		cardea_rtcp_remb_encode(cases[i].in, &e, &m);
		g_assert_cmpuint(e, ==, cases[i].exp);
		g_assert_cmpuint(m, ==, cases[i].mant);
		/* Written and parsed back: the encoded value, never above the cap. */
		n = cardea_rtcp_write_remb(out, sizeof(out), 9, cases[i].in, NULL, 0);
		g_assert_cmpuint(n, ==, 20);
		cardea_rtcp_iter it;
		g_assert_cmpint(cardea_rtcp_iter_init(&it, out, n), ==, CARDEA_RTCP_OK);
		g_assert_true(cardea_rtcp_next(&it, &pkt));
		g_assert_cmpint(cardea_rtcp_parse_remb(&pkt, &remb, NULL, 0, NULL), ==, CARDEA_RTCP_OK);
		g_assert_cmpuint(remb.bitrate, ==, (uint64_t)cases[i].mant << cases[i].exp);
		g_assert_cmpuint(remb.bitrate, <=, cases[i].in);
	}
	/* exp 63 saturates instead of overflowing. */
	one_packet("8fce0004 11223344 00000000 52454d42 00fc0001", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_remb(&pkt, &remb, NULL, 0, NULL), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(remb.bitrate, ==, UINT64_MAX);
	one_packet("8fce0004 11223344 00000000 52454d42 00fc0000", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_remb(&pkt, &remb, NULL, 0, NULL), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(remb.bitrate, ==, 0);
}

/* ---- Transport-wide CC ---- */

static void test_twcc_parse_vector(void) {
	uint8_t buf[64];
	cardea_rtcp_pkt pkt;
	cardea_rtcp_twcc tw;
	cardea_twcc_status st[16];
	size_t n;
	one_packet(pion_twcc_parse, buf, sizeof(buf), &pkt);
	g_assert_cmpuint(pkt.body_len, ==, 27);  /* one byte of padding */
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, NULL, 0, NULL), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(tw.sender_ssrc, ==, 2608133663u);
	g_assert_cmpuint(tw.media_ssrc, ==, 2473712828u);
	g_assert_cmpuint(tw.base_seq, ==, 34108);
	g_assert_cmpuint(tw.status_count, ==, 9);
	g_assert_cmpint(tw.ref_time, ==, 6551830);
	g_assert_cmpuint(tw.fb_count, ==, 179);
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, st, 16, &n), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(n, ==, 9);
	static const int64_t deltas[] = { 38750, 42500, 26500, 42500, 30750, 0, 66250, 0, 0 };
	static const bool got[] = { 1, 1, 1, 1, 1, 0, 1, 0, 0 };
	int64_t t = 6551830LL * 64000;
	for (size_t i = 0; i < n; i++) {
		g_assert_cmpuint(st[i].seq, ==, 34108 + i);
		g_assert_cmpint(st[i].received, ==, got[i]);
		t += deltas[i];
		if (got[i])
			g_assert_cmpint(st[i].recv_us, ==, t);
	}
	/* Truncated output. */
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, st, 4, &n), ==, CARDEA_RTCP_ERR_NO_SPACE);
	g_assert_cmpuint(n, ==, 4);
	/* Negative reference time (24-bit sign). */
	one_packet("8fcd0005 00000001 00000002 00000001 ffffff00 20010a00", buf, sizeof(buf), &pkt);
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, st, 16, &n), ==, CARDEA_RTCP_OK);
	g_assert_cmpint(tw.ref_time, ==, -1);
	g_assert_cmpint(st[0].recv_us, ==, -64000 + 2500);
}

static void test_twcc_write_vector(void) {
	uint8_t buf[64], out[64];
	size_t len = unhex(pion_twcc_write, buf, sizeof(buf));
	int64_t ref = 1074030LL * 64000, t = ref;
	static const int64_t d[] = { 19000, 9000, 9000, 4000, 3000, 3000, 4000 };
	cardea_twcc_arrival arr[7];
	for (int i = 0; i < 7; i++) {
		t += d[i];
		arr[i].seq = 4 + i;
		arr[i].arrival_us = t;
	}
	size_t consumed = 0;
	size_t n = cardea_rtcp_write_twcc(out, sizeof(out), 0xfa17fa17, 0x193dd8bb, 1, 4, arr, 7, &consumed);
	g_assert_cmpuint(consumed, ==, 7);
	g_assert_cmpmem(out, n, buf, len);
}

/* Writes arrivals (in as many packets as it takes), parses every packet and
 * checks each seq from base to the last arrival: received ones at their
 * arrival time within the 250 us rounding, the rest as lost. */
static void twcc_roundtrip(const cardea_twcc_arrival *arr, size_t n, size_t cap) {
	size_t done = 0, j = 0, packets = 0;
	int64_t base = arr[0].seq;
	uint8_t *buf = g_malloc(cap);
	while (done < n) {
		size_t consumed = 0;
		size_t len = cardea_rtcp_write_twcc(buf, cap, 1, 2, (uint8_t)packets, base, arr + done, n - done, &consumed);
		g_assert_cmpuint(len, >, 0);
		g_assert_cmpuint(len, <=, cap);
		g_assert_cmpuint(consumed, >=, 1);
		cardea_rtcp_iter it;
		cardea_rtcp_pkt pkt;
		cardea_rtcp_twcc tw;
		g_assert_cmpint(cardea_rtcp_iter_init(&it, buf, len), ==, CARDEA_RTCP_OK);
		g_assert_true(cardea_rtcp_next(&it, &pkt));
		size_t want = (size_t)(arr[done + consumed - 1].seq - base + 1), got = 0;
		cardea_twcc_status *st = g_new(cardea_twcc_status, want);
		g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, &tw, st, want, &got), ==, CARDEA_RTCP_OK);
		g_assert_cmpuint(got, ==, want);
		g_assert_cmpuint(tw.status_count, ==, want);
		g_assert_cmpuint(tw.base_seq, ==, (uint16_t)base);
		g_assert_cmpuint(tw.fb_count, ==, (uint8_t)packets);
		for (size_t i = 0; i < got; i++) {
			int64_t seq = base + (int64_t)i;
			g_assert_cmpuint(st[i].seq, ==, (uint16_t)seq);
			if (j < n && arr[j].seq == seq) {
				g_assert_true(st[i].received);
				/* Absolute: the reference time is in the packet, and deltas
				 * are taken from the reported times, so no drift. */
				int64_t err = st[i].recv_us - arr[j].arrival_us;
				g_assert_cmpint(err, <=, 125);
				g_assert_cmpint(err, >=, -125);
				j++;
			} else {
				g_assert_false(st[i].received);
			}
		}
		g_free(st);
		done += consumed;
		base = arr[done - 1].seq + 1;
		packets++;
	}
	g_assert_cmpuint(j, ==, n);
	g_free(buf);
}

static void test_twcc_roundtrip(void) {
	cardea_twcc_arrival arr[1500];
	/* Steady stream, no loss: run-length chunks. */
	for (int i = 0; i < 100; i++) {
		arr[i].seq = 1000 + i;
		arr[i].arrival_us = 5000000 + i * 1000;
	}
	twcc_roundtrip(arr, 100, 1500);
	/* Mixed: losses, long loss runs, negative and large deltas, bursts. */
	int64_t seq = 65000, t = 123456789;
	size_t n = 0;
	for (int i = 0; n < 1000; i++) {
		int r = g_test_rand_int_range(0, 100);
		if (r < 10)
			seq += g_test_rand_int_range(2, 20);         /* short loss */
		else if (r < 12)
			seq += g_test_rand_int_range(20, 300);       /* long loss run */
		else
			seq += 1;
		int q = g_test_rand_int_range(0, 100);
		if (q < 5)
			t -= g_test_rand_int_range(0, 20000);        /* reordered in time */
		else if (q < 10)
			t += g_test_rand_int_range(64000, 2000000);  /* large delta */
		else
			t += g_test_rand_int_range(0, 20000);
		arr[n].seq = seq;
		arr[n].arrival_us = t;
		n++;
	}
	twcc_roundtrip(arr, n, 1500);
	/* Small packets force splitting. */
	twcc_roundtrip(arr, n, 64);
	/* A gap beyond 16-bit deltas (> 8.19 s) starts a new packet. */
	arr[0].seq = 1;
	arr[0].arrival_us = 1000;
	arr[1].seq = 2;
	arr[1].arrival_us = 1000 + 9000000;
	size_t consumed = 0;
	uint8_t buf[64];
	g_assert_cmpuint(cardea_rtcp_write_twcc(buf, sizeof(buf), 1, 2, 0, 1, arr, 2, &consumed), >, 0);
	g_assert_cmpuint(consumed, ==, 1);
	twcc_roundtrip(arr, 2, 64);
	/* Leading losses before the first arrival are reported as lost. */
	arr[0].seq = 10;
	arr[0].arrival_us = 640000;
	size_t len = cardea_rtcp_write_twcc(buf, sizeof(buf), 1, 2, 0, 5, arr, 1, &consumed);
	uint8_t expect[24];
	/* base 5, count 6, ref 10, one 1-bit vector 000001, delta 0, pad 1 */
	unhex("af cd 0005 00000001 00000002 00050006 00000a00 8100 00 01", expect, sizeof(expect));
	g_assert_cmpmem(buf, len, expect, sizeof(expect));
	/* Caller bugs: unsorted, base after the first seq, no room. */
	arr[0].seq = 5;
	arr[1].seq = 5;
	g_assert_cmpuint(cardea_rtcp_write_twcc(buf, sizeof(buf), 1, 2, 0, 5, arr, 2, &consumed), ==, 0);
	g_assert_cmpuint(cardea_rtcp_write_twcc(buf, sizeof(buf), 1, 2, 0, 6, arr, 1, &consumed), ==, 0);
	g_assert_cmpuint(cardea_rtcp_write_twcc(buf, 23, 1, 2, 0, 5, arr, 1, &consumed), ==, 0);
	g_assert_cmpuint(consumed, ==, 0);
	g_assert_cmpuint(cardea_rtcp_write_twcc(buf, 24, 1, 2, 0, 5, arr, 1, &consumed), ==, 24);
	g_assert_cmpuint(consumed, ==, 1);
}

/* Chunk encoding choices, byte for byte. */
static void test_twcc_chunks(void) {
	cardea_twcc_arrival arr[40];
	uint8_t buf[128];
	size_t consumed, len;
	/* 1-bit vector: received, lost alternating, all small deltas. */
	for (int i = 0; i < 7; i++) {
		arr[i].seq = 2 * i;
		arr[i].arrival_us = 1000 * i;
	}
	len = cardea_rtcp_write_twcc(buf, sizeof(buf), 0, 0, 0, 0, arr, 7, &consumed);
	/* 13 statuses: 1010101010101 -> 0x8000 | 0x2aaa... */
	g_assert_cmphex(buf[20], ==, 0xaa);
	g_assert_cmphex(buf[21], ==, 0xaa);
	g_assert_cmpuint(len, ==, 20 + 2 + 7 + 3);
	/* 2-bit vector when a large delta is among the next symbols. */
	arr[0].seq = 0;
	arr[0].arrival_us = 0;
	arr[1].seq = 1;
	arr[1].arrival_us = 100000;  /* 400 ticks: large */
	arr[2].seq = 3;
	arr[2].arrival_us = 101000;
	len = cardea_rtcp_write_twcc(buf, sizeof(buf), 0, 0, 0, 0, arr, 3, &consumed);
	/* 1 2 0 1 -> 11 01 10 00 01 00 00 00 -> 0xd8 0x40 */
	g_assert_cmphex(buf[20], ==, 0xd8);
	g_assert_cmphex(buf[21], ==, 0x40);
	g_assert_cmpuint(len, ==, 20 + 2 + 1 + 2 + 1 + 2);
	/* Long run of losses then one packet: RLE(none) + RLE(small). */
	arr[0].seq = 0;
	arr[0].arrival_us = 0;
	arr[1].seq = 10000;
	arr[1].arrival_us = 1000;
	len = cardea_rtcp_write_twcc(buf, sizeof(buf), 0, 0, 0, 0, arr, 2, &consumed);
	g_assert_cmpuint(consumed, ==, 2);
	uint8_t expect[32];
	/* count 10001: a 1-bit vector (1 then 13 lost), RLE(none,8191),
	 * RLE(none,1795), RLE(small,1); deltas 0 and 4; pad 2. */
	unhex("af cd 0007 00000000 00000000 00002711 00000000 a000 1fff 0703 2001 00 04 0002", expect, sizeof(expect));
	g_assert_cmpmem(buf, len, expect, sizeof(expect));
}

/* ---- Robustness ---- */

/* Runs every parser on whatever the iterator yields. */
static void parse_everything(const uint8_t *buf, size_t len) {
	cardea_rtcp_iter it;
	cardea_rtcp_pkt pkt;
	if (cardea_rtcp_iter_init(&it, buf, len) != CARDEA_RTCP_OK)
		return;
	while (cardea_rtcp_next(&it, &pkt)) {
		g_assert_true(pkt.data >= buf && pkt.data + pkt.len <= buf + len);
		g_assert_true(pkt.body + pkt.body_len <= pkt.data + pkt.len);
		cardea_rtcp_sr sr;
		cardea_rtcp_rr rr;
		cardea_rtcp_fb fb;
		cardea_rtcp_remb remb;
		cardea_rtcp_twcc tw;
		cardea_twcc_status st[128];
		cardea_rtcp_fir_entry fir[8];
		uint16_t seqs[64];
		uint32_t ssrcs[8];
		size_t n;
		cardea_rtcp_parse_sr(&pkt, &sr);
		cardea_rtcp_parse_rr(&pkt, &rr);
		cardea_rtcp_parse_bye(&pkt, ssrcs, 8, &n);
		cardea_rtcp_parse_fb(&pkt, &fb);
		cardea_rtcp_parse_nack(&pkt, &fb, seqs, 64, &n);
		cardea_rtcp_parse_fir(&pkt, &fb, fir, 8, &n);
		cardea_rtcp_parse_remb(&pkt, &remb, ssrcs, 8, &n);
		if (cardea_rtcp_parse_twcc(&pkt, &tw, st, 128, &n) != CARDEA_RTCP_ERR_ARGS)
			g_assert_cmpuint(n, <=, 128);
	}
}

static void test_truncation_mutation(void) {
	const char *const samples[] = { chrome_sr_sdes, aiortc_sr, aiortc_rr, aiortc_nack, aiortc_pli, aiortc_remb,
		aiortc_bye, aiortc_sdes, pion_twcc_parse, pion_twcc_write };
	uint8_t compound[512];
	size_t clen = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(samples); i++)
		clen += unhex(samples[i], compound + clen, sizeof(compound) - clen);
	g_assert_cmpint(cardea_rtcp_validate(compound, clen, NULL), ==, CARDEA_RTCP_OK);
	for (size_t cut = 0; cut <= clen; cut++) {
		uint8_t *p = g_memdup2(compound, cut ? cut : 1);
		parse_everything(p, cut);
		g_free(p);
	}
	for (int round = 0; round < 20000; round++) {
		size_t start = (size_t)g_test_rand_int_range(0, (gint32)clen);
		size_t n = (size_t)g_test_rand_int_range(1, (gint32)(clen - start) + 1);
		uint8_t *p = g_memdup2(compound + start, n);
		int flips = g_test_rand_int_range(1, 8);
		for (int f = 0; f < flips; f++)
			p[g_test_rand_int_range(0, (gint32)n)] ^= (uint8_t)(1u << g_test_rand_int_range(0, 8));
		parse_everything(p, n);
		g_free(p);
	}
	/* TWCC bodies made of random chunks: bounded decode whatever they say. */
	for (int round = 0; round < 5000; round++) {
		uint8_t p[80];
		size_t n = 20 + 4 * (size_t)g_test_rand_int_range(0, 15);
		for (size_t i = 0; i < n; i++)
			p[i] = (uint8_t)g_test_rand_int_range(0, 256);
		p[0] = 0x8f;
		p[1] = CARDEA_RTCP_RTPFB;
		p[2] = 0;
		p[3] = (uint8_t)(n / 4 - 1);
		parse_everything(p, n);
	}
}

/* ---- Builder ---- */

static void test_builder(void) {
	uint8_t buf[128];
	cardea_rtcp_builder b;
	size_t room;
	uint8_t *p;
	/* Feedback first: an empty RR goes in front. */
	cardea_rtcp_builder_init(&b, buf, sizeof(buf), 0xaabbccdd, false);
	p = cardea_rtcp_builder_tail(&b);
	room = cardea_rtcp_builder_room(&b);
	g_assert_cmpuint(room, ==, sizeof(buf) - 8);
	g_assert_true(cardea_rtcp_builder_commit(&b, cardea_rtcp_write_pli(p, room, 0xaabbccdd, 0x11111111)));
	p = cardea_rtcp_builder_tail(&b);
	room = cardea_rtcp_builder_room(&b);
	uint32_t one = 0x22222222;
	g_assert_true(cardea_rtcp_builder_commit(&b, cardea_rtcp_write_remb(p, room, 0xaabbccdd, 500000, &one, 1)));
	size_t len = cardea_rtcp_builder_finish(&b);
	g_assert_cmpuint(len, ==, 8 + 12 + 24);
	uint8_t expect[44];
	unhex("80c90001 aabbccdd 81ce0002 aabbccdd 11111111"
		"8fce0005 aabbccdd 00000000 52454d42 01 07d090 22222222", expect, sizeof(expect));
	g_assert_cmpmem(buf, len, expect, sizeof(expect));
	unsigned count;
	g_assert_cmpint(cardea_rtcp_validate(buf, len, &count), ==, CARDEA_RTCP_OK);
	g_assert_cmpuint(count, ==, 3);
	/* A report first: nothing added. */
	cardea_rtcp_builder_init(&b, buf, sizeof(buf), 1, false);
	cardea_rtcp_rr rr = { .ssrc = 1 };
	p = cardea_rtcp_builder_tail(&b);
	room = cardea_rtcp_builder_room(&b);
	g_assert_true(cardea_rtcp_builder_commit(&b, cardea_rtcp_write_rr(p, room, &rr)));
	p = cardea_rtcp_builder_tail(&b);
	room = cardea_rtcp_builder_room(&b);
	g_assert_true(cardea_rtcp_builder_commit(&b, cardea_rtcp_write_pli(p, room, 1, 2)));
	g_assert_cmpuint(cardea_rtcp_builder_finish(&b), ==, 20);
	/* Reduced size: feedback alone. */
	cardea_rtcp_builder_init(&b, buf, sizeof(buf), 1, true);
	p = cardea_rtcp_builder_tail(&b);
	room = cardea_rtcp_builder_room(&b);
	g_assert_cmpuint(room, ==, sizeof(buf));
	g_assert_true(cardea_rtcp_builder_commit(&b, cardea_rtcp_write_pli(p, room, 1, 2)));
	g_assert_cmpuint(cardea_rtcp_builder_finish(&b), ==, 12);
	g_assert_cmphex(buf[1], ==, CARDEA_RTCP_PSFB);
	/* A writer that does not fit poisons the whole compound. */
	cardea_rtcp_builder_init(&b, buf, 24, 1, false);
	p = cardea_rtcp_builder_tail(&b);
	room = cardea_rtcp_builder_room(&b);
	g_assert_true(cardea_rtcp_builder_commit(&b, cardea_rtcp_write_pli(p, room, 1, 2)));
	p = cardea_rtcp_builder_tail(&b);
	room = cardea_rtcp_builder_room(&b);
	g_assert_cmpuint(room, ==, 4);
	g_assert_false(cardea_rtcp_builder_commit(&b, cardea_rtcp_write_pli(p, room, 1, 2)));
	g_assert_cmpuint(cardea_rtcp_builder_finish(&b), ==, 0);
	/* Too small even for the leading RR. */
	cardea_rtcp_builder_init(&b, buf, 12, 1, false);
	p = cardea_rtcp_builder_tail(&b);
	room = cardea_rtcp_builder_room(&b);
	g_assert_cmpuint(room, ==, 4);
	g_assert_false(cardea_rtcp_builder_commit(&b, cardea_rtcp_write_pli(p, room, 1, 2)));
	cardea_rtcp_builder_init(&b, NULL, 100, 1, false);
	p = cardea_rtcp_builder_tail(&b);
	room = cardea_rtcp_builder_room(&b);
	g_assert_null(p);
	g_assert_cmpuint(room, ==, 0);
	g_assert_cmpuint(cardea_rtcp_builder_finish(&b), ==, 0);
}

/* ---- NTP and statistics ---- */

static void test_ntp(void) {
	uint32_t sec, frac;
	cardea_ntp_from_unix_us(0, &sec, &frac);
	g_assert_cmpuint(sec, ==, 2208988800u);
	g_assert_cmpuint(frac, ==, 0);
	cardea_ntp_from_unix_us(1500000, &sec, &frac);
	g_assert_cmpuint(sec, ==, 2208988801u);
	g_assert_cmphex(frac, ==, 0x80000000);
	cardea_ntp_from_unix_us(1700000000LL * 1000000 + 250000, &sec, &frac);
	g_assert_cmpuint(sec, ==, 3908988800u);
	g_assert_cmphex(frac, ==, 0x40000000);
	g_assert_cmphex(cardea_ntp_mid(0x12345678, 0x9abcdef0), ==, 0x56789abc);
}

static void test_recv_stats(void) {
	cardea_rtp_recv_stats s;
	cardea_rtcp_report_block rb;
	cardea_rtp_recv_stats_init(&s, 0xabc, 90000);
	g_assert_false(cardea_rtp_recv_stats_report(&s, 0, &rb));
	/* Hand-computed with the A.8 integer form J += |D| - ((J + 8) >> 4),
	 * J kept << 4; arrival in RTP units is us * 90 / 1000. */
	cardea_rtp_recv_stats_update(&s, 100, 0, 1000, 1000000);      /* transit 90000 */
	cardea_rtp_recv_stats_update(&s, 101, 3000, 1000, 1040000);   /* 90600: D 600 -> J 600 */
	g_assert_cmpuint(s.jitter_q4, ==, 600);
	cardea_rtp_recv_stats_update(&s, 102, 6000, 1000, 1070000);   /* 90300: D 300 -> 862 */
	g_assert_cmpuint(s.jitter_q4, ==, 862);
	cardea_rtp_recv_stats_update(&s, 104, 12000, 500, 1135000);   /* 90150: D 150 -> 958 */
	g_assert_cmpuint(s.jitter_q4, ==, 958);
	g_assert_true(cardea_rtp_recv_stats_report(&s, 2000000, &rb));
	g_assert_cmphex(rb.ssrc, ==, 0xabc);
	g_assert_cmpuint(rb.ext_highest_seq, ==, 104);
	g_assert_cmpint(rb.cumulative_lost, ==, 1);
	g_assert_cmpuint(rb.fraction_lost, ==, 256 / 5);   /* 1 of 5 */
	g_assert_cmpuint(rb.jitter, ==, 958 >> 4);
	g_assert_cmpuint(rb.lsr, ==, 0);
	g_assert_cmpuint(rb.dlsr, ==, 0);
	g_assert_cmpuint(s.octets, ==, 3500);
	/* The late 103 and a duplicate: more received than expected in this
	 * interval -> fraction 0, cumulative loss may go to 0 or below. */
	cardea_rtp_recv_stats_update(&s, 103, 9000, 1000, 1140000);
	cardea_rtp_recv_stats_update(&s, 105, 15000, 1000, 1170000);
	cardea_rtp_recv_stats_update(&s, 105, 15000, 1000, 1171000);
	g_assert_cmpuint(s.reordered, ==, 1);
	/* A.8 on in-order packets only: 103 is skipped, 105 vs 104:
	 * 105300 - 15000 = 90300, D 150 -> 958 + 150 - 60 = 1048. */
	g_assert_cmpuint(s.jitter_q4, ==, 1048);
	/* An SR arrives; the report 0.5 s later carries LSR/DLSR. */
	cardea_rtp_recv_stats_on_sr(&s, 0x12345678, 0x9abcdef0, 3000000);
	g_assert_true(cardea_rtp_recv_stats_report(&s, 3500000, &rb));
	g_assert_cmpuint(rb.fraction_lost, ==, 0);
	g_assert_cmpint(rb.cumulative_lost, ==, -1);
	g_assert_cmpuint(rb.ext_highest_seq, ==, 105);
	g_assert_cmphex(rb.lsr, ==, 0x56789abc);
	g_assert_cmpuint(rb.dlsr, ==, 32768);
	/* An interval with 2 lost of 4: fraction 128. */
	cardea_rtp_recv_stats_update(&s, 107, 18000, 1, 1200000);
	cardea_rtp_recv_stats_update(&s, 109, 21000, 1, 1230000);
	g_assert_true(cardea_rtp_recv_stats_report(&s, 3600000, &rb));
	g_assert_cmpuint(rb.fraction_lost, ==, 128);
	g_assert_cmpint(rb.cumulative_lost, ==, 1);

	/* Wraparound: cycles counted in the extended highest seq. */
	cardea_rtp_recv_stats_init(&s, 1, 48000);
	for (uint32_t i = 0; i < 6; i++)
		cardea_rtp_recv_stats_update(&s, (uint16_t)(65533 + i), i * 960, 100, 20000 * i);
	g_assert_true(cardea_rtp_recv_stats_report(&s, 0, &rb));
	g_assert_cmpuint(rb.ext_highest_seq, ==, 65536 + 2);
	g_assert_cmpint(rb.cumulative_lost, ==, 0);
	g_assert_cmpuint(rb.jitter, ==, 0);  /* perfectly paced */
	g_assert_cmpuint(cardea_rtp_recv_stats_expected(&s), ==, 6);

	/* A.1 restart: one stray jump is ignored, two in a row restart. */
	cardea_rtp_recv_stats_init(&s, 1, 90000);
	cardea_rtp_recv_stats_update(&s, 10, 0, 1, 0);
	cardea_rtp_recv_stats_update(&s, 11, 0, 1, 0);
	cardea_rtp_recv_stats_update(&s, 20000, 0, 1, 0);  /* stray */
	g_assert_cmpuint(s.received, ==, 2);
	g_assert_cmpuint(s.max_seq, ==, 11);
	cardea_rtp_recv_stats_update(&s, 12, 0, 1, 0);
	cardea_rtp_recv_stats_update(&s, 30000, 0, 1, 0);
	cardea_rtp_recv_stats_update(&s, 30001, 0, 1, 0);  /* continues: restart */
	g_assert_cmpuint(s.restarts, ==, 1);
	g_assert_cmpuint(s.base_seq, ==, 30001);
	g_assert_cmpuint(s.received, ==, 1);
	g_assert_true(cardea_rtp_recv_stats_report(&s, 0, &rb));
	g_assert_cmpint(rb.cumulative_lost, ==, 0);
	g_assert_cmpuint(rb.ext_highest_seq, ==, 30001);
}

static void test_send_stats(void) {
	cardea_rtp_send_stats s;
	cardea_rtcp_sr sr;
	cardea_rtp_send_stats_init(&s, 0x1234, 90000);
	g_assert_cmpint(s.rtt_us, ==, -1);
	cardea_rtp_send_stats_update(&s, 1000, 100, 10000000);
	cardea_rtp_send_stats_update(&s, 4000, 200, 10033000);
	cardea_rtp_send_stats_update(&s, 1000, 100, 10040000);  /* a resend: old timestamp */
	int64_t wall = 1700000000LL * 1000000 + 250000;
	cardea_rtp_send_stats_build_sr(&s, 10133000, wall, &sr);
	g_assert_cmphex(sr.ssrc, ==, 0x1234);
	g_assert_cmpuint(sr.packet_count, ==, 3);
	g_assert_cmpuint(sr.octet_count, ==, 400);
	/* 100 ms after ts 4000 was sent, at 90 kHz. */
	g_assert_cmpuint(sr.rtp_ts, ==, 4000 + 9000);
	g_assert_cmpuint(sr.ntp_sec, ==, 3908988800u);
	g_assert_cmphex(sr.ntp_frac, ==, 0x40000000);
	uint32_t mid = cardea_ntp_mid(sr.ntp_sec, sr.ntp_frac);
	/* The peer held the SR for 0.1 s (6553/65536 s = 99990 us) and its RR
	 * arrives 150 ms after we sent the SR: RTT 50010 us. */
	cardea_rtcp_report_block rb = { .ssrc = 0x1234, .fraction_lost = 12, .cumulative_lost = 3,
		.ext_highest_seq = 5, .jitter = 40, .lsr = mid, .dlsr = 6553 };
	g_assert_true(cardea_rtp_send_stats_on_report(&s, &rb, 10133000 + 150000));
	g_assert_cmpint(s.rtt_us, ==, 50010);
	g_assert_cmpuint(s.fraction_lost, ==, 12);
	g_assert_cmpint(s.cumulative_lost, ==, 3);
	g_assert_cmpuint(s.jitter, ==, 40);
	/* Unknown LSR or none: no sample, the old RTT stays. */
	rb.lsr = mid + 1;
	g_assert_false(cardea_rtp_send_stats_on_report(&s, &rb, 10500000));
	rb.lsr = 0;
	g_assert_false(cardea_rtp_send_stats_on_report(&s, &rb, 10500000));
	g_assert_cmpint(s.rtt_us, ==, 50010);
	/* An RR naming an older SR (still in the history) works too; a DLSR
	 * larger than the elapsed time gives 0, not a negative RTT. */
	cardea_rtp_send_stats_build_sr(&s, 11133000, wall + 1000000, &sr);
	rb.lsr = mid;
	rb.dlsr = 65536;
	g_assert_true(cardea_rtp_send_stats_on_report(&s, &rb, 10133000 + 200000));
	g_assert_cmpint(s.rtt_us, ==, 0);
	/* The history holds CARDEA_RTCP_SR_HISTORY SRs. */
	for (int i = 0; i < CARDEA_RTCP_SR_HISTORY; i++)
		cardea_rtp_send_stats_build_sr(&s, 12000000 + i, wall + 2000000 + i * 1000000, &sr);
	rb.dlsr = 0;
	g_assert_false(cardea_rtp_send_stats_on_report(&s, &rb, 13000000));
	/* Before any packet an SR still has a valid NTP time and zero counts. */
	cardea_rtp_send_stats_init(&s, 1, 48000);
	cardea_rtp_send_stats_build_sr(&s, 5, wall, &sr);
	g_assert_cmpuint(sr.rtp_ts, ==, 0);
	g_assert_cmpuint(sr.packet_count, ==, 0);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/rtcp/compound/chrome", test_chrome_compound);
	g_test_add_func("/rtcp/compound/broken", test_broken_compound);
	g_test_add_func("/rtcp/compound/zero-length", test_zero_length_walk);
	g_test_add_func("/rtcp/compound/broken-bodies", test_broken_bodies);
	g_test_add_func("/rtcp/compound/truncation-mutation", test_truncation_mutation);
	g_test_add_func("/rtcp/sr-rr", test_sr_rr);
	g_test_add_func("/rtcp/sdes-bye", test_sdes_bye);
	g_test_add_func("/rtcp/fb/nack", test_nack);
	g_test_add_func("/rtcp/fb/pli-fir", test_pli_fir);
	g_test_add_func("/rtcp/fb/remb", test_remb);
	g_test_add_func("/rtcp/twcc/parse-vector", test_twcc_parse_vector);
	g_test_add_func("/rtcp/twcc/write-vector", test_twcc_write_vector);
	g_test_add_func("/rtcp/twcc/roundtrip", test_twcc_roundtrip);
	g_test_add_func("/rtcp/twcc/chunks", test_twcc_chunks);
	g_test_add_func("/rtcp/builder", test_builder);
	g_test_add_func("/rtcp/ntp", test_ntp);
	g_test_add_func("/rtcp/stats/recv", test_recv_stats);
	g_test_add_func("/rtcp/stats/send", test_send_stats);
	return g_test_run();
}
