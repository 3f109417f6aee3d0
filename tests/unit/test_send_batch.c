/* core/webrtc/send-batch.c on a real media loop thread and loopback UDP
 * sockets: whatever one round queues reaches each receiver as the same
 * datagrams (lengths and bytes), in the order queued for that socket, and
 * the round leaves as the GSO sends send-batch.h describes (same socket and
 * address, same size with a shorter last one closing the group, at most 64
 * segments and 65,000 bytes, datagrams over 1300 bytes alone; a round
 * flushes early at 512 datagrams or 96 KB), counted in /metrics. */
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>
#include <glib.h>
#include "webrtc/loop.h"
#include "webrtc/send-batch.h"

#define N_RX 6
#define MAX_SENDS 640

typedef struct send_spec {
	int tx;          /* index of the sending socket */
	int rx;          /* index of the receiving socket */
	gsize len;
} send_spec;

typedef struct round_job {
	int tx[N_RX], rx[N_RX];
	struct sockaddr_in addr[N_RX];
	const send_spec *sends;
	guint n_sends;
	gboolean batched;        /* every add was queued (io_uring available) */
	cardea_send_batch_counters before, after;
	guint64 sendtos;         /* lone datagrams sent as OP_SEND with an address */
	gboolean done;
	GMutex lock;
	GCond cond;
} round_job;

/* Datagram k: its index and length in the first bytes, then a pattern
 * that depends on both, so a cut in the wrong place shows. */
static void fill(guint8 *buf, guint k, gsize len) {
	for (gsize i = 0; i < len; i++)
		buf[i] = (guint8)(k * 31 + i * 7);
	buf[0] = (guint8)(k >> 8);
	buf[1] = (guint8)k;
	buf[2] = (guint8)(len >> 8);
	buf[3] = (guint8)len;
}

static gboolean run_round(gpointer data) {
	round_job *j = data;
	static guint8 buf[2000];
	cardea_send_batch_get_counters(&j->before);
	j->batched = TRUE;
	for (guint k = 0; k < j->n_sends; k++) {
		const send_spec *s = &j->sends[k];
		fill(buf, k, s->len);
		if (!cardea_send_batch_add(j->tx[s->tx], (const struct sockaddr *)&j->addr[s->rx], sizeof(j->addr[s->rx]),
				buf, s->len))
			j->batched = FALSE;
	}
	cardea_send_batch_flush();
	cardea_send_batch_get_counters(&j->after);
	g_mutex_lock(&j->lock);
	j->done = TRUE;
	g_cond_signal(&j->cond);
	g_mutex_unlock(&j->lock);
	return G_SOURCE_REMOVE;
}

static int udp_socket(struct sockaddr_in *bound) {
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	g_assert_cmpint(fd, >=, 0);
	/* Room for a whole round (250 x 1200 bytes, or 600 small): FORCE ignores
	 * net.core.rmem_max (212,992 on a stock kernel) when we may. */
	int big = 4 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
	socklen_t l = sizeof(a);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&a, &l), ==, 0);
	if (bound)
		*bound = a;
	return fd;
}

/* The next datagram on fd, waiting up to 2 s (loopback usually delivers
 * inside the send, but softirq work may be deferred under load). */
static gssize recv_wait(int fd, guint8 *buf, gsize cap) {
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 2000) <= 0)
		return -1;
	return recv(fd, buf, cap, MSG_DONTWAIT);
}

static guint64 last_sendtos;   /* of the last check_round */
static guint64 last_flushes;   /* rounds the last check_round's datagrams took */

/* Whether this kernel's rings report the feature send-batch.c takes as
 * the sign that OP_SEND carries an address (Linux 6.3). */
static gboolean kernel_has_sendto(void) {
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	int fd = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		return FALSE;
	close(fd);
	return (p.features & (1U << 13)) != 0;   /* IORING_FEAT_REG_REG_RING */
}

/* Runs one round on media loop 0; checks delivery and returns the GSO
 * counters' increments. FALSE: no io_uring here (the test skips). */
static gboolean check_round(const send_spec *sends, guint n, guint64 *gso_sends, guint64 *gso_packets) {
	round_job j = { .sends = sends, .n_sends = n };
	g_mutex_init(&j.lock);
	g_cond_init(&j.cond);
	for (int i = 0; i < N_RX; i++) {
		j.rx[i] = udp_socket(&j.addr[i]);
		j.tx[i] = udp_socket(NULL);
	}
	cardea_loop *loop = cardea_loop_acquire(0);
	cardea_loop_invoke(loop, run_round, &j, NULL);
	g_mutex_lock(&j.lock);
	while (!j.done)
		g_cond_wait(&j.cond, &j.lock);
	g_mutex_unlock(&j.lock);
	cardea_loop_release(loop);
	if (j.batched) {
		static guint8 want[2000], got[70000];
		for (int r = 0; r < N_RX; r++) {
			for (guint k = 0; k < n; k++) {
				if (sends[k].rx != r)
					continue;
				gssize len = recv_wait(j.rx[r], got, sizeof(got));
				g_assert_cmpint(len, ==, (gssize)sends[k].len);
				fill(want, k, sends[k].len);
				g_assert_cmpmem(got, len, want, sends[k].len);
			}
			/* and nothing more (a wrong cut would make extra datagrams) */
			struct pollfd p = { .fd = j.rx[r], .events = POLLIN };
			g_assert_cmpint(poll(&p, 1, 50), ==, 0);
		}
		g_assert_cmpuint(j.after.errors, ==, j.before.errors);
		g_assert_cmpuint(j.after.packets - j.before.packets, ==, n);
		j.sendtos = j.after.sendtos - j.before.sendtos;
		last_sendtos = j.sendtos;
		last_flushes = j.after.flushes - j.before.flushes;
		*gso_sends = j.after.gso_sends - j.before.gso_sends;
		*gso_packets = j.after.gso_packets - j.before.gso_packets;
	}
	for (int i = 0; i < N_RX; i++) {
		close(j.rx[i]);
		close(j.tx[i]);
	}
	g_mutex_clear(&j.lock);
	g_cond_clear(&j.cond);
	return j.batched;
}

static guint add(send_spec *s, guint n, int tx, int rx, gsize len, guint count) {
	for (guint i = 0; i < count; i++)
		s[n++] = (send_spec){ tx, rx, len };
	return n;
}

static void test_mixed_round(void) {
	send_spec s[MAX_SENDS];
	guint n = 0;
	/* Interleaved as a fan-out: every receiver's datagrams alternate with
	 * the others'. */
	for (int i = 0; i < 5; i++) {
		n = add(s, n, 0, 0, 1000, 1);                  /* 5 x 1000: one GSO send of 5 */
		if (i < 4)                                      /* 1000 1000 600 | 1000: 3, then alone */
			n = add(s, n, 1, 1, i == 2 ? 600 : 1000, 1);
		if (i < 2)                                      /* 1000 then 1200: larger, two sends */
			n = add(s, n, 2, 2, i == 0 ? 1000 : 1200, 1);
		n = add(s, n, 3, 3, 200, 14);                   /* 70 x 200: 64 + 6 */
		if (i < 2) {                                    /* one socket, two addresses in turn */
			n = add(s, n, 4, 4, 1000, 1);
			n = add(s, n, 4, 5, 1000, 1);
		}
	}
	n = add(s, n, 0, 0, 1400, 1);                           /* over 1300: alone ... */
	n = add(s, n, 0, 0, 1000, 2);                           /* ... and what follows after it: 2 */
	guint64 sends = 0, packets = 0;
	if (!check_round(s, n, &sends, &packets)) {
		g_test_skip("io_uring unavailable: one sendto per packet, no rounds");
		return;
	}
	g_assert_cmpuint(sends, ==, 1 + 1 + 2 + 1);
	g_assert_cmpuint(packets, ==, 5 + 3 + 70 + 2);
	/* The datagrams that went alone: the 1400 and 0's nothing else; 1's
	 * last; 2's two; 4's four (its address alternates). */
	gboolean off = g_strcmp0(g_getenv("CARDEA_SEND_SENDTO"), "0") == 0;
	g_assert_cmpuint(last_sendtos, ==, !off && kernel_has_sendto() ? 1 + 1 + 2 + 4 : 0);
}

/* The same round with CARDEA_SEND_SENDTO=0 (decided once per process, so
 * in a child, which main() gives the variable): every datagram arrives,
 * none as a send with an address. */
static void test_sendto_off(void) {
	if (g_test_subprocess()) {
		test_mixed_round();
		return;
	}
	if (!kernel_has_sendto()) {
		g_test_skip("no OP_SEND with an address on this kernel: nothing to turn off");
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
}

/* count datagrams of len bytes to one peer, in one go: every one arrives
 * and they leave in want_sends GSO sends. FALSE: skipped (no io_uring). */
static gboolean one_peer_round(gsize len, guint count, guint64 want_sends) {
	send_spec s[MAX_SENDS];
	g_assert_cmpuint(count, <=, MAX_SENDS);
	guint n = add(s, 0, 0, 0, len, count);
	guint64 sends = 0, packets = 0;
	if (!check_round(s, n, &sends, &packets)) {
		g_test_skip("io_uring unavailable");
		return FALSE;
	}
	g_assert_cmpuint(sends, ==, want_sends);
	g_assert_cmpuint(packets, ==, count);
	return TRUE;
}

/* The receiver holds a whole round until the test reads it: FALSE (and
 * the test skips) when its buffer could not be raised to 2 MB. */
static gboolean room_for_round(const char *what) {
	int probe = udp_socket(NULL), have = 0;
	socklen_t l = sizeof(have);
	getsockopt(probe, SOL_SOCKET, SO_RCVBUF, &have, &l);
	close(probe);
	if (have >= (2 << 20))
		return TRUE;
	char *why = g_strdup_printf("receive buffers capped below 2 MB (net.core.rmem_max, not root): %s would not fit", what);
	g_test_skip(why);
	g_free(why);
	return FALSE;
}

static void test_full_round_flushes_early(void) {
	/* 600 datagrams: the round flushes at 512 (8 x 64), the other 88 go
	 * in a second (64 + 24); order holds across them. */
	if (room_for_round("600 datagrams") && one_peer_round(100, 600, 8 + 2))
		g_assert_cmpuint(last_flushes, ==, 2);
}

static void test_full_arena_flushes_early(void) {
	/* 250 x 1200 bytes: 54 fill a GSO send (65,000-byte cap), the 96 KB of
	 * packed datagrams flush after 81 (54 + 27): rounds of 81, 81, 81, 7. */
	if (room_for_round("250 x 1200 bytes") && one_peer_round(1200, 250, 2 + 2 + 2 + 1))
		g_assert_cmpuint(last_flushes, ==, 4);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	/* Before any thread: the only subprocess here is sendto-off's. */
	if (g_test_subprocess())
		g_setenv("CARDEA_SEND_SENDTO", "0", TRUE);
	cardea_loops_start(1);
	g_test_add_func("/send-batch/gso/mixed-round", test_mixed_round);
	g_test_add_func("/send-batch/gso/full-round", test_full_round_flushes_early);
	g_test_add_func("/send-batch/gso/full-arena", test_full_arena_flushes_early);
	g_test_add_func("/send-batch/sendto-off", test_sendto_off);
	int r = g_test_run();
	cardea_loops_stop();
	return r;
}
