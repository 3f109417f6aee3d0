/* SRTP/SRTCP on OpenSSL (RFC 3711 AES-CM + HMAC-SHA1, RFC 7714 AES-GCM);
 * see srtp-fast.h for why and the limits. */
/* The low-level SHA-1 calls are deprecated in OpenSSL 3 but are the only
 * allocation-free way to reuse a keyed HMAC state: copying a SHA_CTX is a
 * memcpy, where EVP_MAC_CTX_dup allocates. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/provider.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include "webrtc/srtp-fast.h"
#include "cardea/module.h"

/* SSRCs remembered per direction: a PC sends one media and one RTX SSRC per
 * m-line (at most 16 m-lines), and receives about as many; more fall back
 * to libsrtp. */
#define FAST_SSRCS 40
/* libsrtp's RTP window (srtp.c REPLAY_WINDOW): a re-sent seq further back
 * fails on send, a received one is a replay. */
#define FAST_WINDOW 1024
/* libsrtp's fixed SRTCP window (rdb_bits_in_bitmask). */
#define FAST_RTCP_WINDOW 128
#define SEQ_MEDIAN 32768
#define SRTCP_INDEX_MAX 0x7fffffffu
#define SRTCP_E_BIT 0x80000000u
#define RTCP_HEADER 8
#define RTCP_TAG_CM 10      /* SRTCP is HMAC-SHA1-80 for both AES-CM suites */
#define GCM_TAG 16

/* One SSRC's state; its SSRC is cardea_srtp_fast.ssrcs[i]. */
typedef struct fast_stream {
	/* Outbound: last SRTCP index sent (0 = none yet, the first is 1).
	 * Inbound: highest SRTCP index accepted (0 with an empty window = none). */
	guint32 rtcp_index;
	guint64 index;          /* highest 48-bit RTP index: ROC << 16 | seq */
	/* Inbound only: bit k set = index (highest - k) accepted. */
	guint64 rtp_win[FAST_WINDOW / 64];
	guint64 rtcp_win[FAST_RTCP_WINDOW / 64];
} fast_stream;

/* Per-packet cipher calls go straight to the provider's implementation of
 * the algorithm (the one EVP_CIPHER_fetch picks, so the library's provider
 * configuration still decides), not through EVP: OpenSSL 3.0's EVP layer
 * queries the IV length and builds parameter lists on every IV set and tag
 * read. `test_srtp_fast -m perf -p /srtp/fast/bench`: GCM unprotect of a
 * 160-byte payload 326 -> 210 ns, 1200 bytes 542 -> 398 ns; AES-CM 501 ->
 * 415 and 1241 -> 1119 ns (tests/bench/RESULTS.md, 2026-12-07 17:35).
 * Filled once, read-only after. */
typedef struct prov_cipher {
	EVP_CIPHER *fetched;     /* kept for the process: holds the provider loaded */
	void *provctx;
	OSSL_FUNC_cipher_newctx_fn *newctx;
	OSSL_FUNC_cipher_freectx_fn *freectx;
	OSSL_FUNC_cipher_encrypt_init_fn *einit;
	OSSL_FUNC_cipher_decrypt_init_fn *dinit;
	OSSL_FUNC_cipher_update_fn *update;
	OSSL_FUNC_cipher_final_fn *final;
	OSSL_FUNC_cipher_get_ctx_params_fn *get_params;
	OSSL_FUNC_cipher_set_ctx_params_fn *set_params;
} prov_cipher;

/* The session keys of one of RTP or RTCP. */
typedef struct fast_keys {
	const prov_cipher *impl; /* AES-128-CTR or AES-128-GCM */
	void *cipher;            /* owned provider context: keyed once, IV set per packet */
	SHA_CTX inner, outer;    /* HMAC-SHA1 states after the keyed pads (AES-CM) */
	guint8 salt[14];         /* session salt (12 bytes for GCM) */
} fast_keys;

struct cardea_srtp_fast {
	gboolean gcm, inbound;
	guint tag_len;           /* RTP: 10 or 4 (AES-CM), 16 (GCM) */
	guint rtcp_tag_len;      /* 10 (AES-CM), 16 (GCM) */
	fast_keys rtp, rtcp;
	fast_stream *streams;    /* owned, n_streams used of n_alloc */
	/* owned: the SSRC of streams[i], packed apart from them. The lookup
	 * scans these rather than the 160-byte streams: a subscriber PC of 10
	 * audio m-lines gets its 10 SSRCs' packets in turn, and the scan over
	 * the streams touched a cache line per entry (~45% of protect's own
	 * time, tests/bench c). */
	guint32 *ssrcs;
	guint n_streams, n_alloc;
	guint last;              /* index of the last stream used: runs of one SSRC */
};

static inline void wipe(void *p, gsize n) {
	memset(p, 0, n);
	/* Keep the compiler from treating the wipe as a dead store. */
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

static inline guint32 be32(const guint8 *p) {
	return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

static inline void put_be32(guint8 *p, guint32 v) {
	p[0] = (guint8)(v >> 24);
	p[1] = (guint8)(v >> 16);
	p[2] = (guint8)(v >> 8);
	p[3] = (guint8)v;
}

/* RFC 3711 4.3.1 key derivation with key_derivation_rate 0: AES-CM keyed
 * with the master key, IV = (master salt, padded to 14 bytes) XOR label at
 * byte 7, keystream over zeros. */
static gboolean kdf(const guint8 *master_key, const guint8 salt14[14], guint8 label, guint8 *out, gsize len) {
	guint8 iv[16] = { 0 }, zero[32] = { 0 };
	memcpy(iv, salt14, 14);
	iv[7] ^= label;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0;
	gboolean ok = c && len <= sizeof(zero) &&
		EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, master_key, iv) == 1 &&
		EVP_EncryptUpdate(c, out, &n, zero, (int)len) == 1 && n == (int)len;
	EVP_CIPHER_CTX_free(c);
	return ok;
}

static gboolean name_listed(const char *names, const char *name) {
	gsize n = strlen(name);
	for (const char *p = names; p != NULL && *p; ) {
		const char *end = strchr(p, ':');
		gsize len = end ? (gsize)(end - p) : strlen(p);
		if (len == n && g_ascii_strncasecmp(p, name, n) == 0)
			return TRUE;
		p = end ? end + 1 : NULL;
	}
	return FALSE;
}

/* FALSE when the provider lacks the algorithm or one of the calls. The
 * fetched cipher stays in c (never freed) so its provider stays loaded. */
static gboolean prov_cipher_resolve(prov_cipher *c, const char *name) {
	c->fetched = EVP_CIPHER_fetch(NULL, name, NULL);
	const OSSL_PROVIDER *prov = c->fetched ? EVP_CIPHER_get0_provider(c->fetched) : NULL;
	int no_cache = 0;
	const OSSL_ALGORITHM *alg = prov ?
		OSSL_PROVIDER_query_operation(prov, OSSL_OP_CIPHER, &no_cache) : NULL;
	for (; alg != NULL && alg->algorithm_names != NULL; alg++) {
		if (!name_listed(alg->algorithm_names, name))
			continue;
		for (const OSSL_DISPATCH *d = alg->implementation; d->function_id != 0; d++) {
			switch (d->function_id) {
			case OSSL_FUNC_CIPHER_NEWCTX: c->newctx = OSSL_FUNC_cipher_newctx(d); break;
			case OSSL_FUNC_CIPHER_FREECTX: c->freectx = OSSL_FUNC_cipher_freectx(d); break;
			case OSSL_FUNC_CIPHER_ENCRYPT_INIT: c->einit = OSSL_FUNC_cipher_encrypt_init(d); break;
			case OSSL_FUNC_CIPHER_DECRYPT_INIT: c->dinit = OSSL_FUNC_cipher_decrypt_init(d); break;
			case OSSL_FUNC_CIPHER_UPDATE: c->update = OSSL_FUNC_cipher_update(d); break;
			case OSSL_FUNC_CIPHER_FINAL: c->final = OSSL_FUNC_cipher_final(d); break;
			case OSSL_FUNC_CIPHER_GET_CTX_PARAMS: c->get_params = OSSL_FUNC_cipher_get_ctx_params(d); break;
			case OSSL_FUNC_CIPHER_SET_CTX_PARAMS: c->set_params = OSSL_FUNC_cipher_set_ctx_params(d); break;
			default: break;
			}
		}
		c->provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
		break;
	}
	/* The function pointers stay valid while the provider is loaded; the
	 * kept `fetched` holds it. */
	gboolean ok = c->newctx && c->freectx && c->einit && c->dinit && c->update && c->final &&
		c->get_params && c->set_params;
	if (!ok) {
		EVP_CIPHER_free(c->fetched);
		memset(c, 0, sizeof(*c));
	}
	return ok;
}

static const prov_cipher *prov_cipher_get(gboolean gcm) {
	static prov_cipher ctr_impl, gcm_impl;
	static gboolean ctr_ok, gcm_ok;
	static gsize once;
	if (g_once_init_enter(&once)) {
		ctr_ok = prov_cipher_resolve(&ctr_impl, "AES-128-CTR");
		gcm_ok = prov_cipher_resolve(&gcm_impl, "AES-128-GCM");
		if (!ctr_ok || !gcm_ok)
			CARDEA_LOG(CARDEA_LOG_WARN, "[srtp] OpenSSL's provider lacks AES-128-%s: those sessions use libsrtp",
				!ctr_ok && !gcm_ok ? "CTR and -GCM" : !ctr_ok ? "CTR" : "GCM");
		g_once_init_leave(&once, 1);
	}
	return gcm ? (gcm_ok ? &gcm_impl : NULL) : (ctr_ok ? &ctr_impl : NULL);
}

/* Derives and keys one set: labels label0 (cipher), +1 (auth), +2 (salt),
 * i.e. 0/1/2 for SRTP and 3/4/5 for SRTCP. */
static gboolean keys_init(fast_keys *k, gboolean gcm, gboolean decrypt, const guint8 *key_salt,
		guint8 label0) {
	guint salt_len = gcm ? 12 : 14;
	guint8 master_salt[14] = { 0 }, key[16], auth[20];
	memcpy(master_salt, key_salt + 16, salt_len);
	gboolean ok = kdf(key_salt, master_salt, label0, key, sizeof(key)) &&
		kdf(key_salt, master_salt, label0 + 2, k->salt, salt_len) &&
		(gcm || kdf(key_salt, master_salt, label0 + 1, auth, sizeof(auth)));
	if (ok) {
		k->impl = prov_cipher_get(gcm);
		k->cipher = k->impl ? k->impl->newctx(k->impl->provctx) : NULL;
		/* CTR is its own inverse; GCM needs the direction for the tag. */
		ok = k->cipher != NULL && (gcm && decrypt ?
			k->impl->dinit(k->cipher, key, sizeof(key), NULL, 0, NULL) :
			k->impl->einit(k->cipher, key, sizeof(key), NULL, 0, NULL)) == 1;
	}
	if (ok && !gcm) {
		guint8 ipad[64], opad[64];
		memset(ipad, 0x36, sizeof(ipad));
		memset(opad, 0x5c, sizeof(opad));
		for (guint i = 0; i < sizeof(auth); i++) {
			ipad[i] ^= auth[i];
			opad[i] ^= auth[i];
		}
		ok = SHA1_Init(&k->inner) && SHA1_Update(&k->inner, ipad, sizeof(ipad)) &&
			SHA1_Init(&k->outer) && SHA1_Update(&k->outer, opad, sizeof(opad));
		wipe(ipad, sizeof(ipad));
		wipe(opad, sizeof(opad));
	}
	wipe(key, sizeof(key));
	wipe(auth, sizeof(auth));
	wipe(master_salt, sizeof(master_salt));
	return ok;
}

cardea_srtp_fast *cardea_srtp_fast_new(cardea_srtp_suite suite, const guint8 *key_salt,
		gboolean inbound) {
	if (suite != CARDEA_SRTP_AES128_CM_SHA1_80 && suite != CARDEA_SRTP_AES128_CM_SHA1_32 &&
			suite != CARDEA_SRTP_AEAD_AES_128_GCM)
		return NULL;
	cardea_srtp_fast *f = g_new0(cardea_srtp_fast, 1);
	f->gcm = suite == CARDEA_SRTP_AEAD_AES_128_GCM;
	f->inbound = inbound;
	f->tag_len = f->gcm ? GCM_TAG : suite == CARDEA_SRTP_AES128_CM_SHA1_32 ? 4 : 10;
	f->rtcp_tag_len = f->gcm ? GCM_TAG : RTCP_TAG_CM;
	if (!keys_init(&f->rtp, f->gcm, inbound, key_salt, 0x00) ||
			!keys_init(&f->rtcp, f->gcm, inbound, key_salt, 0x03)) {
		cardea_srtp_fast_free(f);
		return NULL;
	}
	return f;
}

void cardea_srtp_fast_free(cardea_srtp_fast *f) {
	if (f == NULL)
		return;
	/* The provider's freectx wipes the key schedule. */
	if (f->rtp.cipher)
		f->rtp.impl->freectx(f->rtp.cipher);
	if (f->rtcp.cipher)
		f->rtcp.impl->freectx(f->rtcp.cipher);
	g_free(f->streams);
	g_free(f->ssrcs);
	wipe(f, sizeof(*f));
	g_free(f);
}

/* ---- Streams ---- */

static fast_stream *stream_find(cardea_srtp_fast *f, guint32 ssrc) {
	if (f->n_streams && f->ssrcs[f->last] == ssrc)
		return &f->streams[f->last];
	for (guint i = 0; i < f->n_streams; i++)
		if (f->ssrcs[i] == ssrc) {
			f->last = i;
			return &f->streams[i];
		}
	return NULL;
}

/* A fresh stream is in libsrtp's state for a cloned stream: RTP index 0,
 * nothing in either window. Call only when stream_find failed and the table
 * is not full. */
static fast_stream *stream_add(cardea_srtp_fast *f, guint32 ssrc) {
	if (f->n_streams == f->n_alloc) {
		/* Most sessions see one to four SSRCs: start small. */
		f->n_alloc = MIN(FAST_SSRCS, f->n_alloc ? f->n_alloc * 2 : 4);
		f->streams = g_renew(fast_stream, f->streams, f->n_alloc);
		f->ssrcs = g_renew(guint32, f->ssrcs, f->n_alloc);
	}
	f->last = f->n_streams++;
	fast_stream *s = &f->streams[f->last];
	memset(s, 0, sizeof(*s));
	f->ssrcs[f->last] = ssrc;
	return s;
}

/* Outbound: the SSRC's stream, new if need be; NULL when the table is full
 * (the caller falls back to libsrtp). */
static fast_stream *stream_for_send(cardea_srtp_fast *f, guint32 ssrc) {
	fast_stream *s = stream_find(f, ssrc);
	if (s == NULL && f->n_streams < FAST_SSRCS)
		s = stream_add(f, ssrc);
	return s;
}

/* The index this seq stands for and its distance from the highest one
 * (RFC 3711 3.3.1 as libsrtp estimates it: ROC 0 until past the median). */
static gint64 estimate(guint64 index, guint16 seq, guint64 *guess) {
	if (index <= SEQ_MEDIAN) {
		*guess = seq;
		return (gint64)seq - (gint64)index;
	}
	guint32 roc = (guint32)(index >> 16), groc;
	guint16 local = (guint16)index;
	gint64 diff;
	if (local < SEQ_MEDIAN) {
		if ((gint)seq - (gint)local > SEQ_MEDIAN) {
			groc = roc - 1;
			diff = (gint64)seq - local - 65536;
		} else {
			groc = roc;
			diff = (gint64)seq - local;
		}
	} else if ((gint)local - SEQ_MEDIAN > (gint)seq) {
		groc = roc + 1;
		diff = (gint64)seq - local + 65536;
	} else {
		groc = roc;
		diff = (gint64)seq - local;
	}
	*guess = ((guint64)groc << 16) | seq;
	return diff;
}

/* Windows: bit k of w stands for (highest - k). */
static inline gboolean win_get(const guint64 *w, guint64 k) {
	return (w[k / 64] >> (k % 64)) & 1;
}

static inline void win_set(guint64 *w, guint64 k) {
	w[k / 64] |= (guint64)1 << (k % 64);
}

/* Moves the window forward: the highest becomes highest + by. */
static void win_advance(guint64 *w, guint words, guint64 by) {
	if (by >= (guint64)words * 64) {
		memset(w, 0, words * sizeof(*w));
		return;
	}
	guint ws = (guint)(by / 64), bs = (guint)(by % 64);
	for (guint i = words; i-- > 0;) {
		guint64 v = 0;
		if (i >= ws) {
			v = w[i - ws] << bs;
			if (bs && i > ws)
				v |= w[i - ws - 1] >> (64 - bs);
		}
		w[i] = v;
	}
}

/* libsrtp's srtp_rdbx_check for a known stream. */
static gboolean rtp_fresh(const fast_stream *s, gint64 delta) {
	if (delta > 0)
		return TRUE;
	if (delta <= -FAST_WINDOW)
		return FALSE;
	return !win_get(s->rtp_win, (guint64)-delta);
}

static void rtp_accept(fast_stream *s, gint64 delta, guint64 idx) {
	if (delta > 0) {
		win_advance(s->rtp_win, G_N_ELEMENTS(s->rtp_win), (guint64)delta);
		s->index = idx;
		win_set(s->rtp_win, 0);
	} else {
		win_set(s->rtp_win, (guint64)-delta);
	}
}

/* libsrtp's srtp_rdb_check: a fresh stream (highest 0, empty window)
 * accepts anything. */
static gboolean rtcp_fresh(const fast_stream *s, guint32 idx) {
	if (idx > s->rtcp_index)
		return TRUE;
	guint32 k = s->rtcp_index - idx;
	return k < FAST_RTCP_WINDOW && !win_get(s->rtcp_win, k);
}

static void rtcp_accept(fast_stream *s, guint32 idx) {
	if (idx > s->rtcp_index) {
		win_advance(s->rtcp_win, G_N_ELEMENTS(s->rtcp_win), idx - s->rtcp_index);
		s->rtcp_index = idx;
		win_set(s->rtcp_win, 0);
	} else {
		win_set(s->rtcp_win, s->rtcp_index - idx);
	}
}

/* ---- Crypto primitives ---- */

/* HMAC-SHA1 of a || b with the keyed states of k. */
static void hmac(const fast_keys *k, const guint8 *a, gsize alen, const guint8 *b, gsize blen,
		guint8 md[SHA_DIGEST_LENGTH]) {
	SHA_CTX c = k->inner;
	SHA1_Update(&c, a, alen);
	SHA1_Update(&c, b, blen);
	SHA1_Final(md, &c);
	c = k->outer;
	SHA1_Update(&c, md, SHA_DIGEST_LENGTH);
	SHA1_Final(md, &c);
	wipe(&c, sizeof(c));
}

/* RFC 3711 4.1.1 counter: salt XOR (SSRC << 64) XOR (index << 16), for a
 * 48-bit SRTP index or a 31-bit SRTCP one. */
static gboolean ctr_crypt(fast_keys *k, const guint8 *ssrc, guint64 index, guint8 *p, gsize n) {
	guint8 iv[16] = { 0, 0, 0, 0, ssrc[0], ssrc[1], ssrc[2], ssrc[3],
		index >> 40, index >> 32, index >> 24, index >> 16, index >> 8, index, 0, 0 };
	for (guint i = 0; i < 14; i++)
		iv[i] ^= k->salt[i];
	size_t out = 0;
	return k->impl->einit(k->cipher, NULL, 0, iv, sizeof(iv), NULL) == 1 &&
		(n == 0 || k->impl->update(k->cipher, p, &out, n, p, n) == 1);
}

/* RFC 7714 8.1 / 9.1: 12-byte IV XOR the session salt. */
static void gcm_iv(const fast_keys *k, const guint8 *ssrc, guint32 hi, guint32 lo, guint8 iv[12]) {
	guint8 v[12] = { 0, 0, ssrc[0], ssrc[1], ssrc[2], ssrc[3] };
	v[6] = (guint8)(hi >> 8);
	v[7] = (guint8)hi;
	put_be32(v + 8, lo);
	for (guint i = 0; i < 12; i++)
		iv[i] = v[i] ^ k->salt[i];
}

/* GCM: the associated data, then the payload in place. The provider's
 * update checks its output room even for associated data (no output). */
static gboolean gcm_update(fast_keys *k, const guint8 *aad1, gsize n1, const guint8 *aad2, gsize n2,
		guint8 *p, gsize n) {
	size_t out = 0;
	return k->impl->update(k->cipher, NULL, &out, n1, aad1, n1) == 1 &&
		(n2 == 0 || k->impl->update(k->cipher, NULL, &out, n2, aad2, n2) == 1) &&
		(n == 0 || k->impl->update(k->cipher, p, &out, n, p, n) == 1);
}

/* GCM seal in place: aad1 || aad2 authenticated, p encrypted, the tag
 * written at p + n. */
static gboolean gcm_seal(fast_keys *k, const guint8 iv[12], const guint8 *aad1, gsize n1,
		const guint8 *aad2, gsize n2, guint8 *p, gsize n) {
	size_t out = 0;
	OSSL_PARAM tag[2] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, p + n, GCM_TAG),
		OSSL_PARAM_construct_end()
	};
	return k->impl->einit(k->cipher, NULL, 0, iv, 12, NULL) == 1 &&
		gcm_update(k, aad1, n1, aad2, n2, p, n) &&
		k->impl->final(k->cipher, p + n, &out, GCM_TAG) == 1 &&
		k->impl->get_params(k->cipher, tag) == 1;
}

/* GCM open in place, the tag at p + n; FALSE when it does not verify (or
 * OpenSSL fails, which the caller cannot tell apart and need not). */
static gboolean gcm_open(fast_keys *k, const guint8 iv[12], const guint8 *aad1, gsize n1,
		const guint8 *aad2, gsize n2, guint8 *p, gsize n) {
	size_t out = 0;
	guint8 tag[GCM_TAG];
	memcpy(tag, p + n, GCM_TAG);
	OSSL_PARAM expect[2] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, GCM_TAG),
		OSSL_PARAM_construct_end()
	};
	return k->impl->dinit(k->cipher, NULL, 0, iv, 12, NULL) == 1 &&
		gcm_update(k, aad1, n1, aad2, n2, p, n) &&
		k->impl->set_params(k->cipher, expect) == 1 &&
		k->impl->final(k->cipher, p + n, &out, 0) == 1;   /* constant-time compare inside */
}

/* ---- SRTP ---- */

int cardea_srtp_fast_protect(cardea_srtp_fast *f, guint8 *buf, gsize *len, gsize hlen) {
	if (f->inbound)
		return CARDEA_SRTP_ERR_FAILED;
	fast_stream *s = stream_for_send(f, be32(buf + 8));
	if (s == NULL)
		return -1;
	guint16 seq = (guint16)((buf[2] << 8) | buf[3]);
	guint64 idx;
	gint64 delta = estimate(s->index, seq, &idx);
	/* Behind the window: libsrtp refuses even with allow_repeat_tx. */
	if (delta <= -FAST_WINDOW)
		return CARDEA_SRTP_ERR_REPLAY;
	guint32 roc = (guint32)(idx >> 16);
	guint8 *payload = buf + hlen;
	gsize plen = *len - hlen;
	if (f->gcm) {
		guint8 iv[12];
		gcm_iv(&f->rtp, buf + 8, roc >> 16, (roc << 16) | seq, iv);
		if (!gcm_seal(&f->rtp, iv, buf, hlen, NULL, 0, payload, plen))
			return CARDEA_SRTP_ERR_FAILED;
	} else {
		if (!ctr_crypt(&f->rtp, buf + 8, idx, payload, plen))
			return CARDEA_SRTP_ERR_FAILED;
		/* Tag: HMAC-SHA1 over the packet and the ROC, truncated. */
		guint8 rocb[4], md[SHA_DIGEST_LENGTH];
		put_be32(rocb, roc);
		hmac(&f->rtp, buf, *len, rocb, sizeof(rocb), md);
		memcpy(buf + *len, md, f->tag_len);
	}
	if (delta > 0)
		s->index = idx;
	*len += f->tag_len;
	return CARDEA_SRTP_OK;
}

int cardea_srtp_fast_unprotect(cardea_srtp_fast *f, guint8 *buf, gsize *len, gsize hlen) {
	if (!f->inbound || *len < hlen + f->tag_len)
		return CARDEA_SRTP_ERR_FAILED;
	guint32 ssrc = be32(buf + 8);
	guint16 seq = (guint16)((buf[2] << 8) | buf[3]);
	fast_stream *s = stream_find(f, ssrc);
	guint64 idx;
	gint64 delta;
	if (s != NULL) {
		delta = estimate(s->index, seq, &idx);
		if (!rtp_fresh(s, delta))
			return CARDEA_SRTP_ERR_REPLAY;
	} else if (f->n_streams == FAST_SSRCS) {
		return -1;
	} else {
		/* As libsrtp's provisional stream: ROC 0, no replay check. */
		idx = seq;
		delta = seq;
	}
	guint32 roc = (guint32)(idx >> 16);
	guint8 *payload = buf + hlen;
	gsize plen = *len - hlen - f->tag_len;
	if (f->gcm) {
		guint8 iv[12];
		gcm_iv(&f->rtp, buf + 8, roc >> 16, (roc << 16) | seq, iv);
		if (!gcm_open(&f->rtp, iv, buf, hlen, NULL, 0, payload, plen))
			return CARDEA_SRTP_ERR_AUTH;
	} else {
		guint8 rocb[4], md[SHA_DIGEST_LENGTH];
		put_be32(rocb, roc);
		hmac(&f->rtp, buf, hlen + plen, rocb, sizeof(rocb), md);
		if (CRYPTO_memcmp(md, payload + plen, f->tag_len) != 0)
			return CARDEA_SRTP_ERR_AUTH;
		if (!ctr_crypt(&f->rtp, buf + 8, idx, payload, plen))
			return CARDEA_SRTP_ERR_FAILED;
	}
	/* Authenticated: only now may the stream exist or move. */
	if (s == NULL)
		s = stream_add(f, ssrc);
	rtp_accept(s, delta, idx);
	*len = hlen + plen;
	return CARDEA_SRTP_OK;
}

/* ---- SRTCP ----
 * AES-CM: header(8) | encrypted | E||index | tag(10)
 * GCM:    header(8) | encrypted | tag(16) | E||index */

int cardea_srtp_fast_protect_rtcp(cardea_srtp_fast *f, guint8 *buf, gsize *len) {
	if (f->inbound || *len < RTCP_HEADER)
		return CARDEA_SRTP_ERR_FAILED;
	fast_stream *s = stream_for_send(f, be32(buf + 4));
	if (s == NULL)
		return -1;
	/* libsrtp increments first (the first index is 1) and stops at 2^31-1:
	 * the key must be renegotiated. */
	if (s->rtcp_index >= SRTCP_INDEX_MAX)
		return CARDEA_SRTP_ERR_FAILED;
	guint32 idx = s->rtcp_index + 1;
	guint8 trailer[4];
	put_be32(trailer, SRTCP_E_BIT | idx);
	guint8 *payload = buf + RTCP_HEADER;
	gsize plen = *len - RTCP_HEADER;
	if (f->gcm) {
		guint8 iv[12];
		gcm_iv(&f->rtcp, buf + 4, 0, idx, iv);
		if (!gcm_seal(&f->rtcp, iv, buf, RTCP_HEADER, trailer, sizeof(trailer), payload, plen))
			return CARDEA_SRTP_ERR_FAILED;
		memcpy(payload + plen + GCM_TAG, trailer, sizeof(trailer));
	} else {
		if (!ctr_crypt(&f->rtcp, buf + 4, idx, payload, plen))
			return CARDEA_SRTP_ERR_FAILED;
		memcpy(payload + plen, trailer, sizeof(trailer));
		guint8 md[SHA_DIGEST_LENGTH];
		hmac(&f->rtcp, buf, *len + sizeof(trailer), NULL, 0, md);
		memcpy(payload + plen + sizeof(trailer), md, RTCP_TAG_CM);
	}
	s->rtcp_index = idx;
	*len += sizeof(trailer) + f->rtcp_tag_len;
	return CARDEA_SRTP_OK;
}

int cardea_srtp_fast_unprotect_rtcp(cardea_srtp_fast *f, guint8 *buf, gsize *len) {
	if (!f->inbound || *len < RTCP_HEADER + 4 + f->rtcp_tag_len)
		return CARDEA_SRTP_ERR_FAILED;
	guint32 ssrc = be32(buf + 4);
	gsize body = *len - 4 - f->rtcp_tag_len;   /* header + payload */
	const guint8 *trailer = f->gcm ? buf + *len - 4 : buf + body;
	guint32 t = be32(trailer), idx = t & SRTCP_INDEX_MAX;
	gboolean encrypted = (t & SRTCP_E_BIT) != 0;
	/* libsrtp's AES-CM path refuses a packet whose E flag differs from the
	 * policy (always encrypted here) before anything else: so do we, the
	 * same verdict. Its GCM path honours the flag. */
	if (!f->gcm && !encrypted)
		return CARDEA_SRTP_ERR_FAILED;
	fast_stream *s = stream_find(f, ssrc);
	if (s != NULL) {
		if (!rtcp_fresh(s, idx))
			return CARDEA_SRTP_ERR_REPLAY;
	} else if (f->n_streams == FAST_SSRCS) {
		return -1;
	}
	guint8 *payload = buf + RTCP_HEADER;
	gsize plen = body - RTCP_HEADER;
	if (f->gcm) {
		guint8 iv[12], tb[4];
		memcpy(tb, trailer, sizeof(tb));
		gcm_iv(&f->rtcp, buf + 4, 0, idx, iv);
		/* RFC 7714 9.3: unencrypted, the whole packet is associated data. */
		gboolean ok = encrypted ?
			gcm_open(&f->rtcp, iv, buf, RTCP_HEADER, tb, sizeof(tb), payload, plen) :
			gcm_open(&f->rtcp, iv, buf, body, tb, sizeof(tb), payload + plen, 0);
		if (!ok)
			return CARDEA_SRTP_ERR_AUTH;
	} else {
		guint8 md[SHA_DIGEST_LENGTH];
		hmac(&f->rtcp, buf, body + 4, NULL, 0, md);
		if (CRYPTO_memcmp(md, buf + body + 4, RTCP_TAG_CM) != 0)
			return CARDEA_SRTP_ERR_AUTH;
		if (!ctr_crypt(&f->rtcp, buf + 4, idx, payload, plen))
			return CARDEA_SRTP_ERR_FAILED;
	}
	if (s == NULL)
		s = stream_add(f, ssrc);
	rtcp_accept(s, idx);
	*len = body;
	return CARDEA_SRTP_OK;
}
