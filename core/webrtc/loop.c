#include "loop.h"
#include "relay.h"

#include <sched.h>
#include "cardea/module.h"

static cardea_loop *loops;   /* owned array */
static int n_loops;
static __thread cardea_loop *current_loop;   /* set on each loop's own thread */

/* GLib takes the fds of a source that may not recurse out of the poll set
 * while it dispatches and puts them back after, and each of the two steps
 * writes the context's wake-up eventfd. The GSocket source libnice attaches
 * for each PC's socket dispatches for nearly every packet received: two
 * write syscalls per packet (scenario b at N=10: 7,500 writes a second).
 * Nothing iterates a media loop's context recursively (its thread only runs
 * g_main_loop_run), so every source on it may be marked recursive, which
 * skips the blocking. libnice's sources are not reachable through its API,
 * but a context gives out source ids in sequence: once a second the loop
 * marks the sources attached since its previous pass. */
static __thread guint swept_up_to;

static gboolean sweep_sources(gpointer data) {
	cardea_loop *l = data;
	GSource *probe = g_idle_source_new();
	guint top = g_source_attach(probe, l->context);
	g_source_destroy(probe);
	g_source_unref(probe);
	if (top < swept_up_to)   /* ids wrapped around */
		swept_up_to = 0;
	for (guint id = swept_up_to + 1; id < top; id++) {
		GSource *src = g_main_context_find_source_by_id(l->context, id);
		if (src != NULL)
			g_source_set_can_recurse(src, TRUE);
	}
	swept_up_to = top;
	return G_SOURCE_CONTINUE;
}

static gpointer loop_thread(gpointer data) {
	cardea_loop *l = data;
	current_loop = l;
	g_main_context_push_thread_default(l->context);
	cardea_loop_poll_install(l->context);
	GSource *sweep = cardea_loop_grid_timer_new(1000);
	g_source_set_name(sweep, "source-sweep");
	g_source_set_callback(sweep, sweep_sources, l, NULL);
	g_source_attach(sweep, l->context);
	g_source_unref(sweep);
	g_main_loop_run(l->loop);
	/* Relay batches this thread still holds for other loops (relay.h). */
	cardea_relay_thread_flush();
	cardea_loop_poll_free();
	g_main_context_pop_thread_default(l->context);
	current_loop = NULL;
	return NULL;
}

/* GLib 2.74's g_get_num_processors() counts every online CPU, so a gateway
 * confined to fewer (taskset, a container's cpuset) started a loop thread
 * per CPU of the machine, and those threads then took turns on the CPUs it
 * had: more threads, more memory (b N=10 on one CPU of two: 268 against
 * 249 KB per subscriber), no more throughput. */
int cardea_loops_default_count(void) {
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return MIN(CPU_COUNT(&set), CARDEA_LOOPS_MAX);
	return (int)MIN(g_get_num_processors(), CARDEA_LOOPS_MAX);
}

void cardea_loops_start(int count) {
	gboolean by_cpus = count <= 0;
	if (by_cpus)
		count = cardea_loops_default_count();
	n_loops = count;
	loops = g_new0(cardea_loop, count);
	for (int i = 0; i < count; i++) {
		cardea_loop *l = &loops[i];
		l->index = i;
		l->context = g_main_context_new();
		l->loop = g_main_loop_new(l->context, FALSE);
		l->relay = cardea_relay_ring_new(l);
		char *name = g_strdup_printf("media-loop-%d", i);
		l->thread = g_thread_new(name, loop_thread, l);
		g_free(name);
	}
	CARDEA_LOG(CARDEA_LOG_INFO, "[loops] %d media event loop(s) started%s", count,
		by_cpus ? " (one per CPU this process may run on)" : "");
}

static gboolean quit_loop(gpointer data) {
	g_main_loop_quit(((cardea_loop *)data)->loop);
	return G_SOURCE_REMOVE;
}

void cardea_loops_stop(void) {
	/* Join every thread before freeing anything: a loop still running may
	 * relay into another loop's ring (relay.h). */
	for (int i = 0; i < n_loops; i++) {
		cardea_loop *l = &loops[i];
		g_main_context_invoke(l->context, quit_loop, l);
		g_thread_join(l->thread);
	}
	for (int i = 0; i < n_loops; i++) {
		cardea_loop *l = &loops[i];
		cardea_relay_ring_free(l->relay);
		g_main_loop_unref(l->loop);
		g_main_context_unref(l->context);
	}
	g_free(loops);
	loops = NULL;
	n_loops = 0;
}

int cardea_loops_count(void) {
	return n_loops;
}

cardea_loop *cardea_loop_acquire(int index) {
	if (n_loops == 0)
		return NULL;
	cardea_loop *best = NULL;
	if (index >= 0 && index < n_loops) {
		best = &loops[index];
	} else {
		for (int i = 0; i < n_loops; i++)
			if (best == NULL || g_atomic_int_get(&loops[i].users) < g_atomic_int_get(&best->users))
				best = &loops[i];
	}
	g_atomic_int_inc(&best->users);
	return best;
}

void cardea_loop_release(cardea_loop *l) {
	if (l)
		g_atomic_int_add(&l->users, -1);
}

void cardea_loop_invoke(cardea_loop *l, GSourceFunc fn, gpointer data, GDestroyNotify destroy) {
	g_main_context_invoke_full(l->context, G_PRIORITY_DEFAULT, fn, data, destroy);
}

gboolean cardea_loop_is_current(const cardea_loop *l) {
	return l != NULL && current_loop == l;
}

cardea_loop *cardea_loop_current(void) {
	return current_loop;
}

typedef struct grid_timer {
	GSource base;
	gint64 period_us;
} grid_timer;

static gint64 next_grid_point(gint64 now, gint64 period) {
	return (now / period + 1) * period;
}

static gboolean grid_timer_dispatch(GSource *src, GSourceFunc cb, gpointer data) {
	if (cb == NULL || !cb(data))
		return G_SOURCE_REMOVE;
	grid_timer *t = (grid_timer *)src;
	g_source_set_ready_time(src, next_grid_point(g_source_get_time(src), t->period_us));
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs grid_timer_funcs = {
	.dispatch = grid_timer_dispatch,
};

GSource *cardea_loop_grid_timer_new(guint period_ms) {
	GSource *src = g_source_new(&grid_timer_funcs, sizeof(grid_timer));
	grid_timer *t = (grid_timer *)src;
	t->period_us = (gint64)MAX(period_ms, 1) * 1000;
	g_source_set_name(src, "grid-timer");
	g_source_set_ready_time(src, next_grid_point(g_get_monotonic_time(), t->period_us));
	return src;
}

/* ---- shared ticks (loop.h) ---- */

typedef struct tick_group {
	GMainContext *context;   /* borrowed */
	guint period_ms;
	GSource *timer;          /* owned: a grid timer attached to context */
	GPtrArray *ticks;        /* owned cardea_loop_tick*, in order of addition */
	gboolean dispatching;
	guint dead;              /* entries removed while dispatching, freed after */
} tick_group;

struct cardea_loop_tick {
	tick_group *group;
	GSourceFunc fn;          /* NULL once removed */
	gpointer data;
};

/* This thread's groups: few (one per context and period in use). */
static __thread GPtrArray *tick_groups;

static void tick_group_free(tick_group *g) {
	g_ptr_array_remove_fast(tick_groups, g);
	if (tick_groups->len == 0)
		g_clear_pointer(&tick_groups, g_ptr_array_unref);
	g_source_destroy(g->timer);
	g_source_unref(g->timer);
	g_ptr_array_free(g->ticks, TRUE);
	g_free(g);
}

static gboolean tick_group_dispatch(gpointer data) {
	tick_group *g = data;
	g->dispatching = TRUE;
	/* Ticks added by these callbacks wait for the next period. */
	guint n = g->ticks->len;
	for (guint i = 0; i < n; i++) {
		cardea_loop_tick *t = g->ticks->pdata[i];
		if (t->fn != NULL && !t->fn(t->data) && t->fn != NULL) {
			t->fn = NULL;
			g->dead++;
		}
	}
	g->dispatching = FALSE;
	if (g->dead > 0) {
		for (guint i = g->ticks->len; i-- > 0;) {
			cardea_loop_tick *t = g->ticks->pdata[i];
			if (t->fn == NULL) {
				g_ptr_array_remove_index(g->ticks, i);
				g_free(t);
			}
		}
		g->dead = 0;
	}
	if (g->ticks->len == 0) {
		tick_group_free(g);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

cardea_loop_tick *cardea_loop_tick_add(GMainContext *context, guint period_ms, GSourceFunc fn, gpointer data) {
	g_return_val_if_fail(context != NULL && fn != NULL, NULL);
	g_return_val_if_fail(g_main_context_is_owner(context), NULL);
	period_ms = MAX(period_ms, 1);
	tick_group *g = NULL;
	for (guint i = 0; tick_groups && i < tick_groups->len && g == NULL; i++) {
		tick_group *c = tick_groups->pdata[i];
		if (c->context == context && c->period_ms == period_ms)
			g = c;
	}
	if (g == NULL) {
		g = g_new0(tick_group, 1);
		g->context = context;
		g->period_ms = period_ms;
		g->ticks = g_ptr_array_new();
		g->timer = cardea_loop_grid_timer_new(period_ms);
		g_source_set_name(g->timer, "tick-group");
		g_source_set_callback(g->timer, tick_group_dispatch, g, NULL);
		g_source_attach(g->timer, context);
		if (tick_groups == NULL)
			tick_groups = g_ptr_array_new();
		g_ptr_array_add(tick_groups, g);
	}
	cardea_loop_tick *t = g_new0(cardea_loop_tick, 1);
	t->group = g;
	t->fn = fn;
	t->data = data;
	g_ptr_array_add(g->ticks, t);
	return t;
}

void cardea_loop_tick_remove(cardea_loop_tick *t) {
	if (t == NULL)
		return;
	tick_group *g = t->group;
	if (g->dispatching) {
		if (t->fn != NULL) {
			t->fn = NULL;
			g->dead++;
		}
		return;
	}
	g_ptr_array_remove(g->ticks, t);
	g_free(t);
	if (g->ticks->len == 0)
		tick_group_free(g);
}

guint cardea_loop_tick_sources(void) {
	return tick_groups ? tick_groups->len : 0;
}
