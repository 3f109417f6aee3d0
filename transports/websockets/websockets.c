/* WebSocket transport (libwebsockets 4.1).
 *
 * Janus API on subprotocol "janus-protocol" (public listener, ws and/or wss),
 * Admin API on "janus-admin-protocol" (separate listener, loopback by
 * default). One cardea_transport_session per connection; every complete
 * incoming text message goes to the core as is (request_id NULL: the core
 * splits concatenated objects itself and answers through send_message()).
 *
 * Threads and ownership:
 *  - The service thread (ws_service_thread) owns the lws context, every wsi
 *    and the libev loop lws runs on (event_loop = "epoll", the default). All
 *    lws and libev calls except lws_cancel_service() run there, or on the
 *    main thread in init()/destroy() while the service thread is not running.
 *  - Core threads call ws_send_message(): it serializes the message on the
 *    caller's thread, appends it to the connection's out queue under
 *    conn->mutex, puts the connection on the pending list and wakes the
 *    service thread, which asks lws for a writable callback; writes happen
 *    only on the service thread, one text frame per message.
 *  - A ws_conn is owned by its cardea_transport_session (transport_p, freed
 *    by ws_conn_free() with the last ref, on any thread). The transport holds
 *    one ref from ESTABLISHED to CLOSED; the core holds refs for the gateway
 *    sessions bound to the connection; the pending list holds one ref per
 *    entry.
 *
 * Locks: conn->mutex and pending_mutex are never held at the same time, and
 * neither is held while calling into the core.
 */
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <libwebsockets.h>
#include <ev.h>

#include "cardea/transport.h"
#include "cardea/config.h"
#include "cardea/security.h"
#include "ws-priv.h"

#define WS_PROTOCOL "janus-protocol"
#define WS_ADMIN_PROTOCOL "janus-admin-protocol"
/* lws reads the socket in chunks of this size; messages are reassembled. */
#define WS_RX_CHUNK 16384
/* A reassembly buffer that grew past this is released after the message. */
#define WS_RX_KEEP 65536
/* Most frames written in one writable callback. */
#define WS_WRITE_BATCH 32
/* How long destroy() lets clients answer our close frame (1001). */
#define WS_SHUTDOWN_GRACE_US (300 * G_TIME_SPAN_MILLISECOND)
/* Most pings (or hang-ups) one keepalive run starts; the rest follow a few
 * ms later, so 5,000 connections falling due together never hold the
 * service thread for long. */
#define WS_KA_BATCH 200
#define WS_KA_BATCH_GAP_US (5 * G_TIME_SPAN_MILLISECOND)

typedef struct ws_listener {
	ws_listener_kind kind;
	const ws_listener_conf *conf;        /* borrowed from ws_state.settings */
	char *bind_addr;                     /* owned; what lws gets as iface, must outlive the vhost */
	struct lws_vhost *vhost;             /* owned by the lws context */
	struct lws_protocols protocols[2];   /* must outlive the vhost */
	volatile gint connections;           /* open connections, any thread reads */
} ws_listener;

typedef struct ws_conn {
	guint64 id;                          /* for logs */
	ws_listener *listener;               /* borrowed: outlives every connection */
	cardea_transport_session *ts;        /* back-pointer; ts owns this struct */
	char peer[INET6_ADDRSTRLEN + 1];

	/* Service thread only. */
	struct lws *wsi;                     /* NULL once closed */
	GList *node;                         /* in ws_state.conns; owned */
	char *rx;                            /* reassembly buffer; owned */
	size_t rx_len, rx_cap;
	bool rx_active;                      /* inside a (possibly fragmented) message */
	bool rx_binary;                      /* that message is binary: discarded */
	bool binary_logged;
	bool going_away;                     /* shutdown: close with 1001 when writable */
	cardea_token_bucket bucket;          /* requests_per_second */
	bool rate_logged;                    /* the first refusal was logged */
	/* Keepalive (pingpong_trigger/timeout), see ws_ka_tick(). */
	GList ka_link;                       /* in *ka_queue; data = this conn */
	GQueue *ka_queue;                    /* ws_state.ka_quiet, ka_pinged or NULL */
	gint64 ka_since;                     /* last pong (or open) / ping sent, monotonic us */
	bool ping_due;                       /* send a ping when writable */
	bool ka_dead;                        /* no pong in time: close when writable */

	/* Guarded by mutex. */
	GMutex mutex;
	GQueue out;                          /* GString*: LWS_PRE bytes, then the text; owned */
	size_t out_bytes;                    /* text bytes in `out` */
	bool pending;                        /* on the pending list */
	bool closed;                         /* CLOSED seen: refuse new messages */
	bool overflow;                       /* slow consumer: the socket is being killed */
} ws_conn;

static struct {
	const cardea_transport_core *core;   /* borrowed from the daemon */
	ws_settings settings;                /* read-only after init */
	ws_listener listeners[WS_LISTENER_COUNT];
	lws_retry_bo_t retry;                /* idle policy; must outlive the vhosts */
	struct lws_context *ctx;             /* owned; see the thread notes above */
	struct ev_loop *loop;                /* owned; NULL when lws runs its own poll() loop */
	GThread *thread;
	volatile gint stopping;              /* destroy(): stop accepting, close politely */
	volatile gint force_exit;            /* destroy(): grace period is over */
	volatile gint service_done;          /* the service thread is about to return */
	/* Guarded by pending_mutex. */
	GMutex pending_mutex;
	GPtrArray *pending;                  /* cardea_transport_session*, one ref each */
	struct lws_context *wake_ctx;        /* NULL once the service thread is gone */
	/* Service thread only. */
	GPtrArray *pending_spare;            /* swapped with `pending` to drain it unlocked */
	GQueue conns;                        /* ws_conn*, open connections */
	/* Keepalive, when pingpong_trigger and pingpong_timeout are both set:
	 * every connection is in one queue, each ordered by ka_since because
	 * entries are only ever appended with the current time. */
	GQueue ka_quiet;                     /* waiting for ka_since + trigger */
	GQueue ka_pinged;                    /* pinged, waiting for a pong until ka_since + timeout */
	lws_sorted_usec_list_t ka_sul;       /* one timer for all of them (poll loop) */
	ev_timer ka_timer;                   /* the same on the libev loop */
	bool ka_armed;                       /* one of them is scheduled */
	ev_timer sul_pump;                   /* libev loop: see ws_sul_pump() */
	guint64 next_conn_id;
	/* Counters for query_transport "stats" and /metrics; atomic. */
	volatile gint rate_limited;          /* requests refused by requests_per_second */
	volatile gint refused_connections;   /* connections refused by max_connections */
} ws_state;

static cardea_transport ws_transport;

/* ---- Connections ---- */

static void ws_out_clear(ws_conn *c) {
	GString *frame;
	while ((frame = g_queue_pop_head(&c->out)))
		g_string_free(frame, TRUE);
	c->out_bytes = 0;
}

/* free_p of the transport session: runs with the last ref, on any thread,
 * after the connection is closed (the transport's own ref is gone then). */
static void ws_conn_free(void *p) {
	ws_conn *c = p;
	ws_out_clear(c);
	g_mutex_clear(&c->mutex);
	g_free(c->rx);
	g_free(c);
}

static ws_listener *ws_listener_of(struct lws *wsi) {
	struct lws_vhost *vh = wsi ? lws_get_vhost(wsi) : NULL;
	return vh ? lws_vhost_user(vh) : NULL;
}

/* ---- Keepalive ----
 *
 * lws 4.1's own validity timers (retry_and_idle_policy) keep one timer per
 * connection in a sorted list, and every (re)arm walks that list: with
 * 5,000 idle connections the ping round every pingpong_trigger seconds cost
 * 5,000 x 5,000 steps and stalled the service thread for ~2 s (issue 8).
 * The same policy here costs O(1) per connection: two FIFO queues (a new
 * entry always has the latest time) and one lws timer for their heads.
 * Service thread only. */

static bool ws_ka_enabled(void) {
	return ws_state.settings.pingpong_trigger > 0 && ws_state.settings.pingpong_timeout > 0;
}

static void ws_ka_tick(lws_sorted_usec_list_t *sul);

/* On the libev loop the timer is a libev one: lws 4.1's libev glue re-arms
 * its single timer with ev_timer_set() while it is active, which libev
 * ignores, so an lws timer due earlier than the armed one fires late. */
static void ws_ka_arm(gint64 delay_us) {
	delay_us = MAX(delay_us, 1000);
	if (ws_state.loop) {
		ev_timer_stop(ws_state.loop, &ws_state.ka_timer);
		ev_timer_set(&ws_state.ka_timer, (ev_tstamp)delay_us / G_USEC_PER_SEC, 0.);
		ev_timer_start(ws_state.loop, &ws_state.ka_timer);
	} else {
		lws_sul_schedule(ws_state.ctx, 0, &ws_state.ka_sul, ws_ka_tick, delay_us);
	}
	ws_state.ka_armed = true;
}

static void ws_ka_ev(struct ev_loop *loop, ev_timer *w, int revents) {
	(void)loop; (void)w; (void)revents;
	ws_ka_tick(NULL);
}

/* The same lws glue bug delays lws's own timers (handshake and close
 * timeouts, the asynchronous kill of a connection that overflowed its queue)
 * until its armed timer fires, up to 30 s. lws services due timers after
 * every event: one wake-up a second bounds the delay. */
static void ws_sul_pump(struct ev_loop *loop, ev_timer *w, int revents) {
	(void)loop; (void)w; (void)revents;
	lws_cancel_service(ws_state.ctx);
}

static void ws_ka_unlink(ws_conn *c) {
	if (c->ka_queue)
		g_queue_unlink(c->ka_queue, &c->ka_link);
	c->ka_queue = NULL;
}

/* Opened or answered a ping: the next ping is due pingpong_trigger s from
 * now. Other traffic does not count (the policy lws had). */
static void ws_ka_alive(ws_conn *c) {
	if (!ws_ka_enabled())
		return;
	ws_ka_unlink(c);
	c->ka_dead = false;
	c->ka_since = g_get_monotonic_time();
	c->ka_link.data = c;
	g_queue_push_tail_link(&ws_state.ka_quiet, &c->ka_link);
	c->ka_queue = &ws_state.ka_quiet;
	/* An armed timer is due no later than this entry. */
	if (!ws_state.ka_armed)
		ws_ka_arm((gint64)ws_state.settings.pingpong_trigger * G_USEC_PER_SEC);
}

/* Hangs up on connections whose ping went unanswered, pings those whose
 * last pong is pingpong_trigger s old (a batch at a time: the writes happen
 * in their writable callbacks), re-arms for the earliest head. */
static void ws_ka_tick(lws_sorted_usec_list_t *sul) {
	(void)sul;
	ws_state.ka_armed = false;
	gint64 now = g_get_monotonic_time();
	gint64 trigger = (gint64)ws_state.settings.pingpong_trigger * G_USEC_PER_SEC;
	gint64 timeout = (gint64)ws_state.settings.pingpong_timeout * G_USEC_PER_SEC;
	int budget = WS_KA_BATCH;
	GList *link;
	while (budget > 0 && (link = ws_state.ka_pinged.head)) {
		ws_conn *c = link->data;
		if (now - c->ka_since < timeout)
			break;
		ws_ka_unlink(c);
		c->ka_dead = true;
		lws_callback_on_writable(c->wsi);
		budget--;
	}
	while (budget > 0 && (link = ws_state.ka_quiet.head)) {
		ws_conn *c = link->data;
		if (now - c->ka_since < trigger)
			break;
		ws_ka_unlink(c);
		c->ka_since = now;
		g_queue_push_tail_link(&ws_state.ka_pinged, &c->ka_link);
		c->ka_queue = &ws_state.ka_pinged;
		c->ping_due = true;
		lws_callback_on_writable(c->wsi);
		budget--;
	}
	if (budget == 0) {
		ws_ka_arm(WS_KA_BATCH_GAP_US);
		return;
	}
	gint64 next = G_MAXINT64;
	if ((link = ws_state.ka_pinged.head))
		next = ((ws_conn *)link->data)->ka_since + timeout;
	if ((link = ws_state.ka_quiet.head))
		next = MIN(next, ((ws_conn *)link->data)->ka_since + trigger);
	if (next != G_MAXINT64)
		ws_ka_arm(next - now);
}

static void ws_on_established(struct lws *wsi, ws_conn **slot) {
	ws_listener *l = ws_listener_of(wsi);
	ws_conn *c = g_new0(ws_conn, 1);
	c->id = ++ws_state.next_conn_id;
	c->listener = l;
	c->wsi = wsi;
	g_mutex_init(&c->mutex);
	g_queue_init(&c->out);
	cardea_token_bucket_init(&c->bucket, ws_state.settings.requests_per_second, ws_state.settings.requests_burst);
	if (!lws_get_peer_simple(wsi, c->peer, sizeof(c->peer)))
		g_strlcpy(c->peer, "?", sizeof(c->peer));
	else if (g_str_has_prefix(c->peer, "::ffff:") && strchr(c->peer, '.'))
		memmove(c->peer, c->peer + 7, strlen(c->peer + 7) + 1);
	c->ts = cardea_transport_session_new(c, ws_conn_free);
	c->node = g_list_alloc();
	c->node->data = c;
	g_queue_push_tail_link(&ws_state.conns, c->node);
	g_atomic_int_inc(&l->connections);
	*slot = c;
	ws_ka_alive(c);
	CARDEA_LOG(CARDEA_LOG_VERB, "[ws] #%" G_GUINT64_FORMAT " %s connection from %s\n",
		c->id, cardea_ws_listener_name(l->kind), c->peer);
}

static void ws_on_closed(ws_conn **slot) {
	ws_conn *c = *slot;
	cardea_transport_session *ts = c->ts;
	*slot = NULL;
	c->wsi = NULL;
	g_queue_delete_link(&ws_state.conns, c->node);
	c->node = NULL;
	ws_ka_unlink(c);
	g_free(c->rx);
	c->rx = NULL;
	c->rx_len = c->rx_cap = 0;
	g_atomic_int_add(&c->listener->connections, -1);
	g_mutex_lock(&c->mutex);
	c->closed = true;
	ws_out_clear(c);
	g_mutex_unlock(&c->mutex);
	CARDEA_LOG(CARDEA_LOG_VERB, "[ws] #%" G_GUINT64_FORMAT " %s connection from %s closed\n",
		c->id, cardea_ws_listener_name(c->listener->kind), c->peer);
	ws_state.core->transport_gone(&ws_transport, ts);
	cardea_transport_session_unref(ts);
}

static int ws_send_message(cardea_transport_session *ts, void *request_id, bool admin, json_t *message);

/* A request over the connection's requests_per_second: answered here with
 * 450 (naming the request's transaction when it has one, so the client's
 * request does not just hang), never seen by the core. Parsing is bounded by
 * max_message_size like any request; invalid JSON counts and gets the same
 * answer without a transaction. */
static void ws_refuse_rate(ws_conn *c, const char *text, size_t len) {
	g_atomic_int_inc(&ws_state.rate_limited);
	if (!c->rate_logged) {
		CARDEA_LOG(CARDEA_LOG_WARN, "[ws] #%" G_GUINT64_FORMAT " %s: more than %u requests per second, "
			"refusing the excess (logged once per connection)\n", c->id, c->peer,
			ws_state.settings.requests_per_second);
		c->rate_logged = true;
	}
	json_t *root = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, NULL);
	const char *tx = json_string_value(json_object_get(root, "transaction"));
	json_t *err = json_pack("{s:s, s:{s:i, s:s}}", "janus", "error", "error", "code", 450,
		"reason", "Too many requests on this connection (requests_per_second)");
	if (tx)
		json_object_set_new(err, "transaction", json_string(tx));
	json_decref(root);
	ws_send_message(c->ts, NULL, c->listener->conf->admin, err);
}

static void ws_deliver(ws_conn *c, const char *text, size_t len) {
	if (!cardea_token_bucket_take(&c->bucket, g_get_monotonic_time())) {
		ws_refuse_rate(c, text, len);
		return;
	}
	if (ws_state.core->incoming_request_from)
		ws_state.core->incoming_request_from(&ws_transport, c->ts, NULL, c->listener->conf->admin,
			text, len, 0, 0, c->peer);
	else
		ws_state.core->incoming_request(&ws_transport, c->ts, NULL, c->listener->conf->admin,
			text, len, 0, 0);
}

/* Reassembles fragmented text messages (lws also hands over big frames in
 * WS_RX_CHUNK pieces) and passes each complete one to the core. Returns
 * nonzero to close the connection. */
static int ws_on_receive(ws_conn *c, struct lws *wsi, const char *in, size_t len) {
	bool last = lws_is_final_fragment(wsi);
	if (!c->rx_active) {
		c->rx_active = true;
		c->rx_binary = lws_frame_is_binary(wsi);
		c->rx_len = 0;
	}
	if (c->rx_binary) {
		if (!c->binary_logged) {
			CARDEA_LOG(CARDEA_LOG_WARN, "[ws] #%" G_GUINT64_FORMAT " %s: binary frames are not "
				"part of the Janus API, ignoring them\n", c->id, c->peer);
			c->binary_logged = true;
		}
		if (last)
			c->rx_active = false;
		return 0;
	}
	size_t max = ws_state.settings.max_message_size;
	if (len > max - c->rx_len) {
		CARDEA_LOG(CARDEA_LOG_WARN, "[ws] #%" G_GUINT64_FORMAT " %s: message larger than "
			"max_message_size (%zu bytes), closing with 1009\n", c->id, c->peer, max);
		static const char reason[] = "message too big";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
			(unsigned char *)reason, sizeof(reason) - 1);
		c->rx_active = false;
		return -1;
	}
	if (last && c->rx_len == 0) {
		/* The common case: the whole message in one piece, no copy. */
		c->rx_active = false;
		ws_deliver(c, in, len);
		return 0;
	}
	if (c->rx_len + len > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 4096;
		while (cap < c->rx_len + len)
			cap *= 2;
		c->rx = g_realloc(c->rx, MIN(cap, max));
		c->rx_cap = MIN(cap, max);
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (!last)
		return 0;
	c->rx_active = false;
	ws_deliver(c, c->rx, c->rx_len);
	c->rx_len = 0;
	if (c->rx_cap > WS_RX_KEEP) {
		g_free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
	return 0;
}

/* Writes queued messages, one text frame each, while the socket takes them
 * (lws_send_pipe_choked() is the sanctioned check before a further
 * lws_write() in the same callback), up to a batch so that one busy
 * connection does not starve the others; asks for another callback while
 * more are queued. Returns nonzero to close. */
static int ws_on_writeable(ws_conn *c, struct lws *wsi) {
	if (c->going_away) {
		static const char reason[] = "server shutting down";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)reason, sizeof(reason) - 1);
		return -1;
	}
	if (c->ka_dead) {
		CARDEA_LOG(CARDEA_LOG_VERB, "[ws] #%" G_GUINT64_FORMAT " %s: no pong within %d s, closing\n",
			c->id, c->peer, ws_state.settings.pingpong_timeout);
		return -1;
	}
	bool wrote = false;
	if (c->ping_due) {
		/* With a payload: lws 4.1 reports only non-empty pongs. */
		unsigned char ping[LWS_PRE + 2] = { [LWS_PRE] = 'k', [LWS_PRE + 1] = 'a' };
		c->ping_due = false;
		if (lws_write(wsi, ping + LWS_PRE, 2, LWS_WRITE_PING) < 0)
			return -1;
		wrote = true;
	}
	bool more = false;
	for (int i = 0; i < WS_WRITE_BATCH; i++) {
		if ((i > 0 || wrote) && lws_send_pipe_choked(wsi)) {
			g_mutex_lock(&c->mutex);
			more = !g_queue_is_empty(&c->out);
			g_mutex_unlock(&c->mutex);
			break;
		}
		g_mutex_lock(&c->mutex);
		if (c->overflow) {
			g_mutex_unlock(&c->mutex);
			return -1;
		}
		GString *frame = g_queue_pop_head(&c->out);
		if (frame)
			c->out_bytes -= frame->len - LWS_PRE;
		more = !g_queue_is_empty(&c->out);
		g_mutex_unlock(&c->mutex);
		if (!frame)
			break;
		size_t n = frame->len - LWS_PRE;
		int written = lws_write(wsi, (unsigned char *)frame->str + LWS_PRE, n, LWS_WRITE_TEXT);
		g_string_free(frame, TRUE);
		if (written < 0) {
			CARDEA_LOG(CARDEA_LOG_WARN, "[ws] #%" G_GUINT64_FORMAT " %s: write failed, closing\n",
				c->id, c->peer);
			return -1;
		}
		if (!more)
			break;
	}
	if (more)
		lws_callback_on_writable(wsi);
	return 0;
}

/* Service thread, on every wake-up: turn the pending list into writable
 * requests (or kills, for connections that overflowed their queue). */
static void ws_drain_pending(void) {
	g_mutex_lock(&ws_state.pending_mutex);
	GPtrArray *batch = ws_state.pending;
	ws_state.pending = ws_state.pending_spare;
	g_mutex_unlock(&ws_state.pending_mutex);
	ws_state.pending_spare = batch;

	for (guint i = 0; i < batch->len; i++) {
		cardea_transport_session *ts = batch->pdata[i];
		ws_conn *c = ts->transport_p;
		g_mutex_lock(&c->mutex);
		c->pending = false;
		bool kill = c->overflow;
		g_mutex_unlock(&c->mutex);
		if (c->wsi) {
			if (kill)
				lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
			else
				lws_callback_on_writable(c->wsi);
		}
		cardea_transport_session_unref(ts);
	}
	g_ptr_array_set_size(batch, 0);
}

/* ---- Access control ---- */

static bool ws_acl_allows(const ws_listener_conf *conf, const struct sockaddr_storage *sa) {
	if (!conf->acl || !conf->acl[0])
		return true;
	char ip[INET6_ADDRSTRLEN] = "";
	const char *addr = ip;
	if (sa->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
	} else if (sa->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
		/* Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; match the
		 * list against the plain IPv4 form admins write. */
		if (g_str_has_prefix(ip, "::ffff:") && strchr(ip, '.'))
			addr = ip + 7;
	} else {
		return false;
	}
	for (char **p = conf->acl; *p; p++)
		if (g_str_has_prefix(addr, *p))
			return true;
	return false;
}

/* ---- The lws callback (service thread) ---- */

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
	ws_conn **slot = user;
	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
		ws_listener *l = ws_listener_of(wsi);
		const struct lws_filter_network_conn_args *args = user;
		if (l && args && !ws_acl_allows(l->conf, &args->cli_addr)) {
			CARDEA_LOG(CARDEA_LOG_WARN, "[ws] %s: connection refused by the ACL\n",
				cardea_ws_listener_name(l->kind));
			return -1;
		}
		/* Established connections only: a handshake in progress is bounded
		 * by lws's own timeout. */
		if (l && ws_state.settings.max_connections > 0 &&
				g_atomic_int_get(&l->connections) >= ws_state.settings.max_connections) {
			if (g_atomic_int_add(&ws_state.refused_connections, 1) % 1000 == 0)
				CARDEA_LOG(CARDEA_LOG_WARN, "[ws] %s: max_connections (%d) reached, refusing connections\n",
					cardea_ws_listener_name(l->kind), ws_state.settings.max_connections);
			return -1;
		}
		return 0;
	}
	case LWS_CALLBACK_HTTP:
		/* Plain HTTP on a WebSocket port: refuse, as Janus does. */
		if (lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* lws would bind a client that offers no subprotocol to the
		 * listener's only protocol; Janus 1.1.2 refuses such a handshake
		 * (the socket is closed without a response), and so do we.
		 * Unknown subprotocols are refused by lws itself. */
		if (g_atomic_int_get(&ws_state.stopping))
			return -1;
		if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) <= 0) {
			ws_listener *l = ws_listener_of(wsi);
			CARDEA_LOG(CARDEA_LOG_WARN, "[ws] %s: refused a handshake without subprotocol "
				"(expected %s)\n", l ? cardea_ws_listener_name(l->kind) : "?",
				l && l->conf->admin ? WS_ADMIN_PROTOCOL : WS_PROTOCOL);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		if (!slot)
			return -1;
		ws_on_established(wsi, slot);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (!slot || !*slot)
			return -1;
		return ws_on_receive(*slot, wsi, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!slot || !*slot)
			return -1;
		return ws_on_writeable(*slot, wsi);
	case LWS_CALLBACK_RECEIVE_PONG:
		if (slot && *slot)
			ws_ka_alive(*slot);
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (slot && *slot)
			ws_on_closed(slot);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* Delivered once per protocol per vhost; the first one drains. */
		ws_drain_pending();
		/* On a libev loop lws_service() returns only when asked to: let the
		 * service thread look at the shutdown flags (destroy() keeps
		 * poking until it is done). */
		if (ws_state.loop && g_atomic_int_get(&ws_state.stopping))
			ev_break(ws_state.loop, EVBREAK_ALL);
		return 0;
	default:
		return 0;
	}
}

/* ---- Service thread ---- */

/* lws_service() is one poll() turn on lws's own loop, or ev_run() until
 * ev_break() on a libev loop; the loops below suit both. */
static gpointer ws_service_thread(gpointer data) {
	CARDEA_LOG(CARDEA_LOG_VERB, "[ws] service thread started\n");
	while (!g_atomic_int_get(&ws_state.stopping))
		lws_service(ws_state.ctx, 0);
	/* Shutting down: tell every client we are going away and give them a
	 * moment to answer the close, so they see 1001 rather than a reset. */
	for (GList *l = ws_state.conns.head; l; l = l->next) {
		ws_conn *c = l->data;
		c->going_away = true;
		lws_callback_on_writable(c->wsi);
	}
	while (ws_state.conns.length && !g_atomic_int_get(&ws_state.force_exit))
		lws_service(ws_state.ctx, 0);
	if (ws_state.loop) {
		ev_timer_stop(ws_state.loop, &ws_state.ka_timer);
		ev_timer_stop(ws_state.loop, &ws_state.sul_pump);
	} else {
		lws_sul_schedule(ws_state.ctx, 0, &ws_state.ka_sul, NULL, LWS_SET_TIMER_USEC_CANCEL);
	}
	ws_state.ka_armed = false;
	CARDEA_LOG(CARDEA_LOG_VERB, "[ws] service thread leaving\n");
	g_atomic_int_set(&ws_state.service_done, 1);
	return NULL;
}

/* ---- Logging from lws ---- */

static void ws_lws_log(int level, const char *line) {
	int ours = CARDEA_LOG_DBG;
	if (level & LLL_ERR)
		ours = CARDEA_LOG_ERR;
	else if (level & LLL_WARN)
		ours = CARDEA_LOG_WARN;
	else if (level & (LLL_NOTICE | LLL_USER))
		ours = CARDEA_LOG_INFO;
	else if (level & LLL_INFO)
		ours = CARDEA_LOG_VERB;
	/* lws lines already end with a newline. */
	CARDEA_LOG(ours, "[ws] lws: %s", line);
}

/* ---- Transport callbacks ---- */

static int ws_dump_cb(const char *buffer, size_t size, void *data) {
	g_string_append_len(data, buffer, (gssize)size);
	return 0;
}

static int ws_send_message(cardea_transport_session *ts, void *request_id, bool admin, json_t *message) {
	if (!message)
		return -1;
	if (!ts || !ts->transport_p || g_atomic_int_get(&ts->gone)) {
		json_decref(message);
		return -1;
	}
	ws_conn *c = ts->transport_p;
	/* Serialize here, on the caller's thread, straight after LWS_PRE bytes of
	 * headroom so the service thread can hand the buffer to lws_write(). */
	GString *frame = g_string_sized_new(LWS_PRE + 256);
	g_string_set_size(frame, LWS_PRE);
	int rc = json_dump_callback(message, ws_dump_cb, frame,
		ws_state.settings.json_flags);
	json_decref(message);
	if (rc != 0) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[ws] #%" G_GUINT64_FORMAT ": could not serialize a message\n", c->id);
		g_string_free(frame, TRUE);
		return -1;
	}
	size_t n = frame->len - LWS_PRE;

	bool schedule = false, dropped = false, refused = false;
	g_mutex_lock(&c->mutex);
	if (c->closed || c->overflow) {
		refused = true;
	} else if (!g_queue_is_empty(&c->out) && c->out_bytes + n > ws_state.settings.max_queued_bytes) {
		/* The client does not read: drop it rather than buffer without bound.
		 * A single message larger than the limit is still let through. */
		c->overflow = true;
		dropped = true;
		ws_out_clear(c);
	} else {
		g_queue_push_tail(&c->out, frame);
		c->out_bytes += n;
		frame = NULL;
	}
	if (!refused && !c->pending) {
		c->pending = true;
		schedule = true;
	}
	g_mutex_unlock(&c->mutex);
	if (frame)
		g_string_free(frame, TRUE);
	if (dropped)
		CARDEA_LOG(CARDEA_LOG_WARN, "[ws] #%" G_GUINT64_FORMAT " %s: more than %zu bytes queued "
			"(client not reading), dropping the connection\n", c->id, c->peer,
			ws_state.settings.max_queued_bytes);
	if (schedule) {
		cardea_transport_session_ref(ts);
		g_mutex_lock(&ws_state.pending_mutex);
		if (!ws_state.wake_ctx) {
			/* destroy() is past the service thread: nobody will write it. */
			g_mutex_unlock(&ws_state.pending_mutex);
			cardea_transport_session_unref(ts);
			return -1;
		}
		/* Only the first entry needs a wake-up: the service thread drains
		 * the whole list in one go. */
		bool wake = ws_state.pending->len == 0;
		g_ptr_array_add(ws_state.pending, ts);
		if (wake)
			lws_cancel_service(ws_state.wake_ctx);
		g_mutex_unlock(&ws_state.pending_mutex);
	}
	return (refused || dropped) ? -1 : 0;
}

static bool ws_is_janus_api_enabled(void) {
	const ws_listener_conf *l = ws_state.settings.listeners;
	return l[WS_LISTENER_WS].enabled || l[WS_LISTENER_WSS].enabled;
}

static bool ws_is_admin_api_enabled(void) {
	const ws_listener_conf *l = ws_state.settings.listeners;
	return l[WS_LISTENER_ADMIN_WS].enabled || l[WS_LISTENER_ADMIN_WSS].enabled;
}

/* Events are routed by transport session, so nothing to track here. */
static void ws_session_created(cardea_transport_session *ts, guint64 session_id) {
	ws_conn *c = ts ? ts->transport_p : NULL;
	CARDEA_LOG(CARDEA_LOG_HUGE, "[ws] #%" G_GUINT64_FORMAT ": session %" G_GUINT64_FORMAT " bound\n",
		c ? c->id : 0, session_id);
}

static void ws_session_over(cardea_transport_session *ts, guint64 session_id, bool timeout, bool claimed) {
	ws_conn *c = ts ? ts->transport_p : NULL;
	CARDEA_LOG(CARDEA_LOG_HUGE, "[ws] #%" G_GUINT64_FORMAT ": session %" G_GUINT64_FORMAT " over%s%s\n",
		c ? c->id : 0, session_id, timeout ? " (timeout)" : "", claimed ? " (claimed)" : "");
}

/* Admin query_transport: {"request":"connections"} (the default) reports the
 * enabled listeners and how many connections each has open; "stats" the
 * abuse counters as flat numbers (the core exports them in /metrics). */
static json_t *ws_query_transport(json_t *request) {
	const char *what = json_string_value(json_object_get(request, "request"));
	if (what && !strcmp(what, "stats")) {
		int open = 0;
		for (int i = 0; i < WS_LISTENER_COUNT; i++)
			open += g_atomic_int_get(&ws_state.listeners[i].connections);
		return json_pack("{sisisi}", "connections", open,
			"requests_rate_limited", g_atomic_int_get(&ws_state.rate_limited),
			"connections_refused", g_atomic_int_get(&ws_state.refused_connections));
	}
	if (what && strcmp(what, "connections"))
		return json_pack("{siss}", "error_code", 1, "error", "unknown request (supported: connections, stats)");
	json_t *listeners = json_object();
	int total = 0;
	for (int i = 0; i < WS_LISTENER_COUNT; i++) {
		ws_listener *l = &ws_state.listeners[i];
		if (!l->conf || !l->conf->enabled)
			continue;
		int n = g_atomic_int_get(&l->connections);
		total += n;
		json_object_set_new(listeners, cardea_ws_listener_name(l->kind), json_pack("{sisssbsi}",
			"port", l->conf->port, "ip", l->conf->ip ? l->conf->ip : "",
			"admin", l->conf->admin, "connections", n));
	}
	return json_pack("{sosi}", "listeners", listeners, "connections", total);
}

/* ---- Lifecycle (main thread) ---- */

/* lws 4.1 built with IPv6 looks `iface` up as an interface name, then as an
 * IPv6 literal; an IPv4 literal matches neither and the listener silently
 * binds to every address (an admin port meant for 127.0.0.1 would be
 * public). Hand IPv4 addresses over in their v4-mapped IPv6 form. */
static char *ws_bind_address(const char *ip) {
#if defined(LWS_WITH_IPV6)
	struct in_addr a4;
	if (ip && inet_pton(AF_INET, ip, &a4) == 1)
		return g_strdup_printf("::ffff:%s", ip);
#endif
	return g_strdup(ip);
}

static bool ws_listener_start(ws_listener *l) {
	const ws_settings *s = &ws_state.settings;
	const ws_listener_conf *conf = l->conf;
	const char *name = cardea_ws_listener_name(l->kind);

	l->protocols[0] = (struct lws_protocols){
		.name = conf->admin ? WS_ADMIN_PROTOCOL : WS_PROTOCOL,
		.callback = ws_callback,
		.per_session_data_size = sizeof(ws_conn *),
		.rx_buffer_size = WS_RX_CHUNK,
	};
	memset(&l->protocols[1], 0, sizeof(l->protocols[1]));

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.vhost_name = name;
	info.port = conf->port;
	l->bind_addr = ws_bind_address(conf->ip);
	info.iface = l->bind_addr;
	info.protocols = l->protocols;
	info.user = l;
	info.retry_and_idle_policy = &ws_state.retry;
	info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
	if (conf->secure) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = s->cert_pem;
		info.ssl_private_key_filepath = (s->cert_key && *s->cert_key) ? s->cert_key : s->cert_pem;
		info.ssl_private_key_password = s->cert_pwd;
	}
	l->vhost = lws_create_vhost(ws_state.ctx, &info);
	if (!l->vhost) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[ws] could not start the %s listener on %s:%d%s "
			"(port in use, bad address%s?)\n", name, conf->ip ? conf->ip : "*", conf->port,
			conf->secure ? " with TLS" : "", conf->secure ? " or unusable certificate" : "");
		return false;
	}
	CARDEA_LOG(CARDEA_LOG_INFO, "[ws] %s API on %s://%s:%d (%s)\n", conf->admin ? "Admin" : "Janus",
		conf->secure ? "wss" : "ws", conf->ip ? conf->ip : "*", conf->port, l->protocols[0].name);
	return true;
}

/* The context on a libev epoll loop when event_loop = "epoll": a wake-up then
 * costs the same whatever the number of idle connections, where lws's own
 * loop poll()s every descriptor each time (5,000 idle connections made a
 * request ~10 times slower, issue 8). lws 4.1 loads the libev glue as a
 * plugin (Debian: libwebsockets-evlib-ev); without it, lws's own loop. The
 * loop is ours ("foreign" to lws) so that lws installs no signal watcher. */
static struct lws_context *ws_create_context(struct lws_context_creation_info *info) {
	if (ws_state.settings.epoll) {
		ws_state.loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
		if (ws_state.loop) {
			void *loops[1] = { ws_state.loop };
			struct lws_context_creation_info ev_info = *info;
			ev_info.options |= LWS_SERVER_OPTION_LIBEV;
			ev_info.foreign_loops = loops;
			struct lws_context *ctx = lws_create_context(&ev_info);
			if (ctx) {
				ev_timer_init(&ws_state.ka_timer, ws_ka_ev, 1., 0.);
				ev_timer_init(&ws_state.sul_pump, ws_sul_pump, 1., 1.);
				ev_timer_start(ws_state.loop, &ws_state.sul_pump);
				CARDEA_LOG(CARDEA_LOG_INFO, "[ws] event loop: epoll (libev)\n");
				return ctx;
			}
			ev_loop_destroy(ws_state.loop);
			ws_state.loop = NULL;
		}
		CARDEA_LOG(CARDEA_LOG_WARN, "[ws] no libev epoll loop for libwebsockets (is "
			"libwebsockets-evlib-ev installed?): using lws's poll() loop, which slows "
			"down with many open connections\n");
	}
	struct lws_context *ctx = lws_create_context(info);
	if (ctx)
		CARDEA_LOG(CARDEA_LOG_INFO, "[ws] event loop: poll\n");
	return ctx;
}

/* Main thread, service thread gone (or never started). On a libev loop lws
 * only stops its watchers, so the loop can go straight after. */
static void ws_context_destroy(void) {
	lws_context_destroy(ws_state.ctx);
	ws_state.ctx = NULL;
	if (ws_state.loop) {
		ev_loop_destroy(ws_state.loop);
		ws_state.loop = NULL;
	}
}

static void ws_release_pending(GPtrArray *a) {
	if (!a)
		return;
	for (guint i = 0; i < a->len; i++)
		cardea_transport_session_unref(a->pdata[i]);
	g_ptr_array_free(a, TRUE);
}

static void ws_reset_state(void) {
	g_mutex_lock(&ws_state.pending_mutex);
	GPtrArray *pending = ws_state.pending;
	ws_state.pending = NULL;
	ws_state.wake_ctx = NULL;
	g_mutex_unlock(&ws_state.pending_mutex);
	ws_release_pending(pending);
	ws_release_pending(ws_state.pending_spare);
	ws_state.pending_spare = NULL;
	/* lws keeps the emit function pointer; this module may be unloaded. */
	lws_set_log_level(0, lwsl_emit_stderr);
	cardea_ws_settings_clear(&ws_state.settings);
	for (int i = 0; i < WS_LISTENER_COUNT; i++)
		g_free(ws_state.listeners[i].bind_addr);
	memset(ws_state.listeners, 0, sizeof(ws_state.listeners));
	ws_state.thread = NULL;
	ws_state.ctx = NULL;
	ws_state.core = NULL;
	g_atomic_int_set(&ws_state.stopping, 0);
	g_atomic_int_set(&ws_state.force_exit, 0);
	g_atomic_int_set(&ws_state.service_done, 0);
}

static int ws_init(const cardea_transport_core *core, const char *config_path) {
	if (!core || !core->incoming_request || !core->transport_gone) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[ws] init without core callbacks\n");
		return -1;
	}
	if (ws_state.ctx) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[ws] init called twice\n");
		return -1;
	}
	GError *error = NULL;
	if (!cardea_ws_settings_load(config_path, &ws_state.settings, &error)) {
		CARDEA_LOG(CARDEA_LOG_ERR, "%s\n", error ? error->message : "[ws] bad configuration");
		g_clear_error(&error);
		cardea_ws_settings_clear(&ws_state.settings);
		return -1;
	}
	if (!ws_is_janus_api_enabled() && !ws_is_admin_api_enabled()) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[ws] %s: no listener enabled (ws, wss, admin_ws, admin_wss all "
			"false); disable the module instead\n", config_path ? config_path : "config");
		cardea_ws_settings_clear(&ws_state.settings);
		return -1;
	}
	ws_state.core = core;
	lws_set_log_level(ws_state.settings.lws_log_mask, ws_lws_log);

	/* lws's validity checks stay off (a zero hangup time; an absent policy
	 * would mean lws's default of 5 minutes): ws_ka_tick() does the
	 * pingpong_trigger/timeout policy at a cost that does not grow with
	 * the number of connections. */
	memset(&ws_state.retry, 0, sizeof(ws_state.retry));

	bool tls = false;
	for (int i = 0; i < WS_LISTENER_COUNT; i++) {
		ws_state.listeners[i].kind = i;
		ws_state.listeners[i].conf = &ws_state.settings.listeners[i];
		tls = tls || (ws_state.settings.listeners[i].enabled && ws_state.settings.listeners[i].secure);
	}
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.gid = -1;
	info.uid = -1;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
	ws_state.pending = g_ptr_array_new();
	ws_state.pending_spare = g_ptr_array_new();
	g_queue_init(&ws_state.conns);
	g_queue_init(&ws_state.ka_quiet);
	g_queue_init(&ws_state.ka_pinged);
	memset(&ws_state.ka_sul, 0, sizeof(ws_state.ka_sul));
	ws_state.ka_armed = false;
	ws_state.ctx = ws_create_context(&info);
	if (!ws_state.ctx) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[ws] could not create the libwebsockets context\n");
		ws_reset_state();
		return -1;
	}
	for (int i = 0; i < WS_LISTENER_COUNT; i++) {
		if (ws_state.listeners[i].conf->enabled && !ws_listener_start(&ws_state.listeners[i])) {
			ws_context_destroy();
			ws_reset_state();
			return -1;
		}
	}
	g_mutex_lock(&ws_state.pending_mutex);
	ws_state.wake_ctx = ws_state.ctx;
	g_mutex_unlock(&ws_state.pending_mutex);
	ws_state.thread = g_thread_try_new("cardea-ws", ws_service_thread, NULL, &error);
	if (!ws_state.thread) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[ws] could not start the service thread: %s\n",
			error ? error->message : "?");
		g_clear_error(&error);
		ws_context_destroy();
		ws_reset_state();
		return -1;
	}
	if (ws_ka_enabled())
		CARDEA_LOG(CARDEA_LOG_VERB, "[ws] ping after %d s of silence, hang up %d s later\n",
			ws_state.settings.pingpong_trigger, ws_state.settings.pingpong_timeout);
	return 0;
}

/* Closes every connection (1001, then whatever is left after a short grace
 * period is dropped), stops the service thread and frees everything. */
static void ws_destroy(void) {
	if (!ws_state.ctx)
		return;
	g_atomic_int_set(&ws_state.stopping, 1);
	gint64 deadline = g_get_monotonic_time() + WS_SHUTDOWN_GRACE_US;
	/* lws_service() sleeps until an event: keep poking it so the service
	 * thread sees the flags and the grace period stays bounded. */
	while (!g_atomic_int_get(&ws_state.service_done)) {
		if (g_get_monotonic_time() >= deadline)
			g_atomic_int_set(&ws_state.force_exit, 1);
		lws_cancel_service(ws_state.ctx);
		g_usleep(5 * 1000);
	}
	g_thread_join(ws_state.thread);
	g_mutex_lock(&ws_state.pending_mutex);
	ws_state.wake_ctx = NULL;
	g_mutex_unlock(&ws_state.pending_mutex);
	/* Anything still open is closed here, on this thread (CLOSED callbacks
	 * run synchronously and report transport_gone). */
	ws_context_destroy();
	ws_reset_state();
	CARDEA_LOG(CARDEA_LOG_INFO, "[ws] stopped\n");
}

static cardea_transport ws_transport = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_TRANSPORT, cardea_transport),
		.package = "cardea.transport.websockets",
		.name = "websockets",
		.description = "Janus API and Admin API over WebSockets (libwebsockets)",
		.author = "Cardea",
		.version_string = CARDEA_VERSION_STRING,
		.version = CARDEA_VERSION_NUMBER,
	},
	.init = ws_init,
	.destroy = ws_destroy,
	.is_janus_api_enabled = ws_is_janus_api_enabled,
	.is_admin_api_enabled = ws_is_admin_api_enabled,
	.send_message = ws_send_message,
	.session_created = ws_session_created,
	.session_over = ws_session_over,
	.query_transport = ws_query_transport,
};

CARDEA_MODULE_DEFINE(ws_transport)
