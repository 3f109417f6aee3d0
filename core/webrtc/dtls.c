/* DTLS-SRTP on OpenSSL 3; contract and threading rules in dtls.h.
 *
 * Datagram plumbing: each connection has one custom BIO used for both
 * directions. Reads hand OpenSSL exactly the datagram being fed by
 * cardea_dtls_incoming() (so records never merge across datagrams, which a
 * memory BIO would do); writes go straight to the owner's send callback. In
 * the handshake OpenSSL puts a buffering BIO in front and flushes it before
 * a datagram would exceed the MTU we set, so each of our write calls is one
 * datagram of whole records.
 */
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "cardea/module.h"
#include "webrtc/dtls.h"

G_DEFINE_QUARK(cardea-dtls-error-quark, cardea_dtls_error)

/* Retransmission schedule (RFC 6347 4.2.4.1 suggests 1 s; WebRTC peers are
 * already known reachable through ICE, so start lower). OpenSSL gives up
 * after 12 expiries, about 24 s with this schedule. */
#define TIMER_INITIAL_US 100000u
#define TIMER_MAX_US 3000000u

/* Self-signed certificate lifetime. Peers check the fingerprint, not the
 * dates, but some stacks dislike certificates that are not yet valid. */
#define CERT_BACKDATE_SECONDS (24 * 3600)
#define CERT_LIFETIME_SECONDS (365L * 24 * 3600)

#define DTLS_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:" \
	"ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA"
#define DTLS_GROUPS "X25519:P-256:P-384"
#define SRTP_EXPORTER_LABEL "EXTRACTOR-dtls_srtp"

/* ---- Process-wide context (written only by init/deinit, see dtls.h) ---- */

static SSL_CTX *g_ctx;                  /* owned */
static X509 *g_cert;                    /* owned */
static char g_fingerprint[CARDEA_DTLS_FINGERPRINT_MAX]; /* "sha-256 ..." */
static guint g_profiles;
/* The BIO method outlives a context while connections still use it, so it
 * is freed only when no connection exists. */
static BIO_METHOD *g_bio_method;        /* owned */
static gint g_live_connections;         /* atomic */

typedef struct remote_fp {
	cardea_dtls_hash hash;
	guint8 digest[EVP_MAX_MD_SIZE];
	guint len;
} remote_fp;

struct cardea_dtls {
	SSL *ssl;                           /* owned; owns the BIO */
	cardea_dtls_role role;
	cardea_dtls_state state;
	guint mtu;
	guint64 log_id;
	cardea_dtls_callbacks cb;
	gpointer user_data;                 /* borrowed */
	/* The datagram being fed, borrowed from the caller of incoming(). */
	const guint8 *in_buf;
	gsize in_len;
	remote_fp remote[CARDEA_DTLS_MAX_REMOTE_FINGERPRINTS];
	guint n_remote;
	gboolean fingerprint_ok;            /* set by the verify callback */
	char *verify_error;                 /* owned */
	cardea_srtp_suite profile;
	cardea_srtp *srtp;                  /* owned, NULL until CONNECTED */
	char *reason;                       /* owned */
	cardea_dtls_stats stats;
	gboolean drop_logged;
	/* Re-entrancy: depth of cardea_dtls_* calls on the stack; a free asked
	 * for inside one is carried out when the outermost returns. */
	guint depth;
	gboolean free_pending;
};

/* ---- Small helpers ---- */

static const EVP_MD *hash_md(cardea_dtls_hash hash) {
	switch (hash) {
	case CARDEA_DTLS_HASH_SHA256: return EVP_sha256();
	case CARDEA_DTLS_HASH_SHA384: return EVP_sha384();
	case CARDEA_DTLS_HASH_SHA512: return EVP_sha512();
	default: return NULL;
	}
}

static guint hash_len(cardea_dtls_hash hash) {
	switch (hash) {
	case CARDEA_DTLS_HASH_SHA256: return 32;
	case CARDEA_DTLS_HASH_SHA384: return 48;
	case CARDEA_DTLS_HASH_SHA512: return 64;
	default: return 0;
	}
}

const char *cardea_dtls_hash_name(cardea_dtls_hash hash) {
	switch (hash) {
	case CARDEA_DTLS_HASH_SHA256: return "sha-256";
	case CARDEA_DTLS_HASH_SHA384: return "sha-384";
	case CARDEA_DTLS_HASH_SHA512: return "sha-512";
	default: return NULL;
	}
}

cardea_dtls_hash cardea_dtls_hash_from_name(const char *name) {
	if (!name)
		return CARDEA_DTLS_HASH_NONE;
	for (int h = CARDEA_DTLS_HASH_SHA256; h <= CARDEA_DTLS_HASH_SHA512; h++) {
		if (g_ascii_strcasecmp(name, cardea_dtls_hash_name((cardea_dtls_hash)h)) == 0)
			return (cardea_dtls_hash)h;
	}
	return CARDEA_DTLS_HASH_NONE;
}

const char *cardea_dtls_profile_name(cardea_srtp_suite suite) {
	switch (suite) {
	case CARDEA_SRTP_AES128_CM_SHA1_80: return "SRTP_AES128_CM_SHA1_80";
	case CARDEA_SRTP_AEAD_AES_128_GCM: return "SRTP_AEAD_AES_128_GCM";
	default: return NULL;
	}
}

const char *cardea_dtls_state_name(cardea_dtls_state state) {
	switch (state) {
	case CARDEA_DTLS_STATE_NEW: return "new";
	case CARDEA_DTLS_STATE_CONNECTING: return "connecting";
	case CARDEA_DTLS_STATE_CONNECTED: return "connected";
	case CARDEA_DTLS_STATE_FAILED: return "failed";
	case CARDEA_DTLS_STATE_CLOSED: return "closed";
	}
	return "unknown";
}

/* "sha-256 AB:CD:..." from a certificate; FALSE if OpenSSL fails. */
static gboolean cert_fingerprint(X509 *cert, cardea_dtls_hash hash, char *out, gsize out_size) {
	const EVP_MD *md = hash_md(hash);
	guint8 digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!md || !cert || out_size < CARDEA_DTLS_FINGERPRINT_MAX || !X509_digest(cert, md, digest, &n))
		return FALSE;
	static const char hex[] = "0123456789ABCDEF";
	gsize off = (gsize)g_snprintf(out, out_size, "%s ", cardea_dtls_hash_name(hash));
	for (unsigned int i = 0; i < n; i++) {
		if (i > 0)
			out[off++] = ':';
		out[off++] = hex[digest[i] >> 4];
		out[off++] = hex[digest[i] & 0x0f];
	}
	out[off] = '\0';
	return TRUE;
}

/* First queued OpenSSL error as text (then the queue is cleared, so one
 * connection's errors never leak into another's SSL_get_error()). */
static char *take_ssl_error(const char *fallback) {
	unsigned long e = ERR_get_error();
	char *msg;
	if (e != 0) {
		char buf[256];
		ERR_error_string_n(e, buf, sizeof(buf));
		msg = g_strdup(buf);
	} else {
		msg = g_strdup(fallback);
	}
	ERR_clear_error();
	return msg;
}

/* ---- Certificate set-up ---- */

static int key_password_cb(char *buf, int size, int rwflag, void *u) {
	const char *pwd = u;
	/* No passphrase configured: fail instead of OpenSSL's terminal prompt. */
	if (!pwd)
		return -1;
	size_t n = strlen(pwd);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pwd, n);
	return (int)n;
}

static gboolean load_certificate(const char *cert_pem, const char *key_pem, const char *key_pwd,
		X509 **cert_out, EVP_PKEY **key_out, GError **error) {
	BIO *b = BIO_new_file(cert_pem, "r");
	X509 *cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!cert) {
		char *e = take_ssl_error("unreadable");
		g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_CERTIFICATE,
			"certificates.cert_pem '%s': no PEM certificate (%s)", cert_pem, e);
		g_free(e);
		return FALSE;
	}
	b = BIO_new_file(key_pem, "r");
	EVP_PKEY *key = b ? PEM_read_bio_PrivateKey(b, NULL, key_password_cb, (void *)key_pwd) : NULL;
	BIO_free(b);
	if (!key) {
		char *e = take_ssl_error("unreadable");
		g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_CERTIFICATE,
			"certificates.cert_key '%s': no usable PEM private key%s (%s)", key_pem,
			key_pwd ? " (wrong cert_pwd?)" : " (encrypted without cert_pwd?)", e);
		g_free(e);
		X509_free(cert);
		return FALSE;
	}
	*cert_out = cert;
	*key_out = key;
	return TRUE;
}

static gboolean generate_certificate(X509 **cert_out, EVP_PKEY **key_out, GError **error) {
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	BIGNUM *serial = BN_new();
	gboolean ok = key && cert && serial &&
		X509_set_version(cert, X509_VERSION_3) &&
		BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
		BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) &&
		X509_gmtime_adj(X509_getm_notBefore(cert), -CERT_BACKDATE_SECONDS) &&
		X509_gmtime_adj(X509_getm_notAfter(cert), CERT_LIFETIME_SECONDS) &&
		X509_set_pubkey(cert, key) &&
		X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
			(const unsigned char *)"cardea", -1, -1, 0) &&
		X509_set_issuer_name(cert, X509_get_subject_name(cert)) &&
		X509_sign(cert, key, EVP_sha256()) > 0;
	BN_free(serial);
	if (!ok) {
		char *e = take_ssl_error("unknown error");
		g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_CONTEXT,
			"could not generate the DTLS certificate (%s)", e);
		g_free(e);
		EVP_PKEY_free(key);
		X509_free(cert);
		return FALSE;
	}
	*cert_out = cert;
	*key_out = key;
	return TRUE;
}

/* ---- BIO: one datagram in, one datagram out ---- */

static int bio_write(BIO *b, const char *data, int len) {
	cardea_dtls *d = BIO_get_data(b);
	if (len <= 0)
		return 0;
	if (!d)
		return len;     /* being torn down: behave like a lossy network */
	if ((guint)len > d->mtu)
		CARDEA_LOG(CARDEA_LOG_WARN, "[dtls %" G_GUINT64_FORMAT "] sending a %d-byte datagram over the %u MTU",
			d->log_id, len, d->mtu);
	d->stats.datagrams_out++;
	d->stats.bytes_out += (guint64)len;
	if (!d->free_pending)
		d->cb.send(d, (const guint8 *)data, (gsize)len, d->user_data);
	return len;
}

static int bio_read(BIO *b, char *out, int outl) {
	cardea_dtls *d = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (!d || !d->in_buf || outl <= 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	/* OpenSSL reads DTLS with a buffer of the maximum record size, larger
	 * than any datagram we accept, so this never truncates. */
	int n = (int)MIN((gsize)outl, d->in_len);
	memcpy(out, d->in_buf, (size_t)n);
	d->in_buf = NULL;
	d->in_len = 0;
	return n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
	cardea_dtls *d = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_DGRAM_QUERY_MTU:
	case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
		return d ? (long)d->mtu : CARDEA_DTLS_DEFAULT_MTU;
	case BIO_CTRL_WPENDING:
	case BIO_CTRL_PENDING:
		return 0;
	default:
		return 0;
	}
}

static int bio_create(BIO *b) {
	BIO_set_init(b, 1);
	BIO_set_data(b, NULL);
	return 1;
}

static int bio_destroy(BIO *b) {
	BIO_set_data(b, NULL);
	return 1;
}

static gboolean bio_method_ensure(void) {
	if (g_bio_method)
		return TRUE;
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cardea dtls");
	if (!m)
		return FALSE;
	BIO_meth_set_write(m, bio_write);
	BIO_meth_set_read(m, bio_read);
	BIO_meth_set_ctrl(m, bio_ctrl);
	BIO_meth_set_create(m, bio_create);
	BIO_meth_set_destroy(m, bio_destroy);
	g_bio_method = m;
	return TRUE;
}

/* ---- Peer certificate check ---- */

/* Replaces OpenSSL's chain verification: WebRTC certificates are
 * self-signed, and what authenticates the peer is the fingerprint carried
 * in the (signalling-authenticated) SDP. Runs inside the handshake, so a
 * mismatch aborts it with a bad_certificate alert before any key exists. */
static int verify_cb(X509_STORE_CTX *store, void *arg) {
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	cardea_dtls *d = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *peer = X509_STORE_CTX_get0_cert(store);
	if (!d || !peer) {
		X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	g_free(d->verify_error);
	d->verify_error = NULL;
	if (d->n_remote == 0) {
		d->verify_error = g_strdup("no remote fingerprint to check the certificate against");
		X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	cardea_dtls_hash best = CARDEA_DTLS_HASH_NONE;
	for (guint i = 0; i < d->n_remote; i++)
		best = MAX(best, d->remote[i].hash);
	guint8 digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!X509_digest(peer, hash_md(best), digest, &n)) {
		d->verify_error = g_strdup("could not hash the remote certificate");
		X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	for (guint i = 0; i < d->n_remote; i++) {
		const remote_fp *fp = &d->remote[i];
		if (fp->hash == best && fp->len == n && CRYPTO_memcmp(fp->digest, digest, n) == 0) {
			d->fingerprint_ok = TRUE;
			return 1;
		}
	}
	d->verify_error = g_strdup_printf("remote certificate does not match the %s fingerprint from SDP",
		cardea_dtls_hash_name(best));
	X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
	return 0;
}

static unsigned int timer_cb(SSL *ssl, unsigned int timer_us) {
	if (timer_us == 0)
		return TIMER_INITIAL_US;
	return MIN(timer_us * 2, TIMER_MAX_US);
}

/* ---- Context ---- */

static SSL_CTX *ctx_create(X509 *cert, EVP_PKEY *key, GError **error) {
	SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
	gboolean ok = ctx &&
		SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) &&
		SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) &&
		SSL_CTX_use_certificate(ctx, cert) == 1 &&
		SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
		SSL_CTX_check_private_key(ctx) == 1 &&
		SSL_CTX_set_cipher_list(ctx, DTLS_CIPHERS) == 1 &&
		SSL_CTX_set1_groups_list(ctx, DTLS_GROUPS) == 1;
	if (!ok) {
		char *e = take_ssl_error("unknown error");
		g_set_error(error, CARDEA_DTLS_ERROR,
			ctx ? CARDEA_DTLS_ERROR_CERTIFICATE : CARDEA_DTLS_ERROR_CONTEXT,
			"could not set up the DTLS context (%s)", e);
		g_free(e);
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Each connection is a fresh handshake with a fresh peer: no session
	 * resumption, tickets or renegotiation to attack. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_QUERY_MTU |
		SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Media-only connections never touch DTLS after the handshake: give the
	 * ~34 KiB of record buffers back while idle instead of keeping them for
	 * the PC's life (tests/bench/RESULTS.md, RSS per subscriber). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, verify_cb, NULL);
	return ctx;
}

static void ctx_clear(void) {
	SSL_CTX_free(g_ctx);
	g_ctx = NULL;
	X509_free(g_cert);
	g_cert = NULL;
	g_fingerprint[0] = '\0';
	g_profiles = 0;
}

gboolean cardea_dtls_context_init(const char *cert_pem, const char *key_pem,
		const char *key_pwd, GError **error) {
	if ((cert_pem == NULL) != (key_pem == NULL)) {
		g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_INVALID,
			"certificates.cert_pem and certificates.cert_key must be set together");
		return FALSE;
	}
	if (!cardea_srtp_global_init(error))
		return FALSE;
	ERR_clear_error();
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	gboolean ok = cert_pem ? load_certificate(cert_pem, key_pem, key_pwd, &cert, &key, error)
		: generate_certificate(&cert, &key, error);
	if (!ok)
		return FALSE;
	char fp[CARDEA_DTLS_FINGERPRINT_MAX];
	SSL_CTX *ctx = ctx_create(cert, key, error);
	EVP_PKEY_free(key);     /* the SSL_CTX holds its own reference */
	if (!ctx || !bio_method_ensure() || !cert_fingerprint(cert, CARDEA_DTLS_HASH_SHA256, fp, sizeof(fp))) {
		if (ctx && error && !*error)
			g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_CONTEXT,
				"could not set up the DTLS context (out of memory)");
		SSL_CTX_free(ctx);
		X509_free(cert);
		ERR_clear_error();
		return FALSE;
	}
	ctx_clear();
	g_ctx = ctx;
	g_cert = cert;
	g_strlcpy(g_fingerprint, fp, sizeof(g_fingerprint));
	g_profiles = CARDEA_DTLS_PROFILE_AES128_CM_SHA1_80;
	if (cardea_srtp_gcm_supported())
		g_profiles |= CARDEA_DTLS_PROFILE_AEAD_AES_128_GCM;
	else
		CARDEA_LOG(CARDEA_LOG_WARN, "[dtls] libsrtp lacks AES-GCM: offering SRTP_AES128_CM_SHA1_80 only");
	CARDEA_LOG(CARDEA_LOG_INFO, "[dtls] %s certificate, fingerprint %s",
		cert_pem ? "configured" : "generated", g_fingerprint);
	return TRUE;
}

void cardea_dtls_context_deinit(void) {
	ctx_clear();
	if (g_bio_method && g_atomic_int_get(&g_live_connections) == 0) {
		BIO_meth_free(g_bio_method);
		g_bio_method = NULL;
	}
}

const char *cardea_dtls_context_fingerprint(void) {
	return g_ctx ? g_fingerprint : NULL;
}

gboolean cardea_dtls_context_fingerprint_hash(cardea_dtls_hash hash, char *out, gsize out_size) {
	return g_ctx && out && cert_fingerprint(g_cert, hash, out, out_size);
}

guint cardea_dtls_context_profiles(void) {
	return g_profiles;
}

/* ---- Connection life cycle ---- */

static void destroy(cardea_dtls *d) {
	if (d->ssl) {
		/* Detach first so nothing OpenSSL does while freeing reaches us. */
		BIO *b = SSL_get_rbio(d->ssl);
		if (b)
			BIO_set_data(b, NULL);
		SSL_free(d->ssl);
	}
	cardea_srtp_free(d->srtp);
	g_free(d->verify_error);
	g_free(d->reason);
	g_free(d);
	g_atomic_int_dec_and_test(&g_live_connections);
}

static void enter(cardea_dtls *d) {
	d->depth++;
}

/* FALSE when the connection was freed on the way out. */
static gboolean leave(cardea_dtls *d) {
	if (--d->depth == 0 && d->free_pending) {
		destroy(d);
		return FALSE;
	}
	return TRUE;
}

cardea_dtls *cardea_dtls_new(const cardea_dtls_config *config, const cardea_dtls_callbacks *callbacks,
		gpointer user_data, GError **error) {
	if (!config || !callbacks || !callbacks->send ||
			(config->role != CARDEA_DTLS_ROLE_ACTIVE && config->role != CARDEA_DTLS_ROLE_PASSIVE) ||
			(config->mtu != 0 && (config->mtu < CARDEA_DTLS_MIN_MTU || config->mtu > CARDEA_DTLS_MAX_MTU))) {
		g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_INVALID,
			"invalid DTLS configuration (role, MTU %u-%u, send callback)",
			CARDEA_DTLS_MIN_MTU, CARDEA_DTLS_MAX_MTU);
		return NULL;
	}
	if (!g_ctx) {
		g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_CONTEXT, "no DTLS context");
		return NULL;
	}
	guint profiles = config->profiles ? (config->profiles & g_profiles) : g_profiles;
	if (profiles == 0) {
		g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_INVALID,
			"none of the requested SRTP profiles is available");
		return NULL;
	}
	ERR_clear_error();
	cardea_dtls *d = g_new0(cardea_dtls, 1);
	g_atomic_int_inc(&g_live_connections);
	d->role = config->role;
	d->mtu = config->mtu ? config->mtu : CARDEA_DTLS_DEFAULT_MTU;
	d->log_id = config->log_id;
	d->cb = *callbacks;
	d->user_data = user_data;
	/* Server preference picks the first common profile, so GCM goes first. */
	char list[64] = "";
	if (profiles & CARDEA_DTLS_PROFILE_AEAD_AES_128_GCM)
		g_strlcat(list, "SRTP_AEAD_AES_128_GCM:", sizeof(list));
	if (profiles & CARDEA_DTLS_PROFILE_AES128_CM_SHA1_80)
		g_strlcat(list, "SRTP_AES128_CM_SHA1_80:", sizeof(list));
	list[strlen(list) - 1] = '\0';
	d->ssl = SSL_new(g_ctx);
	BIO *bio = d->ssl ? BIO_new(g_bio_method) : NULL;
	/* Note SSL_set_tlsext_use_srtp() returns 0 on success. */
	if (!bio || SSL_set_tlsext_use_srtp(d->ssl, list) != 0 || !SSL_set_app_data(d->ssl, d)) {
		BIO_free(bio);
		char *e = take_ssl_error("out of memory");
		g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_CONTEXT, "could not create a DTLS connection (%s)", e);
		g_free(e);
		destroy(d);
		return NULL;
	}
	BIO_set_data(bio, d);
	SSL_set_bio(d->ssl, bio, bio);  /* one reference, owned by the SSL */
	SSL_set_mtu(d->ssl, d->mtu);
	DTLS_set_timer_cb(d->ssl, timer_cb);
	if (d->role == CARDEA_DTLS_ROLE_ACTIVE)
		SSL_set_connect_state(d->ssl);
	else
		SSL_set_accept_state(d->ssl);
	return d;
}

void cardea_dtls_free(cardea_dtls *d) {
	if (!d)
		return;
	if (d->depth > 0) {
		d->free_pending = TRUE;
		return;
	}
	destroy(d);
}

gboolean cardea_dtls_add_remote_fingerprint(cardea_dtls *d, const char *algorithm,
		const char *value, GError **error) {
	cardea_dtls_hash hash = cardea_dtls_hash_from_name(algorithm);
	if (!d || hash == CARDEA_DTLS_HASH_NONE || !value) {
		g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_INVALID,
			"unsupported fingerprint algorithm '%s'", algorithm ? algorithm : "(null)");
		return FALSE;
	}
	if (d->n_remote >= CARDEA_DTLS_MAX_REMOTE_FINGERPRINTS) {
		g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_INVALID,
			"more than %d remote fingerprints", CARDEA_DTLS_MAX_REMOTE_FINGERPRINTS);
		return FALSE;
	}
	/* Exactly "XX:XX:...:XX" with the hash's length; no other spelling. */
	guint want = hash_len(hash);
	remote_fp fp = { .hash = hash, .len = want };
	const char *p = value;
	for (guint i = 0; i < want; i++) {
		int hi = g_ascii_xdigit_value(p[0]);
		int lo = hi >= 0 ? g_ascii_xdigit_value(p[1]) : -1;
		char sep = lo >= 0 ? p[2] : 'x';
		if (lo < 0 || sep != (i + 1 < want ? ':' : '\0')) {
			g_set_error(error, CARDEA_DTLS_ERROR, CARDEA_DTLS_ERROR_INVALID,
				"malformed %s fingerprint (want %u colon-separated hex bytes)",
				cardea_dtls_hash_name(hash), want);
			return FALSE;
		}
		fp.digest[i] = (guint8)((hi << 4) | lo);
		p += 3;
	}
	d->remote[d->n_remote++] = fp;
	return TRUE;
}

/* ---- State machine ---- */

static void emit_state(cardea_dtls *d, cardea_dtls_state state, const char *reason) {
	d->state = state;
	if (reason && !d->reason)
		d->reason = g_strdup(reason);
	if (!d->free_pending && d->cb.state)
		d->cb.state(d, state, reason, d->user_data);
}

static void fail(cardea_dtls *d, const char *what) {
	char *ssl_err = take_ssl_error(what);
	const char *reason = d->verify_error ? d->verify_error : ssl_err;
	CARDEA_LOG(CARDEA_LOG_WARN, "[dtls %" G_GUINT64_FORMAT "] %s failed: %s",
		d->log_id, d->state == CARDEA_DTLS_STATE_CONNECTED ? "connection" : "handshake", reason);
	/* Without the handshake done there is no key and so no SRTP; after it,
	 * the session stays (borrowed pointers remain valid) but the owner
	 * must stop using it on FAILED. */
	emit_state(d, CARDEA_DTLS_STATE_FAILED, reason);
	g_free(ssl_err);
}

static void closed(cardea_dtls *d, const char *reason) {
	CARDEA_LOG(CARDEA_LOG_VERB, "[dtls %" G_GUINT64_FORMAT "] closed: %s", d->log_id, reason);
	emit_state(d, CARDEA_DTLS_STATE_CLOSED, reason);
}

static cardea_srtp_suite selected_suite(SSL *ssl) {
	SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(ssl);
	if (!p)
		return CARDEA_SRTP_SUITE_NONE;
	switch (p->id) {
	case SRTP_AES128_CM_SHA1_80: return CARDEA_SRTP_AES128_CM_SHA1_80;
	case SRTP_AEAD_AES_128_GCM: return CARDEA_SRTP_AEAD_AES_128_GCM;
	default: return CARDEA_SRTP_SUITE_NONE;
	}
}

/* RFC 5764 4.2: the exporter output is client key, server key, client
 * salt, server salt; our transmit key is the one for our role. */
static gboolean export_srtp(cardea_dtls *d, cardea_srtp_suite suite, char **why) {
	gsize klen = cardea_srtp_suite_key_len(suite), slen = cardea_srtp_suite_salt_len(suite);
	guint8 material[2 * CARDEA_SRTP_MAX_KEY_SALT_LEN];
	guint8 client[CARDEA_SRTP_MAX_KEY_SALT_LEN], server[CARDEA_SRTP_MAX_KEY_SALT_LEN];
	gboolean ok = FALSE;
	if (SSL_export_keying_material(d->ssl, material, 2 * (klen + slen), SRTP_EXPORTER_LABEL,
			strlen(SRTP_EXPORTER_LABEL), NULL, 0, 0) != 1) {
		*why = take_ssl_error("SRTP key export failed");
	} else {
		memcpy(client, material, klen);
		memcpy(server, material + klen, klen);
		memcpy(client + klen, material + 2 * klen, slen);
		memcpy(server + klen, material + 2 * klen + slen, slen);
		gboolean active = d->role == CARDEA_DTLS_ROLE_ACTIVE;
		GError *err = NULL;
		d->srtp = cardea_srtp_new(suite, active ? client : server, active ? server : client, &err);
		if (d->srtp)
			ok = TRUE;
		else
			*why = g_strdup(err->message);
		g_clear_error(&err);
	}
	OPENSSL_cleanse(material, sizeof(material));
	OPENSSL_cleanse(client, sizeof(client));
	OPENSSL_cleanse(server, sizeof(server));
	return ok;
}

static void on_handshake_done(cardea_dtls *d) {
	char *why = NULL;
	cardea_srtp_suite suite = selected_suite(d->ssl);
	/* The verify callback must have run and matched: with SSL_VERIFY_PEER
	 * OpenSSL insists on a peer certificate, but do not rely on one flag. */
	if (!d->fingerprint_ok || !SSL_get0_peer_certificate(d->ssl))
		why = g_strdup("remote certificate was not verified");
	else if (suite == CARDEA_SRTP_SUITE_NONE)
		why = g_strdup("no common DTLS-SRTP profile (use_srtp) negotiated");
	else
		export_srtp(d, suite, &why);
	if (why) {
		CARDEA_LOG(CARDEA_LOG_WARN, "[dtls %" G_GUINT64_FORMAT "] handshake failed: %s", d->log_id, why);
		/* Tell the peer instead of leaving it waiting for media. */
		SSL_shutdown(d->ssl);
		ERR_clear_error();
		emit_state(d, CARDEA_DTLS_STATE_FAILED, why);
		g_free(why);
		return;
	}
	d->profile = suite;
	CARDEA_LOG(CARDEA_LOG_INFO, "[dtls %" G_GUINT64_FORMAT "] connected as %s, %s, %s", d->log_id,
		d->role == CARDEA_DTLS_ROLE_ACTIVE ? "client" : "server", cardea_dtls_profile_name(suite),
		SSL_get_cipher_name(d->ssl));
	emit_state(d, CARDEA_DTLS_STATE_CONNECTED, NULL);
}

/* Drains decrypted records (application data, close_notify, alerts). */
static void read_records(cardea_dtls *d) {
	/* A DTLS record carries at most 2^14 bytes of plaintext, so one read
	 * never truncates a record. */
	guint8 buf[16384];
	while (d->state == CARDEA_DTLS_STATE_CONNECTED && !d->free_pending) {
		ERR_clear_error();
		int n = SSL_read(d->ssl, buf, sizeof(buf));
		if (n > 0) {
			if (d->cb.data)
				d->cb.data(d, buf, (gsize)n, d->user_data);
			continue;
		}
		int err = SSL_get_error(d->ssl, n);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
			ERR_clear_error();
			return;
		}
		if (err == SSL_ERROR_ZERO_RETURN) {
			/* Answer with our own close_notify, as RFC 5246 7.2.1 asks. */
			SSL_shutdown(d->ssl);
			ERR_clear_error();
			closed(d, "close_notify received");
			return;
		}
		fail(d, "record layer error");
		return;
	}
}

static void step(cardea_dtls *d) {
	if (d->state == CARDEA_DTLS_STATE_NEW)
		emit_state(d, CARDEA_DTLS_STATE_CONNECTING, NULL);
	if (d->state == CARDEA_DTLS_STATE_CONNECTING && !d->free_pending) {
		ERR_clear_error();
		int rc = SSL_do_handshake(d->ssl);
		if (rc == 1) {
			on_handshake_done(d);
		} else {
			int err = SSL_get_error(d->ssl, rc);
			if (err == SSL_ERROR_ZERO_RETURN)
				closed(d, "close_notify received during the handshake");
			else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
				fail(d, "handshake error");
			ERR_clear_error();
			return;
		}
	}
	/* Records that followed the last handshake message in one datagram. */
	read_records(d);
}

void cardea_dtls_start(cardea_dtls *d) {
	if (!d || d->state != CARDEA_DTLS_STATE_NEW)
		return;
	enter(d);
	step(d);
	leave(d);
}

static void drop(cardea_dtls *d, int level, gsize len, const char *why) {
	d->stats.dropped_in++;
	/* First drop only: an attacker must not be able to flood the log. */
	if (!d->drop_logged) {
		d->drop_logged = TRUE;
		CARDEA_LOG(level, "[dtls %" G_GUINT64_FORMAT "] dropping a %" G_GSIZE_FORMAT
			"-byte datagram (%s); further drops are only counted", d->log_id, len, why);
	}
}

void cardea_dtls_incoming(cardea_dtls *d, const guint8 *buf, gsize len) {
	if (!d)
		return;
	if (!buf || len == 0 || len > CARDEA_DTLS_MAX_DATAGRAM) {
		drop(d, CARDEA_LOG_WARN, len, "empty or oversized");
		return;
	}
	if (d->state == CARDEA_DTLS_STATE_FAILED || d->state == CARDEA_DTLS_STATE_CLOSED) {
		/* Late retransmissions after an end are normal, not alarming. */
		drop(d, CARDEA_LOG_VERB, len, cardea_dtls_state_name(d->state));
		return;
	}
	d->stats.datagrams_in++;
	d->stats.bytes_in += len;
	enter(d);
	d->in_buf = buf;
	d->in_len = len;
	step(d);
	/* Whatever OpenSSL did not read is gone, like a lost datagram. */
	d->in_buf = NULL;
	d->in_len = 0;
	leave(d);
}

gint64 cardea_dtls_timeout_ms(cardea_dtls *d) {
	struct timeval tv;
	if (!d || (d->state != CARDEA_DTLS_STATE_CONNECTING && d->state != CARDEA_DTLS_STATE_CONNECTED))
		return -1;
	if (DTLSv1_get_timeout(d->ssl, &tv) != 1)
		return -1;
	/* Round up: a timer armed for "0 ms" while OpenSSL still sees a few
	 * microseconds left would make the owner spin. */
	return (gint64)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
}

void cardea_dtls_handle_timeout(cardea_dtls *d) {
	if (!d || (d->state != CARDEA_DTLS_STATE_CONNECTING && d->state != CARDEA_DTLS_STATE_CONNECTED))
		return;
	enter(d);
	ERR_clear_error();
	long rc = DTLSv1_handle_timeout(d->ssl);
	if (rc > 0)
		d->stats.retransmissions++;
	if (rc < 0) {
		/* OpenSSL's "read timeout expired" says less than this. */
		ERR_clear_error();
		fail(d, "handshake timed out");
	}
	ERR_clear_error();
	leave(d);
}

void cardea_dtls_close(cardea_dtls *d) {
	if (!d || d->state == CARDEA_DTLS_STATE_FAILED || d->state == CARDEA_DTLS_STATE_CLOSED)
		return;
	enter(d);
	if (d->state == CARDEA_DTLS_STATE_CONNECTED) {
		ERR_clear_error();
		SSL_shutdown(d->ssl);
		ERR_clear_error();
	}
	closed(d, "closed locally");
	leave(d);
}

gboolean cardea_dtls_write(cardea_dtls *d, const guint8 *buf, gsize len) {
	if (!d || !buf || len == 0 || d->state != CARDEA_DTLS_STATE_CONNECTED)
		return FALSE;
	/* One record per datagram: refuse what cannot fit the MTU. */
	if (len > DTLS_get_data_mtu(d->ssl))
		return FALSE;
	enter(d);
	ERR_clear_error();
	int n = SSL_write(d->ssl, buf, (int)len);
	gboolean ok = n == (int)len;
	if (!ok) {
		int err = SSL_get_error(d->ssl, n);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
			fail(d, "write failed");
	}
	ERR_clear_error();
	leave(d);
	return ok;
}

/* ---- Getters ---- */

cardea_dtls_state cardea_dtls_get_state(const cardea_dtls *d) {
	return d ? d->state : CARDEA_DTLS_STATE_FAILED;
}

cardea_dtls_role cardea_dtls_get_role(const cardea_dtls *d) {
	return d ? d->role : 0;
}

cardea_srtp_suite cardea_dtls_get_profile(const cardea_dtls *d) {
	return (d && d->state == CARDEA_DTLS_STATE_CONNECTED) ? d->profile : CARDEA_SRTP_SUITE_NONE;
}

cardea_srtp *cardea_dtls_get_srtp(cardea_dtls *d) {
	return d ? d->srtp : NULL;
}

const char *cardea_dtls_get_reason(const cardea_dtls *d) {
	return d ? d->reason : NULL;
}

void cardea_dtls_get_stats(const cardea_dtls *d, cardea_dtls_stats *out) {
	if (!out)
		return;
	if (d)
		*out = d->stats;
	else
		memset(out, 0, sizeof(*out));
}
