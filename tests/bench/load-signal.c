/* cardea-load signalling: a minimal RFC 6455 client (one connection per
 * worker, "janus-protocol" subprotocol) and the videoroom flows.
 * Runs on the worker's thread only. Writes are blocking: messages are small
 * and the gateway is on loopback, so a full socket buffer means the gateway
 * is stuck anyway. */
#include <string.h>
#include <gio/gio.h>
#include "load.h"

typedef struct load_ws {
	GSocketConnection *conn;    /* owned */
	GSocket *sock;              /* borrowed from conn */
	GSource *source;            /* owned */
	GByteArray *in;             /* owned: unparsed bytes */
	GByteArray *msg;            /* owned: fragments of the current message */
} load_ws;

typedef void (*reply_fn)(load_peer *p, json_t *reply, void *data);
typedef struct load_pending {
	load_peer *peer;            /* borrowed, may be NULL (room set-up) */
	reply_fn fn;
	void *data;
} load_pending;

static void dispatch(load_worker *w, json_t *m);

static gboolean ws_write_frame(load_ws *ws, guint8 opcode, const guint8 *data, gsize len) {
	guint8 hdr[14];
	gsize h = 0;
	hdr[h++] = 0x80 | opcode;
	if (len < 126) {
		hdr[h++] = 0x80 | (guint8)len;
	} else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (guint8)(len >> 8);
		hdr[h++] = (guint8)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (guint8)((guint64)len >> (8 * i));
	}
	guint32 key = g_random_int();
	memcpy(hdr + h, &key, 4);
	const guint8 *k = hdr + h;
	h += 4;
	guint8 *buf = g_malloc(h + len);
	memcpy(buf, hdr, h);
	for (gsize i = 0; i < len; i++)
		buf[h + i] = data[i] ^ k[i & 3];
	GError *err = NULL;
	gboolean ok = g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(ws->conn)),
		buf, h + len, NULL, NULL, &err);
	if (!ok) {
		g_printerr("cardea-load: websocket write failed: %s\n", err->message);
		g_error_free(err);
	}
	g_free(buf);
	return ok;
}

/* Sends a request with a fresh transaction; `fn` gets the final reply (not
 * the "ack"). Takes ownership of `req`. */
static void send_req(load_worker *w, load_peer *p, json_t *req, reply_fn fn, void *data) {
	char tx[32];
	g_snprintf(tx, sizeof(tx), "w%d-%" G_GUINT64_FORMAT, w->index, ++w->tx_seq);
	json_object_set_new(req, "transaction", json_string(tx));
	if (p && p->session_id && !json_object_get(req, "session_id"))
		json_object_set_new(req, "session_id", json_integer((json_int_t)p->session_id));
	if (fn) {
		load_pending *pd = g_new0(load_pending, 1);
		pd->peer = p;
		pd->fn = fn;
		pd->data = data;
		g_hash_table_insert(w->pending, g_strdup(tx), pd);
	}
	char *text = json_dumps(req, JSON_COMPACT);
	ws_write_frame(w->ws, 0x1, (const guint8 *)text, strlen(text));
	free(text);
	json_decref(req);
}

/* Parses every complete frame in ws->in. FALSE when the connection must close. */
static gboolean ws_parse(load_worker *w) {
	load_ws *ws = w->ws;
	for (;;) {
		guint8 *b = ws->in->data;
		gsize n = ws->in->len;
		if (n < 2)
			return TRUE;
		guint8 op = b[0] & 0x0f;
		gboolean fin = (b[0] & 0x80) != 0;
		guint64 len = b[1] & 0x7f;
		gsize h = 2;
		if (len == 126) {
			if (n < 4)
				return TRUE;
			len = ((guint64)b[2] << 8) | b[3];
			h = 4;
		} else if (len == 127) {
			if (n < 10)
				return TRUE;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = (len << 8) | b[2 + i];
			h = 10;
		}
		if (b[1] & 0x80)
			h += 4;   /* servers never mask; tolerate it by skipping the key */
		if (len > 16 * 1024 * 1024)
			return FALSE;
		if (n < h + len)
			return TRUE;
		const guint8 *payload = b + h;
		if (op == 0x8) {
			return FALSE;
		} else if (op == 0x9) {
			ws_write_frame(ws, 0xA, payload, (gsize)len);
		} else if (op == 0x1 || op == 0x2 || op == 0x0) {
			g_byte_array_append(ws->msg, payload, (guint)len);
			if (fin) {
				json_error_t jerr;
				json_t *m = json_loadb((const char *)ws->msg->data, ws->msg->len, 0, &jerr);
				g_byte_array_set_size(ws->msg, 0);
				if (m) {
					dispatch(w, m);
					json_decref(m);
				}
			}
		}
		g_byte_array_remove_range(ws->in, 0, (guint)(h + len));
	}
}

static gboolean ws_readable(GSocket *sock, GIOCondition cond, gpointer data) {
	load_worker *w = data;
	guint8 buf[65536];
	GError *err = NULL;
	gssize r = g_socket_receive(sock, (gchar *)buf, sizeof(buf), NULL, &err);
	if (r <= 0) {
		if (err && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
			g_error_free(err);
			return G_SOURCE_CONTINUE;
		}
		g_printerr("cardea-load: worker %d: the gateway closed the websocket%s%s\n", w->index,
			err ? ": " : "", err ? err->message : "");
		g_clear_error(&err);
		return G_SOURCE_REMOVE;
	}
	g_byte_array_append(w->ws->in, buf, (guint)r);
	if (!ws_parse(w)) {
		g_printerr("cardea-load: worker %d: websocket closed by the gateway\n", w->index);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

gboolean load_ws_connect(load_worker *w, GError **error) {
	const char *url = load_opt.url;
	if (!g_str_has_prefix(url, "ws://")) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "only ws:// URLs are supported");
		return FALSE;
	}
	const char *hostport = url + 5;
	char *path = strchr(hostport, '/');
	char *hp = path ? g_strndup(hostport, (gsize)(path - hostport)) : g_strdup(hostport);
	GSocketClient *client = g_socket_client_new();
	GSocketConnection *conn = g_socket_client_connect_to_host(client, hp, 8188, NULL, error);
	g_object_unref(client);
	if (!conn) {
		g_free(hp);
		return FALSE;
	}
	char key[25];
	guint8 raw[16];
	for (int i = 0; i < 16; i++)
		raw[i] = (guint8)g_random_int();
	char *k64 = g_base64_encode(raw, 16);
	g_strlcpy(key, k64, sizeof(key));
	g_free(k64);
	char *req = g_strdup_printf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: janus-protocol\r\n\r\n",
		path ? path : "/", hp, key);
	g_free(hp);
	GOutputStream *os = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	GInputStream *is = g_io_stream_get_input_stream(G_IO_STREAM(conn));
	gboolean ok = g_output_stream_write_all(os, req, strlen(req), NULL, NULL, error);
	g_free(req);
	GByteArray *resp = g_byte_array_new();
	while (ok) {
		guint8 c;
		gssize r = g_input_stream_read(is, &c, 1, NULL, error);
		if (r <= 0) {
			ok = FALSE;
			if (r == 0)
				g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED, "closed during the handshake");
			break;
		}
		g_byte_array_append(resp, &c, 1);
		if (resp->len >= 4 && memcmp(resp->data + resp->len - 4, "\r\n\r\n", 4) == 0)
			break;
		if (resp->len > 8192) {
			ok = FALSE;
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "oversized handshake reply");
		}
	}
	if (ok && (resp->len < 12 || memcmp(resp->data + 9, "101", 3) != 0)) {
		ok = FALSE;
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "websocket upgrade refused: %.*s",
			(int)MIN(resp->len, 60u), (const char *)resp->data);
	}
	g_byte_array_free(resp, TRUE);
	if (!ok) {
		g_object_unref(conn);
		return FALSE;
	}
	load_ws *ws = g_new0(load_ws, 1);
	ws->conn = conn;
	ws->sock = g_socket_connection_get_socket(conn);
	ws->in = g_byte_array_new();
	ws->msg = g_byte_array_new();
	ws->source = g_socket_create_source(ws->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
	g_source_set_callback(ws->source, (GSourceFunc)(void (*)(void))ws_readable, w, NULL);
	g_source_attach(ws->source, w->context);
	w->ws = ws;
	return TRUE;
}

void load_ws_close(load_worker *w) {
	load_ws *ws = w->ws;
	if (!ws)
		return;
	g_source_destroy(ws->source);
	g_source_unref(ws->source);
	g_io_stream_close(G_IO_STREAM(ws->conn), NULL, NULL);
	g_object_unref(ws->conn);
	g_byte_array_free(ws->in, TRUE);
	g_byte_array_free(ws->msg, TRUE);
	g_free(ws);
	w->ws = NULL;
}

/* ---- Janus API ---- */

static json_t *plugin_data(json_t *m) {
	return json_object_get(json_object_get(m, "plugindata"), "data");
}

/* NULL when the reply is fine, else an error text (static or in the reply). */
static const char *reply_error(json_t *m) {
	const char *j = json_string_value(json_object_get(m, "janus"));
	if (g_strcmp0(j, "error") == 0) {
		const char *r = json_string_value(json_object_get(json_object_get(m, "error"), "reason"));
		return r ? r : "error";
	}
	json_t *d = plugin_data(m);
	if (d && json_object_get(d, "error_code")) {
		const char *r = json_string_value(json_object_get(d, "error"));
		return r ? r : "plugin error";
	}
	return NULL;
}

/* Broadcast channels are named by strings: the room id in decimal. */
static json_t *channel_name(const load_room *r) {
	char name[24];
	g_snprintf(name, sizeof(name), "%" G_GUINT64_FORMAT, r->id);
	return json_string(name);
}

static json_t *message(load_peer *p, json_t *body) {
	json_t *req = json_pack("{s:s, s:I, s:o}", "janus", "message", "handle_id",
		(json_int_t)p->handle_id, "body", body);
	return req;
}

static void on_started(load_peer *p, json_t *m, void *data) {
	const char *e = reply_error(m);
	if (e)
		load_peer_fail(p, "start: %s", e);
}

static void on_configured(load_peer *p, json_t *m, void *data) {
	const char *e = reply_error(m);
	if (e) {
		load_peer_fail(p, "publish: %s", e);
		return;
	}
	json_t *jsep = json_object_get(m, "jsep");
	const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
	if (!sdp) {
		load_peer_fail(p, "publish: no answer in the reply");
		return;
	}
	load_peer_remote_sdp(p, "answer", sdp);
}

void load_signal_send_jsep(load_peer *p, const char *type, const char *sdp) {
	json_t *body;
	if (!p->publisher)
		body = json_pack("{s:s}", "request", "start");
	else if (load_broadcast())
		body = json_pack("{s:s, s:o}", "request", "present", "channel", channel_name(p->room));
	else
		body = json_pack("{s:s, s:b, s:b}", "request", "publish", "audio", 1, "video", !load_opt.audio_only);
	json_t *req = message(p, body);
	json_object_set_new(req, "jsep", json_pack("{s:s, s:s, s:b}", "type", type, "sdp", sdp, "trickle", 0));
	send_req(p->worker, p, req, p->publisher ? on_configured : on_started, NULL);
}

static void on_joined(load_peer *p, json_t *m, void *data) {
	const char *e = reply_error(m);
	if (e) {
		load_peer_fail(p, "join: %s", e);
		return;
	}
	json_t *d = plugin_data(m);
	if (p->publisher) {
		p->feed_id = (guint64)json_integer_value(json_object_get(d, "id"));
		if (p->feed_id == 0) {
			load_peer_fail(p, "join: no publisher id in the reply");
			return;
		}
		load_peer_start_offer(p);
		return;
	}
	json_t *jsep = json_object_get(m, "jsep");
	const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
	if (!sdp) {
		load_peer_fail(p, "subscribe: no offer in the reply");
		return;
	}
	load_peer_remote_sdp(p, "offer", sdp);
}

static void join(load_peer *p) {
	json_t *body;
	if (load_broadcast()) {
		p->join_sent_us = load_now_us();
		if (p->publisher) {
			/* No join step: `present` carries the offer. The channel stands
			 * for the feed id subscribers count the presenter's packets by. */
			p->feed_id = p->room->id;
			load_peer_start_offer(p);
			return;
		}
		body = json_pack("{s:s, s:o}", "request", "watch", "channel", channel_name(p->room));
		send_req(p->worker, p, message(p, body), on_joined, NULL);
		return;
	}
	if (p->publisher) {
		char disp[32];
		g_snprintf(disp, sizeof(disp), "load-%d", p->index);
		body = json_pack("{s:s, s:s, s:I, s:s}", "request", "join", "ptype", "publisher",
			"room", (json_int_t)p->room->id, "display", disp);
	} else {
		json_t *streams = json_array();
		for (int i = 0; i < p->n_feeds; i++)
			json_array_append_new(streams, json_pack("{s:I}", "feed", (json_int_t)p->feeds[i]));
		body = json_pack("{s:s, s:s, s:I, s:o}", "request", "join", "ptype", "subscriber",
			"room", (json_int_t)p->room->id, "streams", streams);
	}
	p->join_sent_us = load_now_us();
	send_req(p->worker, p, message(p, body), on_joined, NULL);
}

static void on_attached(load_peer *p, json_t *m, void *data) {
	const char *e = reply_error(m);
	guint64 id = (guint64)json_integer_value(json_object_get(json_object_get(m, "data"), "id"));
	if (e || id == 0) {
		load_peer_fail(p, "attach: %s", e ? e : "no handle id");
		return;
	}
	p->handle_id = id;
	g_hash_table_insert(p->worker->by_handle, GSIZE_TO_POINTER((gsize)id), p);
	join(p);
}

static void on_session(load_peer *p, json_t *m, void *data) {
	const char *e = reply_error(m);
	guint64 id = (guint64)json_integer_value(json_object_get(json_object_get(m, "data"), "id"));
	if (e || id == 0) {
		load_peer_fail(p, "create: %s", e ? e : "no session id");
		return;
	}
	p->session_id = id;
	json_t *req = json_pack("{s:s, s:s}", "janus", "attach", "plugin", load_opt.plugin);
	send_req(p->worker, p, req, on_attached, NULL);
}

/* Every peer has its own session, as a browser tab would. */
void load_signal_start_peer(load_peer *p) {
	p->state = PEER_SIGNALLING;
	send_req(p->worker, p, json_pack("{s:s}", "janus", "create"), on_session, NULL);
}

void load_signal_keepalive(load_worker *w) {
	for (guint i = 0; i < w->peers->len; i++) {
		load_peer *p = g_ptr_array_index(w->peers, i);
		if (p->session_id && p->state != PEER_FAILED)
			send_req(w, NULL, json_pack("{s:s, s:I}", "janus", "keepalive", "session_id",
				(json_int_t)p->session_id), NULL, NULL);
	}
}

/* ---- room set-up: one control session on worker 0 ---- */

typedef struct room_setup {
	load_peer ctl;              /* only the signalling fields are used */
	load_room *rooms;
	int n, next;
	volatile gint *done;
} room_setup;

static void create_next_room(room_setup *rs);

static void on_room_created(load_peer *p, json_t *m, void *data) {
	room_setup *rs = data;
	json_t *d = plugin_data(m);
	json_int_t code = json_integer_value(json_object_get(d, "error_code"));
	const char *e = reply_error(m);
	/* 427 (videoroom) / 486 (broadcast): it exists already, fine */
	if (e && code != (load_broadcast() ? 486 : 427))
		g_printerr("cardea-load: creating room %" G_GUINT64_FORMAT ": %s\n", rs->rooms[rs->next - 1].id, e);
	create_next_room(rs);
}

static void create_next_room(room_setup *rs) {
	if (rs->next >= rs->n) {
		g_atomic_int_set(rs->done, 1);
		return;
	}
	load_room *r = &rs->rooms[rs->next++];
	json_t *body = load_broadcast() ? json_pack("{s:s, s:o, s:s, s:s}", "request", "create",
		"channel", channel_name(r), "videocodec", "vp8", "audiocodec", "opus") : json_pack("{s:s, s:I, s:i, s:i, s:s, s:s, s:b, s:i}", "request", "create",
		"room", (json_int_t)r->id, "publishers", MAX(r->n_feeds, 1) + 1, "bitrate", 0,
		"audiocodec", "opus", "videocodec", "vp8", "permanent", 0, "fir_freq", 0);
	send_req(rs->ctl.worker, &rs->ctl, message(&rs->ctl, body), on_room_created, rs);
}

static void on_ctl_attached(load_peer *p, json_t *m, void *data) {
	room_setup *rs = data;
	p->handle_id = (guint64)json_integer_value(json_object_get(json_object_get(m, "data"), "id"));
	if (!p->handle_id) {
		g_printerr("cardea-load: cannot attach to %s: %s\n", load_opt.plugin, reply_error(m));
		g_atomic_int_set(rs->done, -1);
		return;
	}
	create_next_room(rs);
}

static void on_ctl_session(load_peer *p, json_t *m, void *data) {
	room_setup *rs = data;
	p->session_id = (guint64)json_integer_value(json_object_get(json_object_get(m, "data"), "id"));
	if (!p->session_id) {
		g_printerr("cardea-load: cannot create a session: %s\n", reply_error(m));
		g_atomic_int_set(rs->done, -1);
		return;
	}
	send_req(p->worker, p, json_pack("{s:s, s:s}", "janus", "attach", "plugin", load_opt.plugin),
		on_ctl_attached, rs);
}

/* The room_setup lives until the process exits (its session keeps the
 * rooms' owner alive on gateways that tie rooms to it). */
void load_signal_create_rooms(load_worker *w, load_room *rooms, int n, volatile gint *done) {
	room_setup *rs = g_new0(room_setup, 1);
	rs->ctl.worker = w;
	rs->ctl.index = -1;
	rs->rooms = rooms;
	rs->n = n;
	rs->done = done;
	g_ptr_array_add(w->peers, &rs->ctl);   /* for keepalives; never freed by the worker */
	send_req(w, &rs->ctl, json_pack("{s:s}", "janus", "create"), on_ctl_session, rs);
}

/* ---- incoming ---- */

static void dispatch(load_worker *w, json_t *m) {
	const char *janus = json_string_value(json_object_get(m, "janus"));
	const char *tx = json_string_value(json_object_get(m, "transaction"));
	if (g_strcmp0(janus, "ack") == 0)
		return;
	if (tx) {
		gpointer key, val;
		if (g_hash_table_steal_extended(w->pending, tx, &key, &val)) {
			load_pending *pd = val;
			g_free(key);
			pd->fn(pd->peer, m, pd->data);
			g_free(pd);
			return;
		}
	}
	guint64 sender = (guint64)json_integer_value(json_object_get(m, "sender"));
	load_peer *p = sender ? g_hash_table_lookup(w->by_handle, GSIZE_TO_POINTER((gsize)sender)) : NULL;
	if (!p)
		return;
	if (g_strcmp0(janus, "trickle") == 0) {
		json_t *c = json_object_get(m, "candidate");
		const char *cand = json_string_value(json_object_get(c, "candidate"));
		if (cand && *cand)
			load_peer_remote_candidate(p, cand);
	} else if (g_strcmp0(janus, "hangup") == 0) {
		const char *reason = json_string_value(json_object_get(m, "reason"));
		load_peer_fail(p, "hangup: %s", reason ? reason : "?");
	}
}
