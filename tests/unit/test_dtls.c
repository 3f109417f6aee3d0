/* Unit tests for core/webrtc/dtls.c and srtp.c.
 *
 * Two cardea_dtls objects (one active, one passive) live in this process and
 * are wired through their send callbacks into queues that the test pumps,
 * so every datagram can be inspected, dropped, replayed or corrupted. Both
 * sides share the process-wide certificate, which is fine: each checks the
 * other's certificate against the fingerprint it was given.
 */
#include <string.h>
#include <glib/gstdio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cardea/module.h"
#include "webrtc/dtls.h"
#include "webrtc/srtp.h"

/* ---- Harness ---- */

typedef struct peer {
	cardea_dtls *dtls;
	GQueue out;                 /* GBytes sent by this side, not yet delivered */
	guint sent;
	gsize max_sent;
	guint drop_first;           /* drop this many of our first datagrams */
	gboolean capture_only;      /* keep datagrams in `captured` instead of `out` */
	GPtrArray *captured;        /* GBytes */
	guint n_connecting, n_connected, n_failed, n_closed;
	cardea_dtls_state last;
	char *reason;
	GByteArray *data;
	gboolean free_on_state;     /* cardea_dtls_free() from inside the callback */
} peer;

typedef struct pair {
	peer a;                     /* active (client) */
	peer p;                     /* passive (server) */
} pair;

static void on_send(cardea_dtls *d, const guint8 *buf, gsize len, gpointer user_data) {
	peer *me = user_data;
	g_assert_true(d == me->dtls);
	me->sent++;
	me->max_sent = MAX(me->max_sent, len);
	if (me->drop_first > 0) {
		me->drop_first--;
		return;
	}
	GBytes *b = g_bytes_new(buf, len);
	if (me->capture_only)
		g_ptr_array_add(me->captured, b);
	else
		g_queue_push_tail(&me->out, b);
}

static void on_state(cardea_dtls *d, cardea_dtls_state state, const char *reason, gpointer user_data) {
	peer *me = user_data;
	me->last = state;
	switch (state) {
	case CARDEA_DTLS_STATE_CONNECTING: me->n_connecting++; break;
	case CARDEA_DTLS_STATE_CONNECTED:
		me->n_connected++;
		/* The contract: SRTP exists before CONNECTED is reported. */
		g_assert_nonnull(cardea_dtls_get_srtp(d));
		break;
	case CARDEA_DTLS_STATE_FAILED: me->n_failed++; break;
	case CARDEA_DTLS_STATE_CLOSED: me->n_closed++; break;
	default: break;
	}
	if (reason) {
		g_free(me->reason);
		me->reason = g_strdup(reason);
	}
	if (me->free_on_state && (state == CARDEA_DTLS_STATE_FAILED || state == CARDEA_DTLS_STATE_CLOSED ||
			state == CARDEA_DTLS_STATE_CONNECTED)) {
		cardea_dtls_free(d);
		me->dtls = NULL;
	}
}

static void on_data(cardea_dtls *d, const guint8 *buf, gsize len, gpointer user_data) {
	peer *me = user_data;
	g_byte_array_append(me->data, buf, (guint)len);
}

static const cardea_dtls_callbacks callbacks = { on_send, on_state, on_data };

static void peer_init(peer *me, cardea_dtls_role role, guint profiles, guint mtu) {
	memset(me, 0, sizeof(*me));
	g_queue_init(&me->out);
	me->captured = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	me->data = g_byte_array_new();
	cardea_dtls_config cfg = { .role = role, .profiles = profiles, .mtu = mtu,
		.log_id = role == CARDEA_DTLS_ROLE_ACTIVE ? 1 : 2 };
	GError *error = NULL;
	me->dtls = cardea_dtls_new(&cfg, &callbacks, me, &error);
	g_assert_no_error(error);
	g_assert_nonnull(me->dtls);
}

static void peer_clear(peer *me) {
	cardea_dtls_free(me->dtls);
	g_queue_clear_full(&me->out, (GDestroyNotify)g_bytes_unref);
	g_ptr_array_unref(me->captured);
	g_byte_array_unref(me->data);
	g_free(me->reason);
}

/* Our own sha-256 fingerprint, split the way SDP carries it. */
static void add_own_fingerprint(peer *me, cardea_dtls_hash hash) {
	char fp[CARDEA_DTLS_FINGERPRINT_MAX];
	g_assert_true(cardea_dtls_context_fingerprint_hash(hash, fp, sizeof(fp)));
	char *space = strchr(fp, ' ');
	*space = '\0';
	GError *error = NULL;
	g_assert_true(cardea_dtls_add_remote_fingerprint(me->dtls, fp, space + 1, &error));
	g_assert_no_error(error);
}

static void pair_init(pair *pr, guint profiles_a, guint profiles_p, guint mtu) {
	peer_init(&pr->a, CARDEA_DTLS_ROLE_ACTIVE, profiles_a, mtu);
	peer_init(&pr->p, CARDEA_DTLS_ROLE_PASSIVE, profiles_p, mtu);
	add_own_fingerprint(&pr->a, CARDEA_DTLS_HASH_SHA256);
	add_own_fingerprint(&pr->p, CARDEA_DTLS_HASH_SHA256);
}

static void pair_clear(pair *pr) {
	peer_clear(&pr->a);
	peer_clear(&pr->p);
}

/* Delivers queued datagrams both ways until both queues are empty. */
static void pump(pair *pr) {
	for (guint guard = 0; guard < 1000; guard++) {
		GBytes *b = g_queue_pop_head(&pr->a.out);
		peer *to = &pr->p;
		if (!b) {
			b = g_queue_pop_head(&pr->p.out);
			to = &pr->a;
		}
		if (!b)
			return;
		gsize len;
		const guint8 *data = g_bytes_get_data(b, &len);
		if (to->dtls)
			cardea_dtls_incoming(to->dtls, data, len);
		g_bytes_unref(b);
	}
	g_assert_not_reached();
}

static gboolean both_connected(pair *pr) {
	return cardea_dtls_get_state(pr->a.dtls) == CARDEA_DTLS_STATE_CONNECTED &&
		cardea_dtls_get_state(pr->p.dtls) == CARDEA_DTLS_STATE_CONNECTED;
}

static gboolean settled(const peer *me) {
	return !me->dtls || me->last == CARDEA_DTLS_STATE_CONNECTED || me->last == CARDEA_DTLS_STATE_FAILED ||
		me->last == CARDEA_DTLS_STATE_CLOSED;
}

/* Pumps and fires due timers (really sleeping) until both sides have
 * settled or `max_rounds` timer rounds have passed. */
static void run(pair *pr, guint max_rounds) {
	cardea_dtls_start(pr->p.dtls);
	cardea_dtls_start(pr->a.dtls);
	pump(pr);
	for (guint round = 0; round < max_rounds && !(settled(&pr->a) && settled(&pr->p)); round++) {
		gint64 ta = pr->a.dtls ? cardea_dtls_timeout_ms(pr->a.dtls) : -1;
		gint64 tp = pr->p.dtls ? cardea_dtls_timeout_ms(pr->p.dtls) : -1;
		gint64 wait = ta < 0 ? tp : (tp < 0 ? ta : MIN(ta, tp));
		if (wait < 0)
			break;
		g_usleep((gulong)wait * 1000 + 1000);
		if (pr->a.dtls)
			cardea_dtls_handle_timeout(pr->a.dtls);
		if (pr->p.dtls)
			cardea_dtls_handle_timeout(pr->p.dtls);
		pump(pr);
	}
}

/* ---- RTP/RTCP samples ---- */

/* Opus-like RTP: V=2, X=1, PT 111, one-byte header extensions (audio
 * level, mid) and one CSRC, then a payload. Returns the length. */
static gsize make_rtp(guint8 *buf, guint16 seq, guint32 ssrc, gsize payload_len) {
	guint8 *p = buf;
	*p++ = 0x80 | 0x10 | 0x01;  /* V=2, X, CC=1 */
	*p++ = 111;
	*p++ = seq >> 8; *p++ = seq & 0xff;
	guint32 ts = 960u * seq;
	*p++ = ts >> 24; *p++ = ts >> 16; *p++ = ts >> 8; *p++ = ts;
	*p++ = ssrc >> 24; *p++ = ssrc >> 16; *p++ = ssrc >> 8; *p++ = ssrc;
	*p++ = 0x11; *p++ = 0x22; *p++ = 0x33; *p++ = 0x44;   /* CSRC */
	*p++ = 0xbe; *p++ = 0xde; *p++ = 0x00; *p++ = 0x02;   /* 2 words of one-byte extensions */
	*p++ = 0x10; *p++ = 0x85;                              /* id 1 audio level */
	*p++ = 0x30; *p++ = '0'; *p++ = 0x00; *p++ = 0x00;     /* id 3 mid "0", padding */
	*p++ = 0x00; *p++ = 0x00;
	for (gsize i = 0; i < payload_len; i++)
		*p++ = (guint8)(i * 7 + seq);
	return (gsize)(p - buf);
}

/* RTCP receiver report with one report block. */
static gsize make_rtcp(guint8 *buf, guint32 ssrc) {
	guint8 rr[32] = {
		0x81, 201, 0x00, 0x07,
		ssrc >> 24, ssrc >> 16, ssrc >> 8, ssrc,
		0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x01,
		0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x10,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	memcpy(buf, rr, sizeof(rr));
	return sizeof(rr);
}

/* Sends RTP and RTCP from `from` to `to` and checks they come out intact. */
static void check_media(cardea_srtp *from, cardea_srtp *to, guint32 ssrc) {
	guint8 buf[1500], orig[1500];
	for (guint16 seq = 100; seq < 110; seq++) {
		gsize len = make_rtp(buf, seq, ssrc, 160);
		memcpy(orig, buf, len);
		gsize plain = len;
		g_assert_cmpint(cardea_srtp_protect_rtp(from, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_OK);
		g_assert_cmpuint(len, >, plain);
		g_assert_cmpuint(len, <=, plain + CARDEA_SRTP_MAX_OVERHEAD);
		/* The payload is encrypted, the header is not. */
		g_assert_cmpmem(buf, 12, orig, 12);
		g_assert_true(memcmp(buf + plain - 160, orig + plain - 160, 160) != 0);
		g_assert_cmpint(cardea_srtp_unprotect_rtp(to, buf, &len), ==, CARDEA_SRTP_OK);
		g_assert_cmpmem(buf, len, orig, plain);
	}
	gsize len = make_rtcp(buf, ssrc);
	memcpy(orig, buf, len);
	gsize plain = len;
	g_assert_cmpint(cardea_srtp_protect_rtcp(from, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_OK);
	g_assert_cmpuint(len, <=, plain + CARDEA_SRTP_MAX_OVERHEAD);
	g_assert_cmpint(cardea_srtp_unprotect_rtcp(to, buf, &len), ==, CARDEA_SRTP_OK);
	g_assert_cmpmem(buf, len, orig, plain);
}

/* ---- Handshake and SRTP ---- */

typedef struct profile_case {
	guint a, p;
	cardea_srtp_suite expect;
} profile_case;

static void test_handshake(gconstpointer data) {
	const profile_case *c = data;
	if ((c->expect == CARDEA_SRTP_AEAD_AES_128_GCM) &&
			!(cardea_dtls_context_profiles() & CARDEA_DTLS_PROFILE_AEAD_AES_128_GCM)) {
		g_test_skip("libsrtp without AES-GCM");
		return;
	}
	pair pr;
	pair_init(&pr, c->a, c->p, 0);
	run(&pr, 5);
	g_assert_true(both_connected(&pr));
	g_assert_cmpuint(pr.a.n_connecting, ==, 1);
	g_assert_cmpuint(pr.a.n_connected, ==, 1);
	g_assert_cmpuint(pr.p.n_connected, ==, 1);
	g_assert_cmpint(cardea_dtls_get_profile(pr.a.dtls), ==, c->expect);
	g_assert_cmpint(cardea_dtls_get_profile(pr.p.dtls), ==, c->expect);
	g_assert_cmpint(cardea_dtls_timeout_ms(pr.a.dtls), ==, -1);
	/* Every datagram fits the default MTU. */
	g_assert_cmpuint(pr.a.max_sent, <=, CARDEA_DTLS_DEFAULT_MTU);
	g_assert_cmpuint(pr.p.max_sent, <=, CARDEA_DTLS_DEFAULT_MTU);

	cardea_srtp *sa = cardea_dtls_get_srtp(pr.a.dtls), *sp = cardea_dtls_get_srtp(pr.p.dtls);
	g_assert_cmpint(cardea_srtp_get_suite(sa), ==, c->expect);
	check_media(sa, sp, 0x11223344);
	check_media(sp, sa, 0x55667788);

	/* Tampered: one payload bit flipped → auth failure, counted. */
	guint8 buf[1500];
	gsize len = make_rtp(buf, 500, 0x11223344, 100);
	g_assert_cmpint(cardea_srtp_protect_rtp(sa, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_OK);
	guint8 saved[1500];
	gsize saved_len = len;
	memcpy(saved, buf, len);
	buf[40] ^= 0x01;
	g_assert_cmpint(cardea_srtp_unprotect_rtp(sp, buf, &len), ==, CARDEA_SRTP_ERR_AUTH);
	/* The intact copy still goes through once, then is a replay. */
	memcpy(buf, saved, saved_len);
	len = saved_len;
	g_assert_cmpint(cardea_srtp_unprotect_rtp(sp, buf, &len), ==, CARDEA_SRTP_OK);
	memcpy(buf, saved, saved_len);
	len = saved_len;
	g_assert_cmpint(cardea_srtp_unprotect_rtp(sp, buf, &len), ==, CARDEA_SRTP_ERR_REPLAY);
	/* Same for RTCP. */
	len = make_rtcp(buf, 0x11223344);
	g_assert_cmpint(cardea_srtp_protect_rtcp(sa, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_OK);
	memcpy(saved, buf, len);
	saved_len = len;
	buf[len - 1] ^= 0x80;   /* in the tag */
	g_assert_cmpint(cardea_srtp_unprotect_rtcp(sp, buf, &len), ==, CARDEA_SRTP_ERR_AUTH);
	memcpy(buf, saved, saved_len);
	len = saved_len;
	g_assert_cmpint(cardea_srtp_unprotect_rtcp(sp, buf, &len), ==, CARDEA_SRTP_OK);
	memcpy(buf, saved, saved_len);
	len = saved_len;
	g_assert_cmpint(cardea_srtp_unprotect_rtcp(sp, buf, &len), ==, CARDEA_SRTP_ERR_REPLAY);

	cardea_srtp_stats st;
	cardea_srtp_get_stats(sp, &st);
	g_assert_cmpuint(st.rtp_in.ok, ==, 11);
	g_assert_cmpuint(st.rtp_in.auth_failures, ==, 1);
	g_assert_cmpuint(st.rtp_in.replays, ==, 1);
	g_assert_cmpuint(st.rtcp_in.ok, ==, 2);
	g_assert_cmpuint(st.rtcp_in.auth_failures, ==, 1);
	g_assert_cmpuint(st.rtcp_in.replays, ==, 1);
	g_assert_cmpuint(st.rtp_out.ok, ==, 10);
	cardea_srtp_get_stats(sa, &st);
	g_assert_cmpuint(st.rtp_out.ok, ==, 11);
	g_assert_cmpuint(st.rtcp_out.ok, ==, 2);

	/* Application data both ways (the data channel path). */
	g_assert_true(cardea_dtls_write(pr.a.dtls, (const guint8 *)"hello", 5));
	g_assert_true(cardea_dtls_write(pr.p.dtls, (const guint8 *)"world!", 6));
	pump(&pr);
	g_assert_cmpmem(pr.p.data->data, pr.p.data->len, "hello", 5);
	g_assert_cmpmem(pr.a.data->data, pr.a.data->len, "world!", 6);
	pair_clear(&pr);
}

/* The peer's certificate must match the SDP fingerprint, or nothing is
 * keyed and neither side ever reports CONNECTED. */
static void check_no_connection(pair *pr) {
	g_assert_cmpuint(pr->a.n_connected, ==, 0);
	g_assert_cmpuint(pr->p.n_connected, ==, 0);
	g_assert_null(cardea_dtls_get_srtp(pr->a.dtls));
	g_assert_null(cardea_dtls_get_srtp(pr->p.dtls));
	g_assert_cmpint(cardea_dtls_get_profile(pr->a.dtls), ==, CARDEA_SRTP_SUITE_NONE);
}

static void add_fp(peer *me, const char *alg, const char *value, gboolean ok) {
	GError *error = NULL;
	gboolean r = cardea_dtls_add_remote_fingerprint(me->dtls, alg, value, &error);
	g_assert_true(r == ok);
	if (ok)
		g_assert_no_error(error);
	else
		g_assert_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_INVALID);
	g_clear_error(&error);
}

static char *wrong_fingerprint(cardea_dtls_hash hash) {
	char fp[CARDEA_DTLS_FINGERPRINT_MAX];
	g_assert_true(cardea_dtls_context_fingerprint_hash(hash, fp, sizeof(fp)));
	char *v = g_strdup(strchr(fp, ' ') + 1);
	v[0] = v[0] == 'A' ? 'B' : 'A';
	return v;
}

static void test_fingerprint_mismatch(void) {
	/* Passive side was told a different fingerprint. */
	pair pr;
	peer_init(&pr.a, CARDEA_DTLS_ROLE_ACTIVE, 0, 0);
	peer_init(&pr.p, CARDEA_DTLS_ROLE_PASSIVE, 0, 0);
	add_own_fingerprint(&pr.a, CARDEA_DTLS_HASH_SHA256);
	char *bad = wrong_fingerprint(CARDEA_DTLS_HASH_SHA256);
	add_fp(&pr.p, "sha-256", bad, TRUE);
	run(&pr, 3);
	g_assert_cmpint(cardea_dtls_get_state(pr.p.dtls), ==, CARDEA_DTLS_STATE_FAILED);
	g_assert_nonnull(strstr(pr.p.reason, "does not match"));
	/* The client learns through the alert. */
	g_assert_cmpint(cardea_dtls_get_state(pr.a.dtls), ==, CARDEA_DTLS_STATE_FAILED);
	check_no_connection(&pr);
	/* Anything arriving afterwards is dropped and counted. */
	cardea_dtls_incoming(pr.p.dtls, (const guint8 *)"\x17\xfe\xfd", 3);
	cardea_dtls_stats ds;
	cardea_dtls_get_stats(pr.p.dtls, &ds);
	g_assert_cmpuint(ds.dropped_in, ==, 1);
	pair_clear(&pr);
	g_free(bad);

	/* Active side was told a different sha-512 fingerprint. */
	peer_init(&pr.a, CARDEA_DTLS_ROLE_ACTIVE, 0, 0);
	peer_init(&pr.p, CARDEA_DTLS_ROLE_PASSIVE, 0, 0);
	add_own_fingerprint(&pr.p, CARDEA_DTLS_HASH_SHA256);
	bad = wrong_fingerprint(CARDEA_DTLS_HASH_SHA512);
	add_fp(&pr.a, "sha-512", bad, TRUE);
	run(&pr, 3);
	g_assert_cmpint(cardea_dtls_get_state(pr.a.dtls), ==, CARDEA_DTLS_STATE_FAILED);
	g_assert_nonnull(strstr(pr.a.reason, "sha-512"));
	g_assert_cmpint(cardea_dtls_get_state(pr.p.dtls), ==, CARDEA_DTLS_STATE_FAILED);
	check_no_connection(&pr);
	pair_clear(&pr);

	/* No fingerprint at all: refuse rather than trust. */
	peer_init(&pr.a, CARDEA_DTLS_ROLE_ACTIVE, 0, 0);
	peer_init(&pr.p, CARDEA_DTLS_ROLE_PASSIVE, 0, 0);
	add_own_fingerprint(&pr.a, CARDEA_DTLS_HASH_SHA256);
	run(&pr, 3);
	g_assert_cmpint(cardea_dtls_get_state(pr.p.dtls), ==, CARDEA_DTLS_STATE_FAILED);
	g_assert_nonnull(strstr(pr.p.reason, "no remote fingerprint"));
	check_no_connection(&pr);
	pair_clear(&pr);

	/* Several fingerprints: the strongest hash decides (RFC 8122 5). A
	 * right sha-256 does not rescue a wrong sha-512... */
	peer_init(&pr.a, CARDEA_DTLS_ROLE_ACTIVE, 0, 0);
	peer_init(&pr.p, CARDEA_DTLS_ROLE_PASSIVE, 0, 0);
	add_own_fingerprint(&pr.a, CARDEA_DTLS_HASH_SHA256);
	add_own_fingerprint(&pr.p, CARDEA_DTLS_HASH_SHA256);
	add_fp(&pr.p, "SHA-512", bad, TRUE);
	run(&pr, 3);
	check_no_connection(&pr);
	pair_clear(&pr);
	g_free(bad);

	/* ...while a right sha-384 and sha-512 with a wrong sha-256 connect. */
	peer_init(&pr.a, CARDEA_DTLS_ROLE_ACTIVE, 0, 0);
	peer_init(&pr.p, CARDEA_DTLS_ROLE_PASSIVE, 0, 0);
	add_own_fingerprint(&pr.a, CARDEA_DTLS_HASH_SHA384);
	bad = wrong_fingerprint(CARDEA_DTLS_HASH_SHA256);
	add_fp(&pr.p, "sha-256", bad, TRUE);
	add_own_fingerprint(&pr.p, CARDEA_DTLS_HASH_SHA512);
	run(&pr, 3);
	g_assert_true(both_connected(&pr));
	pair_clear(&pr);
	g_free(bad);
}

static void test_fingerprint_syntax(void) {
	peer me;
	peer_init(&me, CARDEA_DTLS_ROLE_ACTIVE, 0, 0);
	char fp[CARDEA_DTLS_FINGERPRINT_MAX];
	g_assert_true(cardea_dtls_context_fingerprint_hash(CARDEA_DTLS_HASH_SHA256, fp, sizeof(fp)));
	const char *v = fp + strlen("sha-256 ");
	char *lower = g_ascii_strdown(v, -1);
	add_fp(&me, "sha-256", lower, TRUE);
	g_free(lower);
	char *s = g_strdup_printf("%s:", v);
	add_fp(&me, "sha-256", s, FALSE);                       /* trailing colon */
	g_free(s);
	s = g_strdup_printf("%s ", v);
	add_fp(&me, "sha-256", s, FALSE);                       /* trailing space */
	g_free(s);
	s = g_strdup(v);
	s[2] = '-';
	add_fp(&me, "sha-256", s, FALSE);                       /* wrong separator */
	s[2] = ':';
	s[3] = 'G';
	add_fp(&me, "sha-256", s, FALSE);                       /* not hex */
	g_free(s);
	add_fp(&me, "sha-256", v + 3, FALSE);                   /* one byte short */
	add_fp(&me, "sha-384", v, FALSE);                       /* length of another hash */
	add_fp(&me, "sha-1", "AB:CD", FALSE);                   /* hash we do not accept */
	add_fp(&me, "md5", v, FALSE);
	add_fp(&me, NULL, v, FALSE);
	add_fp(&me, "sha-256", NULL, FALSE);
	add_fp(&me, "sha-256", "", FALSE);
	add_fp(&me, "sha-256", v, TRUE);
	add_fp(&me, "Sha-256", v, TRUE);
	add_fp(&me, "sha-256", v, TRUE);
	add_fp(&me, "sha-256", v, FALSE);                       /* fifth: over the cap */
	peer_clear(&me);

	g_assert_cmpint(cardea_dtls_hash_from_name("SHA-384"), ==, CARDEA_DTLS_HASH_SHA384);
	g_assert_cmpint(cardea_dtls_hash_from_name("sha384"), ==, CARDEA_DTLS_HASH_NONE);
	g_assert_cmpstr(cardea_dtls_hash_name(CARDEA_DTLS_HASH_SHA512), ==, "sha-512");
}

/* Independent reference: OpenSSL digest, formatted here. */
static void check_fingerprint_format(X509 *cert) {
	static const struct { cardea_dtls_hash hash; const char *md; guint len; } hashes[] = {
		{ CARDEA_DTLS_HASH_SHA256, "SHA256", 32 },
		{ CARDEA_DTLS_HASH_SHA384, "SHA384", 48 },
		{ CARDEA_DTLS_HASH_SHA512, "SHA512", 64 },
	};
	for (guint i = 0; i < G_N_ELEMENTS(hashes); i++) {
		guint8 md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		g_assert_true(X509_digest(cert, EVP_get_digestbyname(hashes[i].md), md, &n));
		g_assert_cmpuint(n, ==, hashes[i].len);
		GString *want = g_string_new(cardea_dtls_hash_name(hashes[i].hash));
		g_string_append_c(want, ' ');
		for (guint j = 0; j < n; j++)
			g_string_append_printf(want, "%s%02X", j ? ":" : "", md[j]);
		char got[CARDEA_DTLS_FINGERPRINT_MAX];
		g_assert_true(cardea_dtls_context_fingerprint_hash(hashes[i].hash, got, sizeof(got)));
		g_assert_cmpstr(got, ==, want->str);
		if (hashes[i].hash == CARDEA_DTLS_HASH_SHA256)
			g_assert_cmpstr(cardea_dtls_context_fingerprint(), ==, want->str);
		g_string_free(want, TRUE);
	}
	char small[16];
	g_assert_false(cardea_dtls_context_fingerprint_hash(CARDEA_DTLS_HASH_SHA256, small, sizeof(small)));
	g_assert_false(cardea_dtls_context_fingerprint_hash(CARDEA_DTLS_HASH_NONE, small, sizeof(small)));
}

static void test_fingerprint_generated(void) {
	/* Generated certificate: "sha-256 " then 32 upper-case hex pairs. */
	const char *fp = cardea_dtls_context_fingerprint();
	g_assert_nonnull(fp);
	g_assert_true(g_regex_match_simple("^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$", fp, 0, 0));
	char buf[CARDEA_DTLS_FINGERPRINT_MAX];
	g_assert_true(cardea_dtls_context_fingerprint_hash(CARDEA_DTLS_HASH_SHA384, buf, sizeof(buf)));
	g_assert_true(g_regex_match_simple("^sha-384 ([0-9A-F]{2}:){47}[0-9A-F]{2}$", buf, 0, 0));
	g_assert_true(cardea_dtls_context_fingerprint_hash(CARDEA_DTLS_HASH_SHA512, buf, sizeof(buf)));
	g_assert_true(g_regex_match_simple("^sha-512 ([0-9A-F]{2}:){63}[0-9A-F]{2}$", buf, 0, 0));
	g_assert_cmpuint(strlen(buf) + 1, ==, CARDEA_DTLS_FINGERPRINT_MAX);
}

/* ---- Configured certificates ---- */

static X509 *make_cert(EVP_PKEY *key) {
	X509 *cert = X509_new();
	X509_set_version(cert, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 42);
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_set_pubkey(cert, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
		(const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	g_assert_cmpint(X509_sign(cert, key, EVP_sha256()), >, 0);
	return cert;
}

static char *write_pem(const char *dir, const char *name, X509 *cert, EVP_PKEY *key, const char *pwd) {
	char *path = g_build_filename(dir, name, NULL);
	BIO *b = BIO_new_file(path, "w");
	g_assert_nonnull(b);
	if (cert)
		g_assert_true(PEM_write_bio_X509(b, cert));
	else
		g_assert_true(PEM_write_bio_PrivateKey(b, key, pwd ? EVP_aes_256_cbc() : NULL,
			NULL, 0, NULL, (void *)pwd));
	BIO_free(b);
	return path;
}

static void handshake_ok(void) {
	pair pr;
	pair_init(&pr, 0, 0, 0);
	run(&pr, 3);
	g_assert_true(both_connected(&pr));
	check_media(cardea_dtls_get_srtp(pr.a.dtls), cardea_dtls_get_srtp(pr.p.dtls), 7);
	pair_clear(&pr);
}

static void expect_init_error(const char *cert, const char *key, const char *pwd, const char *what) {
	GError *error = NULL;
	g_assert_false(cardea_dtls_context_init(cert, key, pwd, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, what));
	g_clear_error(&error);
}

static void test_pem(void) {
	GError *error = NULL;
	char *dir = g_dir_make_tmp("cardea-dtls-XXXXXX", &error);
	g_assert_no_error(error);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	g_assert_nonnull(ec);
	g_assert_nonnull(rsa);
	X509 *ec_cert = make_cert(ec), *rsa_cert = make_cert(rsa);
	char *ec_crt = write_pem(dir, "ec.crt", ec_cert, NULL, NULL);
	char *ec_key = write_pem(dir, "ec.key", NULL, ec, NULL);
	char *ec_key_enc = write_pem(dir, "ec-enc.key", NULL, ec, "s3cret");
	char *rsa_crt = write_pem(dir, "rsa.crt", rsa_cert, NULL, NULL);
	char *rsa_key = write_pem(dir, "rsa.key", NULL, rsa, NULL);
	char *missing = g_build_filename(dir, "missing.pem", NULL);

	/* Plain EC pair. */
	g_assert_true(cardea_dtls_context_init(ec_crt, ec_key, NULL, &error));
	g_assert_no_error(error);
	check_fingerprint_format(ec_cert);
	handshake_ok();
	/* Encrypted key with its passphrase. */
	g_assert_true(cardea_dtls_context_init(ec_crt, ec_key_enc, "s3cret", &error));
	g_assert_no_error(error);
	check_fingerprint_format(ec_cert);
	handshake_ok();
	/* RSA certificates work too (ECDHE-RSA suites). */
	g_assert_true(cardea_dtls_context_init(rsa_crt, rsa_key, NULL, &error));
	g_assert_no_error(error);
	check_fingerprint_format(rsa_cert);
	handshake_ok();

	/* Failures leave the previous context in place. */
	const char *before = cardea_dtls_context_fingerprint();
	char *kept = g_strdup(before);
	expect_init_error(ec_crt, ec_key_enc, "wrong", "cert_key");
	expect_init_error(ec_crt, ec_key_enc, NULL, "without cert_pwd");
	expect_init_error(ec_crt, rsa_key, NULL, "DTLS context");   /* key does not match */
	expect_init_error(missing, ec_key, NULL, "cert_pem");
	expect_init_error(ec_crt, missing, NULL, "cert_key");
	expect_init_error(ec_key, ec_key, NULL, "cert_pem");        /* not a certificate */
	expect_init_error(ec_crt, NULL, NULL, "together");
	g_assert_cmpstr(cardea_dtls_context_fingerprint(), ==, kept);
	g_free(kept);

	/* Back to a generated certificate for the other tests. */
	g_assert_true(cardea_dtls_context_init(NULL, NULL, NULL, &error));
	g_assert_no_error(error);
	const char *files[] = { ec_crt, ec_key, ec_key_enc, rsa_crt, rsa_key };
	for (guint i = 0; i < G_N_ELEMENTS(files); i++)
		g_unlink(files[i]);
	g_rmdir(dir);
	g_free(ec_crt); g_free(ec_key); g_free(ec_key_enc); g_free(rsa_crt); g_free(rsa_key);
	g_free(missing);
	g_free(dir);
	X509_free(ec_cert);
	X509_free(rsa_cert);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

/* ---- Loss, MTU, close ---- */

static void test_retransmit(void) {
	/* Lose the ClientHello. */
	pair pr;
	pair_init(&pr, 0, 0, 0);
	pr.a.drop_first = 1;
	run(&pr, 6);
	g_assert_true(both_connected(&pr));
	cardea_dtls_stats st;
	cardea_dtls_get_stats(pr.a.dtls, &st);
	g_assert_cmpuint(st.retransmissions, >=, 1);
	pair_clear(&pr);

	/* Lose the server's whole first flight, then the client's second. */
	pair_init(&pr, 0, 0, 0);
	cardea_dtls_start(pr.p.dtls);
	cardea_dtls_start(pr.a.dtls);
	g_assert_cmpuint(pr.a.sent, ==, 1);
	pr.p.drop_first = 100;
	pump(&pr);
	guint first_flight = pr.p.sent;
	g_assert_cmpuint(first_flight, >=, 1);
	pr.p.drop_first = 0;
	pr.a.drop_first = 100;
	run(&pr, 1);        /* one timer round: server resends, client answers into the void */
	pr.a.drop_first = 0;
	run(&pr, 8);
	g_assert_true(both_connected(&pr));
	check_media(cardea_dtls_get_srtp(pr.a.dtls), cardea_dtls_get_srtp(pr.p.dtls), 9);
	pair_clear(&pr);
}

/* Delivers everything `from` has queued to `to`, nothing the other way. */
static void deliver(peer *from, peer *to) {
	GBytes *b;
	while ((b = g_queue_pop_head(&from->out))) {
		gsize len;
		const guint8 *data = g_bytes_get_data(b, &len);
		cardea_dtls_incoming(to->dtls, data, len);
		g_bytes_unref(b);
	}
}

static void test_retransmit_last_flight(void) {
	/* The server's final flight (ChangeCipherSpec, Finished) is lost after
	 * the server considers itself connected: the client's retransmission
	 * reaches the connected server, which must answer it again. */
	pair pr;
	pair_init(&pr, 0, 0, 0);
	cardea_dtls_start(pr.p.dtls);
	cardea_dtls_start(pr.a.dtls);
	deliver(&pr.a, &pr.p);      /* ClientHello */
	deliver(&pr.p, &pr.a);      /* ServerHello ... ServerHelloDone */
	deliver(&pr.a, &pr.p);      /* Certificate ... Finished */
	g_assert_cmpint(cardea_dtls_get_state(pr.p.dtls), ==, CARDEA_DTLS_STATE_CONNECTED);
	g_assert_cmpint(cardea_dtls_get_state(pr.a.dtls), ==, CARDEA_DTLS_STATE_CONNECTING);
	g_assert_false(g_queue_is_empty(&pr.p.out));
	g_queue_clear_full(&pr.p.out, (GDestroyNotify)g_bytes_unref);
	g_assert_cmpint(cardea_dtls_timeout_ms(pr.a.dtls), >=, 0);
	run(&pr, 6);
	g_assert_true(both_connected(&pr));
	g_assert_cmpuint(pr.p.n_connected, ==, 1);
	check_media(cardea_dtls_get_srtp(pr.a.dtls), cardea_dtls_get_srtp(pr.p.dtls), 11);
	check_media(cardea_dtls_get_srtp(pr.p.dtls), cardea_dtls_get_srtp(pr.a.dtls), 12);
	pair_clear(&pr);
}

/* Nobody answers: OpenSSL gives up after its retransmission budget (about
 * 24 s of real time, hence -m slow only). */
static void test_handshake_timeout(void) {
	if (!g_test_slow()) {
		g_test_skip("takes ~25 s; run with -m slow");
		return;
	}
	peer a;
	peer_init(&a, CARDEA_DTLS_ROLE_ACTIVE, 0, 0);
	add_own_fingerprint(&a, CARDEA_DTLS_HASH_SHA256);
	cardea_dtls_start(a.dtls);
	gint64 t;
	while ((t = cardea_dtls_timeout_ms(a.dtls)) >= 0) {
		g_assert_cmpint(t, <=, 3000);
		g_usleep((gulong)t * 1000 + 1000);
		cardea_dtls_handle_timeout(a.dtls);
	}
	g_assert_cmpint(cardea_dtls_get_state(a.dtls), ==, CARDEA_DTLS_STATE_FAILED);
	g_assert_cmpstr(a.reason, ==, "handshake timed out");
	g_assert_cmpuint(a.sent, >=, 10);
	peer_clear(&a);
}

static void test_mtu(void) {
	/* A small MTU forces the certificate flight into fragments. */
	pair pr;
	pair_init(&pr, 0, 0, 300);
	run(&pr, 3);
	g_assert_true(both_connected(&pr));
	g_assert_cmpuint(pr.a.max_sent, <=, 300);
	g_assert_cmpuint(pr.p.max_sent, <=, 300);
	g_assert_cmpuint(pr.p.sent, >=, 3);
	/* Data larger than one datagram is refused, not fragmented. */
	guint8 big[400] = { 0 };
	g_assert_false(cardea_dtls_write(pr.a.dtls, big, sizeof(big)));
	pair_clear(&pr);

	/* Bad MTUs are rejected. */
	cardea_dtls_config cfg = { .role = CARDEA_DTLS_ROLE_ACTIVE, .mtu = CARDEA_DTLS_MIN_MTU - 1 };
	GError *error = NULL;
	g_assert_null(cardea_dtls_new(&cfg, &callbacks, NULL, &error));
	g_assert_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_INVALID);
	g_clear_error(&error);
	cfg.mtu = CARDEA_DTLS_MAX_MTU + 1;
	g_assert_null(cardea_dtls_new(&cfg, &callbacks, NULL, &error));
	g_clear_error(&error);
	cfg.mtu = 0;
	cfg.role = 0;
	g_assert_null(cardea_dtls_new(&cfg, &callbacks, NULL, &error));
	g_clear_error(&error);
}

static void test_close(void) {
	pair pr;
	pair_init(&pr, 0, 0, 0);
	run(&pr, 3);
	g_assert_true(both_connected(&pr));
	cardea_dtls_close(pr.a.dtls);
	g_assert_cmpint(cardea_dtls_get_state(pr.a.dtls), ==, CARDEA_DTLS_STATE_CLOSED);
	g_assert_cmpstr(pr.a.reason, ==, "closed locally");
	pump(&pr);
	g_assert_cmpint(cardea_dtls_get_state(pr.p.dtls), ==, CARDEA_DTLS_STATE_CLOSED);
	g_assert_cmpstr(pr.p.reason, ==, "close_notify received");
	g_assert_cmpstr(cardea_dtls_get_reason(pr.p.dtls), ==, "close_notify received");
	g_assert_cmpuint(pr.p.n_closed, ==, 1);
	g_assert_cmpuint(pr.a.n_closed, ==, 1);
	/* Closing twice is a no-op; writing after close fails. */
	cardea_dtls_close(pr.a.dtls);
	g_assert_cmpuint(pr.a.n_closed, ==, 1);
	g_assert_false(cardea_dtls_write(pr.p.dtls, (const guint8 *)"x", 1));
	pair_clear(&pr);
}

static void test_free_in_callback(void) {
	/* Freed from inside the CONNECTED callback while OpenSSL is mid-call. */
	pair pr;
	pair_init(&pr, 0, 0, 0);
	pr.p.free_on_state = TRUE;
	run(&pr, 3);
	g_assert_null(pr.p.dtls);
	g_assert_cmpuint(pr.p.n_connected, ==, 1);
	pair_clear(&pr);

	/* Freed from inside the FAILED callback. */
	peer_init(&pr.a, CARDEA_DTLS_ROLE_ACTIVE, 0, 0);
	peer_init(&pr.p, CARDEA_DTLS_ROLE_PASSIVE, 0, 0);
	add_own_fingerprint(&pr.p, CARDEA_DTLS_HASH_SHA256);
	pr.a.free_on_state = TRUE;
	run(&pr, 3);
	g_assert_null(pr.a.dtls);
	g_assert_cmpuint(pr.a.n_failed, ==, 1);
	pair_clear(&pr);
}

/* ---- Hostile input ---- */

static void test_garbage(void) {
	GRand *rng = g_rand_new_with_seed(1234);
	pair pr;
	pair_init(&pr, 0, 0, 0);
	/* Random datagrams in the DTLS range before the handshake: dropped by
	 * the record layer, and a real handshake still succeeds afterwards. */
	guint8 junk[2000];
	for (guint i = 0; i < 200; i++) {
		gsize len = 1 + g_rand_int_range(rng, 0, sizeof(junk));
		for (gsize j = 0; j < len; j++)
			junk[j] = (guint8)g_rand_int(rng);
		junk[0] = (guint8)g_rand_int_range(rng, 20, 64);
		cardea_dtls_incoming(pr.p.dtls, junk, len);
		cardea_dtls_incoming(pr.a.dtls, junk, len);
	}
	g_queue_clear_full(&pr.a.out, (GDestroyNotify)g_bytes_unref);
	g_queue_clear_full(&pr.p.out, (GDestroyNotify)g_bytes_unref);
	/* Oversized and empty datagrams are not even looked at. */
	static guint8 huge[CARDEA_DTLS_MAX_DATAGRAM + 1];
	huge[0] = 22;
	cardea_dtls_incoming(pr.p.dtls, huge, sizeof(huge));
	cardea_dtls_incoming(pr.p.dtls, huge, 0);
	cardea_dtls_stats st;
	cardea_dtls_get_stats(pr.p.dtls, &st);
	g_assert_cmpuint(st.dropped_in, ==, 2);
	g_assert_cmpuint(st.datagrams_in, ==, 200);
	g_assert_cmpint(pr.p.n_connected, ==, 0);

	/* Garbage started the client, whose hello was thrown away with the
	 * queues: the retransmission timer recovers. */
	g_assert_cmpint(cardea_dtls_get_state(pr.a.dtls), ==, CARDEA_DTLS_STATE_CONNECTING);
	g_assert_cmpint(cardea_dtls_get_state(pr.p.dtls), ==, CARDEA_DTLS_STATE_CONNECTING);
	run(&pr, 6);
	g_assert_true(both_connected(&pr));
	pair_clear(&pr);

	/* Garbage after the connection is up changes nothing. */
	pair_init(&pr, 0, 0, 0);
	run(&pr, 3);
	g_assert_true(both_connected(&pr));
	for (guint i = 0; i < 200; i++) {
		gsize len = 1 + g_rand_int_range(rng, 0, sizeof(junk));
		for (gsize j = 0; j < len; j++)
			junk[j] = (guint8)g_rand_int(rng);
		junk[0] = (guint8)g_rand_int_range(rng, 20, 64);
		cardea_dtls_incoming(pr.p.dtls, junk, len);
	}
	g_assert_true(both_connected(&pr));
	check_media(cardea_dtls_get_srtp(pr.a.dtls), cardea_dtls_get_srtp(pr.p.dtls), 3);
	pair_clear(&pr);
	g_rand_free(rng);
}

/* A passive peer that gets one crafted datagram must never connect, must
 * not crash, and stays either CONNECTING or FAILED. */
static cardea_dtls_state feed_passive(const guint8 *buf, gsize len) {
	peer p;
	peer_init(&p, CARDEA_DTLS_ROLE_PASSIVE, 0, 0);
	add_own_fingerprint(&p, CARDEA_DTLS_HASH_SHA256);
	cardea_dtls_incoming(p.dtls, buf, len);
	cardea_dtls_state st = cardea_dtls_get_state(p.dtls);
	g_assert_true(st == CARDEA_DTLS_STATE_CONNECTING || st == CARDEA_DTLS_STATE_FAILED);
	g_assert_null(cardea_dtls_get_srtp(p.dtls));
	g_assert_cmpuint(p.n_connected, ==, 0);
	peer_clear(&p);
	return st;
}

static void test_bad_client_hello(void) {
	/* A real ClientHello to mutate. */
	peer a;
	peer_init(&a, CARDEA_DTLS_ROLE_ACTIVE, 0, 0);
	a.capture_only = TRUE;
	cardea_dtls_start(a.dtls);
	g_assert_cmpuint(a.captured->len, ==, 1);
	gsize hello_len;
	const guint8 *hello = g_bytes_get_data(g_ptr_array_index(a.captured, 0), &hello_len);
	g_assert_cmpuint(hello_len, >, 25);
	g_assert_cmpuint(hello[0], ==, 22);     /* handshake record */
	g_assert_cmpuint(hello[13], ==, 1);     /* client_hello */

	/* The unmodified hello gets an answer. */
	g_assert_cmpint(feed_passive(hello, hello_len), ==, CARDEA_DTLS_STATE_CONNECTING);

	/* Well-formed record and handshake headers around a garbage body: the
	 * server rejects it with an alert and fails cleanly. */
	guint8 buf[2048];
	memcpy(buf, hello, 25);
	GRand *rng = g_rand_new_with_seed(99);
	for (gsize j = 25; j < hello_len; j++)
		buf[j] = (guint8)g_rand_int(rng);
	buf[25] = 0xfe;     /* client_version stays DTLS 1.2 so the body is parsed */
	buf[26] = 0xfd;
	g_assert_cmpint(feed_passive(buf, hello_len), ==, CARDEA_DTLS_STATE_FAILED);

	/* Every truncation: a short record is dropped, a short handshake
	 * message waits for fragments that never come; nothing connects. */
	for (gsize cut = 1; cut < hello_len; cut += (cut < 40 ? 1 : 17))
		feed_passive(hello, cut);
	/* A truncated body with consistent lengths is a decode error. */
	memcpy(buf, hello, hello_len);
	gsize body = 60;
	buf[11] = (guint8)((12 + body) >> 8); buf[12] = (guint8)(12 + body);                /* record length */
	buf[14] = 0; buf[15] = (guint8)(body >> 8); buf[16] = (guint8)body;                  /* message length */
	buf[22] = 0; buf[23] = (guint8)(body >> 8); buf[24] = (guint8)body;                  /* fragment length */
	g_assert_cmpint(feed_passive(buf, 25 + body), ==, CARDEA_DTLS_STATE_FAILED);

	/* Random single-byte mutations of the real hello. */
	for (guint i = 0; i < 300; i++) {
		memcpy(buf, hello, hello_len);
		guint n = 1 + g_rand_int_range(rng, 0, 4);
		for (guint k = 0; k < n; k++)
			buf[g_rand_int_range(rng, 0, (gint32)hello_len)] = (guint8)g_rand_int(rng);
		feed_passive(buf, hello_len);
	}
	g_rand_free(rng);
	peer_clear(&a);
}

/* ---- SRTP on its own ---- */

static void test_srtp_b64(void) {
	GError *error = NULL;
	/* Keys are the first 30 bytes: 0x00..0x1d (one spare for a too-long key). */
	guint8 raw[31];
	for (guint i = 0; i < sizeof(raw); i++)
		raw[i] = (guint8)i;
	char *b64 = g_base64_encode(raw, 30);
	static const char *const names[] = { "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32" };
	static const guint rtp_tag[] = { 10, 4 };
	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		cardea_srtp *tx = cardea_srtp_new_from_b64(names[i], b64, &error);
		g_assert_no_error(error);
		cardea_srtp *rx = cardea_srtp_new_from_b64(names[i], b64, &error);
		g_assert_no_error(error);
		g_assert_cmpstr(cardea_srtp_suite_name(cardea_srtp_get_suite(tx)), ==, names[i]);
		guint8 buf[1500];
		gsize plain = make_rtp(buf, 1, 42, 50), len = plain;
		g_assert_cmpint(cardea_srtp_protect_rtp(tx, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_OK);
		g_assert_cmpuint(len, ==, plain + rtp_tag[i]);
		g_assert_cmpint(cardea_srtp_unprotect_rtp(rx, buf, &len), ==, CARDEA_SRTP_OK);
		g_assert_cmpuint(len, ==, plain);
		check_media(tx, rx, 43);
		cardea_srtp_free(tx);
		cardea_srtp_free(rx);
	}
	/* A different key does not authenticate. */
	raw[0] ^= 1;
	char *other = g_base64_encode(raw, 30);
	cardea_srtp *tx = cardea_srtp_new_from_b64("AES_CM_128_HMAC_SHA1_80", b64, NULL);
	cardea_srtp *rx = cardea_srtp_new_from_b64("AES_CM_128_HMAC_SHA1_80", other, NULL);
	guint8 buf[1500];
	gsize len = make_rtp(buf, 1, 42, 50);
	g_assert_cmpint(cardea_srtp_protect_rtp(tx, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_OK);
	g_assert_cmpint(cardea_srtp_unprotect_rtp(rx, buf, &len), ==, CARDEA_SRTP_ERR_AUTH);
	cardea_srtp_free(tx);
	cardea_srtp_free(rx);
	g_free(other);

	/* Bad names and keys. */
	char *short_key = g_base64_encode(raw, 29);
	char *long_key = g_base64_encode(raw, 31);
	char *junk = g_strdup(b64);
	junk[5] = '!';
	char *noncanon = g_strdup(b64);
	noncanon[39] = noncanon[39] == 'A' ? 'B' : 'A';  /* 30 bytes end on a boundary: still canonical */
	const char *bad[][2] = {
		{ "AES_CM_128_HMAC_SHA1_81", b64 }, { NULL, b64 }, { "aes_cm_128_hmac_sha1_80", b64 },
		{ "AES_CM_128_HMAC_SHA1_80", short_key }, { "AES_CM_128_HMAC_SHA1_80", long_key },
		{ "AES_CM_128_HMAC_SHA1_80", junk }, { "AES_CM_128_HMAC_SHA1_80", "" },
		{ "AES_CM_128_HMAC_SHA1_80", NULL },
	};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_null(cardea_srtp_new_from_b64(bad[i][0], bad[i][1], &error));
		g_assert_error(error, CARDEA_SRTP_ERROR, CARDEA_SRTP_ERROR_INVALID);
		g_clear_error(&error);
	}
	cardea_srtp *ok = cardea_srtp_new_from_b64("AES_CM_128_HMAC_SHA1_80", noncanon, &error);
	g_assert_no_error(error);
	cardea_srtp_free(ok);
	g_free(short_key); g_free(long_key); g_free(junk); g_free(noncanon);
	g_free(b64);
}

static void test_srtp_bounds(void) {
	guint8 key[30] = { 7 };
	GError *error = NULL;
	cardea_srtp *s = cardea_srtp_new(CARDEA_SRTP_AES128_CM_SHA1_80, key, key, &error);
	g_assert_no_error(error);
	guint8 buf[200];
	gsize plain = make_rtp(buf, 5, 1, 20), len = plain;
	/* No room for the tag. */
	g_assert_cmpint(cardea_srtp_protect_rtp(s, buf, &len, plain + 9), ==, CARDEA_SRTP_ERR_NO_SPACE);
	g_assert_cmpuint(len, ==, plain);
	/* Not RTP: too short, wrong version, extension past the end. */
	len = 11;
	g_assert_cmpint(cardea_srtp_protect_rtp(s, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_ERR_INVALID);
	len = plain;
	buf[0] &= 0x3f;
	g_assert_cmpint(cardea_srtp_unprotect_rtp(s, buf, &len), ==, CARDEA_SRTP_ERR_INVALID);
	make_rtp(buf, 5, 1, 20);
	buf[19] = 0xff;         /* extension length */
	g_assert_cmpint(cardea_srtp_unprotect_rtp(s, buf, &len), ==, CARDEA_SRTP_ERR_INVALID);
	/* Shorter than header + tag. */
	make_rtp(buf, 5, 1, 0);
	len = 28 + 9;
	g_assert_cmpint(cardea_srtp_unprotect_rtp(s, buf, &len), ==, CARDEA_SRTP_ERR_INVALID);
	len = 8;
	make_rtcp(buf, 1);
	g_assert_cmpint(cardea_srtp_unprotect_rtcp(s, buf, &len), ==, CARDEA_SRTP_ERR_INVALID);
	len = 4;
	g_assert_cmpint(cardea_srtp_protect_rtcp(s, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_ERR_INVALID);
	/* Random bytes shaped like SRTP: auth failures, never OK. */
	GRand *rng = g_rand_new_with_seed(5);
	for (guint i = 0; i < 500; i++) {
		len = 12 + g_rand_int_range(rng, 0, 150);
		for (gsize j = 0; j < len; j++)
			buf[j] = (guint8)g_rand_int(rng);
		buf[0] = 0x80;
		g_assert_cmpint(cardea_srtp_unprotect_rtp(s, buf, &len), !=, CARDEA_SRTP_OK);
		buf[0] = 0x80;
		buf[1] = 200;
		g_assert_cmpint(cardea_srtp_unprotect_rtcp(s, buf, &len), !=, CARDEA_SRTP_OK);
	}
	g_rand_free(rng);
	cardea_srtp_stats st;
	cardea_srtp_get_stats(s, &st);
	g_assert_cmpuint(st.rtp_out.errors, ==, 2);
	g_assert_cmpuint(st.rtp_in.ok, ==, 0);
	g_assert_cmpuint(st.rtcp_in.ok, ==, 0);
	g_assert_cmpuint(st.rtp_in.auth_failures + st.rtp_in.errors + st.rtp_in.replays, ==, 503);
	cardea_srtp_free(s);

	/* One direction only. */
	s = cardea_srtp_new(CARDEA_SRTP_AES128_CM_SHA1_80, key, NULL, &error);
	g_assert_no_error(error);
	len = make_rtp(buf, 5, 1, 20);
	g_assert_cmpint(cardea_srtp_unprotect_rtp(s, buf, &len), ==, CARDEA_SRTP_ERR_INVALID);
	g_assert_cmpint(cardea_srtp_protect_rtp(s, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_OK);
	cardea_srtp_free(s);
	g_assert_null(cardea_srtp_new(CARDEA_SRTP_SUITE_NONE, key, key, &error));
	g_clear_error(&error);
	g_assert_null(cardea_srtp_new(CARDEA_SRTP_AES128_CM_SHA1_80, NULL, NULL, &error));
	g_clear_error(&error);

	/* Replay window: old packets are replays, retransmits may be resent. */
	cardea_srtp *tx = cardea_srtp_new(CARDEA_SRTP_AES128_CM_SHA1_80, key, NULL, NULL);
	cardea_srtp *rx = cardea_srtp_new(CARDEA_SRTP_AES128_CM_SHA1_80, NULL, key, NULL);
	guint8 first[200];
	gsize first_len = make_rtp(first, 1, 9, 20);
	g_assert_cmpint(cardea_srtp_protect_rtp(tx, first, &first_len, sizeof(first)), ==, CARDEA_SRTP_OK);
	for (guint16 seq = 2; seq < 3000; seq++) {
		len = make_rtp(buf, seq, 9, 20);
		g_assert_cmpint(cardea_srtp_protect_rtp(tx, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_OK);
		g_assert_cmpint(cardea_srtp_unprotect_rtp(rx, buf, &len), ==, CARDEA_SRTP_OK);
	}
	g_assert_cmpint(cardea_srtp_unprotect_rtp(rx, first, &first_len), ==, CARDEA_SRTP_ERR_REPLAY);
	len = make_rtp(buf, 2999, 9, 20);
	g_assert_cmpint(cardea_srtp_protect_rtp(tx, buf, &len, sizeof(buf)), ==, CARDEA_SRTP_OK);
	cardea_srtp_free(tx);
	cardea_srtp_free(rx);
}

static const profile_case case_default = { 0, 0, CARDEA_SRTP_AEAD_AES_128_GCM };
static const profile_case case_cm = { CARDEA_DTLS_PROFILE_AES128_CM_SHA1_80, 0, CARDEA_SRTP_AES128_CM_SHA1_80 };
static const profile_case case_cm_server = { 0, CARDEA_DTLS_PROFILE_AES128_CM_SHA1_80, CARDEA_SRTP_AES128_CM_SHA1_80 };
static const profile_case case_gcm = { CARDEA_DTLS_PROFILE_AEAD_AES_128_GCM,
	CARDEA_DTLS_PROFILE_AEAD_AES_128_GCM, CARDEA_SRTP_AEAD_AES_128_GCM };

static void test_no_common_profile(void) {
	if (!(cardea_dtls_context_profiles() & CARDEA_DTLS_PROFILE_AEAD_AES_128_GCM)) {
		g_test_skip("libsrtp without AES-GCM");
		return;
	}
	pair pr;
	pair_init(&pr, CARDEA_DTLS_PROFILE_AEAD_AES_128_GCM, CARDEA_DTLS_PROFILE_AES128_CM_SHA1_80, 0);
	run(&pr, 3);
	check_no_connection(&pr);
	g_assert_cmpint(cardea_dtls_get_state(pr.a.dtls), ==, CARDEA_DTLS_STATE_FAILED);
	pair_clear(&pr);
}

static void test_no_context(void) {
	cardea_dtls_context_deinit();
	g_assert_null(cardea_dtls_context_fingerprint());
	cardea_dtls_config cfg = { .role = CARDEA_DTLS_ROLE_ACTIVE };
	GError *error = NULL;
	g_assert_null(cardea_dtls_new(&cfg, &callbacks, NULL, &error));
	g_assert_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_CONTEXT);
	g_clear_error(&error);
	g_assert_true(cardea_dtls_context_init(NULL, NULL, NULL, &error));
	g_assert_no_error(error);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	if (!g_test_verbose())
		cardea_log_level = CARDEA_LOG_ERR;
	GError *error = NULL;
	if (!cardea_dtls_context_init(NULL, NULL, NULL, &error))
		g_error("context: %s", error->message);
	g_test_add_func("/dtls/fingerprint/generated", test_fingerprint_generated);
	g_test_add_func("/dtls/fingerprint/syntax", test_fingerprint_syntax);
	g_test_add_func("/dtls/fingerprint/mismatch", test_fingerprint_mismatch);
	g_test_add_data_func("/dtls/handshake/default-prefers-gcm", &case_default, test_handshake);
	g_test_add_data_func("/dtls/handshake/aes-cm-client", &case_cm, test_handshake);
	g_test_add_data_func("/dtls/handshake/aes-cm-server", &case_cm_server, test_handshake);
	g_test_add_data_func("/dtls/handshake/gcm", &case_gcm, test_handshake);
	g_test_add_func("/dtls/handshake/no-common-profile", test_no_common_profile);
	g_test_add_func("/dtls/retransmit", test_retransmit);
	g_test_add_func("/dtls/retransmit-last-flight", test_retransmit_last_flight);
	g_test_add_func("/dtls/handshake-timeout", test_handshake_timeout);
	g_test_add_func("/dtls/mtu", test_mtu);
	g_test_add_func("/dtls/close-notify", test_close);
	g_test_add_func("/dtls/free-in-callback", test_free_in_callback);
	g_test_add_func("/dtls/hostile/garbage", test_garbage);
	g_test_add_func("/dtls/hostile/client-hello", test_bad_client_hello);
	g_test_add_func("/dtls/certificate/pem", test_pem);
	g_test_add_func("/dtls/context/none", test_no_context);
	g_test_add_func("/srtp/b64-keys", test_srtp_b64);
	g_test_add_func("/srtp/bounds", test_srtp_bounds);
	int rc = g_test_run();
	cardea_dtls_context_deinit();
	cardea_srtp_global_deinit();
	return rc;
}
