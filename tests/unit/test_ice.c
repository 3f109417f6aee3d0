/* Two ICE agents in one process, on 127.0.0.1: trickled candidates (also
 * before the credentials), connection, datagrams both ways, ICE restart,
 * address filtering, and a peer that never answers. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <glib.h>
#include "webrtc/ice.h"

typedef struct peer {
	cardea_ice *ice;
	struct peer *other;
	GPtrArray *candidates;   /* gathered, in SDP form */
	gboolean gathered;
	cardea_ice_state state;
	GByteArray *received;
	guint datagrams;
} peer;

static void on_candidate(cardea_ice *ice, const char *candidate, void *data) {
	peer *p = data;
	g_assert_true(g_str_has_prefix(candidate, "candidate:"));
	g_ptr_array_add(p->candidates, g_strdup(candidate));
	/* Trickle it to the other side at once. */
	if (p->other && p->other->ice)
		g_assert_true(cardea_ice_add_remote_candidate(p->other->ice, candidate));
}

static void on_gathered(cardea_ice *ice, void *data) {
	peer *p = data;
	p->gathered = TRUE;
	if (p->other && p->other->ice)
		cardea_ice_remote_gathering_done(p->other->ice);
}

static void on_state(cardea_ice *ice, cardea_ice_state state, void *data) {
	((peer *)data)->state = state;
}

static void on_receive(cardea_ice *ice, guint8 *buf, gsize len, void *data) {
	peer *p = data;
	g_byte_array_append(p->received, buf, (guint)len);
	p->datagrams++;
}

static const cardea_ice_callbacks callbacks = { on_candidate, on_gathered, on_state, on_receive };

static void peer_init(peer *p, GMainContext *ctx, gboolean controlling, char **addresses) {
	memset(p, 0, sizeof(*p));
	p->candidates = g_ptr_array_new_with_free_func(g_free);
	p->received = g_byte_array_new();
	cardea_ice_options o = { .controlling = controlling, .local_addresses = addresses };
	p->ice = cardea_ice_new(ctx, &o, &callbacks, p);
	g_assert_nonnull(p->ice);
	g_assert_nonnull(cardea_ice_local_ufrag(p->ice));
	g_assert_cmpuint(strlen(cardea_ice_local_pwd(p->ice)), >=, 22);
}

static void peer_clear(peer *p) {
	cardea_ice_free(p->ice);
	g_ptr_array_free(p->candidates, TRUE);
	g_byte_array_free(p->received, TRUE);
}

/* a (controlling) and b, each trickling its candidates to the other. */
static void peers_init(peer *a, peer *b, GMainContext *ctx, char **addresses) {
	peer_init(a, ctx, TRUE, addresses);
	peer_init(b, ctx, FALSE, addresses);
	a->other = b;
	b->other = a;
}

/* Frees both peers, the address list and the test's context. */
static void peers_clear(peer *a, peer *b, char **addresses, GMainContext *ctx) {
	peer_clear(a);
	peer_clear(b);
	g_strfreev(addresses);
	g_main_context_pop_thread_default(ctx);
	g_main_context_unref(ctx);
}

/* Datagram sockets of this process whose IP_MTU_DISCOVER mode is `mode`. */
static guint sockets_with_pmtudisc(int mode) {
	guint n = 0;
	for (int fd = 3; fd < 1024; fd++) {
		int type = 0, v = -1;
		socklen_t l = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0 || type != SOCK_DGRAM)
			continue;
		l = sizeof(v);
		if (getsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, &l) == 0 && v == mode)
			n++;
	}
	return n;
}

static gboolean wait_for(GMainContext *ctx, gboolean (*done)(peer *, peer *), peer *a, peer *b, int ms) {
	gint64 end = g_get_monotonic_time() + ms * 1000;
	while (!done(a, b) && g_get_monotonic_time() < end)
		if (!g_main_context_iteration(ctx, FALSE))
			g_usleep(1000);
	return done(a, b);
}

static gboolean both_connected(peer *a, peer *b) {
	return a->state == CARDEA_ICE_CONNECTED && b->state == CARDEA_ICE_CONNECTED;
}

static gboolean both_received(peer *a, peer *b) {
	return a->datagrams > 0 && b->datagrams > 0;
}

static char **loopback_only(void) {
	return cardea_ice_local_addresses("127.0.0.1", NULL, FALSE, TRUE);
}

static void connect_pair(GMainContext *ctx, peer *a, peer *b) {
	/* b learns a's candidates before a's credentials: they must be kept. */
	g_assert_true(cardea_ice_set_remote_credentials(a->ice, cardea_ice_local_ufrag(b->ice), cardea_ice_local_pwd(b->ice)));
	g_assert_true(cardea_ice_gather(a->ice));
	g_assert_true(cardea_ice_gather(b->ice));
	while (!a->gathered)
		g_main_context_iteration(ctx, TRUE);
	g_assert_true(cardea_ice_set_remote_credentials(b->ice, cardea_ice_local_ufrag(a->ice), cardea_ice_local_pwd(a->ice)));
	g_assert_true(wait_for(ctx, both_connected, a, b, 10000));
}

static void test_connect_and_send(void) {
	GMainContext *ctx = g_main_context_new();
	g_main_context_push_thread_default(ctx);
	char **addrs = loopback_only();
	g_assert_cmpstr(addrs[0], ==, "127.0.0.1");
	peer a, b;
	peers_init(&a, &b, ctx, addrs);
	/* Not connected yet: sending fails instead of queueing. */
	g_assert_cmpint(cardea_ice_send(a.ice, (const guint8 *)"x", 1), ==, -1);
	connect_pair(ctx, &a, &b);
	g_assert_cmpuint(a.candidates->len, >=, 1);
	g_assert_nonnull(strstr(g_ptr_array_index(a.candidates, 0), "127.0.0.1"));

	/* The selected socket gets DF (IP ID 0 instead of the kernel's hashed
	 * ID table) when the first packet goes out on it, not before. */
	g_assert_cmpuint(sockets_with_pmtudisc(IP_PMTUDISC_PROBE), ==, 0);
	g_assert_cmpint(cardea_ice_send(a.ice, (const guint8 *)"hello from a", 12), ==, 12);
	g_assert_cmpint(cardea_ice_send(b.ice, (const guint8 *)"hello from b", 12), ==, 12);
	g_assert_true(wait_for(ctx, both_received, &a, &b, 5000));
	g_assert_cmpuint(sockets_with_pmtudisc(IP_PMTUDISC_PROBE), ==, 2);
	g_assert_cmpmem(b.received->data, b.received->len, "hello from a", 12);
	g_assert_cmpmem(a.received->data, a.received->len, "hello from b", 12);

	json_t *info = cardea_ice_info(a.ice);
	g_assert_cmpstr(json_string_value(json_object_get(info, "state")), ==, "connected");
	g_assert_nonnull(strstr(json_string_value(json_object_get(info, "selected-pair")), "127.0.0.1"));
	g_assert_cmpuint(json_array_size(json_object_get(info, "remote-candidates")), >=, 1);
	json_decref(info);

	/* ICE restart gives new credentials. */
	char *old_ufrag = g_strdup(cardea_ice_local_ufrag(a.ice));
	g_assert_true(cardea_ice_restart(a.ice, NULL, NULL));
	g_assert_cmpstr(old_ufrag, !=, cardea_ice_local_ufrag(a.ice));
	g_free(old_ufrag);

	peers_clear(&a, &b, addrs, ctx);
}

static void test_bad_input(void) {
	GMainContext *ctx = g_main_context_new();
	char **addrs = loopback_only();
	peer a;
	peer_init(&a, ctx, TRUE, addrs);
	g_assert_false(cardea_ice_add_remote_candidate(a.ice, "candidate:garbage"));
	g_assert_false(cardea_ice_add_remote_candidate(a.ice, ""));
	g_assert_false(cardea_ice_add_remote_candidate(a.ice, NULL));
	g_assert_false(cardea_ice_set_remote_credentials(a.ice, "", "pwd"));
	g_assert_false(cardea_ice_set_remote_credentials(a.ice, NULL, NULL));
	/* A well-formed candidate nobody answers at: accepted, never connects. */
	g_assert_true(cardea_ice_add_remote_candidate(a.ice, "a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host"));
	/* TCP needs a tcptype pair (libnice would pass GLib a NULL without one). */
	g_assert_true(cardea_ice_add_remote_candidate(a.ice,
		"candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0"));
	g_assert_true(cardea_ice_add_remote_candidate(a.ice,
		"candidate:3 1 TCP 1518280447 127.0.0.1 9 typ srflx raddr 127.0.0.1 rport 9 tcptype passive"));
	g_assert_false(cardea_ice_add_remote_candidate(a.ice,
		"candidate:2 1 tcp 1518280447 192.0.2.2 9 typ host tcptypevcae ti"));
	g_assert_false(cardea_ice_add_remote_candidate(a.ice, "candidate:2 1 tcp 1518280447 192.0.2.2 9 typ host"));
	g_assert_false(cardea_ice_add_remote_candidate(a.ice,
		"candidate:2 1 tcp 1518280447 192.0.2.2 9 typ host tcptype sideways"));
	peer_clear(&a);
	g_strfreev(addrs);
	g_main_context_unref(ctx);
}

/* CARDEA_ICE_DF=0 (the A/B benchmarks' baseline) leaves the socket as
 * libnice made it. */
static void test_dont_fragment_off(void) {
	GMainContext *ctx = g_main_context_new();
	g_main_context_push_thread_default(ctx);
	g_setenv("CARDEA_ICE_DF", "0", TRUE);
	char **addrs = loopback_only();
	peer a, b;
	peers_init(&a, &b, ctx, addrs);
	connect_pair(ctx, &a, &b);
	g_assert_cmpint(cardea_ice_send(a.ice, (const guint8 *)"a", 1), ==, 1);
	g_assert_cmpint(cardea_ice_send(b.ice, (const guint8 *)"b", 1), ==, 1);
	g_assert_true(wait_for(ctx, both_received, &a, &b, 5000));
	g_assert_cmpuint(sockets_with_pmtudisc(IP_PMTUDISC_PROBE), ==, 0);
	g_unsetenv("CARDEA_ICE_DF");
	peers_clear(&a, &b, addrs, ctx);
}

/* ICE restart with chosen credentials: both sides restart, exchange the new
 * credentials and candidates, and datagrams flow again. */
static void test_restart(void) {
	GMainContext *ctx = g_main_context_new();
	g_main_context_push_thread_default(ctx);
	char **addrs = loopback_only();
	peer a, b;
	peers_init(&a, &b, ctx, addrs);
	connect_pair(ctx, &a, &b);
	g_assert_true(cardea_ice_restart(b.ice, "rstB", "0123456789abcdefghij+/")); /* 22 chars: the minimum */
	g_assert_cmpstr(cardea_ice_local_ufrag(b.ice), ==, "rstB");
	g_assert_cmpstr(cardea_ice_local_pwd(b.ice), ==, "0123456789abcdefghij+/");
	g_assert_true(cardea_ice_restart(a.ice, NULL, NULL));
	g_assert_true(cardea_ice_set_remote_credentials(a.ice, "rstB", "0123456789abcdefghij+/"));
	g_assert_true(cardea_ice_set_remote_credentials(b.ice, cardea_ice_local_ufrag(a.ice), cardea_ice_local_pwd(a.ice)));
	/* Local candidates survive a restart: re-announce them to the other side. */
	for (guint i = 0; i < a.candidates->len; i++)
		g_assert_true(cardea_ice_add_remote_candidate(b.ice, g_ptr_array_index(a.candidates, i)));
	for (guint i = 0; i < b.candidates->len; i++)
		g_assert_true(cardea_ice_add_remote_candidate(a.ice, g_ptr_array_index(b.candidates, i)));
	cardea_ice_remote_gathering_done(a.ice);
	cardea_ice_remote_gathering_done(b.ice);
	g_assert_true(wait_for(ctx, both_connected, &a, &b, 10000));
	a.datagrams = b.datagrams = 0;
	g_assert_cmpint(cardea_ice_send(a.ice, (const guint8 *)"again", 5), ==, 5);
	g_assert_cmpint(cardea_ice_send(b.ice, (const guint8 *)"again", 5), ==, 5);
	g_assert_true(wait_for(ctx, both_received, &a, &b, 5000));
	json_t *info = cardea_ice_info(b.ice);
	g_assert_cmpint(json_integer_value(json_object_get(info, "restarts")), ==, 1);
	json_decref(info);
	peers_clear(&a, &b, addrs, ctx);
}

static gboolean gathered(peer *a, peer *b) {
	return a->gathered;
}

/* nat_1_1_mapping: host candidates carry the public IP of their family (and
 * no raddr), the agent keeps its own address. */
static void test_public_ips(void) {
	GMainContext *ctx = g_main_context_new();
	g_main_context_push_thread_default(ctx);
	char **addrs = loopback_only();
	char *ips[] = { "2001:db8::7", "192.0.2.7", NULL };
	peer a;
	memset(&a, 0, sizeof(a));
	a.candidates = g_ptr_array_new_with_free_func(g_free);
	a.received = g_byte_array_new();
	cardea_ice_options o = { .local_addresses = addrs, .public_ips = ips, .ufrag = "fixd", .pwd = "fixedfixedfixedfixed22" };
	a.ice = cardea_ice_new(ctx, &o, &callbacks, &a);
	g_assert_nonnull(a.ice);
	g_assert_cmpstr(cardea_ice_local_ufrag(a.ice), ==, "fixd");
	g_assert_true(cardea_ice_gather(a.ice));
	g_assert_true(wait_for(ctx, gathered, &a, NULL, 5000));
	g_assert_cmpuint(a.candidates->len, ==, 1);
	const char *c = g_ptr_array_index(a.candidates, 0);
	g_assert_nonnull(strstr(c, " 192.0.2.7 "));
	g_assert_null(strstr(c, "127.0.0.1"));
	g_assert_null(strstr(c, "raddr"));
	json_t *info = cardea_ice_info(a.ice);
	const char *local = json_string_value(json_array_get(json_object_get(info, "local-candidates"), 0));
	g_assert_true(g_str_has_prefix(local, "127.0.0.1:"));
	guint port = 0;
	g_assert_cmpint(sscanf(local, "127.0.0.1:%u ", &port), ==, 1);
	char *needle = g_strdup_printf(" 192.0.2.7 %u typ host", port);   /* same port */
	g_assert_nonnull(strstr(c, needle));
	g_free(needle);
	json_decref(info);
	peer_clear(&a);
	g_strfreev(addrs);
	g_main_context_pop_thread_default(ctx);
	g_main_context_unref(ctx);
}

static void test_random_credentials(void) {
	char *u1, *p1, *u2, *p2;
	cardea_ice_random_credentials(&u1, &p1);
	cardea_ice_random_credentials(&u2, &p2);
	g_assert_cmpuint(strlen(u1), >=, 4);
	g_assert_cmpuint(strlen(p1), >=, 22);
	g_assert_cmpstr(u1, !=, u2);
	g_assert_cmpstr(p1, !=, p2);
	for (const char *q = p1; *q; q++)
		g_assert_true(g_ascii_isalnum(*q) || *q == '+' || *q == '/');
	g_free(u1);
	g_free(p1);
	g_free(u2);
	g_free(p2);
}

static void test_address_filters(void) {
	char **all = cardea_ice_local_addresses(NULL, NULL, FALSE, TRUE);
	g_assert_true(g_strv_contains((const gchar *const *)all, "127.0.0.1"));
	char **no_lo = cardea_ice_local_addresses(NULL, NULL, FALSE, FALSE);
	g_assert_false(g_strv_contains((const gchar *const *)no_lo, "127.0.0.1"));
	char **ignored = cardea_ice_local_addresses(NULL, "lo", FALSE, TRUE);
	g_assert_false(g_strv_contains((const gchar *const *)ignored, "127.0.0.1"));
	char **enforced = cardea_ice_local_addresses("lo", "lo", FALSE, FALSE);
	g_assert_true(g_strv_contains((const gchar *const *)enforced, "127.0.0.1"));
	g_assert_cmpuint(g_strv_length(enforced), ==, 1);
	g_strfreev(all);
	g_strfreev(no_lo);
	g_strfreev(ignored);
	g_strfreev(enforced);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ice/connect-and-send", test_connect_and_send);
	g_test_add_func("/ice/bad-input", test_bad_input);
	g_test_add_func("/ice/address-filters", test_address_filters);
	g_test_add_func("/ice/restart", test_restart);
	g_test_add_func("/ice/dont-fragment-off", test_dont_fragment_off);
	g_test_add_func("/ice/public-ips", test_public_ips);
	g_test_add_func("/ice/random-credentials", test_random_credentials);
	return g_test_run();
}
