/* Cardea SDK: the data channel message plugins see (incoming_data) and hand
 * back (relay_data).
 *
 * Data channels are WebRTC's SCTP-over-DTLS channels (RFC 8831/8832): the
 * core runs the SCTP association and the channel-open handshake (DCEP) for
 * every PeerConnection whose SDP accepted an `m=application ...
 * webrtc-datachannel` line, and plugins only ever see whole messages
 * identified by the channel's label.
 *
 * Ownership: a packet and every pointer in it are borrowed for the duration
 * of the call that passes them. On incoming_data the buffer is the core's
 * receive buffer; a plugin that keeps a message past the call copies it.
 * relay_data copies what it needs before returning, so the plugin may hand
 * the very packet it received back to relay_data.
 */
#ifndef CARDEA_DATA_H
#define CARDEA_DATA_H

#include <glib.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cardea_data_packet {
	/* The channel's label (UTF-8, NUL-terminated, may be ""). On relay_data a
	 * label no open channel has makes the core open a new reliable, ordered
	 * channel with that label (and `protocol`) first. NULL means "". */
	const char *label;
	/* The channel's sub-protocol (may be ""); NULL means "". Only used when
	 * relay_data opens a channel. */
	const char *protocol;
	/* TRUE: binary message; FALSE: text (UTF-8, not checked by the core). */
	gboolean binary;
	/* The message; NULL only when len is 0 (empty messages are legal). */
	const guint8 *buf;
	gsize len;
} cardea_data_packet;

#ifdef __cplusplus
}
#endif
#endif
