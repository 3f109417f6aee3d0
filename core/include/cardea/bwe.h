/* Cardea SDK: picking a simulcast layer from a receiver's bandwidth estimate.
 *
 * The core tells a plugin what a peer can take through
 * cardea_plugin.incoming_bitrate_estimate (the peer's REMB, or the core's own
 * estimate from transport-cc feedback). Two small pieces turn that into a
 * substream for cardea_sim_selector_set_substream():
 *  - a meter (cardea_bwe_meter): one per simulcast sender, fed with every
 *    packet's size and substream; it says what each substream costs (bits
 *    per second over the last complete one-second window);
 *  - a policy (cardea_bwe_policy): one per receiver; from the meter's rates
 *    and the receiver's estimate it picks the highest substream the estimate
 *    affords, with hysteresis so it does not flap:
 *      - going up needs estimate >= 1.2 x the layer's rate, and waits out a
 *        hold time after a move down (3 s, doubled up to 60 s each time a
 *        move up is followed by a move down within 10 s: the link could not
 *        carry that layer, so try it less often);
 *      - the current layer is kept while estimate >= 0.9 x its rate; below,
 *        the choice moves down at once, to the highest layer that passes
 *        that same test, or the lowest flowing one;
 *      - substreams with no packets in the last window are never chosen;
 *        with no estimate yet, or no rates yet, the highest is chosen.
 *    The selector still switches at a keyframe of the chosen substream.
 *
 * Memory and threads: plain structs the plugin embeds, no allocation, no
 * locks, no global state; each belongs to one thread at a time (normally
 * the sender's media loop, which is where the fan out runs). Times are
 * monotonic microseconds.
 */
#ifndef CARDEA_BWE_H
#define CARDEA_BWE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cardea/module.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CARDEA_BWE_LAYERS 3                        /* = CARDEA_SIM_MAX_SUBSTREAMS */
#define CARDEA_BWE_METER_WINDOW_US 1000000
#define CARDEA_BWE_UP_PERCENT 120                  /* estimate >= rate * 1.2 to move up */
#define CARDEA_BWE_STAY_PERCENT 90                 /* estimate >= rate * 0.9 to stay */
#define CARDEA_BWE_HOLD_US 3000000                 /* no move up this long after a move down ... */
#define CARDEA_BWE_HOLD_MAX_US 60000000            /* ... doubled up to this */
#define CARDEA_BWE_FAILED_UP_US 10000000           /* a move down this soon after a move up doubles it */

typedef struct cardea_bwe_meter {
	/* To read: what each substream sent in the last complete window, bps
	 * (0: nothing). */
	uint32_t rate_bps[CARDEA_BWE_LAYERS];
	/* Private. */
	int64_t window_start_us;
	uint64_t bytes[CARDEA_BWE_LAYERS];
	uint64_t _reserved[2];
} cardea_bwe_meter;

CARDEA_SDK_API void cardea_bwe_meter_init(cardea_bwe_meter *m);
/* One packet of `bytes` (the whole RTP packet) on `layer`; out-of-range
 * layers are ignored. True when a window just ended (rate_bps changed). */
CARDEA_SDK_API bool cardea_bwe_meter_add(cardea_bwe_meter *m, int layer, size_t bytes, int64_t now_us);

typedef struct cardea_bwe_policy {
	/* To read: the last choice, -1 before the first. */
	int layer;
	/* Private. */
	int64_t down_us;             /* last move down, 0 = none */
	int64_t up_us;               /* last move up, 0 = none */
	int64_t hold_us;             /* current hold after a move down */
	uint64_t _reserved[2];
} cardea_bwe_policy;

CARDEA_SDK_API void cardea_bwe_policy_init(cardea_bwe_policy *p);
/* The substream (0..n-1) the receiver should get, from `rates` (n of them,
 * bps, 0 = not flowing; a meter's rate_bps) and its estimate (bps, 0 =
 * unknown). Updates p->layer. */
CARDEA_SDK_API int cardea_bwe_policy_choose(cardea_bwe_policy *p, const uint32_t *rates, int n,
	uint32_t estimate_bps, int64_t now_us);

#ifdef __cplusplus
}
#endif
#endif
