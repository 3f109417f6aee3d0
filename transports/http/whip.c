/* WHIP/WHEP on the HTTP transport (see whip.h for the routes and threads).
 *
 * A POST walks a resource through the Janus API as any client would:
 * create -> attach cardea.plugin.broadcast -> message {"request":"present"
 * (WHIP) or "watch" (WHEP), "channel", "token"} with the offer -> the
 * plugin's event carrying the answer, which becomes the 201. Each step is a
 * request to the core on WHIP's own transport session with a cookie as
 * request id; the reply comes back through cardea_whip_message(), which
 * sends the next step. The HTTP request stays suspended meanwhile (the
 * transport's usual suspend/register/resume protocol, http-priv.h), and is
 * answered with a JSON description of the HTTP response that
 * cardea_whip_send() turns into the real one.
 *
 * Error mapping: bad content type 415, unparsable SDP 400 (also the core's
 * 465 and the plugin's 488), unknown channel or resource 404, plugin 487
 * (pin/token/auth) 401 without a Bearer token and 403 with one, 489 (the
 * channel has a presenter that cannot be replaced) 409, anything else 500,
 * a core that does not answer 503.
 *
 * PATCH (RFC 9725 4.3): an sdpfrag with the ufrag the resource knows carries
 * trickle candidates (204); a new ufrag/pwd is an ICE restart, done by the
 * core's ice_restart (no SDP: DTLS and media stay) and answered 200 with our
 * new credentials and candidates in an sdpfrag and a new ETag, which names
 * the new ICE session. If-Match is required (428 without), "*" or the
 * current ETag (412 for another one: a trickle of an older ICE session).
 */
#include <string.h>
#include "cardea/module.h"
#include "cardea/config.h"
#include "cardea/sdp.h"
#include "whip.h"

#define WHIP_PLUGIN "cardea.plugin.broadcast"
#define WHIP_KEEPALIVE_S 5               /* well under any sane session_timeout */
/* Default of whip.answer_timeout: a POST still unanswered after this gets
 * 504, so a lost plugin event cannot hold the client (and its MHD
 * connection) forever. Above the auth module's own 10 s answer timeout, so a
 * slow backend's verdict comes first. */
#define WHIP_ANSWER_TIMEOUT_S 20
#define WHIP_SDPFRAG "application/trickle-ice-sdpfrag"

enum { STEP_NONE = 0, STEP_CREATE, STEP_ATTACH, STEP_MESSAGE, STEP_IGNORE };

typedef struct whip_res {
	char id[33];                    /* hex, the resource URL's last segment */
	char etag[20];                  /* quoted; a new one per ICE restart (whip.lock) */
	bool whep;
	char *channel, *token, *offer;  /* owned; offer freed once sent */
	char *ufrag;                    /* the client's ICE ufrag: another one is a restart (whip.lock) */
	char *mid0;                     /* first m-line's mid, for trickles without a=mid */
	char *mline0;                   /* the offer's first m= line, names it in restart answers */
	guint64 session_id, handle_id;
	char tx[40];                    /* transaction of the plugin message */
	guint64 http_rid;               /* the suspended POST, 0 once answered */
	gint64 posted_at;               /* monotonic, for whip.answer_timeout_s */
	bool active;                    /* the 201 went out: listed in by_id */
	char remote[64];                /* the POSTing client's IP, for the auth module */
	cardea_refcount ref;
} whip_res;

static struct {
	bool enabled;
	char *prefix;                   /* "" or "/x" (no trailing slash) */
	cardea_transport_session *ts;   /* owned ref */
	GMutex lock;                    /* leaf: guards the tables */
	GHashTable *pending;            /* cookie -> whip_res* (ref), with the step in the high bits */
	GHashTable *by_session;         /* session id -> whip_res* (ref) */
	GHashTable *by_id;              /* id -> whip_res* (ref), active resources */
	guint64 next_cookie;
	int answer_timeout_s;           /* whip.answer_timeout */
	GSource *timer;                 /* owned; on cardea_http.timer_ctx */
} whip;

static void res_free(const cardea_refcount *ref) {
	whip_res *r = cardea_container_of(ref, whip_res, ref);
	g_free(r->channel);
	g_free(r->token);
	g_free(r->offer);
	g_free(r->ufrag);
	g_free(r->mid0);
	g_free(r->mline0);
	g_free(r);
}

static void res_unref(gpointer p) {
	if (p)
		cardea_refcount_unref(&((whip_res *)p)->ref);
}

static whip_res *res_ref(whip_res *r) {
	cardea_refcount_ref(&r->ref);
	return r;
}

/* ---- responses ---- */

static json_t *resp_json(unsigned int status, const char *type, const char *body) {
	return json_pack("{s:i, s:s?, s:s?}", "status", (int)status, "type", type, "body", body);
}

enum MHD_Result cardea_whip_send(http_req *req, json_t *reply, unsigned int status) {
	req->state = HTTP_REQ_DONE;
	json_t *st = json_object_get(reply, "status");
	if (json_is_integer(st))
		status = (unsigned int)json_integer_value(st);
	const char *body = json_string_value(json_object_get(reply, "body"));
	const char *type = json_string_value(json_object_get(reply, "type"));
	struct MHD_Response *resp = MHD_create_response_from_buffer(body ? strlen(body) : 0, (void *)(body ? body : ""),
		MHD_RESPMEM_MUST_COPY);
	if (resp == NULL) {
		json_decref(reply);
		return MHD_NO;
	}
	if (type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	static const char *const hdrs[][2] = {
		{ "location", MHD_HTTP_HEADER_LOCATION }, { "etag", MHD_HTTP_HEADER_ETAG },
		{ "www_authenticate", MHD_HTTP_HEADER_WWW_AUTHENTICATE }, { "accept_post", "Accept-Post" },
		{ "accept_patch", "Accept-Patch" }, { "allow", MHD_HTTP_HEADER_ALLOW },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(hdrs); i++) {
		const char *v = json_string_value(json_object_get(reply, hdrs[i][0]));
		if (v)
			MHD_add_response_header(resp, hdrs[i][1], v);
	}
	cardea_http_add_cors(req->conn, resp);
	/* Browsers only let scripts read these when exposed. */
	MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Location, ETag, Accept-Patch, Accept-Post");
	enum MHD_Result ret = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	json_decref(reply);
	return ret;
}

static enum MHD_Result send_now(http_req *req, unsigned int status, const char *text) {
	return cardea_whip_send(req, resp_json(status, text ? "text/plain" : NULL, text), status);
}

/* ---- talking to the core ---- */

/* Sends `msg` (stolen) to the core for `r` at `step`; the reply comes back
 * in cardea_whip_message. False when `msg` is NULL (json_pack refused a
 * value) or cannot be written: nothing was sent, no reply will come. */
static bool core_send(whip_res *r, int step, json_t *msg) {
	guint64 cookie;
	char *text = NULL;
	g_mutex_lock(&whip.lock);
	cookie = ++whip.next_cookie;
	g_mutex_unlock(&whip.lock);
	if (msg && json_object_get(msg, "transaction") == NULL) {
		char tx[32];
		g_snprintf(tx, sizeof(tx), "whip-%"G_GUINT64_FORMAT, cookie);
		json_object_set_new(msg, "transaction", json_string(tx));
	}
	if (msg)
		text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (text == NULL)
		return false;
	/* Pending only once we know the request goes out: an entry without a
	 * request would leave the POST waiting for a reply forever. */
	g_mutex_lock(&whip.lock);
	if (r && step != STEP_IGNORE && whip.pending)
		g_hash_table_insert(whip.pending, GSIZE_TO_POINTER(cookie), res_ref(r));
	g_mutex_unlock(&whip.lock);
	/* step in the cookie's top byte: the reply handler knows what it answers. */
	guint64 id = cookie | ((guint64)step << 56);
	cardea_http_incoming(whip.ts, GSIZE_TO_POINTER(id), false, text, strlen(text), 0, 0, r ? r->remote : NULL);
	free(text);
	return true;
}

static void destroy_session(guint64 session_id) {
	if (session_id)
		core_send(NULL, STEP_IGNORE, json_pack("{s:s, s:I}", "janus", "destroy", "session_id", (json_int_t)session_id));
}

/* Answers the suspended POST of `r` with `reply` (stolen). False when the
 * client went away meanwhile. */
static bool answer_post(whip_res *r, json_t *reply) {
	struct MHD_Connection *conn = NULL;
	g_mutex_lock(&cardea_http.lock);
	http_req *req = r->http_rid ? g_hash_table_lookup(cardea_http.waiting, GSIZE_TO_POINTER(r->http_rid)) : NULL;
	r->http_rid = 0;
	if (req != NULL) {
		conn = cardea_http_req_complete_locked(req, reply, 0);
		reply = NULL;
	}
	g_mutex_unlock(&cardea_http.lock);
	json_decref(reply);
	if (conn)
		MHD_resume_connection(conn);
	return conn != NULL;
}

/* The setup failed: answer the POST with `status` and drop everything. */
static void res_fail(whip_res *r, unsigned int status, const char *text) {
	CARDEA_LOG(CARDEA_LOG_WARN, "[http] %s %s on channel %s failed: %u %s", r->whep ? "WHEP" : "WHIP",
		r->id, r->channel, status, text);
	json_t *reply = resp_json(status, "text/plain", text);
	if (status == MHD_HTTP_UNAUTHORIZED)
		json_object_set_new(reply, "www_authenticate", json_string("Bearer"));
	answer_post(r, reply);
	g_mutex_lock(&whip.lock);
	bool had = r->session_id && whip.by_session && g_hash_table_remove(whip.by_session, &r->session_id);
	g_mutex_unlock(&whip.lock);
	if (had)
		destroy_session(r->session_id);
}

static unsigned int plugin_status(whip_res *r, json_int_t code) {
	switch (code) {
	case 485: return MHD_HTTP_NOT_FOUND;
	case 487: return r->token ? MHD_HTTP_FORBIDDEN : MHD_HTTP_UNAUTHORIZED;
	case 488: case 484: case 483: return MHD_HTTP_BAD_REQUEST;
	case 489: return MHD_HTTP_CONFLICT;
	default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static unsigned int core_status(json_int_t code) {
	switch (code) {
	case 465: return MHD_HTTP_BAD_REQUEST;      /* the core refused the SDP */
	case 403: return MHD_HTTP_FORBIDDEN;        /* core token auth */
	case 460: return MHD_HTTP_SERVICE_UNAVAILABLE;  /* plugin not loaded */
	default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static void on_reply(whip_res *r, int step, json_t *msg) {
	const char *janus = json_string_value(json_object_get(msg, "janus"));
	json_t *err = json_object_get(msg, "error");
	if (g_strcmp0(janus, "error") == 0) {
		res_fail(r, core_status(json_integer_value(json_object_get(err, "code"))),
			json_string_value(json_object_get(err, "reason")) ?: "Gateway error");
		return;
	}
	json_t *id = json_object_get(json_object_get(msg, "data"), "id");
	if (step == STEP_CREATE && g_strcmp0(janus, "success") == 0 && json_is_integer(id)) {
		r->session_id = (guint64)json_integer_value(id);
		g_mutex_lock(&whip.lock);
		if (whip.by_session)
			g_hash_table_insert(whip.by_session, &r->session_id, res_ref(r));
		g_mutex_unlock(&whip.lock);
		if (!core_send(r, STEP_ATTACH, json_pack("{s:s, s:I, s:s}", "janus", "attach",
				"session_id", (json_int_t)r->session_id, "plugin", WHIP_PLUGIN)))
			res_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Cannot attach");
	} else if (step == STEP_ATTACH && g_strcmp0(janus, "success") == 0 && json_is_integer(id)) {
		r->handle_id = (guint64)json_integer_value(id);
		json_t *body = json_pack("{s:s, s:s, s:s}", "request", r->whep ? "watch" : "present", "channel", r->channel,
			"via", "whip");
		if (r->token)
			json_object_set_new(body, "token", json_string(r->token));
		g_snprintf(r->tx, sizeof(r->tx), "whip-%s", r->id);
		json_t *m = json_pack("{s:s, s:I, s:I, s:s, s:o, s:{s:s, s:s}}", "janus", "message",
			"session_id", (json_int_t)r->session_id, "handle_id", (json_int_t)r->handle_id,
			"transaction", r->tx, "body", body, "jsep", "type", "offer", "sdp", r->offer);
		g_free(r->offer);
		r->offer = NULL;
		if (!core_send(r, STEP_MESSAGE, m))
			res_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Cannot send the offer");
	} else if (step == STEP_MESSAGE && g_strcmp0(janus, "ack") == 0) {
		/* The answer comes as an event. */
	} else if (step == STEP_MESSAGE && g_strcmp0(janus, "success") == 0) {
		res_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Unexpected reply");
	} else {
		res_fail(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Unexpected reply from the gateway");
	}
}

/* An async event of a resource's session. */
static void on_event(whip_res *r, json_t *msg) {
	const char *janus = json_string_value(json_object_get(msg, "janus"));
	if (g_strcmp0(janus, "event") == 0 && !r->active &&
			g_strcmp0(json_string_value(json_object_get(msg, "transaction")), r->tx) == 0) {
		json_t *data = json_object_get(json_object_get(msg, "plugindata"), "data");
		json_t *code = json_object_get(data, "error_code");
		const char *sdp = json_string_value(json_object_get(json_object_get(msg, "jsep"), "sdp"));
		if (code || sdp == NULL) {
			res_fail(r, plugin_status(r, json_integer_value(code)),
				json_string_value(json_object_get(data, "error")) ?: "No answer");
			return;
		}
		char loc[256];
		g_snprintf(loc, sizeof(loc), "%s/%s/resource/%s", whip.prefix, r->whep ? "whep" : "whip", r->id);
		json_t *reply = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "status", MHD_HTTP_CREATED,
			"type", "application/sdp", "body", sdp, "location", loc, "etag", r->etag, "accept_patch", WHIP_SDPFRAG);
		g_mutex_lock(&whip.lock);
		r->active = true;
		if (whip.by_id)
			g_hash_table_insert(whip.by_id, r->id, res_ref(r));
		g_mutex_unlock(&whip.lock);
		if (!answer_post(r, reply)) {
			/* Nobody will ever know the resource: end it. */
			g_mutex_lock(&whip.lock);
			if (whip.by_id)
				g_hash_table_remove(whip.by_id, r->id);
			bool had = whip.by_session && g_hash_table_remove(whip.by_session, &r->session_id);
			g_mutex_unlock(&whip.lock);
			if (had)
				destroy_session(r->session_id);
			return;
		}
		CARDEA_LOG(CARDEA_LOG_INFO, "[http] %s resource %s on channel %s (session %"G_GUINT64_FORMAT")",
			r->whep ? "WHEP" : "WHIP", r->id, r->channel, r->session_id);
		return;
	}
	/* The PeerConnection is gone (ICE failure, replaced presenter, channel
	 * destroyed): the resource ends, as a DELETE would end it. */
	if (r->active && (g_strcmp0(janus, "hangup") == 0 || g_strcmp0(janus, "detached") == 0)) {
		g_mutex_lock(&whip.lock);
		if (whip.by_id)
			g_hash_table_remove(whip.by_id, r->id);
		bool had = whip.by_session && g_hash_table_remove(whip.by_session, &r->session_id);
		g_mutex_unlock(&whip.lock);
		if (had) {
			CARDEA_LOG(CARDEA_LOG_INFO, "[http] resource %s ended (%s)", r->id, janus);
			destroy_session(r->session_id);
		}
	}
}

bool cardea_whip_owns(cardea_transport_session *ts) {
	return ts != NULL && ts == whip.ts;
}

int cardea_whip_message(void *request_id, json_t *message) {
	whip_res *r = NULL;
	if (request_id != NULL) {
		guint64 id = GPOINTER_TO_SIZE(request_id);
		int step = (int)(id >> 56);
		guint64 cookie = id & ((G_GUINT64_CONSTANT(1) << 56) - 1);
		g_mutex_lock(&whip.lock);
		gpointer key = GSIZE_TO_POINTER(cookie);
		if (whip.pending && g_hash_table_steal_extended(whip.pending, key, NULL, (gpointer *)&r)) {
			/* r keeps the table's ref */
		}
		g_mutex_unlock(&whip.lock);
		if (r)
			on_reply(r, step, message);
	} else {
		json_t *sid = json_object_get(message, "session_id");
		guint64 s = json_is_integer(sid) ? (guint64)json_integer_value(sid) : 0;
		g_mutex_lock(&whip.lock);
		r = whip.by_session ? g_hash_table_lookup(whip.by_session, &s) : NULL;
		if (r)
			res_ref(r);
		g_mutex_unlock(&whip.lock);
		if (r)
			on_event(r, message);
	}
	res_unref(r);
	json_decref(message);
	return 0;
}

void cardea_whip_session_over(guint64 session_id) {
	g_mutex_lock(&whip.lock);
	whip_res *r = whip.by_session ? g_hash_table_lookup(whip.by_session, &session_id) : NULL;
	if (r) {
		res_ref(r);
		g_hash_table_remove(whip.by_session, &session_id);
		if (r->active)
			g_hash_table_remove(whip.by_id, r->id);
	}
	g_mutex_unlock(&whip.lock);
	if (r && !r->active)
		res_fail(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Session ended");
	res_unref(r);
}

/* A POST past whip.answer_timeout_s gets 504 and its session goes. Whoever
 * answers the POST first wins: when the plugin's answer beat us, on_event
 * owns the resource and we leave it alone; when we win, a late answer finds
 * no POST and on_event ends the resource. */
static void res_expire(whip_res *r) {
	char text[96];
	g_snprintf(text, sizeof(text), "No %s from the gateway within %d s",
		r->handle_id ? "answer" : r->session_id ? "attach reply" : "session", whip.answer_timeout_s);
	if (!answer_post(r, resp_json(MHD_HTTP_GATEWAY_TIMEOUT, "text/plain", text)))
		return;
	CARDEA_LOG(CARDEA_LOG_WARN, "[http] %s %s on channel %s (session %"G_GUINT64_FORMAT"): %s, answered 504",
		r->whep ? "WHEP" : "WHIP", r->id, r->channel, r->session_id, text);
	g_mutex_lock(&whip.lock);
	bool had = r->session_id && whip.by_session && g_hash_table_remove(whip.by_session, &r->session_id);
	g_mutex_unlock(&whip.lock);
	if (had)
		destroy_session(r->session_id);
}

/* Timer thread: WHIP resources have no client polling, so keep their
 * sessions alive here; and end POSTs that waited too long. */
static gboolean keepalive_tick(gpointer data) {
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(guint64));
	GPtrArray *stale = g_ptr_array_new_with_free_func(res_unref);
	gint64 too_old = g_get_monotonic_time() - (gint64)whip.answer_timeout_s * G_USEC_PER_SEC;
	g_mutex_lock(&whip.lock);
	GHashTableIter it;
	gpointer k, v;
	if (whip.by_session) {
		g_hash_table_iter_init(&it, whip.by_session);
		while (g_hash_table_iter_next(&it, &k, &v)) {
			whip_res *r = v;
			g_array_append_val(ids, *(guint64 *)k);
			if (!r->active && r->posted_at < too_old)
				g_ptr_array_add(stale, res_ref(r));
		}
	}
	g_mutex_unlock(&whip.lock);
	for (guint i = 0; i < ids->len; i++)
		cardea_http.core->session_keepalive(g_array_index(ids, guint64, i));
	for (guint i = 0; i < stale->len; i++)
		res_expire(stale->pdata[i]);
	g_array_free(ids, TRUE);
	g_ptr_array_free(stale, TRUE);
	return G_SOURCE_CONTINUE;
}

/* ---- routing (MHD worker) ---- */

/* The media type of a Content-Type value, without parameters. */
static bool content_type_is(struct MHD_Connection *conn, const char *want) {
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct == NULL)
		return false;
	size_t n = strcspn(ct, "; \t");
	return n == strlen(want) && g_ascii_strncasecmp(ct, want, n) == 0;
}

static char *bearer(struct MHD_Connection *conn) {
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (auth == NULL || g_ascii_strncasecmp(auth, "Bearer ", 7) != 0)
		return NULL;
	char *t = g_strstrip(g_strdup(auth + 7));
	if (*t == '\0') {
		g_free(t);
		return NULL;
	}
	return t;
}

static bool valid_name(const char *s) {
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (const char *c = s; *c; c++)
		if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_' && *c != '.')
			return false;
	return true;
}

bool cardea_whip_matches(const char *url) {
	if (!whip.enabled)
		return false;
	size_t n = strlen(whip.prefix);
	if (strncmp(url, whip.prefix, n) != 0)
		return false;
	return g_str_has_prefix(url + n, "/whip/") || g_str_has_prefix(url + n, "/whep/");
}

static enum MHD_Result route_post(http_req *req, bool whep, const char *channel) {
	if (!valid_name(channel) || !strcmp(channel, "resource"))
		return send_now(req, MHD_HTTP_NOT_FOUND, "No such channel");
	if (!content_type_is(req->conn, "application/sdp"))
		return send_now(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/sdp");
	if (req->too_large)
		return send_now(req, 413, "SDP too large");
	if (req->body == NULL || req->body->len == 0)
		return send_now(req, MHD_HTTP_BAD_REQUEST, "Missing SDP offer");
	/* The offer travels in a JSON string: json_pack refuses anything else. */
	if (!g_utf8_validate((const char *)req->body->data, (gssize)req->body->len, NULL))
		return send_now(req, MHD_HTTP_BAD_REQUEST, "Invalid SDP offer: not UTF-8");
	GError *error = NULL;
	cardea_sdp *sdp = cardea_sdp_parse((const char *)req->body->data, req->body->len, NULL, &error);
	if (sdp == NULL || !cardea_sdp_validate_webrtc(sdp, &error) || sdp->n_mlines == 0) {
		char *text = g_strdup_printf("Invalid SDP offer: %s", error ? error->message : "no m-line");
		enum MHD_Result ret = send_now(req, MHD_HTTP_BAD_REQUEST, text);
		g_free(text);
		g_clear_error(&error);
		if (sdp)
			cardea_sdp_free(sdp);
		return ret;
	}
	whip_res *r = g_new0(whip_res, 1);
	cardea_refcount_init(&r->ref, res_free);
	r->posted_at = g_get_monotonic_time();
	for (size_t i = 0; i < 32; i += 8)
		g_snprintf(r->id + i, 9, "%08x", g_random_int());
	g_snprintf(r->etag, sizeof(r->etag), "\"%08x%08x\"", g_random_int(), g_random_int());
	r->whep = whep;
	r->channel = g_strdup(channel);
	r->token = bearer(req->conn);
	cardea_http_peer(req->conn, r->remote, sizeof(r->remote));
	r->offer = g_strndup((const char *)req->body->data, req->body->len);
	r->ufrag = g_strdup(cardea_sdp_mline_ice_ufrag(sdp, sdp->mlines[0]));
	r->mid0 = g_strdup(sdp->mlines[0]->mid);
	/* RFC 8840 9.2: port and formats of an sdpfrag's m= line carry no meaning. */
	const cardea_sdp_mline *m0 = sdp->mlines[0];
	char pt[12];
	if (m0->rtp && m0->n_payloads > 0)
		g_snprintf(pt, sizeof(pt), "%d", (int)m0->payloads[0].pt);
	r->mline0 = g_strdup_printf("m=%s 9 %s %s", m0->media, m0->proto,
		m0->rtp ? (m0->n_payloads > 0 ? pt : "0") : (m0->fmt ? m0->fmt : "0"));
	cardea_sdp_free(sdp);
	g_byte_array_free(req->body, TRUE);
	req->body = NULL;
	/* Suspend, then register, as http_submit_text does. */
	MHD_suspend_connection(req->conn);
	g_mutex_lock(&cardea_http.lock);
	if (cardea_http.stopping) {
		struct MHD_Connection *conn = cardea_http_req_complete_locked(req,
			resp_json(MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "Server shutting down"), 0);
		g_mutex_unlock(&cardea_http.lock);
		MHD_resume_connection(conn);
		res_unref(r);
		return MHD_YES;
	}
	cardea_http_req_register_locked(req);
	r->http_rid = req->rid;
	g_mutex_unlock(&cardea_http.lock);
	json_t *create = json_pack("{s:s}", "janus", "create");
	if (r->token)
		json_object_set_new(create, "token", json_string(r->token));
	if (!core_send(r, STEP_CREATE, create))
		res_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Cannot create a session");
	res_unref(r);
	return MHD_YES;
}

/* Hands the candidates (stolen) and end-of-candidates of a PATCH to the
 * core as Janus API trickles of the resource's handle. */
static void patch_trickle(whip_res *r, json_t *cands, bool end) {
	if (json_array_size(cands) > 0)
		core_send(NULL, STEP_IGNORE, json_pack("{s:s, s:I, s:I, s:o}", "janus", "trickle",
			"session_id", (json_int_t)r->session_id, "handle_id", (json_int_t)r->handle_id, "candidates", cands));
	else
		json_decref(cands);
	if (end)
		core_send(NULL, STEP_IGNORE, json_pack("{s:s, s:I, s:I, s:{s:b}}", "janus", "trickle",
			"session_id", (json_int_t)r->session_id, "handle_id", (json_int_t)r->handle_id,
			"candidate", "completed", 1));
}

/* The core's ice_restart error as an HTTP status. RFC 9725 4.3.3: a restart
 * that cannot be done leaves the session as it was. */
static unsigned int restart_status(int code) {
	switch (code) {
	case 458: case 459: return MHD_HTTP_NOT_FOUND;      /* the session ended meanwhile */
	case 465: return MHD_HTTP_BAD_REQUEST;              /* bad or unchanged credentials */
	case 471: return MHD_HTTP_CONFLICT;                 /* no transport (yet) */
	default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* ICE restart (RFC 9725 4.3.3): the core restarts the agent with the
 * client's new credentials; we answer 200 with ours in an sdpfrag and a new
 * ETag for the new ICE session. The client's candidates in the same body
 * follow as trickles (queued on the loop after the restart). */
static enum MHD_Result patch_restart(http_req *req, whip_res *r, const char *ufrag, const char *pwd,
		json_t *cands, bool end) {
	if (pwd == NULL) {
		json_decref(cands);
		return send_now(req, MHD_HTTP_BAD_REQUEST, "An ICE restart needs a=ice-pwd");
	}
	if (cardea_http.core->ice_restart == NULL) {
		json_decref(cands);
		return send_now(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "ICE restarts are not supported");
	}
	json_t *local = NULL;
	int code = cardea_http.core->ice_restart(whip.ts, r->session_id, r->handle_id, ufrag, pwd, &local);
	if (code != 0 || local == NULL) {
		json_decref(cands);
		json_decref(local);
		CARDEA_LOG(CARDEA_LOG_WARN, "[http] resource %s: ICE restart failed (%d)", r->id, code);
		return send_now(req, restart_status(code), "ICE restart failed");
	}
	char etag[sizeof(r->etag)];
	g_snprintf(etag, sizeof(etag), "\"%08x%08x\"", g_random_int(), g_random_int());
	g_mutex_lock(&whip.lock);
	g_free(r->ufrag);
	r->ufrag = g_strdup(ufrag);
	memcpy(r->etag, etag, sizeof(etag));
	g_mutex_unlock(&whip.lock);
	patch_trickle(r, cands, end);
	GString *body = g_string_new(NULL);
	if (json_is_true(json_object_get(local, "lite")))
		g_string_append(body, "a=ice-lite\r\n");
	g_string_append_printf(body, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n",
		json_string_value(json_object_get(local, "ufrag")), json_string_value(json_object_get(local, "pwd")));
	/* Our candidates (on new ports: pc-restart.c says why) under the bundle's m-line. */
	g_string_append_printf(body, "%s\r\n", r->mline0);
	if (r->mid0)
		g_string_append_printf(body, "a=mid:%s\r\n", r->mid0);
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(local, "candidates"), i, c)
		g_string_append_printf(body, "a=%s\r\n", json_string_value(c));
	if (json_is_true(json_object_get(local, "complete")))
		g_string_append(body, "a=end-of-candidates\r\n");
	json_decref(local);
	CARDEA_LOG(CARDEA_LOG_INFO, "[http] resource %s: ICE restart", r->id);
	json_t *reply = resp_json(MHD_HTTP_OK, WHIP_SDPFRAG, body->str);
	json_object_set_new(reply, "etag", json_string(etag));
	g_string_free(body, TRUE);
	return cardea_whip_send(req, reply, MHD_HTTP_OK);
}

/* PATCH with an SDP fragment: trickle candidates (and end-of-candidates),
 * or an ICE restart. */
static enum MHD_Result route_patch(http_req *req, whip_res *r) {
	if (!content_type_is(req->conn, WHIP_SDPFRAG))
		return send_now(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be " WHIP_SDPFRAG);
	/* RFC 9725 4.3.1: the ETag names the ICE session; without If-Match a
	 * candidate could land in the wrong one. */
	const char *im = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH);
	if (im == NULL)
		return send_now(req, MHD_HTTP_PRECONDITION_REQUIRED, "If-Match required");
	g_mutex_lock(&whip.lock);
	bool match = strcmp(im, "*") == 0 || strcmp(im, r->etag) == 0;
	g_mutex_unlock(&whip.lock);
	if (!match)
		return send_now(req, MHD_HTTP_PRECONDITION_FAILED, "ETag mismatch");
	if (req->too_large || req->body == NULL || req->body->len == 0)
		return send_now(req, MHD_HTTP_BAD_REQUEST, "Missing SDP fragment");
	char *text = g_strndup((const char *)req->body->data, req->body->len);
	char **lines = g_strsplit(text, "\n", -1);
	g_free(text);
	json_t *cands = json_array();
	bool end = false, bad = false;
	const char *mid = r->mid0, *ufrag = NULL, *pwd = NULL;
	int mline = -1;
	for (char **l = lines; *l && !bad; l++) {
		char *line = g_strstrip(*l);
		if (g_str_has_prefix(line, "a=ice-ufrag:")) {
			ufrag = line + 12;
		} else if (g_str_has_prefix(line, "a=ice-pwd:")) {
			pwd = line + 10;
		} else if (g_str_has_prefix(line, "a=mid:")) {
			mid = line + 6;
		} else if (g_str_has_prefix(line, "m=")) {
			mline++;
		} else if (g_str_has_prefix(line, "a=candidate:")) {
			cardea_sdp_candidate *c = cardea_sdp_candidate_parse(line, NULL);
			if (c == NULL) {
				bad = true;
				break;
			}
			cardea_sdp_candidate_free(c);
			json_t *cj = json_pack("{s:s, s:i}", "candidate", line + 2, "sdpMLineIndex", mline < 0 ? 0 : mline);
			if (mid)
				json_object_set_new(cj, "sdpMid", json_string(mid));
			json_array_append_new(cands, cj);
		} else if (!strcmp(line, "a=end-of-candidates")) {
			end = true;
		}
	}
	g_mutex_lock(&whip.lock);
	bool restart = ufrag != NULL && g_strcmp0(ufrag, r->ufrag) != 0;
	g_mutex_unlock(&whip.lock);
	enum MHD_Result ret;
	if (bad) {
		json_decref(cands);
		ret = send_now(req, MHD_HTTP_BAD_REQUEST, "Invalid candidate");
	} else if (restart) {
		ret = patch_restart(req, r, ufrag, pwd, cands, end);
	} else {
		patch_trickle(r, cands, end);
		ret = send_now(req, MHD_HTTP_NO_CONTENT, NULL);
	}
	g_strfreev(lines);
	return ret;
}

enum MHD_Result cardea_whip_route(http_req *req, const char *url, const char *method) {
	req->is_whip = true;
	const char *rest = url + strlen(whip.prefix) + 1;      /* "whip/..." */
	bool whep = rest[2] == 'e';
	rest += 5;                                              /* after "whip/" */
	bool resource = g_str_has_prefix(rest, "resource/");
	const char *name = resource ? rest + 9 : rest;
	if (!strcmp(method, MHD_HTTP_METHOD_OPTIONS)) {
		json_t *reply = resp_json(MHD_HTTP_NO_CONTENT, NULL, NULL);
		json_object_set_new(reply, resource ? "accept_patch" : "accept_post",
			json_string(resource ? WHIP_SDPFRAG : "application/sdp"));
		json_object_set_new(reply, "allow", json_string(resource ? "OPTIONS, PATCH, DELETE" : "OPTIONS, POST"));
		return cardea_whip_send(req, reply, MHD_HTTP_NO_CONTENT);
	}
	if (!resource) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
			json_t *reply = resp_json(MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "Use POST");
			json_object_set_new(reply, "allow", json_string("OPTIONS, POST"));
			return cardea_whip_send(req, reply, MHD_HTTP_METHOD_NOT_ALLOWED);
		}
		return route_post(req, whep, name);
	}
	bool patch = !strcmp(method, "PATCH"), del = !strcmp(method, MHD_HTTP_METHOD_DELETE);
	if (!patch && !del) {
		json_t *reply = resp_json(MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "Use PATCH or DELETE");
		json_object_set_new(reply, "allow", json_string("OPTIONS, PATCH, DELETE"));
		return cardea_whip_send(req, reply, MHD_HTTP_METHOD_NOT_ALLOWED);
	}
	g_mutex_lock(&whip.lock);
	whip_res *r = whip.by_id ? g_hash_table_lookup(whip.by_id, name) : NULL;
	if (r)
		res_ref(r);
	g_mutex_unlock(&whip.lock);
	if (r == NULL)
		return send_now(req, MHD_HTTP_NOT_FOUND, "No such resource");
	enum MHD_Result ret;
	if (patch) {
		ret = route_patch(req, r);
	} else {
		g_mutex_lock(&whip.lock);
		bool mine = whip.by_id && g_hash_table_remove(whip.by_id, r->id);
		bool had = whip.by_session && g_hash_table_remove(whip.by_session, &r->session_id);
		g_mutex_unlock(&whip.lock);
		if (had)
			destroy_session(r->session_id);
		if (mine)
			CARDEA_LOG(CARDEA_LOG_INFO, "[http] resource %s deleted", r->id);
		ret = send_now(req, mine ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, NULL);
	}
	res_unref(r);
	return ret;
}

/* ---- lifecycle ---- */

bool cardea_whip_init(const char *config_path) {
	memset(&whip, 0, sizeof(whip));
	whip.enabled = true;
	whip.answer_timeout_s = WHIP_ANSWER_TIMEOUT_S;
	whip.prefix = g_strdup("");
	if (config_path && g_file_test(config_path, G_FILE_TEST_EXISTS)) {
		GError *error = NULL;
		cardea_config *cfg = cardea_config_load(config_path, &error);
		char *prefix = NULL;
		gboolean enabled = TRUE;
		gint64 answer_timeout = WHIP_ANSWER_TIMEOUT_S;
		bool ok = cfg && cardea_config_get_bool(cfg, "whip", "enabled", TRUE, &enabled, &error) &&
			cardea_config_get_string(cfg, "whip", "prefix", "", &prefix, &error) &&
			cardea_config_get_int(cfg, "whip", "answer_timeout", WHIP_ANSWER_TIMEOUT_S, 1, 300, &answer_timeout,
				&error);
		if (ok && prefix && *prefix && (prefix[0] != '/' || strchr(prefix, ' '))) {
			cardea_config_set_value_error(&error, cfg, "whip", "prefix", "must start with '/'");
			ok = false;
		}
		if (ok) {
			static const char *const keys[] = { "enabled", "prefix", "answer_timeout", NULL };
			cardea_config_warn_unknown(cfg, "whip", keys);
		}
		if (cfg)
			cardea_config_free(cfg);
		if (!ok) {
			CARDEA_LOG(CARDEA_LOG_ERR, "[http] %s", error ? error->message : "bad whip section");
			g_clear_error(&error);
			g_free(prefix);
			g_free(whip.prefix);
			whip.prefix = NULL;
			return false;
		}
		whip.enabled = enabled;
		whip.answer_timeout_s = answer_timeout;
		g_free(whip.prefix);
		size_t n = prefix ? strlen(prefix) : 0;
		while (n > 0 && prefix[n - 1] == '/')
			prefix[--n] = '\0';
		whip.prefix = prefix ? prefix : g_strdup("");
	}
	g_mutex_init(&whip.lock);
	whip.pending = g_hash_table_new_full(NULL, NULL, NULL, res_unref);
	whip.by_session = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, res_unref);
	whip.by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, res_unref);
	whip.ts = cardea_transport_session_new(NULL, NULL);
	if (whip.enabled && cardea_http.timer_ctx) {
		/* Ticks at least as often as answer_timeout, so a 504 is late by
		 * at most one more period. */
		whip.timer = g_timeout_source_new_seconds(MIN(WHIP_KEEPALIVE_S, whip.answer_timeout_s));
		g_source_set_callback(whip.timer, keepalive_tick, NULL, NULL);
		g_source_attach(whip.timer, cardea_http.timer_ctx);
	}
	if (whip.enabled)
		CARDEA_LOG(CARDEA_LOG_INFO, "[http] WHIP at %s/whip/<channel>, WHEP at %s/whep/<channel>",
			whip.prefix, whip.prefix);
	return true;
}

void cardea_whip_shutdown(void) {
	if (whip.ts == NULL)
		return;
	if (whip.timer) {
		g_source_destroy(whip.timer);
		g_source_unref(whip.timer);
		whip.timer = NULL;
	}
	g_mutex_lock(&whip.lock);
	GHashTable *p = whip.pending, *s = whip.by_session, *i = whip.by_id;
	whip.pending = whip.by_session = whip.by_id = NULL;
	g_mutex_unlock(&whip.lock);
	/* The core destroys the sessions at shutdown; drop our bookkeeping. */
	g_hash_table_destroy(p);
	g_hash_table_destroy(i);
	g_hash_table_destroy(s);
	cardea_http.core->transport_gone(cardea_http.self, whip.ts);
	cardea_transport_session_unref(whip.ts);
	whip.ts = NULL;
}

void cardea_whip_free(void) {
	if (whip.prefix == NULL)
		return;
	g_free(whip.prefix);
	whip.prefix = NULL;
	g_mutex_clear(&whip.lock);
}
