/* SRTP and SRTCP on OpenSSL, for the relay hot path and for memory.
 *
 * Why: Debian's libsrtp2 is built on NSS, whose PKCS#11 layer sets up a
 * cipher and an HMAC context for every packet; callgrind put that at ~70% of
 * the user-space instructions per forwarded packet (tests/bench/RESULTS.md).
 * Each libsrtp session also costs ~10 KB of NSS/libsrtp heap, two per
 * connection. This implements RFC 3711 (AES_CM_128_HMAC_SHA1_80/_32) and
 * RFC 7714 (AEAD_AES_128_GCM) protect and unprotect, RTP and RTCP, with keys
 * derived once and OpenSSL contexts reused across packets.
 *
 * One cardea_srtp_fast serves one direction (the keys of one side): an
 * outbound one protects, an inbound one unprotects. The behaviour is
 * libsrtp's as configured by srtp.c, byte for byte on output and decision
 * for decision on input (tests/unit/test_srtp*.c check it):
 *   - per-SSRC streams, RTP and RTCP state independent; an inbound stream
 *     is learned only once a packet of that SSRC has authenticated;
 *   - RTP: RFC 3711 3.3.1 rollover estimate as libsrtp does it (ROC 0 until
 *     past the median), a 1024-packet window (srtp.c REPLAY_WINDOW), re-sent
 *     sequence numbers allowed on send within that window;
 *   - SRTCP: the 31-bit index per SSRC, starting at 1 as libsrtp's, always
 *     encrypted (E set) on send, a 128-packet window; AES-CM suites use an
 *     80-bit SRTCP tag (the _32 suite too). On receive GCM honours the E
 *     flag (RFC 7714 9.3); AES-CM refuses E clear (ERR_FAILED), as libsrtp
 *     does for a policy with confidentiality;
 *   - the state of a stream moves only after its packet authenticated.
 *
 * Allocation: only when a new SSRC is learned (the stream table grows up to
 * FAST_SSRCS entries), never per packet.
 *
 * Threads: as cardea_srtp, one thread at a time.
 */
#ifndef CARDEA_WEBRTC_SRTP_FAST_H
#define CARDEA_WEBRTC_SRTP_FAST_H

#include <glib.h>
#include "webrtc/srtp.h"

typedef struct cardea_srtp_fast cardea_srtp_fast;

/* NULL when the suite is not one of the three above or OpenSSL refuses
 * (the caller then keeps libsrtp). key_salt: master key || master salt.
 * inbound: unprotect only; otherwise protect only. */
cardea_srtp_fast *cardea_srtp_fast_new(cardea_srtp_suite suite, const guint8 *key_salt,
	gboolean inbound);
void cardea_srtp_fast_free(cardea_srtp_fast *f);

/* All four take a packet the caller has already validated: hlen is the RTP
 * header length; for protect `cap` leaves room for the trailer; for
 * unprotect *len covers at least the header and the trailer. They return a
 * cardea_srtp_result (OK with *len updated, ERR_AUTH, ERR_REPLAY,
 * ERR_FAILED on an OpenSSL error or an exhausted SRTCP index), or -1 when
 * this SSRC is not handled here because the table is full: the caller must
 * then use libsrtp for it, which it will do for every later packet of that
 * SSRC as well, since entries are never evicted. Calling the wrong
 * direction's function also returns ERR_FAILED. */
int cardea_srtp_fast_protect(cardea_srtp_fast *f, guint8 *buf, gsize *len, gsize hlen);
int cardea_srtp_fast_protect_rtcp(cardea_srtp_fast *f, guint8 *buf, gsize *len);
int cardea_srtp_fast_unprotect(cardea_srtp_fast *f, guint8 *buf, gsize *len, gsize hlen);
int cardea_srtp_fast_unprotect_rtcp(cardea_srtp_fast *f, guint8 *buf, gsize *len);

#endif
