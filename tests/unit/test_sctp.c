/* Unit tests for core/webrtc/sctp.c: DCEP encode/decode (pure), and two
 * real usrsctp associations wired back to back in this process.
 *
 * The two associations ("a" plays the DTLS client, "b" the server) share the
 * test's main context, which the test holds for its whole run, as a media
 * loop thread holds its own: packets either side emits are queued and
 * delivered from the test's pump, never re-entrantly, and what usrsctp's
 * timer thread emits reaches the context through the module's own handoff.
 */
#include <string.h>
#include "cardea/module.h"
#include "webrtc/sctp.h"

/* ---- DCEP ---- */

static void test_dcep_roundtrip(void) {
	cardea_dcep_open o = {
		.channel_type = CARDEA_DCEP_PARTIAL_REXMIT_UNORDERED, .priority = 512, .reliability = 7,
		.label = "chat", .label_len = 4, .protocol = "json", .protocol_len = 4,
	};
	guint8 buf[64];
	gsize n = 0;
	g_assert_cmpint(cardea_dcep_write_open(&o, buf, sizeof(buf), &n), ==, CARDEA_DCEP_OK);
	g_assert_cmpuint(n, ==, 12 + 8);
	static const guint8 expect[] = { 0x03, 0x81, 0x02, 0x00, 0, 0, 0, 7, 0, 4, 0, 4, 'c', 'h', 'a', 't', 'j', 's', 'o', 'n' };
	g_assert_cmpmem(buf, n, expect, sizeof(expect));
	cardea_dcep_open p;
	g_assert_cmpint(cardea_dcep_parse_open(buf, n, &p), ==, CARDEA_DCEP_OK);
	g_assert_cmpuint(p.channel_type, ==, CARDEA_DCEP_PARTIAL_REXMIT_UNORDERED);
	g_assert_cmpuint(p.priority, ==, 512);
	g_assert_cmpuint(p.reliability, ==, 7);
	g_assert_cmpmem(p.label, p.label_len, "chat", 4);
	g_assert_cmpmem(p.protocol, p.protocol_len, "json", 4);
	g_assert_cmpuint(cardea_dcep_message_type(buf, n), ==, CARDEA_DCEP_OPEN);

	/* Empty label and protocol are legal. */
	cardea_dcep_open e = { .channel_type = CARDEA_DCEP_RELIABLE };
	g_assert_cmpint(cardea_dcep_write_open(&e, buf, sizeof(buf), &n), ==, CARDEA_DCEP_OK);
	g_assert_cmpuint(n, ==, 12);
	g_assert_cmpint(cardea_dcep_parse_open(buf, n, &p), ==, CARDEA_DCEP_OK);
	g_assert_cmpuint(p.label_len, ==, 0);
	g_assert_cmpuint(p.protocol_len, ==, 0);

	g_assert_cmpint(cardea_dcep_write_open(&o, buf, 19, &n), ==, CARDEA_DCEP_NO_ROOM);
	g_assert_cmpint(cardea_dcep_write_ack(buf, sizeof(buf), &n), ==, CARDEA_DCEP_OK);
	g_assert_cmpuint(n, ==, 1);
	g_assert_cmpuint(buf[0], ==, CARDEA_DCEP_ACK);
	g_assert_cmpint(cardea_dcep_write_ack(buf, 0, &n), ==, CARDEA_DCEP_NO_ROOM);
}

static void test_dcep_invalid(void) {
	cardea_dcep_open p;
	/* Shorter than the header. */
	static const guint8 shortmsg[] = { 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	g_assert_cmpint(cardea_dcep_parse_open(shortmsg, sizeof(shortmsg), &p), ==, CARDEA_DCEP_TRUNCATED);
	g_assert_cmpint(cardea_dcep_parse_open(NULL, 0, &p), ==, CARDEA_DCEP_TRUNCATED);
	/* Label length past the end. */
	static const guint8 longlabel[] = { 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 'a', 'b' };
	g_assert_cmpint(cardea_dcep_parse_open(longlabel, sizeof(longlabel), &p), ==, CARDEA_DCEP_TRUNCATED);
	/* Protocol length past the end. */
	static const guint8 longproto[] = { 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 'a', 'b' };
	g_assert_cmpint(cardea_dcep_parse_open(longproto, sizeof(longproto), &p), ==, CARDEA_DCEP_TRUNCATED);
	/* An ACK is not an OPEN; unknown channel types are refused. */
	static const guint8 ack[] = { 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	g_assert_cmpint(cardea_dcep_parse_open(ack, sizeof(ack), &p), ==, CARDEA_DCEP_BAD_TYPE);
	static const guint8 badtype[] = { 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	g_assert_cmpint(cardea_dcep_parse_open(badtype, sizeof(badtype), &p), ==, CARDEA_DCEP_BAD_TYPE);
	static const guint8 badtype2[] = { 0x03, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	g_assert_cmpint(cardea_dcep_parse_open(badtype2, sizeof(badtype2), &p), ==, CARDEA_DCEP_BAD_TYPE);
	/* A NUL inside the label would truncate it for plugins. */
	static const guint8 nul[] = { 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 'a', 0, 'b' };
	g_assert_cmpint(cardea_dcep_parse_open(nul, sizeof(nul), &p), ==, CARDEA_DCEP_BAD_STRING);
	/* Trailing bytes are ignored. */
	static const guint8 trailing[] = { 0x03, 0x82, 0, 1, 0, 0, 0x03, 0xe8, 0, 1, 0, 0, 'x', 'y', 'z' };
	g_assert_cmpint(cardea_dcep_parse_open(trailing, sizeof(trailing), &p), ==, CARDEA_DCEP_OK);
	g_assert_cmpuint(p.reliability, ==, 1000);
	g_assert_cmpmem(p.label, p.label_len, "x", 1);
	g_assert_cmpuint(cardea_dcep_message_type(NULL, 0), ==, 0);
	for (guint t = 0; t < 256; t++) {
		gboolean known = t == 0x00 || t == 0x80 || t == 0x01 || t == 0x81 || t == 0x02 || t == 0x82;
		g_assert_cmpint(cardea_dcep_channel_type_valid((guint8)t), ==, known);
	}
}

/* Every prefix of a valid OPEN and every byte flip parses or fails cleanly. */
static void test_dcep_fuzz(void) {
	cardea_dcep_open o = {
		.channel_type = CARDEA_DCEP_PARTIAL_TIMED, .reliability = 100,
		.label = "label", .label_len = 5, .protocol = "proto", .protocol_len = 5,
	};
	guint8 buf[32], copy[32];
	gsize n;
	g_assert_cmpint(cardea_dcep_write_open(&o, buf, sizeof(buf), &n), ==, CARDEA_DCEP_OK);
	cardea_dcep_open p;
	for (gsize len = 0; len < n; len++)
		g_assert_cmpint(cardea_dcep_parse_open(buf, len, &p), !=, CARDEA_DCEP_OK);
	for (gsize i = 0; i < n; i++)
		for (guint bit = 0; bit < 8; bit++) {
			memcpy(copy, buf, n);
			copy[i] ^= (guint8)(1u << bit);
			if (cardea_dcep_parse_open(copy, n, &p) == CARDEA_DCEP_OK) {
				g_assert_true(p.label + p.label_len <= (const char *)copy + n);
				g_assert_true(p.protocol + p.protocol_len <= (const char *)copy + n);
			}
		}
}

/* ---- Two associations back to back ---- */

typedef struct msg {
	char *label;
	gboolean binary;
	GBytes *data;
} msg;

typedef struct side {
	cardea_sctp *sctp;
	struct side *other;
	GQueue wire;                /* GBytes this side sent, not yet delivered */
	gsize max_packet;
	guint ups, downs, opens, closes;
	GPtrArray *msgs;            /* msg* received */
	gboolean echo;              /* send every message back on its channel */
	gboolean free_in_message;   /* cardea_sctp_free from inside the callback */
} side;

static void msg_free(gpointer p) {
	msg *m = p;
	g_free(m->label);
	g_bytes_unref(m->data);
	g_free(m);
}

static void on_send(cardea_sctp *s, const guint8 *buf, gsize len, gpointer user_data) {
	side *me = user_data;
	me->max_packet = MAX(me->max_packet, len);
	g_queue_push_tail(&me->wire, g_bytes_new(buf, len));
}

static void on_state(cardea_sctp *s, gboolean up, gpointer user_data) {
	side *me = user_data;
	if (up)
		me->ups++;
	else
		me->downs++;
}

static void on_channel(cardea_sctp *s, guint16 sid, const char *label, gboolean open, gpointer user_data) {
	side *me = user_data;
	/* Stream id parity: the DTLS client's channels are even (RFC 8832 6). */
	if (open)
		me->opens++;
	else
		me->closes++;
}

static void on_message(cardea_sctp *s, const cardea_data_packet *p, gpointer user_data) {
	side *me = user_data;
	msg *m = g_new0(msg, 1);
	m->label = g_strdup(p->label);
	m->binary = p->binary;
	m->data = g_bytes_new(p->buf, p->len);
	g_ptr_array_add(me->msgs, m);
	if (me->echo)
		g_assert_cmpint(cardea_sctp_send(s, p), ==, CARDEA_SCTP_OK);
	if (me->free_in_message) {
		cardea_sctp_free(me->sctp);
		me->sctp = NULL;
	}
}

static const cardea_sctp_callbacks callbacks = { on_send, on_state, on_channel, on_message };

/* Delivers what is on the wires; TRUE when anything moved. */
static gboolean deliver(side *a, side *b) {
	gboolean moved = FALSE;
	side *sides[2] = { a, b };
	for (int i = 0; i < 2; i++) {
		GBytes *pkt;
		while ((pkt = g_queue_pop_head(&sides[i]->wire)) != NULL) {
			side *to = sides[i]->other;
			if (to->sctp) {
				gsize len;
				const guint8 *data = g_bytes_get_data(pkt, &len);
				cardea_sctp_incoming(to->sctp, data, len);
			}
			g_bytes_unref(pkt);
			moved = TRUE;
		}
	}
	return moved;
}

typedef gboolean (*cond_fn)(side *a, side *b);

static gboolean run_until(side *a, side *b, cond_fn cond, guint timeout_ms) {
	gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	while (!cond(a, b)) {
		if (g_get_monotonic_time() > end)
			return FALSE;
		if (!deliver(a, b))
			g_main_context_iteration(NULL, FALSE);
		if (!deliver(a, b) && !g_main_context_pending(NULL))
			g_usleep(1000);
	}
	return TRUE;
}

static void side_init(side *s, side *other) {
	memset(s, 0, sizeof(*s));
	s->other = other;
	g_queue_init(&s->wire);
	s->msgs = g_ptr_array_new_with_free_func(msg_free);
}

static void side_clear(side *s) {
	cardea_sctp_free(s->sctp);
	s->sctp = NULL;
	g_queue_clear_full(&s->wire, (GDestroyNotify)g_bytes_unref);
	g_ptr_array_free(s->msgs, TRUE);
}

static gboolean both_up(side *a, side *b) {
	return a->ups == 1 && b->ups == 1;
}

static void connect_pair(side *a, side *b, gsize max_in_a, gsize max_in_b) {
	side_init(a, b);
	side_init(b, a);
	cardea_sctp_config ca = {
		.local_port = 5000, .remote_port = 5000, .dtls_client = TRUE, .mtu = 1100,
		.max_message_in = max_in_a, .max_message_out = max_in_b, .log_id = 1,
	};
	cardea_sctp_config cb = ca;
	cb.dtls_client = FALSE;
	cb.max_message_in = max_in_b;
	cb.max_message_out = max_in_a;
	cb.log_id = 2;
	GError *err = NULL;
	a->sctp = cardea_sctp_new(g_main_context_default(), &ca, &callbacks, a, &err);
	g_assert_no_error(err);
	b->sctp = cardea_sctp_new(g_main_context_default(), &cb, &callbacks, b, &err);
	g_assert_no_error(err);
	g_assert_false(cardea_sctp_is_up(a->sctp));
	g_assert_true(run_until(a, b, both_up, 10000));
	g_assert_true(cardea_sctp_is_up(a->sctp) && cardea_sctp_is_up(b->sctp));
}

static guint want_a, want_b;
static gboolean got_msgs(side *a, side *b) {
	return a->msgs->len >= want_a && b->msgs->len >= want_b;
}

static void send_ok(side *s, const char *label, gboolean binary, const void *buf, gsize len) {
	cardea_data_packet p = { label, "", binary, buf, len };
	g_assert_cmpint(cardea_sctp_send(s->sctp, &p), ==, CARDEA_SCTP_OK);
}

static void assert_msg(side *s, guint i, const char *label, gboolean binary, const void *buf, gsize len) {
	g_assert_cmpuint(s->msgs->len, >, i);
	msg *m = g_ptr_array_index(s->msgs, i);
	g_assert_cmpstr(m->label, ==, label);
	g_assert_cmpint(m->binary, ==, binary);
	gsize n;
	const void *d = g_bytes_get_data(m->data, &n);
	g_assert_cmpmem(d, n, buf, len);
}

static void check_parity(const cardea_sctp_channel_info *info, gpointer user_data) {
	const char *label = user_data;
	if (strcmp(info->label, label) == 0)
		g_assert_cmpuint(info->sid & 1, ==, strcmp(label, "from-a") == 0 ? 0 : 1);
}

static void test_b2b_messages(void) {
	side a, b;
	connect_pair(&a, &b, CARDEA_SCTP_DEFAULT_MAX_MESSAGE, CARDEA_SCTP_DEFAULT_MAX_MESSAGE);
	b.echo = TRUE;
	/* a opens "from-a" by sending on it; b answers the OPEN and echoes. */
	send_ok(&a, "from-a", FALSE, "hello", 5);
	send_ok(&a, "from-a", TRUE, "\x00\x01\x02", 3);
	send_ok(&a, "from-a", FALSE, NULL, 0);
	send_ok(&a, "from-a", TRUE, NULL, 0);
	want_a = 4;
	want_b = 4;
	g_assert_true(run_until(&a, &b, got_msgs, 10000));
	assert_msg(&b, 0, "from-a", FALSE, "hello", 5);
	assert_msg(&b, 1, "from-a", TRUE, "\x00\x01\x02", 3);
	assert_msg(&b, 2, "from-a", FALSE, "", 0);
	assert_msg(&b, 3, "from-a", TRUE, "", 0);
	assert_msg(&a, 0, "from-a", FALSE, "hello", 5);
	assert_msg(&a, 3, "from-a", TRUE, "", 0);
	g_assert_cmpuint(a.opens, ==, 1);
	g_assert_cmpuint(b.opens, ==, 1);
	cardea_sctp_foreach_channel(a.sctp, check_parity, "from-a");

	/* b opens its own channel: odd stream id. */
	b.echo = FALSE;
	send_ok(&b, "from-b", FALSE, "hi", 2);
	want_a = 5;
	g_assert_true(run_until(&a, &b, got_msgs, 10000));
	assert_msg(&a, 4, "from-b", FALSE, "hi", 2);
	cardea_sctp_foreach_channel(b.sctp, check_parity, "from-b");
	cardea_sctp_foreach_channel(a.sctp, check_parity, "from-b");

	/* A big message crosses in many packets, each within the MTU. */
	gsize big = 200000;
	guint8 *data = g_malloc(big);
	for (gsize i = 0; i < big; i++)
		data[i] = (guint8)(i * 7);
	send_ok(&a, "from-a", TRUE, data, big);
	want_b = 5;
	g_assert_true(run_until(&a, &b, got_msgs, 10000));
	assert_msg(&b, 4, "from-a", TRUE, data, big);
	g_assert_cmpuint(a.max_packet, <=, 1100);
	g_assert_cmpuint(b.max_packet, <=, 1100);
	g_free(data);

	cardea_sctp_stats st;
	cardea_sctp_get_stats(a.sctp, &st);
	g_assert_cmpuint(st.channels, ==, 2);
	g_assert_cmpuint(st.messages_out, ==, 5);
	g_assert_cmpuint(st.messages_in, ==, 5);
	g_assert_cmpuint(st.bytes_out, ==, 5 + 3 + big);
	g_assert_cmpuint(st.streams_out, ==, CARDEA_SCTP_STREAMS);

	/* Freeing one side sends an ABORT: the other sees the association go. */
	cardea_sctp_free(a.sctp);
	a.sctp = NULL;
	g_assert_false(g_queue_is_empty(&a.wire));
	deliver(&a, &b);
	g_assert_cmpuint(b.downs, ==, 1);
	g_assert_cmpuint(b.closes, ==, 2);
	g_assert_false(cardea_sctp_is_up(b.sctp));
	cardea_data_packet p = { "from-b", NULL, FALSE, (const guint8 *)"x", 1 };
	g_assert_cmpint(cardea_sctp_send(b.sctp, &p), ==, CARDEA_SCTP_NOT_UP);
	side_clear(&a);
	side_clear(&b);
}

static void test_b2b_limits(void) {
	side a, b;
	/* b accepts at most 1000 bytes, a at most 5000. */
	connect_pair(&a, &b, 5000, 1000);
	static guint8 data[30000];
	memset(data, 'x', sizeof(data));
	/* Over the peer's advertised size: refused before sending. */
	cardea_data_packet p = { "c", NULL, TRUE, data, 1001 };
	g_assert_cmpint(cardea_sctp_send(a.sctp, &p), ==, CARDEA_SCTP_TOO_BIG);
	cardea_sctp_stats st;
	cardea_sctp_get_stats(a.sctp, &st);
	g_assert_cmpuint(st.dropped_out, ==, 1);
	/* Exactly the limit is fine. */
	send_ok(&a, "c", TRUE, data, 1000);
	want_a = 0;
	want_b = 1;
	g_assert_true(run_until(&a, &b, got_msgs, 10000));
	side_clear(&a);
	side_clear(&b);

	/* The sender does not know the receiver's limit (unlimited): the
	 * receiver drops what is over it, counts it, and keeps going. */
	side_init(&a, &b);
	side_init(&b, &a);
	cardea_sctp_config ca = {
		.local_port = 5000, .remote_port = 5001, .dtls_client = TRUE, .mtu = 1100,
		.max_message_in = 5000, .max_message_out = 0, .log_id = 3,
	};
	cardea_sctp_config cb = {
		.local_port = 5001, .remote_port = 5000, .dtls_client = FALSE, .mtu = 1100,
		.max_message_in = 10000, .max_message_out = 0, .log_id = 4,
	};
	GError *err = NULL;
	a.sctp = cardea_sctp_new(g_main_context_default(), &ca, &callbacks, &a, &err);
	g_assert_no_error(err);
	b.sctp = cardea_sctp_new(g_main_context_default(), &cb, &callbacks, &b, &err);
	g_assert_no_error(err);
	g_assert_true(run_until(&a, &b, both_up, 10000));
	/* Over the read size: dropped part by part; under it: dropped whole. */
	send_ok(&a, "c", TRUE, data, 20001);
	send_ok(&a, "c", FALSE, data, 10001);
	send_ok(&a, "c", TRUE, data, 10000);
	send_ok(&a, "c", FALSE, "ok", 2);
	want_b = 2;
	g_assert_true(run_until(&a, &b, got_msgs, 10000));
	assert_msg(&b, 0, "c", TRUE, data, 10000);
	assert_msg(&b, 1, "c", FALSE, "ok", 2);
	cardea_sctp_get_stats(b.sctp, &st);
	g_assert_cmpuint(st.dropped_too_big_in, ==, 2);
	side_clear(&a);
	side_clear(&b);
}

/* A plugin may tear the PeerConnection down from inside incoming_data. */
static void test_b2b_free_in_callback(void) {
	side a, b;
	connect_pair(&a, &b, 65536, 65536);
	b.free_in_message = TRUE;
	send_ok(&a, "c", FALSE, "bye", 3);
	send_ok(&a, "c", FALSE, "never", 5);
	want_a = 0;
	want_b = 1;
	g_assert_true(run_until(&a, &b, got_msgs, 10000));
	g_assert_null(b.sctp);
	/* b's ABORT reaches a. */
	deliver(&a, &b);
	g_assert_cmpuint(a.downs, ==, 1);
	g_assert_cmpuint(b.msgs->len, ==, 1);
	side_clear(&a);
	side_clear(&b);
}

static void test_invalid_config(void) {
	GError *err = NULL;
	cardea_sctp_config c = { .local_port = 5000, .remote_port = 5000, .mtu = 100, .max_message_in = 1 };
	g_assert_null(cardea_sctp_new(g_main_context_default(), &c, &callbacks, NULL, &err));
	g_assert_error(err, CARDEA_SCTP_ERROR, CARDEA_SCTP_ERROR_INVALID);
	g_clear_error(&err);
	c.mtu = 1200;
	cardea_sctp_callbacks none = { 0 };
	g_assert_null(cardea_sctp_new(g_main_context_default(), &c, &none, NULL, &err));
	g_assert_error(err, CARDEA_SCTP_ERROR, CARDEA_SCTP_ERROR_INVALID);
	g_clear_error(&err);
	cardea_sctp_free(NULL);
	cardea_sctp_incoming(NULL, (const guint8 *)"x", 1);
	g_assert_cmpint(cardea_sctp_send(NULL, NULL), ==, CARDEA_SCTP_FAILED);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	if (g_getenv("CARDEA_TEST_DEBUG"))
		cardea_log_level = CARDEA_LOG_DBG;
	else
		cardea_log_level = CARDEA_LOG_ERR;
	GError *err = NULL;
	g_assert_true(cardea_sctp_global_init(&err));
	/* The test thread plays the media loop that owns every association. */
	g_main_context_acquire(g_main_context_default());
	g_test_add_func("/dcep/roundtrip", test_dcep_roundtrip);
	g_test_add_func("/dcep/invalid", test_dcep_invalid);
	g_test_add_func("/dcep/fuzz", test_dcep_fuzz);
	g_test_add_func("/sctp/invalid-config", test_invalid_config);
	g_test_add_func("/sctp/messages", test_b2b_messages);
	g_test_add_func("/sctp/limits", test_b2b_limits);
	g_test_add_func("/sctp/free-in-callback", test_b2b_free_in_callback);
	int rc = g_test_run();
	/* Pending handoffs still hold references: let them run before finishing. */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_main_context_release(g_main_context_default());
	cardea_sctp_global_deinit();
	return rc;
}
