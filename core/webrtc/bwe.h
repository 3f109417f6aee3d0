/* Bandwidth estimation for what the gateway sends (bwe.c).
 *
 *  - cardea_twcc_bwe: a send-side estimate from the transport-cc feedback
 *    the peer sends about our packets. Deliberately small: over windows of
 *    at least CARDEA_TWCC_BWE_WINDOW_US of feedback it takes the received
 *    rate R (bytes the peer got over the span of their arrival times) and
 *    the loss fraction L, and moves the estimate E like the loss-based
 *    controller of libwebrtc's send-side BWE:
 *      L > 10 %:        E = min(E, R) * (1 - L / 2)     (back off)
 *      2 % <= L <= 10 %: E unchanged                      (hold)
 *      L < 2 %:         E = max(E, R) * (1 + 8 % per second since the last
 *                       window, at most one second's worth)  (probe up)
 *    The first window sets E = R (backed off as above when L > 10 %).
 *    E stays within [CARDEA_TWCC_BWE_MIN_BPS, CARDEA_TWCC_BWE_MAX_BPS].
 *    There is no delay-based part and no probing: E rises on a clean link
 *    until a layer choice above it shows loss.
 *  - cardea_bwe_gate: rate limit for telling a plugin: at most one report
 *    per CARDEA_BWE_GATE_US, and only when the value moved more than 10 %
 *    from the last one reported.
 *
 * Both are fixed-size (the send history is an array in the struct: no
 * allocation per packet), pure (time passed in) and belong to the loop
 * thread of their PeerConnection.
 */
#ifndef CARDEA_WEBRTC_BWE_H
#define CARDEA_WEBRTC_BWE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "webrtc/rtcp.h"

#define CARDEA_TWCC_BWE_SLOTS 2048              /* packets remembered (power of two) */
#define CARDEA_TWCC_BWE_WINDOW_US 500000
#define CARDEA_TWCC_BWE_MIN_PACKETS 8           /* a window needs this many statuses */
#define CARDEA_TWCC_BWE_MIN_BPS 30000
#define CARDEA_TWCC_BWE_MAX_BPS 50000000
#define CARDEA_TWCC_BWE_STATUSES 1024           /* statuses read from one feedback */

typedef struct cardea_twcc_bwe_slot {
	int64_t seq;                 /* unwrapped, -1 = empty */
	uint32_t size;               /* bytes sent */
	bool reported;               /* a feedback covered it */
} cardea_twcc_bwe_slot;

typedef struct cardea_twcc_bwe {
	uint32_t estimate_bps;       /* 0 until the first window */
	/* Last window, for handle_info. */
	uint32_t received_bps;
	uint32_t loss_permille;
	uint64_t windows;
	uint64_t unknown;            /* statuses for seqs we do not remember */
	/* Private. */
	int64_t next_seq;            /* unwrapped seq of the next packet sent */
	bool started;
	int64_t win_start_us, last_update_us;
	uint64_t win_bytes;
	uint32_t win_received, win_lost;
	int64_t win_first_arrival, win_last_arrival;
	cardea_twcc_bwe_slot slots[CARDEA_TWCC_BWE_SLOTS];
	cardea_twcc_status scratch[CARDEA_TWCC_BWE_STATUSES];  /* parse buffer for feedback_in */
} cardea_twcc_bwe;

void cardea_twcc_bwe_init(cardea_twcc_bwe *b);
/* A packet left with transport-wide seq `seq` and `size` bytes. Seqs are
 * expected in sending order (the caller's counter). */
void cardea_twcc_bwe_sent(cardea_twcc_bwe *b, uint16_t seq, size_t size, int64_t now_us);
/* Statuses of one feedback (cardea_rtcp_parse_twcc). True when a window
 * ended and estimate_bps was updated. */
bool cardea_twcc_bwe_feedback(cardea_twcc_bwe *b, const cardea_twcc_status *st, size_t n, int64_t now_us);

#define CARDEA_BWE_GATE_US 250000
#define CARDEA_BWE_GATE_PERCENT 10

typedef struct cardea_bwe_gate {
	uint32_t last_bps;           /* last value let through, 0 = none */
	int64_t last_us;
} cardea_bwe_gate;

/* True when `bps` should be reported now (and remembers it). */
bool cardea_bwe_gate_pass(cardea_bwe_gate *g, uint32_t bps, int64_t now_us);

#endif
