/* Loss recovery and feedback state for one leg of a peer connection:
 *
 *  - cardea_nack_tracker: receiver side. Fed with the sequence numbers of an
 *    incoming stream, it says which ones to NACK now, retrying a limited
 *    number of times and giving up on packets that are too old.
 *  - cardea_rtx_buffer: sender side. Keeps the last packets of an outgoing
 *    stream in a byte ring sized to its bitrate and answers a NACK with the packet to
 *    resend (RTX-wrapped when negotiated, plain otherwise), at most once per
 *    RTT for the same seq.
 *  - cardea_keyframe_limiter: at most one PLI/FIR per interval per stream;
 *    a request inside the interval is remembered and sent when it ends.
 *  - cardea_twcc_recorder: arrival times of incoming transport-wide seqs,
 *    turned into transport-cc feedback every twcc_period.
 *
 * None of these allocate per packet: the tracker, limiter and recorder are
 * fixed-size structs, the rtx buffer allocates its slots and ring at init
 * and the ring again only when it grows (by 1.5x to 2x each time).
 * Time is always passed in (microseconds, any monotonic clock, >= 0), which keeps
 * them pure and testable.
 *
 * Threads: each object belongs to the loop thread of its peer connection and
 * has no locks (STYLE.md rule 12).
 */
#ifndef CARDEA_WEBRTC_NACK_H
#define CARDEA_WEBRTC_NACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "webrtc/rtp.h"
#include "webrtc/rtcp.h"

/* ---- Receiver side: which seqs to NACK ---- */

/* Missing seqs tracked at once. A bigger gap (a burst loss or a stream
 * restart) is not worth repairing packet by packet: the tracker resets and
 * asks for a keyframe instead. */
#define CARDEA_NACK_MAX_MISSING 256

typedef struct cardea_nack_config {
	unsigned max_retries;      /* NACKs per seq; default 10 */
	int64_t max_age_us;        /* stop asking after this long; default 1 s */
	int64_t reorder_delay_us;  /* wait before the first NACK; default 0 */
	int64_t min_retry_us;      /* floor of the retry interval; default 20 ms */
	int64_t default_rtt_us;    /* retry interval while the RTT is unknown; default 100 ms */
} cardea_nack_config;

typedef struct cardea_nack_entry {
	int64_t seq;               /* unwrapped */
	int64_t missed_us;         /* when the gap was seen */
	int64_t sent_us;           /* last NACK */
	uint8_t retries;           /* NACKs sent so far */
} cardea_nack_entry;

typedef struct cardea_nack_tracker {
	cardea_nack_config cfg;
	cardea_seq_unwrapper unwrap;
	bool init;
	int64_t highest;           /* highest unwrapped seq seen */
	/* Missing seqs, ascending, missing[0..count). */
	cardea_nack_entry missing[CARDEA_NACK_MAX_MISSING];
	size_t count;
	bool keyframe_needed;      /* losses were dropped untracked */
	/* Counters */
	uint64_t nacks_sent;       /* seqs emitted, retries included */
	uint64_t recovered;        /* a missing seq arrived */
	uint64_t expired;          /* given up (age or retries) */
	uint64_t dropped;          /* never tracked: list full, or a restart */
} cardea_nack_tracker;

typedef enum cardea_nack_event {
	CARDEA_NACK_IN_ORDER = 0,  /* the next seq, or the first one */
	CARDEA_NACK_GAP,           /* newer with a gap: the gap is now tracked */
	CARDEA_NACK_RECOVERED,     /* a seq we were missing */
	CARDEA_NACK_OLD,           /* duplicate, or older than anything tracked */
	CARDEA_NACK_RESET,         /* jump or gap too large: list cleared, keyframe wanted */
} cardea_nack_event;

/* Fills the defaults listed above. */
void cardea_nack_config_defaults(cardea_nack_config *cfg);
/* cfg NULL: defaults. Zero fields of cfg also take their default. */
void cardea_nack_tracker_init(cardea_nack_tracker *t, const cardea_nack_config *cfg);
cardea_nack_event cardea_nack_tracker_received(cardea_nack_tracker *t, uint16_t seq, int64_t now_us);
/* The seqs to NACK now, ascending, at most cap (the rest stay due). Each
 * returned seq counts one retry. Entries past max_age or max_retries are
 * dropped here. rtt_us <= 0 means unknown. */
size_t cardea_nack_tracker_due(cardea_nack_tracker *t, int64_t now_us, int64_t rtt_us, uint16_t *out, size_t cap);
/* True once after losses were dropped untracked or given up on (age or
 * retries): the receiver cannot repair them, send a PLI. */
bool cardea_nack_tracker_take_keyframe_request(cardea_nack_tracker *t);

/* ---- Sender side: the retransmission buffer ---- */

#define CARDEA_RTX_DEFAULT_SLOTS     256
#define CARDEA_RTX_DEFAULT_SLOT_SIZE 1500
#define CARDEA_RTX_INITIAL_RING      (16 * 1024)
#define CARDEA_RTX_DEFAULT_MAX_AGE_US (200 * 1000)   /* media.min_nack_queue default */
/* Resend interval for one seq while the RTT is unknown, and its floor. */
#define CARDEA_RTX_UNKNOWN_RTT_US    (50 * 1000)
#define CARDEA_RTX_MIN_RESEND_US     (5 * 1000)

typedef struct cardea_rtx_slot {
	uint64_t pos;              /* where the packet starts in the byte stream (see ring) */
	int64_t stored_us;
	int64_t resent_us;         /* last resend, 0 = never */
	uint16_t seq;
	uint16_t len;
	bool used;
} cardea_rtx_slot;

/* Packets are kept back to back in a byte ring, not in fixed slots of the
 * largest size: an audio packet or a low simulcast layer's packet then costs
 * its own size, not 1500 bytes. Positions count every byte ever written
 * (a packet never wraps the ring's end: the rest of the lap is skipped), so
 * a packet is intact while fewer than ring_size bytes were written after its
 * start. The ring starts small and grows, at the end of a lap, when the lap
 * took less than max_age_us and fewer packets than n_slots: its size then
 * follows the stream's bitrate (within 2x), up to n_slots * slot_size. */
typedef struct cardea_rtx_buffer {
	uint8_t *ring;             /* owned: ring_size bytes */
	size_t ring_size;
	size_t ring_cap;           /* n_slots * slot_size */
	uint64_t write_pos;        /* bytes written since init or the last growth */
	size_t write_off;          /* write_pos in the ring */
	uint64_t lap_start_pos;
	int64_t lap_start_us;
	size_t lap_packets;
	cardea_rtx_slot *slots;    /* owned: n_slots entries */
	size_t n_slots;            /* a power of two; slot = seq & (n_slots - 1) */
	size_t slot_size;          /* largest packet kept */
	int64_t max_age_us;
	/* Counters */
	uint64_t stored;
	uint64_t too_big;          /* larger than slot_size: not stored */
	uint64_t hits;
	uint64_t misses;           /* never stored, or overwritten */
	uint64_t too_old;
	uint64_t throttled;        /* asked again within an RTT */
	uint64_t grown;            /* ring growths */
} cardea_rtx_buffer;

typedef enum cardea_rtx_result {
	CARDEA_RTX_HIT = 0,
	CARDEA_RTX_MISS,
	CARDEA_RTX_TOO_OLD,
	CARDEA_RTX_THROTTLED,
	CARDEA_RTX_NO_SPACE,       /* answer(): out too small */
} cardea_rtx_result;

/* RTX stream of an outgoing stream, when negotiated (a=rtpmap rtx + apt). */
typedef struct cardea_rtx_stream {
	uint8_t pt;
	uint32_t ssrc;
	uint16_t next_seq;         /* advanced by every RTX packet built */
} cardea_rtx_stream;

/* n_slots is rounded up to a power of two; zero arguments take the defaults.
 * Allocates the slots and a CARDEA_RTX_INITIAL_RING-byte ring; the ring is
 * reallocated only when it grows (a few times per stream: by 1.5x to 2x
 * each time). Returns false if the sizes are absurd. */
bool cardea_rtx_buffer_init(cardea_rtx_buffer *b, size_t n_slots, size_t slot_size, int64_t max_age_us);
void cardea_rtx_buffer_free(cardea_rtx_buffer *b);
/* Forget everything (e.g. on an SSRC change); keeps the storage. */
void cardea_rtx_buffer_clear(cardea_rtx_buffer *b);
/* Grows the ring now to hold at least `bytes` (at most n_slots * slot_size),
 * e.g. for a stream whose bitrate is known before it starts. */
void cardea_rtx_buffer_reserve(cardea_rtx_buffer *b, size_t bytes);
/* Copies the packet as it is sent (after rewriting, before SRTP). */
bool cardea_rtx_buffer_store(cardea_rtx_buffer *b, const cardea_rtp_info *info, int64_t now_us);
/* Looks a seq up; on HIT, *pkt and *len point into the buffer (valid until the
 * next store) and the seq's resend time is set to now. */
cardea_rtx_result cardea_rtx_buffer_get(cardea_rtx_buffer *b, uint16_t seq, int64_t now_us, int64_t rtt_us,
	const uint8_t **pkt, size_t *len);
/* After a MISS or TOO_OLD: true when seq did leave and can no longer be
 * resent (too old, or its slot now holds a later seq), false when it may
 * simply not have been sent yet (a hole we are still repairing upstream). */
bool cardea_rtx_buffer_gone(const cardea_rtx_buffer *b, uint16_t seq, int64_t now_us);
/* True when seq is stored (it was sent and its slot still holds it), at
 * any age; no throttle or counter changes. */
bool cardea_rtx_buffer_has(const cardea_rtx_buffer *b, uint16_t seq);
/* Answers one NACKed seq: writes the packet to send into out (RTX form with
 * rtx->next_seq advanced when rtx is not NULL, else a plain copy) and sets
 * *out_len. */
cardea_rtx_result cardea_rtx_buffer_answer(cardea_rtx_buffer *b, uint16_t seq, int64_t now_us, int64_t rtt_us,
	cardea_rtx_stream *rtx, uint8_t *out, size_t cap, size_t *out_len);

/* ---- Keyframe requests ---- */

typedef struct cardea_keyframe_limiter {
	int64_t interval_us;
	int64_t last_us;
	bool sent_once;
	bool pending;
	uint8_t fir_seq;           /* RFC 5104: +1 per new FIR request */
	uint64_t sent;
	uint64_t suppressed;
} cardea_keyframe_limiter;

void cardea_keyframe_limiter_init(cardea_keyframe_limiter *l, int64_t interval_us);
/* A keyframe is wanted. True: send a PLI/FIR now. False: one went out less
 * than interval ago; the request stays pending for poll(). */
bool cardea_keyframe_limiter_request(cardea_keyframe_limiter *l, int64_t now_us);
/* Call from the leg's timer: true when a pending request may go out now. */
bool cardea_keyframe_limiter_poll(cardea_keyframe_limiter *l, int64_t now_us);
/* The seq nr for the next FIR (increments). */
uint8_t cardea_keyframe_limiter_next_fir_seq(cardea_keyframe_limiter *l);

/* ---- Transport-wide CC: arrivals to feedback ---- */

#define CARDEA_TWCC_WINDOW 1024    /* seqs held between two feedbacks */

typedef struct cardea_twcc_recorder {
	cardea_seq_unwrapper unwrap;
	bool init;
	int64_t next_seq;          /* first seq not yet reported */
	int64_t max_seq;           /* highest seq received */
	bool pending;              /* something to report */
	uint8_t fb_count;
	int64_t arrival_us[CARDEA_TWCC_WINDOW];        /* by seq & mask; -1 = not received */
	cardea_twcc_arrival scratch[CARDEA_TWCC_WINDOW];
	/* Counters */
	uint64_t late;             /* arrived after its seq was reported */
	uint64_t dropped;          /* pushed out of the window unreported */
} cardea_twcc_recorder;

void cardea_twcc_recorder_init(cardea_twcc_recorder *r);
void cardea_twcc_recorder_add(cardea_twcc_recorder *r, uint16_t seq, int64_t arrival_us);
/* Writes one feedback packet for what arrived since the last one and returns
 * its length, or 0 when there is nothing to report. When everything did not
 * fit in cap, call again for the rest. */
size_t cardea_twcc_recorder_build(cardea_twcc_recorder *r, uint32_t sender_ssrc, uint32_t media_ssrc,
	uint8_t *buf, size_t cap);

#endif
