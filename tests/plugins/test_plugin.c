/* cardea.plugin.test: a plugin used only by the test suites. It exercises
 * every path of the plugin ABI the core offers today: synchronous answers,
 * ack + later events on its own queue thread, errors, slow handlers, and a
 * plugin-initiated detach.
 *
 *   {"request":"ping"}             -> sync {"test":"pong"}
 *   {"request":"echo", ...}        -> ack, then event {"test":"echo","body":<body>} (+ the jsep echoed back);
 *                                     "hold_ack_ms":N (any queued request) returns from handle_message
 *                                     N ms (<= 1000) after queueing: the event is pushed before the ack
 *   {"request":"events","count":N} -> ack, then N events {"test":"event","seq":i}
 *   {"request":"sleep","ms":N}     -> sync after sleeping N ms (N <= 10000) {"test":"slept","ms":N}
 *   {"request":"fail"}             -> Janus error 462
 *   {"request":"detach_me"}        -> ack, then the plugin ends the handle (client gets "detached")
 *
 * Gateway offers (the plugin starts the negotiation; test_gateway_offer.py):
 *   {"request":"offer","audio":B,"video":B,"data":B}
 *                                  -> ack, then event {"test":"offer","mlines":N} with a jsep offer built
 *                                     with cardea/sdp.h (opus 111, VP8 96 with nack/pli/fir/remb, data);
 *                                     on a live PC this re-offers the current m-lines instead;
 *                                     "restart":true asks for an ICE restart
 *   {"request":"add_video"}        -> re-offer with one more video m-line appended
 *   {"request":"disable","mindex":N} -> re-offer with m-line N disabled (port 0)
 *   {"request":"start"} + answer   -> event {"test":"started","jsep":"answer"} (the core applied it first)
 *   {"request":"answer_me"} + offer -> event {"test":"answered"} with an answer accepting the first codec
 *                                     of each m-line (a client re-offer)
 * Media: every RTP packet is relayed back on its m-line, keyframe requests
 * are passed back to the sender, data messages are echoed with "echo:" in
 * front. query_session counts setup_media/hangup_media calls and RTP per m-line.
 *   anything else                  -> sync {"test":"error","error_code":499,"error":"Unknown request 'x'"}
 */
#include <string.h>
#include <cardea/plugin.h>
#include <cardea/sdp.h>

static const cardea_plugin_core *core;
static cardea_plugin_queue *queue;
static cardea_plugin test_plugin;

#define TEST_MAX_MLINES 16

typedef struct test_session {
	guint64 messages;   /* handled so far (atomic) */
	/* The m-lines of our offers: queue thread only. */
	cardea_sdp_media kinds[TEST_MAX_MLINES];
	gboolean disabled[TEST_MAX_MLINES];
	guint n_mlines;
	/* Media counters (atomic: the media loop writes, query_session reads). */
	gint negotiated;    /* set once this plugin negotiated media: query_session shows the counters */
	gint setups, hangups, keyframe_requests;
	guint64 rtp_in[TEST_MAX_MLINES];
	guint64 data_in;
	cardea_refcount ref;
} test_session;

/* destroy_session (a request worker) can run while the queue thread is
 * still working on the same handle: the state is refcounted and taken under
 * this lock, so whoever drops the last ref frees it. */
static GMutex sessions_mutex;

static void test_session_free(const cardea_refcount *ref) {
	g_free(cardea_container_of(ref, test_session, ref));
}

static test_session *test_session_get(cardea_plugin_session *session) {
	g_mutex_lock(&sessions_mutex);
	test_session *ts = session->plugin_handle;
	if (ts)
		cardea_refcount_ref(&ts->ref);
	g_mutex_unlock(&sessions_mutex);
	return ts;
}

static void count_add(guint64 *v) {
	__atomic_add_fetch(v, 1, __ATOMIC_RELAXED);
}

/* The media half of an offer, as a plugin writes it (the core completes it). */
static char *build_offer(test_session *ts) {
	cardea_sdp *sdp = cardea_sdp_new();
	for (guint i = 0; i < ts->n_mlines; i++) {
		cardea_sdp_mline *m = cardea_sdp_mline_add(sdp, ts->kinds[i], NULL);
		m->mid = cardea_sdp_strdup_printf(sdp, "%u", i);
		if (ts->kinds[i] == CARDEA_SDP_MEDIA_AUDIO) {
			cardea_sdp_payload *p = cardea_sdp_payload_add(sdp, m, 111, "opus", 48000, 2);
			cardea_sdp_payload_set_fmtp(sdp, p, "minptime=10;useinbandfec=1");
		} else if (ts->kinds[i] == CARDEA_SDP_MEDIA_VIDEO) {
			cardea_sdp_payload *p = cardea_sdp_payload_add(sdp, m, 96, "VP8", 90000, 0);
			cardea_sdp_payload_add_fb(sdp, p, "nack", NULL);
			cardea_sdp_payload_add_fb(sdp, p, "nack", "pli");
			cardea_sdp_payload_add_fb(sdp, p, "ccm", "fir");
			cardea_sdp_payload_add_fb(sdp, p, "goog-remb", NULL);
		}
		if (m->rtp) {
			cardea_sdp_extmap_add(sdp, m, 1, cardea_sdp_ext_uri(CARDEA_SDP_EXT_MID));
			m->direction = CARDEA_SDP_DIR_SENDRECV;
		}
		if (ts->disabled[i])
			m->port = 0;
	}
	char *text = cardea_sdp_write(sdp);
	cardea_sdp_free(sdp);
	return text;
}

static void push_offer(cardea_plugin_session *session, test_session *ts, const char *transaction,
		json_t *message) {
	g_atomic_int_set(&ts->negotiated, 1);
	char *text = build_offer(ts);
	json_t *jsep = json_pack("{s:s, s:s}", "type", "offer", "sdp", text);
	if (json_is_true(json_object_get(message, "restart")))
		json_object_set_new(jsep, "restart", json_true());
	json_t *event = json_pack("{s:s, s:i}", "test", "offer", "mlines", ts->n_mlines);
	if (core->push_event(session, &test_plugin, transaction, event, jsep) != 0) {
		json_decref(event);
		event = json_pack("{s:s, s:i, s:s}", "test", "error", "error_code", 498, "error", "offer refused by the core");
		core->push_event(session, &test_plugin, transaction, event, NULL);
	}
	json_decref(event);
	json_decref(jsep);
	g_free(text);
}

/* An answer to a client (re-)offer: the first codec of each m-line, the
 * data channel line as is, everything else rejected. */
static char *build_answer(const char *offer_text) {
	cardea_sdp *offer = cardea_sdp_parse(offer_text, strlen(offer_text), NULL, NULL);
	if (offer == NULL)
		return NULL;
	cardea_sdp *ans = cardea_sdp_new();
	for (guint i = 0; i < offer->n_mlines; i++) {
		const cardea_sdp_mline *om = offer->mlines[i];
		cardea_sdp_mline *m = cardea_sdp_mline_add(ans, om->kind, om->proto);
		if (om->mid)
			m->mid = cardea_sdp_strdup(ans, om->mid);
		if (!om->rtp) {
			if (om->fmt)
				m->fmt = cardea_sdp_strdup(ans, om->fmt);
			m->sctp_port = om->sctp_port;
			if (!cardea_sdp_mline_is_active(om))
				m->port = 0;
			continue;
		}
		if (!cardea_sdp_mline_is_active(om) || om->n_payloads == 0) {
			m->port = 0;
			cardea_sdp_payload_add(ans, m, om->n_payloads ? om->payloads[0].pt : 0, NULL, 0, 0);
			continue;
		}
		const cardea_sdp_payload *op = &om->payloads[0];
		cardea_sdp_payload *p = cardea_sdp_payload_add(ans, m, op->pt, op->name, op->clock, op->channels);
		if (op->fmtp)
			cardea_sdp_payload_set_fmtp(ans, p, op->fmtp);
		for (guint k = 0; k < op->n_fb; k++)
			cardea_sdp_payload_add_fb(ans, p, op->fb[k].type, op->fb[k].param);
		guint mid_ext = cardea_sdp_find_extmap(om, CARDEA_SDP_EXT_MID);
		if (mid_ext)
			cardea_sdp_extmap_add(ans, m, mid_ext, cardea_sdp_ext_uri(CARDEA_SDP_EXT_MID));
		m->direction = CARDEA_SDP_DIR_SENDRECV;
	}
	char *text = cardea_sdp_write(ans);
	cardea_sdp_free(ans);
	cardea_sdp_free(offer);
	return text;
}

static void process(cardea_plugin_session *session, const char *transaction, json_t *message,
		json_t *jsep, void *user_data) {
	test_session *ts = test_session_get(session);
	if (ts == NULL) {
		/* Torn down between the queue's `stopped` check and here. */
		json_decref(message);
		json_decref(jsep);
		return;
	}
	const char *request = json_string_value(json_object_get(message, "request"));
	if (g_strcmp0(request, "echo") == 0) {
		json_t *event = json_pack("{s:s, s:O}", "test", "echo", "body", message);
		json_t *answer = NULL;
		if (jsep) {
			/* Echo the description back with the opposite type so the core's
			 * offer/answer bookkeeping sees a well-formed server jsep. */
			const char *type = json_string_value(json_object_get(jsep, "type"));
			answer = json_pack("{s:s, s:O}", "type", g_strcmp0(type, "offer") == 0 ? "answer" : "offer",
				"sdp", json_object_get(jsep, "sdp"));
		}
		core->push_event(session, &test_plugin, transaction, event, answer);
		json_decref(event);
		json_decref(answer);
	} else if (g_strcmp0(request, "events") == 0) {
		json_int_t count = json_integer_value(json_object_get(message, "count"));
		for (json_int_t i = 0; i < count && i < 1000; i++) {
			json_t *event = json_pack("{s:s, s:I}", "test", "event", "seq", i);
			core->push_event(session, &test_plugin, i == 0 ? transaction : NULL, event, NULL);
			json_decref(event);
		}
	} else if (g_strcmp0(request, "detach_me") == 0) {
		core->end_session(session);
	} else if (g_strcmp0(request, "offer") == 0 || g_strcmp0(request, "add_video") == 0 ||
			g_strcmp0(request, "disable") == 0) {
		if (g_strcmp0(request, "offer") == 0 && ts->n_mlines == 0) {
			if (json_is_true(json_object_get(message, "audio")))
				ts->kinds[ts->n_mlines++] = CARDEA_SDP_MEDIA_AUDIO;
			if (json_is_true(json_object_get(message, "video")))
				ts->kinds[ts->n_mlines++] = CARDEA_SDP_MEDIA_VIDEO;
			if (json_is_true(json_object_get(message, "data")))
				ts->kinds[ts->n_mlines++] = CARDEA_SDP_MEDIA_APPLICATION;
		} else if (g_strcmp0(request, "add_video") == 0 && ts->n_mlines < TEST_MAX_MLINES) {
			ts->kinds[ts->n_mlines++] = CARDEA_SDP_MEDIA_VIDEO;
		} else if (g_strcmp0(request, "disable") == 0) {
			json_int_t i = json_integer_value(json_object_get(message, "mindex"));
			if (i >= 0 && i < (json_int_t)ts->n_mlines)
				ts->disabled[i] = TRUE;
		}
		push_offer(session, ts, transaction, message);
	} else if (g_strcmp0(request, "start") == 0) {
		const char *type = json_string_value(json_object_get(jsep, "type"));
		json_t *event = json_pack("{s:s, s:s?}", "test", "started", "jsep", type);
		core->push_event(session, &test_plugin, transaction, event, NULL);
		json_decref(event);
	} else if (g_strcmp0(request, "answer_me") == 0) {
		const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
		g_atomic_int_set(&ts->negotiated, 1);
		char *text = sdp ? build_answer(sdp) : NULL;
		json_t *answer = text ? json_pack("{s:s, s:s}", "type", "answer", "sdp", text) : NULL;
		json_t *event = json_pack("{s:s}", "test", answer ? "answered" : "no-offer");
		core->push_event(session, &test_plugin, transaction, event, answer);
		json_decref(event);
		json_decref(answer);
		g_free(text);
	}
	cardea_refcount_unref(&ts->ref);
	json_decref(message);
	json_decref(jsep);
}

static int test_init(const cardea_plugin_core *c, const char *config_path) {
	core = c;
	queue = cardea_plugin_queue_new("test-plugin", process, NULL);
	CARDEA_LOG(CARDEA_LOG_INFO, "[test] plugin ready");
	return 0;
}

static void test_destroy(void) {
	cardea_plugin_queue_free(queue);
	queue = NULL;
}

static void test_create_session(cardea_plugin_session *session, int *error) {
	test_session *ts = g_new0(test_session, 1);
	cardea_refcount_init(&ts->ref, test_session_free);
	session->plugin_handle = ts;
	*error = 0;
}

static void test_destroy_session(cardea_plugin_session *session, int *error) {
	g_mutex_lock(&sessions_mutex);
	test_session *ts = session->plugin_handle;
	session->plugin_handle = NULL;
	g_mutex_unlock(&sessions_mutex);
	if (ts)
		cardea_refcount_unref(&ts->ref);
	*error = ts ? 0 : -1;
}

static json_t *test_query_session(cardea_plugin_session *session) {
	test_session *ts = test_session_get(session);
	if (ts == NULL)
		return NULL;
	json_t *info;
	if (!g_atomic_int_get(&ts->negotiated)) {
		info = json_pack("{s:I}", "messages", (json_int_t)__atomic_load_n(&ts->messages, __ATOMIC_RELAXED));
		cardea_refcount_unref(&ts->ref);
		return info;
	}
	json_t *rtp = json_array();
	for (guint i = 0; i < TEST_MAX_MLINES; i++)
		json_array_append_new(rtp, json_integer((json_int_t)__atomic_load_n(&ts->rtp_in[i], __ATOMIC_RELAXED)));
	info = json_pack("{s:I, s:i, s:i, s:i, s:I, s:o}",
		"messages", (json_int_t)__atomic_load_n(&ts->messages, __ATOMIC_RELAXED),
		"setup_media", g_atomic_int_get(&ts->setups), "hangup_media", g_atomic_int_get(&ts->hangups),
		"keyframe_requests", g_atomic_int_get(&ts->keyframe_requests),
		"data_in", (json_int_t)__atomic_load_n(&ts->data_in, __ATOMIC_RELAXED), "rtp_in", rtp);
	cardea_refcount_unref(&ts->ref);
	return info;
}

static cardea_plugin_result test_handle_message(cardea_plugin_session *session, const char *transaction,
		json_t *message, json_t *jsep) {
	test_session *ts = test_session_get(session);
	if (ts) {
		__atomic_add_fetch(&ts->messages, 1, __ATOMIC_RELAXED);
		cardea_refcount_unref(&ts->ref);
	}
	const char *request = json_string_value(json_object_get(message, "request"));
	cardea_plugin_result result;
	if (g_strcmp0(request, "ping") == 0) {
		result = cardea_plugin_ok(json_pack("{s:s}", "test", "pong"));
	} else if (g_strcmp0(request, "sleep") == 0) {
		json_int_t ms = json_integer_value(json_object_get(message, "ms"));
		ms = CLAMP(ms, 0, 10000);
		g_usleep((gulong)ms * 1000);
		result = cardea_plugin_ok(json_pack("{s:s, s:I}", "test", "slept", "ms", ms));
	} else if (g_strcmp0(request, "fail") == 0) {
		result = cardea_plugin_error("The test plugin was asked to fail");
	} else if (g_strcmp0(request, "echo") == 0 || g_strcmp0(request, "events") == 0 ||
			g_strcmp0(request, "detach_me") == 0 || g_strcmp0(request, "offer") == 0 ||
			g_strcmp0(request, "add_video") == 0 || g_strcmp0(request, "disable") == 0 ||
			g_strcmp0(request, "start") == 0 || g_strcmp0(request, "answer_me") == 0) {
		/* "hold_ack_ms": return only after that long, so the queue thread's
		 * event is pushed before the core could send the ack (test_core_api.py). */
		json_int_t hold_ms = CLAMP(json_integer_value(json_object_get(message, "hold_ack_ms")), 0, 1000);
		cardea_plugin_queue_push(queue, session, transaction, message, jsep);
		if (hold_ms > 0)
			g_usleep((gulong)hold_ms * 1000);
		return cardea_plugin_wait("queued");
	} else {
		char *error = g_strdup_printf("Unknown request '%s'", request ? request : "");
		result = cardea_plugin_ok(json_pack("{s:s, s:i, s:s}", "test", "error", "error_code", 499, "error", error));
		g_free(error);
	}
	json_decref(message);
	json_decref(jsep);
	return result;
}

/* ---- media (the handle's loop thread): everything goes back where it came from ---- */

static void test_setup_media(cardea_plugin_session *session) {
	test_session *ts = session->plugin_handle;
	g_atomic_int_inc(&ts->setups);
}

static void test_hangup_media(cardea_plugin_session *session) {
	test_session *ts = session->plugin_handle;
	if (ts)
		g_atomic_int_inc(&ts->hangups);
}

static void test_incoming_rtp(cardea_plugin_session *session, cardea_rtp_packet *packet) {
	test_session *ts = session->plugin_handle;
	if (packet->mindex >= 0 && packet->mindex < TEST_MAX_MLINES)
		count_add(&ts->rtp_in[packet->mindex]);
	core->relay_rtp(session, packet);
}

static void test_incoming_keyframe_request(cardea_plugin_session *session, int mindex) {
	test_session *ts = session->plugin_handle;
	g_atomic_int_inc(&ts->keyframe_requests);
	core->send_keyframe_request(session, mindex);
}

static void test_incoming_data(cardea_plugin_session *session, cardea_data_packet *packet) {
	test_session *ts = session->plugin_handle;
	count_add(&ts->data_in);
	GByteArray *out = g_byte_array_new();
	g_byte_array_append(out, (const guint8 *)"echo:", 5);
	if (packet->len)
		g_byte_array_append(out, packet->buf, (guint)packet->len);
	cardea_data_packet reply = *packet;
	reply.buf = out->data;
	reply.len = out->len;
	core->relay_data(session, &reply);
	g_byte_array_free(out, TRUE);
}

static json_t *test_handle_admin_message(json_t *message) {
	return json_pack("{s:s, s:O}", "test", "admin", "request", message);
}

static cardea_plugin test_plugin = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_PLUGIN, cardea_plugin),
		.package = "cardea.plugin.test",
		.name = "test",
		.description = "Exercises the plugin API for the test suites",
		.author = "The Cardea developers",
		.version_string = "0.1.0",
		.version = 1,
	},
	.init = test_init,
	.destroy = test_destroy,
	.create_session = test_create_session,
	.handle_message = test_handle_message,
	.handle_admin_message = test_handle_admin_message,
	.destroy_session = test_destroy_session,
	.query_session = test_query_session,
	.setup_media = test_setup_media,
	.hangup_media = test_hangup_media,
	.incoming_rtp = test_incoming_rtp,
	.incoming_keyframe_request = test_incoming_keyframe_request,
	.incoming_data = test_incoming_data,
};

CARDEA_MODULE_DEFINE(test_plugin)
