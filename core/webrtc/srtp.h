/* SRTP/SRTCP sessions for the media core: OpenSSL for the three suites
 * below (srtp-fast.h), libsrtp2 as the fallback and the reference.
 *
 * A cardea_srtp has an outbound direction (protect, any SSRC we send) and an
 * inbound one (unprotect, any SSRC the peer sends, with replay protection).
 * DTLS-SRTP creates one per connection with the exported keys (see dtls.h);
 * cardea_srtp_new_from_b64() builds one from SDES-style key material for RTP
 * forwarders. All four operations run on OpenSSL; a libsrtp session (~30 KB
 * of NSS/libsrtp heap each) is created only when a direction needs one: more
 * SSRCs than the OpenSSL tables hold, cardea_srtp_set_fast(FALSE), or
 * CARDEA_SRTP_LIBSRTP=1 in the environment at creation (then up front).
 *
 * Packets are processed in place: the caller owns the buffer, protect grows
 * the packet by at most CARDEA_SRTP_MAX_OVERHEAD bytes (so `cap` must leave
 * that room), unprotect shrinks it. Nothing is allocated per packet, except
 * when a new SSRC is learned (inbound only once that SSRC's first packet has
 * authenticated) and when a libsrtp session is created late.
 *
 * Threads: a cardea_srtp is used by one thread at a time, normally the event
 * loop that owns its peer connection (STYLE.md rule 12). The counters are
 * written only by that thread with relaxed atomic stores, so another thread
 * may read them with cardea_srtp_get_stats() and see consistent (if slightly
 * stale) values without any lock.
 */
#ifndef CARDEA_WEBRTC_SRTP_H
#define CARDEA_WEBRTC_SRTP_H

#include <glib.h>

#define CARDEA_SRTP_ERROR (cardea_srtp_error_quark())
GQuark cardea_srtp_error_quark(void);
typedef enum cardea_srtp_error_code {
	CARDEA_SRTP_ERROR_INIT = 1,     /* libsrtp could not be initialised */
	CARDEA_SRTP_ERROR_INVALID,      /* bad suite name or key material */
	CARDEA_SRTP_ERROR_CREATE,       /* libsrtp refused the policy */
} cardea_srtp_error_code;

/* Protection suites. DTLS-SRTP negotiates AES128_CM_SHA1_80 or
 * AEAD_AES_128_GCM; SHA1_32 exists for RTP forwarders (SDES-style keys). */
typedef enum cardea_srtp_suite {
	CARDEA_SRTP_SUITE_NONE = 0,
	CARDEA_SRTP_AES128_CM_SHA1_80,  /* "AES_CM_128_HMAC_SHA1_80" */
	CARDEA_SRTP_AES128_CM_SHA1_32,  /* "AES_CM_128_HMAC_SHA1_32"; SRTCP still uses an 80-bit tag */
	CARDEA_SRTP_AEAD_AES_128_GCM,   /* "AEAD_AES_128_GCM" (RFC 7714), 16-byte tag */
} cardea_srtp_suite;

/* Largest growth of a packet by protect: a 16-byte tag plus the 4-byte
 * SRTCP index (no MKI is ever used). */
#define CARDEA_SRTP_MAX_OVERHEAD 20
/* Largest packet accepted in either direction (the UDP payload limit). */
#define CARDEA_SRTP_MAX_PACKET 65507
/* Master key plus salt, the largest of any suite (AES-128 CM: 16 + 14). */
#define CARDEA_SRTP_MAX_KEY_SALT_LEN 30

/* Result of one protect/unprotect call. Anything but OK means the packet
 * must be dropped: on failure the buffer content is unspecified. */
typedef enum cardea_srtp_result {
	CARDEA_SRTP_OK = 0,
	CARDEA_SRTP_ERR_INVALID,        /* not a plausible RTP/RTCP packet, or no key for this direction */
	CARDEA_SRTP_ERR_NO_SPACE,       /* cap leaves no room for the trailer */
	CARDEA_SRTP_ERR_AUTH,           /* authentication tag did not verify */
	CARDEA_SRTP_ERR_REPLAY,         /* already seen, or older than the replay window */
	/* Anything else: a libsrtp or OpenSSL error, the SRTCP index exhausted,
	 * SRTCP with the E flag clear on an AES-CM suite (as libsrtp). */
	CARDEA_SRTP_ERR_FAILED,
} cardea_srtp_result;

typedef struct cardea_srtp_counters {
	guint64 ok;
	guint64 auth_failures;          /* unprotect only */
	guint64 replays;                /* unprotect only */
	guint64 errors;                 /* INVALID, NO_SPACE, FAILED */
} cardea_srtp_counters;

typedef struct cardea_srtp_stats {
	cardea_srtp_counters rtp_out, rtcp_out;  /* protect */
	cardea_srtp_counters rtp_in, rtcp_in;    /* unprotect */
} cardea_srtp_stats;

typedef struct cardea_srtp cardea_srtp;

/* Calls srtp_init() once per process. Idempotent and thread-safe; the DTLS
 * context calls it, so most callers never need to. */
gboolean cardea_srtp_global_init(GError **error);
/* Calls srtp_shutdown() if init succeeded. Only at process exit, after every
 * cardea_srtp is freed; a later init starts over. */
void cardea_srtp_global_deinit(void);
/* Whether this libsrtp build can do AEAD_AES_128_GCM (it depends on the
 * crypto backend it was built with). Needs cardea_srtp_global_init(). */
gboolean cardea_srtp_gcm_supported(void);

/* SDES-style names ("AES_CM_128_HMAC_SHA1_80"...), NULL for NONE. */
const char *cardea_srtp_suite_name(cardea_srtp_suite suite);
/* Case-sensitive, as the names are written in SDP and in the Janus API. */
cardea_srtp_suite cardea_srtp_suite_from_name(const char *name);
/* Bytes of master key and of master salt for a suite; 0 for NONE. */
gsize cardea_srtp_suite_key_len(cardea_srtp_suite suite);
gsize cardea_srtp_suite_salt_len(cardea_srtp_suite suite);

/* Creates a session. tx and rx each point to key||salt of the suite's
 * lengths (copied; the caller may wipe them afterwards); either may be NULL
 * when that direction is not needed, not both. Returns NULL with `error` set
 * on failure. The result is owned by the caller: cardea_srtp_free(). */
cardea_srtp *cardea_srtp_new(cardea_srtp_suite suite, const guint8 *tx_key_salt,
	const guint8 *rx_key_salt, GError **error);

/* Creates a session from a suite name and base64 key||salt (the Janus
 * rtp_forward "srtp_suite"/"srtp_crypto" pair, spelled as a suite name), with
 * the same key in both directions (a forwarder protects; a test or a relay
 * receiving what was forwarded can unprotect). Strict: the base64 must be
 * canonical and decode to exactly key_len + salt_len bytes. */
cardea_srtp *cardea_srtp_new_from_b64(const char *suite_name, const char *key_salt_b64,
	GError **error);

void cardea_srtp_free(cardea_srtp *s);

cardea_srtp_suite cardea_srtp_get_suite(const cardea_srtp *s);
/* Packets run on OpenSSL (srtp-fast.h) unless turned off here or by
 * CARDEA_SRTP_LIBSRTP=1 in the environment at creation; FALSE puts every
 * later packet, both directions, on libsrtp (call it before the first
 * packet, as the per-SSRC state is not carried over: tests). */
void cardea_srtp_set_fast(cardea_srtp *s, gboolean on);

/* In-place processing. On entry *len is the packet length and buf has `cap`
 * bytes; on success *len is the new length. Unprotect needs no spare room
 * (pass cap = *len). Every call bumps exactly one counter of its direction. */
cardea_srtp_result cardea_srtp_protect_rtp(cardea_srtp *s, guint8 *buf, gsize *len, gsize cap);
cardea_srtp_result cardea_srtp_protect_rtcp(cardea_srtp *s, guint8 *buf, gsize *len, gsize cap);
cardea_srtp_result cardea_srtp_unprotect_rtp(cardea_srtp *s, guint8 *buf, gsize *len);
cardea_srtp_result cardea_srtp_unprotect_rtcp(cardea_srtp *s, guint8 *buf, gsize *len);

/* Snapshot of the counters; callable from any thread (see above). */
void cardea_srtp_get_stats(const cardea_srtp *s, cardea_srtp_stats *out);

/* Short text for a result, for logs ("auth failure"...). */
const char *cardea_srtp_result_str(cardea_srtp_result r);

#endif
