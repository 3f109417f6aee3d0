/* WebRTC data channels: SCTP over DTLS (RFC 8261, 8831) with libusrsctp in
 * AF_CONN mode, plus the Data Channel Establishment Protocol (DCEP, RFC 8832).
 *
 * No sockets here either: a cardea_sctp is fed the application data the
 * DTLS layer decrypted (cardea_sctp_incoming) and hands every SCTP packet it
 * wants sent to the `send` callback, which writes it as one DTLS record.
 * Channels are opened by the peer (DATA_CHANNEL_OPEN, answered with an ACK)
 * or by us when a message is sent on a label no open channel has.
 *
 * Threads. usrsctp runs its own timer thread and may emit packets and socket
 * events from it. Everything else belongs to the GMainContext given at
 * creation (the PeerConnection's media loop): every cardea_sctp_* call on an
 * association is made on that context's thread, and every callback runs
 * there, either synchronously inside cardea_sctp_incoming/send or from a
 * source the association attached to the context. Packets and events that
 * usrsctp produces on its own thread are copied and handed to the context
 * (STYLE.md rule 12); reading from the socket happens only on the context's
 * thread, after usrsctp has returned (never inside its upcall).
 *
 * Lifetime. usrsctp only ever sees a small integer id as the association's
 * address; a process-wide table maps ids to live associations under a
 * mutex, so a late packet or event from the timer thread for an association
 * that is gone finds nothing and is dropped. Sources attached to the context
 * hold a reference, so the memory outlives them; the context itself must
 * outlive the association's cardea_sctp_free() (the media loops do).
 *
 * Lock order: the id table's mutex, then an association's queue mutex. No
 * usrsctp call and no callback is made while holding either.
 */
#ifndef CARDEA_WEBRTC_SCTP_H
#define CARDEA_WEBRTC_SCTP_H

#include <glib.h>
#include "cardea/data.h"

#define CARDEA_SCTP_ERROR (cardea_sctp_error_quark())
GQuark cardea_sctp_error_quark(void);
typedef enum cardea_sctp_error_code {
	CARDEA_SCTP_ERROR_INVALID = 1,  /* bad configuration, or usrsctp not initialised */
	CARDEA_SCTP_ERROR_USRSCTP,      /* usrsctp refused a socket call (message says which) */
} cardea_sctp_error_code;

/* a=sctp-port when an SDP has none (RFC 8841 5.2 has no default; every
 * browser uses 5000). */
#define CARDEA_SCTP_DEFAULT_PORT 5000
/* What we advertise in a=max-message-size unless the plugin says otherwise. */
#define CARDEA_SCTP_DEFAULT_MAX_MESSAGE 262144
/* What we may send when the peer's SDP has no a=max-message-size (RFC 8841 6.1). */
#define CARDEA_SCTP_REMOTE_DEFAULT_MAX_MESSAGE 65536
/* Upper bound for any message size we accept or send: the receive side buffers
 * a whole message before handing it to the plugin. */
#define CARDEA_SCTP_MAX_MESSAGE_CAP (16 * 1024 * 1024)
/* Streams we ask for in each direction (channels = streams). */
#define CARDEA_SCTP_STREAMS 1024
/* DTLS record overhead we leave room for when sizing SCTP packets (13-byte
 * header plus the worst cipher: CBC IV, SHA-384 MAC and padding). */
#define CARDEA_SCTP_DTLS_OVERHEAD 100
#define CARDEA_SCTP_MIN_MTU 512

/* SCTP payload protocol identifiers for WebRTC (RFC 8831 8, IANA). */
typedef enum cardea_sctp_ppid {
	CARDEA_SCTP_PPID_DCEP = 50,
	CARDEA_SCTP_PPID_STRING = 51,
	CARDEA_SCTP_PPID_BINARY_PARTIAL = 52,   /* deprecated */
	CARDEA_SCTP_PPID_BINARY = 53,
	CARDEA_SCTP_PPID_STRING_PARTIAL = 54,   /* deprecated */
	CARDEA_SCTP_PPID_STRING_EMPTY = 56,
	CARDEA_SCTP_PPID_BINARY_EMPTY = 57,
} cardea_sctp_ppid;

/* ---- DCEP messages (RFC 8832 5): pure, no state ---- */

typedef enum cardea_dcep_type {
	CARDEA_DCEP_ACK = 0x02,
	CARDEA_DCEP_OPEN = 0x03,
} cardea_dcep_type;

/* Channel types: bit 7 = unordered, low bits = reliability policy. */
typedef enum cardea_dcep_channel_type {
	CARDEA_DCEP_RELIABLE = 0x00,
	CARDEA_DCEP_RELIABLE_UNORDERED = 0x80,
	CARDEA_DCEP_PARTIAL_REXMIT = 0x01,
	CARDEA_DCEP_PARTIAL_REXMIT_UNORDERED = 0x81,
	CARDEA_DCEP_PARTIAL_TIMED = 0x02,
	CARDEA_DCEP_PARTIAL_TIMED_UNORDERED = 0x82,
} cardea_dcep_channel_type;

#define CARDEA_DCEP_OPEN_HEADER 12
#define CARDEA_DCEP_PRIORITY_NORMAL 256

typedef enum cardea_dcep_status {
	CARDEA_DCEP_OK = 0,
	CARDEA_DCEP_TRUNCATED,          /* shorter than its header or its lengths say */
	CARDEA_DCEP_BAD_TYPE,           /* not an OPEN, or an unknown channel type */
	CARDEA_DCEP_BAD_STRING,         /* label or protocol holds a NUL byte */
	CARDEA_DCEP_NO_ROOM,            /* writer: output buffer too small */
} cardea_dcep_status;

typedef struct cardea_dcep_open {
	guint8 channel_type;            /* cardea_dcep_channel_type */
	guint16 priority;
	guint32 reliability;            /* retransmissions or lifetime in ms, per type */
	const char *label;              /* NOT NUL-terminated: label_len bytes (borrowed) */
	guint16 label_len;
	const char *protocol;           /* same, protocol_len bytes */
	guint16 protocol_len;
} cardea_dcep_open;

/* The message type byte, or 0 for an empty buffer. */
guint8 cardea_dcep_message_type(const guint8 *buf, gsize len);
/* Parses a DATA_CHANNEL_OPEN; `out` points into `buf`. Bytes after the
 * protocol are ignored (RFC 8832 leaves no room for any, but they do no harm). */
cardea_dcep_status cardea_dcep_parse_open(const guint8 *buf, gsize len, cardea_dcep_open *out);
/* Writes a DATA_CHANNEL_OPEN (*written = its size) or an ACK (1 byte). */
cardea_dcep_status cardea_dcep_write_open(const cardea_dcep_open *open, guint8 *out, gsize cap, gsize *written);
cardea_dcep_status cardea_dcep_write_ack(guint8 *out, gsize cap, gsize *written);
gboolean cardea_dcep_channel_type_valid(guint8 channel_type);
const char *cardea_dcep_channel_type_name(guint8 channel_type);

/* ---- Process-wide ---- */

/* usrsctp_init (no UDP encapsulation) and its sysctls. Main thread, once,
 * before any association; later calls are no-ops. */
gboolean cardea_sctp_global_init(GError **error);
/* usrsctp_finish after every association is freed; waits (bounded) for
 * usrsctp to let go of aborted associations. */
void cardea_sctp_global_deinit(void);

/* ---- Associations ---- */

typedef struct cardea_sctp cardea_sctp;

typedef struct cardea_sctp_callbacks {
	/* Mandatory: one SCTP packet for the peer (write it as one DTLS record).
	 * May run inside a usrsctp call: must not call back into this sctp. */
	void (*send)(cardea_sctp *sctp, const guint8 *buf, gsize len, gpointer user_data);
	/* Optional: the association came up (TRUE) or is gone for good (FALSE). */
	void (*state)(cardea_sctp *sctp, gboolean up, gpointer user_data);
	/* Optional: a channel was opened (by either side) or closed. */
	void (*channel)(cardea_sctp *sctp, guint16 sid, const char *label, gboolean open, gpointer user_data);
	/* Optional: one complete message (borrowed). */
	void (*message)(cardea_sctp *sctp, const cardea_data_packet *packet, gpointer user_data);
} cardea_sctp_callbacks;

typedef struct cardea_sctp_config {
	guint16 local_port, remote_port;        /* a=sctp-port of our SDP and of the peer's */
	gboolean dtls_client;                   /* we opened DTLS: our channels use even stream ids (RFC 8832 6) */
	guint mtu;                              /* largest SCTP packet `send` may get (>= CARDEA_SCTP_MIN_MTU) */
	gsize max_message_in;                   /* what we advertised; larger messages are dropped and counted */
	gsize max_message_out;                  /* the peer's a=max-message-size, 0 = no limit (then the cap) */
	guint64 log_id;                         /* handle id for logs */
} cardea_sctp_config;

typedef enum cardea_sctp_status {
	CARDEA_SCTP_OK = 0,
	CARDEA_SCTP_NOT_UP,             /* association not established (yet or any more) */
	CARDEA_SCTP_TOO_BIG,            /* over the peer's max-message-size */
	CARDEA_SCTP_NO_STREAM,          /* no free stream id for a new channel */
	CARDEA_SCTP_BUFFER_FULL,        /* usrsctp's send buffer is full */
	CARDEA_SCTP_FAILED,             /* bad argument or usrsctp refused */
} cardea_sctp_status;

/* Creates the socket, binds it and starts the association (INIT; a peer
 * INIT crossing ours is fine). Call once DTLS is connected. callbacks is
 * copied, user_data borrowed. NULL with error on failure. */
cardea_sctp *cardea_sctp_new(GMainContext *context, const cardea_sctp_config *config,
	const cardea_sctp_callbacks *callbacks, gpointer user_data, GError **error);
/* Aborts the association (an ABORT goes out through `send` at once), closes
 * the socket; no callback fires afterwards. Safe from inside a callback
 * (deferred until it returns). NULL is a no-op. */
void cardea_sctp_free(cardea_sctp *sctp);

/* One decrypted DTLS record (one SCTP packet). Copies what it keeps. */
void cardea_sctp_incoming(cardea_sctp *sctp, const guint8 *buf, gsize len);
/* Sends one message on the channel named packet->label, opening it first
 * when no open channel has that label. */
cardea_sctp_status cardea_sctp_send(cardea_sctp *sctp, const cardea_data_packet *packet);
gboolean cardea_sctp_is_up(const cardea_sctp *sctp);
const char *cardea_sctp_status_name(cardea_sctp_status status);

typedef struct cardea_sctp_stats {
	guint channels;                 /* open now */
	guint64 channels_opened;        /* since creation, both sides */
	guint64 messages_in, bytes_in;
	guint64 messages_out, bytes_out;
	guint64 dropped_too_big_in;     /* over max_message_in */
	guint64 dropped_unknown_in;     /* no channel on that stream, bad DCEP, unknown PPID */
	guint64 dropped_out;            /* cardea_sctp_send refused */
	guint16 streams_in, streams_out;
} cardea_sctp_stats;
void cardea_sctp_get_stats(const cardea_sctp *sctp, cardea_sctp_stats *out);

typedef struct cardea_sctp_channel_info {
	guint16 sid;
	const char *label, *protocol;   /* borrowed for the callback */
	guint8 channel_type;
	gboolean opened_locally, acked;
	guint64 messages_in, messages_out;
} cardea_sctp_channel_info;
/* Calls fn once per open channel, in stream id order. fn must not call into the sctp. */
void cardea_sctp_foreach_channel(const cardea_sctp *sctp,
	void (*fn)(const cardea_sctp_channel_info *info, gpointer user_data), gpointer user_data);

#endif
