/* SRTP protect on OpenSSL (RFC 3711 AES-CM + HMAC-SHA1, RFC 7714 AES-GCM);
 * see srtp-fast.h for why and the limits. */
/* The low-level SHA-1 calls are deprecated in OpenSSL 3 but are the only
 * allocation-free way to reuse a keyed HMAC state: copying a SHA_CTX is a
 * memcpy, where EVP_MAC_CTX_dup allocates. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "webrtc/srtp-fast.h"

/* Sending SSRCs remembered per session: a PC sends one media and one RTX
 * SSRC per m-line (at most 16 m-lines); more fall back to libsrtp. */
#define FAST_SSRCS 40
/* libsrtp's window (srtp.c REPLAY_WINDOW): a re-sent seq further back fails. */
#define FAST_WINDOW 1024
#define SEQ_MEDIAN 32768

typedef struct fast_stream {
	guint32 ssrc;
	guint64 index;          /* highest 48-bit index protected: ROC << 16 | seq */
} fast_stream;

struct cardea_srtp_fast {
	gboolean gcm;
	guint tag_len;           /* 10 or 4 (AES-CM), 16 (GCM) */
	guint8 salt[14];         /* session salt (12 bytes for GCM) */
	EVP_CIPHER_CTX *cipher;  /* owned: keyed once, IV set per packet */
	SHA_CTX inner, outer;    /* HMAC-SHA1 states after the keyed pads (AES-CM) */
	fast_stream streams[FAST_SSRCS];
	guint n_streams;
	guint last;              /* index of the last stream used: runs of one SSRC */
};

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

cardea_srtp_fast *cardea_srtp_fast_new(cardea_srtp_suite suite, const guint8 *key_salt) {
	if (suite != CARDEA_SRTP_AES128_CM_SHA1_80 && suite != CARDEA_SRTP_AES128_CM_SHA1_32 &&
			suite != CARDEA_SRTP_AEAD_AES_128_GCM)
		return NULL;
	cardea_srtp_fast *f = g_new0(cardea_srtp_fast, 1);
	f->gcm = suite == CARDEA_SRTP_AEAD_AES_128_GCM;
	f->tag_len = f->gcm ? 16 : suite == CARDEA_SRTP_AES128_CM_SHA1_32 ? 4 : 10;
	guint salt_len = f->gcm ? 12 : 14;
	guint8 master_salt[14] = { 0 }, key[16], auth[20];
	memcpy(master_salt, key_salt + 16, salt_len);
	gboolean ok = kdf(key_salt, master_salt, 0x00, key, sizeof(key)) &&
		kdf(key_salt, master_salt, 0x02, f->salt, salt_len) &&
		(f->gcm || kdf(key_salt, master_salt, 0x01, auth, sizeof(auth)));
	if (ok) {
		f->cipher = EVP_CIPHER_CTX_new();
		ok = f->cipher && EVP_EncryptInit_ex(f->cipher, f->gcm ? EVP_aes_128_gcm() : EVP_aes_128_ctr(),
			NULL, key, NULL) == 1;
	}
	if (ok && !f->gcm) {
		guint8 ipad[64], opad[64];
		memset(ipad, 0x36, sizeof(ipad));
		memset(opad, 0x5c, sizeof(opad));
		for (guint i = 0; i < sizeof(auth); i++) {
			ipad[i] ^= auth[i];
			opad[i] ^= auth[i];
		}
		ok = SHA1_Init(&f->inner) && SHA1_Update(&f->inner, ipad, sizeof(ipad)) &&
			SHA1_Init(&f->outer) && SHA1_Update(&f->outer, opad, sizeof(opad));
		memset(ipad, 0, sizeof(ipad));
		memset(opad, 0, sizeof(opad));
	}
	memset(key, 0, sizeof(key));
	memset(auth, 0, sizeof(auth));
	memset(master_salt, 0, sizeof(master_salt));
	__asm__ __volatile__("" : : "r"(key), "r"(auth), "r"(master_salt) : "memory");
	if (!ok) {
		cardea_srtp_fast_free(f);
		return NULL;
	}
	return f;
}

void cardea_srtp_fast_free(cardea_srtp_fast *f) {
	if (f == NULL)
		return;
	EVP_CIPHER_CTX_free(f->cipher);
	memset(f, 0, sizeof(*f));
	g_free(f);
}

static fast_stream *stream_get(cardea_srtp_fast *f, guint32 ssrc) {
	if (f->n_streams && f->streams[f->last].ssrc == ssrc)
		return &f->streams[f->last];
	for (guint i = 0; i < f->n_streams; i++)
		if (f->streams[i].ssrc == ssrc) {
			f->last = i;
			return &f->streams[i];
		}
	if (f->n_streams == FAST_SSRCS)
		return NULL;
	f->last = f->n_streams++;
	fast_stream *s = &f->streams[f->last];
	s->ssrc = ssrc;
	s->index = 0;   /* as libsrtp's new stream: ROC 0, nothing sent */
	return s;
}

/* The index this seq stands for and its distance from the highest sent
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

int cardea_srtp_fast_protect(cardea_srtp_fast *f, guint8 *buf, gsize *len, gsize hlen) {
	guint32 ssrc = ((guint32)buf[8] << 24) | ((guint32)buf[9] << 16) | ((guint32)buf[10] << 8) | buf[11];
	fast_stream *s = stream_get(f, ssrc);
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
	int plen = (int)(*len - hlen), n = 0;
	if (f->gcm) {
		/* RFC 7714 8.1: 00 00 || SSRC || ROC || SEQ, XOR the session salt. */
		guint8 iv[12] = { 0, 0, buf[8], buf[9], buf[10], buf[11], roc >> 24, roc >> 16, roc >> 8, roc,
			buf[2], buf[3] };
		for (guint i = 0; i < 12; i++)
			iv[i] ^= f->salt[i];
		if (EVP_EncryptInit_ex(f->cipher, NULL, NULL, NULL, iv) != 1 ||
				EVP_EncryptUpdate(f->cipher, NULL, &n, buf, (int)hlen) != 1 ||
				(plen > 0 && EVP_EncryptUpdate(f->cipher, payload, &n, payload, plen) != 1) ||
				EVP_EncryptFinal_ex(f->cipher, payload + plen, &n) != 1 ||
				EVP_CIPHER_CTX_ctrl(f->cipher, EVP_CTRL_GCM_GET_TAG, 16, payload + plen) != 1)
			return CARDEA_SRTP_ERR_FAILED;
	} else {
		/* RFC 3711 4.1.1: salt XOR (SSRC << 64) XOR (index << 16). */
		guint8 iv[16] = { 0, 0, 0, 0, buf[8], buf[9], buf[10], buf[11], roc >> 24, roc >> 16, roc >> 8, roc,
			buf[2], buf[3], 0, 0 };
		for (guint i = 0; i < 14; i++)
			iv[i] ^= f->salt[i];
		if (EVP_EncryptInit_ex(f->cipher, NULL, NULL, NULL, iv) != 1 ||
				(plen > 0 && EVP_EncryptUpdate(f->cipher, payload, &n, payload, plen) != 1))
			return CARDEA_SRTP_ERR_FAILED;
		/* Tag: HMAC-SHA1 over the packet and the ROC, truncated. */
		guint8 rocb[4] = { roc >> 24, roc >> 16, roc >> 8, roc }, md[SHA_DIGEST_LENGTH];
		SHA_CTX c = f->inner;
		SHA1_Update(&c, buf, *len);
		SHA1_Update(&c, rocb, sizeof(rocb));
		SHA1_Final(md, &c);
		c = f->outer;
		SHA1_Update(&c, md, sizeof(md));
		SHA1_Final(md, &c);
		memcpy(buf + *len, md, f->tag_len);
	}
	if (delta > 0)
		s->index = idx;
	*len += f->tag_len;
	return CARDEA_SRTP_OK;
}
