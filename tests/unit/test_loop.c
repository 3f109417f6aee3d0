/* core/webrtc/loop.c on a real media loop thread: the once-a-second pass
 * marks the sources attached to the loop recursive (so GLib stops taking
 * a dispatching source's fds out of the poll set and putting them back,
 * two eventfd writes per dispatch), and a socket source marked that way
 * still dispatches every datagram. Also: how many loops event_loops = 0
 * starts, and loop-poll.c's epoll set after an fd is closed and reopened
 * with the same number. */
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <glib.h>
#include <glib-unix.h>
#include "webrtc/loop.h"

typedef struct fd_probe {
	GSource *source;        /* attached to the loop by attach_on_loop */
	int fd;
	guint reads;            /* datagrams read on the loop thread */
	GMutex lock;
	GCond cond;
} fd_probe;

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data) {
	fd_probe *p = data;
	char buf[64];
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
		g_mutex_lock(&p->lock);
		p->reads++;
		g_cond_signal(&p->cond);
		g_mutex_unlock(&p->lock);
	}
	return G_SOURCE_CONTINUE;
}

static gboolean attach_on_loop(gpointer data) {
	fd_probe *p = data;
	p->source = g_unix_fd_source_new(p->fd, G_IO_IN);
	g_source_set_callback(p->source, G_SOURCE_FUNC(on_readable), p, NULL);
	g_source_attach(p->source, g_main_context_get_thread_default());
	g_mutex_lock(&p->lock);
	g_cond_signal(&p->cond);
	g_mutex_unlock(&p->lock);
	return G_SOURCE_REMOVE;
}

static gboolean detach_on_loop(gpointer data) {
	fd_probe *p = data;
	g_source_destroy(p->source);
	g_mutex_lock(&p->lock);
	g_clear_pointer(&p->source, g_source_unref);
	g_cond_signal(&p->cond);
	g_mutex_unlock(&p->lock);
	return G_SOURCE_REMOVE;
}

/* A probe on pair[1] of a new socket pair, and loop 0 (one user of it). */
static cardea_loop *probe_new(fd_probe *p, int pair[2]) {
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), ==, 0);
	*p = (fd_probe){ .fd = pair[1] };
	g_mutex_init(&p->lock);
	g_cond_init(&p->cond);
	return cardea_loop_acquire(0);
}

/* Attaches / detaches the probe's source on the loop and waits for it. */
static void probe_attach(cardea_loop *loop, fd_probe *p) {
	g_mutex_lock(&p->lock);
	cardea_loop_invoke(loop, attach_on_loop, p, NULL);
	while (p->source == NULL)
		g_cond_wait(&p->cond, &p->lock);
	g_mutex_unlock(&p->lock);
}

static void probe_detach(cardea_loop *loop, fd_probe *p) {
	g_mutex_lock(&p->lock);
	cardea_loop_invoke(loop, detach_on_loop, p, NULL);
	while (p->source != NULL)
		g_cond_wait(&p->cond, &p->lock);
	g_mutex_unlock(&p->lock);
}

/* Waits (at most `ms`) for reads to reach `n`. */
static gboolean wait_reads_ms(fd_probe *p, guint n, guint ms) {
	gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;
	g_mutex_lock(&p->lock);
	while (p->reads < n && g_cond_wait_until(&p->cond, &p->lock, deadline))
		;
	gboolean ok = p->reads >= n;
	g_mutex_unlock(&p->lock);
	return ok;
}

static gboolean wait_reads(fd_probe *p, guint n) {
	return wait_reads_ms(p, n, 5000);
}

static void test_sweep_marks_sources(void) {
	int pair[2];
	fd_probe p;
	cardea_loop *loop = probe_new(&p, pair);
	probe_attach(loop, &p);
	/* Before the next pass the source is as GLib made it. */
	g_assert_cmpint(send(pair[0], "x", 1, 0), ==, 1);
	g_assert_true(wait_reads(&p, 1));
	/* The pass runs on whole seconds of the monotonic clock. */
	gint64 deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
	while (!g_source_get_can_recurse(p.source) && g_get_monotonic_time() < deadline)
		g_usleep(20 * 1000);
	g_assert_true(g_source_get_can_recurse(p.source));
	/* Marked, it still dispatches each datagram. */
	for (int i = 0; i < 50; i++)
		g_assert_cmpint(send(pair[0], "y", 1, 0), ==, 1);
	g_assert_true(wait_reads(&p, 51));
	probe_detach(loop, &p);
	cardea_loop_release(loop);
	close(pair[0]);
	close(pair[1]);
	g_mutex_clear(&p.lock);
	g_cond_clear(&p.cond);
}

/* loop-poll.c's hazard: the probe's socket is closed and a new one opened
 * with the same fd number, its source attached in place of the old one, all
 * within one dispatch. GLib's fd array then looks as before, while the
 * kernel has dropped the closed socket's epoll registration. */
typedef struct swap_job {
	fd_probe *p;
	int peer;            /* out: the new socket's other end */
	gboolean resync;     /* call cardea_loop_poll_resync() as ice.c does */
} swap_job;

static gboolean swap_socket_on_loop(gpointer data) {
	swap_job *j = data;
	fd_probe *p = j->p;
	int n = p->fd, pair[2];
	g_source_destroy(p->source);
	g_source_unref(p->source);
	/* dup2 closes the old socket and puts the new one in its place. */
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), ==, 0);
	g_assert_cmpint(dup2(pair[1], n), ==, n);
	close(pair[1]);
	p->source = g_unix_fd_source_new(n, G_IO_IN);
	g_source_set_callback(p->source, G_SOURCE_FUNC(on_readable), p, NULL);
	g_source_attach(p->source, g_main_context_get_thread_default());
	if (j->resync)
		cardea_loop_poll_resync();
	g_mutex_lock(&p->lock);
	j->peer = pair[0];
	g_cond_signal(&p->cond);
	g_mutex_unlock(&p->lock);
	return G_SOURCE_REMOVE;
}

static int swap_socket(cardea_loop *loop, fd_probe *p, gboolean resync) {
	swap_job j = { .p = p, .peer = -1, .resync = resync };
	g_mutex_lock(&p->lock);
	cardea_loop_invoke(loop, swap_socket_on_loop, &j, NULL);
	while (j.peer < 0)
		g_cond_wait(&p->cond, &p->lock);
	g_mutex_unlock(&p->lock);
	return j.peer;
}

static void test_epoll_fd_reused(void) {
	if (g_strcmp0(g_getenv("CARDEA_LOOP_EPOLL"), "0") == 0) {
		g_test_skip("CARDEA_LOOP_EPOLL=0: the loops use poll()");
		return;
	}
	int pair[2];
	fd_probe p;
	cardea_loop *loop = probe_new(&p, pair);
	/* No periodic re-registration during the first two swaps. */
	cardea_loop_poll_set_resync_ms(600000);
	probe_attach(loop, &p);
	g_assert_cmpint(send(pair[0], "a", 1, 0), ==, 1);
	g_assert_true(wait_reads(&p, 1));
	close(pair[0]);

	/* The creator says so (ice.c after gathering, freeing, restarting). */
	int peer = swap_socket(loop, &p, TRUE);
	g_assert_cmpint(send(peer, "b", 1, 0), ==, 1);
	g_assert_true(wait_reads(&p, 2));
	close(peer);

	/* Nobody says so (a close inside libnice): an unforced swap is not
	 * seen until the periodic pass. */
	peer = swap_socket(loop, &p, FALSE);
	g_assert_cmpint(send(peer, "c", 1, 0), ==, 1);
	if (wait_reads_ms(&p, 3, 300))
		g_test_message("the swapped fd was read without a re-registration (GLib's array changed)");
	cardea_loop_poll_set_resync_ms(200);
	g_assert_true(wait_reads(&p, 3));
	close(peer);
	peer = swap_socket(loop, &p, FALSE);
	g_assert_cmpint(send(peer, "d", 1, 0), ==, 1);
	g_assert_true(wait_reads_ms(&p, 4, 2000));
	close(peer);

	cardea_loop_poll_set_resync_ms(1000);
	probe_detach(loop, &p);
	cardea_loop_release(loop);
	close(p.fd);
	g_mutex_clear(&p.lock);
	g_cond_clear(&p.cond);
}

/* event_loops = 0 follows the CPUs the process may run on, not the
 * machine's: confined to one CPU, one loop. */
static void test_default_count_follows_affinity(void) {
	cpu_set_t all, one;
	g_assert_cmpint(sched_getaffinity(0, sizeof(all), &all), ==, 0);
	g_assert_cmpint(cardea_loops_default_count(), ==, MIN(CPU_COUNT(&all), CARDEA_LOOPS_MAX));
	int first = 0;
	while (!CPU_ISSET(first, &all))
		first++;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	g_assert_cmpint(sched_setaffinity(0, sizeof(one), &one), ==, 0);
	int confined = cardea_loops_default_count();
	g_assert_cmpint(sched_setaffinity(0, sizeof(all), &all), ==, 0);
	g_assert_cmpint(confined, ==, 1);
	if (CPU_COUNT(&all) == 1)
		g_test_message("one CPU only: the confined count equals the whole count here");
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	cardea_loops_start(1);
	g_test_add_func("/loop/sweep-marks-sources", test_sweep_marks_sources);
	g_test_add_func("/loop/default-count-follows-affinity", test_default_count_follows_affinity);
	g_test_add_func("/loop/epoll-fd-reused", test_epoll_fd_reused);
	int r = g_test_run();
	cardea_loops_stop();
	return r;
}
