/* relay_rtp: the plugin service that sends a packet to one subscriber's PC,
 * and the per-loop relay rings that carry it there when the PC lives on
 * another media loop (see relay.h for the design and the thread rules).
 *
 * Path on the subscriber's loop: copy into the thread's send buffer -> SSRC
 * (and, from a ring, sequence number/timestamp) rewrite -> RTCP bookkeeping
 * -> SRTP protect -> ICE send. Nothing is allocated per packet.
 */
#include "webrtc/pc-priv.h"
#include "webrtc/relay.h"
#include "webrtc/send-batch.h"

#define RING_MASK (CARDEA_RELAY_RING_SLOTS - 1)
G_STATIC_ASSERT((CARDEA_RELAY_RING_SLOTS & RING_MASK) == 0);   /* the head may wrap */
/* Slots one dispatch drains before other sources of the loop get a turn. */
#define RING_DRAIN_MAX 128
/* Loops a thread can batch for (loop index); higher ones commit at once. */
#define OPEN_MAX 64

enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_READY };

typedef struct relay_target {
	cardea_pc *pc;                  /* borrowed: `handle` keeps it alive */
	cardea_handle *handle;          /* ref, released by the loop after sending */
	guint32 timestamp;              /* this subscriber's rewritten RTP timestamp */
	guint16 seq;                    /* ... and sequence number */
	gint16 mindex;
} relay_target;

typedef struct relay_slot {
	volatile gint state;            /* SLOT_*: the hand-over between threads */
	guint n_targets;
	cardea_rtp_packet packet;       /* buffer -> data; per-target fields come from targets[] */
	relay_target targets[CARDEA_RELAY_SLOT_TARGETS];
	guint8 data[CARDEA_RTP_PACKET_MAX];
} relay_slot;

struct cardea_relay_ring {
	cardea_loop *loop;              /* borrowed: the loop owns the ring */
	GSource *source;                /* owned, attached to the loop's context */
	relay_slot *slots;              /* owned, CARDEA_RELAY_RING_SLOTS */
	volatile gint head;             /* next slot to claim (any producer, CAS); wraps */
	guint tail;                     /* next slot to drain (loop thread only) */
	volatile gint wake_pending;     /* 1 from a wake-up until the loop starts draining */
};

typedef struct ring_source {
	GSource base;
	cardea_relay_ring *ring;        /* borrowed */
} ring_source;

/* Totals (relaxed atomics: producers on several threads). */
static guint64 n_handoffs, n_targets, n_wakeups, n_drops;
/* The deepest slot any ring has used (slots from 0 whose pages were touched). */
static volatile gint depth_max;

static inline void count(guint64 *c, guint64 n) {
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* The calling loop thread's open slot per target loop index. */
static __thread relay_slot *open_slot[OPEN_MAX];
static __thread cardea_relay_ring *open_ring[OPEN_MAX];
static __thread guint64 open_mask;

/* ---- sending (the subscriber PC's loop) ---- */

/* The clock of this loop iteration's sends: read at the first send after
 * the loop polled, forgotten before it polls again
 * (cardea_relay_thread_flush). Read per subscriber packet it was ~1.5% of
 * the gateway's CPU in tests/bench scenario b. The stamps it feeds (TWCC
 * and abs-send-time send times, the SR's RTP time anchor, the NACK
 * history's age) lose nothing real: this iteration's datagrams all leave
 * in one io_uring round at its end (send-batch.h), not when each was
 * queued. */
static __thread gint64 iteration_now;

/* Where a relayed packet is rewritten and protected before the send
 * batch copies it: one per thread rather than the PC's own scratch, so it
 * stays in cache while the packet goes to PC after PC. Nothing between the
 * copy and the send reenters send_rtp_loop. */
static __thread guint8 send_buf[sizeof(((cardea_pc *)NULL)->scratch)];

static inline gint64 send_clock(void) {
	if (iteration_now == 0)
		iteration_now = g_get_monotonic_time();
	return iteration_now;
}

/* `rewrite`: the packet came through a ring, whose bytes are shared by
 * several subscribers: write this one's sequence number and timestamp. */
static void send_rtp_loop(cardea_pc *pc, const cardea_rtp_packet *packet, gboolean rewrite) {
	if (!pc->up || !g_atomic_int_get(&pc->active) || packet->mindex < 0 || packet->mindex >= (int)pc->n_media)
		return;
	pc_media *m = &pc->media[packet->mindex];
	cardea_srtp *srtp = cardea_dtls_get_srtp(pc->dtls);
	if (!m->active || !m->send || srtp == NULL || packet->length < CARDEA_RTP_HEADER_SIZE ||
			packet->length > CARDEA_RTP_PACKET_MAX)
		return;
	/* Only what the peer accepted (an answer may keep a subset of an offer). */
	guint8 pt = packet->buffer[1] & 0x7f;
	gboolean accepted = FALSE;
	for (guint k = 0; k < m->n_local_pts && !accepted; k++)
		accepted = m->local_pts[k] == pt;
	if (!accepted) {
		pc->pt_drops++;
		return;
	}
	guint8 *out = send_buf;
	memcpy(out, packet->buffer, packet->length);
	if (rewrite) {
		out[2] = packet->seq >> 8;
		out[3] = packet->seq & 0xff;
		out[4] = packet->timestamp >> 24;
		out[5] = (packet->timestamp >> 16) & 0xff;
		out[6] = (packet->timestamp >> 8) & 0xff;
		out[7] = packet->timestamp & 0xff;
	}
	cardea_rtp_set_ssrc(out, m->local_ssrc);
	gsize len = packet->length;
	gint64 now = send_clock();
	cardea_pc_rtcp_rtp_out(pc, packet->mindex, out, len, now);
	if (cardea_srtp_protect_rtp(srtp, out, &len, sizeof(send_buf)) != CARDEA_SRTP_OK)
		return;
	if (!m->sstats_init) {
		cardea_rtp_send_stats_init(&m->sstats, m->local_ssrc, m->video ? 90000 : 48000);
		m->sstats_init = TRUE;
	}
	cardea_rtp_send_stats_update(&m->sstats, packet->timestamp, packet->length - packet->header_len, now);
	if (cardea_ice_send(pc->ice, out, len) > 0) {
		m->packets_out++;
		m->bytes_out += packet->length;
	}
}

/* ---- the ring ---- */

static gboolean ring_ready(cardea_relay_ring *ring) {
	return g_atomic_int_get(&ring->slots[ring->tail & RING_MASK].state) == SLOT_READY;
}

static void slot_release(relay_slot *s) {
	for (guint i = 0; i < s->n_targets; i++)
		cardea_handle_unref(s->targets[i].handle);
	s->n_targets = 0;
}

/* Loop thread, after a drain: when every claimed slot has been sent (head
 * == tail, nothing FILLING or READY), start again at slot 0. A ring that
 * keeps up then reuses its first few slots, and only as many pages as the
 * deepest backlog are ever touched, instead of all 1.5 MB as it wraps
 * (RSS per loop; smaps showed the whole ring resident after ~3 s of one
 * video publisher). A producer that read the old head fails its CAS and
 * reads again; one that read it before and wins it after the head came
 * back to the same index claims the right slot, which is FREE. */
static void ring_rewind(cardea_relay_ring *ring) {
	guint t = ring->tail;
	if (t != 0 && (guint)g_atomic_int_get(&ring->head) == t &&
			g_atomic_int_compare_and_exchange(&ring->head, (gint)t, 0))
		ring->tail = 0;
}

/* Loop thread: sends what is READY, in order, up to RING_DRAIN_MAX slots. */
static void ring_drain(cardea_relay_ring *ring) {
	/* Cleared before looking, so a slot committed from now on wakes us again. */
	g_atomic_int_set(&ring->wake_pending, 0);
	for (int n = 0; n < RING_DRAIN_MAX; n++) {
		relay_slot *s = &ring->slots[ring->tail & RING_MASK];
		if (g_atomic_int_get(&s->state) != SLOT_READY)
			break;
		for (guint i = 0; i < s->n_targets; i++) {
			const relay_target *t = &s->targets[i];
			cardea_rtp_packet p = s->packet;
			p.mindex = t->mindex;
			p.seq = t->seq;
			p.timestamp = t->timestamp;
			send_rtp_loop(t->pc, &p, TRUE);
		}
		slot_release(s);
		g_atomic_int_set(&s->state, SLOT_FREE);
		ring->tail++;
	}
	ring_rewind(ring);
}

/* Any producer: the next slot, FILLING and owned by the caller, or NULL
 * when the ring is full (the loop has not drained that far yet). */
static relay_slot *ring_claim(cardea_relay_ring *ring) {
	for (;;) {
		gint h = g_atomic_int_get(&ring->head);
		relay_slot *s = &ring->slots[(guint)h & RING_MASK];
		if (g_atomic_int_get(&s->state) != SLOT_FREE)
			return NULL;
		/* Only the winner of index h may touch slot h; the loop only ever
		 * turns READY into FREE, so FREE seen above still holds. */
		if (g_atomic_int_compare_and_exchange(&ring->head, h, (gint)((guint)h + 1))) {
			gint depth = (gint)MIN((guint)h + 1, CARDEA_RELAY_RING_SLOTS);
			gint hw = g_atomic_int_get(&depth_max);
			while (depth > hw && !g_atomic_int_compare_and_exchange(&depth_max, hw, depth))
				hw = g_atomic_int_get(&depth_max);
			s->n_targets = 0;
			g_atomic_int_set(&s->state, SLOT_FILLING);
			return s;
		}
	}
}

static void ring_commit(cardea_relay_ring *ring, relay_slot *s) {
	count(&n_handoffs, 1);
	count(&n_targets, s->n_targets);
	g_atomic_int_set(&s->state, SLOT_READY);
	/* One wake-up per drain: later commits see wake_pending set. */
	if (g_atomic_int_compare_and_exchange(&ring->wake_pending, 0, 1)) {
		count(&n_wakeups, 1);
		g_main_context_wakeup(ring->loop->context);
	}
}

void cardea_relay_thread_flush(void) {
	/* Datagrams this thread queued (send-batch.h): every loop iteration
	 * passes here before it polls. */
	cardea_send_batch_flush();
	iteration_now = 0;
	while (open_mask) {
		int i = __builtin_ctzll(open_mask);
		open_mask &= open_mask - 1;
		ring_commit(open_ring[i], open_slot[i]);
		open_slot[i] = NULL;
		open_ring[i] = NULL;
	}
}

/* The same packet as the slot's, up to what plugins rewrite per
 * subscriber (sequence number and timestamp, bytes 2..7). */
static gboolean same_packet(const relay_slot *s, const cardea_rtp_packet *p) {
	return s->packet.length == p->length && s->packet.header_len == p->header_len &&
		s->data[0] == p->buffer[0] && s->data[1] == p->buffer[1] &&
		memcmp(s->data + 8, p->buffer + 8, p->length - 8) == 0;
}

/* Producer side of relay_rtp for a PC of another loop. */
static void relay_enqueue(cardea_relay_ring *ring, cardea_handle *h, cardea_pc *pc, const cardea_rtp_packet *packet) {
	int idx = ring->loop->index;
	/* Only loop threads batch: they flush before they poll again. */
	gboolean batch = cardea_loop_current() != NULL && idx < OPEN_MAX;
	relay_slot *s = batch ? open_slot[idx] : NULL;
	if (s != NULL && (s->n_targets == CARDEA_RELAY_SLOT_TARGETS || !same_packet(s, packet))) {
		ring_commit(ring, s);
		open_slot[idx] = NULL;
		open_ring[idx] = NULL;
		open_mask &= ~(G_GUINT64_CONSTANT(1) << idx);
		s = NULL;
	}
	if (s == NULL) {
		s = ring_claim(ring);
		if (s == NULL) {
			count(&n_drops, 1);
			return;
		}
		s->packet = *packet;
		memcpy(s->data, packet->buffer, packet->length);
		s->packet.buffer = s->data;
		if (batch) {
			open_slot[idx] = s;
			open_ring[idx] = ring;
			open_mask |= G_GUINT64_CONSTANT(1) << idx;
		}
	}
	relay_target *t = &s->targets[s->n_targets++];
	cardea_handle_ref(h);
	t->handle = h;
	t->pc = pc;
	t->mindex = (gint16)packet->mindex;
	/* The bytes are authoritative (cardea/rtp.h), not the parsed fields. */
	const guint8 *b = packet->buffer;
	t->seq = (guint16)((b[2] << 8) | b[3]);
	t->timestamp = ((guint32)b[4] << 24) | ((guint32)b[5] << 16) | ((guint32)b[6] << 8) | b[7];
	if (!batch)
		ring_commit(ring, s);
}

/* The loop's own thread: commit this thread's batches for other loops
 * before polling (so they never wait longer than one loop iteration), then
 * say whether our own ring has work. */
static gboolean ring_source_prepare(GSource *src, gint *timeout) {
	cardea_relay_ring *ring = ((ring_source *)src)->ring;
	cardea_relay_thread_flush();
	*timeout = -1;
	if (ring_ready(ring))
		return TRUE;
	/* About to sleep: a wake-up that found the head slot still FILLING
	 * left wake_pending set, and the commit of that slot would then wake
	 * nobody. Clear it, then look again (a commit sets READY before it
	 * tests the flag, so one of the two sees the other). */
	g_atomic_int_set(&ring->wake_pending, 0);
	return ring_ready(ring);
}

static gboolean ring_source_check(GSource *src) {
	return ring_ready(((ring_source *)src)->ring);
}

static gboolean ring_source_dispatch(GSource *src, GSourceFunc cb, gpointer data) {
	(void)cb;
	(void)data;
	ring_drain(((ring_source *)src)->ring);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs ring_source_funcs = {
	.prepare = ring_source_prepare,
	.check = ring_source_check,
	.dispatch = ring_source_dispatch,
};

cardea_relay_ring *cardea_relay_ring_new(cardea_loop *loop) {
	cardea_relay_ring *ring = g_new0(cardea_relay_ring, 1);
	ring->loop = loop;
	ring->slots = g_new0(relay_slot, CARDEA_RELAY_RING_SLOTS);
	ring->source = g_source_new(&ring_source_funcs, sizeof(ring_source));
	((ring_source *)ring->source)->ring = ring;
	/* Same priority as ICE receive: relayed media is as urgent as incoming. */
	g_source_set_priority(ring->source, G_PRIORITY_DEFAULT);
	g_source_set_name(ring->source, "relay-ring");
	g_source_attach(ring->source, loop->context);
	return ring;
}

void cardea_relay_ring_free(cardea_relay_ring *ring) {
	if (ring == NULL)
		return;
	g_source_destroy(ring->source);
	g_source_unref(ring->source);
	/* Every producer is gone (loop threads flushed on exit, plugins are
	 * unloaded before the loops stop): drop what was never sent. */
	for (guint i = 0; i < CARDEA_RELAY_RING_SLOTS; i++)
		slot_release(&ring->slots[i]);
	g_free(ring->slots);
	g_free(ring);
}

void cardea_relay_get_counters(cardea_relay_counters *out) {
	out->handoffs = __atomic_load_n(&n_handoffs, __ATOMIC_RELAXED);
	out->targets = __atomic_load_n(&n_targets, __ATOMIC_RELAXED);
	out->wakeups = __atomic_load_n(&n_wakeups, __ATOMIC_RELAXED);
	out->drops = __atomic_load_n(&n_drops, __ATOMIC_RELAXED);
	out->depth_max = (guint)g_atomic_int_get(&depth_max);
}

void cardea_relay_metrics_append(GString *out) {
	cardea_relay_counters c;
	cardea_relay_get_counters(&c);
	g_string_append_printf(out,
		"# HELP cardea_relay_handoffs_total Relayed packets handed to another media loop (one per packet per loop).\n"
		"# TYPE cardea_relay_handoffs_total counter\ncardea_relay_handoffs_total %"G_GUINT64_FORMAT"\n"
		"# HELP cardea_relay_targets_total Subscriber deliveries carried by those hand-offs.\n"
		"# TYPE cardea_relay_targets_total counter\ncardea_relay_targets_total %"G_GUINT64_FORMAT"\n"
		"# HELP cardea_relay_wakeups_total Media loops woken to drain their relay ring.\n"
		"# TYPE cardea_relay_wakeups_total counter\ncardea_relay_wakeups_total %"G_GUINT64_FORMAT"\n"
		"# HELP cardea_relay_drops_total Deliveries dropped because the target loop's relay ring was full.\n"
		"# TYPE cardea_relay_drops_total counter\ncardea_relay_drops_total %"G_GUINT64_FORMAT"\n"
		"# HELP cardea_relay_ring_depth_max Deepest relay ring slot used so far, of %u (a ring restarts at slot 0 whenever it is empty).\n"
		"# TYPE cardea_relay_ring_depth_max gauge\ncardea_relay_ring_depth_max %u\n",
		c.handoffs, c.targets, c.wakeups, c.drops, (guint)CARDEA_RELAY_RING_SLOTS, c.depth_max);
	cardea_send_batch_counters b;
	cardea_send_batch_get_counters(&b);
	g_string_append_printf(out,
		"# HELP cardea_send_batch_flushes_total io_uring rounds that sent media loops' queued datagrams.\n"
		"# TYPE cardea_send_batch_flushes_total counter\ncardea_send_batch_flushes_total %"G_GUINT64_FORMAT"\n"
		"# HELP cardea_send_batch_packets_total Datagrams sent through those rounds.\n"
		"# TYPE cardea_send_batch_packets_total counter\ncardea_send_batch_packets_total %"G_GUINT64_FORMAT"\n"
		"# HELP cardea_send_batch_errors_total Batched datagrams the kernel refused (full buffer, unreachable).\n"
		"# TYPE cardea_send_batch_errors_total counter\ncardea_send_batch_errors_total %"G_GUINT64_FORMAT"\n"
		"# HELP cardea_send_gso_sends_total Batched sends that carried several same-size datagrams to one peer (UDP GSO).\n"
		"# TYPE cardea_send_gso_sends_total counter\ncardea_send_gso_sends_total %"G_GUINT64_FORMAT"\n"
		"# HELP cardea_send_gso_packets_total Datagrams carried by those GSO sends.\n"
		"# TYPE cardea_send_gso_packets_total counter\ncardea_send_gso_packets_total %"G_GUINT64_FORMAT"\n"
		"# HELP cardea_send_sendto_total Batched datagrams that went alone, as a send with an address (no msghdr).\n"
		"# TYPE cardea_send_sendto_total counter\ncardea_send_sendto_total %"G_GUINT64_FORMAT"\n",
		b.flushes, b.packets, b.errors, b.gso_sends, b.gso_packets, b.sendtos);
}

/* ---- the plugin service ---- */

void cardea_pc_relay_rtp(cardea_plugin_session *app, cardea_rtp_packet *packet) {
	if (app == NULL || app->core_handle == NULL || g_atomic_int_get(&app->stopped))
		return;
	cardea_handle *h = app->core_handle;
	cardea_pc *pc = pc_of(h);
	if (pc == NULL || packet == NULL || packet->buffer == NULL)
		return;
	if (cardea_loop_current() == pc->loop) {
		send_rtp_loop(pc, packet, FALSE);
		return;
	}
	if (packet->length > CARDEA_RTP_PACKET_MAX || packet->length < CARDEA_RTP_HEADER_SIZE)
		return;
	relay_enqueue(pc->loop->relay, h, pc, packet);
}
