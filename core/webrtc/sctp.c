/* SCTP over DTLS for data channels (see sctp.h for threads and lifetimes).
 *
 * Receive path, on the owning context's thread: DTLS record ->
 * usrsctp_conninput -> (usrsctp queues the data, calls our upcall, which
 * only sets a flag or schedules a pump) -> once usrsctp has returned,
 * usrsctp_recvv until it would block -> reassemble -> DCEP, or `message`.
 * Send path: cardea_sctp_send -> usrsctp_sendv -> usrsctp calls our output
 * function with each packet: straight to `send` when that happens on the
 * owning thread, else a copy queued for the pump.
 */
#include <errno.h>
#include <string.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <usrsctp.h>
#include "cardea/module.h"
#include "webrtc/sctp.h"

#define SCTP_READ_CHUNK 16384
/* usrsctp's own socket buffers: room for a few maximum-size messages. */
#define SCTP_SOCKET_BUFFER (1024 * 1024)
/* usrsctp lets go of aborted associations from its timer thread. */
#define SCTP_FINISH_TRIES 300
#define SCTP_FINISH_WAIT_US 10000

G_DEFINE_QUARK(cardea-sctp-error-quark, cardea_sctp_error)

/* ---- DCEP (pure) ---- */

guint8 cardea_dcep_message_type(const guint8 *buf, gsize len) {
	return buf && len > 0 ? buf[0] : 0;
}

gboolean cardea_dcep_channel_type_valid(guint8 t) {
	switch (t) {
	case CARDEA_DCEP_RELIABLE:
	case CARDEA_DCEP_RELIABLE_UNORDERED:
	case CARDEA_DCEP_PARTIAL_REXMIT:
	case CARDEA_DCEP_PARTIAL_REXMIT_UNORDERED:
	case CARDEA_DCEP_PARTIAL_TIMED:
	case CARDEA_DCEP_PARTIAL_TIMED_UNORDERED:
		return TRUE;
	default:
		return FALSE;
	}
}

const char *cardea_dcep_channel_type_name(guint8 t) {
	switch (t) {
	case CARDEA_DCEP_RELIABLE: return "reliable";
	case CARDEA_DCEP_RELIABLE_UNORDERED: return "reliable-unordered";
	case CARDEA_DCEP_PARTIAL_REXMIT: return "partial-rexmit";
	case CARDEA_DCEP_PARTIAL_REXMIT_UNORDERED: return "partial-rexmit-unordered";
	case CARDEA_DCEP_PARTIAL_TIMED: return "partial-timed";
	case CARDEA_DCEP_PARTIAL_TIMED_UNORDERED: return "partial-timed-unordered";
	default: return "unknown";
	}
}

cardea_dcep_status cardea_dcep_parse_open(const guint8 *buf, gsize len, cardea_dcep_open *out) {
	if (buf == NULL || out == NULL || len < CARDEA_DCEP_OPEN_HEADER)
		return CARDEA_DCEP_TRUNCATED;
	if (buf[0] != CARDEA_DCEP_OPEN || !cardea_dcep_channel_type_valid(buf[1]))
		return CARDEA_DCEP_BAD_TYPE;
	guint16 label_len = (guint16)(buf[8] << 8 | buf[9]);
	guint16 protocol_len = (guint16)(buf[10] << 8 | buf[11]);
	if ((gsize)CARDEA_DCEP_OPEN_HEADER + label_len + protocol_len > len)
		return CARDEA_DCEP_TRUNCATED;
	const char *label = (const char *)buf + CARDEA_DCEP_OPEN_HEADER;
	const char *protocol = label + label_len;
	/* Both become C strings for plugins: an embedded NUL would silently
	 * rename the channel. */
	if (memchr(label, 0, label_len) != NULL || memchr(protocol, 0, protocol_len) != NULL)
		return CARDEA_DCEP_BAD_STRING;
	out->channel_type = buf[1];
	out->priority = (guint16)(buf[2] << 8 | buf[3]);
	out->reliability = (guint32)buf[4] << 24 | (guint32)buf[5] << 16 | (guint32)buf[6] << 8 | buf[7];
	out->label = label;
	out->label_len = label_len;
	out->protocol = protocol;
	out->protocol_len = protocol_len;
	return CARDEA_DCEP_OK;
}

cardea_dcep_status cardea_dcep_write_open(const cardea_dcep_open *o, guint8 *out, gsize cap, gsize *written) {
	if (o == NULL || out == NULL || !cardea_dcep_channel_type_valid(o->channel_type) ||
			(o->label_len && o->label == NULL) || (o->protocol_len && o->protocol == NULL))
		return CARDEA_DCEP_BAD_TYPE;
	gsize need = (gsize)CARDEA_DCEP_OPEN_HEADER + o->label_len + o->protocol_len;
	if (cap < need)
		return CARDEA_DCEP_NO_ROOM;
	out[0] = CARDEA_DCEP_OPEN;
	out[1] = o->channel_type;
	out[2] = (guint8)(o->priority >> 8);
	out[3] = (guint8)o->priority;
	out[4] = (guint8)(o->reliability >> 24);
	out[5] = (guint8)(o->reliability >> 16);
	out[6] = (guint8)(o->reliability >> 8);
	out[7] = (guint8)o->reliability;
	out[8] = (guint8)(o->label_len >> 8);
	out[9] = (guint8)o->label_len;
	out[10] = (guint8)(o->protocol_len >> 8);
	out[11] = (guint8)o->protocol_len;
	if (o->label_len)
		memcpy(out + CARDEA_DCEP_OPEN_HEADER, o->label, o->label_len);
	if (o->protocol_len)
		memcpy(out + CARDEA_DCEP_OPEN_HEADER + o->label_len, o->protocol, o->protocol_len);
	if (written)
		*written = need;
	return CARDEA_DCEP_OK;
}

cardea_dcep_status cardea_dcep_write_ack(guint8 *out, gsize cap, gsize *written) {
	if (out == NULL || cap < 1)
		return CARDEA_DCEP_NO_ROOM;
	out[0] = CARDEA_DCEP_ACK;
	if (written)
		*written = 1;
	return CARDEA_DCEP_OK;
}

const char *cardea_sctp_status_name(cardea_sctp_status s) {
	switch (s) {
	case CARDEA_SCTP_OK: return "ok";
	case CARDEA_SCTP_NOT_UP: return "association not up";
	case CARDEA_SCTP_TOO_BIG: return "message over the peer's max-message-size";
	case CARDEA_SCTP_NO_STREAM: return "no free stream id";
	case CARDEA_SCTP_BUFFER_FULL: return "send buffer full";
	case CARDEA_SCTP_FAILED: return "error";
	}
	return "?";
}

/* ---- associations: state ---- */

typedef struct sctp_channel {
	guint16 sid;
	char *label, *protocol;         /* owned */
	guint8 type;                    /* cardea_dcep_channel_type */
	guint32 reliability;
	gboolean local;                 /* we sent the OPEN */
	gboolean acked;                 /* the peer's ACK came (or the peer opened it) */
	guint64 messages_in, messages_out;
} sctp_channel;

/* A packet usrsctp produced on its own thread, waiting for the pump. */
typedef struct sctp_pkt {
	gsize len;
	guint8 data[];
} sctp_pkt;

struct cardea_sctp {
	gint ref;                       /* owner + one per attached pump source */
	guint id;                       /* the address usrsctp knows us by; key in `table` */
	GMainContext *context;          /* borrowed: outlives the association */
	cardea_sctp_config cfg;
	cardea_sctp_callbacks cb;
	gpointer user_data;             /* borrowed */

	/* Cross-thread handoff (usrsctp's thread -> owning thread). */
	GMutex qlock;
	GQueue outq;                    /* sctp_pkt*, owned */
	gboolean pump_scheduled;

	/* Owning thread only. */
	struct socket *sock;            /* owned */
	guint depth;                    /* nesting of our entry points */
	gboolean readable;              /* the upcall fired while we were inside usrsctp */
	gboolean free_pending, closed, up;
	GHashTable *channels;           /* sid -> sctp_channel* (owned) */
	guint16 next_sid;
	GArray *pending_resets;         /* guint16 sids whose outgoing reset is still to send */
	/* The message being reassembled (usrsctp hands big ones over in parts;
	 * SCTP_FRAGMENT_INTERLEAVE 0 keeps parts of different messages apart). */
	GByteArray *partial;            /* owned */
	gboolean partial_active, partial_dropping;
	guint16 partial_sid;
	guint32 partial_ppid;
	gboolean warned_too_big, warned_send, warned_mtu;
	cardea_sctp_stats stats;
};

/* The id table: usrsctp address -> live association. */
static GMutex table_mutex;
static GHashTable *table;           /* GUINT_TO_POINTER(id) -> cardea_sctp* (not a ref) */
static guint next_id;
static gboolean initialised;

static cardea_sctp *sctp_ref(cardea_sctp *s) {
	g_atomic_int_inc(&s->ref);
	return s;
}

static void sctp_pkt_free(gpointer p) {
	g_free(p);
}

static void sctp_unref(gpointer data) {
	cardea_sctp *s = data;
	if (!g_atomic_int_dec_and_test(&s->ref))
		return;
	g_queue_clear_full(&s->outq, sctp_pkt_free);
	g_mutex_clear(&s->qlock);
	if (s->channels)
		g_hash_table_destroy(s->channels);
	if (s->pending_resets)
		g_array_free(s->pending_resets, TRUE);
	if (s->partial)
		g_byte_array_free(s->partial, TRUE);
	g_free(s);
}

static void channel_free(gpointer data) {
	sctp_channel *c = data;
	g_free(c->label);
	g_free(c->protocol);
	g_free(c);
}

/* ---- cross-thread plumbing ---- */

static gboolean pump(gpointer data);

/* Table mutex held: `s` is live, so its context is too. */
static void schedule_pump_locked(cardea_sctp *s) {
	g_mutex_lock(&s->qlock);
	gboolean attach = !s->pump_scheduled;
	s->pump_scheduled = TRUE;
	g_mutex_unlock(&s->qlock);
	if (!attach)
		return;
	GSource *src = g_idle_source_new();
	g_source_set_priority(src, G_PRIORITY_DEFAULT);
	g_source_set_callback(src, pump, sctp_ref(s), sctp_unref);
	g_source_attach(src, s->context);
	g_source_unref(src);
}

/* usrsctp's output function, on any thread, possibly with usrsctp locks held. */
static int on_output(void *addr, void *buffer, size_t length, uint8_t tos, uint8_t set_df) {
	g_mutex_lock(&table_mutex);
	cardea_sctp *s = table ? g_hash_table_lookup(table, addr) : NULL;
	if (s == NULL || length == 0) {
		g_mutex_unlock(&table_mutex);
		return 0;
	}
	if (g_main_context_is_owner(s->context)) {
		/* We are inside one of our own calls on the owning thread: `s` cannot
		 * go away under us, and DTLS may be written right now. */
		g_mutex_unlock(&table_mutex);
		if (!s->closed) {
			if (length > s->cfg.mtu && !s->warned_mtu) {
				s->warned_mtu = TRUE;
				CARDEA_LOG(CARDEA_LOG_WARN, "[sctp %"G_GUINT64_FORMAT"] %zu-byte packet over the %u MTU",
					s->cfg.log_id, length, s->cfg.mtu);
			}
			s->cb.send(s, buffer, length, s->user_data);
		}
		return 0;
	}
	sctp_pkt *p = g_malloc(sizeof(sctp_pkt) + length);
	p->len = length;
	memcpy(p->data, buffer, length);
	g_mutex_lock(&s->qlock);
	g_queue_push_tail(&s->outq, p);
	g_mutex_unlock(&s->qlock);
	schedule_pump_locked(s);
	g_mutex_unlock(&table_mutex);
	return 0;
}

/* Socket events (readable, writable, error), on any thread, inside usrsctp. */
static void on_upcall(struct socket *sock, void *arg, int flags) {
	g_mutex_lock(&table_mutex);
	cardea_sctp *s = table ? g_hash_table_lookup(table, arg) : NULL;
	if (s != NULL) {
		if (g_main_context_is_owner(s->context) && s->depth > 0)
			s->readable = TRUE;     /* drained when our outermost call returns */
		else
			schedule_pump_locked(s);
	}
	g_mutex_unlock(&table_mutex);
}

static void debug_printf(const char *format, ...) G_GNUC_PRINTF(1, 2);
static void debug_printf(const char *format, ...) {
	if (cardea_log_level < CARDEA_LOG_DBG)
		return;
	va_list ap;
	va_start(ap, format);
	char *text = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_strchomp(text);
	CARDEA_LOG(CARDEA_LOG_DBG, "[sctp] usrsctp: %s", text);
	g_free(text);
}

/* ---- process-wide ---- */

gboolean cardea_sctp_global_init(GError **error) {
	if (initialised)
		return TRUE;
	/* Port 0: no UDP encapsulation; AF_CONN only. */
	usrsctp_init(0, on_output, debug_printf);
	/* What WebRTC peers expect: no ECN or ASCONF (one path, no IP), quick SACKs. */
	usrsctp_sysctl_set_sctp_ecn_enable(0);
	usrsctp_sysctl_set_sctp_asconf_enable(0);
	usrsctp_sysctl_set_sctp_delayed_sack_time_default(20);
	g_mutex_lock(&table_mutex);
	table = g_hash_table_new(NULL, NULL);
	g_mutex_unlock(&table_mutex);
	initialised = TRUE;
	CARDEA_LOG(CARDEA_LOG_INFO, "[sctp] usrsctp initialised (data channels enabled)");
	return TRUE;
}

void cardea_sctp_global_deinit(void) {
	if (!initialised)
		return;
	int tries = 0;
	while (usrsctp_finish() != 0) {
		if (++tries >= SCTP_FINISH_TRIES) {
			CARDEA_LOG(CARDEA_LOG_WARN, "[sctp] usrsctp still holds sockets after %d ms; not finishing it",
				SCTP_FINISH_TRIES * SCTP_FINISH_WAIT_US / 1000);
			return;
		}
		g_usleep(SCTP_FINISH_WAIT_US);
	}
	g_mutex_lock(&table_mutex);
	if (table && g_hash_table_size(table) > 0)
		CARDEA_LOG(CARDEA_LOG_WARN, "[sctp] %u association(s) never freed", g_hash_table_size(table));
	g_clear_pointer(&table, g_hash_table_destroy);
	g_mutex_unlock(&table_mutex);
	initialised = FALSE;
}

/* ---- entry/exit: deferred drain and free ---- */

static void drain(cardea_sctp *s);
static void really_free(cardea_sctp *s);

static void enter(cardea_sctp *s) {
	s->depth++;
}

static void leave(cardea_sctp *s) {
	while (s->depth == 1 && s->readable && !s->closed && !s->free_pending) {
		s->readable = FALSE;
		drain(s);
	}
	if (--s->depth == 0 && s->free_pending)
		really_free(s);
}

static gboolean pump(gpointer data) {
	cardea_sctp *s = data;
	g_mutex_lock(&s->qlock);
	GQueue q = s->outq;
	g_queue_init(&s->outq);
	s->pump_scheduled = FALSE;
	g_mutex_unlock(&s->qlock);
	if (!s->closed && !s->free_pending) {
		enter(s);
		for (GList *l = q.head; l && !s->closed; l = l->next) {
			sctp_pkt *p = l->data;
			s->cb.send(s, p->data, p->len, s->user_data);
		}
		s->readable = TRUE;
		leave(s);
	}
	g_queue_clear_full(&q, sctp_pkt_free);
	return G_SOURCE_REMOVE;
}

/* ---- sending ---- */

static int raw_send(cardea_sctp *s, guint16 sid, guint32 ppid, gboolean unordered, guint8 type,
		guint32 reliability, const void *buf, gsize len) {
	struct sctp_sendv_spa spa;
	memset(&spa, 0, sizeof(spa));
	spa.sendv_flags = SCTP_SEND_SNDINFO_VALID | SCTP_SEND_PRINFO_VALID;
	spa.sendv_sndinfo.snd_sid = sid;
	spa.sendv_sndinfo.snd_ppid = htonl(ppid);
	spa.sendv_sndinfo.snd_flags = SCTP_EOR | (unordered ? SCTP_UNORDERED : 0);
	switch (type & 0x7f) {
	case CARDEA_DCEP_PARTIAL_REXMIT:
		spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_RTX;
		spa.sendv_prinfo.pr_value = reliability;
		break;
	case CARDEA_DCEP_PARTIAL_TIMED:
		spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_TTL;
		spa.sendv_prinfo.pr_value = reliability;
		break;
	default:
		spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_NONE;
		break;
	}
	ssize_t n = usrsctp_sendv(s->sock, buf, len, NULL, 0, &spa, (socklen_t)sizeof(spa), SCTP_SENDV_SPA, 0);
	if (n < 0)
		return errno ? errno : EIO;
	return 0;
}

static int send_dcep(cardea_sctp *s, guint16 sid, const guint8 *buf, gsize len) {
	/* DCEP messages are always reliable and ordered (RFC 8832 6). */
	return raw_send(s, sid, CARDEA_SCTP_PPID_DCEP, FALSE, CARDEA_DCEP_RELIABLE, 0, buf, len);
}

static void reset_outgoing(cardea_sctp *s, guint16 sid) {
	/* Closing our half of a channel the peer closed (RFC 8831 6.7). One
	 * reset may be in flight at a time: the rest wait for its event. */
	gsize size = sizeof(struct sctp_reset_streams) + sizeof(guint16);
	struct sctp_reset_streams *req = g_malloc0(size);
	req->srs_flags = SCTP_STREAM_RESET_OUTGOING;
	req->srs_number_streams = 1;
	req->srs_stream_list[0] = sid;
	int rc = usrsctp_setsockopt(s->sock, IPPROTO_SCTP, SCTP_RESET_STREAMS, req, (socklen_t)size);
	g_free(req);
	if (rc == 0)
		return;
	for (guint i = 0; i < s->pending_resets->len; i++)
		if (g_array_index(s->pending_resets, guint16, i) == sid)
			return;
	g_array_append_val(s->pending_resets, sid);
}

static void retry_resets(cardea_sctp *s) {
	if (s->pending_resets->len == 0)
		return;
	GArray *todo = s->pending_resets;
	s->pending_resets = g_array_new(FALSE, FALSE, sizeof(guint16));
	for (guint i = 0; i < todo->len; i++)
		reset_outgoing(s, g_array_index(todo, guint16, i));
	g_array_free(todo, TRUE);
}

static void channel_close(cardea_sctp *s, guint16 sid) {
	sctp_channel *c = g_hash_table_lookup(s->channels, GUINT_TO_POINTER(sid));
	if (c == NULL)
		return;
	CARDEA_LOG(CARDEA_LOG_VERB, "[sctp %"G_GUINT64_FORMAT"] channel %u '%s' closed", s->cfg.log_id, sid, c->label);
	char *label = g_strdup(c->label);
	g_hash_table_remove(s->channels, GUINT_TO_POINTER(sid));
	if (s->cb.channel)
		s->cb.channel(s, sid, label, FALSE, s->user_data);
	g_free(label);
}

static sctp_channel *channel_add(cardea_sctp *s, guint16 sid, const char *label, gsize label_len,
		const char *protocol, gsize protocol_len, guint8 type, guint32 reliability, gboolean local) {
	sctp_channel *c = g_new0(sctp_channel, 1);
	c->sid = sid;
	c->label = g_strndup(label ? label : "", label_len);
	c->protocol = g_strndup(protocol ? protocol : "", protocol_len);
	c->type = type;
	c->reliability = reliability;
	c->local = local;
	c->acked = !local;
	g_hash_table_replace(s->channels, GUINT_TO_POINTER(sid), c);
	s->stats.channels_opened++;
	return c;
}

static sctp_channel *channel_by_label(cardea_sctp *s, const char *label) {
	sctp_channel *best = NULL;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->channels);
	/* Labels need not be unique: the lowest stream id wins, so the choice is stable. */
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		sctp_channel *c = v;
		if (strcmp(c->label, label) == 0 && (best == NULL || c->sid < best->sid))
			best = c;
	}
	return best;
}

/* A free stream id of our parity (DTLS client even, server odd), round robin
 * so a just-closed stream is not reused while its reset may be in flight. */
static gboolean pick_sid(cardea_sctp *s, guint16 *out) {
	guint limit = s->stats.streams_out ? s->stats.streams_out : CARDEA_SCTP_STREAMS;
	guint parity = s->cfg.dtls_client ? 0 : 1;
	guint slots = limit > parity ? (limit - parity + 1) / 2 : 0;
	for (guint n = 0; n < slots; n++) {
		guint sid = ((s->next_sid / 2u + n) % slots) * 2u + parity;
		if (!g_hash_table_contains(s->channels, GUINT_TO_POINTER(sid))) {
			*out = (guint16)sid;
			s->next_sid = (guint16)(sid + 2);
			return TRUE;
		}
	}
	return FALSE;
}

static cardea_sctp_status open_local(cardea_sctp *s, const char *label, const char *protocol, sctp_channel **out) {
	guint16 sid;
	gsize llen = strlen(label), plen = strlen(protocol);
	if (llen > G_MAXUINT16 || plen > G_MAXUINT16)
		return CARDEA_SCTP_FAILED;
	if (!pick_sid(s, &sid))
		return CARDEA_SCTP_NO_STREAM;
	cardea_dcep_open o = {
		.channel_type = CARDEA_DCEP_RELIABLE, .priority = CARDEA_DCEP_PRIORITY_NORMAL,
		.label = label, .label_len = (guint16)llen, .protocol = protocol, .protocol_len = (guint16)plen,
	};
	gsize size = CARDEA_DCEP_OPEN_HEADER + llen + plen, written = 0;
	guint8 *msg = g_malloc(size);
	cardea_dcep_write_open(&o, msg, size, &written);
	int err = send_dcep(s, sid, msg, written);
	g_free(msg);
	if (err != 0)
		return err == EWOULDBLOCK || err == EAGAIN ? CARDEA_SCTP_BUFFER_FULL : CARDEA_SCTP_FAILED;
	*out = channel_add(s, sid, label, llen, protocol, plen, CARDEA_DCEP_RELIABLE, 0, TRUE);
	CARDEA_LOG(CARDEA_LOG_VERB, "[sctp %"G_GUINT64_FORMAT"] opening channel %u '%s' (ours)", s->cfg.log_id, sid, label);
	if (s->cb.channel)
		s->cb.channel(s, sid, (*out)->label, TRUE, s->user_data);
	return CARDEA_SCTP_OK;
}

static cardea_sctp_status do_send(cardea_sctp *s, const cardea_data_packet *p) {
	if (!s->up || s->closed || s->free_pending)
		return CARDEA_SCTP_NOT_UP;
	if (p->len > 0 && p->buf == NULL)
		return CARDEA_SCTP_FAILED;
	gsize limit = s->cfg.max_message_out ? MIN(s->cfg.max_message_out, (gsize)CARDEA_SCTP_MAX_MESSAGE_CAP) :
		(gsize)CARDEA_SCTP_MAX_MESSAGE_CAP;
	if (p->len > limit)
		return CARDEA_SCTP_TOO_BIG;
	const char *label = p->label ? p->label : "";
	sctp_channel *c = channel_by_label(s, label);
	if (c == NULL) {
		cardea_sctp_status st = open_local(s, label, p->protocol ? p->protocol : "", &c);
		if (st != CARDEA_SCTP_OK)
			return st;
	}
	/* An empty message is one zero byte with its own PPID (RFC 8831 6.6). */
	static const guint8 zero = 0;
	guint32 ppid = p->binary ? (p->len ? CARDEA_SCTP_PPID_BINARY : CARDEA_SCTP_PPID_BINARY_EMPTY) :
		(p->len ? CARDEA_SCTP_PPID_STRING : CARDEA_SCTP_PPID_STRING_EMPTY);
	/* Until the peer ACKs our OPEN, messages must stay ordered (RFC 8832 6). */
	gboolean unordered = (c->type & 0x80) && c->acked;
	int err = raw_send(s, c->sid, ppid, unordered, c->type, c->reliability,
		p->len ? (const void *)p->buf : (const void *)&zero, p->len ? p->len : 1);
	if (err != 0)
		return err == EWOULDBLOCK || err == EAGAIN ? CARDEA_SCTP_BUFFER_FULL : CARDEA_SCTP_FAILED;
	c->messages_out++;
	s->stats.messages_out++;
	s->stats.bytes_out += p->len;
	return CARDEA_SCTP_OK;
}

cardea_sctp_status cardea_sctp_send(cardea_sctp *s, const cardea_data_packet *p) {
	if (s == NULL || p == NULL)
		return CARDEA_SCTP_FAILED;
	enter(s);
	cardea_sctp_status st = do_send(s, p);
	if (st != CARDEA_SCTP_OK) {
		s->stats.dropped_out++;
		if (!s->warned_send && st != CARDEA_SCTP_NOT_UP) {
			/* Once per association: a plugin relaying a flood would drown the log. */
			s->warned_send = TRUE;
			CARDEA_LOG(CARDEA_LOG_WARN, "[sctp %"G_GUINT64_FORMAT"] dropping a %zu-byte message on '%s': %s (further drops only counted)",
				s->cfg.log_id, p->len, p->label ? p->label : "", cardea_sctp_status_name(st));
		}
	}
	leave(s);
	return st;
}

/* ---- receiving ---- */

static void handle_dcep(cardea_sctp *s, guint16 sid, const guint8 *buf, gsize len) {
	guint8 type = cardea_dcep_message_type(buf, len);
	if (type == CARDEA_DCEP_ACK) {
		sctp_channel *c = g_hash_table_lookup(s->channels, GUINT_TO_POINTER(sid));
		if (c)
			c->acked = TRUE;
		else
			s->stats.dropped_unknown_in++;
		return;
	}
	cardea_dcep_open o;
	cardea_dcep_status st = cardea_dcep_parse_open(buf, len, &o);
	if (st != CARDEA_DCEP_OK) {
		s->stats.dropped_unknown_in++;
		CARDEA_LOG(CARDEA_LOG_WARN, "[sctp %"G_GUINT64_FORMAT"] bad DCEP message (type %u, %zu bytes) on stream %u: ignored",
			s->cfg.log_id, type, len, sid);
		return;
	}
	if (g_hash_table_contains(s->channels, GUINT_TO_POINTER(sid))) {
		/* A re-OPEN without the reset in between: the new one wins. */
		channel_close(s, sid);
	}
	sctp_channel *c = channel_add(s, sid, o.label, o.label_len, o.protocol, o.protocol_len,
		o.channel_type, o.reliability, FALSE);
	guint8 ack[1];
	gsize n = 0;
	cardea_dcep_write_ack(ack, sizeof(ack), &n);
	int err = send_dcep(s, sid, ack, n);
	CARDEA_LOG(CARDEA_LOG_VERB, "[sctp %"G_GUINT64_FORMAT"] channel %u '%s' opened by the peer (%s, protocol '%s')%s",
		s->cfg.log_id, sid, c->label, cardea_dcep_channel_type_name(c->type), c->protocol,
		err ? ", ACK not sent" : "");
	if (s->cb.channel)
		s->cb.channel(s, sid, c->label, TRUE, s->user_data);
}

static void deliver(cardea_sctp *s, guint16 sid, guint32 ppid, const guint8 *buf, gsize len) {
	if (ppid == CARDEA_SCTP_PPID_DCEP) {
		handle_dcep(s, sid, buf, len);
		return;
	}
	gboolean binary;
	switch (ppid) {
	case CARDEA_SCTP_PPID_STRING:
	case CARDEA_SCTP_PPID_STRING_PARTIAL:
		binary = FALSE;
		break;
	case CARDEA_SCTP_PPID_BINARY:
	case CARDEA_SCTP_PPID_BINARY_PARTIAL:
		binary = TRUE;
		break;
	case CARDEA_SCTP_PPID_STRING_EMPTY:
		binary = FALSE;
		len = 0;
		break;
	case CARDEA_SCTP_PPID_BINARY_EMPTY:
		binary = TRUE;
		len = 0;
		break;
	default:
		s->stats.dropped_unknown_in++;
		return;
	}
	sctp_channel *c = g_hash_table_lookup(s->channels, GUINT_TO_POINTER(sid));
	if (c == NULL) {
		s->stats.dropped_unknown_in++;
		return;
	}
	c->messages_in++;
	s->stats.messages_in++;
	s->stats.bytes_in += len;
	if (s->cb.message) {
		cardea_data_packet p = { c->label, c->protocol, binary, len ? buf : NULL, len };
		s->cb.message(s, &p, s->user_data);
	}
}

static void too_big(cardea_sctp *s, guint16 sid) {
	s->stats.dropped_too_big_in++;
	if (!s->warned_too_big) {
		s->warned_too_big = TRUE;
		CARDEA_LOG(CARDEA_LOG_WARN, "[sctp %"G_GUINT64_FORMAT"] dropping a message over our max-message-size (%zu) on stream %u (further drops only counted)",
			s->cfg.log_id, s->cfg.max_message_in, sid);
	}
}

/* One recvv result: a whole message (eor) or a part of one. */
static void data_in(cardea_sctp *s, guint16 sid, guint32 ppid, const guint8 *buf, gsize len, gboolean eor) {
	if (s->partial_active && (s->partial_sid != sid || s->partial_ppid != ppid)) {
		/* Cannot happen with interleaving off; never glue two messages together. */
		s->partial_active = FALSE;
		g_byte_array_set_size(s->partial, 0);
		s->stats.dropped_unknown_in++;
	}
	if (!s->partial_active && eor) {
		if (len > s->cfg.max_message_in)
			too_big(s, sid);
		else
			deliver(s, sid, ppid, buf, len);
		return;
	}
	if (!s->partial_active) {
		s->partial_active = TRUE;
		s->partial_dropping = FALSE;
		s->partial_sid = sid;
		s->partial_ppid = ppid;
	}
	if (!s->partial_dropping) {
		if (s->partial->len + len > s->cfg.max_message_in) {
			s->partial_dropping = TRUE;
			g_byte_array_set_size(s->partial, 0);
		} else {
			g_byte_array_append(s->partial, buf, (guint)len);
		}
	}
	if (!eor)
		return;
	s->partial_active = FALSE;
	if (s->partial_dropping)
		too_big(s, sid);
	else
		deliver(s, sid, ppid, s->partial->data, s->partial->len);
	/* Keep small buffers for the next message, give big ones back. */
	if (s->partial->len > SCTP_READ_CHUNK * 4) {
		g_byte_array_free(s->partial, TRUE);
		s->partial = g_byte_array_new();
	} else {
		g_byte_array_set_size(s->partial, 0);
	}
}

static void association_gone(cardea_sctp *s, const char *why) {
	gboolean was_up = s->up;
	s->up = FALSE;
	CARDEA_LOG(CARDEA_LOG_VERB, "[sctp %"G_GUINT64_FORMAT"] association %s", s->cfg.log_id, why);
	GList *sids = g_hash_table_get_keys(s->channels);
	for (GList *l = sids; l; l = l->next)
		channel_close(s, (guint16)GPOINTER_TO_UINT(l->data));
	g_list_free(sids);
	if (was_up && s->cb.state)
		s->cb.state(s, FALSE, s->user_data);
}

/* The peer reset streams (closed channels) or answered our reset. */
static void stream_reset_in(cardea_sctp *s, guint16 flags, const guint8 *buf, gsize len) {
	gsize count = len > sizeof(struct sctp_stream_reset_event) ?
		(len - sizeof(struct sctp_stream_reset_event)) / sizeof(guint16) : 0;
	const guint8 *list = buf + sizeof(struct sctp_stream_reset_event);
	if ((flags & SCTP_STREAM_RESET_INCOMING_SSN) && !(flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED))) {
		/* The peer closed its half: close ours and forget the channel. An
		 * empty list means every stream. */
		GArray *sids = g_array_new(FALSE, FALSE, sizeof(guint16));
		if (count == 0) {
			GList *keys = g_hash_table_get_keys(s->channels);
			for (GList *l = keys; l; l = l->next) {
				guint16 sid = (guint16)GPOINTER_TO_UINT(l->data);
				g_array_append_val(sids, sid);
			}
			g_list_free(keys);
		}
		for (gsize i = 0; i < count; i++) {
			guint16 sid;
			memcpy(&sid, list + i * sizeof(guint16), sizeof(sid));
			g_array_append_val(sids, sid);
		}
		for (guint i = 0; i < sids->len; i++) {
			guint16 sid = g_array_index(sids, guint16, i);
			if (g_hash_table_contains(s->channels, GUINT_TO_POINTER(sid))) {
				channel_close(s, sid);
				reset_outgoing(s, sid);
			}
		}
		g_array_free(sids, TRUE);
	}
	/* Whatever finished, the next queued reset may go now. */
	retry_resets(s);
}

static void notification_in(cardea_sctp *s, const guint8 *buf, gsize len) {
	union sctp_notification n;
	if (len < sizeof(n.sn_header))
		return;
	memset(&n, 0, sizeof(n));
	memcpy(&n, buf, MIN(len, sizeof(n)));
	switch (n.sn_header.sn_type) {
	case SCTP_ASSOC_CHANGE:
		if (len < sizeof(struct sctp_assoc_change))
			return;
		switch (n.sn_assoc_change.sac_state) {
		case SCTP_COMM_UP:
		case SCTP_RESTART:
			s->stats.streams_in = n.sn_assoc_change.sac_inbound_streams;
			s->stats.streams_out = n.sn_assoc_change.sac_outbound_streams;
			if (!s->up) {
				s->up = TRUE;
				CARDEA_LOG(CARDEA_LOG_INFO, "[sctp %"G_GUINT64_FORMAT"] association up (%u/%u streams)",
					s->cfg.log_id, s->stats.streams_in, s->stats.streams_out);
				if (s->cb.state)
					s->cb.state(s, TRUE, s->user_data);
			}
			break;
		case SCTP_COMM_LOST:
			association_gone(s, "lost");
			break;
		case SCTP_SHUTDOWN_COMP:
			association_gone(s, "shut down");
			break;
		case SCTP_CANT_STR_ASSOC:
			association_gone(s, "could not be established");
			break;
		default:
			break;
		}
		break;
	case SCTP_STREAM_RESET_EVENT:
		stream_reset_in(s, n.sn_strreset_event.strreset_flags, buf, len);
		break;
	case SCTP_STREAM_CHANGE_EVENT:
		if (len >= sizeof(struct sctp_stream_change_event)) {
			s->stats.streams_in = n.sn_strchange_event.strchange_instrms;
			s->stats.streams_out = n.sn_strchange_event.strchange_outstrms;
		}
		break;
	case SCTP_REMOTE_ERROR:
		CARDEA_LOG(CARDEA_LOG_VERB, "[sctp %"G_GUINT64_FORMAT"] remote error", s->cfg.log_id);
		break;
	case SCTP_SHUTDOWN_EVENT:
		CARDEA_LOG(CARDEA_LOG_VERB, "[sctp %"G_GUINT64_FORMAT"] peer is shutting down", s->cfg.log_id);
		break;
	default:
		/* SEND_FAILED (expired partially reliable messages), SENDER_DRY...: nothing to do. */
		break;
	}
}

/* Reads everything usrsctp has for us. Owning thread, depth >= 1, outside
 * any usrsctp call. */
static void drain(cardea_sctp *s) {
	guint8 buf[SCTP_READ_CHUNK];
	while (!s->closed && !s->free_pending) {
		struct sctp_rcvinfo rcv;
		socklen_t infolen = sizeof(rcv);
		unsigned int infotype = 0;
		int flags = 0;
		struct sockaddr_conn from;
		socklen_t fromlen = sizeof(from);
		memset(&rcv, 0, sizeof(rcv));
		errno = 0;
		ssize_t n = usrsctp_recvv(s->sock, buf, sizeof(buf), (struct sockaddr *)&from, &fromlen,
			&rcv, &infolen, &infotype, &flags);
		if (n <= 0) {
			/* EWOULDBLOCK: all read. 0: the association is gone (EOF). */
			if (n == 0 && s->up)
				association_gone(s, "closed");
			return;
		}
		if (flags & MSG_NOTIFICATION) {
			if (flags & MSG_EOR)
				notification_in(s, buf, (gsize)n);
			continue;
		}
		if (infotype != SCTP_RECVV_RCVINFO) {
			s->stats.dropped_unknown_in++;
			continue;
		}
		data_in(s, rcv.rcv_sid, ntohl(rcv.rcv_ppid), buf, (gsize)n, (flags & MSG_EOR) != 0);
	}
}

void cardea_sctp_incoming(cardea_sctp *s, const guint8 *buf, gsize len) {
	if (s == NULL || buf == NULL || len == 0 || s->closed || s->free_pending)
		return;
	enter(s);
	usrsctp_conninput(GUINT_TO_POINTER(s->id), buf, len, 0);
	leave(s);
}

/* ---- create / free ---- */

static gboolean set_opt(cardea_sctp *s, int level, int name, const void *value, socklen_t len, const char *what,
		GError **error) {
	if (usrsctp_setsockopt(s->sock, level, name, value, len) == 0)
		return TRUE;
	g_set_error(error, CARDEA_SCTP_ERROR, CARDEA_SCTP_ERROR_USRSCTP, "usrsctp: cannot set %s: %s", what, g_strerror(errno));
	return FALSE;
}

static gboolean configure_socket(cardea_sctp *s, GError **error) {
	const int on = 1, off = 0, buffer = SCTP_SOCKET_BUFFER;
	/* Abortive close: freeing an association sends ABORT and forgets it at
	 * once, instead of lingering in SHUTDOWN over a DTLS that is going away. */
	struct linger lin = { 1, 0 };
	struct sctp_assoc_value reset = { SCTP_FUTURE_ASSOC, SCTP_ENABLE_RESET_STREAM_REQ };
	struct sctp_initmsg init = { CARDEA_SCTP_STREAMS, CARDEA_SCTP_STREAMS, 0, 0 };
	if (usrsctp_set_non_blocking(s->sock, 1) < 0) {
		g_set_error(error, CARDEA_SCTP_ERROR, CARDEA_SCTP_ERROR_USRSCTP, "usrsctp: cannot make the socket non-blocking");
		return FALSE;
	}
	if (!set_opt(s, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin), "SO_LINGER", error) ||
			!set_opt(s, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer), "SO_SNDBUF", error) ||
			!set_opt(s, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer), "SO_RCVBUF", error) ||
			!set_opt(s, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof(on), "SCTP_NODELAY", error) ||
			!set_opt(s, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof(on), "SCTP_RECVRCVINFO", error) ||
			!set_opt(s, IPPROTO_SCTP, SCTP_FRAGMENT_INTERLEAVE, &off, sizeof(off), "SCTP_FRAGMENT_INTERLEAVE", error) ||
			!set_opt(s, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &reset, sizeof(reset), "SCTP_ENABLE_STREAM_RESET", error) ||
			!set_opt(s, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof(init), "SCTP_INITMSG", error))
		return FALSE;
	static const guint16 events[] = {
		SCTP_ASSOC_CHANGE, SCTP_REMOTE_ERROR, SCTP_SHUTDOWN_EVENT, SCTP_STREAM_RESET_EVENT,
		SCTP_STREAM_CHANGE_EVENT, SCTP_SEND_FAILED_EVENT,
	};
	for (guint i = 0; i < G_N_ELEMENTS(events); i++) {
		struct sctp_event ev = { SCTP_FUTURE_ASSOC, events[i], 1 };
		if (!set_opt(s, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev), "SCTP_EVENT", error))
			return FALSE;
	}
	return TRUE;
}

static void sconn_init(struct sockaddr_conn *a, guint16 port, guint id) {
	memset(a, 0, sizeof(*a));
	a->sconn_family = AF_CONN;
	a->sconn_port = htons(port);
	a->sconn_addr = GUINT_TO_POINTER(id);
}

cardea_sctp *cardea_sctp_new(GMainContext *context, const cardea_sctp_config *config,
		const cardea_sctp_callbacks *callbacks, gpointer user_data, GError **error) {
	if (!initialised || context == NULL || config == NULL || callbacks == NULL || callbacks->send == NULL ||
			config->local_port == 0 || config->remote_port == 0 || config->mtu < CARDEA_SCTP_MIN_MTU ||
			config->max_message_in == 0) {
		g_set_error(error, CARDEA_SCTP_ERROR, CARDEA_SCTP_ERROR_INVALID,
			initialised ? "invalid SCTP configuration" : "usrsctp is not initialised");
		return NULL;
	}
	cardea_sctp *s = g_new0(cardea_sctp, 1);
	s->ref = 1;
	s->context = context;
	s->cfg = *config;
	s->cfg.max_message_in = MIN(s->cfg.max_message_in, (gsize)CARDEA_SCTP_MAX_MESSAGE_CAP);
	s->cb = *callbacks;
	s->user_data = user_data;
	g_mutex_init(&s->qlock);
	g_queue_init(&s->outq);
	s->channels = g_hash_table_new_full(NULL, NULL, NULL, channel_free);
	s->pending_resets = g_array_new(FALSE, FALSE, sizeof(guint16));
	s->partial = g_byte_array_new();
	s->next_sid = config->dtls_client ? 0 : 1;
	g_mutex_lock(&table_mutex);
	do {
		s->id = ++next_id;
	} while (s->id == 0 || g_hash_table_contains(table, GUINT_TO_POINTER(s->id)));
	g_hash_table_insert(table, GUINT_TO_POINTER(s->id), s);
	g_mutex_unlock(&table_mutex);
	usrsctp_register_address(GUINT_TO_POINTER(s->id));

	enter(s);
	s->sock = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
	if (s->sock == NULL) {
		g_set_error(error, CARDEA_SCTP_ERROR, CARDEA_SCTP_ERROR_USRSCTP, "usrsctp: cannot create a socket: %s", g_strerror(errno));
		goto fail;
	}
	usrsctp_set_upcall(s->sock, on_upcall, GUINT_TO_POINTER(s->id));
	if (!configure_socket(s, error))
		goto fail;
	struct sockaddr_conn local, remote;
	sconn_init(&local, config->local_port, s->id);
	sconn_init(&remote, config->remote_port, s->id);
	if (usrsctp_bind(s->sock, (struct sockaddr *)&local, sizeof(local)) < 0) {
		g_set_error(error, CARDEA_SCTP_ERROR, CARDEA_SCTP_ERROR_USRSCTP, "usrsctp: bind: %s", g_strerror(errno));
		goto fail;
	}
	/* Both sides connect; crossing INITs are part of SCTP (RFC 4960 5.2.4). */
	if (usrsctp_connect(s->sock, (struct sockaddr *)&remote, sizeof(remote)) < 0 && errno != EINPROGRESS) {
		g_set_error(error, CARDEA_SCTP_ERROR, CARDEA_SCTP_ERROR_USRSCTP, "usrsctp: connect: %s", g_strerror(errno));
		goto fail;
	}
	/* Every packet must fit one DTLS record: fixed path MTU, no discovery.
	 * The value excludes the SCTP common header. */
	struct sctp_paddrparams pp;
	memset(&pp, 0, sizeof(pp));
	memcpy(&pp.spp_address, &remote, sizeof(remote));
	pp.spp_flags = SPP_PMTUD_DISABLE;
	pp.spp_pathmtu = config->mtu - 12;
	if (!set_opt(s, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp), "SCTP_PEER_ADDR_PARAMS", error))
		goto fail;
	CARDEA_LOG(CARDEA_LOG_VERB, "[sctp %"G_GUINT64_FORMAT"] association starting (ports %u -> %u, MTU %u, max message in %zu, out %zu)",
		s->cfg.log_id, config->local_port, config->remote_port, config->mtu, s->cfg.max_message_in,
		s->cfg.max_message_out);
	leave(s);
	return s;
fail:
	/* No callback has run yet (nothing could have reached us): free quietly. */
	s->free_pending = TRUE;
	s->cb.state = NULL;
	s->cb.channel = NULL;
	s->cb.message = NULL;
	leave(s);
	return NULL;
}

static void really_free(cardea_sctp *s) {
	if (s->sock) {
		usrsctp_set_upcall(s->sock, NULL, NULL);
		/* SO_LINGER 0: the ABORT goes out through `send` during this call. */
		usrsctp_close(s->sock);
		s->sock = NULL;
	}
	s->closed = TRUE;
	g_mutex_lock(&table_mutex);
	if (table)
		g_hash_table_remove(table, GUINT_TO_POINTER(s->id));
	g_mutex_unlock(&table_mutex);
	usrsctp_deregister_address(GUINT_TO_POINTER(s->id));
	g_hash_table_remove_all(s->channels);
	sctp_unref(s);
}

void cardea_sctp_free(cardea_sctp *s) {
	if (s == NULL || s->free_pending)
		return;
	s->free_pending = TRUE;
	if (s->depth == 0)
		really_free(s);
}

/* ---- getters ---- */

gboolean cardea_sctp_is_up(const cardea_sctp *s) {
	return s && s->up && !s->closed;
}

void cardea_sctp_get_stats(const cardea_sctp *s, cardea_sctp_stats *out) {
	if (s == NULL || out == NULL)
		return;
	*out = s->stats;
	out->channels = g_hash_table_size(s->channels);
}

static gint compare_sid(gconstpointer a, gconstpointer b) {
	const sctp_channel *x = *(sctp_channel *const *)a, *y = *(sctp_channel *const *)b;
	return (gint)x->sid - (gint)y->sid;
}

void cardea_sctp_foreach_channel(const cardea_sctp *s,
		void (*fn)(const cardea_sctp_channel_info *info, gpointer user_data), gpointer user_data) {
	if (s == NULL || fn == NULL)
		return;
	GPtrArray *all = g_ptr_array_new();
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->channels);
	while (g_hash_table_iter_next(&it, NULL, &v))
		g_ptr_array_add(all, v);
	g_ptr_array_sort(all, compare_sid);
	for (guint i = 0; i < all->len; i++) {
		const sctp_channel *c = g_ptr_array_index(all, i);
		cardea_sctp_channel_info info = {
			.sid = c->sid, .label = c->label, .protocol = c->protocol, .channel_type = c->type,
			.opened_locally = c->local, .acked = c->acked,
			.messages_in = c->messages_in, .messages_out = c->messages_out,
		};
		fn(&info, user_data);
	}
	g_ptr_array_free(all, TRUE);
}
