/* Cardea SDK: the RTP packet plugins see (incoming_rtp) and hand back
 * (relay_rtp).
 *
 * Ownership: a packet is always borrowed for the duration of the call that
 * passes it. On incoming_rtp the buffer is the PeerConnection's receive
 * scratch (already SRTP-unprotected and parsed); a plugin that keeps a packet
 * past the call copies it. relay_rtp copies the bytes before rewriting them,
 * so the plugin may hand the very packet it received to relay_rtp.
 */
#ifndef CARDEA_RTP_H
#define CARDEA_RTP_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest plain RTP packet the media core moves (before SRTP overhead). */
#define CARDEA_RTP_PACKET_MAX 1500

typedef struct cardea_rtp_packet {
	uint8_t *buffer;     /* the whole RTP packet (header + payload), borrowed */
	uint16_t length;
	int mindex;          /* m-line index in the negotiated SDP */
	bool video;          /* false: audio */
	/* Parsed header fields, for convenience (the buffer is authoritative). */
	uint8_t pt;
	bool marker;
	uint16_t seq;
	uint32_t timestamp;
	uint32_t ssrc;       /* as received; relay_rtp rewrites it to the gateway's own */
	uint16_t header_len; /* fixed header + CSRCs + extensions: the payload starts here */
	/* Simulcast (cardea/simulcast.h): which of the sender's substreams this
	 * is, 0 = the lowest quality (and the value when there is no simulcast).
	 * Ignored by relay_rtp. */
	int substream;
} cardea_rtp_packet;

#ifdef __cplusplus
}
#endif
#endif
