/* SRTP/SRTCP sessions: OpenSSL (srtp-fast.h) for the supported suites,
 * libsrtp2 as the fallback and the reference; contract in srtp.h. */
#include <string.h>
#include <srtp2/srtp.h>
#include "cardea/module.h"
#include "webrtc/srtp.h"
#include "webrtc/srtp-fast.h"
#include "cardea/srtp.h"

G_DEFINE_QUARK(cardea-srtp-error-quark, cardea_srtp_error)

/* Replay window in packets. libsrtp's default (128) is short for video with
 * reordering across a congested path; 1024 is what browsers use. */
#define REPLAY_WINDOW 1024

typedef struct suite_info {
	const char *name;
	guint key_len, salt_len;
	guint rtp_tag, rtcp_tag;
} suite_info;

static const suite_info suites[] = {
	[CARDEA_SRTP_AES128_CM_SHA1_80] = { "AES_CM_128_HMAC_SHA1_80", 16, 14, 10, 10 },
	[CARDEA_SRTP_AES128_CM_SHA1_32] = { "AES_CM_128_HMAC_SHA1_32", 16, 14, 4, 10 },
	[CARDEA_SRTP_AEAD_AES_128_GCM] = { "AEAD_AES_128_GCM", 16, 12, 16, 16 },
};

static const suite_info *suite_get(cardea_srtp_suite suite) {
	if (suite <= CARDEA_SRTP_SUITE_NONE || suite > CARDEA_SRTP_AEAD_AES_128_GCM)
		return NULL;
	return &suites[suite];
}

struct cardea_srtp {
	cardea_srtp_suite suite;
	gboolean has_tx, has_rx;        /* which directions have a key */
	/* libsrtp sessions, owned. Created up front when the fast path is off
	 * at creation, otherwise only once some packet needs them (an SSRC the
	 * fast tables have no room for, or cardea_srtp_set_fast(FALSE)): each
	 * costs ~30 KB of NSS/libsrtp heap (test_srtp_fast /srtp/fast/memory). */
	srtp_t out, in;
	/* OpenSSL per direction (srtp-fast.h), owned; NULL = libsrtp. */
	cardea_srtp_fast *fast_tx, *fast_rx;
	/* Copies of key||salt for creating a libsrtp session late; wiped at free. */
	guint8 tx_key[CARDEA_SRTP_MAX_KEY_SALT_LEN], rx_key[CARDEA_SRTP_MAX_KEY_SALT_LEN];
	guint rtp_overhead, rtcp_overhead;
	/* Written by the owning thread only (relaxed stores), read by anyone. */
	cardea_srtp_stats stats;
};

/* ---- Process-wide libsrtp state ---- */

static GMutex global_lock;
static gboolean global_ready;   /* under global_lock */
static gint gcm_state;          /* 0 unknown, 1 yes, -1 no; under global_lock */

gboolean cardea_srtp_global_init(GError **error) {
	gboolean ok = TRUE;
	g_mutex_lock(&global_lock);
	if (!global_ready) {
		srtp_err_status_t st = srtp_init();
		if (st != srtp_err_status_ok) {
			g_set_error(error, CARDEA_SRTP_ERROR, CARDEA_SRTP_ERROR_INIT,
				"srtp_init failed (libsrtp error %d)", (int)st);
			ok = FALSE;
		} else {
			global_ready = TRUE;
		}
	}
	g_mutex_unlock(&global_lock);
	return ok;
}

void cardea_srtp_global_deinit(void) {
	g_mutex_lock(&global_lock);
	if (global_ready)
		srtp_shutdown();
	global_ready = FALSE;
	gcm_state = 0;
	g_mutex_unlock(&global_lock);
}

static void policy_fill(srtp_policy_t *p, cardea_srtp_suite suite, guint8 *key,
		gboolean outbound) {
	memset(p, 0, sizeof(*p));
	switch (suite) {
	case CARDEA_SRTP_AES128_CM_SHA1_80:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
		break;
	case CARDEA_SRTP_AES128_CM_SHA1_32:
		/* RFC 5764 4.1.2: the 32-bit tag applies to SRTP only. */
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
		break;
	case CARDEA_SRTP_AEAD_AES_128_GCM:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
		break;
	default:
		g_assert_not_reached();
	}
	p->ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
	p->key = key;
	p->window_size = REPLAY_WINDOW;
	/* NACK answers without RTX resend a packet with its original sequence
	 * number; the payload is identical, so re-protecting it is safe. */
	p->allow_repeat_tx = outbound ? 1 : 0;
	p->next = NULL;
}

static srtp_t session_create(cardea_srtp_suite suite, const guint8 *key_salt, gboolean outbound,
		GError **error) {
	const suite_info *si = suite_get(suite);
	/* libsrtp wants key||salt in one buffer; its AES-GCM policy reads
	 * key_len + 12, AES-CM key_len + 14, which is exactly our layout. */
	guint8 key[CARDEA_SRTP_MAX_KEY_SALT_LEN];
	memcpy(key, key_salt, si->key_len + si->salt_len);
	srtp_policy_t policy;
	policy_fill(&policy, suite, key, outbound);
	srtp_t session = NULL;
	srtp_err_status_t st = srtp_create(&session, &policy);
	memset(key, 0, sizeof(key));
	/* Keep the compiler from treating the wipe as a dead store. */
	__asm__ __volatile__("" : : "r"(key) : "memory");
	if (st != srtp_err_status_ok) {
		g_set_error(error, CARDEA_SRTP_ERROR, CARDEA_SRTP_ERROR_CREATE,
			"srtp_create (%s, %s) failed (libsrtp error %d)", si->name,
			outbound ? "outbound" : "inbound", (int)st);
		return NULL;
	}
	return session;
}

gboolean cardea_srtp_gcm_supported(void) {
	g_mutex_lock(&global_lock);
	gboolean ready = global_ready;
	gint state = gcm_state;
	g_mutex_unlock(&global_lock);
	if (!ready)
		return FALSE;
	if (state != 0)
		return state > 0;
	/* Builds whose crypto backend lacks GCM fail at srtp_create, so a trial
	 * session is the only reliable probe. */
	guint8 dummy[CARDEA_SRTP_MAX_KEY_SALT_LEN] = { 1 };
	srtp_t s = session_create(CARDEA_SRTP_AEAD_AES_128_GCM, dummy, TRUE, NULL);
	if (s)
		srtp_dealloc(s);
	g_mutex_lock(&global_lock);
	gcm_state = s ? 1 : -1;
	g_mutex_unlock(&global_lock);
	return s != NULL;
}

/* ---- Suites ---- */

const char *cardea_srtp_suite_name(cardea_srtp_suite suite) {
	const suite_info *si = suite_get(suite);
	return si ? si->name : NULL;
}

cardea_srtp_suite cardea_srtp_suite_from_name(const char *name) {
	if (!name)
		return CARDEA_SRTP_SUITE_NONE;
	for (guint i = CARDEA_SRTP_AES128_CM_SHA1_80; i <= CARDEA_SRTP_AEAD_AES_128_GCM; i++) {
		if (strcmp(name, suites[i].name) == 0)
			return (cardea_srtp_suite)i;
	}
	return CARDEA_SRTP_SUITE_NONE;
}

gsize cardea_srtp_suite_key_len(cardea_srtp_suite suite) {
	const suite_info *si = suite_get(suite);
	return si ? si->key_len : 0;
}

gsize cardea_srtp_suite_salt_len(cardea_srtp_suite suite) {
	const suite_info *si = suite_get(suite);
	return si ? si->salt_len : 0;
}

/* ---- Sessions ---- */

cardea_srtp *cardea_srtp_new(cardea_srtp_suite suite, const guint8 *tx_key_salt,
		const guint8 *rx_key_salt, GError **error) {
	const suite_info *si = suite_get(suite);
	if (!si || (!tx_key_salt && !rx_key_salt)) {
		g_set_error(error, CARDEA_SRTP_ERROR, CARDEA_SRTP_ERROR_INVALID,
			"invalid SRTP suite or no key material");
		return NULL;
	}
	if (!cardea_srtp_global_init(error))
		return NULL;
	cardea_srtp *s = g_new0(cardea_srtp, 1);
	s->suite = suite;
	s->rtp_overhead = si->rtp_tag;
	s->rtcp_overhead = si->rtcp_tag + 4;
	gsize kl = si->key_len + si->salt_len;
	s->has_tx = tx_key_salt != NULL;
	s->has_rx = rx_key_salt != NULL;
	if (s->has_tx)
		memcpy(s->tx_key, tx_key_salt, kl);
	if (s->has_rx)
		memcpy(s->rx_key, rx_key_salt, kl);
	/* CARDEA_SRTP_LIBSRTP=1 keeps every packet on libsrtp (A/B benchmarks). */
	gboolean fast = g_strcmp0(g_getenv("CARDEA_SRTP_LIBSRTP"), "1") != 0;
	if (fast && s->has_tx && !(s->fast_tx = cardea_srtp_fast_new(suite, tx_key_salt, FALSE)))
		fast = FALSE;
	if (fast && s->has_rx && !(s->fast_rx = cardea_srtp_fast_new(suite, rx_key_salt, TRUE)))
		fast = FALSE;
	if (!fast) {
		/* Up front, so that a refused policy fails here as it always did. */
		g_clear_pointer(&s->fast_tx, cardea_srtp_fast_free);
		g_clear_pointer(&s->fast_rx, cardea_srtp_fast_free);
		if ((s->has_tx && !(s->out = session_create(suite, tx_key_salt, TRUE, error))) ||
				(s->has_rx && !(s->in = session_create(suite, rx_key_salt, FALSE, error)))) {
			cardea_srtp_free(s);
			return NULL;
		}
	}
	return s;
}

/* Canonical base64 only: GLib's decoder skips junk, which would let a typo
 * silently produce a different key. */
static gboolean b64_strict_decode(const char *in, guint8 *out, gsize want) {
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	gsize n = strlen(in);
	gsize expect = ((want + 2) / 3) * 4;
	if (n != expect)
		return FALSE;
	gsize pad = (3 - want % 3) % 3;
	for (gsize i = 0; i < n; i++) {
		gboolean is_pad = i >= n - pad;
		if (is_pad ? in[i] != '=' : !strchr(alphabet, in[i]))
			return FALSE;
	}
	gsize out_len = 0;
	guchar *dec = g_base64_decode(in, &out_len);
	gboolean ok = dec && out_len == want;
	if (ok)
		memcpy(out, dec, want);
	if (dec) {
		memset(dec, 0, out_len);
		g_free(dec);
	}
	/* Reject non-canonical trailing bits so one key has one spelling. */
	if (ok) {
		gchar *re = g_base64_encode(out, want);
		ok = strcmp(re, in) == 0;
		memset(re, 0, strlen(re));
		g_free(re);
	}
	return ok;
}

cardea_srtp *cardea_srtp_new_from_b64(const char *suite_name, const char *key_salt_b64,
		GError **error) {
	cardea_srtp_suite suite = cardea_srtp_suite_from_name(suite_name);
	if (suite == CARDEA_SRTP_SUITE_NONE) {
		g_set_error(error, CARDEA_SRTP_ERROR, CARDEA_SRTP_ERROR_INVALID,
			"unsupported SRTP suite '%s'", suite_name ? suite_name : "(null)");
		return NULL;
	}
	const suite_info *si = suite_get(suite);
	gsize want = si->key_len + si->salt_len;
	guint8 key[CARDEA_SRTP_MAX_KEY_SALT_LEN];
	if (!key_salt_b64 || !b64_strict_decode(key_salt_b64, key, want)) {
		g_set_error(error, CARDEA_SRTP_ERROR, CARDEA_SRTP_ERROR_INVALID,
			"SRTP key for %s must be base64 of exactly %u bytes", si->name, (guint)want);
		return NULL;
	}
	cardea_srtp *s = cardea_srtp_new(suite, key, key, error);
	memset(key, 0, sizeof(key));
	__asm__ __volatile__("" : : "r"(key) : "memory");
	return s;
}

void cardea_srtp_free(cardea_srtp *s) {
	if (!s)
		return;
	if (s->out)
		srtp_dealloc(s->out);
	if (s->in)
		srtp_dealloc(s->in);
	cardea_srtp_fast_free(s->fast_tx);
	cardea_srtp_fast_free(s->fast_rx);
	memset(s->tx_key, 0, sizeof(s->tx_key));
	memset(s->rx_key, 0, sizeof(s->rx_key));
	__asm__ __volatile__("" : : "r"(s) : "memory");
	g_free(s);
}

void cardea_srtp_set_fast(cardea_srtp *s, gboolean on) {
	if (s && !on) {
		g_clear_pointer(&s->fast_tx, cardea_srtp_fast_free);
		g_clear_pointer(&s->fast_rx, cardea_srtp_fast_free);
	}
}

/* The libsrtp session of a direction, created on first need from the kept
 * key; NULL when libsrtp refuses (counted as a failure by the caller). */
static srtp_t session_get(cardea_srtp *s, gboolean outbound) {
	srtp_t *p = outbound ? &s->out : &s->in;
	if (*p == NULL)
		*p = session_create(s->suite, outbound ? s->tx_key : s->rx_key, outbound, NULL);
	return *p;
}

cardea_srtp_suite cardea_srtp_get_suite(const cardea_srtp *s) {
	return s ? s->suite : CARDEA_SRTP_SUITE_NONE;
}

/* ---- Packets ---- */

/* Single writer: a relaxed load/store pair is a plain increment on the
 * owning thread yet never tears for a reader elsewhere. */
static inline void bump(guint64 *c) {
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static cardea_srtp_result count(cardea_srtp_counters *c, cardea_srtp_result r) {
	switch (r) {
	case CARDEA_SRTP_OK: bump(&c->ok); break;
	case CARDEA_SRTP_ERR_AUTH: bump(&c->auth_failures); break;
	case CARDEA_SRTP_ERR_REPLAY: bump(&c->replays); break;
	default: bump(&c->errors); break;
	}
	return r;
}

static cardea_srtp_result map_status(srtp_err_status_t st) {
	switch (st) {
	case srtp_err_status_ok: return CARDEA_SRTP_OK;
	case srtp_err_status_auth_fail: return CARDEA_SRTP_ERR_AUTH;
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old: return CARDEA_SRTP_ERR_REPLAY;
	case srtp_err_status_bad_param:
	case srtp_err_status_parse_err: return CARDEA_SRTP_ERR_INVALID;
	default: return CARDEA_SRTP_ERR_FAILED;
	}
}

/* Bytes of fixed header, CSRCs and header extension, or 0 when the packet
 * is not a well-formed RTP version 2 packet. libsrtp checks some of this
 * too, but not uniformly across versions and ciphers. */
static gsize rtp_header_len(const guint8 *buf, gsize len) {
	if (len < 12 || (buf[0] >> 6) != 2)
		return 0;
	gsize hlen = 12 + 4 * (gsize)(buf[0] & 0x0f);
	if (buf[0] & 0x10) {
		if (len < hlen + 4)
			return 0;
		hlen += 4 + 4 * (gsize)((buf[hlen + 2] << 8) | buf[hlen + 3]);
	}
	return hlen <= len ? hlen : 0;
}

static gboolean rtcp_plausible(const guint8 *buf, gsize len) {
	return len >= 8 && (buf[0] >> 6) == 2;
}

/* A fast-path answer (>= 0) is final; -1 (no room for this SSRC in the
 * fast table) or no fast path at all goes to libsrtp. */
typedef srtp_err_status_t (*libsrtp_fn)(srtp_t, void *, int *);

static cardea_srtp_result via_libsrtp(cardea_srtp *s, gboolean outbound, libsrtp_fn fn,
		guint8 *buf, gsize *len) {
	srtp_t session = session_get(s, outbound);
	if (session == NULL)
		return CARDEA_SRTP_ERR_FAILED;
	int n = (int)*len;
	cardea_srtp_result r = map_status(fn(session, buf, &n));
	if (r == CARDEA_SRTP_OK)
		*len = (gsize)n;
	return r;
}

cardea_srtp_result cardea_srtp_protect_rtp(cardea_srtp *s, guint8 *buf, gsize *len, gsize cap) {
	if (!s || !buf || !len)
		return CARDEA_SRTP_ERR_INVALID;
	cardea_srtp_counters *c = &s->stats.rtp_out;
	gsize hlen = *len <= CARDEA_SRTP_MAX_PACKET ? rtp_header_len(buf, *len) : 0;
	if (!s->has_tx || !hlen)
		return count(c, CARDEA_SRTP_ERR_INVALID);
	if (cap < *len + s->rtp_overhead)
		return count(c, CARDEA_SRTP_ERR_NO_SPACE);
	int fr = s->fast_tx ? cardea_srtp_fast_protect(s->fast_tx, buf, len, hlen) : -1;
	if (fr >= 0)
		return count(c, (cardea_srtp_result)fr);
	return count(c, via_libsrtp(s, TRUE, srtp_protect, buf, len));
}

cardea_srtp_result cardea_srtp_protect_rtcp(cardea_srtp *s, guint8 *buf, gsize *len, gsize cap) {
	if (!s || !buf || !len)
		return CARDEA_SRTP_ERR_INVALID;
	cardea_srtp_counters *c = &s->stats.rtcp_out;
	if (!s->has_tx || *len > CARDEA_SRTP_MAX_PACKET || !rtcp_plausible(buf, *len))
		return count(c, CARDEA_SRTP_ERR_INVALID);
	if (cap < *len + s->rtcp_overhead)
		return count(c, CARDEA_SRTP_ERR_NO_SPACE);
	int fr = s->fast_tx ? cardea_srtp_fast_protect_rtcp(s->fast_tx, buf, len) : -1;
	if (fr >= 0)
		return count(c, (cardea_srtp_result)fr);
	return count(c, via_libsrtp(s, TRUE, srtp_protect_rtcp, buf, len));
}

cardea_srtp_result cardea_srtp_unprotect_rtp(cardea_srtp *s, guint8 *buf, gsize *len) {
	if (!s || !buf || !len)
		return CARDEA_SRTP_ERR_INVALID;
	cardea_srtp_counters *c = &s->stats.rtp_in;
	gsize hlen = (*len <= CARDEA_SRTP_MAX_PACKET) ? rtp_header_len(buf, *len) : 0;
	if (!s->has_rx || !hlen || *len < hlen + s->rtp_overhead)
		return count(c, CARDEA_SRTP_ERR_INVALID);
	int fr = s->fast_rx ? cardea_srtp_fast_unprotect(s->fast_rx, buf, len, hlen) : -1;
	if (fr >= 0)
		return count(c, (cardea_srtp_result)fr);
	return count(c, via_libsrtp(s, FALSE, srtp_unprotect, buf, len));
}

cardea_srtp_result cardea_srtp_unprotect_rtcp(cardea_srtp *s, guint8 *buf, gsize *len) {
	if (!s || !buf || !len)
		return CARDEA_SRTP_ERR_INVALID;
	cardea_srtp_counters *c = &s->stats.rtcp_in;
	if (!s->has_rx || *len > CARDEA_SRTP_MAX_PACKET || !rtcp_plausible(buf, *len) ||
			*len < 8 + s->rtcp_overhead)
		return count(c, CARDEA_SRTP_ERR_INVALID);
	int fr = s->fast_rx ? cardea_srtp_fast_unprotect_rtcp(s->fast_rx, buf, len) : -1;
	if (fr >= 0)
		return count(c, (cardea_srtp_result)fr);
	return count(c, via_libsrtp(s, FALSE, srtp_unprotect_rtcp, buf, len));
}

static void counters_load(const cardea_srtp_counters *c, cardea_srtp_counters *out) {
	out->ok = __atomic_load_n(&c->ok, __ATOMIC_RELAXED);
	out->auth_failures = __atomic_load_n(&c->auth_failures, __ATOMIC_RELAXED);
	out->replays = __atomic_load_n(&c->replays, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&c->errors, __ATOMIC_RELAXED);
}

void cardea_srtp_get_stats(const cardea_srtp *s, cardea_srtp_stats *out) {
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!s)
		return;
	counters_load(&s->stats.rtp_out, &out->rtp_out);
	counters_load(&s->stats.rtcp_out, &out->rtcp_out);
	counters_load(&s->stats.rtp_in, &out->rtp_in);
	counters_load(&s->stats.rtcp_in, &out->rtcp_in);
}

const char *cardea_srtp_result_str(cardea_srtp_result r) {
	switch (r) {
	case CARDEA_SRTP_OK: return "ok";
	case CARDEA_SRTP_ERR_INVALID: return "invalid packet";
	case CARDEA_SRTP_ERR_NO_SPACE: return "no room for the SRTP trailer";
	case CARDEA_SRTP_ERR_AUTH: return "auth failure";
	case CARDEA_SRTP_ERR_REPLAY: return "replay";
	case CARDEA_SRTP_ERR_FAILED: return "SRTP failure";
	}
	return "unknown";
}

/* ---- SDK (cardea/srtp.h): SDES-style contexts for plugins ---- */

G_STATIC_ASSERT(CARDEA_SRTP_SDES_OVERHEAD == CARDEA_SRTP_MAX_OVERHEAD);

cardea_srtp *cardea_srtp_sdes_new(int tag_bits, const char *key_salt_b64, char **error) {
	GError *err = NULL;
	cardea_srtp *s = NULL;
	if (tag_bits != 32 && tag_bits != 80)
		err = g_error_new(CARDEA_SRTP_ERROR, CARDEA_SRTP_ERROR_INVALID, "SRTP suite must be 32 or 80 (got %d)", tag_bits);
	else if (cardea_srtp_global_init(&err))
		s = cardea_srtp_new_from_b64(cardea_srtp_suite_name(tag_bits == 32 ? CARDEA_SRTP_AES128_CM_SHA1_32 :
			CARDEA_SRTP_AES128_CM_SHA1_80), key_salt_b64, &err);
	if (s == NULL && error != NULL)
		*error = g_strdup(err ? err->message : "SRTP context not created");
	g_clear_error(&err);
	return s;
}

int cardea_srtp_sdes_protect_rtp(cardea_srtp *s, uint8_t *buf, size_t *len, size_t cap) {
	gsize l = *len;
	if (s == NULL || cardea_srtp_protect_rtp(s, buf, &l, cap) != CARDEA_SRTP_OK)
		return -1;
	*len = l;
	return 0;
}

void cardea_srtp_sdes_free(cardea_srtp *s) {
	cardea_srtp_free(s);
}
