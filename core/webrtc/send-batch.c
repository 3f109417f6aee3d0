/* Per-thread io_uring send batch; see send-batch.h for why and when. */
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>
#include "webrtc/send-batch.h"
#include "webrtc/loop.h"
#include "cardea/module.h"

/* Datagrams per round: a burst is one publisher packet to the subscribers
 * of this loop; more than this flushes early. */
#define BATCH_MAX 64
/* Bytes per slot: an SRTP packet of CARDEA_RTP_PACKET_MAX plus its tag. */
#define SLOT_BYTES 1600

typedef struct send_batch {
	int ring_fd;
	void *sq_map, *cq_map, *sqe_map;
	size_t sq_len, cq_len, sqe_len;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	guint n;
	int fd[BATCH_MAX];
	struct msghdr msg[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	struct sockaddr_storage addr[BATCH_MAX];
	guint8 buf[BATCH_MAX][SLOT_BYTES];
} send_batch;

static guint64 n_flushes, n_packets, n_errors;

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
	g_free(b);
}

static GPrivate batch_key = G_PRIVATE_INIT(batch_free);
/* Per thread: 0 not decided yet, 1 batching, -1 sending at once. */
static __thread int batch_state;

static send_batch *batch_setup(void) {
	send_batch *b = g_new0(send_batch, 1);
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

gboolean cardea_send_batch_add(int fd, const struct sockaddr *addr, socklen_t addrlen, const guint8 *buf, gsize len) {
	if (len > SLOT_BYTES || addrlen > sizeof(struct sockaddr_storage))
		return FALSE;
	send_batch *b = batch_get();
	if (b == NULL)
		return FALSE;
	if (b->n == BATCH_MAX)
		cardea_send_batch_flush();
	guint i = b->n++;
	memcpy(b->buf[i], buf, len);
	memcpy(&b->addr[i], addr, addrlen);
	b->iov[i].iov_base = b->buf[i];
	b->iov[i].iov_len = len;
	memset(&b->msg[i], 0, sizeof(b->msg[i]));
	b->msg[i].msg_name = &b->addr[i];
	b->msg[i].msg_namelen = addrlen;
	b->msg[i].msg_iov = &b->iov[i];
	b->msg[i].msg_iovlen = 1;
	b->fd[i] = fd;
	return TRUE;
}

void cardea_send_batch_flush(void) {
	if (batch_state <= 0)
		return;
	send_batch *b = g_private_get(&batch_key);
	if (b == NULL || b->n == 0)
		return;
	unsigned n = b->n, tail = *b->sq_tail, mask = *b->sq_mask;
	for (unsigned i = 0; i < n; i++) {
		unsigned idx = (tail + i) & mask;
		struct io_uring_sqe *e = &b->sqes[idx];
		memset(e, 0, sizeof(*e));
		e->opcode = IORING_OP_SENDMSG;
		e->fd = b->fd[i];
		e->addr = (guint64)(uintptr_t)&b->msg[i];
		e->len = 1;
		/* A full socket buffer fails (a drop) instead of parking the
		 * request until the socket is writable. */
		e->msg_flags = MSG_DONTWAIT;
		b->sq_array[idx] = idx;
	}
	__atomic_store_n(b->sq_tail, tail + n, __ATOMIC_RELEASE);
	/* Wait for every completion: the buffers are reused right after, and
	 * non-blocking UDP sends complete inline. */
	unsigned done = 0, errors = 0;
	while (done < n) {
		unsigned pending = tail + n - __atomic_load_n(b->sq_head, __ATOMIC_ACQUIRE);
		int r = (int)syscall(__NR_io_uring_enter, b->ring_fd, pending, n - done, IORING_ENTER_GETEVENTS, NULL, 0);
		if (r < 0 && errno != EINTR) {
			/* Cannot happen with a valid ring; don't spin on it. */
			CARDEA_LOG(CARDEA_LOG_ERR, "[send] io_uring_enter: %s", g_strerror(errno));
			break;
		}
		unsigned head = *b->cq_head, ctail = __atomic_load_n(b->cq_tail, __ATOMIC_ACQUIRE);
		for (; head != ctail; head++, done++)
			if (b->cqes[head & *b->cq_mask].res < 0)
				errors++;
		__atomic_store_n(b->cq_head, head, __ATOMIC_RELEASE);
	}
	b->n = 0;
	__atomic_fetch_add(&n_flushes, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&n_packets, n, __ATOMIC_RELAXED);
	if (errors)
		__atomic_fetch_add(&n_errors, errors, __ATOMIC_RELAXED);
}

void cardea_send_batch_get_counters(cardea_send_batch_counters *out) {
	out->flushes = __atomic_load_n(&n_flushes, __ATOMIC_RELAXED);
	out->packets = __atomic_load_n(&n_packets, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&n_errors, __ATOMIC_RELAXED);
}
