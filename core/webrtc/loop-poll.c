/* An epoll-backed poll function for the media loops (loop.h).
 *
 * GLib asks poll() about every fd of a context on every wake-up, and a media
 * loop holds one UDP socket per PeerConnection: with 300 PCs, each packet or
 * timer that wakes the loop costs 300 socket polls in the kernel (scenario d
 * of tests/bench: 320 wake-ups a second, poll() 9.4% of the gateway's CPU).
 * Here the fds live in an epoll set that changes only when GLib's array
 * does, and a wake-up costs what is ready.
 *
 * What epoll cannot see from the array: an fd closed and a new one opened
 * with the same number between two polls. The kernel drops a closed file's
 * registration, the array still holds that number, and the new socket
 * would never wake the loop. So the whole set is
 * registered again when the loop's own code creates or frees an ICE agent
 * (cardea_loop_poll_resync()), and once a second for closes inside libnice:
 * at worst such a socket is read a second late.
 *
 * Loop thread only: GLib calls a context's poll function from the thread
 * that iterates it, and the state is that thread's.
 */
#include "loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "cardea/module.h"

static gint resync_ms = 1000;   /* cardea_loop_poll_set_resync_ms() */

typedef struct fd_slot {
	gushort want;         /* events the current array asks for (0: none or not in it) */
	gushort registered;   /* events registered with epoll */
	gboolean in_set;      /* registered at all */
	gboolean refused;     /* epoll refused the fd (closed, or not pollable): reported as G_IO_NVAL */
	gint first;           /* first array index with this fd, -1 when not in the array */
} fd_slot;

typedef struct poll_state {
	int epfd;
	fd_slot *slots;       /* indexed by fd number */
	guint n_slots;
	GPollFD *last;        /* the array of the previous call (fd and events) */
	gint *next;           /* per array index: the next index with the same fd, -1 */
	guint n_last, n_alloc;
	struct epoll_event *events;
	guint n_refused;
	gint64 synced_at;     /* the last full registration */
	gboolean force;
} poll_state;

static __thread poll_state *state;

static fd_slot *slot(poll_state *s, gint fd) {
	if ((guint)fd >= s->n_slots) {
		guint n = MAX(s->n_slots * 2, (guint)fd + 64);
		s->slots = g_renew(fd_slot, s->slots, n);
		for (guint i = s->n_slots; i < n; i++)
			s->slots[i] = (fd_slot){ .first = -1 };
		s->n_slots = n;
	}
	return &s->slots[fd];
}

static gboolean array_changed(const poll_state *s, const GPollFD *fds, guint nfds) {
	if (nfds != s->n_last)
		return TRUE;
	for (guint i = 0; i < nfds; i++)
		if (fds[i].fd != s->last[i].fd || fds[i].events != s->last[i].events)
			return TRUE;
	return FALSE;
}

/* Registers fd for `events`, whatever epoll thinks of it now: MOD of an fd
 * whose file was closed and reopened gives ENOENT, ADD of one still there
 * EEXIST. */
static void register_fd(poll_state *s, gint fd, fd_slot *sl) {
	struct epoll_event ev = { .events = sl->want & (G_IO_IN | G_IO_PRI | G_IO_OUT), .data.fd = fd };
	int r = epoll_ctl(s->epfd, sl->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
	if (r < 0 && errno == ENOENT)
		r = epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
	else if (r < 0 && errno == EEXIST)
		r = epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev);
	sl->in_set = r == 0;
	sl->refused = r != 0;
	sl->registered = r == 0 ? sl->want : 0;
}

/* Brings the epoll set in line with the array; `full`: every fd again. */
static void sync_set(poll_state *s, const GPollFD *fds, guint nfds, gboolean full) {
	for (guint i = 0; i < s->n_last; i++)
		if (s->last[i].fd >= 0) {
			fd_slot *sl = slot(s, s->last[i].fd);
			sl->want = 0;
			sl->first = -1;
		}
	if (nfds > s->n_alloc || s->n_alloc == 0) {
		s->n_alloc = MAX(MAX(nfds, 1), s->n_alloc * 2);
		s->last = g_renew(GPollFD, s->last, s->n_alloc);
		s->next = g_renew(gint, s->next, s->n_alloc);
		s->events = g_renew(struct epoll_event, s->events, s->n_alloc);
	}
	for (guint i = nfds; i-- > 0;) {
		s->next[i] = -1;
		if (fds[i].fd < 0)
			continue;
		fd_slot *sl = slot(s, fds[i].fd);
		sl->want |= fds[i].events;
		s->next[i] = sl->first;
		sl->first = (gint)i;
	}
	/* Gone from the array: out of the set (an fd already closed has left it). */
	for (guint i = 0; i < s->n_last; i++) {
		gint fd = s->last[i].fd;
		if (fd < 0)
			continue;
		fd_slot *sl = slot(s, fd);
		if (sl->first < 0 && (sl->in_set || sl->refused)) {
			if (sl->in_set)
				epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
			sl->in_set = sl->refused = FALSE;
			sl->registered = 0;
		}
	}
	s->n_refused = 0;
	for (guint i = 0; i < nfds; i++) {
		gint fd = fds[i].fd;
		if (fd < 0)
			continue;
		fd_slot *sl = slot(s, fd);
		if (sl->first != (gint)i)   /* once per fd, at its first index */
			continue;
		if (full || !sl->in_set || sl->registered != sl->want)
			register_fd(s, fd, sl);
		if (sl->refused)
			s->n_refused++;
	}
	memcpy(s->last, fds, nfds * sizeof(*fds));
	s->n_last = nfds;
	if (full) {
		s->force = FALSE;
		s->synced_at = g_get_monotonic_time();
	}
}

static gint epoll_poll(GPollFD *fds, guint nfds, gint timeout) {
	poll_state *s = state;
	if (s == NULL) {
		s = g_new0(poll_state, 1);
		s->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (s->epfd < 0) {
			CARDEA_LOG(CARDEA_LOG_WARN, "[loops] epoll_create1: %s; this loop polls with poll()", g_strerror(errno));
			g_free(s);
			g_main_context_set_poll_func(g_main_context_get_thread_default(), NULL);
			return g_poll(fds, nfds, timeout);
		}
		s->force = TRUE;
		state = s;
	}
	gboolean full = s->force ||
		g_get_monotonic_time() - s->synced_at >= (gint64)g_atomic_int_get(&resync_ms) * 1000;
	if (full || array_changed(s, fds, nfds))
		sync_set(s, fds, nfds, full);
	/* As poll() does for a closed fd: report it at once. */
	int n = epoll_wait(s->epfd, s->events, (int)MAX(nfds, 1), s->n_refused ? 0 : timeout);
	if (n < 0)
		return -1;   /* errno as epoll_wait left it (EINTR) */
	gint ready = 0;
	for (guint i = 0; i < nfds; i++) {
		fds[i].revents = 0;
		if (s->n_refused && fds[i].fd >= 0 && slot(s, fds[i].fd)->refused) {
			fds[i].revents = G_IO_NVAL;
			ready++;
		}
	}
	for (int k = 0; k < n; k++) {
		gint fd = s->events[k].data.fd;
		if ((guint)fd >= s->n_slots)
			continue;
		for (gint i = s->slots[fd].first; i >= 0; i = s->next[i]) {
			gushort r = (gushort)(s->events[k].events & (fds[i].events | G_IO_ERR | G_IO_HUP));
			if (r != 0 && fds[i].revents == 0)
				ready++;
			fds[i].revents |= r;
		}
	}
	return ready;
}

void cardea_loop_poll_install(GMainContext *context) {
	const char *env = g_getenv("CARDEA_LOOP_EPOLL");
	if (env != NULL && strcmp(env, "0") == 0)
		return;
	g_main_context_set_poll_func(context, epoll_poll);
}

void cardea_loop_poll_set_resync_ms(guint ms) {
	g_atomic_int_set(&resync_ms, (gint)MAX(ms, 1));
}

void cardea_loop_poll_resync(void) {
	if (state != NULL)
		state->force = TRUE;
}

void cardea_loop_poll_free(void) {
	poll_state *s = state;
	if (s == NULL)
		return;
	close(s->epfd);
	g_free(s->slots);
	g_free(s->last);
	g_free(s->next);
	g_free(s->events);
	g_free(s);
	state = NULL;
}
