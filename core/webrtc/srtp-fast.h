/* SRTP protect (sender side only) on OpenSSL, for the relay hot path.
 *
 * Why: Debian's libsrtp2 is built on NSS, whose PKCS#11 layer sets up a
 * cipher and an HMAC context for every packet; callgrind put that at ~70% of
 * the user-space instructions per forwarded packet (tests/bench/RESULTS.md).
 * This implements RFC 3711 (AES_CM_128_HMAC_SHA1_80/_32) and RFC 7714
 * (AEAD_AES_128_GCM) protect with keys derived once and OpenSSL contexts
 * reused across packets: no allocation per packet.
 *
 * Scope: RTP protect only. SRTCP and every unprotect stay on libsrtp (the
 * SRTCP keys and index are independent of SRTP's, so the two never share
 * state). The output is byte-for-byte what libsrtp produces for the same
 * key, SSRC and sequence of packets (tests/unit/test_srtp.c checks it),
 * including the rollover counter estimate and the 1024-packet window for
 * re-sent (NACKed) sequence numbers.
 *
 * Threads: as cardea_srtp, one thread at a time.
 */
#ifndef CARDEA_WEBRTC_SRTP_FAST_H
#define CARDEA_WEBRTC_SRTP_FAST_H

#include <glib.h>
#include "webrtc/srtp.h"

typedef struct cardea_srtp_fast cardea_srtp_fast;

/* NULL when the suite is not one of the three above or OpenSSL refuses
 * (the caller then keeps libsrtp). key_salt: master key || master salt. */
cardea_srtp_fast *cardea_srtp_fast_new(cardea_srtp_suite suite, const guint8 *key_salt);
void cardea_srtp_fast_free(cardea_srtp_fast *f);

/* Protects the RTP packet in buf (hlen: its header length, already
 * validated; cap: room for the tag checked by the caller). Returns
 * CARDEA_SRTP_OK with *len grown, CARDEA_SRTP_ERR_REPLAY for a sequence
 * number further back than the window, CARDEA_SRTP_ERR_FAILED on an OpenSSL
 * error, or -1 when this SSRC is not handled here (its table is full):
 * the caller must then use libsrtp for it, which it will do for every
 * later packet of that SSRC as well, since entries are never evicted. */
int cardea_srtp_fast_protect(cardea_srtp_fast *f, guint8 *buf, gsize *len, gsize hlen);

#endif
