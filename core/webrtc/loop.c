#include "loop.h"
#include "relay.h"
#include "cardea/module.h"

static cardea_loop *loops;   /* owned array */
static int n_loops;
static __thread cardea_loop *current_loop;   /* set on each loop's own thread */

static gpointer loop_thread(gpointer data) {
	cardea_loop *l = data;
	current_loop = l;
	g_main_context_push_thread_default(l->context);
	g_main_loop_run(l->loop);
	/* Relay batches this thread still holds for other loops (relay.h). */
	cardea_relay_thread_flush();
	g_main_context_pop_thread_default(l->context);
	current_loop = NULL;
	return NULL;
}

void cardea_loops_start(int count) {
	if (count <= 0)
		count = (int)g_get_num_processors();
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
	CARDEA_LOG(CARDEA_LOG_INFO, "[loops] %d media event loop(s) started", count);
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
