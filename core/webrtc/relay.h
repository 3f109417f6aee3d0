/* The relay hot path (DESIGN.md "Threads and the packet path"): a plugin's
 * relay_rtp to a subscriber whose PeerConnection lives on another media loop.
 *
 * Every media loop owns one relay ring: a preallocated, bounded queue of
 * packet slots that other threads fill and the loop drains. One slot holds
 * one packet's bytes ONCE plus the list of target PCs on that loop (a
 * handle ref each, and the per-target sequence number, timestamp and
 * m-line), so a publisher packet relayed to K subscribers of loop L during
 * one incoming_rtp costs one copy and (at most) one wake-up of L, not K
 * mallocs and K invokes.
 *
 * Batching: a media-loop thread keeps its slot for each target loop open
 * while consecutive relay_rtp calls carry the same packet (same length and
 * bytes except the sequence number and timestamp, which plugins rewrite per
 * subscriber); it commits its open slots when the content changes, when a
 * slot is full, and at the latest before its own loop polls again (the
 * ring source's prepare). Other threads commit at once.
 *
 * Overflow: a full ring drops the targets and counts them
 * (cardea_relay_drops); the sender never blocks.
 *
 * Threads: any thread may produce (claiming a slot is one CAS); only the
 * owning loop consumes. Slot states FREE -> FILLING (one producer) ->
 * READY -> FREE (the loop) order everything; no lock is taken.
 */
#ifndef CARDEA_WEBRTC_RELAY_H
#define CARDEA_WEBRTC_RELAY_H

#include <glib.h>

struct cardea_loop;
typedef struct cardea_relay_ring cardea_relay_ring;

/* Slots per loop and target PCs per slot: 512 x 64 covers ~250 packets of
 * backlog per loop at any fan-out (a slot is ~3 KiB, ~1.6 MiB per loop,
 * resident only as deep as the backlog has gone: an empty ring restarts
 * at slot 0). */
#define CARDEA_RELAY_RING_SLOTS 512
#define CARDEA_RELAY_SLOT_TARGETS 64

/* Main thread, from cardea_loops_start before the loop thread starts:
 * allocates the ring and attaches its source to the loop's context. */
cardea_relay_ring *cardea_relay_ring_new(struct cardea_loop *loop);
/* Main thread, after every loop thread has been joined: detaches the
 * source and drops what is still queued (releasing the handle refs). */
void cardea_relay_ring_free(cardea_relay_ring *ring);
/* Commits the calling thread's open slots (a loop thread at exit). */
void cardea_relay_thread_flush(void);

/* Totals over every loop since start (any thread, relaxed reads). */
typedef struct cardea_relay_counters {
	guint64 handoffs;   /* slots committed: one packet to one loop */
	guint64 targets;    /* subscriber deliveries those slots carried */
	guint64 wakeups;    /* times a loop was woken for its ring */
	guint64 drops;      /* deliveries dropped: the target loop's ring was full */
	guint depth_max;    /* deepest slot used by any ring (rings restart at 0 when empty) */
} cardea_relay_counters;
void cardea_relay_get_counters(cardea_relay_counters *out);
/* Appends the Prometheus lines for the counters (metrics.c). */
void cardea_relay_metrics_append(GString *out);

#endif
