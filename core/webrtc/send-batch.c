/* Per-thread io_uring send batch; see send-batch.h for why and when. */
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/io_uring.h>
#include "webrtc/send-batch.h"
#include "webrtc/loop.h"
#include "cardea/module.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* Datagrams per round. A round is what one loop iteration sent: several
 * publisher packets to this loop's subscribers, so that packets for one
 * subscriber meet in the same round and can leave as one GSO send; more
 * than this flushes early. Audio fan-outs need room for two publishers'
 * packets to a few hundred listeners: at 128 (bench scenario c, 10 speakers
 * -> 200 listeners) every round was one speaker's packet to 128 listeners
 * and no listener's packets ever met. The batch's unused entries cost no
 * memory (mapped, touched as used); the ring's 512 entries are the
 * kernel's, ~50 KB per loop thread. */
#define BATCH_MAX 512
/* Largest datagram batched: an SRTP packet of CARDEA_RTP_PACKET_MAX plus
 * its tag. */
#define SLOT_BYTES 1600
/* The round's datagrams, packed one after the other; a round that would
 * overflow it flushes early. Keyframe bursts fill it on every loop, so it
 * is resident memory per loop: 96 KB is what the 64 x 1600-byte slots
 * before GSO took (a 256 KB arena cost 10-13 KB per subscriber at 1 -> 50
 * in tests/bench scenario a, against the 0.5x-Janus memory target), and
 * holds ~80 video datagrams where the slots held 64; 128 entries leave room
 * for audio-sized ones without the rings and tables growing further. */
#define ARENA_BYTES (96 * 1024)
/* One GSO send: at most this many datagrams (the kernel's UDP_MAX_SEGMENTS
 * is 64 before Linux 6.9) and this many payload bytes (one IP datagram). */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000
/* Larger datagrams go alone: the kernel refuses (EINVAL) a GSO send whose
 * segment plus headers exceeds the route's MTU, where one datagram would
 * just be fragmented; 1300 fits a 1420-byte tunnel MTU over IPv6. */
#define GSO_MAX_SEGMENT_BYTES 1300
/* fd -> its open group in this round: open addressing, 2x BATCH_MAX. */
#define GROUP_MAP_SIZE (2 * BATCH_MAX)

/* Datagrams of one round to one socket and address, sent as one sendmsg:
 * with UDP_SEGMENT when there are several (all seg_size bytes, the last
 * one may be shorter; a shorter one closes the group). */
typedef struct send_group {
	int fd;
	guint16 first, last;     /* slots, chained by send_batch.next */
	guint16 count;
	guint16 seg_size;
	guint32 bytes;
	gboolean closed;
	gboolean sendto;         /* submitted as IORING_OP_SEND with an address */
	struct msghdr msg;
	union {
		char buf[CMSG_SPACE(sizeof(guint16))];
		struct cmsghdr align;
	} control;
} send_group;

typedef struct group_map_entry {
	int fd;
	guint32 round;           /* valid only when equal to send_batch.round */
	guint16 group;
} group_map_entry;

typedef struct send_batch {
	int ring_fd;
	void *sq_map, *cq_map, *sqe_map;
	size_t sq_len, cq_len, sqe_len;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	guint n, n_groups;
	guint32 round;
	guint32 arena_used;
	guint32 off[BATCH_MAX];
	guint16 len[BATCH_MAX];
	guint16 next[BATCH_MAX];
	socklen_t addrlen[BATCH_MAX];
	struct sockaddr_in6 addr[BATCH_MAX];     /* or a sockaddr_in: UDP peers only */
	struct iovec iov[BATCH_MAX];
	send_group group[BATCH_MAX];
	group_map_entry map[GROUP_MAP_SIZE];
	guint8 arena[ARENA_BYTES];
} send_batch;

static guint64 n_flushes, n_packets, n_errors, n_gso_sends, n_gso_packets, n_sendtos;
/* GSO off: CARDEA_SEND_GSO=0, or after the kernel refused a GSO send (a
 * route whose device cannot checksum UDP gives EIO). Any thread. */
static gint gso_off = -1;    /* -1: not decided yet */
/* A lone datagram goes as IORING_OP_SEND with its address (sendto) rather
 * than SENDMSG: the kernel then copies no msghdr and no iovec array from
 * user memory for it. Linux 6.0 added the address to OP_SEND; we take it
 * where the ring reports a feature of 6.3 (registered ring fds), and stop
 * for the process if the kernel refuses one (EINVAL). 1 on, 0 off, -1 not
 * decided yet. Any thread. */
static gint sendto_on = -1;
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)
#endif

static void batch_free(gpointer p) {
	send_batch *b = p;
	if (b == NULL)
		return;
	/* Thread exit: the loop flushed already (cardea_relay_thread_flush). */
	if (b->sqe_map)
		munmap(b->sqe_map, b->sqe_len);
	if (b->cq_map)
		munmap(b->cq_map, b->cq_len);
	if (b->sq_map)
		munmap(b->sq_map, b->sq_len);
	if (b->ring_fd >= 0)
		close(b->ring_fd);
	munmap(b, sizeof(*b));
}

static GPrivate batch_key = G_PRIVATE_INIT(batch_free);
/* Per thread: 0 not decided yet, 1 batching, -1 sending at once. */
static __thread int batch_state;

static send_batch *batch_setup(void) {
	/* Mapped, not calloc'd: zeroed pages that stay unbacked until used
	 * (a heap calloc may memset all of it). */
	send_batch *b = mmap(NULL, sizeof(send_batch), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED) {
		CARDEA_LOG(CARDEA_LOG_WARN, "[send] no memory for a send batch: one sendto per packet");
		return NULL;
	}
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	b->ring_fd = (int)syscall(__NR_io_uring_setup, BATCH_MAX, &p);
	if (b->ring_fd < 0) {
		CARDEA_LOG(CARDEA_LOG_INFO, "[send] io_uring unavailable (%s): one sendto per packet", g_strerror(errno));
		batch_free(b);
		return NULL;
	}
	b->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	b->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	b->sqe_len = p.sq_entries * sizeof(struct io_uring_sqe);
	b->sq_map = mmap(NULL, b->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, b->ring_fd, IORING_OFF_SQ_RING);
	b->cq_map = mmap(NULL, b->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, b->ring_fd, IORING_OFF_CQ_RING);
	b->sqe_map = mmap(NULL, b->sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, b->ring_fd, IORING_OFF_SQES);
	if (b->sq_map == MAP_FAILED || b->cq_map == MAP_FAILED || b->sqe_map == MAP_FAILED || p.sq_entries < BATCH_MAX) {
		CARDEA_LOG(CARDEA_LOG_WARN, "[send] io_uring ring setup failed: one sendto per packet");
		if (b->sq_map == MAP_FAILED)
			b->sq_map = NULL;
		if (b->cq_map == MAP_FAILED)
			b->cq_map = NULL;
		if (b->sqe_map == MAP_FAILED)
			b->sqe_map = NULL;
		batch_free(b);
		return NULL;
	}
	char *sq = b->sq_map, *cq = b->cq_map;
	b->sq_head = (unsigned *)(sq + p.sq_off.head);
	b->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	b->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	b->sq_array = (unsigned *)(sq + p.sq_off.array);
	b->cq_head = (unsigned *)(cq + p.cq_off.head);
	b->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	b->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	b->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	b->sqes = b->sqe_map;
	b->round = 1;
	if (g_atomic_int_get(&sendto_on) < 0)
		g_atomic_int_compare_and_exchange(&sendto_on, -1,
			(p.features & IORING_FEAT_REG_REG_RING) && g_strcmp0(g_getenv("CARDEA_SEND_SENDTO"), "0") != 0);
	return b;
}

static send_batch *batch_get(void) {
	if (G_LIKELY(batch_state > 0))
		return g_private_get(&batch_key);
	if (batch_state < 0)
		return NULL;
	/* Only media loop threads: their ring source flushes every iteration. */
	if (cardea_loop_current() == NULL || g_strcmp0(g_getenv("CARDEA_SEND_BATCH"), "0") == 0) {
		batch_state = -1;
		return NULL;
	}
	send_batch *b = batch_setup();
	if (b == NULL) {
		batch_state = -1;
		return NULL;
	}
	g_private_set(&batch_key, b);
	batch_state = 1;
	return b;
}

static gboolean gso_enabled(void) {
	int off = g_atomic_int_get(&gso_off);
	if (G_UNLIKELY(off < 0)) {
		off = g_strcmp0(g_getenv("CARDEA_SEND_GSO"), "0") == 0;
		g_atomic_int_set(&gso_off, off);
	}
	return off == 0;
}

/* The map entry of fd in this round, or the free (stale) one where it goes.
 * At most BATCH_MAX fds per round in 2 x BATCH_MAX entries: always ends. */
static group_map_entry *group_slot(send_batch *b, int fd) {
	guint h = ((guint)fd * 2654435761u) & (GROUP_MAP_SIZE - 1);
	for (;; h = (h + 1) & (GROUP_MAP_SIZE - 1)) {
		group_map_entry *m = &b->map[h];
		if (m->round != b->round || m->fd == fd)
			return m;
	}
}

static gboolean group_fits(const send_batch *b, const send_group *g, const struct sockaddr *addr, socklen_t addrlen,
		gsize len) {
	return !g->closed && g->count < GSO_MAX_SEGMENTS && len <= g->seg_size && g->bytes + len <= GSO_MAX_BYTES &&
		b->addrlen[g->first] == addrlen && memcmp(&b->addr[g->first], addr, addrlen) == 0;
}

gboolean cardea_send_batch_add(int fd, const struct sockaddr *addr, socklen_t addrlen, const guint8 *buf, gsize len) {
	if (len == 0 || len > SLOT_BYTES || addrlen > sizeof(struct sockaddr_in6))
		return FALSE;
	send_batch *b = batch_get();
	if (b == NULL)
		return FALSE;
	if (b->n == BATCH_MAX || b->arena_used + len > ARENA_BYTES)
		cardea_send_batch_flush();
	guint i = b->n++;
	b->off[i] = b->arena_used;
	memcpy(b->arena + b->arena_used, buf, len);
	b->arena_used += (guint32)len;
	b->len[i] = (guint16)len;
	group_map_entry *m = gso_enabled() ? group_slot(b, fd) : NULL;
	if (m != NULL && m->round == b->round) {
		send_group *g = &b->group[m->group];
		if (group_fits(b, g, addr, addrlen, len)) {
			b->next[g->last] = (guint16)i;
			g->last = (guint16)i;
			g->count++;
			g->bytes += (guint32)len;
			/* Only the last segment of a GSO send may be shorter. */
			if (len < g->seg_size)
				g->closed = TRUE;
			return TRUE;
		}
	}
	/* A new group; a later group to the same socket goes out after this
	 * one (groups are submitted in the order they were opened). */
	guint gi = b->n_groups++;
	send_group *g = &b->group[gi];
	memcpy(&b->addr[i], addr, addrlen);
	b->addrlen[i] = addrlen;
	g->fd = fd;
	g->first = g->last = (guint16)i;
	g->count = 1;
	g->seg_size = (guint16)len;
	g->bytes = (guint32)len;
	g->closed = len > GSO_MAX_SEGMENT_BYTES;
	/* Even a datagram that goes alone becomes the fd's open group: what
	 * follows for this socket must not join an earlier group and overtake
	 * it. */
	if (m != NULL) {
		m->fd = fd;
		m->round = b->round;
		m->group = (guint16)gi;
	}
	return TRUE;
}

/* The group's sendmsg: its slots as one iovec each (the kernel cuts a GSO
 * send at seg_size whatever the iovec boundaries), UDP_SEGMENT when more
 * than one. iov: the group's part of the batch's iovec array. */
static void group_prepare(send_batch *b, send_group *g, struct iovec *iov) {
	guint i = g->first;
	for (guint c = 0; c < g->count; c++, i = b->next[i]) {
		iov[c].iov_base = b->arena + b->off[i];
		iov[c].iov_len = b->len[i];
	}
	memset(&g->msg, 0, sizeof(g->msg));
	g->msg.msg_name = &b->addr[g->first];
	g->msg.msg_namelen = b->addrlen[g->first];
	g->msg.msg_iov = iov;
	g->msg.msg_iovlen = g->count;
	if (g->count > 1) {
		g->msg.msg_control = g->control.buf;
		g->msg.msg_controllen = sizeof(g->control.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&g->msg);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(guint16));
		memcpy(CMSG_DATA(c), &g->seg_size, sizeof(guint16));
	}
}

void cardea_send_batch_flush(void) {
	if (batch_state <= 0)
		return;
	send_batch *b = g_private_get(&batch_key);
	if (b == NULL || b->n == 0)
		return;
	unsigned n = b->n_groups, tail = *b->sq_tail, mask = *b->sq_mask;
	gboolean sendto = g_atomic_int_get(&sendto_on) > 0;
	guint k = 0;
	for (unsigned gi = 0; gi < n; gi++) {
		send_group *g = &b->group[gi];
		unsigned idx = (tail + gi) & mask;
		struct io_uring_sqe *e = &b->sqes[idx];
		memset(e, 0, sizeof(*e));
		e->fd = g->fd;
		e->user_data = gi;
		g->sendto = sendto && g->count == 1;
		if (g->sendto) {
			e->opcode = IORING_OP_SEND;
			e->addr = (guint64)(uintptr_t)(b->arena + b->off[g->first]);
			e->len = b->len[g->first];
			e->addr2 = (guint64)(uintptr_t)&b->addr[g->first];
			e->addr_len = (guint16)b->addrlen[g->first];
		} else {
			group_prepare(b, g, &b->iov[k]);
			k += g->count;
			e->opcode = IORING_OP_SENDMSG;
			e->addr = (guint64)(uintptr_t)&g->msg;
			e->len = 1;
		}
		/* A full socket buffer fails (a drop) instead of parking the
		 * request until the socket is writable. */
		e->msg_flags = MSG_DONTWAIT;
		b->sq_array[idx] = idx;
	}
	__atomic_store_n(b->sq_tail, tail + n, __ATOMIC_RELEASE);
	/* Wait for every completion: the buffers are reused right after, and
	 * non-blocking UDP sends complete inline. */
	unsigned done = 0;
	guint64 errors = 0, gso_sends = 0, gso_packets = 0, sendtos = 0;
	while (done < n) {
		unsigned pending = tail + n - __atomic_load_n(b->sq_head, __ATOMIC_ACQUIRE);
		int r = (int)syscall(__NR_io_uring_enter, b->ring_fd, pending, n - done, IORING_ENTER_GETEVENTS, NULL, 0);
		if (r < 0 && errno != EINTR) {
			/* Cannot happen with a valid ring; don't spin on it. */
			CARDEA_LOG(CARDEA_LOG_ERR, "[send] io_uring_enter: %s", g_strerror(errno));
			break;
		}
		unsigned head = *b->cq_head, ctail = __atomic_load_n(b->cq_tail, __ATOMIC_ACQUIRE);
		for (; head != ctail; head++, done++) {
			const struct io_uring_cqe *c = &b->cqes[head & *b->cq_mask];
			const send_group *g = &b->group[c->user_data < n ? c->user_data : 0];
			if (g->count > 1) {
				gso_sends++;
				gso_packets += g->count;
			}
			sendtos += g->sendto;
			if (c->res >= 0)
				continue;
			errors += g->count;
			/* A kernel without the address on OP_SEND: lost like a full
			 * buffer's datagram; SENDMSG from now on. */
			if (g->sendto && c->res == -EINVAL && g_atomic_int_compare_and_exchange(&sendto_on, 1, 0))
				CARDEA_LOG(CARDEA_LOG_WARN, "[send] io_uring refused a send with an address (%s): sendmsg from now on",
					g_strerror(-c->res));
			/* EIO: the route's device cannot checksum UDP, which GSO needs;
			 * EINVAL: a kernel without UDP_SEGMENT. These datagrams are lost
			 * (as in a full buffer); from now on one datagram per send. */
			if (g->count > 1 && (c->res == -EIO || c->res == -EINVAL || c->res == -EOPNOTSUPP) &&
					g_atomic_int_compare_and_exchange(&gso_off, 0, 1))
				CARDEA_LOG(CARDEA_LOG_WARN, "[send] UDP GSO refused (%s): one datagram per send from now on",
					g_strerror(-c->res));
		}
		__atomic_store_n(b->cq_head, head, __ATOMIC_RELEASE);
	}
	__atomic_fetch_add(&n_flushes, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&n_packets, b->n, __ATOMIC_RELAXED);
	if (gso_sends) {
		__atomic_fetch_add(&n_gso_sends, gso_sends, __ATOMIC_RELAXED);
		__atomic_fetch_add(&n_gso_packets, gso_packets, __ATOMIC_RELAXED);
	}
	if (errors)
		__atomic_fetch_add(&n_errors, errors, __ATOMIC_RELAXED);
	if (sendtos)
		__atomic_fetch_add(&n_sendtos, sendtos, __ATOMIC_RELAXED);
	b->n = 0;
	b->n_groups = 0;
	b->arena_used = 0;
	/* Stale map entries are those of an older round; round 0 is never
	 * current, so a wrap clears them. */
	if (++b->round == 0) {
		memset(b->map, 0, sizeof(b->map));
		b->round = 1;
	}
}

void cardea_send_batch_get_counters(cardea_send_batch_counters *out) {
	out->flushes = __atomic_load_n(&n_flushes, __ATOMIC_RELAXED);
	out->packets = __atomic_load_n(&n_packets, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&n_errors, __ATOMIC_RELAXED);
	out->gso_sends = __atomic_load_n(&n_gso_sends, __ATOMIC_RELAXED);
	out->gso_packets = __atomic_load_n(&n_gso_packets, __ATOMIC_RELAXED);
	out->sendtos = __atomic_load_n(&n_sendtos, __ATOMIC_RELAXED);
}
