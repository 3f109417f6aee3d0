/* Cardea SDK: SRTP protection with SDES-style keys, for plugins that send
 * RTP themselves (the VideoRoom's rtp_forward with srtp_suite/srtp_crypto).
 *
 * The keys are what the Janus API calls `srtp_suite` (32 or 80: the
 * authentication tag length of AES_CM_128_HMAC_SHA1_32 / _80) and
 * `srtp_crypto` (base64 of the 16-byte master key followed by the 14-byte
 * master salt: exactly 30 bytes once decoded).
 *
 * Threads: a context is used by one thread at a time (libsrtp keeps
 * per-stream state); protect allocates nothing per packet, except that
 * libsrtp sets up a stream the first time it sees a new SSRC.
 */
#ifndef CARDEA_SDK_SRTP_H
#define CARDEA_SDK_SRTP_H

#include <stddef.h>
#include <stdint.h>
#include "cardea/module.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cardea_srtp cardea_srtp;

/* Bytes protect may add to a packet: `cap` must leave this much room. */
#define CARDEA_SRTP_SDES_OVERHEAD 20

/* A protecting context, or NULL with *error (free with g_free; error may be
 * NULL) when tag_bits is not 32/80 or the key is not canonical base64 of
 * exactly 30 bytes. Owned by the caller: cardea_srtp_sdes_free(). */
CARDEA_SDK_API cardea_srtp *cardea_srtp_sdes_new(int tag_bits, const char *key_salt_b64, char **error);
/* Protects the RTP packet in buf (len bytes, cap bytes of room) in place;
 * on success returns 0 and sets *len to the protected length, otherwise
 * returns -1 (drop the packet). */
CARDEA_SDK_API int cardea_srtp_sdes_protect_rtp(cardea_srtp *s, uint8_t *buf, size_t *len, size_t cap);
CARDEA_SDK_API void cardea_srtp_sdes_free(cardea_srtp *s);

#ifdef __cplusplus
}
#endif
#endif
