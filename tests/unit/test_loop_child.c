/* core/webrtc/loop-child.c on a real media loop thread: a child context's
 * socket and timers run on the loop's thread; a timer attached to a child
 * from the loop thread itself or from another thread fires; only the
 * child whose socket is ready runs (not every child of the loop); a socket
 * swapped for another with the same fd number is read again; a child may
 * drop its last reference from one of its own callbacks; children are off
 * with CARDEA_LOOP_CHILDREN=0 and off a loop thread. */
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <glib.h>
#include <glib-unix.h>
#include "webrtc/loop.h"

static cardea_loop *loop;
static GMutex lock;
static GCond cond;

/* Runs fn(data) on the loop thread and waits until it returned. */
typedef struct on_loop_job {
	GSourceFunc fn;
	gpointer data;
	gboolean done;
} on_loop_job;

static gboolean run_job(gpointer data) {
	on_loop_job *j = data;
	j->fn(j->data);
	g_mutex_lock(&lock);
	j->done = TRUE;
	g_cond_broadcast(&cond);
	g_mutex_unlock(&lock);
	return G_SOURCE_REMOVE;
}

static void on_loop(GSourceFunc fn, gpointer data) {
	on_loop_job j = { .fn = fn, .data = data };
	cardea_loop_invoke(loop, run_job, &j, NULL);
	g_mutex_lock(&lock);
	while (!j.done)
		g_cond_wait(&cond, &lock);
	g_mutex_unlock(&lock);
}

static guint counter_get(const guint *c) {
	g_mutex_lock(&lock);
	guint v = *c;
	g_mutex_unlock(&lock);
	return v;
}

static void counter_add(guint *c) {
	g_mutex_lock(&lock);
	(*c)++;
	g_cond_broadcast(&cond);
	g_mutex_unlock(&lock);
}

/* Waits (at most ms) for *c to reach n. */
static gboolean wait_count(const guint *c, guint n, guint ms) {
	gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;
	g_mutex_lock(&lock);
	while (*c < n && g_cond_wait_until(&cond, &lock, deadline))
		;
	gboolean ok = *c >= n;
	g_mutex_unlock(&lock);
	return ok;
}

/* A child with a datagram socket whose reads are counted on the loop. */
typedef struct sock_child {
	cardea_loop_child *child;
	int pair[2];             /* [1] polled by the child, [0] the test's end */
	GSource *source;
	guint reads;
	GThread *read_on;        /* the thread that read */
} sock_child;

static gboolean on_readable(gint fd, GIOCondition c, gpointer data) {
	sock_child *s = data;
	char buf[64];
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
		s->read_on = g_thread_self();
		counter_add(&s->reads);
	}
	return G_SOURCE_CONTINUE;
}

static void attach_reader(sock_child *s) {
	s->source = g_unix_fd_source_new(s->pair[1], G_IO_IN);
	g_source_set_callback(s->source, G_SOURCE_FUNC(on_readable), s, NULL);
	g_source_attach(s->source, cardea_loop_child_context(s->child));
}

static gboolean sock_child_new_on_loop(gpointer data) {
	sock_child *s = data;
	s->child = cardea_loop_child_new(g_main_context_get_thread_default());
	g_assert_nonnull(s->child);
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, s->pair), ==, 0);
	attach_reader(s);
	cardea_loop_child_resync(s->child);
	return G_SOURCE_REMOVE;
}

static gboolean sock_child_free_on_loop(gpointer data) {
	sock_child *s = data;
	g_source_destroy(s->source);
	g_source_unref(s->source);
	cardea_loop_child_unref(s->child);
	close(s->pair[0]);
	close(s->pair[1]);
	return G_SOURCE_REMOVE;
}

static void test_socket_reads_on_loop(void) {
	sock_child s = { 0 };
	on_loop(sock_child_new_on_loop, &s);
	guint64 before = cardea_loop_child_iterations();
	for (int i = 0; i < 20; i++)
		g_assert_cmpint(send(s.pair[0], "x", 1, 0), ==, 1);
	g_assert_true(wait_count(&s.reads, 20, 5000));
	g_assert_true(s.read_on == loop->thread);
	g_assert_cmpuint(cardea_loop_child_iterations(), >, before);
	on_loop(sock_child_free_on_loop, &s);
}

/* Timers attached to a child when it is not running: GLib signals the
 * child's wake-up fd (owner-less polling) and the mux re-arms it. */
typedef struct timer_job {
	cardea_loop_child *child;
	guint fired;
	GThread *fired_on;
} timer_job;

static gboolean on_timer(gpointer data) {
	timer_job *t = data;
	t->fired_on = g_thread_self();
	counter_add(&t->fired);
	return G_SOURCE_REMOVE;
}

static void attach_timer(timer_job *t, guint ms) {
	GSource *timer = g_timeout_source_new(ms);
	g_source_set_callback(timer, on_timer, t, NULL);
	g_source_attach(timer, cardea_loop_child_context(t->child));
	g_source_unref(timer);
}

static gboolean timer_child_new_on_loop(gpointer data) {
	timer_job *t = data;
	t->child = cardea_loop_child_new(g_main_context_get_thread_default());
	g_assert_nonnull(t->child);
	return G_SOURCE_REMOVE;
}

static gboolean attach_timer_on_loop(gpointer data) {
	attach_timer(data, 50);
	return G_SOURCE_REMOVE;
}

static gboolean child_unref_on_loop(gpointer data) {
	cardea_loop_child_unref(data);
	return G_SOURCE_REMOVE;
}

static void test_timers_fire(void) {
	timer_job t = { 0 };
	on_loop(timer_child_new_on_loop, &t);
	/* From the loop's own thread, outside the child's run. */
	on_loop(attach_timer_on_loop, &t);
	g_assert_true(wait_count(&t.fired, 1, 3000));
	g_assert_true(t.fired_on == loop->thread);
	/* From another thread (this one). */
	attach_timer(&t, 30);
	g_assert_true(wait_count(&t.fired, 2, 3000));
	g_assert_true(t.fired_on == loop->thread);
	on_loop(child_unref_on_loop, t.child);
}

/* The point of children: with many agents on a loop, a datagram for one
 * runs that one, not all of them. */
#define MANY 300

static void test_only_ready_child_runs(void) {
	sock_child *s = g_new0(sock_child, MANY);
	for (int i = 0; i < MANY; i++)
		on_loop(sock_child_new_on_loop, &s[i]);
	/* Let the first arming and the sweeps' wake-ups settle. */
	g_usleep(200 * 1000);
	for (int round = 0; round < 5; round++) {
		int k = g_random_int_range(0, MANY);
		guint had = counter_get(&s[k].reads);
		guint64 before = cardea_loop_child_iterations();
		g_assert_cmpint(send(s[k].pair[0], "y", 1, 0), ==, 1);
		g_assert_true(wait_count(&s[k].reads, had + 1, 5000));
		guint64 ran = cardea_loop_child_iterations() - before;
		g_test_message("round %d: child %d, %" G_GUINT64_FORMAT " child run(s) for one datagram", round, k, ran);
		g_assert_cmpuint(ran, >=, 1);
		g_assert_cmpuint(ran, <=, 3);
	}
	for (int i = 0; i < MANY; i++)
		on_loop(sock_child_free_on_loop, &s[i]);
	g_free(s);
}

/* The child's socket closed and another opened with the same number inside
 * one call on the loop: the kernel dropped the old registration while the
 * child's fd list looks unchanged. */
typedef struct swap_job {
	sock_child *s;
	int peer;                /* out: the new socket's other end */
	gboolean resync;         /* say so, as ice.c does */
} swap_job;

static gboolean swap_on_loop(gpointer data) {
	swap_job *j = data;
	sock_child *s = j->s;
	int n = s->pair[1], pair[2];
	g_source_destroy(s->source);
	g_source_unref(s->source);
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), ==, 0);
	g_assert_cmpint(dup2(pair[1], n), ==, n);   /* closes the old socket */
	close(pair[1]);
	attach_reader(s);
	if (j->resync)
		cardea_loop_child_resync(s->child);
	j->peer = pair[0];
	return G_SOURCE_REMOVE;
}

static void test_fd_reused(void) {
	sock_child s = { 0 };
	on_loop(sock_child_new_on_loop, &s);
	g_assert_cmpint(send(s.pair[0], "a", 1, 0), ==, 1);
	g_assert_true(wait_count(&s.reads, 1, 5000));

	/* Announced (ice.c after gathering, restarting, closing), with no
	 * periodic pass to fall back on. */
	cardea_loop_poll_set_resync_ms(600000);
	swap_job j = { .s = &s, .resync = TRUE };
	on_loop(swap_on_loop, &j);
	g_assert_cmpint(send(j.peer, "b", 1, 0), ==, 1);
	g_assert_true(wait_count(&s.reads, 2, 3000));
	close(j.peer);

	/* Unannounced (a close inside libnice): not seen... */
	j = (swap_job){ .s = &s, .resync = FALSE };
	on_loop(swap_on_loop, &j);
	g_usleep(100 * 1000);   /* the run the swap's own wake-up causes polls before "c" is there */
	g_assert_cmpint(send(j.peer, "c", 1, 0), ==, 1);
	g_assert_false(wait_count(&s.reads, 3, 300));
	/* ...until the periodic pass (its new period counts from the next pass:
	 * a new child causes one). */
	cardea_loop_poll_set_resync_ms(200);
	timer_job poke = { 0 };
	on_loop(timer_child_new_on_loop, &poke);
	on_loop(child_unref_on_loop, poke.child);
	g_assert_true(wait_count(&s.reads, 3, 3000));
	close(j.peer);
	cardea_loop_poll_set_resync_ms(1000);
	on_loop(sock_child_free_on_loop, &s);
}

/* ice.c's closing agent: its callback, run by the child, drops the
 * child's last reference. */
typedef struct last_ref_job {
	cardea_loop_child *child;
	guint done;
} last_ref_job;

static gboolean drop_last_ref(gpointer data) {
	last_ref_job *j = data;
	cardea_loop_child_unref(j->child);
	counter_add(&j->done);
	return G_SOURCE_REMOVE;
}

static gboolean last_ref_on_loop(gpointer data) {
	last_ref_job *j = data;
	j->child = cardea_loop_child_new(g_main_context_get_thread_default());
	g_assert_nonnull(j->child);
	GSource *idle = g_idle_source_new();
	g_source_set_callback(idle, drop_last_ref, j, NULL);
	g_source_attach(idle, cardea_loop_child_context(j->child));
	g_source_unref(idle);
	return G_SOURCE_REMOVE;
}

static gboolean count_children_on_loop(gpointer data) {
	*(guint *)data = cardea_loop_children();
	return G_SOURCE_REMOVE;
}

static void test_last_ref_in_own_callback(void) {
	guint before = 0, after = 0;
	on_loop(count_children_on_loop, &before);
	last_ref_job j = { 0 };
	on_loop(last_ref_on_loop, &j);
	g_assert_true(wait_count(&j.done, 1, 3000));
	on_loop(count_children_on_loop, &after);
	g_assert_cmpuint(after, ==, before);
}

static gboolean expect_no_child_on_loop(gpointer data) {
	g_assert_null(cardea_loop_child_new(g_main_context_get_thread_default()));
	return G_SOURCE_REMOVE;
}

static void test_off(void) {
	/* Not a loop thread: the caller keeps its own context. */
	GMainContext *ctx = g_main_context_new();
	g_main_context_push_thread_default(ctx);
	g_assert_null(cardea_loop_child_new(ctx));
	g_main_context_pop_thread_default(ctx);
	g_main_context_unref(ctx);
	if (g_test_subprocess()) {
		/* main() set CARDEA_LOOP_CHILDREN=0 in this process. */
		on_loop(expect_no_child_on_loop, NULL);
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	/* Before any thread: the only subprocess here is /loop-child/off's. */
	if (g_test_subprocess())
		g_setenv("CARDEA_LOOP_CHILDREN", "0", TRUE);
	g_mutex_init(&lock);
	g_cond_init(&cond);
	cardea_loops_start(1);
	loop = cardea_loop_acquire(0);
	g_test_add_func("/loop-child/socket-reads-on-loop", test_socket_reads_on_loop);
	g_test_add_func("/loop-child/timers-fire", test_timers_fire);
	g_test_add_func("/loop-child/only-ready-child-runs", test_only_ready_child_runs);
	g_test_add_func("/loop-child/fd-reused", test_fd_reused);
	g_test_add_func("/loop-child/last-ref-in-own-callback", test_last_ref_in_own_callback);
	g_test_add_func("/loop-child/off", test_off);
	int r = g_test_run();
	cardea_loop_release(loop);
	cardea_loops_stop();
	return r;
}
