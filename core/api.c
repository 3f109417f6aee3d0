/* Janus API: envelope validation, the API thread and the worker pool.
 *
 * Transports call cardea_transport_core functions from their own threads;
 * those only copy the request into the API thread's queue. The API thread
 * validates it (janus-api.md §1.1 order), does everything that touches the
 * session tables, and hands plugin messages to the worker pool, so a slow
 * plugin never delays another client's request.
 */
#include <string.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <libconfig.h>
#include <openssl/opensslv.h>
#include <openssl/crypto.h>
#include "config.h"
#include "api.h"
#include "api-errors.h"
#include "admin.h"
#include "auth.h"
#include "gateway.h"
#include "ids.h"
#include "tokens.h"
#include "log.h"
#include "webrtc/pc.h"

/* How often the API thread checks session timeouts (Janus uses 2 s). */
#define WATCHDOG_PERIOD_US (1 * G_USEC_PER_SEC)

typedef enum {
	ITEM_TEXT,            /* a request from a transport */
	ITEM_TRANSPORT_GONE,  /* a connection dropped */
	ITEM_DETACH,          /* a handle to detach (plugin end_session, admin) */
	ITEM_AUTH_DONE,       /* the auth module answered a deferred create/attach */
	ITEM_STOP,
} item_kind;

typedef struct api_item {
	item_kind kind;
	cardea_api_ctx ctx;           /* ctx.ts is an owned ref */
	char *text;                   /* owned */
	size_t len;
	guint64 path_session;
	guint64 path_handle;
	cardea_handle *handle;        /* owned ref (ITEM_DETACH) */
	json_t *root;                 /* owned (ITEM_AUTH_DONE): the request to resume */
	json_t *decision;             /* owned (ITEM_AUTH_DONE) */
} api_item;

typedef enum { TASK_MESSAGE, TASK_ADMIN_PLUGIN } task_kind;

typedef struct worker_task {
	task_kind kind;
	cardea_api_ctx ctx;           /* ctx.ts owned ref */
	cardea_loaded_module *plugin; /* borrowed */
	cardea_handle *handle;        /* owned ref (TASK_MESSAGE) */
	cardea_plugin_session *app;   /* owned ref (TASK_MESSAGE) */
	char *transaction;            /* owned */
	json_t *body;                 /* owned */
	json_t *jsep;                 /* owned */
} worker_task;

static GAsyncQueue *api_queue;    /* owned: api_item* */
static GThread *api_thread;
static GThreadPool *workers;
static volatile gint api_stopping;

/* ---- errors and replies ---- */

const char *cardea_api_error_text(int code) {
	switch (code) {
	case CARDEA_ERROR_UNAUTHORIZED: return "Unauthorized request (wrong or missing secret/token)";
	case CARDEA_ERROR_UNAUTHORIZED_PLUGIN: return "Unauthorized access to plugin (token is not allowed to)";
	case CARDEA_ERROR_TRANSPORT_SPECIFIC: return "Transport specific error";
	case CARDEA_ERROR_MISSING_REQUEST: return "Missing request";
	case CARDEA_ERROR_UNKNOWN_REQUEST: return "Unknown request";
	case CARDEA_ERROR_INVALID_JSON: return "Invalid JSON";
	case CARDEA_ERROR_INVALID_JSON_OBJECT: return "Invalid JSON Object";
	case CARDEA_ERROR_MISSING_MANDATORY_ELEMENT: return "Missing mandatory element";
	case CARDEA_ERROR_INVALID_REQUEST_PATH: return "Invalid path for this request";
	case CARDEA_ERROR_SESSION_NOT_FOUND: return "Session not found";
	case CARDEA_ERROR_HANDLE_NOT_FOUND: return "Handle not found";
	case CARDEA_ERROR_PLUGIN_NOT_FOUND: return "Plugin not found";
	case CARDEA_ERROR_PLUGIN_ATTACH: return "Error attaching plugin";
	case CARDEA_ERROR_PLUGIN_MESSAGE: return "Error sending message to plugin";
	case CARDEA_ERROR_PLUGIN_DETACH: return "Error detaching from plugin";
	case CARDEA_ERROR_JSEP_UNKNOWN_TYPE: return "Unsupported JSEP type";
	case CARDEA_ERROR_JSEP_INVALID_SDP: return "Invalid SDP";
	case CARDEA_ERROR_TRICKLE_INVALID_STREAM: return "Invalid stream";
	case CARDEA_ERROR_INVALID_ELEMENT_TYPE: return "Invalid element type";
	case CARDEA_ERROR_SESSION_CONFLICT: return "Session ID already in use";
	case CARDEA_ERROR_UNEXPECTED_ANSWER: return "Unexpected ANSWER (no OFFER)";
	case CARDEA_ERROR_TOKEN_NOT_FOUND: return "Token not found";
	case CARDEA_ERROR_WEBRTC_STATE: return "Wrong WebRTC state";
	case CARDEA_ERROR_NOT_ACCEPTING_SESSIONS: return "Currently not accepting new sessions";
	default: return "Unknown error";
	}
}

json_t *cardea_api_error_new(guint64 session_id, const char *transaction, int code, const char *reason) {
	json_t *reply = json_object();
	json_object_set_new(reply, "janus", json_string("error"));
	if (session_id > 0)
		json_object_set_new(reply, "session_id", json_integer((json_int_t)session_id));
	if (transaction)
		json_object_set_new(reply, "transaction", json_string(transaction));
	json_object_set_new(reply, "error", json_pack("{s:i, s:s}", "code", code,
		"reason", reason ? reason : cardea_api_error_text(code)));
	return reply;
}

void cardea_api_reply(const cardea_api_ctx *ctx, json_t *message) {
	if (ctx->transport && ctx->ts)
		ctx->transport->ops.transport.send_message(ctx->ts, ctx->request_id, ctx->admin, message);
	else
		json_decref(message);
}

void cardea_api_reply_error(const cardea_api_ctx *ctx, guint64 session_id, const char *transaction,
		int code, const char *reason) {
	CARDEA_LOG(CARDEA_LOG_VERB, "[api] %s error %d (session %"G_GUINT64_FORMAT"): %s",
		ctx->admin ? "admin" : "janus", code, session_id, reason ? reason : cardea_api_error_text(code));
	cardea_api_reply(ctx, cardea_api_error_new(session_id, transaction, code, reason));
}

static json_t *reply_new(const char *kind, guint64 session_id, const char *transaction) {
	json_t *reply = json_object();
	json_object_set_new(reply, "janus", json_string(kind));
	if (session_id > 0)
		json_object_set_new(reply, "session_id", json_integer((json_int_t)session_id));
	if (transaction)
		json_object_set_new(reply, "transaction", json_string(transaction));
	return reply;
}

/* ---- envelope ---- */

/* An id member: integers count, anything else (null, strings) is absent. */
static gboolean read_id(json_t *root, const char *name, json_int_t *out) {
	json_t *v = json_object_get(root, name);
	if (!json_is_integer(v))
		return FALSE;
	*out = json_integer_value(v);
	return TRUE;
}

static int merge_path_id(json_t *root, const char *name, guint64 path_id, const char *what, char **reason) {
	if (path_id == 0)
		return 0;
	json_int_t body_id;
	if (read_id(root, name, &body_id) && (guint64)body_id != path_id) {
		*reason = g_strdup_printf("Conflicting %s ID (payload and path)", what);
		return CARDEA_ERROR_INVALID_REQUEST_PATH;
	}
	json_object_set_new(root, name, json_integer((json_int_t)path_id));
	return 0;
}

int cardea_api_parse_envelope(json_t *root, guint64 path_session, guint64 path_handle,
		cardea_api_envelope *env, char **reason) {
	memset(env, 0, sizeof(*env));
	json_t *transaction = json_object_get(root, "transaction");
	if (transaction == NULL) {
		*reason = g_strdup("Missing mandatory element (transaction)");
		return CARDEA_ERROR_MISSING_MANDATORY_ELEMENT;
	}
	if (!json_is_string(transaction)) {
		*reason = g_strdup("Invalid element type (transaction should be a string)");
		return CARDEA_ERROR_INVALID_ELEMENT_TYPE;
	}
	json_t *janus = json_object_get(root, "janus");
	if (janus == NULL) {
		*reason = g_strdup("Missing mandatory element (janus)");
		return CARDEA_ERROR_MISSING_MANDATORY_ELEMENT;
	}
	if (!json_is_string(janus)) {
		*reason = g_strdup("Invalid element type (janus should be a string)");
		return CARDEA_ERROR_INVALID_ELEMENT_TYPE;
	}
	json_t *id = json_object_get(root, "id");
	/* As in Janus, 0 means "pick one"; only negative or non-integer ids are refused. */
	if (id != NULL && (!json_is_integer(id) || json_integer_value(id) < 0 ||
			(guint64)json_integer_value(id) > CARDEA_ID_MAX)) {
		*reason = g_strdup("Invalid element type (id should be a positive integer)");
		return CARDEA_ERROR_INVALID_ELEMENT_TYPE;
	}
	env->wanted_id = id ? json_integer_value(id) : 0;
	/* From here on errors carry the transaction. */
	env->transaction = json_string_value(transaction);
	const char *verb = json_string_value(janus);
	size_t vlen = strlen(verb);
	if (vlen >= sizeof(env->verb))
		vlen = sizeof(env->verb) - 1;   /* longer verbs are unknown anyway */
	for (size_t i = 0; i < vlen; i++)
		env->verb[i] = g_ascii_tolower(verb[i]);
	env->verb[vlen] = '\0';
	int code = merge_path_id(root, "session_id", path_session, "session", reason);
	if (code == 0)
		code = merge_path_id(root, "handle_id", path_handle, "handle", reason);
	if (code != 0)
		return code;
	env->has_session = read_id(root, "session_id", &env->session_id);
	env->has_handle = read_id(root, "handle_id", &env->handle_id);
	return 0;
}

/* ---- server_info ---- */

static char *local_ip(void) {
	struct ifaddrs *ifs = NULL;
	char *found = NULL;
	if (getifaddrs(&ifs) == 0) {
		for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
			if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
				continue;
			struct sockaddr_in *sin = (struct sockaddr_in *)i->ifa_addr;
			if (ntohl(sin->sin_addr.s_addr) >> 24 == 127)
				continue;
			char buf[INET_ADDRSTRLEN];
			if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)))
				found = g_strdup(buf);
		}
		freeifaddrs(ifs);
	}
	return found ? found : g_strdup("127.0.0.1");
}

static json_t *modules_info(GPtrArray *mods) {
	json_t *obj = json_object();
	for (guint i = 0; mods && i < mods->len; i++) {
		cardea_loaded_module *m = g_ptr_array_index(mods, i);
		json_object_set_new(obj, m->info->package, json_pack("{s:s?, s:s?, s:s?, s:s?, s:i}",
			"name", m->info->name, "author", m->info->author, "description", m->info->description,
			"version_string", m->info->version_string, "version", m->info->version));
	}
	return obj;
}

json_t *cardea_api_server_info(const char *transaction) {
	const cardea_settings *s = &cardea_gw->settings;
	json_t *info = json_object();
	json_object_set_new(info, "janus", json_string("server_info"));
	if (transaction)
		json_object_set_new(info, "transaction", json_string(transaction));
	json_object_set_new(info, "name", json_string("Cardea WebRTC Gateway"));
	json_object_set_new(info, "version", json_integer(CARDEA_VERSION_NUMBER));
	json_object_set_new(info, "version_string", json_string(CARDEA_VERSION_STRING));
	json_object_set_new(info, "author", json_string("The Cardea developers"));
	json_object_set_new(info, "commit-hash", json_string(PACKAGE_VERSION));
	json_object_set_new(info, "compile-time", json_string(__DATE__ " " __TIME__));
	json_object_set_new(info, "log-to-stdout", json_true());
	json_object_set_new(info, "log-to-file", json_false());
	json_object_set_new(info, "data_channels", json_true());
	json_object_set_new(info, "accepting-new-sessions", json_boolean(g_atomic_int_get(&cardea_gw->accepting)));
	json_object_set_new(info, "session-timeout", json_integer(g_atomic_int_get(&cardea_gw->settings.session_timeout)));
	json_object_set_new(info, "reclaim-session-timeout", json_integer(s->reclaim_session_timeout));
	json_object_set_new(info, "candidates-timeout", json_integer(s->candidates_timeout));
	json_object_set_new(info, "server-name", json_string(s->server_name ? s->server_name : "Cardea"));
	char *ip = local_ip();
	json_object_set_new(info, "local-ip", json_string(ip));
	g_free(ip);
	json_object_set_new(info, "ipv6", json_boolean(s->ipv6));
	json_object_set_new(info, "ice-lite", json_boolean(s->ice_lite));
	json_object_set_new(info, "ice-tcp", json_boolean(s->ice_tcp));
	json_object_set_new(info, "full-trickle", json_boolean(s->full_trickle));
	json_object_set_new(info, "mdns-enabled", json_false());
	json_object_set_new(info, "min-nack-queue", json_integer(s->min_nack_queue));
	json_object_set_new(info, "nack-optimizations", json_false());
	json_object_set_new(info, "twcc-period", json_integer(s->twcc_period));
	json_object_set_new(info, "dtls-mtu", json_integer(s->dtls_mtu));
	json_object_set_new(info, "static-event-loops", json_integer(s->event_loops));
	json_object_set_new(info, "api_secret", json_boolean(s->api_secret != NULL));
	json_object_set_new(info, "auth_token", json_boolean(s->token_auth));
	json_object_set_new(info, "event_handlers", json_boolean(cardea_gateway_events_enabled()));
	json_object_set_new(info, "opaqueid_in_api", json_boolean(s->opaqueid_in_api));
	if (s->stun_server)
		json_object_set_new(info, "stun-server", json_sprintf("%s:%d", s->stun_server, s->stun_port));
	if (s->turn_server)
		json_object_set_new(info, "turn-server", json_sprintf("%s:%d", s->turn_server, s->turn_port));
	if (!s->hide_dependencies) {
		json_t *deps = json_object();
		json_object_set_new(deps, "glib2", json_sprintf("%u.%u.%u", glib_major_version, glib_minor_version, glib_micro_version));
		json_object_set_new(deps, "jansson", json_string(JANSSON_VERSION));
		json_object_set_new(deps, "libconfig", json_sprintf("%d.%d", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR));
		json_object_set_new(deps, "crypto", json_string(OpenSSL_version(OPENSSL_VERSION)));
		json_object_set_new(info, "dependencies", deps);
	}
	json_object_set_new(info, "transports", modules_info(cardea_gw->transports));
	json_object_set_new(info, "events", modules_info(cardea_gw->events));
	json_object_set_new(info, "auth", modules_info(cardea_gw->auth));
	json_object_set_new(info, "loggers", json_object());
	json_object_set_new(info, "plugins", modules_info(cardea_gw->plugins));
	return info;
}

/* ---- authentication ---- */

/* api_secret and/or token (janus-api.md §3.5). Either suffices when both are
 * on. *by_token tells whether the token is what let the request in. */
static gboolean api_auth_ok(const char *apisecret, const char *token, gboolean *by_token) {
	const cardea_settings *s = &cardea_gw->settings;
	if (by_token)
		*by_token = FALSE;
	if (s->api_secret == NULL && !s->token_auth)
		return TRUE;
	if (s->api_secret != NULL && cardea_secret_equal(apisecret, s->api_secret))
		return TRUE;
	if (s->token_auth && cardea_token_is_valid(token)) {
		if (by_token)
			*by_token = TRUE;
		return TRUE;
	}
	return FALSE;
}

static gboolean request_auth_ok(json_t *root, gboolean *by_token) {
	return api_auth_ok(json_string_value(json_object_get(root, "apisecret")),
		json_string_value(json_object_get(root, "token")), by_token);
}

/* ---- auth module hook (core/auth.h) ----
 * create and attach wait for the auth module without blocking this thread:
 * the request is parked with its reply context, and the answer comes back
 * as an ITEM_AUTH_DONE that re-runs the request with `auth_granted` set
 * (everything is validated again, as the session may have gone meanwhile). */

static json_t *auth_granted;      /* API thread only: the decision of the request being resumed */

static void push_item(api_item *item);

/* Any thread: the module's answer, queued back to the API thread. */
static void auth_resume(json_t *decision, void *data) {
	api_item *item = data;
	item->decision = decision;
	if (g_atomic_int_get(&api_stopping)) {
		/* Shutdown (cardea_auth_cancel_all, or a late answer before it):
		 * the API thread is gone or going; answer here, transports still live. */
		cardea_api_reply_error(&item->ctx, 0, json_string_value(json_object_get(item->root, "transaction")),
			CARDEA_ERROR_UNKNOWN, "Server shutting down");
		cardea_transport_session_unref(item->ctx.ts);
		json_decref(item->root);
		json_decref(item->decision);
		g_free(item);
		return;
	}
	push_item(item);
}

/* Returns TRUE when the request was handed to the auth module (and will be
 * resumed later), FALSE when it may go on now (no module, or resumed). */
static gboolean auth_defer(const cardea_api_ctx *ctx, json_t *root, json_t *auth_request) {
	if (auth_granted != NULL || !cardea_auth_enabled()) {
		json_decref(auth_request);
		return FALSE;
	}
	api_item *item = g_new0(api_item, 1);
	item->kind = ITEM_AUTH_DONE;
	item->ctx = *ctx;
	cardea_transport_session_ref(ctx->ts);
	item->root = json_incref(root);
	json_t *token = json_object_get(root, "token");
	if (json_is_string(token))
		json_object_set(auth_request, "token", token);
	if (ctx->remote_addr[0])
		json_object_set_new(auth_request, "remote_addr", json_string(ctx->remote_addr));
	cardea_auth_check(auth_request, auth_resume, item);
	json_decref(auth_request);
	return TRUE;
}

static void process_object(const cardea_api_ctx *ctx, json_t *root, guint64 path_session, guint64 path_handle);

/* The address plugin auth checks report as remote_addr (core_auth_check). */
static void remember_remote(cardea_session *s, const cardea_api_ctx *ctx) {
	if (ctx->remote_addr[0] == '\0')
		return;
	g_mutex_lock(&s->mutex);
	g_strlcpy(s->remote_addr, ctx->remote_addr, sizeof(s->remote_addr));
	g_mutex_unlock(&s->mutex);
}

static void auth_finish(api_item *item) {
	if (!cardea_auth_allowed(item->decision)) {
		const char *why = json_string_value(json_object_get(item->decision, "reason"));
		char *reason = g_strdup_printf("Unauthorized request (%s)", why ? why : "denied");
		json_int_t sid = 0;
		read_id(item->root, "session_id", &sid);
		cardea_api_reply_error(&item->ctx, sid > 0 ? (guint64)sid : 0,
			json_string_value(json_object_get(item->root, "transaction")), CARDEA_ERROR_UNAUTHORIZED, reason);
		g_free(reason);
		return;
	}
	auth_granted = item->decision;
	process_object(&item->ctx, item->root, 0, 0);
	auth_granted = NULL;
}

/* ---- requests ---- */

static void handle_create(const cardea_api_ctx *ctx, const cardea_api_envelope *env) {
	int code = 0;
	cardea_session *s = cardea_session_create((guint64)env->wanted_id, ctx->transport, ctx->ts, &code);
	if (s == NULL) {
		char *reason = NULL;
		if (code == CARDEA_ERROR_UNKNOWN)
			reason = g_strdup_printf("Maximum number of sessions (%d) reached", cardea_gw->settings.max_sessions);
		/* As in Janus, a conflict names the contested id as the reply's session_id. */
		guint64 sid = code == CARDEA_ERROR_SESSION_CONFLICT ? (guint64)env->wanted_id : 0;
		cardea_api_reply_error(ctx, sid, env->transaction, code, reason);
		g_free(reason);
		return;
	}
	remember_remote(s, ctx);
	CARDEA_LOG(CARDEA_LOG_VERB, "[session %"G_GUINT64_FORMAT"] created", s->id);
	json_t *reply = reply_new("success", 0, env->transaction);
	json_object_set_new(reply, "data", json_pack("{s:I}", "id", (json_int_t)s->id));
	cardea_api_reply(ctx, reply);
	cardea_session_unref(s);
}

static void handle_attach(const cardea_api_ctx *ctx, json_t *root, const cardea_api_envelope *env,
		cardea_session *s, gboolean by_token) {
	json_t *plugin = json_object_get(root, "plugin");
	json_t *opaque = json_object_get(root, "opaque_id");
	if (plugin == NULL) {
		cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_MISSING_MANDATORY_ELEMENT,
			"Missing mandatory element (plugin)");
		return;
	}
	if (!json_is_string(plugin)) {
		cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_INVALID_ELEMENT_TYPE,
			"Invalid element type (plugin should be a string)");
		return;
	}
	if (opaque != NULL && !json_is_string(opaque)) {
		cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_INVALID_ELEMENT_TYPE,
			"Invalid element type (opaque_id should be a string)");
		return;
	}
	const char *package = json_string_value(plugin);
	cardea_loaded_module *m = cardea_gateway_find_plugin(package);
	if (m == NULL) {
		char *reason = g_strdup_printf("No such plugin '%s'", package);
		cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_PLUGIN_NOT_FOUND, reason);
		g_free(reason);
		return;
	}
	if (by_token && !cardea_token_allows_plugin(json_string_value(json_object_get(root, "token")), package)) {
		char *reason = g_strdup_printf("Provided token can't access plugin '%s'", package);
		cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_UNAUTHORIZED_PLUGIN, reason);
		g_free(reason);
		return;
	}
	if (auth_defer(ctx, root, json_pack("{s:s, s:I, s:s, s:s?}", "action", "handle.attach",
			"session_id", (json_int_t)s->id, "plugin", package, "opaque_id", json_string_value(opaque))))
		return;
	int code = 0;
	char *reason = NULL;
	cardea_handle *h = cardea_handle_create(s, m, json_string_value(opaque), &code, &reason);
	if (h == NULL) {
		cardea_api_reply_error(ctx, s->id, env->transaction, code, reason);
		g_free(reason);
		return;
	}
	/* Plugin auth checks reuse the attach token and know who attached. */
	cardea_handle_set_auth(h, json_string_value(json_object_get(root, "token")), auth_granted);
	CARDEA_LOG(CARDEA_LOG_VERB, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] attached to %s",
		s->id, h->id, package);
	json_t *reply = reply_new("success", s->id, env->transaction);
	json_object_set_new(reply, "data", json_pack("{s:I}", "id", (json_int_t)h->id));
	cardea_api_reply(ctx, reply);
	cardea_handle_unref(h);
}

/* Lines starting with "m=" (the first line is v=0, so each follows a newline). */
static guint count_mlines(const char *sdp) {
	guint n = 0;
	for (const char *p = strstr(sdp, "\nm="); p != NULL; p = strstr(p + 3, "\nm="))
		n++;
	return n;
}

/* Validates a client jsep (janus-api.md §1.4). Returns 0 or an error code. */
static int check_jsep(cardea_handle *h, json_t *jsep, char **reason) {
	if (!json_is_object(jsep)) {
		*reason = g_strdup("JSEP error: not an object");
		return CARDEA_ERROR_INVALID_JSON_OBJECT;
	}
	json_t *type = json_object_get(jsep, "type");
	json_t *sdp = json_object_get(jsep, "sdp");
	if (type == NULL) {
		*reason = g_strdup("JSEP error: missing mandatory element (type)");
		return CARDEA_ERROR_MISSING_MANDATORY_ELEMENT;
	}
	if (!json_is_string(type)) {
		*reason = g_strdup("JSEP error: invalid element type (type should be a string)");
		return CARDEA_ERROR_INVALID_ELEMENT_TYPE;
	}
	if (sdp == NULL) {
		*reason = g_strdup("JSEP error: missing mandatory element (sdp)");
		return CARDEA_ERROR_MISSING_MANDATORY_ELEMENT;
	}
	if (!json_is_string(sdp)) {
		*reason = g_strdup("JSEP error: invalid element type (sdp should be a string)");
		return CARDEA_ERROR_INVALID_ELEMENT_TYPE;
	}
	const char *t = json_string_value(type);
	if (g_ascii_strcasecmp(t, "offer") != 0 && g_ascii_strcasecmp(t, "answer") != 0) {
		*reason = g_strdup_printf("JSEP error: unknown message type '%s'", t);
		return CARDEA_ERROR_JSEP_UNKNOWN_TYPE;
	}
	if (json_string_length(sdp) == 0 || strncmp(json_string_value(sdp), "v=0", 3) != 0) {
		*reason = g_strdup("JSEP error: invalid SDP (it must start with v=0)");
		return CARDEA_ERROR_JSEP_INVALID_SDP;
	}
	/* media.max_mlines, counted before anything parses the SDP. */
	guint n = count_mlines(json_string_value(sdp));
	if (n > (guint)cardea_gw->settings.max_mlines) {
		*reason = g_strdup_printf("JSEP error: invalid SDP (too many m-lines: %u, at most %d)",
			n, cardea_gw->settings.max_mlines);
		return CARDEA_ERROR_JSEP_INVALID_SDP;
	}
	/* Cleared by the PC once an answer is accepted: a refused answer leaves
	 * the offer pending so the client can try again. */
	if (g_ascii_strcasecmp(t, "answer") == 0 && !g_atomic_int_get(&h->server_offer_pending)) {
		*reason = g_strdup("Unexpected ANSWER (no OFFER)");
		return CARDEA_ERROR_UNEXPECTED_ANSWER;
	}
	return 0;
}

static void worker_task_free(worker_task *t) {
	cardea_transport_session_unref(t->ctx.ts);
	cardea_plugin_session_unref(t->app);
	cardea_handle_unref(t->handle);
	g_free(t->transaction);
	json_decref(t->body);
	json_decref(t->jsep);
	g_free(t);
}

static void handle_message(const cardea_api_ctx *ctx, json_t *root, const cardea_api_envelope *env,
		cardea_session *s, cardea_handle *h) {
	json_t *body = json_object_get(root, "body");
	json_t *jsep = json_object_get(root, "jsep");
	if (body == NULL) {
		cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_MISSING_MANDATORY_ELEMENT,
			"Missing mandatory element (body)");
		return;
	}
	if (!json_is_object(body)) {
		cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_INVALID_ELEMENT_TYPE,
			"Invalid element type (body should be an object)");
		return;
	}
	if (g_atomic_int_get(&h->detached) || h->app == NULL) {
		cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_PLUGIN_MESSAGE, "No plugin to handle this message");
		return;
	}
	if (jsep != NULL) {
		char *reason = NULL;
		int code = check_jsep(h, jsep, &reason);
		if (code == 0)
			code = cardea_pc_process_remote(h, jsep, &reason);
		if (code != 0) {
			cardea_api_reply_error(ctx, s->id, env->transaction, code, reason);
			g_free(reason);
			return;
		}
	}
	worker_task *t = g_new0(worker_task, 1);
	t->kind = TASK_MESSAGE;
	t->ctx = *ctx;
	cardea_transport_session_ref(t->ctx.ts);
	t->plugin = h->plugin;
	cardea_handle_ref(h);
	t->handle = h;
	cardea_plugin_session_ref(h->app);
	t->app = h->app;
	t->transaction = g_strdup(env->transaction);
	t->body = json_deep_copy(body);
	t->jsep = jsep ? json_deep_copy(jsep) : NULL;
	g_thread_pool_push(workers, t, NULL);
}

/* A plugin's answer to a message, as the client sees it (at once, or later
 * through reply_later). Takes r.content. */
static void answer_plugin_result(const cardea_api_ctx *ctx, guint64 sid, guint64 hid, const char *package,
		const char *transaction, cardea_plugin_result r) {
	switch (r.kind) {
	case CARDEA_PLUGIN_OK: {
		if (r.content == NULL) {
			cardea_api_reply_error(ctx, sid, transaction, CARDEA_ERROR_PLUGIN_MESSAGE,
				"Plugin didn't give a result");
			return;
		}
		json_t *reply = reply_new("success", sid, transaction);
		json_object_set_new(reply, "sender", json_integer((json_int_t)hid));
		json_object_set_new(reply, "plugindata", json_pack("{s:s, s:o}", "plugin", package, "data", r.content));
		cardea_api_reply(ctx, reply);
		break;
	}
	case CARDEA_PLUGIN_OK_WAIT: {
		json_t *reply = reply_new("ack", sid, transaction);
		if (r.text)
			json_object_set_new(reply, "hint", json_string(r.text));
		cardea_api_reply(ctx, reply);
		json_decref(r.content);
		break;
	}
	default:
		json_decref(r.content);
		cardea_api_reply_error(ctx, sid, transaction, CARDEA_ERROR_PLUGIN_MESSAGE,
			r.text ? r.text : "Plugin returned a severe (unknown) error");
		break;
	}
}

/* A synchronous reply a plugin answers later (defer_reply/reply_later). */
struct cardea_plugin_reply {
	cardea_api_ctx ctx;           /* ctx.ts owned ref */
	guint64 session_id, handle_id;
	const char *package;          /* the plugin's, static for the process */
	char *transaction;            /* owned */
};

/* The message task a worker is running handle_message for (defer_reply). */
static GPrivate current_task;

static cardea_plugin_reply *core_defer_reply(cardea_plugin_session *app) {
	worker_task *t = g_private_get(&current_task);
	if (t == NULL || t->app != app || app == NULL)
		return NULL;
	cardea_plugin_reply *reply = g_new0(cardea_plugin_reply, 1);
	reply->ctx = t->ctx;
	cardea_transport_session_ref(reply->ctx.ts);
	reply->session_id = t->handle->session->id;
	reply->handle_id = t->handle->id;
	reply->package = t->plugin->info->package;
	reply->transaction = g_strdup(t->transaction);
	return reply;
}

static void core_reply_later(cardea_plugin_reply *reply, cardea_plugin_result result) {
	if (reply == NULL) {
		json_decref(result.content);
		return;
	}
	if (result.kind == CARDEA_PLUGIN_LATER)
		result = cardea_plugin_error("Plugin deferred its reply twice");
	answer_plugin_result(&reply->ctx, reply->session_id, reply->handle_id, reply->package,
		reply->transaction, result);
	cardea_transport_session_unref(reply->ctx.ts);
	g_free(reply->transaction);
	g_free(reply);
}

/* Marks (start) or unmarks the worker's transaction on h: see
 * wait_for_ack. Only the worker that set it clears it (two messages on one
 * handle may run at once on different workers). */
static void acking(cardea_handle *h, const char *transaction, gboolean start) {
	g_mutex_lock(&h->mutex);
	if (start) {
		h->acking_transaction = transaction;
		h->acking_thread = g_thread_self();
	} else if (h->acking_transaction == transaction) {
		h->acking_transaction = NULL;
		h->acking_thread = NULL;
		g_cond_broadcast(&h->acked);
	}
	g_mutex_unlock(&h->mutex);
}

/* A plugin thread's event for a transaction whose ack the worker has not
 * sent yet (the plugin queued the message and answered it before
 * handle_message returned) waits for that ack, at most ACK_WAIT_US: Janus
 * clients (Janode) close a transaction on its event, and drop an ack that
 * comes after it. An event pushed from inside handle_message (the worker's
 * own thread) cannot wait for it and does not. */
#define ACK_WAIT_US (500 * 1000)
static void wait_for_ack(cardea_handle *h, const char *transaction) {
	if (transaction == NULL)
		return;
	gint64 deadline = g_get_monotonic_time() + ACK_WAIT_US;
	g_mutex_lock(&h->mutex);
	while (h->acking_transaction != NULL && h->acking_thread != g_thread_self() &&
			strcmp(h->acking_transaction, transaction) == 0)
		if (!g_cond_wait_until(&h->acked, &h->mutex, deadline))
			break;
	g_mutex_unlock(&h->mutex);
}

static void run_message_task(worker_task *t) {
	cardea_handle *h = t->handle;
	guint64 sid = h->session->id;
	if (g_atomic_int_get(&t->app->stopped)) {
		cardea_api_reply_error(&t->ctx, sid, t->transaction, CARDEA_ERROR_PLUGIN_MESSAGE, "No plugin to handle this message");
		return;
	}
	json_t *body = t->body, *jsep = t->jsep;
	t->body = t->jsep = NULL;   /* transfer to the plugin */
	acking(h, t->transaction, TRUE);
	g_private_set(&current_task, t);
	cardea_plugin_result r = t->plugin->ops.plugin.handle_message(t->app, t->transaction, body, jsep);
	g_private_set(&current_task, NULL);
	if (r.kind == CARDEA_PLUGIN_LATER)
		json_decref(r.content);   /* the plugin holds a cardea_plugin_reply and answers with it */
	else
		answer_plugin_result(&t->ctx, sid, h->id, t->plugin->info->package, t->transaction, r);
	acking(h, t->transaction, FALSE);
}

void cardea_api_queue_admin_plugin(const cardea_api_ctx *ctx, cardea_loaded_module *plugin,
		const char *transaction, json_t *request) {
	worker_task *t = g_new0(worker_task, 1);
	t->kind = TASK_ADMIN_PLUGIN;
	t->ctx = *ctx;
	cardea_transport_session_ref(t->ctx.ts);
	t->plugin = plugin;
	t->transaction = g_strdup(transaction);
	t->body = json_deep_copy(request);
	g_thread_pool_push(workers, t, NULL);
}

static void run_admin_plugin_task(worker_task *t) {
	json_t *response = t->plugin->ops.plugin.handle_admin_message(t->body);
	if (response == NULL) {
		cardea_api_reply_error(&t->ctx, 0, t->transaction, CARDEA_ERROR_PLUGIN_MESSAGE,
			"Plugin returned no response to the admin message");
		return;
	}
	json_t *reply = reply_new("success", 0, t->transaction);
	json_object_set_new(reply, "response", response);
	cardea_api_reply(&t->ctx, reply);
}

static void worker_run(gpointer data, gpointer user_data) {
	worker_task *t = data;
	if (t->kind == TASK_MESSAGE)
		run_message_task(t);
	else
		run_admin_plugin_task(t);
	worker_task_free(t);
}

/* One trickle candidate object: {"candidate", "sdpMid"/"sdpMLineIndex"} or
 * {"completed": true}. Returns 0 or an error code. */
static int check_candidate(json_t *c, char **reason) {
	if (!json_is_object(c)) {
		*reason = g_strdup("Invalid element type (candidate should be an object)");
		return CARDEA_ERROR_INVALID_ELEMENT_TYPE;
	}
	if (json_is_true(json_object_get(c, "completed")))
		return 0;
	json_t *cand = json_object_get(c, "candidate");
	json_t *mid = json_object_get(c, "sdpMid");
	json_t *index = json_object_get(c, "sdpMLineIndex");
	if (cand == NULL) {
		*reason = g_strdup("Missing mandatory element (candidate)");
		return CARDEA_ERROR_MISSING_MANDATORY_ELEMENT;
	}
	if (!json_is_string(cand)) {
		*reason = g_strdup("Invalid element type (candidate should be a string)");
		return CARDEA_ERROR_INVALID_ELEMENT_TYPE;
	}
	if (mid == NULL && index == NULL) {
		*reason = g_strdup("Trickle error: missing mandatory element (sdpMid or sdpMLineIndex)");
		return CARDEA_ERROR_MISSING_MANDATORY_ELEMENT;
	}
	if ((mid != NULL && !json_is_string(mid)) ||
			(index != NULL && (!json_is_integer(index) || json_integer_value(index) < 0))) {
		*reason = g_strdup("Trickle error: invalid element type (sdpMid should be a string, sdpMLineIndex a non-negative integer)");
		return CARDEA_ERROR_INVALID_ELEMENT_TYPE;
	}
	return 0;
}

static void handle_trickle(const cardea_api_ctx *ctx, json_t *root, const cardea_api_envelope *env,
		cardea_session *s, cardea_handle *h) {
	json_t *candidate = json_object_get(root, "candidate");
	json_t *candidates = json_object_get(root, "candidates");
	if (candidate != NULL && candidates != NULL) {
		cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_INVALID_JSON,
			"Can't have both candidate and candidates");
		return;
	}
	if (candidate == NULL && candidates == NULL) {
		cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_MISSING_MANDATORY_ELEMENT,
			"Missing mandatory element (candidate|candidates)");
		return;
	}
	if (candidates != NULL) {
		if (!json_is_array(candidates)) {
			cardea_api_reply_error(ctx, s->id, env->transaction, CARDEA_ERROR_INVALID_ELEMENT_TYPE,
				"Invalid element type (candidates should be an array)");
			return;
		}
		/* Janus ignores bad entries inside an array. */
		size_t i;
		json_t *c;
		json_array_foreach(candidates, i, c) {
			char *reason = NULL;
			if (check_candidate(c, &reason) == 0 && !cardea_pc_trickle(h, c))
				cardea_handle_queue_candidate(h, json_deep_copy(c));
			g_free(reason);
		}
	} else if (json_is_null(candidate)) {
		json_t *done = json_pack("{s:b}", "completed", 1);
		if (cardea_pc_trickle(h, done))
			json_decref(done);
		else
			cardea_handle_queue_candidate(h, done);
	} else {
		char *reason = NULL;
		int code = check_candidate(candidate, &reason);
		if (code != 0) {
			cardea_api_reply_error(ctx, s->id, env->transaction, code, reason);
			g_free(reason);
			return;
		}
		if (!cardea_pc_trickle(h, candidate))
			cardea_handle_queue_candidate(h, json_deep_copy(candidate));
	}
	cardea_api_reply(ctx, reply_new("ack", s->id, env->transaction));
}

static gboolean verb_is(const cardea_api_envelope *env, const char *verb) {
	return strcmp(env->verb, verb) == 0;
}

static void reply_unhandled(const cardea_api_ctx *ctx, guint64 sid, const cardea_api_envelope *env) {
	char *reason = g_strdup_printf("Unhandled request '%s' at this path", env->verb);
	cardea_api_reply_error(ctx, sid, env->transaction, CARDEA_ERROR_INVALID_REQUEST_PATH, reason);
	g_free(reason);
}

static void reply_unknown(const cardea_api_ctx *ctx, guint64 sid, const cardea_api_envelope *env) {
	char *reason = g_strdup_printf("Unknown request '%s'", env->verb);
	cardea_api_reply_error(ctx, sid, env->transaction, CARDEA_ERROR_UNKNOWN_REQUEST, reason);
	g_free(reason);
}

static void session_request(const cardea_api_ctx *ctx, json_t *root, const cardea_api_envelope *env,
		cardea_session *s, gboolean by_token) {
	if (verb_is(env, "attach")) {
		handle_attach(ctx, root, env, s, by_token);
	} else if (verb_is(env, "destroy")) {
		cardea_session_destroy(s, FALSE);
		CARDEA_LOG(CARDEA_LOG_VERB, "[session %"G_GUINT64_FORMAT"] destroyed by request", s->id);
		cardea_api_reply(ctx, reply_new("success", s->id, env->transaction));
	} else if (verb_is(env, "keepalive")) {
		cardea_api_reply(ctx, reply_new("ack", s->id, env->transaction));
	} else if (verb_is(env, "claim")) {
		cardea_session_claim(s, ctx->transport, ctx->ts);
		cardea_api_reply(ctx, reply_new("success", s->id, env->transaction));
	} else if (verb_is(env, "message") || verb_is(env, "trickle") || verb_is(env, "hangup") || verb_is(env, "detach")) {
		reply_unhandled(ctx, s->id, env);
	} else {
		reply_unknown(ctx, s->id, env);
	}
}

static void handle_request(const cardea_api_ctx *ctx, json_t *root, const cardea_api_envelope *env,
		cardea_session *s, cardea_handle *h) {
	if (verb_is(env, "message")) {
		handle_message(ctx, root, env, s, h);
	} else if (verb_is(env, "trickle")) {
		handle_trickle(ctx, root, env, s, h);
	} else if (verb_is(env, "hangup")) {
		/* success first; the hangup event follows only if a PC was up. */
		cardea_api_reply(ctx, reply_new("success", s->id, env->transaction));
		cardea_pc_hangup(h, "Janus API");
	} else if (verb_is(env, "detach")) {
		cardea_api_reply(ctx, reply_new("success", s->id, env->transaction));
		cardea_handle_detach(h, TRUE);
	} else if (verb_is(env, "keepalive")) {
		cardea_api_reply(ctx, reply_new("ack", s->id, env->transaction));
	} else if (verb_is(env, "claim")) {
		cardea_session_claim(s, ctx->transport, ctx->ts);
		cardea_api_reply(ctx, reply_new("success", s->id, env->transaction));
	} else if (verb_is(env, "attach") || verb_is(env, "destroy")) {
		reply_unhandled(ctx, s->id, env);
	} else {
		reply_unknown(ctx, s->id, env);
	}
}

/* One Janus API request object, on the API thread. */
static void janus_request(const cardea_api_ctx *ctx, json_t *root, const cardea_api_envelope *env) {
	const char *tr = env->transaction;
	if (!env->has_session && !env->has_handle) {
		if (verb_is(env, "info")) {
			cardea_api_reply(ctx, cardea_api_server_info(tr));
			return;
		}
		if (verb_is(env, "ping")) {
			cardea_api_reply(ctx, reply_new("pong", 0, tr));
			return;
		}
		if (!verb_is(env, "create")) {
			reply_unhandled(ctx, 0, env);
			return;
		}
		if (!request_auth_ok(root, NULL)) {
			cardea_api_reply_error(ctx, 0, tr, CARDEA_ERROR_UNAUTHORIZED, NULL);
			return;
		}
		if (auth_defer(ctx, root, json_pack("{s:s}", "action", "session.create")))
			return;
		handle_create(ctx, env);
		return;
	}
	guint64 sid = (env->has_session && env->session_id > 0) ? (guint64)env->session_id : 0;
	if (!env->has_session || env->session_id < 1) {
		char *reason = g_strdup_printf("No such session %"G_GINT64_FORMAT, (gint64)(env->has_session ? env->session_id : 0));
		cardea_api_reply_error(ctx, sid, tr, CARDEA_ERROR_SESSION_NOT_FOUND, reason);
		g_free(reason);
		return;
	}
	if (env->has_handle && env->handle_id < 1) {
		char *reason = g_strdup_printf("No such handle %"G_GINT64_FORMAT" in session %"G_GUINT64_FORMAT,
			(gint64)env->handle_id, sid);
		cardea_api_reply_error(ctx, sid, tr, CARDEA_ERROR_HANDLE_NOT_FOUND, reason);
		g_free(reason);
		return;
	}
	gboolean by_token = FALSE;
	if (!request_auth_ok(root, &by_token)) {
		cardea_api_reply_error(ctx, sid, tr, CARDEA_ERROR_UNAUTHORIZED, NULL);
		return;
	}
	cardea_session *s = cardea_session_find(sid);
	if (s == NULL) {
		char *reason = g_strdup_printf("No such session %"G_GUINT64_FORMAT, sid);
		cardea_api_reply_error(ctx, sid, tr, CARDEA_ERROR_SESSION_NOT_FOUND, reason);
		g_free(reason);
		return;
	}
	cardea_session_touch(s);
	remember_remote(s, ctx);
	if (!env->has_handle) {
		session_request(ctx, root, env, s, by_token);
		cardea_session_unref(s);
		return;
	}
	cardea_handle *h = cardea_handle_find(s, (guint64)env->handle_id);
	if (h == NULL) {
		char *reason = g_strdup_printf("No such handle %"G_GINT64_FORMAT" in session %"G_GUINT64_FORMAT,
			(gint64)env->handle_id, sid);
		cardea_api_reply_error(ctx, sid, tr, CARDEA_ERROR_HANDLE_NOT_FOUND, reason);
		g_free(reason);
	} else {
		handle_request(ctx, root, env, s, h);
		cardea_handle_unref(h);
	}
	cardea_session_unref(s);
}

static void process_object(const cardea_api_ctx *ctx, json_t *root, guint64 path_session, guint64 path_handle) {
	if (!json_is_object(root)) {
		cardea_api_reply_error(ctx, 0, NULL, CARDEA_ERROR_INVALID_JSON_OBJECT, "JSON error: not an object");
		return;
	}
	cardea_api_envelope env;
	char *reason = NULL;
	int code = cardea_api_parse_envelope(root, path_session, path_handle, &env, &reason);
	if (code != 0) {
		json_int_t sid = 0;
		if (env.transaction && read_id(root, "session_id", &sid) && sid < 1)
			sid = 0;
		cardea_api_reply_error(ctx, (guint64)sid, env.transaction, code, reason);
		g_free(reason);
		return;
	}
	if (ctx->admin)
		cardea_admin_handle(ctx, root, &env);
	else
		janus_request(ctx, root, &env);
}

static void reply_json_error(const cardea_api_ctx *ctx, const json_error_t *err) {
	char *reason = g_strdup_printf("JSON error: on line %d: %s", err->line, err->text);
	cardea_api_reply_error(ctx, 0, NULL, CARDEA_ERROR_INVALID_JSON, reason);
	g_free(reason);
}

/* A request body. Streaming transports (request_id NULL) may pack several
 * JSON objects into one message: each is handled in order. */
static void process_text(api_item *item) {
	const cardea_api_ctx *ctx = &item->ctx;
	if (ctx->request_id != NULL) {
		json_error_t err;
		json_t *root = json_loadb(item->text, item->len, JSON_REJECT_DUPLICATES, &err);
		if (root == NULL) {
			reply_json_error(ctx, &err);
			return;
		}
		process_object(ctx, root, item->path_session, item->path_handle);
		json_decref(root);
		return;
	}
	size_t off = 0;
	gboolean any = FALSE;
	/* At least one parse, so an empty message gets its 454 like any bad JSON. */
	while (!any || off < item->len) {
		while (off < item->len && g_ascii_isspace(item->text[off]))
			off++;
		if (off == item->len && any)
			break;
		json_error_t err;
		json_t *root = json_loadb(item->text + off, item->len - off,
			JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &err);
		if (root == NULL) {
			reply_json_error(ctx, &err);
			return;
		}
		any = TRUE;
		off += err.position > 0 ? (size_t)err.position : item->len - off;
		process_object(ctx, root, item->path_session, item->path_handle);
		json_decref(root);
	}
}

/* ---- the API thread ---- */

static void api_item_free(api_item *item) {
	cardea_transport_session_unref(item->ctx.ts);
	cardea_handle_unref(item->handle);
	json_decref(item->root);
	json_decref(item->decision);
	g_free(item->text);
	g_free(item);
}

static gpointer api_thread_main(gpointer data) {
	gint64 next_watchdog = g_get_monotonic_time() + WATCHDOG_PERIOD_US;
	for (;;) {
		gint64 wait = next_watchdog - g_get_monotonic_time();
		api_item *item = wait > 0 ? g_async_queue_timeout_pop(api_queue, (guint64)wait) : NULL;
		if (g_get_monotonic_time() >= next_watchdog) {
			cardea_sessions_watchdog();
			next_watchdog = g_get_monotonic_time() + WATCHDOG_PERIOD_US;
		}
		if (item == NULL)
			continue;
		switch (item->kind) {
		case ITEM_TEXT:
			process_text(item);
			break;
		case ITEM_TRANSPORT_GONE:
			cardea_sessions_transport_gone(item->ctx.ts);
			break;
		case ITEM_DETACH:
			cardea_handle_detach(item->handle, TRUE);
			break;
		case ITEM_AUTH_DONE:
			auth_finish(item);
			break;
		case ITEM_STOP:
			cardea_sessions_destroy_all();
			api_item_free(item);
			return NULL;
		}
		api_item_free(item);
	}
}

static void push_item(api_item *item) {
	g_async_queue_push(api_queue, item);
}

/* ---- callbacks for transports ---- */

static void core_incoming_request_from(cardea_transport *transport, cardea_transport_session *ts,
		void *request_id, bool admin, const char *text, size_t len,
		guint64 path_session_id, guint64 path_handle_id, const char *remote_addr) {
	cardea_loaded_module *m = cardea_gateway_transport_module(transport);
	cardea_api_ctx ctx = { m, ts, request_id, admin, "" };
	if (remote_addr)
		g_strlcpy(ctx.remote_addr, remote_addr, sizeof(ctx.remote_addr));
	if (m == NULL || ts == NULL) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[api] request from an unknown transport dropped");
		return;
	}
	if (g_atomic_int_get(&api_stopping)) {
		cardea_api_reply_error(&ctx, 0, NULL, CARDEA_ERROR_UNKNOWN, "Server shutting down");
		return;
	}
	api_item *item = g_new0(api_item, 1);
	item->kind = ITEM_TEXT;
	item->ctx = ctx;
	cardea_transport_session_ref(ts);
	/* Never NULL (g_memdup2 gives NULL for 0 bytes): the parser offsets it. */
	item->text = text && len ? g_memdup2(text, len) : g_strdup("");
	item->len = text ? len : 0;
	item->path_session = path_session_id;
	item->path_handle = path_handle_id;
	push_item(item);
}

static void core_incoming_request(cardea_transport *transport, cardea_transport_session *ts,
		void *request_id, bool admin, const char *text, size_t len,
		guint64 path_session_id, guint64 path_handle_id) {
	core_incoming_request_from(transport, ts, request_id, admin, text, len, path_session_id, path_handle_id, NULL);
}

static void core_transport_gone(cardea_transport *transport, cardea_transport_session *ts) {
	if (ts == NULL)
		return;
	/* Stop sends at once; the session bookkeeping happens on the API thread. */
	g_atomic_int_set(&ts->gone, 1);
	if (g_atomic_int_get(&api_stopping))
		return;
	api_item *item = g_new0(api_item, 1);
	item->kind = ITEM_TRANSPORT_GONE;
	cardea_transport_session_ref(ts);
	item->ctx.ts = ts;
	push_item(item);
}

static bool core_check_api_auth(const char *apisecret, const char *token) {
	return api_auth_ok(apisecret, token, NULL);
}

static bool core_session_keepalive(guint64 session_id) {
	cardea_session *s = cardea_session_find(session_id);
	if (s == NULL)
		return false;
	cardea_session_touch(s);
	cardea_session_unref(s);
	return true;
}

void cardea_api_fill_transport_core(cardea_transport_core *core) {
	core->incoming_request = core_incoming_request;
	core->incoming_request_from = core_incoming_request_from;
	core->transport_gone = core_transport_gone;
	core->check_api_auth = core_check_api_auth;
	core->session_keepalive = core_session_keepalive;
	core->ice_restart = cardea_pc_transport_ice_restart;
	core->configs_folder = cardea_gw->settings.configs_folder;
	core->html_folder = cardea_gw->settings.html_folder;
}

/* ---- callbacks for plugins ---- */

static cardea_handle *live_handle(cardea_plugin_session *app) {
	if (app == NULL || app->core_handle == NULL || g_atomic_int_get(&app->stopped))
		return NULL;
	cardea_handle *h = app->core_handle;
	return g_atomic_int_get(&h->detached) ? NULL : h;
}

static int core_push_event(cardea_plugin_session *app, cardea_plugin *plugin,
		const char *transaction, json_t *message, json_t *jsep) {
	cardea_handle *h = live_handle(app);
	json_t *full_jsep = NULL;
	if (h == NULL)
		return -1;
	if (!json_is_object(message)) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] push_event without an object message",
			h->session->id, h->id);
		return -2;
	}
	if (jsep != NULL) {
		const char *type = json_string_value(json_object_get(jsep, "type"));
		if (type == NULL || !json_is_string(json_object_get(jsep, "sdp"))) {
			CARDEA_LOG(CARDEA_LOG_ERR, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] push_event with an invalid jsep",
				h->session->id, h->id);
			return -2;
		}
		char *reason = NULL;
		full_jsep = cardea_pc_local_jsep(h, jsep, &reason);
		if (full_jsep == NULL) {
			CARDEA_LOG(CARDEA_LOG_ERR, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] push_event: cannot build the local SDP: %s",
				h->session->id, h->id, reason);
			g_free(reason);
			return -3;
		}
		g_atomic_int_set(&h->server_offer_pending, g_ascii_strcasecmp(type, "offer") == 0);
	}
	json_t *event = cardea_handle_event_new(h, "event");
	if (transaction)
		json_object_set_new(event, "transaction", json_string(transaction));
	json_object_set_new(event, "plugindata", json_pack("{s:s, s:O}",
		"plugin", h->plugin->info->package, "data", message));
	if (full_jsep)
		json_object_set_new(event, "jsep", full_jsep);
	wait_for_ack(h, transaction);
	cardea_session_send_event(h->session, event);
	return 0;
}

static void core_close_pc(cardea_plugin_session *app) {
	cardea_handle *h = live_handle(app);
	if (h != NULL)
		cardea_pc_hangup(h, "Close PC");
}

void cardea_api_queue_detach(cardea_handle *h) {
	if (g_atomic_int_get(&api_stopping))
		return;
	api_item *item = g_new0(api_item, 1);
	item->kind = ITEM_DETACH;
	cardea_handle_ref(h);
	item->handle = h;
	push_item(item);
}

static void core_end_session(cardea_plugin_session *app) {
	cardea_handle *h = live_handle(app);
	if (h != NULL)
		cardea_api_queue_detach(h);
}

static bool core_events_is_enabled(void) {
	return cardea_gateway_events_enabled();
}

static void core_notify_event(cardea_plugin *plugin, cardea_plugin_session *app, json_t *event) {
	cardea_handle *h = live_handle(app);
	cardea_loaded_module *m = cardea_gateway_plugin_module(plugin);
	/* {"event": "joined", ...} from the videoroom becomes type "videoroom.joined"
	 * (docs/events.md); events without a name stay "plugin.event". */
	const char *name = json_string_value(json_object_get(event, "event"));
	char *type = name && m && m->info->name ? g_strdup_printf("%s.%s", m->info->name, name) : g_strdup("plugin.event");
	json_t *data = json_pack("{s:s?, s:o}", "plugin", m ? m->info->package : NULL, "data", event);
	cardea_gateway_emit_event(type, h ? h->session->id : 0, h ? h->id : 0, data);
	g_free(type);
}

/* A plugin's question on its way back: the core notes what it enforces
 * itself (max_bitrate) before the plugin sees the decision. */
typedef struct plugin_ask {
	cardea_handle *handle;          /* ref */
	cardea_auth_done_fn done;
	void *user_data;
} plugin_ask;

static void plugin_ask_done(json_t *decision, void *data) {
	plugin_ask *ask = data;
	cardea_handle_note_decision(ask->handle, decision);
	ask->done(decision, ask->user_data);
	cardea_handle_unref(ask->handle);
	g_free(ask);
}

/* Plugin-declared guarded actions: the request carries what the core knows
 * of the handle (ids, plugin, the attach token and user) plus the plugin's target. */
static void core_auth_check(cardea_plugin_session *app, const char *action, json_t *target,
		cardea_auth_done_fn done, void *user_data) {
	cardea_handle *h = live_handle(app);
	if (h == NULL || action == NULL) {
		done(cardea_auth_deny_new(h ? "no action" : "handle gone"), user_data);
		return;
	}
	json_t *req = json_pack("{s:s, s:I, s:I, s:s}", "action", action,
		"session_id", (json_int_t)h->session->id, "handle_id", (json_int_t)h->id,
		"plugin", h->plugin->info->package);
	if (h->auth_token)
		json_object_set_new(req, "token", json_string(h->auth_token));
	g_mutex_lock(&h->session->mutex);
	if (h->session->remote_addr[0])
		json_object_set_new(req, "remote_addr", json_string(h->session->remote_addr));
	g_mutex_unlock(&h->session->mutex);
	const char *uid = json_string_value(json_object_get(h->auth_decision, "user_id"));
	if (uid)
		json_object_set_new(req, "user_id", json_string(uid));
	if (json_is_object(target))
		json_object_update(req, target);
	plugin_ask *ask = g_new(plugin_ask, 1);
	cardea_handle_ref(h);
	ask->handle = h;
	ask->done = done;
	ask->user_data = user_data;
	cardea_auth_check(req, plugin_ask_done, ask);
	json_decref(req);
}

void cardea_api_fill_plugin_core(cardea_plugin_core *core) {
	core->auth_check = core_auth_check;
	core->defer_reply = core_defer_reply;
	core->reply_later = core_reply_later;
	core->push_event = core_push_event;
	core->close_pc = core_close_pc;
	core->end_session = core_end_session;
	core->events_is_enabled = core_events_is_enabled;
	core->notify_event = core_notify_event;
	core->relay_rtp = cardea_pc_relay_rtp;
	core->send_keyframe_request = cardea_pc_send_keyframe_request;
	core->relay_data = cardea_pc_relay_data;
	core->send_remb = cardea_pc_send_remb;
	core->configs_folder = cardea_gw->settings.configs_folder;
}

/* ---- start/stop ---- */

void cardea_api_start(void) {
	g_atomic_int_set(&api_stopping, 0);
	api_queue = g_async_queue_new();
	workers = g_thread_pool_new(worker_run, NULL, cardea_gw->settings.request_workers, FALSE, NULL);
	api_thread = g_thread_new("api", api_thread_main, NULL);
}

void cardea_api_stop(void) {
	if (api_thread == NULL)
		return;
	g_atomic_int_set(&api_stopping, 1);
	api_item *stop = g_new0(api_item, 1);
	stop->kind = ITEM_STOP;
	push_item(stop);
	g_thread_join(api_thread);
	api_thread = NULL;
	/* Requests still waiting for the auth module get their answer now. */
	cardea_auth_cancel_all();
	/* Let running plugin calls finish; their replies still reach live transports. */
	g_thread_pool_free(workers, FALSE, TRUE);
	workers = NULL;
	api_item *item;
	while ((item = g_async_queue_try_pop(api_queue)) != NULL) {
		if (item->kind == ITEM_TEXT || item->kind == ITEM_AUTH_DONE) {
			cardea_api_reply_error(&item->ctx, 0, NULL, CARDEA_ERROR_UNKNOWN, "Server shutting down");
		}
		api_item_free(item);
	}
	g_async_queue_unref(api_queue);
	api_queue = NULL;
}
