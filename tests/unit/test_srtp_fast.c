/* Unit tests for the OpenSSL SRTCP protect and SRTP/SRTCP unprotect of
 * core/webrtc/srtp-fast.c against libsrtp: every packet goes through a
 * fast context and a libsrtp one (cardea_srtp_set_fast(FALSE)) with the same
 * key; protect must give the same bytes, unprotect the same verdict and the
 * same plaintext. Also prints the memory per context and the unprotect cost,
 * fast against libsrtp (figures only, nothing asserted on them). */
#include <string.h>
#include <time.h>
#include <malloc.h>
#include <glib.h>
#include <srtp2/srtp.h>
#include "webrtc/srtp.h"

static const char *suites[] = { "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM" };

#define PKT_MAX 1400

typedef struct pkt {
	guint8 b[PKT_MAX];
	gsize len;
} pkt;

/* Four contexts with one key: fast and libsrtp, each direction. */
typedef struct quad {
	cardea_srtp *ftx, *ltx, *frx, *lrx;
} quad;

static gboolean quad_new(quad *q, guint si) {
	cardea_srtp_suite suite = cardea_srtp_suite_from_name(suites[si]);
	guint8 key[30];
	for (guint i = 0; i < sizeof(key); i++)
		key[i] = (guint8)(i * 29 + 3 + si);
	GError *err = NULL;
	g_assert_true(cardea_srtp_global_init(&err));
	if (suite == CARDEA_SRTP_AEAD_AES_128_GCM && !cardea_srtp_gcm_supported()) {
		g_test_message("libsrtp without GCM: no reference for %s", suites[si]);
		return FALSE;
	}
	q->ftx = cardea_srtp_new(suite, key, NULL, &err);
	g_assert_no_error(err);
	q->ltx = cardea_srtp_new(suite, key, NULL, &err);
	g_assert_no_error(err);
	q->frx = cardea_srtp_new(suite, NULL, key, &err);
	g_assert_no_error(err);
	q->lrx = cardea_srtp_new(suite, NULL, key, &err);
	g_assert_no_error(err);
	cardea_srtp_set_fast(q->ltx, FALSE);
	cardea_srtp_set_fast(q->lrx, FALSE);
	return TRUE;
}

static void quad_free(quad *q) {
	cardea_srtp_free(q->ftx);
	cardea_srtp_free(q->ltx);
	cardea_srtp_free(q->frx);
	cardea_srtp_free(q->lrx);
}

static void rtp_build(pkt *p, guint32 ssrc, guint16 seq, gsize payload, gboolean ext) {
	guint8 *b = p->b;
	gsize n = 12;
	b[0] = 0x80 | (ext ? 0x10 : 0);
	b[1] = 111;
	b[2] = seq >> 8;
	b[3] = seq & 0xff;
	guint32 ts = seq * 960u;
	b[4] = ts >> 24; b[5] = ts >> 16; b[6] = ts >> 8; b[7] = ts;
	b[8] = ssrc >> 24; b[9] = ssrc >> 16; b[10] = ssrc >> 8; b[11] = ssrc;
	if (ext) {
		static const guint8 e[] = { 0xbe, 0xde, 0, 1, 0x10, 0x7f, 0, 0 };
		memcpy(b + n, e, sizeof(e));
		n += sizeof(e);
	}
	for (gsize i = 0; i < payload; i++)
		b[n++] = (guint8)(i * 11 + seq + ssrc);
	p->len = n;
}

/* A receiver report with one block plus some padding-free body. */
static void rtcp_build(pkt *p, guint32 ssrc, guint n, gsize body) {
	guint8 *b = p->b;
	gsize len = 8 + body;
	b[0] = 0x81;
	b[1] = 201;
	b[2] = (guint8)(((len / 4) - 1) >> 8);
	b[3] = (guint8)((len / 4) - 1);
	b[4] = ssrc >> 24; b[5] = ssrc >> 16; b[6] = ssrc >> 8; b[7] = ssrc;
	for (gsize i = 0; i < body; i++)
		b[8 + i] = (guint8)(i * 5 + n);
	p->len = len;
}

/* Protects p in place with both senders; the bytes must be equal. */
static void send_both(quad *q, pkt *p, gboolean rtcp) {
	pkt ref = *p;
	cardea_srtp_result ra = rtcp ? cardea_srtp_protect_rtcp(q->ftx, p->b, &p->len, PKT_MAX) :
		cardea_srtp_protect_rtp(q->ftx, p->b, &p->len, PKT_MAX);
	cardea_srtp_result rb = rtcp ? cardea_srtp_protect_rtcp(q->ltx, ref.b, &ref.len, PKT_MAX) :
		cardea_srtp_protect_rtp(q->ltx, ref.b, &ref.len, PKT_MAX);
	g_assert_cmpint(ra, ==, CARDEA_SRTP_OK);
	g_assert_cmpint(rb, ==, CARDEA_SRTP_OK);
	g_assert_cmpuint(p->len, ==, ref.len);
	g_assert_true(memcmp(p->b, ref.b, p->len) == 0);
}

/* Unprotects copies of p with both receivers: same verdict, and on success
 * the same plaintext, equal to `plain` when given. */
static void recv_both(quad *q, const pkt *p, gboolean rtcp, cardea_srtp_result expect, const pkt *plain) {
	pkt a = *p, b = *p;
	cardea_srtp_result ra = rtcp ? cardea_srtp_unprotect_rtcp(q->frx, a.b, &a.len) :
		cardea_srtp_unprotect_rtp(q->frx, a.b, &a.len);
	cardea_srtp_result rb = rtcp ? cardea_srtp_unprotect_rtcp(q->lrx, b.b, &b.len) :
		cardea_srtp_unprotect_rtp(q->lrx, b.b, &b.len);
	g_assert_cmpint(rb, ==, expect);
	g_assert_cmpint(ra, ==, expect);
	if (expect != CARDEA_SRTP_OK)
		return;
	g_assert_cmpuint(a.len, ==, b.len);
	g_assert_true(memcmp(a.b, b.b, a.len) == 0);
	if (plain) {
		g_assert_cmpuint(a.len, ==, plain->len);
		g_assert_true(memcmp(a.b, plain->b, a.len) == 0);
	}
}

/* Both counters sets must agree: the fast path counts as libsrtp does. */
static void stats_equal(cardea_srtp *a, cardea_srtp *b) {
	cardea_srtp_stats sa, sb;
	cardea_srtp_get_stats(a, &sa);
	cardea_srtp_get_stats(b, &sb);
	g_assert_true(memcmp(&sa, &sb, sizeof(sa)) == 0);
}

/* Several SSRCs, RTP across the 16-bit wrap and across the median, each
 * block of 16 delivered shuffled, SRTCP interleaved and sometimes late. */
static void test_interop(void) {
	for (guint si = 0; si < G_N_ELEMENTS(suites); si++) {
		quad q;
		if (!quad_new(&q, si))
			continue;
		GRand *rnd = g_rand_new_with_seed(42 + si);
		static const guint32 ssrcs[] = { 0x01020304, 0xa1b2c3d4, 0x00000007 };
		static const guint16 starts[] = { 65200, 32700, 0 };
		guint16 seq[3];
		memcpy(seq, starts, sizeof(seq));
		guint rtcp_n = 0;
		pkt *block = g_new(pkt, 16), *plain = g_new(pkt, 16);
		for (guint round = 0; round < 60; round++) {
			for (guint k = 0; k < G_N_ELEMENTS(ssrcs); k++) {
				for (guint i = 0; i < 16; i++) {
					rtp_build(&plain[i], ssrcs[k], seq[k]++, (i * 37 + round) % 1200, i % 3 == 0);
					block[i] = plain[i];
					send_both(&q, &block[i], FALSE);
				}
				guint order[16];
				for (guint i = 0; i < 16; i++)
					order[i] = i;
				for (guint i = 15; i > 0; i--) {
					guint j = (guint)g_rand_int_range(rnd, 0, (gint32)i + 1);
					guint t = order[i]; order[i] = order[j]; order[j] = t;
				}
				for (guint i = 0; i < 16; i++)
					recv_both(&q, &block[order[i]], FALSE, CARDEA_SRTP_OK, &plain[order[i]]);
				/* SRTCP: two reports, delivered in reverse order. */
				pkt r[2], rp[2];
				for (guint i = 0; i < 2; i++) {
					rtcp_build(&rp[i], ssrcs[k], rtcp_n++, 4 * (1 + (round + i) % 40));
					r[i] = rp[i];
					send_both(&q, &r[i], TRUE);
				}
				recv_both(&q, &r[1], TRUE, CARDEA_SRTP_OK, &rp[1]);
				recv_both(&q, &r[0], TRUE, CARDEA_SRTP_OK, &rp[0]);
			}
		}
		stats_equal(q.frx, q.lrx);
		stats_equal(q.ftx, q.ltx);
		cardea_srtp_stats st;
		cardea_srtp_get_stats(q.frx, &st);
		g_assert_cmpuint(st.rtp_in.ok, ==, 60 * 3 * 16);
		g_assert_cmpuint(st.rtcp_in.ok, ==, 60 * 3 * 2);
		g_free(block);
		g_free(plain);
		g_rand_free(rnd);
		quad_free(&q);
	}
}

/* Tampering, replays, the window edges, and a forgery that would move the
 * rollover counter if state moved before authentication. */
static void test_reject(void) {
	for (guint si = 0; si < G_N_ELEMENTS(suites); si++) {
		quad q;
		if (!quad_new(&q, si))
			continue;
		const guint32 ssrc = 0xcafe0001;
		/* A forged first packet must not create the stream. */
		pkt p, plain;
		rtp_build(&plain, ssrc, 65000, 100, FALSE);
		p = plain;
		send_both(&q, &p, FALSE);
		pkt bad = p;
		bad.b[bad.len - 1] ^= 1;
		recv_both(&q, &bad, FALSE, CARDEA_SRTP_ERR_AUTH, NULL);
		recv_both(&q, &p, FALSE, CARDEA_SRTP_OK, &plain);
		/* Tampered tag, payload, header. */
		pkt *store = g_new(pkt, 1100);
		guint16 seq = 65001;
		for (guint i = 0; i < 1100; i++) {
			rtp_build(&store[i], ssrc, seq++, 40, FALSE);
			send_both(&q, &store[i], FALSE);
		}
		for (guint w = 0; w < 3; w++) {
			bad = store[0];
			gsize at = w == 0 ? bad.len - 1 : w == 1 ? 20 : 1;
			bad.b[at] ^= 0x40;
			recv_both(&q, &bad, FALSE, CARDEA_SRTP_ERR_AUTH, NULL);
		}
		recv_both(&q, &store[0], FALSE, CARDEA_SRTP_OK, NULL);
		recv_both(&q, &store[0], FALSE, CARDEA_SRTP_ERR_REPLAY, NULL);   /* exact replay */
		/* At seq 65001 (ROC 0), forgeries at seq 65 and 29465 estimate ROC 1
		 * ahead: they fail, and had they moved the ROC the next genuine
		 * packet (65002) would now be "too old". */
		static const guint16 offs[] = { 600, 30000 };
		for (guint i = 0; i < G_N_ELEMENTS(offs); i++) {
			bad = store[0];
			guint16 s2 = (guint16)(65001 + offs[i]);
			bad.b[2] = s2 >> 8;
			bad.b[3] = s2 & 0xff;
			recv_both(&q, &bad, FALSE, CARDEA_SRTP_ERR_AUTH, NULL);
		}
		recv_both(&q, &store[1], FALSE, CARDEA_SRTP_OK, NULL);
		/* Jump to the last (past the wrap: ROC 1), then the window edge:
		 * 1023 behind is accepted, 1024 behind is too old. */
		recv_both(&q, &store[1099], FALSE, CARDEA_SRTP_OK, NULL);
		recv_both(&q, &store[1099 - 1023], FALSE, CARDEA_SRTP_OK, NULL);
		recv_both(&q, &store[1099 - 1023], FALSE, CARDEA_SRTP_ERR_REPLAY, NULL);
		recv_both(&q, &store[1099 - 1024], FALSE, CARDEA_SRTP_ERR_REPLAY, NULL);
		recv_both(&q, &store[1], FALSE, CARDEA_SRTP_ERR_REPLAY, NULL);
		/* Genuine packets keep flowing after all that. */
		for (guint i = 0; i < 20; i++) {
			pkt pl;
			rtp_build(&pl, ssrc, seq++, 60, FALSE);
			p = pl;
			send_both(&q, &p, FALSE);
			recv_both(&q, &p, FALSE, CARDEA_SRTP_OK, &pl);
		}
		/* The window moves by more than a word: the marks must move with it. */
		static const struct { guint i; cardea_srtp_result r; } steps[] = {
			{ 0, CARDEA_SRTP_OK }, { 150, CARDEA_SRTP_OK }, { 0, CARDEA_SRTP_ERR_REPLAY },
			{ 1, CARDEA_SRTP_OK }, { 1, CARDEA_SRTP_ERR_REPLAY }, { 100, CARDEA_SRTP_OK },
			/* 100's mark goes from bit 50 to 60 to 70, across a word. */
			{ 160, CARDEA_SRTP_OK }, { 170, CARDEA_SRTP_OK }, { 100, CARDEA_SRTP_ERR_REPLAY },
			{ 299, CARDEA_SRTP_OK }, { 0, CARDEA_SRTP_ERR_REPLAY }, { 150, CARDEA_SRTP_ERR_REPLAY },
			{ 2, CARDEA_SRTP_OK }, { 149, CARDEA_SRTP_OK }, { 149, CARDEA_SRTP_ERR_REPLAY },
		};
		for (guint i = 0; i < 300; i++) {
			rtp_build(&store[i], ssrc, seq++, 30, FALSE);
			send_both(&q, &store[i], FALSE);
		}
		for (guint i = 0; i < G_N_ELEMENTS(steps); i++)
			recv_both(&q, &store[steps[i].i], FALSE, steps[i].r, NULL);
		/* SRTCP: tampered header, payload, trailer index, tag. */
		for (guint i = 0; i < 130; i++) {
			rtcp_build(&store[i], ssrc, i, 24);
			send_both(&q, &store[i], TRUE);
		}
		for (guint w = 0; w < 4; w++) {
			bad = store[0];
			gsize trailer = G_N_ELEMENTS(suites) - 1 == si ? bad.len - 4 : bad.len - 14;
			gsize at = w == 0 ? 1 : w == 1 ? 12 : w == 2 ? trailer + 3 : bad.len - 2;
			bad.b[at] ^= 0x08;
			recv_both(&q, &bad, TRUE, CARDEA_SRTP_ERR_AUTH, NULL);
		}
		recv_both(&q, &store[0], TRUE, CARDEA_SRTP_OK, NULL);
		recv_both(&q, &store[0], TRUE, CARDEA_SRTP_ERR_REPLAY, NULL);
		/* Index 130, then 2 (128 behind: too old) and 3 (127: fine). */
		recv_both(&q, &store[129], TRUE, CARDEA_SRTP_OK, NULL);
		recv_both(&q, &store[1], TRUE, CARDEA_SRTP_ERR_REPLAY, NULL);
		recv_both(&q, &store[2], TRUE, CARDEA_SRTP_OK, NULL);
		recv_both(&q, &store[2], TRUE, CARDEA_SRTP_ERR_REPLAY, NULL);
		/* Indexes 131..260: moves by more than a word, and a mark carried
		 * across a word (191: bit 39, then 69). */
		for (guint i = 0; i < 130; i++) {
			rtcp_build(&store[i], ssrc, i, 16);
			send_both(&q, &store[i], TRUE);
		}
		static const struct { guint i; cardea_srtp_result r; } rsteps[] = {
			{ 0, CARDEA_SRTP_OK }, { 70, CARDEA_SRTP_OK }, { 0, CARDEA_SRTP_ERR_REPLAY },
			{ 1, CARDEA_SRTP_OK }, { 99, CARDEA_SRTP_OK }, { 60, CARDEA_SRTP_OK },
			{ 129, CARDEA_SRTP_OK }, { 60, CARDEA_SRTP_ERR_REPLAY }, { 0, CARDEA_SRTP_ERR_REPLAY },
			{ 1, CARDEA_SRTP_ERR_REPLAY }, { 2, CARDEA_SRTP_OK },
		};
		for (guint i = 0; i < G_N_ELEMENTS(rsteps); i++)
			recv_both(&q, &store[rsteps[i].i], TRUE, rsteps[i].r, NULL);
		/* Too short for a trailer: refused before any crypto. */
		bad = store[5];
		bad.len = 8 + 4;
		recv_both(&q, &bad, TRUE, CARDEA_SRTP_ERR_INVALID, NULL);
		stats_equal(q.frx, q.lrx);
		cardea_srtp_stats st;
		cardea_srtp_get_stats(q.frx, &st);
		g_assert_cmpuint(st.rtp_in.auth_failures, ==, 6);
		g_assert_cmpuint(st.rtp_in.replays, ==, 10);
		g_assert_cmpuint(st.rtcp_in.auth_failures, ==, 4);
		g_assert_cmpuint(st.rtcp_in.replays, ==, 7);
		g_assert_cmpuint(st.rtcp_in.errors, ==, 1);
		g_free(store);
		quad_free(&q);
	}
}

/* More SSRCs than the fast tables hold: the rest go through a libsrtp
 * session created on the spot, in both directions, and still interoperate. */
static void test_overflow(void) {
	for (guint si = 0; si < G_N_ELEMENTS(suites); si++) {
		quad q;
		if (!quad_new(&q, si))
			continue;
		for (guint round = 0; round < 3; round++) {
			for (guint k = 0; k < 70; k++) {
				guint32 ssrc = 0x40000000 + k * 7919;
				pkt p, pl;
				rtp_build(&pl, ssrc, (guint16)(k * 900 + round), 80, FALSE);
				p = pl;
				send_both(&q, &p, FALSE);
				recv_both(&q, &p, FALSE, CARDEA_SRTP_OK, &pl);
				if (round == 1)
					recv_both(&q, &p, FALSE, CARDEA_SRTP_ERR_REPLAY, NULL);
				rtcp_build(&pl, ssrc, k, 32);
				p = pl;
				send_both(&q, &p, TRUE);
				recv_both(&q, &p, TRUE, CARDEA_SRTP_OK, &pl);
			}
		}
		stats_equal(q.frx, q.lrx);
		stats_equal(q.ftx, q.ltx);
		quad_free(&q);
	}
}

/* SRTCP without encryption (E clear), which our senders never produce:
 * made with libsrtp directly, on an authentication-only RTCP policy. libsrtp
 * honours the flag for GCM but refuses it for AES-CM ("can't check"): the
 * fast path must give the same verdicts. */
static void test_rtcp_unencrypted(void) {
	for (guint si = 0; si < G_N_ELEMENTS(suites); si++) {
		quad q;
		if (!quad_new(&q, si))
			continue;
		gboolean gcm = si == 2;
		guint8 key[30];
		for (guint i = 0; i < sizeof(key); i++)
			key[i] = (guint8)(i * 29 + 3 + si);
		srtp_policy_t pol;
		memset(&pol, 0, sizeof(pol));
		if (gcm) {
			srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
			srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
		} else {
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
		}
		pol.rtcp.sec_serv = sec_serv_auth;
		pol.ssrc.type = ssrc_any_outbound;
		pol.key = key;
		pol.window_size = 1024;
		srtp_t tx = NULL;
		g_assert_cmpint(srtp_create(&tx, &pol), ==, srtp_err_status_ok);
		for (guint i = 0; i < 5; i++) {
			pkt pl, p;
			rtcp_build(&pl, 0x99990000 + (i % 2), i, 20 + 4 * i);
			p = pl;
			int n = (int)p.len;
			g_assert_cmpint(srtp_protect_rtcp(tx, p.b, &n), ==, srtp_err_status_ok);
			p.len = (gsize)n;
			gsize trailer = gcm ? p.len - 4 : p.len - 14;
			g_assert_cmpint(p.b[trailer] & 0x80, ==, 0);
			g_assert_true(memcmp(p.b, pl.b, pl.len) == 0);   /* in clear */
			pkt bad = p;
			bad.b[10] ^= 1;
			recv_both(&q, &bad, TRUE, gcm ? CARDEA_SRTP_ERR_AUTH : CARDEA_SRTP_ERR_FAILED, NULL);
			bad = p;
			bad.b[trailer] |= 0x80;   /* claims encryption: the E bit is authenticated */
			recv_both(&q, &bad, TRUE, CARDEA_SRTP_ERR_AUTH, NULL);
			recv_both(&q, &p, TRUE, gcm ? CARDEA_SRTP_OK : CARDEA_SRTP_ERR_FAILED, &pl);
			recv_both(&q, &p, TRUE, gcm ? CARDEA_SRTP_ERR_REPLAY : CARDEA_SRTP_ERR_FAILED, NULL);
		}
		stats_equal(q.frx, q.lrx);
		srtp_dealloc(tx);
		quad_free(&q);
	}
}

/* Heap in use, in bytes (glibc's count; meaningless under ASan). */
static gsize heap_used(void) {
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

#define MEM_N 100

/* Bytes per context with both keys, created only and after one packet of
 * four SSRCs each way (the streams libsrtp clones, our table entries). */
static void mem_measure(guint si, gboolean libsrtp, double *created, double *used) {
	cardea_srtp_suite suite = cardea_srtp_suite_from_name(suites[si]);
	guint8 key[30] = { 7 };
	if (libsrtp)
		g_setenv("CARDEA_SRTP_LIBSRTP", "1", TRUE);
	cardea_srtp **v = g_new0(cardea_srtp *, MEM_N);
	cardea_srtp *peer = cardea_srtp_new(suite, key, key, NULL);
	gsize before = heap_used();
	for (guint i = 0; i < MEM_N; i++)
		v[i] = cardea_srtp_new(suite, key, key, NULL);
	gsize mid = heap_used();
	for (guint i = 0; i < MEM_N; i++) {
		for (guint k = 0; k < 4; k++) {
			pkt p;
			rtp_build(&p, 100 + k, (guint16)(i + 1), 100, FALSE);
			g_assert_cmpint(cardea_srtp_protect_rtp(v[i], p.b, &p.len, PKT_MAX), ==, CARDEA_SRTP_OK);
			rtp_build(&p, 200 + k, (guint16)(i + 1), 100, FALSE);
			g_assert_cmpint(cardea_srtp_protect_rtp(peer, p.b, &p.len, PKT_MAX), ==, CARDEA_SRTP_OK);
			g_assert_cmpint(cardea_srtp_unprotect_rtp(v[i], p.b, &p.len), ==, CARDEA_SRTP_OK);
		}
	}
	gsize after = heap_used();
	*created = ((double)mid - (double)before) / MEM_N;
	*used = ((double)after - (double)before) / MEM_N;
	for (guint i = 0; i < MEM_N; i++)
		cardea_srtp_free(v[i]);
	cardea_srtp_free(peer);
	g_free(v);
	g_unsetenv("CARDEA_SRTP_LIBSRTP");
}

static void test_memory(void) {
	g_assert_true(cardea_srtp_global_init(NULL));
	if (heap_used() == 0) {
		g_test_skip("mallinfo2() counts nothing here (sanitizer allocator)");
		return;
	}
	for (guint si = 0; si < G_N_ELEMENTS(suites); si++) {
		if (si == 2 && !cardea_srtp_gcm_supported())
			continue;
		double fc, fu, lc, lu;
		mem_measure(si, FALSE, &fc, &fu);
		mem_measure(si, TRUE, &lc, &lu);
		g_test_message("memory per cardea_srtp (tx+rx) %s: fast %.0f B created, %.0f B with 4+4 SSRCs; "
			"libsrtp %.0f B created, %.0f B with 4+4 SSRCs", suites[si], fc, fu, lc, lu);
		/* The point of the fast path for memory: no libsrtp session, so a
		 * context must stay well under one (allocation sizes, not timing). */
		g_assert_cmpfloat(fc, >, 0);
		g_assert_cmpfloat(fc * 4, <, lc);
		g_assert_cmpfloat(fu * 4, <, lu);
	}
}

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define BENCH_N 4000
#define BENCH_CHUNK 250

/* Unprotect cost per packet, one SSRC, audio-like and video-like sizes.
 * A measurement, not a test: registered only with `-m perf`
 * (tests/unit/test_srtp_fast -m perf -p /srtp/fast/bench --verbose). */
static void test_bench(void) {
	static const gsize sizes[] = { 160, 1200 };
	for (guint k = 0; k < G_N_ELEMENTS(sizes) * G_N_ELEMENTS(suites); k++) {
		guint si = k % G_N_ELEMENTS(suites);
		gsize size = sizes[k / G_N_ELEMENTS(suites)];
		quad q;
		if (!quad_new(&q, si))
			continue;
		pkt *a = g_new(pkt, BENCH_N), *b = g_new(pkt, BENCH_N);
		for (guint i = 0; i < BENCH_N; i++) {
			rtp_build(&a[i], 0x12345678, (guint16)(i + 60000), size, TRUE);
			g_assert_cmpint(cardea_srtp_protect_rtp(q.ftx, a[i].b, &a[i].len, PKT_MAX), ==, CARDEA_SRTP_OK);
			b[i] = a[i];
		}
		/* Chunks taken in turns, best chunk kept: the machine is shared. */
		double best_f = G_MAXDOUBLE, best_l = G_MAXDOUBLE;
		for (guint c = 0; c < BENCH_N / BENCH_CHUNK; c++) {
			guint from = c * BENCH_CHUNK;
			double t0 = now_ns();
			for (guint i = from; i < from + BENCH_CHUNK; i++)
				g_assert_cmpint(cardea_srtp_unprotect_rtp(q.frx, a[i].b, &a[i].len), ==, CARDEA_SRTP_OK);
			double t1 = now_ns();
			for (guint i = from; i < from + BENCH_CHUNK; i++)
				g_assert_cmpint(cardea_srtp_unprotect_rtp(q.lrx, b[i].b, &b[i].len), ==, CARDEA_SRTP_OK);
			double t2 = now_ns();
			best_f = MIN(best_f, (t1 - t0) / BENCH_CHUNK);
			best_l = MIN(best_l, (t2 - t1) / BENCH_CHUNK);
		}
		g_test_message("unprotect %s, %" G_GSIZE_FORMAT " B payload: fast %.0f ns/packet, "
			"libsrtp %.0f ns/packet (best of %u chunks)", suites[si], size, best_f, best_l,
			BENCH_N / BENCH_CHUNK);
		g_free(a);
		g_free(b);
		quad_free(&q);
	}
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/srtp/fast/interop", test_interop);
	g_test_add_func("/srtp/fast/reject", test_reject);
	g_test_add_func("/srtp/fast/overflow", test_overflow);
	g_test_add_func("/srtp/fast/rtcp-unencrypted", test_rtcp_unencrypted);
	g_test_add_func("/srtp/fast/memory", test_memory);
	if (g_test_perf())
		g_test_add_func("/srtp/fast/bench", test_bench);
	return g_test_run();
}
