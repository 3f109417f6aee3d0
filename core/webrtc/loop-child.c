/* Child contexts: one GMainContext per ICE agent, run by its loop's thread
 * only when it has something to do (loop.h).
 *
 * Every wake-up of a GMainContext walks all of its sources twice (prepare,
 * check), taking a reference on each. libnice gives every agent three: its
 * socket and two timers. With all agents on the loop's context, a loop
 * holding 210 PCs walked 634 sources per wake-up, each a cache miss after
 * the fan-out in between had evicted them: GLib's main loop was 4.2% of the
 * gateway's CPU in scenario c of tests/bench (N=200).
 *
 * Here each agent lives on a context of its own, which one source on the
 * loop's context (the "mux") drives through GLib's embedding API: the
 * children's fds are in one epoll set that the mux polls, their next
 * timeouts in a heap that gives the mux its ready time, and a wake-up
 * iterates only the children that are ready. The children are created with
 * G_MAIN_CONTEXT_FLAGS_OWNERLESS_POLLING, so a source attached to one (or
 * destroyed, or re-timed) from anywhere signals its wake-up fd, which is in
 * the epoll set like its sockets: the child then runs and is re-armed.
 *
 * An fd closed and another opened with the same number is invisible to
 * epoll (the kernel drops the closed file's entry, the child's list still
 * holds the number). ice.c calls cardea_loop_poll_resync() after it opens
 * or closes sockets, which registers that child's fds again at the next
 * pass, and once a second (cardea_loop_poll_set_resync_ms) a pass registers
 * every child's.
 * Events carry the fd, not the child, and a table per loop maps fds to the
 * child that registered them last: an entry left behind by a closed number
 * then wakes at worst the wrong child, which finds nothing to do.
 *
 * Thread: everything here runs on the loop's own thread (the one that owns
 * the parent context); the counters are read from any thread.
 */
#include "loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "cardea/module.h"

#define EVENTS_PER_PASS 64

typedef struct child_mux child_mux;

typedef struct fd_reg {
	gint fd;                 /* first: the arrays are searched by it */
	gushort events;
} fd_reg;

struct cardea_loop_child {
	gint refs;
	GMainContext *context;   /* owned */
	child_mux *mux;          /* borrowed: lives while it has children */
	GPollFD *fds;            /* query buffer */
	gint fds_alloc;
	GArray *registered;      /* fd_reg this child registered, sorted by fd */
	GArray *scratch;         /* the next registered set, while it is built */
	gboolean force;          /* register every fd at the next arm */
	gint64 deadline;         /* next timeout, monotonic us; G_MAXINT64: none */
	gint heap_index;         /* -1: not in the heap */
	guint pass;              /* the mux pass that last collected it */
	gboolean queued;         /* in mux->queued */
	guint swept_up_to;       /* source ids marked may-recurse */
};

typedef struct mux_source {
	GSource base;
	child_mux *mux;
} mux_source;

struct child_mux {
	GSource *source;         /* borrowed from the parent context; NULL: the parent is gone */
	int epfd;
	GMainContext *parent;    /* borrowed */
	cardea_loop_child **owner;   /* fd -> the child that registered it last */
	guint n_owner;
	cardea_loop_child **heap;
	guint heap_len, heap_alloc;
	GPtrArray *children;     /* every child alive (borrowed) */
	GPtrArray *queued;       /* children to run at the next pass (ref held) */
	GPtrArray *batch;        /* reused by each pass */
	guint pass;
	gint64 synced_at;
	gboolean resync;         /* register every child's fds at the next pass */
};

static __thread child_mux *thread_mux;
static gint children_on = -1;   /* CARDEA_LOOP_CHILDREN=0: agents on the loop's context */
static guint64 n_iterations;     /* child runs, all loops */

/* ---- the deadline heap ---- */

static void heap_set(child_mux *m, guint i, cardea_loop_child *c) {
	m->heap[i] = c;
	c->heap_index = (gint)i;
}

static void heap_up(child_mux *m, guint i) {
	cardea_loop_child *c = m->heap[i];
	while (i > 0) {
		guint parent = (i - 1) / 2;
		if (m->heap[parent]->deadline <= c->deadline)
			break;
		heap_set(m, i, m->heap[parent]);
		i = parent;
	}
	heap_set(m, i, c);
}

static void heap_down(child_mux *m, guint i) {
	cardea_loop_child *c = m->heap[i];
	for (;;) {
		guint l = 2 * i + 1, smallest = i;
		gint64 best = c->deadline;
		if (l < m->heap_len && m->heap[l]->deadline < best)
			smallest = l, best = m->heap[l]->deadline;
		if (l + 1 < m->heap_len && m->heap[l + 1]->deadline < best)
			smallest = l + 1;
		if (smallest == i)
			break;
		heap_set(m, i, m->heap[smallest]);
		i = smallest;
	}
	heap_set(m, i, c);
}

static void heap_remove(child_mux *m, cardea_loop_child *c) {
	if (c->heap_index < 0)
		return;
	guint i = (guint)c->heap_index;
	c->heap_index = -1;
	cardea_loop_child *last = m->heap[--m->heap_len];
	if (i == m->heap_len)
		return;
	heap_set(m, i, last);
	heap_up(m, i);
	heap_down(m, (guint)last->heap_index);
}

static void heap_update(child_mux *m, cardea_loop_child *c, gint64 deadline) {
	if (deadline == G_MAXINT64) {
		heap_remove(m, c);
		c->deadline = deadline;
		return;
	}
	c->deadline = deadline;
	if (c->heap_index < 0) {
		if (m->heap_len == m->heap_alloc) {
			m->heap_alloc = MAX(16, m->heap_alloc * 2);
			m->heap = g_renew(cardea_loop_child *, m->heap, m->heap_alloc);
		}
		heap_set(m, m->heap_len++, c);
	}
	heap_up(m, (guint)c->heap_index);
	heap_down(m, (guint)c->heap_index);
}

static void mux_update_ready_time(child_mux *m) {
	if (m->source == NULL)
		return;
	gint64 t = -1;
	if (m->queued->len > 0 || m->resync)
		t = 0;
	else if (m->children->len > 0)   /* the periodic registration pass, or a child's timeout before it */
		t = MIN(m->synced_at + cardea_loop_poll_resync_us(), m->heap_len > 0 ? m->heap[0]->deadline : G_MAXINT64);
	if (g_source_get_ready_time(m->source) != t)
		g_source_set_ready_time(m->source, t);
}

static void mux_free(child_mux *m) {
	close(m->epfd);
	g_free(m->owner);
	g_free(m->heap);
	g_ptr_array_unref(m->children);
	g_ptr_array_unref(m->queued);
	g_ptr_array_unref(m->batch);
	g_free(m);
}

/* ---- fd registration ---- */

static cardea_loop_child **owner_slot(child_mux *m, gint fd) {
	if ((guint)fd >= m->n_owner) {
		guint n = MAX(m->n_owner * 2, (guint)fd + 64);
		m->owner = g_renew(cardea_loop_child *, m->owner, n);
		memset(m->owner + m->n_owner, 0, (n - m->n_owner) * sizeof(*m->owner));
		m->n_owner = n;
	}
	return &m->owner[fd];
}

/* Registers fd for `events` whatever epoll knows of it: MOD of a number
 * whose file was closed and reopened gives ENOENT, ADD of one still there
 * EEXIST. */
static void fd_register(child_mux *m, cardea_loop_child *c, gint fd, gushort events) {
	struct epoll_event ev = { .events = events & (G_IO_IN | G_IO_PRI | G_IO_OUT), .data.fd = fd };
	int r = epoll_ctl(m->epfd, EPOLL_CTL_MOD, fd, &ev);
	if (r < 0 && errno == ENOENT)
		r = epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev);
	*owner_slot(m, fd) = r == 0 ? c : NULL;
}

static void fd_unregister(child_mux *m, cardea_loop_child *c, gint fd) {
	cardea_loop_child **o = owner_slot(m, fd);
	if (*o != c)
		return;   /* closed, and the number is another child's now */
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, fd, NULL);
	*o = NULL;
}

static gint cmp_fd(gconstpointer a, gconstpointer b) {
	gint x = *(const gint *)a, y = *(const gint *)b;
	return (x > y) - (x < y);
}

static fd_reg *find_fd(GArray *a, gint fd) {
	return bsearch(&fd, a->data, a->len, sizeof(fd_reg), cmp_fd);
}

/* GLib takes a dispatching source's fds out of the poll set and puts them
 * back after unless it may recurse, writing the context's wake-up fd each
 * time: a wake-up of the child per packet. Nothing iterates a child
 * recursively, so every source of one may recurse. Source ids come in
 * sequence: a probe gives the next one. */
static void sweep_sources(cardea_loop_child *c) {
	GSource *probe = g_idle_source_new();
	guint top = g_source_attach(probe, c->context);
	g_source_destroy(probe);
	g_source_unref(probe);
	for (guint id = c->swept_up_to + 1; id < top; id++) {
		GSource *src = g_main_context_find_source_by_id(c->context, id);
		if (src != NULL)
			g_source_set_can_recurse(src, TRUE);
	}
	c->swept_up_to = top;
}

static gint query(cardea_loop_child *c, gint priority, gint *timeout) {
	gint n;
	while ((n = g_main_context_query(c->context, priority, timeout, c->fds, c->fds_alloc)) > c->fds_alloc) {
		c->fds_alloc = n;
		c->fds = g_renew(GPollFD, c->fds, n);
	}
	return n;
}

/* Prepares and queries the child (acquired by the caller): its fds into
 * the epoll set, its next timeout into the heap. */
static void child_arm(cardea_loop_child *c) {
	child_mux *m = c->mux;
	gint priority = 0, timeout = -1;
	gboolean ready = g_main_context_prepare(c->context, &priority);
	gint n = query(c, priority, &timeout);
	if (ready)
		timeout = 0;
	heap_update(m, c, timeout < 0 ? G_MAXINT64 : g_get_monotonic_time() + (gint64)timeout * 1000);

	/* A context's array holds an fd once per source that polls it. */
	GArray *next = c->scratch;
	g_array_set_size(next, 0);
	for (gint i = 0; i < n; i++) {
		if (c->fds[i].fd < 0)
			continue;
		fd_reg *r = NULL;
		for (guint j = 0; j < next->len && r == NULL; j++)
			if (g_array_index(next, fd_reg, j).fd == c->fds[i].fd)
				r = &g_array_index(next, fd_reg, j);
		if (r != NULL)
			r->events |= c->fds[i].events;
		else
			g_array_append_val(next, ((fd_reg){ .fd = c->fds[i].fd, .events = c->fds[i].events }));
	}
	g_array_sort(next, cmp_fd);
	gboolean grew = FALSE;
	for (guint i = 0; i < next->len; i++) {
		fd_reg *r = &g_array_index(next, fd_reg, i);
		fd_reg *had = find_fd(c->registered, r->fd);
		if (c->force || had == NULL || had->events != r->events || *owner_slot(m, r->fd) != c)
			fd_register(m, c, r->fd, r->events);
		grew |= had == NULL;
	}
	for (guint i = 0; i < c->registered->len; i++) {
		gint fd = g_array_index(c->registered, fd_reg, i).fd;
		if (find_fd(next, fd) == NULL)
			fd_unregister(m, c, fd);
	}
	c->scratch = c->registered;
	c->registered = next;
	c->force = FALSE;
	if (grew)
		sweep_sources(c);
}

/* One iteration of the child: what is ready runs, then it is re-armed. */
static void child_run(cardea_loop_child *c) {
	if (!g_main_context_acquire(c->context))
		return;   /* another thread iterates it: not ours to run */
	__atomic_fetch_add(&n_iterations, 1, __ATOMIC_RELAXED);
	gint priority = 0, timeout = -1;
	g_main_context_prepare(c->context, &priority);
	gint n = query(c, priority, &timeout);
	/* A poll of this child's few fds: revents as they are now, whatever
	 * the epoll set knew. */
	if (n > 0 && g_poll(c->fds, (guint)n, 0) < 0)
		for (gint i = 0; i < n; i++)
			c->fds[i].revents = 0;
	if (g_main_context_check(c->context, priority, c->fds, n))
		g_main_context_dispatch(c->context);
	child_arm(c);
	g_main_context_release(c->context);
}

static void child_free(cardea_loop_child *c) {
	child_mux *m = c->mux;
	heap_remove(m, c);
	for (guint i = 0; i < c->registered->len; i++)
		fd_unregister(m, c, g_array_index(c->registered, fd_reg, i).fd);
	g_array_unref(c->registered);
	g_array_unref(c->scratch);
	g_ptr_array_remove_fast(m->children, c);
	g_main_context_unref(c->context);
	g_free(c->fds);
	g_free(c);
	if (m->source == NULL && m->children->len == 0)
		mux_free(m);   /* the loop stopped before its last child went */
	else
		mux_update_ready_time(m);
}

/* ---- the mux source ---- */

static void collect(child_mux *m, cardea_loop_child *c) {
	if (c->pass == m->pass)
		return;
	c->pass = m->pass;
	c->refs++;
	g_ptr_array_add(m->batch, c);
}

static gboolean mux_prepare(GSource *src, gint *timeout) {
	child_mux *m = ((mux_source *)src)->mux;
	*timeout = -1;
	return m != NULL && (m->queued->len > 0 || m->resync);
}

static gboolean mux_dispatch(GSource *src, GSourceFunc cb, gpointer data) {
	(void)cb;
	(void)data;
	child_mux *m = ((mux_source *)src)->mux;
	if (m == NULL)
		return G_SOURCE_REMOVE;
	m->pass++;
	struct epoll_event ev[EVENTS_PER_PASS];
	int n = epoll_wait(m->epfd, ev, EVENTS_PER_PASS, 0);
	for (int i = 0; i < n; i++) {
		gint fd = ev[i].data.fd;
		cardea_loop_child *c = (guint)fd < m->n_owner ? m->owner[fd] : NULL;
		if (c != NULL)
			collect(m, c);
	}
	gint64 now = g_get_monotonic_time();
	while (m->heap_len > 0 && m->heap[0]->deadline <= now) {
		cardea_loop_child *c = m->heap[0];
		heap_remove(m, c);
		c->deadline = G_MAXINT64;
		collect(m, c);
	}
	for (guint i = 0; i < m->queued->len; i++) {
		cardea_loop_child *c = m->queued->pdata[i];
		c->queued = FALSE;
		collect(m, c);
		cardea_loop_child_unref(c);   /* the queue's; collect took one */
	}
	g_ptr_array_set_size(m->queued, 0);
	if (m->resync || now - m->synced_at >= cardea_loop_poll_resync_us()) {
		/* Numbers closed and reopened: register them all again. */
		m->resync = FALSE;
		m->synced_at = now;
		for (guint i = 0; i < m->children->len; i++) {
			cardea_loop_child *c = m->children->pdata[i];
			for (guint j = 0; j < c->registered->len; j++) {
				fd_reg *r = &g_array_index(c->registered, fd_reg, j);
				cardea_loop_child **o = owner_slot(m, r->fd);
				if (*o == c || *o == NULL)
					fd_register(m, c, r->fd, r->events);
			}
		}
	}
	/* Children collected above may free others while they run: each holds
	 * a reference until the pass is over. */
	for (guint i = 0; i < m->batch->len; i++)
		child_run(m->batch->pdata[i]);
	for (guint i = 0; i < m->batch->len; i++)
		cardea_loop_child_unref(m->batch->pdata[i]);
	g_ptr_array_set_size(m->batch, 0);
	mux_update_ready_time(m);
	return G_SOURCE_CONTINUE;
}

static void mux_finalize(GSource *src) {
	child_mux *m = ((mux_source *)src)->mux;
	if (m == NULL)
		return;
	if (thread_mux == m)
		thread_mux = NULL;
	m->source = NULL;
	for (guint i = 0; i < m->queued->len; i++) {
		cardea_loop_child *c = m->queued->pdata[i];
		c->queued = FALSE;
		cardea_loop_child_unref(c);
	}
	g_ptr_array_set_size(m->queued, 0);
	/* Children still alive keep the state until the last one goes (child_free). */
	if (m->children->len == 0)
		mux_free(m);
}

static GSourceFuncs mux_funcs = {
	.prepare = mux_prepare,
	.dispatch = mux_dispatch,
	.finalize = mux_finalize,
};

static child_mux *mux_for(GMainContext *parent) {
	if (thread_mux != NULL)
		return thread_mux->parent == parent ? thread_mux : NULL;
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		CARDEA_LOG(CARDEA_LOG_WARN, "[loops] epoll_create1: %s; ICE agents stay on the loop's context",
			g_strerror(errno));
		return NULL;
	}
	child_mux *m = g_new0(child_mux, 1);
	m->source = g_source_new(&mux_funcs, sizeof(mux_source));
	((mux_source *)m->source)->mux = m;
	m->epfd = epfd;
	m->parent = parent;
	m->children = g_ptr_array_new();
	m->queued = g_ptr_array_new();
	m->batch = g_ptr_array_new();
	m->synced_at = g_get_monotonic_time();
	g_source_set_name(m->source, "child-contexts");
	/* As urgent as the sockets it stands for (libnice's default). */
	g_source_set_priority(m->source, G_PRIORITY_DEFAULT);
	g_source_add_unix_fd(m->source, epfd, G_IO_IN);
	g_source_attach(m->source, parent);
	g_source_unref(m->source);   /* the context holds it; finalize comes with the context */
	thread_mux = m;
	return m;
}

/* ---- API (loop.h) ---- */

static gboolean children_enabled(void) {
	if (g_atomic_int_get(&children_on) < 0) {
		const char *env = g_getenv("CARDEA_LOOP_CHILDREN");
		g_atomic_int_set(&children_on, env != NULL && strcmp(env, "0") == 0 ? 0 : 1);
	}
	return g_atomic_int_get(&children_on) > 0;
}

cardea_loop_child *cardea_loop_child_new(GMainContext *parent) {
#if GLIB_CHECK_VERSION(2, 72, 0)
	cardea_loop *l = cardea_loop_current();
	if (parent == NULL || l == NULL || l->context != parent || !children_enabled())
		return NULL;
	child_mux *m = mux_for(parent);
	if (m == NULL)
		return NULL;
	cardea_loop_child *c = g_new0(cardea_loop_child, 1);
	c->refs = 1;
	c->mux = m;
	c->context = g_main_context_new_with_flags(G_MAIN_CONTEXT_FLAGS_OWNERLESS_POLLING);
	c->registered = g_array_new(FALSE, FALSE, sizeof(fd_reg));
	c->scratch = g_array_new(FALSE, FALSE, sizeof(fd_reg));
	c->deadline = G_MAXINT64;
	c->heap_index = -1;
	g_ptr_array_add(m->children, c);
	cardea_loop_child_resync(c);
	return c;
#else
	(void)parent;
	return NULL;
#endif
}

GMainContext *cardea_loop_child_context(const cardea_loop_child *c) {
	return c->context;
}

cardea_loop_child *cardea_loop_child_ref(cardea_loop_child *c) {
	c->refs++;
	return c;
}

void cardea_loop_child_unref(cardea_loop_child *c) {
	if (c != NULL && --c->refs == 0)
		child_free(c);
}

void cardea_loop_child_resync(cardea_loop_child *c) {
	child_mux *m = c ? c->mux : NULL;
	if (m == NULL || m->source == NULL)
		return;
	c->force = TRUE;
	if (!c->queued) {
		c->queued = TRUE;
		c->refs++;
		g_ptr_array_add(m->queued, c);
		mux_update_ready_time(m);
	}
}

void cardea_loop_children_resync(void) {
	child_mux *m = thread_mux;
	if (m == NULL)
		return;
	m->resync = TRUE;
	mux_update_ready_time(m);
}

guint cardea_loop_children(void) {
	return thread_mux ? thread_mux->children->len : 0;
}

guint64 cardea_loop_child_iterations(void) {
	return __atomic_load_n(&n_iterations, __ATOMIC_RELAXED);
}
