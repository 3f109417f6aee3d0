/* The MHD access handler: routes each request (janus-api.md §4, §6), reads
 * POST bodies up to max_body_size, hands them to the core and sends the
 * core's answer when it comes back (see the suspend/resume protocol in
 * http-priv.h). Runs on the MHD worker threads, except cardea_http_reply()
 * which the core calls from its own threads.
 */
#include <string.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "cardea/module.h"
#include "http-priv.h"
#include "whip.h"

/* The peer's address for log lines and the auth module ("?" when unknown). */
const char *cardea_http_peer(struct MHD_Connection *conn, char *buf, size_t size) {
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = info ? info->client_addr : NULL;
	const char *ip = NULL;
	if (sa != NULL && sa->sa_family == AF_INET)
		ip = inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		ip = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)size);
	return ip ? ip : "?";
}

void cardea_http_incoming(cardea_transport_session *ts, void *request_id, bool admin, const char *text,
		size_t len, guint64 path_session, guint64 path_handle, const char *remote_addr) {
	const cardea_transport_core *core = cardea_http.core;
	if (core->incoming_request_from)
		core->incoming_request_from(cardea_http.self, ts, request_id, admin, text, len, path_session, path_handle,
			remote_addr && strcmp(remote_addr, "?") != 0 ? remote_addr : NULL);
	else
		core->incoming_request(cardea_http.self, ts, request_id, admin, text, len, path_session, path_handle);
}

/* ---- responses ---- */

/* json_dumps allocates with jansson's allocator, which the core could have
 * replaced: free with the matching function. */
static void http_json_text_free(void *text) {
	json_free_t free_fn = NULL;
	json_get_alloc_funcs(NULL, &free_fn);
	(free_fn ? free_fn : free)(text);
}

json_t *cardea_http_error_json(int code, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *reason = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	json_t *err = json_pack("{s:s, s:{s:i, s:s}}", "janus", "error", "error", "code", code, "reason", reason);
	g_free(reason);
	return err;
}

void cardea_http_add_cors(struct MHD_Connection *conn, struct MHD_Response *resp) {
	const http_settings *s = &cardea_http.settings;
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->allow_origin ? s->allow_origin : "*");
	if (s->allow_origin) {
		MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
		MHD_add_response_header(resp, "Vary", "Origin");
	}
	MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
	/* Preflights get back exactly what they asked for, as Janus does. */
	const char *m = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method");
	if (m != NULL)
		MHD_add_response_header(resp, "Access-Control-Allow-Methods", m);
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
	if (h != NULL)
		MHD_add_response_header(resp, "Access-Control-Allow-Headers", h);
}

static enum MHD_Result http_queue(struct MHD_Connection *conn, unsigned int status,
		struct MHD_Response *resp, bool close) {
	if (resp == NULL)
		return MHD_NO;
	cardea_http_add_cors(conn, resp);
	if (close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result cardea_http_send_status(struct MHD_Connection *conn, unsigned int status) {
	return http_queue(conn, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT), false);
}

/* An application/json response of `json` (stolen); NULL when it cannot be
 * serialised (logged). */
static struct MHD_Response *http_json_response(json_t *json) {
	char *text = json ? json_dumps(json, cardea_http.settings.json_flags) : NULL;
	json_decref(json);
	if (text == NULL) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[http] could not serialise a reply");
		return NULL;
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(strlen(text),
		text, http_json_text_free);
	if (resp == NULL) {
		http_json_text_free(text);
		return NULL;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return resp;
}

enum MHD_Result cardea_http_send_json(struct MHD_Connection *conn, unsigned int status, json_t *json, bool close) {
	struct MHD_Response *resp = http_json_response(json);
	if (resp == NULL)
		return cardea_http_send_status(conn, MHD_HTTP_INTERNAL_SERVER_ERROR);
	return http_queue(conn, status, resp, close);
}

static enum MHD_Result http_send_error(http_req *req, int code, const char *reason, bool close) {
	req->state = HTTP_REQ_DONE;
	return cardea_http_send_json(req->conn, MHD_HTTP_OK, cardea_http_error_json(code, "%s", reason), close);
}

static enum MHD_Result http_send_bare(http_req *req, unsigned int status) {
	req->state = HTTP_REQ_DONE;
	return cardea_http_send_status(req->conn, status);
}

/* ---- the waiting table ---- */

static gpointer http_rid_key(guint64 rid) {
	return (gpointer)(uintptr_t)rid;
}

void cardea_http_req_register_locked(http_req *req) {
	/* A counter, never a pointer: a late answer for a request whose client
	 * went away finds nothing and is dropped. */
	do {
		req->rid = (uintptr_t)++cardea_http.next_rid;
	} while (req->rid == 0 || g_hash_table_contains(cardea_http.waiting, http_rid_key(req->rid)));
	g_hash_table_insert(cardea_http.waiting, http_rid_key(req->rid), req);
	req->state = HTTP_REQ_WAITING;
}

struct MHD_Connection *cardea_http_req_complete_locked(http_req *req, json_t *reply, unsigned int status) {
	if (req->rid != 0)
		g_hash_table_remove(cardea_http.waiting, http_rid_key(req->rid));
	req->rid = 0;
	if (req->timeout != NULL) {
		g_source_destroy(req->timeout);
		g_source_unref(req->timeout);
		req->timeout = NULL;
	}
	json_decref(req->reply);
	req->reply = reply;
	req->status = status ? status : MHD_HTTP_OK;
	req->state = HTTP_REQ_READY;
	return req->conn;
}

void cardea_http_reply(guint64 rid, json_t *reply) {
	struct MHD_Connection *conn = NULL;
	g_mutex_lock(&cardea_http.lock);
	http_req *req = g_hash_table_lookup(cardea_http.waiting, http_rid_key(rid));
	if (req != NULL && !req->is_poll) {
		conn = cardea_http_req_complete_locked(req, reply, 0);
		reply = NULL;
	}
	g_mutex_unlock(&cardea_http.lock);
	if (conn != NULL) {
		MHD_resume_connection(conn);
	} else {
		CARDEA_LOG(CARDEA_LOG_VERB, "[http] reply for request %"G_GUINT64_FORMAT" dropped: the client is gone", rid);
		json_decref(reply);
	}
}

/* ---- handing requests to the core ---- */

/* Suspends the connection, registers it and queues `text` for the core. The
 * answer arrives through cardea_http_reply(). */
static enum MHD_Result http_submit_text(http_req *req, const char *text, size_t len) {
	bool admin = req->listener->conf->admin;
	MHD_suspend_connection(req->conn);
	g_mutex_lock(&cardea_http.lock);
	if (cardea_http.stopping) {
		/* Too late to wait for anybody: answer now. */
		struct MHD_Connection *conn = cardea_http_req_complete_locked(req,
			cardea_http_error_json(490, "Server shutting down"), 0);
		g_mutex_unlock(&cardea_http.lock);
		MHD_resume_connection(conn);
		return MHD_YES;
	}
	char peer[64];
	cardea_http_peer(req->conn, peer, sizeof(peer));
	cardea_http_req_register_locked(req);
	guint64 rid = req->rid;
	g_mutex_unlock(&cardea_http.lock);
	/* From here another thread may complete and resume the request; `req`
	 * itself stays valid (only this worker frees it), but its shared fields
	 * are off limits without the lock. */
	cardea_http_incoming(cardea_http.ts, (void *)(uintptr_t)rid, admin, text, len,
		req->path_session, req->path_handle, peer);
	return MHD_YES;
}

/* GET {base}/info: the same as POSTing {"janus":"info"} with a transaction
 * of our own, which the core echoes (janus.js ignores it). */
static enum MHD_Result http_submit_info(http_req *req) {
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	char tx[13];
	for (size_t i = 0; i < sizeof(tx) - 1; i++)
		tx[i] = alphabet[g_random_int_range(0, (gint32)sizeof(alphabet) - 1)];
	tx[sizeof(tx) - 1] = '\0';
	char *text = g_strdup_printf("{\"janus\":\"info\",\"transaction\":\"%s\"}", tx);
	enum MHD_Result ret = http_submit_text(req, text, strlen(text));
	g_free(text);
	return ret;
}

static enum MHD_Result http_submit_body(http_req *req) {
	if (req->too_large) {
		char *reason = g_strdup_printf("Request body too large (the limit is %zu bytes)",
			cardea_http.settings.max_body_size);
		enum MHD_Result ret = http_send_error(req, 454, reason, true);
		g_free(reason);
		return ret;
	}
	if (req->body == NULL || req->body->len == 0)
		return http_send_error(req, 454, "Request payload missing", false);
	enum MHD_Result ret = http_submit_text(req, (const char *)req->body->data, req->body->len);
	/* The core copied the text before returning. */
	g_byte_array_free(req->body, TRUE);
	req->body = NULL;
	return ret;
}

/* An oversized body is read and dropped (up to this many times the limit)
 * before we answer: closing a socket with unread data makes the kernel send
 * a reset, which can destroy our error reply before the client reads it. */
#define HTTP_DISCARD_FACTOR 8

/* Body chunks. Past the limit we keep reading (and dropping) so that the
 * client, which is usually still sending, gets a readable error; a client
 * that goes on beyond HTTP_DISCARD_FACTOR times the limit is cut off. */
static enum MHD_Result http_take_body(http_req *req, const char *data, size_t size) {
	size_t max = cardea_http.settings.max_body_size;
	if (req->body != NULL && !req->too_large) {
		if (req->body->len + size <= max) {
			g_byte_array_append(req->body, (const guint8 *)data, (guint)size);
			return MHD_YES;
		}
		req->too_large = true;
		req->discarded = req->body->len;
		g_byte_array_free(req->body, TRUE);
		req->body = NULL;
		char peer[INET6_ADDRSTRLEN];
		CARDEA_LOG(CARDEA_LOG_WARN, "[http] request body from %s over the %zu-byte limit, refusing it",
			cardea_http_peer(req->conn, peer, sizeof(peer)), max);
	}
	req->discarded += size;
	if (req->discarded > HTTP_DISCARD_FACTOR * max) {
		char peer[INET6_ADDRSTRLEN];
		CARDEA_LOG(CARDEA_LOG_WARN, "[http] %s keeps sending past the body limit, closing the connection",
			cardea_http_peer(req->conn, peer, sizeof(peer)));
		return MHD_NO;
	}
	return MHD_YES;
}

/* ---- routing ---- */

/* Path ids are positive decimal integers, nothing else (no sign, no spaces). */
static bool http_parse_id(const char *text, guint64 *out) {
	if (*text == '\0' || strlen(text) > 20)
		return false;
	for (const char *p = text; *p; p++)
		if (!g_ascii_isdigit(*p))
			return false;
	guint64 v = 0;
	if (!g_ascii_string_to_unsigned(text, 10, 1, G_MAXUINT64, &v, NULL))
		return false;
	*out = v;
	return true;
}

/* Splits what follows the base path into at most three non-empty segments;
 * returns how many there were (3 means "too many"). */
static int http_split(const char *rest, char segs[3][24]) {
	int n = 0;
	while (*rest) {
		while (*rest == '/')
			rest++;
		if (*rest == '\0')
			break;
		const char *end = strchr(rest, '/');
		size_t len = end ? (size_t)(end - rest) : strlen(rest);
		if (n == 2 || len >= sizeof(segs[0]))
			return 3;
		memcpy(segs[n], rest, len);
		segs[n][len] = '\0';
		n++;
		rest += len;
	}
	return n;
}

static bool http_under(const char *url, const char *base) {
	size_t n = strlen(base);
	return strncmp(url, base, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

/* GET {base}/{s}/{h}: there are no per-handle events; count it as a
 * keepalive and send the client to the session's poll. */
static enum MHD_Result http_handle_get(http_req *req, guint64 session_id) {
	const char *apisecret = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "apisecret");
	const char *token = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "token");
	if (cardea_http.core->check_api_auth(apisecret, token))
		cardea_http.core->session_keepalive(session_id);
	char *location = g_strdup_printf("%s/%"G_GUINT64_FORMAT, cardea_http.settings.base_path, session_id);
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
	g_free(location);
	req->state = HTTP_REQ_DONE;
	return http_queue(req->conn, MHD_HTTP_FOUND, resp, false);
}

static enum MHD_Result http_unsupported(http_req *req, const char *method) {
	char *reason = g_strdup_printf("Unsupported method %s", method);
	enum MHD_Result ret = http_send_error(req, 450, reason, false);
	g_free(reason);
	return ret;
}

/* First call for a request: the headers are in, the body (if any) is not.
 * Only refusals that must not wait for the body happen here: a reply queued
 * this early makes MHD close the connection afterwards, which we want for
 * them but not for ordinary requests (long polls reuse their connection). */
static enum MHD_Result http_early(http_req *req, const char *url, const char *method) {
	const http_settings *s = &cardea_http.settings;
	struct MHD_Connection *conn = req->conn;
	if (g_atomic_int_get(&cardea_http.closing))
		return MHD_YES;  /* http_route answers 503 */
	if (s->enforce_cors && s->allow_origin != NULL) {
		const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
		if (origin != NULL && !g_str_has_prefix(origin, s->allow_origin))
			return http_send_bare(req, MHD_HTTP_FORBIDDEN);
	}
	/* WHIP/WHEP PATCHes carry a body too (an SDP fragment). */
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0 && !(!strcmp(method, "PATCH") && cardea_whip_matches(url)))
		return MHD_YES;
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	guint64 declared = cl != NULL ? g_ascii_strtoull(cl, NULL, 10) : 0;
	if (declared <= s->max_body_size) {
		req->body = g_byte_array_new();
		return MHD_YES;
	}
	char peer[INET6_ADDRSTRLEN];
	CARDEA_LOG(CARDEA_LOG_WARN, "[http] refusing a %"G_GUINT64_FORMAT"-byte request body from %s (limit %zu)",
		declared, cardea_http_peer(conn, peer, sizeof(peer)), s->max_body_size);
	req->too_large = true;
	/* A client waiting for "100 Continue" has sent nothing yet, and one
	 * announcing a huge body is not worth reading: answer now (MHD skips
	 * the body and closes after the reply). Others get the error once their
	 * body has been read and dropped (http_take_body). */
	const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
	if ((expect != NULL && !g_ascii_strcasecmp(expect, "100-continue")) ||
			declared > HTTP_DISCARD_FACTOR * (guint64)s->max_body_size)
		return http_submit_body(req);
	return MHD_YES;
}

/* GET /metrics on an admin listener: the Admin API verb "metrics" (the core
 * builds the text on its API thread), answered as Prometheus text. The admin
 * secret comes as "Authorization: Bearer <secret>" (what Prometheus'
 * `authorization` setting sends) or ?admin_secret=. */
static enum MHD_Result http_submit_metrics(http_req *req) {
	const char *secret = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "admin_secret");
	const char *auth = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (secret == NULL && auth != NULL && g_ascii_strncasecmp(auth, "Bearer ", 7) == 0)
		secret = auth + 7;
	json_t *r = json_pack("{s:s, s:s}", "janus", "metrics", "transaction", "metrics");
	if (secret)
		json_object_set_new(r, "admin_secret", json_string(secret));
	char *text = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	req->is_metrics = true;
	enum MHD_Result ret = http_submit_text(req, text, strlen(text));
	http_json_text_free(text);
	return ret;
}

static enum MHD_Result http_send_metrics(http_req *req, json_t *reply) {
	const char *text = json_string_value(json_object_get(reply, "metrics"));
	if (text == NULL) {
		json_t *err = json_object_get(reply, "error");
		unsigned int status = json_integer_value(json_object_get(err, "code")) == 403 ?
			MHD_HTTP_FORBIDDEN : MHD_HTTP_INTERNAL_SERVER_ERROR;
		json_decref(reply);
		return cardea_http_send_status(req->conn, status);
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	json_decref(reply);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
	return http_queue(req->conn, MHD_HTTP_OK, resp, false);
}

/* Over requests_per_second on this connection: 429 with a Janus error
 * body and Retry-After. Checked once the request is in (so the connection
 * stays usable, and keeps its bucket) but before anything looks at it:
 * invalid JSON and bad paths count like everything else. */
static enum MHD_Result http_refuse_rate(http_req *req) {
	g_atomic_int_inc(&cardea_http.rate_limited);
	req->state = HTTP_REQ_DONE;
	struct MHD_Response *resp = http_json_response(
		cardea_http_error_json(450, "Too many requests on this connection (requests_per_second)"));
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	return http_queue(req->conn, MHD_HTTP_TOO_MANY_REQUESTS, resp, false);
}

/* The whole request is in: decide what it is (§4.1, §6). */
static enum MHD_Result http_route(http_req *req, const char *url, const char *method) {
	const http_settings *s = &cardea_http.settings;
	/* MHD keeps serving open connections until MHD_stop_daemon: a long-poll
	 * client answered by the shutdown polls again at once, while the WHIP
	 * and poll state is being freed. */
	if (g_atomic_int_get(&cardea_http.closing))
		return http_send_bare(req, MHD_HTTP_SERVICE_UNAVAILABLE);
	bool admin = req->listener->conf->admin;
	http_conn *hc = cardea_http_conn_of(req->conn);
	cardea_http_conn_request_in(hc);
	if (hc != NULL && !cardea_token_bucket_take(&hc->bucket, g_get_monotonic_time()))
		return http_refuse_rate(req);
	if (!admin && cardea_whip_matches(url))
		return cardea_whip_route(req, url, method);
	if (!strcmp(method, MHD_HTTP_METHOD_OPTIONS))
		return http_send_bare(req, MHD_HTTP_OK);
	bool get = !strcmp(method, MHD_HTTP_METHOD_GET);
	bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
	if (post && req->too_large)
		return http_submit_body(req);
	const char *base = admin ? s->admin_base_path : s->base_path;
	if (admin && get && strcmp(url, "/metrics") == 0)
		return http_submit_metrics(req);
	if (!http_under(url, base)) {
		/* The API paths were matched first, so static files never shadow them. */
		if (!admin && (get || !strcmp(method, MHD_HTTP_METHOD_HEAD)) && cardea_http_static_matches(url)) {
			req->state = HTTP_REQ_DONE;
			return cardea_http_static_serve(req->conn, url);
		}
		return http_send_bare(req, MHD_HTTP_NOT_FOUND);
	}
	char segs[3][24];
	int n = http_split(url + strlen(base), segs);
	if (n > 2)
		return http_send_bare(req, MHD_HTTP_NOT_FOUND);
	if (n == 1 && !strcmp(segs[0], "info")) {
		if (get)
			return http_submit_info(req);
		if (post && admin)
			return http_send_error(req, 450, "Use GET for the info endpoint", false);
		if (post)
			return http_send_bare(req, MHD_HTTP_BAD_REQUEST);
		return http_unsupported(req, method);
	}
	if ((n >= 1 && !http_parse_id(segs[0], &req->path_session)) ||
			(n == 2 && !http_parse_id(segs[1], &req->path_handle)))
		return http_send_bare(req, MHD_HTTP_NOT_FOUND);
	if (post)
		return http_submit_body(req);
	if (get && admin)
		/* Janus treats an Admin GET as a POST without a body. */
		return http_send_error(req, 454, "Request payload missing", false);
	if (get && n == 0)
		return http_send_bare(req, MHD_HTTP_NOT_FOUND);
	if (get && n == 1) {
		req->is_poll = true;
		return cardea_http_poll_start(req, req->path_session);
	}
	if (get)
		return http_handle_get(req, req->path_session);
	return http_unsupported(req, method);
}

/* Called again after a resume: send what the completer stored. */
static enum MHD_Result http_send_ready(http_req *req) {
	g_mutex_lock(&cardea_http.lock);
	json_t *reply = req->reply;
	unsigned int status = req->status;
	req->reply = NULL;
	req->state = HTTP_REQ_DONE;
	g_mutex_unlock(&cardea_http.lock);
	if (req->is_metrics && reply != NULL)
		return http_send_metrics(req, reply);
	if (req->is_whip)
		return cardea_whip_send(req, reply, status);
	if (reply != NULL)
		return cardea_http_send_json(req->conn, status, reply, false);
	return cardea_http_send_status(req->conn, status);
}

enum MHD_Result cardea_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
		const char *method, const char *version, const char *upload_data,
		size_t *upload_data_size, void **req_cls) {
	http_req *req = *req_cls;
	if (req == NULL) {
		req = g_new0(http_req, 1);
		req->conn = conn;
		req->listener = cls;
		g_atomic_int_inc(&cardea_http.live_reqs);
		*req_cls = req;
		return http_early(req, url, method);
	}
	if (*upload_data_size > 0) {
		size_t size = *upload_data_size;
		*upload_data_size = 0;
		if (req->state == HTTP_REQ_READING && (req->body != NULL || req->too_large))
			return http_take_body(req, upload_data, size);
		/* A body on a request that takes none: drop it, within limits. */
		req->discarded += size;
		return req->discarded > cardea_http.settings.max_body_size ? MHD_NO : MHD_YES;
	}
	switch (req->state) {
	case HTTP_REQ_READING:
		return http_route(req, url, method);
	case HTTP_REQ_READY:
		return http_send_ready(req);
	default:
		/* MHD calls a suspended request back only after our resume, which
		 * always follows READY; anything else would spin. */
		CARDEA_LOG(CARDEA_LOG_ERR, "[http] unexpected callback in state %d for %s %s, closing",
			(int)req->state, method, url);
		return MHD_NO;
	}
}

void cardea_http_request_completed(void *cls, struct MHD_Connection *conn,
		void **req_cls, enum MHD_RequestTerminationCode toe) {
	http_req *req = *req_cls;
	if (req == NULL)
		return;
	*req_cls = NULL;
	/* Keep-alive: the next request's clock starts now. */
	cardea_http_conn_request_done(cardea_http_conn_of(conn));
	/* Normally nothing refers to the request any more; a registered one can
	 * only be met here when MHD tears connections down at daemon stop. */
	g_mutex_lock(&cardea_http.lock);
	if (req->rid != 0 || req->timeout != NULL) {
		if (req->is_poll)
			cardea_http_poll_forget_locked(req);
		cardea_http_req_complete_locked(req, NULL, 0);
	}
	g_mutex_unlock(&cardea_http.lock);
	json_decref(req->reply);
	if (req->body != NULL)
		g_byte_array_free(req->body, TRUE);
	g_free(req);
	g_atomic_int_dec_and_test(&cardea_http.live_reqs);
}
