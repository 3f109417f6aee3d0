/* Media event loops (DESIGN.md "Threads and the packet path").
 *
 * A fixed pool of threads, each running its own GMainContext. Every
 * PeerConnection is bound to exactly one loop for its whole life: its ICE
 * agent, DTLS and SRTP state are touched only from that thread, so they need
 * no lock (STYLE.md rule 12). Other threads hand work over with
 * cardea_loop_invoke().
 */
#ifndef CARDEA_WEBRTC_LOOP_H
#define CARDEA_WEBRTC_LOOP_H

#include <glib.h>

typedef struct cardea_loop {
	int index;
	GMainContext *context;   /* owned */
	GMainLoop *loop;         /* owned */
	GThread *thread;         /* owned, joined in cardea_loops_stop */
	volatile gint users;     /* PeerConnections bound to this loop */
	struct cardea_relay_ring *relay;  /* owned: packets other threads relay to this loop's PCs (relay.h) */
} cardea_loop;

/* loop-poll.c: the loops poll their fds through epoll (CARDEA_LOOP_EPOLL=0
 * in the environment: GLib's poll()). Install before the loop runs; free on
 * the loop's thread when it has stopped. */
void cardea_loop_poll_install(GMainContext *context);
void cardea_loop_poll_free(void);
/* Sockets may have been closed and others opened with the same numbers:
 * the calling loop registers every fd again at its next poll. Call after
 * creating or closing sockets on a loop thread (a no-op elsewhere). */
void cardea_loop_poll_resync(void);
/* The full re-registration's period (1000 ms); tests change it. */
void cardea_loop_poll_set_resync_ms(guint ms);

/* Most loops (media.event_loops' upper bound). */
#define CARDEA_LOOPS_MAX 64

/* Starts `count` loops (0 = cardea_loops_default_count()). Main thread, once. */
void cardea_loops_start(int count);
/* One per CPU the calling thread may run on (its affinity mask), at most
 * CARDEA_LOOPS_MAX. */
int cardea_loops_default_count(void);
/* Stops and joins every loop; sources still attached are destroyed. */
void cardea_loops_stop(void);
int cardea_loops_count(void);
/* The loop with the fewest users, or loop `index` when index >= 0 and valid;
 * the caller owns one "user" of it until cardea_loop_release(). */
cardea_loop *cardea_loop_acquire(int index);
void cardea_loop_release(cardea_loop *loop);
/* Runs fn(data) on the loop's thread (at once if already on it); `destroy`
 * frees data afterwards, also when the loop stops before running it. */
void cardea_loop_invoke(cardea_loop *loop, GSourceFunc fn, gpointer data, GDestroyNotify destroy);
/* TRUE on the loop's own thread. */
gboolean cardea_loop_is_current(const cardea_loop *loop);
/* The loop whose thread is calling, NULL on any other thread (a
 * thread-local read: cheap enough for the per-packet path). */
cardea_loop *cardea_loop_current(void);
/* A repeating timer source (g_source_set_callback, attach as usual) that
 * fires on multiples of period_ms of the monotonic clock. Every timer of
 * one period on a loop then wakes its thread once per period together,
 * where per-PC g_timeout sources, each with its own phase, wake it once per
 * PC: each wake-up is a whole main-context iteration over every source of
 * the loop (1 publisher -> 50 subscribers: 528 -> 408 polls/s, of which
 * the packets need ~400). */
GSource *cardea_loop_grid_timer_new(guint period_ms);

/* Periodic work of many PCs of one loop, from one source per period.
 *
 * Every PeerConnection needs a 1 s report timer and a feedback tick; as a
 * GSource each, they were two of the five sources per PC that GLib walks
 * (prepare, check: a ref and unref each) on every wake-up of the loop, which
 * a PC's packets cause several hundred times a second. A tick is an entry in
 * a list that one grid timer (above) per context and period runs through, so
 * a loop with 60 PCs has two timer sources instead of 120.
 *
 * Thread: the thread that owns `context` (a loop's own thread), for add and
 * remove alike; the registry is per thread. fn(data) runs on multiples of
 * period_ms of the monotonic clock; returning G_SOURCE_REMOVE frees the tick
 * (do not remove it afterwards). Removing a tick from any tick callback,
 * its own included, is safe: it does not run again. */
typedef struct cardea_loop_tick cardea_loop_tick;
cardea_loop_tick *cardea_loop_tick_add(GMainContext *context, guint period_ms, GSourceFunc fn, gpointer data);
void cardea_loop_tick_remove(cardea_loop_tick *tick);
/* Timer sources this thread runs ticks from (tests, diagnostics). */
guint cardea_loop_tick_sources(void);

#endif
