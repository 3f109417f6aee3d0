/* Unit tests for core/webrtc/srtp-fast.c: the OpenSSL RTP protect must give
 * exactly libsrtp's bytes (same keys, same packets, same order), and what it
 * protects must unprotect with libsrtp. */
#include <string.h>
#include <glib.h>
#include "webrtc/srtp.h"

static const char *suites[] = { "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM" };

typedef struct pkt_spec {
	guint32 ssrc;
	guint16 seq;
	guint csrcs;
	gboolean ext;
	gsize payload;
} pkt_spec;

static gsize build(guint8 *buf, const pkt_spec *p, guint32 ts) {
	gsize n = 12;
	buf[0] = 0x80 | (p->ext ? 0x10 : 0) | p->csrcs;
	buf[1] = 96;
	buf[2] = p->seq >> 8;
	buf[3] = p->seq & 0xff;
	buf[4] = ts >> 24; buf[5] = ts >> 16; buf[6] = ts >> 8; buf[7] = ts;
	buf[8] = p->ssrc >> 24; buf[9] = p->ssrc >> 16; buf[10] = p->ssrc >> 8; buf[11] = p->ssrc;
	for (guint i = 0; i < p->csrcs; i++, n += 4)
		memset(buf + n, 0x10 + i, 4);
	if (p->ext) {
		/* one-byte extension, 2 words */
		static const guint8 e[] = { 0xbe, 0xde, 0, 2, 0x10, 0xaa, 0x21, 0x01, 0x02, 0, 0, 0 };
		memcpy(buf + n, e, sizeof(e));
		n += sizeof(e);
	}
	for (gsize i = 0; i < p->payload; i++)
		buf[n++] = (guint8)(i * 7 + p->seq);
	return n;
}

/* Protects `p` with both contexts and compares; then unprotects the fast
 * output with rx (libsrtp). Returns the protect result. */
static cardea_srtp_result both(cardea_srtp *fast, cardea_srtp *ref, cardea_srtp *rx, const pkt_spec *p,
		gboolean expect_rx) {
	guint8 a[1600], b[1600];
	gsize la = build(a, p, 1000u * p->seq), lb = build(b, p, 1000u * p->seq), plain = la;
	guint8 orig[1600];
	memcpy(orig, a, la);
	cardea_srtp_result ra = cardea_srtp_protect_rtp(fast, a, &la, sizeof(a));
	cardea_srtp_result rb = cardea_srtp_protect_rtp(ref, b, &lb, sizeof(b));
	g_assert_cmpint(ra, ==, rb);
	if (ra != CARDEA_SRTP_OK)
		return ra;
	g_assert_cmpuint(la, ==, lb);
	g_assert_true(memcmp(a, b, la) == 0);
	g_assert_cmpuint(la, >, plain);
	if (expect_rx) {
		g_assert_cmpint(cardea_srtp_unprotect_rtp(rx, a, &la), ==, CARDEA_SRTP_OK);
		g_assert_cmpuint(la, ==, plain);
		g_assert_true(memcmp(a, orig, plain) == 0);
	}
	return ra;
}

static void test_same_bytes(void) {
	guint8 key[30];
	for (guint i = 0; i < sizeof(key); i++)
		key[i] = (guint8)(i * 13 + 5);
	for (guint si = 0; si < G_N_ELEMENTS(suites); si++) {
		cardea_srtp_suite suite = cardea_srtp_suite_from_name(suites[si]);
		if (suite == CARDEA_SRTP_AEAD_AES_128_GCM && !cardea_srtp_gcm_supported())
			continue;   /* libsrtp has no reference to compare with */
		GError *err = NULL;
		cardea_srtp *fast = cardea_srtp_new(suite, key, NULL, &err);
		g_assert_no_error(err);
		cardea_srtp *ref = cardea_srtp_new(suite, key, NULL, &err);
		g_assert_no_error(err);
		cardea_srtp_set_fast(ref, FALSE);
		cardea_srtp *rx = cardea_srtp_new(suite, NULL, key, &err);
		g_assert_no_error(err);
		/* In order across a sequence number wrap (the ROC goes to 1),
		 * with CSRCs, an extension and an empty payload. */
		pkt_spec p = { .ssrc = 0x11223344, .payload = 160 };
		guint16 seq = 65000;
		for (guint i = 0; i < 2000; i++, seq++) {
			p.seq = seq;
			p.csrcs = i % 5 == 0 ? 2 : 0;
			p.ext = i % 3 == 0;
			p.payload = i % 97 == 0 ? 0 : 100 + i % 1100;
			g_assert_cmpint(both(fast, ref, rx, &p, TRUE), ==, CARDEA_SRTP_OK);
		}
		/* A second SSRC starting low (ROC 0, the "below the median" case),
		 * interleaved with the first. */
		pkt_spec q = { .ssrc = 0xdeadbeef, .payload = 50 };
		for (guint i = 0; i < 300; i++) {
			q.seq = (guint16)(3 + i);
			g_assert_cmpint(both(fast, ref, rx, &q, TRUE), ==, CARDEA_SRTP_OK);
			p.seq = seq++;
			g_assert_cmpint(both(fast, ref, rx, &p, TRUE), ==, CARDEA_SRTP_OK);
		}
		/* NACK answers without RTX: the same seq again (allowed on send), a
		 * seq behind the wrap (ROC - 1), and one beyond the window (refused
		 * by both). The receiver rejects the repeats as replays, so skip it. */
		p.seq = (guint16)(seq - 5);
		g_assert_cmpint(both(fast, ref, rx, &p, FALSE), ==, CARDEA_SRTP_OK);
		pkt_spec w = { .ssrc = 0x55555555, .seq = 65530, .payload = 20 };
		for (guint i = 0; i < 10; i++, w.seq++)
			g_assert_cmpint(both(fast, ref, rx, &w, TRUE), ==, CARDEA_SRTP_OK);
		w.seq = 65533;   /* before the wrap: ROC 0 while the stream is at ROC 1 */
		g_assert_cmpint(both(fast, ref, rx, &w, FALSE), ==, CARDEA_SRTP_OK);
		p.seq = (guint16)(seq - 1500);
		g_assert_cmpint(both(fast, ref, rx, &p, FALSE), ==, CARDEA_SRTP_ERR_REPLAY);
		/* More SSRCs than the fast table holds: the rest go through libsrtp
		 * on the same context, still the same bytes. */
		for (guint k = 0; k < 60; k++) {
			pkt_spec r = { .ssrc = 0x70000000 + k, .seq = (guint16)(k * 1000), .payload = 30 };
			for (guint i = 0; i < 3; i++, r.seq++)
				g_assert_cmpint(both(fast, ref, rx, &r, TRUE), ==, CARDEA_SRTP_OK);
		}
		cardea_srtp_stats st;
		cardea_srtp_get_stats(fast, &st);
		g_assert_cmpuint(st.rtp_out.replays, ==, 1);   /* the packet beyond the window */
		g_assert_cmpuint(st.rtp_out.errors, ==, 0);
		g_assert_cmpuint(st.rtp_out.ok, >, 2500);
		cardea_srtp_free(fast);
		cardea_srtp_free(ref);
		cardea_srtp_free(rx);
	}
}

/* Too small a buffer and a malformed header are refused before any crypto. */
static void test_bounds(void) {
	guint8 key[30] = { 1 }, buf[64];
	cardea_srtp *s = cardea_srtp_new(CARDEA_SRTP_AES128_CM_SHA1_80, key, NULL, NULL);
	g_assert_nonnull(s);
	pkt_spec p = { .ssrc = 1, .seq = 1, .payload = 40 };
	gsize len = build(buf, &p, 0);
	g_assert_cmpint(cardea_srtp_protect_rtp(s, buf, &len, len + 9), ==, CARDEA_SRTP_ERR_NO_SPACE);
	buf[0] = 0x40;   /* version 1 */
	g_assert_cmpint(cardea_srtp_protect_rtp(s, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_ERR_INVALID);
	cardea_srtp_free(s);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/srtp/fast/same-bytes-as-libsrtp", test_same_bytes);
	g_test_add_func("/srtp/fast/bounds", test_bounds);
	return g_test_run();
}
