/* PeerConnection glue, data channels: the m=application line of both SDPs,
 * the SCTP association (sctp.h) on top of the PC's DTLS, the plugin's
 * data_ready/incoming_data callbacks and its relay_data service.
 *
 * Threads (see pc.h): the association belongs to the PC's loop thread like
 * DTLS does; it is created there once DTLS is connected and both SDPs carry
 * an active data channel m-line, and freed there by the transport teardown.
 * Plugin callbacks run on that thread. relay_data from another thread is
 * copied and handed to the loop.
 */
#include "webrtc/pc-priv.h"

/* ---- SDP ---- */

static gboolean is_datachannel(const cardea_sdp_mline *m) {
	return m->kind == CARDEA_SDP_MEDIA_APPLICATION && !m->rtp && m->proto != NULL &&
		g_str_has_suffix(m->proto, "DTLS/SCTP") && cardea_sdp_mline_is_active(m);
}

static gsize clamp_message_size(gint64 v) {
	/* 0 in SDP means "no limit" (RFC 8841 6): we still never go past the cap. */
	if (v <= 0 || v > CARDEA_SCTP_MAX_MESSAGE_CAP)
		return CARDEA_SCTP_MAX_MESSAGE_CAP;
	return (gsize)v;
}

void cardea_pc_data_remote_sdp(const cardea_sdp *sdp, pc_data_sdp *out) {
	memset(out, 0, sizeof(*out));
	for (guint i = 0; i < sdp->n_mlines; i++) {
		const cardea_sdp_mline *m = sdp->mlines[i];
		if (!is_datachannel(m))
			continue;
		out->present = TRUE;
		guint64 legacy = 0;
		/* Old drafts: "m=application 9 DTLS/SCTP 5000" with the port as format. */
		if (m->sctp_port > 0)
			out->port = (guint16)m->sctp_port;
		else if (m->fmt && g_ascii_string_to_unsigned(m->fmt, 10, 1, 65535, &legacy, NULL))
			out->port = (guint16)legacy;
		else
			out->port = CARDEA_SCTP_DEFAULT_PORT;
		out->max_message = m->max_message_size < 0 ? CARDEA_SCTP_REMOTE_DEFAULT_MAX_MESSAGE :
			clamp_message_size(m->max_message_size);
		return;
	}
}

/* "m=application 9 DTLS/SCTP 5000" + a=sctpmap (draft-ietf-mmusic-sctp-sdp-05),
 * what aiortc and older browsers still offer; the modern form is
 * "UDP/DTLS/SCTP webrtc-datachannel" + a=sctp-port. */
static gboolean is_legacy(const cardea_sdp_mline *m) {
	return g_ascii_strcasecmp(m->proto, "DTLS/SCTP") == 0;
}

void cardea_pc_data_local_mline(cardea_sdp *sdp, cardea_sdp_mline *m, pc_data_sdp *out) {
	if (out->present || !is_datachannel(m))
		return;
	/* The plugin accepted the line; what it left out, the core decides. */
	m->rtcp_mux = FALSE;
	if (is_legacy(m)) {
		guint64 port = 0;
		if (!m->fmt || !g_ascii_string_to_unsigned(m->fmt, 10, 1, 65535, &port, NULL))
			port = CARDEA_SCTP_DEFAULT_PORT;
		char *fmt = g_strdup_printf("%u", (guint)port);
		m->fmt = cardea_sdp_strdup(sdp, fmt);
		g_free(fmt);
		gboolean have_map = FALSE;
		for (guint i = 0; i < m->n_attributes; i++)
			have_map |= g_ascii_strcasecmp(m->attributes[i].key, "sctpmap") == 0;
		if (!have_map) {
			char *map = g_strdup_printf("%u webrtc-datachannel %u", (guint)port, (guint)CARDEA_SCTP_STREAMS);
			cardea_sdp_attribute_add(sdp, m, "sctpmap", map);
			g_free(map);
		}
		m->sctp_port = -1;
		out->port = (guint16)port;
	} else {
		if (m->sctp_port <= 0)
			m->sctp_port = CARDEA_SCTP_DEFAULT_PORT;
		out->port = (guint16)m->sctp_port;
	}
	if (m->max_message_size < 0)
		m->max_message_size = CARDEA_SCTP_DEFAULT_MAX_MESSAGE;
	out->present = TRUE;
	out->max_message = clamp_message_size(m->max_message_size);
}

/* ---- association callbacks (loop thread) ---- */

static void sctp_send_cb(cardea_sctp *sctp, const guint8 *buf, gsize len, gpointer user_data) {
	cardea_pc *pc = user_data;
	if (pc->dtls == NULL || !cardea_dtls_write(pc->dtls, buf, len))
		pc->data_write_failures++;
}

static void sctp_state_cb(cardea_sctp *sctp, gboolean up, gpointer user_data) {
	cardea_pc *pc = user_data;
	cardea_handle *h = pc->handle;
	if (!up) {
		CARDEA_LOG(CARDEA_LOG_VERB, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] data channels closed by the peer",
			pc->sid, pc->hid);
		return;
	}
	CARDEA_LOG(CARDEA_LOG_INFO, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] data channels ready", pc->sid, pc->hid);
	if (pc->data_ready_sent || !g_atomic_int_get(&pc->active))
		return;
	pc->data_ready_sent = TRUE;
	if (h->app && h->plugin->ops.plugin.data_ready)
		h->plugin->ops.plugin.data_ready(h->app);
}

static void sctp_channel_cb(cardea_sctp *sctp, guint16 sid, const char *label, gboolean open, gpointer user_data) {
	cardea_pc *pc = user_data;
	CARDEA_LOG(CARDEA_LOG_VERB, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] data channel %u '%s' %s",
		pc->sid, pc->hid, sid, label, open ? "open" : "closed");
}

static void sctp_message_cb(cardea_sctp *sctp, const cardea_data_packet *packet, gpointer user_data) {
	cardea_pc *pc = user_data;
	cardea_handle *h = pc->handle;
	if (!g_atomic_int_get(&pc->active) || h->app == NULL || h->plugin->ops.plugin.incoming_data == NULL)
		return;
	/* The SDK hands plugins a mutable struct; the bytes stay borrowed. */
	cardea_data_packet p = *packet;
	h->plugin->ops.plugin.incoming_data(h->app, &p);
}

/* ---- lifecycle (loop thread) ---- */

void cardea_pc_data_maybe_start(cardea_pc *pc) {
	if (pc->sctp != NULL || !pc->dtls_connected || pc->dtls == NULL || !pc->data_remote.present ||
			!pc->data_local.present || !g_atomic_int_get(&pc->active))
		return;
	/* Each SCTP packet must fit one DTLS record of at most dtls_mtu bytes. */
	gint dtls_mtu = cardea_gw->settings.dtls_mtu;
	guint mtu = dtls_mtu > CARDEA_SCTP_DTLS_OVERHEAD + CARDEA_SCTP_MIN_MTU ?
		(guint)(dtls_mtu - CARDEA_SCTP_DTLS_OVERHEAD) : CARDEA_SCTP_MIN_MTU;
	if (mtu == CARDEA_SCTP_MIN_MTU)
		CARDEA_LOG(CARDEA_LOG_WARN, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] media.dtls_mtu %d is too small "
			"for data channels (needs %d): big SCTP packets will be lost", pc->sid, pc->hid, dtls_mtu,
			CARDEA_SCTP_DTLS_OVERHEAD + CARDEA_SCTP_MIN_MTU);
	cardea_sctp_config cfg = {
		.local_port = pc->data_local.port,
		.remote_port = pc->data_remote.port,
		.dtls_client = cardea_dtls_get_role(pc->dtls) == CARDEA_DTLS_ROLE_ACTIVE,
		.mtu = mtu,
		.max_message_in = pc->data_local.max_message,
		.max_message_out = pc->data_remote.max_message,
		.log_id = pc->hid,
	};
	static const cardea_sctp_callbacks cb = { sctp_send_cb, sctp_state_cb, sctp_channel_cb, sctp_message_cb };
	GError *err = NULL;
	pc->sctp = cardea_sctp_new(pc->loop->context, &cfg, &cb, pc, &err);
	if (pc->sctp == NULL) {
		/* Media carries on without data channels. */
		CARDEA_LOG(CARDEA_LOG_ERR, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] no data channels: %s",
			pc->sid, pc->hid, err ? err->message : "?");
		g_clear_error(&err);
		pc->data_remote.present = FALSE;
	}
}

void cardea_pc_data_dtls_in(cardea_dtls *dtls, const guint8 *buf, gsize len, gpointer user_data) {
	cardea_pc *pc = user_data;
	if (pc->sctp == NULL || !g_atomic_int_get(&pc->active)) {
		pc->data_early_drops++;
		return;
	}
	cardea_sctp_incoming(pc->sctp, buf, len);
}

void cardea_pc_data_teardown(cardea_pc *pc) {
	/* Runs while DTLS still exists: the association's ABORT goes out first. */
	g_clear_pointer(&pc->sctp, cardea_sctp_free);
	pc->data_ready_sent = FALSE;
	memset(&pc->data_local, 0, sizeof(pc->data_local));
}

/* ---- relay_data ---- */

static void send_loop(cardea_pc *pc, const cardea_data_packet *packet) {
	if (pc->sctp == NULL || !g_atomic_int_get(&pc->active)) {
		pc->data_dropped_out++;
		return;
	}
	/* The association counts (and logs once) what it refuses. */
	cardea_sctp_send(pc->sctp, packet);
}

typedef struct pc_data_relay {
	cardea_pc *pc;
	cardea_handle *handle;          /* ref: keeps pc alive until the loop ran */
	cardea_data_packet packet;      /* points into the allocation below */
	guint8 data[];                  /* label \0 protocol \0 message */
} pc_data_relay;

static gboolean relay_apply(gpointer data) {
	pc_data_relay *r = data;
	send_loop(r->pc, &r->packet);
	return G_SOURCE_REMOVE;
}

static void pc_data_relay_free(gpointer data) {
	pc_data_relay *r = data;
	cardea_handle_unref(r->handle);
	g_free(r);
}

void cardea_pc_relay_data(cardea_plugin_session *app, const cardea_data_packet *packet) {
	if (app == NULL || packet == NULL || (packet->len > 0 && packet->buf == NULL) ||
			app->core_handle == NULL || g_atomic_int_get(&app->stopped))
		return;
	cardea_handle *h = app->core_handle;
	cardea_pc *pc = pc_of(h);
	if (pc == NULL)
		return;
	if (cardea_loop_is_current(pc->loop)) {
		send_loop(pc, packet);
		return;
	}
	/* Another thread: hand a copy over (documented as the slow path). */
	if (packet->len > CARDEA_SCTP_MAX_MESSAGE_CAP)
		return;
	const char *label = packet->label ? packet->label : "", *protocol = packet->protocol ? packet->protocol : "";
	gsize llen = strlen(label) + 1, plen = strlen(protocol) + 1;
	pc_data_relay *r = g_malloc(sizeof(pc_data_relay) + llen + plen + packet->len);
	r->pc = pc;
	cardea_handle_ref(h);
	r->handle = h;
	memcpy(r->data, label, llen);
	memcpy(r->data + llen, protocol, plen);
	if (packet->len)
		memcpy(r->data + llen + plen, packet->buf, packet->len);
	r->packet.label = (const char *)r->data;
	r->packet.protocol = (const char *)r->data + llen;
	r->packet.binary = packet->binary;
	r->packet.buf = packet->len ? r->data + llen + plen : NULL;
	r->packet.len = packet->len;
	cardea_loop_invoke(pc->loop, relay_apply, r, pc_data_relay_free);
}

/* ---- admin (loop thread) ---- */

static void channel_info(const cardea_sctp_channel_info *c, gpointer user_data) {
	json_array_append_new(user_data, json_pack("{s:i, s:s, s:s, s:s, s:s, s:b, s:I, s:I}",
		"id", (int)c->sid, "label", c->label, "protocol", c->protocol,
		"type", cardea_dcep_channel_type_name(c->channel_type),
		"opened_by", c->opened_locally ? "gateway" : "peer", "acked", c->acked,
		"messages_in", (json_int_t)c->messages_in, "messages_out", (json_int_t)c->messages_out));
}

json_t *cardea_pc_data_info(cardea_pc *pc) {
	if (!pc->data_remote.present && pc->sctp == NULL)
		return json_null();
	cardea_sctp_stats st = { 0 };
	cardea_sctp_get_stats(pc->sctp, &st);
	json_t *list = json_array();
	cardea_sctp_foreach_channel(pc->sctp, channel_info, list);
	return json_pack("{s:s, s:i, s:i, s:I, s:I, s:i, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"state", pc->sctp == NULL ? (pc->data_local.present ? "new" : "not negotiated") :
			cardea_sctp_is_up(pc->sctp) ? "up" : "connecting",
		"sctp_port", (int)pc->data_local.port, "sctp_port_peer", (int)pc->data_remote.port,
		"max_message_size", (json_int_t)pc->data_local.max_message,
		"max_message_size_peer", (json_int_t)pc->data_remote.max_message,
		"channels", (int)st.channels, "channel_list", list,
		"messages_in", (json_int_t)st.messages_in, "bytes_in", (json_int_t)st.bytes_in,
		"messages_out", (json_int_t)st.messages_out, "bytes_out", (json_int_t)st.bytes_out,
		"dropped_too_big_in", (json_int_t)st.dropped_too_big_in,
		"dropped_unknown_in", (json_int_t)st.dropped_unknown_in,
		"dropped_out", (json_int_t)(st.dropped_out + pc->data_dropped_out),
		"dropped_before_sctp", (json_int_t)pc->data_early_drops);
}
