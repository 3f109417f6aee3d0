/* cardea_ice_restart_new_ports with two agents in one process, on
 * 127.0.0.1: "gw" answers like the gateway (controlled), "cl" offers like a
 * browser (controlling) and restarts ICE on its own sockets, as Chromium
 * does. After the gateway's new-ports restart its candidates have new
 * ports, the old ones are closed (nothing answers there any more, which is
 * what keeps a browser from selecting the old candidate from its new
 * address) but for the old selected port, which rejects checks signed with
 * the old password with 400 for a few seconds (a browser then drops a stale
 * pair at once, ice-tombstone.c) and closes after that, the credentials
 * changed, and datagrams flow on a pair that uses a new port. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <glib.h>
#include <stun/stunagent.h>
#include "webrtc/ice.h"

typedef struct peer {
	cardea_ice *ice;
	struct peer *other;
	GPtrArray *candidates;   /* gathered since the last reset, SDP form */
	guint gathered;          /* gathering_done callbacks */
	cardea_ice_state state;
	gboolean failed;         /* went through CARDEA_ICE_FAILED at some point */
	guint datagrams;
	GByteArray *received;
} peer;

static void on_candidate(cardea_ice *ice, const char *candidate, void *data) {
	peer *p = data;
	g_ptr_array_add(p->candidates, g_strdup(candidate));
	if (p->other && p->other->ice)
		g_assert_true(cardea_ice_add_remote_candidate(p->other->ice, candidate));
}

static void on_gathered(cardea_ice *ice, void *data) {
	peer *p = data;
	p->gathered++;
	if (p->other && p->other->ice)
		cardea_ice_remote_gathering_done(p->other->ice);
}

static void on_state(cardea_ice *ice, cardea_ice_state state, void *data) {
	peer *p = data;
	p->state = state;
	if (state == CARDEA_ICE_FAILED)
		p->failed = TRUE;
}

static void on_receive(cardea_ice *ice, guint8 *buf, gsize len, void *data) {
	peer *p = data;
	g_byte_array_append(p->received, buf, (guint)len);
	p->datagrams++;
}

static const cardea_ice_callbacks callbacks = { on_candidate, on_gathered, on_state, on_receive };

static void peer_init(peer *p, GMainContext *ctx, gboolean controlling, char **addresses, guint port_min, guint port_max) {
	memset(p, 0, sizeof(*p));
	p->candidates = g_ptr_array_new_with_free_func(g_free);
	p->received = g_byte_array_new();
	cardea_ice_options o = { .controlling = controlling, .local_addresses = addresses, .keepalive_checks = TRUE,
		.port_min = port_min, .port_max = port_max };
	p->ice = cardea_ice_new(ctx, &o, &callbacks, p);
	g_assert_nonnull(p->ice);
}

static void peer_clear(peer *p) {
	cardea_ice_free(p->ice);
	g_ptr_array_free(p->candidates, TRUE);
	g_byte_array_free(p->received, TRUE);
}

typedef gboolean (*cond_fn)(peer *gw, peer *cl);

static gboolean wait_for(GMainContext *ctx, cond_fn done, peer *gw, peer *cl, int ms) {
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
	while (!done(gw, cl) && g_get_monotonic_time() < end)
		if (!g_main_context_iteration(ctx, FALSE))
			g_usleep(1000);
	return done(gw, cl);
}

static gboolean both_connected(peer *gw, peer *cl) {
	return gw->state == CARDEA_ICE_CONNECTED && cl->state == CARDEA_ICE_CONNECTED;
}

static gboolean both_received(peer *gw, peer *cl) {
	return gw->datagrams > 0 && cl->datagrams > 0;
}

static guint gathered_target;

static gboolean gw_gathered(peer *gw, peer *cl) {
	return gw->gathered >= gathered_target;
}

/* The port of a "candidate:F C udp PRIO ADDR PORT typ host" line. */
static guint candidate_port(const char *candidate) {
	char **f = g_strsplit(candidate, " ", -1);
	guint port = g_strv_length(f) > 5 ? (guint)g_ascii_strtoull(f[5], NULL, 10) : 0;
	g_strfreev(f);
	g_assert_cmpuint(port, >, 0);
	return port;
}

/* The local port of the selected pair in cardea_ice_info ("127.0.0.1:P [...] <-> ..."). */
static guint selected_local_port(cardea_ice *ice) {
	json_t *info = cardea_ice_info(ice);
	const char *sel = json_string_value(json_object_get(info, "selected-pair"));
	guint port = 0;
	if (sel)
		g_assert_cmpint(sscanf(sel, "127.0.0.1:%u ", &port), ==, 1);
	json_decref(info);
	return port;
}

/* The remote port of the selected pair ("... <-> 127.0.0.1:P [...]"). */
static guint selected_remote_port(cardea_ice *ice) {
	json_t *info = cardea_ice_info(ice);
	const char *sel = json_string_value(json_object_get(info, "selected-pair"));
	const char *arrow = sel ? strstr(sel, "<-> ") : NULL;
	guint port = 0;
	if (arrow)
		g_assert_cmpint(sscanf(arrow, "<-> 127.0.0.1:%u ", &port), ==, 1);
	json_decref(info);
	return port;
}

/* errno of binding a UDP socket to 127.0.0.1:port (0: it was free). */
static int bind_errno(guint port) {
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	g_assert_cmpint(fd, >=, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((guint16)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int err = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
	close(fd);
	return err;
}

static bool stun_key(StunAgent *agent, StunMessage *message, uint8_t *username, uint16_t username_len,
		uint8_t **password, size_t *password_len, void *user_data) {
	*password = user_data;
	*password_len = strlen(user_data);
	return true;
}

/* A connectivity check as a browser sends it from a new address to our
 * candidate on `port` (USERNAME "ours:theirs", signed with our `pwd`).
 * Returns 0 for a success response, the error code of an error response
 * (whose integrity must check out with `pwd`), -1 when nothing came within
 * 1 s. The ICE's loop (`ctx`) runs meanwhile. */
static int stale_check(GMainContext *ctx, guint port, const char *username, const char *pwd) {
	static const uint16_t known[] = { STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
		STUN_ATTRIBUTE_FINGERPRINT, STUN_ATTRIBUTE_ERROR_CODE, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, 0 };
	StunAgent agent;
	StunMessage req, resp;
	uint8_t buf[512], in[1500];
	stun_agent_init(&agent, known, STUN_COMPATIBILITY_RFC5389,
		STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
	g_assert_true(stun_agent_init_request(&agent, &req, buf, sizeof(buf), STUN_BINDING));
	g_assert_cmpint(stun_message_append_string(&req, STUN_ATTRIBUTE_USERNAME, username), ==, STUN_MESSAGE_RETURN_SUCCESS);
	g_assert_cmpint(stun_message_append32(&req, STUN_ATTRIBUTE_PRIORITY, 0x6e0001ff), ==, STUN_MESSAGE_RETURN_SUCCESS);
	g_assert_cmpint(stun_message_append64(&req, STUN_ATTRIBUTE_ICE_CONTROLLING, 42), ==, STUN_MESSAGE_RETURN_SUCCESS);
	size_t len = stun_agent_finish_message(&agent, &req, (const uint8_t *)pwd, strlen(pwd));
	g_assert_cmpuint(len, >, 0);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((guint16)port) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g_assert_cmpint(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)), ==, (ssize_t)len);
	int result = -1;
	gint64 end = g_get_monotonic_time() + G_USEC_PER_SEC;
	while (g_get_monotonic_time() < end) {
		ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
		if (n > 0) {
			g_assert_cmpint(stun_agent_validate(&agent, &resp, in, (size_t)n, stun_key, (void *)pwd), ==,
				STUN_VALIDATION_SUCCESS);
			if (stun_message_get_class(&resp) == STUN_RESPONSE) {
				result = 0;
			} else {
				g_assert_cmpint(stun_message_get_class(&resp), ==, STUN_ERROR);
				g_assert_cmpint(stun_message_find_error(&resp, &result), ==, STUN_MESSAGE_RETURN_SUCCESS);
			}
			break;
		}
		if (!g_main_context_iteration(ctx, FALSE))
			g_usleep(1000);
	}
	close(fd);
	return result;
}

static gboolean in_list(const GArray *ports, guint port) {
	for (guint i = 0; i < ports->len; i++)
		if (g_array_index(ports, guint, i) == port)
			return TRUE;
	return FALSE;
}

/* Both sides use a pair on one of these gw ports. A browser keeps its old
 * pair selected until a new one is nominated, so "connected" alone says
 * nothing after a restart. */
static const GArray *moved_to;

static gboolean moved(peer *gw, peer *cl) {
	return both_connected(gw, cl) && in_list(moved_to, selected_local_port(gw->ice)) &&
		in_list(moved_to, selected_remote_port(cl->ice));
}

/* The first session: cl's offer, gw answers; both gather and connect. */
static void first_session(GMainContext *ctx, peer *gw, peer *cl) {
	g_assert_true(cardea_ice_set_remote_credentials(gw->ice, cardea_ice_local_ufrag(cl->ice), cardea_ice_local_pwd(cl->ice)));
	g_assert_true(cardea_ice_set_remote_credentials(cl->ice, cardea_ice_local_ufrag(gw->ice), cardea_ice_local_pwd(gw->ice)));
	g_assert_true(cardea_ice_gather(cl->ice));
	g_assert_true(cardea_ice_gather(gw->ice));
	g_assert_true(wait_for(ctx, both_connected, gw, cl, 10000));
}

/* The browser restarts first (its offer), on its own sockets; then the
 * gateway restarts on new ones (`ufrag`/`pwd`, NULL = random) and learns
 * cl's candidates, which survive cl's restart. gw's new candidates trickle
 * to cl as they come (on_candidate); gw->candidates holds only those. */
static void restart_both(peer *gw, peer *cl, const char *ufrag, const char *pwd) {
	g_assert_true(cardea_ice_restart(cl->ice, NULL, NULL));
	g_ptr_array_set_size(gw->candidates, 0);
	gw->gathered = 0;
	g_assert_true(cardea_ice_restart_new_ports(gw->ice, ufrag, pwd));
	g_assert_true(cardea_ice_set_remote_credentials(gw->ice, cardea_ice_local_ufrag(cl->ice), cardea_ice_local_pwd(cl->ice)));
	g_assert_true(cardea_ice_set_remote_credentials(cl->ice, cardea_ice_local_ufrag(gw->ice), cardea_ice_local_pwd(gw->ice)));
	for (guint i = 0; i < cl->candidates->len; i++)
		g_assert_true(cardea_ice_add_remote_candidate(gw->ice, g_ptr_array_index(cl->candidates, i)));
	cardea_ice_remote_gathering_done(gw->ice);
}

static void exchange(GMainContext *ctx, peer *gw, peer *cl, const char *what) {
	gw->datagrams = cl->datagrams = 0;
	g_byte_array_set_size(gw->received, 0);
	g_byte_array_set_size(cl->received, 0);
	gsize n = strlen(what);
	g_assert_cmpint(cardea_ice_send(gw->ice, (const guint8 *)what, n), ==, (int)n);
	g_assert_cmpint(cardea_ice_send(cl->ice, (const guint8 *)what, n), ==, (int)n);
	g_assert_true(wait_for(ctx, both_received, gw, cl, 5000));
	g_assert_cmpmem(gw->received->data, n, what, n);
	g_assert_cmpmem(cl->received->data, n, what, n);
}

static void test_new_ports(void) {
	GMainContext *ctx = g_main_context_new();
	g_main_context_push_thread_default(ctx);
	char **addrs = cardea_ice_local_addresses("127.0.0.1", NULL, FALSE, TRUE);
	peer gw, cl;
	peer_init(&gw, ctx, FALSE, addrs, 0, 0);
	peer_init(&cl, ctx, TRUE, addrs, 0, 0);
	gw.other = &cl;
	cl.other = &gw;

	first_session(ctx, &gw, &cl);
	exchange(ctx, &gw, &cl, "before");
	g_assert_cmpuint(gw.candidates->len, >=, 1);
	GArray *old_ports = g_array_new(FALSE, FALSE, sizeof(guint));
	for (guint i = 0; i < gw.candidates->len; i++) {
		guint port = candidate_port(g_ptr_array_index(gw.candidates, i));
		g_array_append_val(old_ports, port);
		/* The check below can fail: the agent holds its port now. */
		g_assert_cmpint(bind_errno(port), ==, EADDRINUSE);
	}
	g_assert_true(in_list(old_ports, selected_local_port(gw.ice)));
	char *old_ufrag = g_strdup(cardea_ice_local_ufrag(gw.ice)), *old_pwd = g_strdup(cardea_ice_local_pwd(gw.ice));
	guint old_selected = selected_local_port(gw.ice);
	char *stale_user = g_strdup_printf("%s:%s", old_ufrag, cardea_ice_local_ufrag(cl.ice));
	/* The race: before the restart our old session answers a check from
	 * an address it never saw. */
	g_assert_cmpint(stale_check(ctx, old_selected, stale_user, old_pwd), ==, 0);

	restart_both(&gw, &cl, NULL, NULL);

	/* New credentials. */
	g_assert_cmpstr(cardea_ice_local_ufrag(gw.ice), !=, old_ufrag);
	g_assert_cmpstr(cardea_ice_local_pwd(gw.ice), !=, old_pwd);
	g_assert_cmpuint(strlen(cardea_ice_local_pwd(gw.ice)), >=, 22);

	/* Gathering again: candidates on new ports only, a second gathering_done. */
	gathered_target = 1;
	g_assert_true(wait_for(ctx, gw_gathered, &gw, &cl, 5000));
	g_assert_cmpuint(gw.candidates->len, >=, 1);
	GArray *new_ports = g_array_new(FALSE, FALSE, sizeof(guint));
	for (guint i = 0; i < gw.candidates->len; i++) {
		guint port = candidate_port(g_ptr_array_index(gw.candidates, i));
		g_assert_false(in_list(old_ports, port));
		g_array_append_val(new_ports, port);
	}

	/* Connected again, on a new gw port (the selected pair is the new
	 * stream's, seen from both sides), without a failure on the way. */
	moved_to = new_ports;
	g_assert_true(wait_for(ctx, moved, &gw, &cl, 10000));
	g_assert_false(gw.failed);
	g_assert_false(cl.failed);
	exchange(ctx, &gw, &cl, "after the restart");

	/* The old selected port rejects stale checks with 400 (signed with the
	 * old password), ignores anything else, and closes after a while; the
	 * other old ports are closed at once. */
	g_assert_cmpint(stale_check(ctx, old_selected, stale_user, old_pwd), ==, 400);
	g_assert_cmpint(stale_check(ctx, old_selected, stale_user, "not-the-password-at-all"), ==, -1);
	for (guint i = 0; i < old_ports->len; i++)
		if (g_array_index(old_ports, guint, i) != old_selected)
			g_assert_cmpint(bind_errno(g_array_index(old_ports, guint, i)), ==, 0);
	g_assert_cmpint(bind_errno(old_selected), ==, EADDRINUSE);
	gint64 closed_by = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;   /* ICE_TOMBSTONE_MS is 4 s */
	while (bind_errno(old_selected) != 0 && g_get_monotonic_time() < closed_by)
		if (!g_main_context_iteration(ctx, FALSE))
			g_usleep(1000);
	g_assert_cmpint(bind_errno(old_selected), ==, 0);
	g_assert_cmpint(stale_check(ctx, old_selected, stale_user, old_pwd), ==, -1);
	for (guint i = 0; i < new_ports->len; i++)
		g_assert_cmpint(bind_errno(g_array_index(new_ports, guint, i)), ==, EADDRINUSE);
	g_free(stale_user);

	json_t *info = cardea_ice_info(gw.ice);
	g_assert_cmpint(json_integer_value(json_object_get(info, "restarts")), ==, 1);
	g_assert_cmpstr(json_string_value(json_object_get(info, "state")), ==, "connected");
	json_t *locals = json_object_get(info, "local-candidates");
	g_assert_cmpuint(json_array_size(locals), ==, new_ports->len);
	size_t k;
	json_t *c;
	json_array_foreach(locals, k, c) {
		guint port = 0;
		g_assert_cmpint(sscanf(json_string_value(c), "127.0.0.1:%u ", &port), ==, 1);
		g_assert_true(in_list(new_ports, port));
	}
	json_decref(info);

	/* A second restart moves again (no reuse of the ports just left). */
	restart_both(&gw, &cl, "scnd", "0123456789abcdefghij+/");
	g_assert_cmpstr(cardea_ice_local_ufrag(gw.ice), ==, "scnd");
	g_assert_cmpstr(cardea_ice_local_pwd(gw.ice), ==, "0123456789abcdefghij+/");
	gathered_target = 1;
	g_assert_true(wait_for(ctx, gw_gathered, &gw, &cl, 5000));
	GArray *third_ports = g_array_new(FALSE, FALSE, sizeof(guint));
	for (guint i = 0; i < gw.candidates->len; i++) {
		guint port = candidate_port(g_ptr_array_index(gw.candidates, i));
		g_assert_false(in_list(new_ports, port));
		g_assert_false(in_list(old_ports, port));
		g_array_append_val(third_ports, port);
	}
	moved_to = third_ports;
	g_assert_true(wait_for(ctx, moved, &gw, &cl, 10000));
	exchange(ctx, &gw, &cl, "after the second restart");
	g_array_free(third_ports, TRUE);
	g_assert_false(gw.failed);

	g_array_free(old_ports, TRUE);
	g_array_free(new_ports, TRUE);
	g_free(old_ufrag);
	g_free(old_pwd);
	peer_clear(&gw);
	peer_clear(&cl);
	g_strfreev(addrs);
	g_main_context_pop_thread_default(ctx);
	g_main_context_unref(ctx);
}

/* Two free consecutive UDP ports on 127.0.0.1 (the first returned). */
static guint free_port_pair(void) {
	for (int tries = 0; tries < 200; tries++) {
		guint port = (guint)g_random_int_range(20000, 60000);
		if (bind_errno(port) == 0 && bind_errno(port + 1) == 0)
			return port;
	}
	g_assert_not_reached();
	return 0;
}

/* media.rtp_port_range with room for two sockets: the agent picks a
 * random start port in the range, so a restart that closed its socket
 * before binding the new one would land on the same port half the time,
 * and the browser would keep its stale pair. Every restart must move. */
static void test_narrow_range(void) {
	GMainContext *ctx = g_main_context_new();
	g_main_context_push_thread_default(ctx);
	char **addrs = cardea_ice_local_addresses("127.0.0.1", NULL, FALSE, TRUE);
	guint lo = free_port_pair();
	peer gw, cl;
	peer_init(&gw, ctx, FALSE, addrs, lo, lo + 1);
	peer_init(&cl, ctx, TRUE, addrs, 0, 0);
	gw.other = &cl;
	cl.other = &gw;
	first_session(ctx, &gw, &cl);
	guint port = selected_local_port(gw.ice);
	g_assert_true(port == lo || port == lo + 1);
	GArray *want = g_array_new(FALSE, FALSE, sizeof(guint));
	for (int i = 0; i < 8; i++) {
		restart_both(&gw, &cl, NULL, NULL);
		gathered_target = 1;
		g_assert_true(wait_for(ctx, gw_gathered, &gw, &cl, 5000));
		g_assert_cmpuint(gw.candidates->len, ==, 1);
		guint next = candidate_port(g_ptr_array_index(gw.candidates, 0));
		g_assert_cmpuint(next, !=, port);
		g_assert_true(next == lo || next == lo + 1);
		g_array_set_size(want, 0);
		g_array_append_val(want, next);
		moved_to = want;
		g_assert_true(wait_for(ctx, moved, &gw, &cl, 10000));
		exchange(ctx, &gw, &cl, "moved");
		port = next;
	}
	g_assert_false(gw.failed);
	g_array_free(want, TRUE);
	peer_clear(&gw);
	peer_clear(&cl);
	g_strfreev(addrs);
	g_main_context_pop_thread_default(ctx);
	g_main_context_unref(ctx);
}

/* A one-port range has no room for new ports: the restart falls back to
 * the old port (freed first) instead of failing, and media flows again. */
static void test_full_range(void) {
	GMainContext *ctx = g_main_context_new();
	g_main_context_push_thread_default(ctx);
	char **addrs = cardea_ice_local_addresses("127.0.0.1", NULL, FALSE, TRUE);
	guint only = free_port_pair();
	peer gw, cl;
	peer_init(&gw, ctx, FALSE, addrs, only, only);
	peer_init(&cl, ctx, TRUE, addrs, 0, 0);
	gw.other = &cl;
	cl.other = &gw;
	first_session(ctx, &gw, &cl);
	g_assert_cmpuint(selected_local_port(gw.ice), ==, only);
	char *old_ufrag = g_strdup(cardea_ice_local_ufrag(gw.ice));
	restart_both(&gw, &cl, NULL, NULL);
	g_assert_cmpstr(cardea_ice_local_ufrag(gw.ice), !=, old_ufrag);
	gathered_target = 1;
	g_assert_true(wait_for(ctx, gw_gathered, &gw, &cl, 5000));
	g_assert_cmpuint(gw.candidates->len, >=, 1);
	g_assert_cmpuint(candidate_port(g_ptr_array_index(gw.candidates, gw.candidates->len - 1)), ==, only);
	/* Connected on the new session: cl's checks with the new credentials got through. */
	g_assert_true(wait_for(ctx, both_connected, &gw, &cl, 10000));
	exchange(ctx, &gw, &cl, "same port");
	g_assert_false(gw.failed);
	g_free(old_ufrag);
	peer_clear(&gw);
	peer_clear(&cl);
	g_strfreev(addrs);
	g_main_context_pop_thread_default(ctx);
	g_main_context_unref(ctx);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ice/restart-new-ports", test_new_ports);
	g_test_add_func("/ice/restart-new-ports/narrow-range", test_narrow_range);
	g_test_add_func("/ice/restart-new-ports/full-range", test_full_range);
	return g_test_run();
}
