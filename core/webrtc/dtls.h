/* DTLS-SRTP (RFC 5764) for the media core, on OpenSSL 3.
 *
 * No sockets and no threads here. A cardea_dtls is fed the datagrams the
 * ICE layer demultiplexed as DTLS (first byte 20..63, RFC 7983) through
 * cardea_dtls_incoming(), and hands every datagram it wants to send to the
 * `send` callback, one call per datagram, each at most the configured MTU.
 * Retransmissions are driven by the owner's event loop: after any call into
 * a cardea_dtls, re-read cardea_dtls_timeout_ms() and (re)arm a timer that
 * calls cardea_dtls_handle_timeout().
 *
 * When the handshake completes and the peer's certificate matched the
 * fingerprint from its SDP, the keys are exported (RFC 5764 4.2) into a
 * cardea_srtp (see srtp.h) before the CONNECTED state is reported.
 *
 * Process-wide context: one certificate and one SSL_CTX, set up once by
 * cardea_dtls_context_init() on the main thread before any connection
 * exists and torn down by cardea_dtls_context_deinit() after the last one is
 * freed (OpenSSL refcounts the SSL_CTX, so a straggler stays memory safe).
 * The context getters are read-only in between and callable from any thread.
 *
 * Connections: each cardea_dtls belongs to the one thread (event loop) that
 * owns its peer connection; every cardea_dtls_* call on it, and every
 * callback it makes, happens on that thread. Callbacks run synchronously
 * inside cardea_dtls_start/incoming/handle_timeout/close/write.
 * - `send` must not call back into the same cardea_dtls.
 * - `state` and `data` may call anything, including cardea_dtls_free(): the
 *   free is deferred until the outermost cardea_dtls_* call returns, and no
 *   callback fires after it (STYLE.md rule 11).
 */
#ifndef CARDEA_WEBRTC_DTLS_H
#define CARDEA_WEBRTC_DTLS_H

#include <glib.h>
#include "webrtc/srtp.h"

#define CARDEA_DTLS_ERROR (cardea_dtls_error_quark())
GQuark cardea_dtls_error_quark(void);
typedef enum cardea_dtls_error_code {
	CARDEA_DTLS_ERROR_CONTEXT = 1,  /* no context, or it could not be created */
	CARDEA_DTLS_ERROR_CERTIFICATE,  /* configured certificate/key unreadable or mismatched */
	CARDEA_DTLS_ERROR_INVALID,      /* bad argument (fingerprint syntax, role, MTU...) */
} cardea_dtls_error_code;

/* Datagram sizes. dtls_mtu (cardea.jcfg media.dtls_mtu) is the largest
 * datagram we send; anything larger than MAX_DATAGRAM that arrives is
 * dropped unread. */
#define CARDEA_DTLS_DEFAULT_MTU 1200
#define CARDEA_DTLS_MIN_MTU 256
#define CARDEA_DTLS_MAX_MTU 9000
#define CARDEA_DTLS_MAX_DATAGRAM 16384

typedef enum cardea_dtls_role {
	CARDEA_DTLS_ROLE_ACTIVE = 1,    /* a=setup:active: we are the DTLS client */
	CARDEA_DTLS_ROLE_PASSIVE,       /* a=setup:passive: we are the DTLS server */
} cardea_dtls_role;

typedef enum cardea_dtls_state {
	CARDEA_DTLS_STATE_NEW = 0,      /* created, nothing sent or received */
	CARDEA_DTLS_STATE_CONNECTING,   /* handshake in progress */
	CARDEA_DTLS_STATE_CONNECTED,    /* handshake done, SRTP ready */
	CARDEA_DTLS_STATE_FAILED,       /* final: handshake or record-layer failure */
	CARDEA_DTLS_STATE_CLOSED,       /* final: close_notify received or sent */
} cardea_dtls_state;

/* Bits for cardea_dtls_config.profiles. */
#define CARDEA_DTLS_PROFILE_AES128_CM_SHA1_80 (1u << 0)  /* SRTP_AES128_CM_SHA1_80 */
#define CARDEA_DTLS_PROFILE_AEAD_AES_128_GCM  (1u << 1)  /* SRTP_AEAD_AES_128_GCM */
#define CARDEA_DTLS_PROFILE_ALL (CARDEA_DTLS_PROFILE_AES128_CM_SHA1_80 | CARDEA_DTLS_PROFILE_AEAD_AES_128_GCM)

typedef enum cardea_dtls_hash {
	CARDEA_DTLS_HASH_NONE = 0,
	CARDEA_DTLS_HASH_SHA256,
	CARDEA_DTLS_HASH_SHA384,
	CARDEA_DTLS_HASH_SHA512,
} cardea_dtls_hash;

/* Longest "sha-512 XX:...:XX" plus NUL. */
#define CARDEA_DTLS_FINGERPRINT_MAX (8 + 64 * 3)
/* Fingerprints accepted per connection (several a=fingerprint lines). */
#define CARDEA_DTLS_MAX_REMOTE_FINGERPRINTS 4

/* ---- Process-wide context ---- */

/* cert_pem/key_pem are paths of PEM files (certificates.cert_pem/cert_key);
 * both NULL: generate an ECDSA P-256 self-signed certificate. key_pwd is the
 * key's passphrase or NULL; never prompts. Also initialises libsrtp and
 * offers SRTP_AEAD_AES_128_GCM only if libsrtp can do it. Calling it again
 * replaces the context (for tests; not while connections are being made). */
gboolean cardea_dtls_context_init(const char *cert_pem, const char *key_pem,
	const char *key_pwd, GError **error);
void cardea_dtls_context_deinit(void);
/* "sha-256 AB:CD:..." for a=fingerprint, or NULL without a context. Valid
 * until deinit. */
const char *cardea_dtls_context_fingerprint(void);
/* Same for another hash, written to out (at least CARDEA_DTLS_FINGERPRINT_MAX
 * bytes). FALSE without a context. */
gboolean cardea_dtls_context_fingerprint_hash(cardea_dtls_hash hash, char *out, gsize out_size);
/* Profiles this process can offer (GCM depends on the libsrtp build). */
guint cardea_dtls_context_profiles(void);

/* "sha-256"... and back (case-insensitive); NONE/NULL when unknown. */
const char *cardea_dtls_hash_name(cardea_dtls_hash hash);
cardea_dtls_hash cardea_dtls_hash_from_name(const char *name);
/* "SRTP_AES128_CM_SHA1_80"/"SRTP_AEAD_AES_128_GCM" for a negotiated suite. */
const char *cardea_dtls_profile_name(cardea_srtp_suite suite);
const char *cardea_dtls_state_name(cardea_dtls_state state);

/* ---- Connections ---- */

typedef struct cardea_dtls cardea_dtls;

typedef struct cardea_dtls_callbacks {
	/* Mandatory: one datagram for the peer. Must not re-enter this dtls. */
	void (*send)(cardea_dtls *dtls, const guint8 *buf, gsize len, gpointer user_data);
	/* Optional: every state change. `reason` says why for FAILED and
	 * CLOSED and is NULL otherwise; it is only valid during the call. */
	void (*state)(cardea_dtls *dtls, cardea_dtls_state state, const char *reason,
		gpointer user_data);
	/* Optional: application data (SCTP for data channels). */
	void (*data)(cardea_dtls *dtls, const guint8 *buf, gsize len, gpointer user_data);
} cardea_dtls_callbacks;

typedef struct cardea_dtls_config {
	cardea_dtls_role role;
	guint mtu;                      /* 0 = CARDEA_DTLS_DEFAULT_MTU, else MIN..MAX */
	guint profiles;                 /* CARDEA_DTLS_PROFILE_* bits, 0 = all the context offers */
	guint64 log_id;                 /* handle id, prefixed to every log line */
} cardea_dtls_config;

/* Creates a connection on the process-wide context. callbacks is copied;
 * user_data is borrowed and passed to every callback. NULL + error when
 * there is no context or the config is invalid. */
cardea_dtls *cardea_dtls_new(const cardea_dtls_config *config, const cardea_dtls_callbacks *callbacks,
	gpointer user_data, GError **error);
/* Frees the connection and its SRTP session (no close_notify: call
 * cardea_dtls_close() first for an orderly end). NULL is a no-op. */
void cardea_dtls_free(cardea_dtls *dtls);

/* Adds an accepted remote fingerprint from SDP: algorithm "sha-256",
 * "sha-384" or "sha-512" (any case), value colon-separated hex of the right
 * length (any case). Call before the handshake can complete; without one the
 * handshake fails. Several may be added: the peer's certificate must match
 * one of those with the strongest hash given (RFC 8122 section 5). */
gboolean cardea_dtls_add_remote_fingerprint(cardea_dtls *dtls, const char *algorithm,
	const char *value, GError **error);

/* Starts the handshake: the active side sends its ClientHello, the passive
 * side waits. Idempotent; incoming datagrams start it implicitly. */
void cardea_dtls_start(cardea_dtls *dtls);
/* One received datagram. Copies nothing and keeps no pointer to buf. */
void cardea_dtls_incoming(cardea_dtls *dtls, const guint8 *buf, gsize len);
/* Milliseconds until cardea_dtls_handle_timeout() is due (0 = now), or -1
 * when no retransmission timer is running. */
gint64 cardea_dtls_timeout_ms(cardea_dtls *dtls);
/* Retransmits the last flight if its timer expired; too many tries fail the
 * handshake. Harmless when nothing is due. */
void cardea_dtls_handle_timeout(cardea_dtls *dtls);
/* Sends close_notify (when connected) and moves to CLOSED. */
void cardea_dtls_close(cardea_dtls *dtls);
/* Sends application data; FALSE unless CONNECTED or if OpenSSL refuses. */
gboolean cardea_dtls_write(cardea_dtls *dtls, const guint8 *buf, gsize len);

cardea_dtls_state cardea_dtls_get_state(const cardea_dtls *dtls);
cardea_dtls_role cardea_dtls_get_role(const cardea_dtls *dtls);
/* Negotiated suite once CONNECTED, else NONE. */
cardea_srtp_suite cardea_dtls_get_profile(const cardea_dtls *dtls);
/* The SRTP session, NULL until CONNECTED. Borrowed: owned by the dtls and
 * valid until cardea_dtls_free(), even after FAILED/CLOSED (the owner should
 * stop sending media then). */
cardea_srtp *cardea_dtls_get_srtp(cardea_dtls *dtls);
/* Why FAILED/CLOSED happened, or NULL. Valid until free. */
const char *cardea_dtls_get_reason(const cardea_dtls *dtls);

typedef struct cardea_dtls_stats {
	guint64 datagrams_in, bytes_in;
	guint64 datagrams_out, bytes_out;
	guint64 dropped_in;             /* oversized, empty, or after FAILED/CLOSED */
	guint64 retransmissions;        /* handshake timer expiries handled */
} cardea_dtls_stats;
/* Owning thread only. */
void cardea_dtls_get_stats(const cardea_dtls *dtls, cardea_dtls_stats *out);

#endif
