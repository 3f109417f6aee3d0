/* The old selected socket after an ICE restart on new ports (ice.c).
 *
 * Why: a browser that moved (Chromium) may have selected a pair from its
 * new address to our OLD candidate before the restart was signalled (it
 * checks it with the old credentials, and the old session answered). Once
 * that port simply goes silent, it keeps sending there until its receive
 * timeout (about 2.5 s) marks the pair weak, and only then moves to the new
 * generation: seconds of black video (measured with Chromium 14x in
 * tests/integration/test_ice_restart_netns.py: 2.5-5 s in 1 run of 6). A
 * STUN error response other than 401/420/500/487 makes it drop the pair at
 * once instead (0.25-1.3 s there, 12 runs of 12), so for a few seconds the
 * old port answers every check signed with the old password with 400 Bad
 * Request (integrity-protected with that password: the browser checks it),
 * then closes.
 *
 * Thread: the ICE's loop (the GSource runs on its context). Owned by the
 * cardea_ice; freed by it or by its own timer. */
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <glib-unix.h>
#include <stun/stunagent.h>
#include "ice-tombstone.h"
#include "loop.h"
#include "cardea/module.h"

struct cardea_ice_tombstone {
	int fd;                         /* owned: a dup of the old socket */
	char *pwd;                      /* owned: the old local ICE password */
	GSource *io, *timer;            /* owned, attached */
	guint rejected;
	cardea_ice_tombstone **owner;   /* cleared when the timer frees us */
};

static bool validater(StunAgent *agent, StunMessage *message, uint8_t *username, uint16_t username_len,
		uint8_t **password, size_t *password_len, void *user_data) {
	cardea_ice_tombstone *t = user_data;
	*password = (uint8_t *)t->pwd;
	*password_len = strlen(t->pwd);
	return true;
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data) {
	cardea_ice_tombstone *t = data;
	/* Drain what is queued; a bounded number per wakeup. */
	for (int n = 0; n < 32; n++) {
		uint8_t in[1500], out[512];
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		ssize_t len = recvfrom(fd, in, sizeof(in), MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
		if (len <= 0)
			break;
		StunAgent agent;
		StunMessage req, resp;
		static const uint16_t known[] = { STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
			STUN_ATTRIBUTE_FINGERPRINT, STUN_ATTRIBUTE_PRIORITY, STUN_ATTRIBUTE_USE_CANDIDATE,
			STUN_ATTRIBUTE_ICE_CONTROLLED, STUN_ATTRIBUTE_ICE_CONTROLLING, 0 };
		stun_agent_init(&agent, known, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
		/* Only checks signed with the old password: nobody else learns anything here. */
		if (stun_agent_validate(&agent, &req, in, (size_t)len, validater, t) != STUN_VALIDATION_SUCCESS ||
				stun_message_get_class(&req) != STUN_REQUEST || stun_message_get_method(&req) != STUN_BINDING)
			continue;
		if (!stun_agent_init_error(&agent, &resp, out, sizeof(out), &req, STUN_ERROR_BAD_REQUEST))
			continue;
		size_t rlen = stun_agent_finish_message(&agent, &resp, (const uint8_t *)t->pwd, strlen(t->pwd));
		if (rlen > 0 && sendto(fd, out, rlen, 0, (struct sockaddr *)&from, fromlen) > 0)
			t->rejected++;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean on_expired(gpointer data) {
	cardea_ice_tombstone *t = data;
	if (t->owner)
		*t->owner = NULL;
	if (t->rejected > 0)
		CARDEA_LOG(CARDEA_LOG_INFO, "[ice] the port left by an ICE restart rejected %u stale check(s)", t->rejected);
	GSource *timer = t->timer;  /* the context keeps it alive while it dispatches */
	t->timer = NULL;
	cardea_ice_tombstone_free(t);
	g_source_unref(timer);
	return G_SOURCE_REMOVE;
}

cardea_ice_tombstone *cardea_ice_tombstone_new(GMainContext *context, int fd, const char *pwd, guint ms,
		cardea_ice_tombstone **owner) {
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (own < 0 || pwd == NULL)
		return NULL;
	cardea_ice_tombstone *t = g_new0(cardea_ice_tombstone, 1);
	t->fd = own;
	t->pwd = g_strdup(pwd);
	t->owner = owner;
	t->io = g_unix_fd_source_new(own, G_IO_IN);
	g_source_set_callback(t->io, (GSourceFunc)(void (*)(void))on_readable, t, NULL);
	g_source_attach(t->io, context);
	t->timer = g_timeout_source_new(ms);
	g_source_set_callback(t->timer, on_expired, t, NULL);
	g_source_attach(t->timer, context);
	cardea_loop_poll_resync();
	return t;
}

void cardea_ice_tombstone_free(cardea_ice_tombstone *t) {
	if (t == NULL)
		return;
	if (t->io) {
		g_source_destroy(t->io);
		g_source_unref(t->io);
	}
	if (t->timer) {
		g_source_destroy(t->timer);
		g_source_unref(t->timer);
	}
	close(t->fd);
	g_free(t->pwd);
	g_free(t);
	cardea_loop_poll_resync();
}
