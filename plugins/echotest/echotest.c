/* janus.plugin.echotest: sends every packet a peer sends straight back to it.
 *
 * This is the reference example for plugin authors, so it shows the whole
 * life of a media plugin and little else:
 *  - requests are answered with an `ack` and handled on the plugin's own
 *    queue thread (cardea_plugin_queue), which replies with an `event`;
 *  - an offer gets an answer SDP that only says what the plugin decides
 *    (m-lines, codec, direction, header extensions): the core adds ICE, DTLS,
 *    candidates, BUNDLE and SSRCs before the client sees it;
 *  - media callbacks (incoming_rtp, incoming_keyframe_request, setup_media)
 *    run on the handle's media loop thread; relaying from there costs no copy
 *    or allocation;
 *  - data channels: accepting the offer's m=application line is all it takes
 *    (the core runs SCTP and DCEP); messages arrive in incoming_data and go
 *    back with relay_data on the same label. Like Janus's echotest, text
 *    comes back with a "Janus EchoTest here! You wrote: " prefix, binary as is.
 *
 * Wire API (janus-api.md section 7.2): body members `audio`, `video`
 * (echo or drop), `bitrate` (a cap the core sends to the peer as REMB),
 * `keyframe` (ask the peer for a keyframe now), `substream`, `temporal`
 * and `fallback` (simulcast, below), plus an optional offer jsep.
 *
 * Simulcast: an offer sending several substreams (rids, or an
 * a=ssrc-group:SIM) is accepted with cardea_sim_sdp_answer(), and only one
 * substream goes back, picked by a cardea_sim_selector (the highest and all
 * temporal layers unless the client asks otherwise; lower when the chosen
 * one stops for `fallback` microseconds) and made one continuous stream by
 * a cardea_sim_rewriter. Every change of the substream or temporal layer
 * sent back is told to the client as {"echotest":"event","videocodec":...,
 * "substream":N} (or "temporal":N), like Janus.
 *
 * Loss repair and congestion feedback (NACK, RTX, transport-cc, REMB) are
 * the core's job; the plugin only keeps in its answer what the offer had of
 * them, so the core knows what it may use.
 *
 * Threads and lifetimes: sessions live in a table guarded by sessions_mutex
 * and are refcounted; the queue thread takes a ref while it works. The media
 * callbacks use session->plugin_handle directly: the core guarantees none
 * runs after hangup_media returned, and detach hangs up before calling
 * destroy_session. Flags read on the media thread are atomics.
 */
#include <string.h>
#include <glib.h>
#include <jansson.h>
#include "cardea/plugin.h"
#include "cardea/sdp.h"
#include "cardea/simulcast.h"

#define ECHO_PACKAGE "janus.plugin.echotest"
#define ECHO_HINT "I'm taking my time!"
#define ECHO_MAX_MLINES 16              /* m-lines with simulcast state */

static const cardea_plugin_core *core;
static cardea_plugin_queue *queue;
static GMutex sessions_mutex;
static GHashTable *sessions;        /* cardea_plugin_session* -> echo_session* (table's ref) */
static cardea_plugin echotest;

/* What the last answer said about one m-line. */
typedef struct echo_mline_cfg {
	cardea_video_codec codec;
	int substreams;                 /* > 1: the peer sends simulcast here */
} echo_mline_cfg;

/* Media thread state of one simulcast m-line. */
typedef struct echo_sim {
	echo_mline_cfg cfg;
	cardea_sim_selector sel;
	cardea_sim_rewriter rw;
} echo_sim;

typedef struct echo_session {
	cardea_plugin_session *app;     /* borrowed: valid while in the table */
	volatile gint audio, video;     /* echo (1) or drop (0) */
	volatile gint bitrate;          /* bps, 0 = unlimited; the core's REMB cap */
	volatile gint video_mask;       /* bit i: m-line i is video (set when answering) */
	volatile gint hangingup;
	guint64 echoed;                 /* packets relayed (media thread only) */
	/* Simulcast. The queue thread writes the targets and cfg, then bumps
	 * sim_gen; the media thread applies them when it sees a new sim_gen. */
	volatile gint substream_target, temporal_target;  /* -1: default (highest, all) */
	volatile gint fallback;         /* us, 0: default */
	volatile gint substream, temporal;  /* what goes back now (first simulcast m-line), -1 none */
	volatile gint simulcast;        /* the last answer accepted simulcast */
	volatile gint sim_gen;
	GMutex cfg_mutex;               /* guards cfg and cfg_reset */
	echo_mline_cfg cfg[ECHO_MAX_MLINES];
	gboolean cfg_reset;             /* a new PeerConnection: start the contexts over */
	gint sim_applied;               /* media thread only, like sims and sim_first */
	echo_sim sims[ECHO_MAX_MLINES];
	int sim_first;                  /* the first simulcast m-line (mirrored in substream/temporal) */
	cardea_refcount ref;
} echo_session;

static void echo_session_free(const cardea_refcount *ref) {
	echo_session *es = cardea_container_of(ref, echo_session, ref);
	g_mutex_clear(&es->cfg_mutex);
	g_free(es);
}

static echo_session *session_lookup(cardea_plugin_session *app) {
	g_mutex_lock(&sessions_mutex);
	echo_session *es = sessions ? g_hash_table_lookup(sessions, app) : NULL;
	if (es)
		cardea_refcount_ref(&es->ref);
	g_mutex_unlock(&sessions_mutex);
	return es;
}

/* ---- answer SDP ---- */

/* The first payload of `om` we can echo, in our preference order. H.264 only
 * with packetization-mode=1 (what browsers send). */
static const cardea_sdp_payload *pick_codec(const cardea_sdp_mline *om) {
	if (om->kind == CARDEA_SDP_MEDIA_AUDIO)
		return cardea_sdp_find_codec(om, "opus", 48000, NULL);
	if (om->kind != CARDEA_SDP_MEDIA_VIDEO)
		return NULL;
	const cardea_sdp_payload *p = cardea_sdp_find_codec(om, "VP8", 90000, NULL);
	for (guint i = 0; p == NULL && i < om->n_payloads; i++) {
		const cardea_sdp_payload *c = &om->payloads[i];
		if (c->name && g_ascii_strcasecmp(c->name, "H264") == 0 &&
				g_strcmp0(cardea_sdp_payload_param(c, "packetization-mode"), "1") == 0)
			p = c;
	}
	if (p == NULL)
		p = cardea_sdp_find_codec(om, "VP9", 90000, NULL);
	if (p == NULL)
		p = cardea_sdp_find_codec(om, "AV1", 90000, NULL);
	return p;
}

/* The feedback the core implements, as rtcp-fb type/param pairs. */
static const char *const feedback[][2] = {
	{ "nack", NULL }, { "nack", "pli" }, { "ccm", "fir" }, { "goog-remb", NULL }, { "transport-cc", NULL },
};

/* What the offer has of the feedback the core does, its rtx for the codec,
 * and the header extensions the core uses (same ids as offered). */
static void answer_feedback(cardea_sdp *ans, cardea_sdp_mline *m, cardea_sdp_payload *p,
		const cardea_sdp_mline *om, const cardea_sdp_payload *op) {
	for (guint k = 0; k < G_N_ELEMENTS(feedback); k++)
		if (cardea_sdp_payload_has_fb(om, op, feedback[k][0], feedback[k][1]))
			cardea_sdp_payload_add_fb(ans, p, feedback[k][0], feedback[k][1]);
	const cardea_sdp_payload *orx = cardea_sdp_find_rtx(om, op->pt);
	if (orx) {
		cardea_sdp_payload *rx = cardea_sdp_payload_add(ans, m, orx->pt, orx->name, orx->clock, orx->channels);
		if (rx && orx->fmtp)
			cardea_sdp_payload_set_fmtp(ans, rx, orx->fmtp);
	}
	static const cardea_sdp_ext exts[] = { CARDEA_SDP_EXT_TRANSPORT_WIDE_CC, CARDEA_SDP_EXT_ABS_SEND_TIME };
	for (guint k = 0; k < G_N_ELEMENTS(exts); k++) {
		guint id = cardea_sdp_find_extmap(om, exts[k]);
		if (id)
			cardea_sdp_extmap_add(ans, m, id, cardea_sdp_ext_uri(exts[k]));
	}
}

static cardea_sdp_direction answer_direction(cardea_sdp_direction offered) {
	switch (offered) {
	case CARDEA_SDP_DIR_SENDONLY: return CARDEA_SDP_DIR_RECVONLY;
	case CARDEA_SDP_DIR_RECVONLY: return CARDEA_SDP_DIR_SENDONLY;
	case CARDEA_SDP_DIR_INACTIVE: return CARDEA_SDP_DIR_INACTIVE;
	default: return CARDEA_SDP_DIR_SENDRECV;
	}
}

/* An m=application line for data channels (SCTP over DTLS): the current
 * "UDP/DTLS/SCTP webrtc-datachannel" form or the older "DTLS/SCTP 5000" one. */
static gboolean is_datachannel(const cardea_sdp_mline *om) {
	return om->kind == CARDEA_SDP_MEDIA_APPLICATION && cardea_sdp_mline_is_active(om) && !om->rtp &&
		om->proto && g_str_has_suffix(om->proto, "DTLS/SCTP") && om->fmt != NULL;
}

/* Builds the answer; NULL (with *error) if the offer is unusable. */
static char *make_answer(const char *offer_text, gint *video_mask, echo_mline_cfg *cfg, const char **error) {
	cardea_sdp *offer = cardea_sdp_parse(offer_text, strlen(offer_text), NULL, NULL);
	if (offer == NULL) {
		*error = "Error parsing offer";
		return NULL;
	}
	cardea_sdp *ans = cardea_sdp_new();
	ans->extmap_allow_mixed = offer->extmap_allow_mixed;
	gboolean any = FALSE;
	*video_mask = 0;
	for (guint i = 0; i < offer->n_mlines; i++) {
		const cardea_sdp_mline *om = offer->mlines[i];
		const cardea_sdp_payload *op = cardea_sdp_mline_is_active(om) && om->rtp ? pick_codec(om) : NULL;
		cardea_sdp_mline *m = cardea_sdp_mline_add(ans, om->kind, om->proto);
		m->media = cardea_sdp_strdup(ans, om->media);
		if (om->mid)
			m->mid = cardea_sdp_strdup(ans, om->mid);
		if (is_datachannel(om)) {
			/* Accepted in the form offered: the core adds a=sctp-port (or
			 * a=sctpmap) and a=max-message-size. */
			m->fmt = cardea_sdp_strdup(ans, om->fmt);
			any = TRUE;
			continue;
		}
		if (op == NULL) {
			/* Rejected: port 0, but the m-line stays so indexes line up. */
			cardea_sdp_mline_reject(ans, m, om);
			continue;
		}
		any = TRUE;
		/* Same PT as offered: packets go back unchanged apart from the SSRC. */
		cardea_sdp_payload *p = cardea_sdp_payload_add(ans, m, op->pt, op->name, op->clock, op->channels);
		if (op->fmtp)
			cardea_sdp_payload_set_fmtp(ans, p, op->fmtp);
		if (om->kind == CARDEA_SDP_MEDIA_VIDEO && i < 31)
			*video_mask |= 1 << i;
		if (om->kind == CARDEA_SDP_MEDIA_VIDEO && i < ECHO_MAX_MLINES) {
			/* Simulcast: all substreams come in, the selected one goes back. */
			cfg[i].codec = cardea_video_codec_from_name(op->name);
			cfg[i].substreams = cfg[i].codec != CARDEA_VIDEO_CODEC_UNKNOWN ? cardea_sim_sdp_answer(ans, m, om) : 1;
		}
		m->direction = answer_direction(cardea_sdp_mline_direction(offer, om));
		guint mid_id = cardea_sdp_find_extmap(om, CARDEA_SDP_EXT_MID);
		if (mid_id)
			cardea_sdp_extmap_add(ans, m, mid_id, cardea_sdp_ext_uri(CARDEA_SDP_EXT_MID));
		answer_feedback(ans, m, p, om, op);
		m->rtcp_mux = TRUE;
	}
	cardea_sdp_free(offer);
	char *text = any ? cardea_sdp_write(ans) : NULL;
	cardea_sdp_free(ans);
	if (text == NULL)
		*error = "No supported codec in the offer";
	return text;
}

/* ---- simulcast ---- */

static void push_layer_event(cardea_plugin_session *app, cardea_video_codec codec, const char *what, int value) {
	json_t *ev = json_pack("{s:s, s:s?, s:i}", "echotest", "event", "videocodec", cardea_video_codec_name(codec),
		what, value);
	core->push_event(app, &echotest, NULL, ev, NULL);
	json_decref(ev);
}

/* Queue thread, after a substream/temporal request: like Janus, a target
 * already reached is confirmed at once (no change will come to report);
 * otherwise the sender is asked for a keyframe to switch at. */
static void sim_request_event(cardea_plugin_session *app, echo_session *es, gboolean substream, gboolean temporal) {
	if (!g_atomic_int_get(&es->simulcast))
		return;
	cardea_video_codec codec = CARDEA_VIDEO_CODEC_UNKNOWN;
	int mindex = -1;
	g_mutex_lock(&es->cfg_mutex);
	for (int i = 0; i < ECHO_MAX_MLINES && mindex < 0; i++)
		if (es->cfg[i].substreams > 1) {
			mindex = i;
			codec = es->cfg[i].codec;
		}
	g_mutex_unlock(&es->cfg_mutex);
	if (mindex < 0)
		return;
	gboolean pending = FALSE;
	if (substream) {
		gint now = g_atomic_int_get(&es->substream);
		if (now >= 0 && now == g_atomic_int_get(&es->substream_target))
			push_layer_event(app, codec, "substream", now);
		else
			pending = TRUE;
	}
	if (temporal) {
		gint now = g_atomic_int_get(&es->temporal);
		if (now >= 0 && now == g_atomic_int_get(&es->temporal_target))
			push_layer_event(app, codec, "temporal", now);
	}
	if (pending)
		core->send_keyframe_request(app, mindex);
}

/* Media thread: applies what the queue thread changed since the last call. */
static void sim_sync(echo_session *es) {
	gint gen = g_atomic_int_get(&es->sim_gen);
	if (gen == es->sim_applied)
		return;
	es->sim_applied = gen;
	echo_mline_cfg cfg[ECHO_MAX_MLINES];
	g_mutex_lock(&es->cfg_mutex);
	memcpy(cfg, es->cfg, sizeof(cfg));
	gboolean reset = es->cfg_reset;
	es->cfg_reset = FALSE;
	g_mutex_unlock(&es->cfg_mutex);
	gint st = g_atomic_int_get(&es->substream_target), tt = g_atomic_int_get(&es->temporal_target);
	gint fb = g_atomic_int_get(&es->fallback);
	es->sim_first = -1;
	for (int i = 0; i < ECHO_MAX_MLINES; i++) {
		echo_sim *sim = &es->sims[i];
		if (cfg[i].substreams > 1 && es->sim_first < 0)
			es->sim_first = i;
		if (cfg[i].substreams <= 1) {
			sim->cfg = cfg[i];
			continue;
		}
		if (reset || sim->cfg.codec != cfg[i].codec || sim->cfg.substreams != cfg[i].substreams) {
			sim->cfg = cfg[i];
			cardea_sim_selector_init(&sim->sel, cfg[i].substreams);
			cardea_sim_rewriter_init(&sim->rw, 90000);
		}
		cardea_sim_selector_set_substream(&sim->sel, st >= 0 ? st : cfg[i].substreams - 1);
		cardea_sim_selector_set_temporal(&sim->sel, tt >= 0 ? tt : 2);
		cardea_sim_selector_set_fallback(&sim->sel, fb);
	}
}

/* Media thread: one packet of a simulcast m-line; only the selected
 * substream and temporal layers go back, as one continuous stream. */
static void sim_relay(cardea_plugin_session *app, echo_session *es, echo_sim *sim, cardea_rtp_packet *packet) {
	unsigned r = cardea_sim_forward(&sim->sel, &sim->rw, sim->cfg.codec, packet, g_get_monotonic_time());
	if (r & CARDEA_SIM_NEED_KEYFRAME)
		core->send_keyframe_request(app, packet->mindex);
	gboolean first = packet->mindex == es->sim_first;
	if (r & CARDEA_SIM_SUBSTREAM_CHANGED) {
		CARDEA_LOG(CARDEA_LOG_VERB, "[echotest] m-line %d: now sending substream %d back", packet->mindex,
			sim->sel.substream);
		if (first)
			g_atomic_int_set(&es->substream, sim->sel.substream);
		push_layer_event(app, sim->cfg.codec, "substream", sim->sel.substream);
	}
	if (r & CARDEA_SIM_TEMPORAL_CHANGED) {
		if (first)
			g_atomic_int_set(&es->temporal, sim->sel.temporal);
		push_layer_event(app, sim->cfg.codec, "temporal", sim->sel.temporal);
	}
	if (r & CARDEA_SIM_RELAY) {
		es->echoed++;
		core->relay_rtp(app, packet);
	}
}

/* ---- requests (queue thread) ---- */

/* Events for events modules (docs/events.md): {"event": name, ...} becomes
 * type "echotest.<name>". Built only when someone listens. */
static void notify(cardea_plugin_session *app, const char *name, echo_session *es) {
	if (!core->events_is_enabled())
		return;
	json_t *ev = json_pack("{s:s}", "event", name);
	if (es)
		json_object_update_new(ev, json_pack("{s:b, s:b, s:i}", "audio", g_atomic_int_get(&es->audio),
			"video", g_atomic_int_get(&es->video), "bitrate", g_atomic_int_get(&es->bitrate)));
	core->notify_event(&echotest, app, ev);
}

static void push_error(cardea_plugin_session *app, const char *transaction, int code, const char *text) {
	json_t *ev = json_pack("{s:s, s:i, s:s}", "echotest", "event", "error_code", code, "error", text);
	core->push_event(app, &echotest, transaction, ev, NULL);
	json_decref(ev);
}

static void handle_request(cardea_plugin_session *app, const char *transaction, json_t *body, json_t *jsep,
		void *user_data) {
	echo_session *es = session_lookup(app);
	if (es == NULL)
		goto out;
	json_t *audio = json_object_get(body, "audio"), *video = json_object_get(body, "video");
	json_t *bitrate = json_object_get(body, "bitrate"), *keyframe = json_object_get(body, "keyframe");
	json_t *substream = json_object_get(body, "substream"), *temporal = json_object_get(body, "temporal");
	json_t *fallback = json_object_get(body, "fallback");
	if ((audio && !json_is_boolean(audio)) || (video && !json_is_boolean(video)) ||
			(keyframe && !json_is_boolean(keyframe)) ||
			(bitrate && (!json_is_integer(bitrate) || json_integer_value(bitrate) < 0))) {
		push_error(app, transaction, 413, "Invalid element (audio/video/keyframe should be booleans, bitrate a positive integer)");
		goto out;
	}
	if ((substream && (!json_is_integer(substream) || json_integer_value(substream) < 0 ||
				json_integer_value(substream) > 2)) ||
			(temporal && (!json_is_integer(temporal) || json_integer_value(temporal) < 0 ||
				json_integer_value(temporal) > 2)) ||
			(fallback && (!json_is_integer(fallback) || json_integer_value(fallback) < 0))) {
		push_error(app, transaction, 413, "Invalid element (substream/temporal should be 0, 1 or 2, fallback a positive integer)");
		goto out;
	}
	if (!audio && !video && !bitrate && !keyframe && !substream && !temporal && !fallback &&
			!json_object_get(body, "record") && jsep == NULL) {
		push_error(app, transaction, 413, "Message error: no supported attributes found");
		goto out;
	}
	char *answer = NULL;
	if (jsep) {
		const char *type = json_string_value(json_object_get(jsep, "type"));
		if (g_ascii_strcasecmp(type, "offer") != 0) {
			push_error(app, transaction, 414, "Unexpected answer: the echotest only answers offers");
			goto out;
		}
		const char *error = NULL;
		gint mask = 0;
		echo_mline_cfg cfg[ECHO_MAX_MLINES];
		memset(cfg, 0, sizeof(cfg));
		answer = make_answer(json_string_value(json_object_get(jsep, "sdp")), &mask, cfg, &error);
		if (answer == NULL) {
			push_error(app, transaction, 414, error);
			goto out;
		}
		g_atomic_int_set(&es->video_mask, mask);
		g_atomic_int_set(&es->hangingup, 0);
		gboolean simulcast = FALSE;
		for (int i = 0; i < ECHO_MAX_MLINES; i++)
			simulcast |= cfg[i].substreams > 1;
		g_mutex_lock(&es->cfg_mutex);
		memcpy(es->cfg, cfg, sizeof(cfg));
		g_mutex_unlock(&es->cfg_mutex);
		g_atomic_int_set(&es->simulcast, simulcast);
		g_atomic_int_inc(&es->sim_gen);
	}
	if (substream || temporal || fallback) {
		if (substream)
			g_atomic_int_set(&es->substream_target, (gint)json_integer_value(substream));
		if (temporal)
			g_atomic_int_set(&es->temporal_target, (gint)json_integer_value(temporal));
		if (fallback)
			g_atomic_int_set(&es->fallback, (gint)MIN(json_integer_value(fallback), G_MAXINT));
		g_atomic_int_inc(&es->sim_gen);
		sim_request_event(app, es, substream != NULL, temporal != NULL);
	}
	if (audio)
		g_atomic_int_set(&es->audio, json_is_true(audio));
	if (video)
		g_atomic_int_set(&es->video, json_is_true(video));
	if (bitrate) {
		g_atomic_int_set(&es->bitrate, (gint)MIN(json_integer_value(bitrate), G_MAXINT));
		/* Before the PeerConnection is up this is a no-op; setup_media repeats it. */
		if (core->send_remb)
			core->send_remb(app, (uint32_t)g_atomic_int_get(&es->bitrate));
	}
	if (json_is_true(keyframe)) {
		gint mask = g_atomic_int_get(&es->video_mask);
		for (int i = 0; i < 31; i++)
			if (mask & (1 << i))
				core->send_keyframe_request(app, i);
	}
	json_t *ev = json_pack("{s:s, s:s}", "echotest", "event", "result", "ok");
	json_t *ans = answer ? json_pack("{s:s, s:s}", "type", "answer", "sdp", answer) : NULL;
	if (core->push_event(app, &echotest, transaction, ev, ans) < 0 && ans)
		push_error(app, transaction, 414, "Could not negotiate the PeerConnection");
	else
		notify(app, "configured", es);
	json_decref(ev);
	json_decref(ans);
	g_free(answer);
out:
	if (es)
		cardea_refcount_unref(&es->ref);
	json_decref(body);
	json_decref(jsep);
}

/* ---- media (media loop thread) ---- */

static void echo_setup_media(cardea_plugin_session *app) {
	echo_session *es = app->plugin_handle;
	g_atomic_int_set(&es->hangingup, 0);
	/* A new PeerConnection: new SSRCs and seqs on both sides. */
	g_mutex_lock(&es->cfg_mutex);
	es->cfg_reset = TRUE;
	g_mutex_unlock(&es->cfg_mutex);
	g_atomic_int_inc(&es->sim_gen);
	g_atomic_int_set(&es->substream, -1);
	g_atomic_int_set(&es->temporal, -1);
	gint bitrate = g_atomic_int_get(&es->bitrate);
	if (bitrate > 0 && core->send_remb)
		core->send_remb(app, (uint32_t)bitrate);
	/* Our first video frames are whatever the peer sends next: ask for a keyframe. */
	gint mask = g_atomic_int_get(&es->video_mask);
	for (int i = 0; i < 31; i++)
		if (mask & (1 << i))
			core->send_keyframe_request(app, i);
}

static void echo_incoming_rtp(cardea_plugin_session *app, cardea_rtp_packet *packet) {
	echo_session *es = app->plugin_handle;
	if (!g_atomic_int_get(packet->video ? &es->video : &es->audio))
		return;
	if (packet->video && packet->mindex >= 0 && packet->mindex < ECHO_MAX_MLINES) {
		sim_sync(es);
		echo_sim *sim = &es->sims[packet->mindex];
		if (sim->cfg.substreams > 1) {
			sim_relay(app, es, sim, packet);
			return;
		}
	}
	es->echoed++;
	core->relay_rtp(app, packet);
}

static void echo_incoming_keyframe_request(cardea_plugin_session *app, int mindex) {
	/* What we send on mindex is what the peer sends there: ask the peer. */
	core->send_keyframe_request(app, mindex);
}

static void echo_data_ready(cardea_plugin_session *app) {
	CARDEA_LOG(CARDEA_LOG_VERB, "[echotest] data channels ready (session %p)", (void *)app);
}

#define ECHO_DATA_PREFIX "Janus EchoTest here! You wrote: "

static void echo_incoming_data(cardea_plugin_session *app, cardea_data_packet *packet) {
	/* Same label: the core sends it on the peer's channel of that name. */
	if (packet->binary) {
		core->relay_data(app, packet);
		return;
	}
	gsize plen = strlen(ECHO_DATA_PREFIX);
	guint8 *text = g_malloc(plen + packet->len);
	memcpy(text, ECHO_DATA_PREFIX, plen);
	if (packet->len)
		memcpy(text + plen, packet->buf, packet->len);
	cardea_data_packet reply = *packet;
	reply.buf = text;
	reply.len = plen + packet->len;
	core->relay_data(app, &reply);
	g_free(text);
}

static void echo_hangup_media(cardea_plugin_session *app) {
	echo_session *es = session_lookup(app);
	if (es == NULL)
		return;
	if (g_atomic_int_compare_and_exchange(&es->hangingup, 0, 1)) {
		/* Defaults again for the next PeerConnection, like Janus. */
		g_atomic_int_set(&es->audio, 1);
		g_atomic_int_set(&es->video, 1);
		g_atomic_int_set(&es->bitrate, 0);
		g_atomic_int_set(&es->substream_target, -1);
		g_atomic_int_set(&es->temporal_target, -1);
		g_atomic_int_set(&es->fallback, 0);
		g_atomic_int_inc(&es->sim_gen);
		json_t *ev = json_pack("{s:s, s:s}", "echotest", "event", "result", "done");
		core->push_event(app, &echotest, NULL, ev, NULL);
		json_decref(ev);
		notify(app, "done", NULL);
	}
	cardea_refcount_unref(&es->ref);
}

/* ---- plugin API ---- */

static int echo_init(const cardea_plugin_core *c, const char *config_path) {
	core = c;
	/* No settings yet: the config file may be absent. */
	sessions = g_hash_table_new(NULL, NULL);
	queue = cardea_plugin_queue_new("echotest", handle_request, NULL);
	return 0;
}

static void echo_destroy(void) {
	cardea_plugin_queue_free(queue);
	queue = NULL;
	g_mutex_lock(&sessions_mutex);
	g_hash_table_destroy(sessions);
	sessions = NULL;
	g_mutex_unlock(&sessions_mutex);
}

static void echo_create_session(cardea_plugin_session *app, int *error) {
	echo_session *es = g_new0(echo_session, 1);
	es->app = app;
	es->audio = es->video = 1;
	es->substream_target = es->temporal_target = -1;
	es->substream = es->temporal = -1;
	g_mutex_init(&es->cfg_mutex);
	cardea_refcount_init(&es->ref, echo_session_free);
	app->plugin_handle = es;
	g_mutex_lock(&sessions_mutex);
	g_hash_table_insert(sessions, app, es);
	g_mutex_unlock(&sessions_mutex);
}

static cardea_plugin_result echo_handle_message(cardea_plugin_session *app, const char *transaction,
		json_t *message, json_t *jsep) {
	cardea_plugin_queue_push(queue, app, transaction, message, jsep);
	return cardea_plugin_wait(ECHO_HINT);
}

static void echo_destroy_session(cardea_plugin_session *app, int *error) {
	g_mutex_lock(&sessions_mutex);
	echo_session *es = g_hash_table_lookup(sessions, app);
	if (es)
		g_hash_table_remove(sessions, app);
	g_mutex_unlock(&sessions_mutex);
	if (es == NULL) {
		*error = -1;
		return;
	}
	app->plugin_handle = NULL;
	cardea_refcount_unref(&es->ref);
}

static json_t *echo_query_session(cardea_plugin_session *app) {
	echo_session *es = session_lookup(app);
	if (es == NULL)
		return NULL;
	json_t *info = json_pack("{s:b, s:b, s:i}", "audio_active", g_atomic_int_get(&es->audio),
		"video_active", g_atomic_int_get(&es->video), "bitrate", g_atomic_int_get(&es->bitrate));
	if (g_atomic_int_get(&es->simulcast)) {
		gint st = g_atomic_int_get(&es->substream_target), tt = g_atomic_int_get(&es->temporal_target);
		gint fb = g_atomic_int_get(&es->fallback);
		json_object_set_new(info, "simulcast", json_true());
		json_object_set_new(info, "substream", json_integer(g_atomic_int_get(&es->substream)));
		json_object_set_new(info, "substream-target", json_integer(st >= 0 ? st : 2));
		json_object_set_new(info, "temporal-layer", json_integer(g_atomic_int_get(&es->temporal)));
		json_object_set_new(info, "temporal-layer-target", json_integer(tt >= 0 ? tt : 2));
		json_object_set_new(info, "fallback", json_integer(fb > 0 ? fb : CARDEA_SIM_DEFAULT_FALLBACK_US));
	}
	cardea_refcount_unref(&es->ref);
	return info;
}

/* Gauges for /metrics (cardea_plugin_sessions{plugin="janus.plugin.echotest"}). */
static json_t *echo_query_metrics(void) {
	g_mutex_lock(&sessions_mutex);
	guint n = sessions ? g_hash_table_size(sessions) : 0;
	g_mutex_unlock(&sessions_mutex);
	return json_pack("{s:I}", "sessions", (json_int_t)n);
}

static cardea_plugin echotest = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_PLUGIN, cardea_plugin),
		.package = ECHO_PACKAGE,
		.name = "echotest",
		.description = "Echoes a PeerConnection's media back to it (Janus EchoTest API)",
		.author = "Cardea",
		.version_string = "0.1.0",
		.version = 1,
	},
	.init = echo_init,
	.destroy = echo_destroy,
	.create_session = echo_create_session,
	.handle_message = echo_handle_message,
	.hangup_media = echo_hangup_media,
	.destroy_session = echo_destroy_session,
	.query_session = echo_query_session,
	.setup_media = echo_setup_media,
	.incoming_rtp = echo_incoming_rtp,
	.incoming_keyframe_request = echo_incoming_keyframe_request,
	.data_ready = echo_data_ready,
	.incoming_data = echo_incoming_data,
	.query_metrics = echo_query_metrics,
};

CARDEA_MODULE_DEFINE(echotest)
