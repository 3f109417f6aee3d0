/* Admin/Monitor API (janus-api.md §6), dispatched through a name -> handler
 * table per scope. Runs on the API thread. */
#include <string.h>
#include "admin.h"
#include "auth.h"
#include "metrics.h"
#include "api-errors.h"
#include "gateway.h"
#include "ids.h"
#include "tokens.h"
#include "log.h"
#include "webrtc/pc.h"

typedef struct admin_req {
	const cardea_api_ctx *ctx;
	json_t *root;
	const cardea_api_envelope *env;
	cardea_session *session;   /* borrowed; set for session/handle scope */
	cardea_handle *handle;     /* borrowed; set for handle scope */
} admin_req;

typedef void (*admin_fn)(admin_req *r);

typedef struct admin_entry {
	const char *verb;
	admin_fn fn;
} admin_entry;

static guint64 req_sid(const admin_req *r) {
	return r->session ? r->session->id : 0;
}

static void fail(admin_req *r, int code, const char *reason) {
	cardea_api_reply_error(r->ctx, req_sid(r), r->env->transaction, code, reason);
}

static json_t *success(admin_req *r) {
	json_t *reply = json_pack("{s:s, s:s}", "janus", "success", "transaction", r->env->transaction);
	if (r->session)
		json_object_set_new(reply, "session_id", json_integer((json_int_t)r->session->id));
	if (r->handle)
		json_object_set_new(reply, "handle_id", json_integer((json_int_t)r->handle->id));
	return reply;
}

/* Fetches a member of the given JSON type; answers 456/467 and returns NULL when absent/wrong. */
static json_t *need(admin_req *r, const char *name, json_type type, const char *type_name) {
	json_t *v = json_object_get(r->root, name);
	if (v == NULL) {
		char *reason = g_strdup_printf("Missing mandatory element (%s)", name);
		fail(r, CARDEA_ERROR_MISSING_MANDATORY_ELEMENT, reason);
		g_free(reason);
		return NULL;
	}
	gboolean ok = json_typeof(v) == type || (type == JSON_TRUE && json_is_boolean(v));
	if (!ok) {
		char *reason = g_strdup_printf("Invalid element type (%s should be %s)", name, type_name);
		fail(r, CARDEA_ERROR_INVALID_ELEMENT_TYPE, reason);
		g_free(reason);
		return NULL;
	}
	return v;
}

/* ---- global requests ---- */

static void admin_get_status(admin_req *r) {
	const cardea_settings *s = &cardea_gw->settings;
	json_t *reply = success(r);
	json_object_set_new(reply, "status", json_pack("{s:b, s:b, s:i, s:i, s:i, s:i, s:b, s:b, s:b, s:b, s:i, s:b, s:i, s:i, s:b}",
		"token_auth", s->token_auth,
		"api_secret", s->api_secret != NULL,
		"session_timeout", g_atomic_int_get(&cardea_gw->settings.session_timeout),
		"reclaim_session_timeout", s->reclaim_session_timeout,
		"candidates_timeout", s->candidates_timeout,
		"log_level", cardea_log_get_level(),
		"log_timestamps", 1,
		"log_colors", 0,
		"locking_debug", 0,
		"refcount_debug", 0,
		"min_nack_queue", s->min_nack_queue,
		"nack-optimizations", 0,
		"no_media_timer", s->no_media_timer,
		"slowlink_threshold", s->slowlink_threshold,
		"accepting_new_sessions", g_atomic_int_get(&cardea_gw->accepting)));
	json_object_set_new(json_object_get(reply, "status"), "sessions", json_integer(cardea_sessions_count()));
	cardea_api_reply(r->ctx, reply);
}

static void admin_set_log_level(admin_req *r) {
	json_t *level = need(r, "level", JSON_INTEGER, "an integer");
	if (level == NULL)
		return;
	json_int_t l = json_integer_value(level);
	if (l < CARDEA_LOG_NONE || l > CARDEA_LOG_DBG) {
		fail(r, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (level should be between 0 and 7)");
		return;
	}
	cardea_log_set_level((int)l);
	g_atomic_int_set(&cardea_gw->settings.debug_level, (gint)l);
	CARDEA_LOG(CARDEA_LOG_INFO, "[admin] log level set to %d", (int)l);
	json_t *reply = success(r);
	json_object_set_new(reply, "level", json_integer(l));
	cardea_api_reply(r->ctx, reply);
}

static void admin_accept_new_sessions(admin_req *r) {
	json_t *accept = need(r, "accept", JSON_TRUE, "a boolean");
	if (accept == NULL)
		return;
	g_atomic_int_set(&cardea_gw->accepting, json_is_true(accept));
	CARDEA_LOG(CARDEA_LOG_INFO, "[admin] %s new sessions", json_is_true(accept) ? "accepting" : "refusing");
	json_t *reply = success(r);
	json_object_set_new(reply, "accept", json_boolean(json_is_true(accept)));
	cardea_api_reply(r->ctx, reply);
}

static void admin_set_session_timeout(admin_req *r) {
	json_t *timeout = need(r, "timeout", JSON_INTEGER, "an integer");
	if (timeout == NULL)
		return;
	json_int_t t = json_integer_value(timeout);
	if (r->session) {
		if (t < -1 || t > 86400) {
			fail(r, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (timeout should be between -1 and 86400)");
			return;
		}
		g_atomic_int_set(&r->session->timeout, (gint)t);
	} else {
		if (t < 0 || t > 86400) {
			fail(r, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (timeout should be between 0 and 86400)");
			return;
		}
		g_atomic_int_set(&cardea_gw->settings.session_timeout, (gint)t);
	}
	json_t *reply = success(r);
	json_object_set_new(reply, "timeout", json_integer(t));
	cardea_api_reply(r->ctx, reply);
}

static void admin_list_sessions(admin_req *r) {
	json_t *reply = success(r);
	json_object_set_new(reply, "sessions", cardea_sessions_list());
	cardea_api_reply(r->ctx, reply);
}

/* Token requests need the stored-token mode. */
static gboolean stored_tokens_on(admin_req *r) {
	if (!cardea_gw->settings.token_auth || !cardea_tokens_stored_mode()) {
		fail(r, CARDEA_ERROR_UNKNOWN, "Stored-Token based authentication disabled");
		return FALSE;
	}
	return TRUE;
}

/* `plugins` as a NULL-terminated array. As in Janus, add_token (list
 * optional) skips plugins that are not loaded, with a warning, while
 * allow/disallow (list required) refuse a list naming one. */
static gboolean read_plugins(admin_req *r, gboolean required, GPtrArray **out) {
	json_t *plugins = json_object_get(r->root, "plugins");
	if (plugins == NULL && required) {
		fail(r, CARDEA_ERROR_MISSING_MANDATORY_ELEMENT, "Missing mandatory element (plugins)");
		return FALSE;
	}
	if (plugins != NULL && !json_is_array(plugins)) {
		fail(r, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (plugins should be an array)");
		return FALSE;
	}
	if (required && json_array_size(plugins) == 0) {
		fail(r, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (plugins should be a non-empty array)");
		return FALSE;
	}
	*out = g_ptr_array_new();
	if (plugins == NULL) {
		/* No list: every plugin loaded now. */
		for (guint i = 0; i < cardea_gw->plugins->len; i++) {
			cardea_loaded_module *m = g_ptr_array_index(cardea_gw->plugins, i);
			g_ptr_array_add(*out, (gpointer)m->info->package);
		}
	} else {
		size_t i;
		json_t *p;
		json_array_foreach(plugins, i, p) {
			const char *name = json_string_value(p);
			if (name == NULL || cardea_gateway_find_plugin(name) == NULL) {
				/* Janus: allow/disallow refuse the whole list, add_token skips the entry. */
				if (required) {
					fail(r, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (some of the provided plugins are invalid)");
					g_ptr_array_free(*out, TRUE);
					return FALSE;
				}
				CARDEA_LOG(CARDEA_LOG_WARN, "[admin] %s: skipping unknown plugin %s", r->env->verb,
					name ? name : "(not a string)");
				continue;
			}
			g_ptr_array_add(*out, (gpointer)name);
		}
	}
	g_ptr_array_add(*out, NULL);
	return TRUE;
}

static void reply_token_plugins(admin_req *r, const char *token) {
	json_t *reply = success(r);
	json_object_set_new(reply, "data", json_pack("{s:o}", "plugins", cardea_token_plugins(token)));
	cardea_api_reply(r->ctx, reply);
}

static void token_not_found(admin_req *r, const char *token) {
	char *reason = g_strdup_printf("Token %s not found", token);
	fail(r, CARDEA_ERROR_TOKEN_NOT_FOUND, reason);
	g_free(reason);
}

typedef gboolean (*token_change_fn)(const char *token, const char *const *plugins);

/* add/allow/disallow share one shape: read token + plugins, apply, answer
 * with the token's plugin list (470 when the token is unknown). */
static void change_token(admin_req *r, gboolean plugins_required, token_change_fn change) {
	if (!stored_tokens_on(r))
		return;
	json_t *token = need(r, "token", JSON_STRING, "a string");
	GPtrArray *plugins = NULL;
	if (token == NULL || !read_plugins(r, plugins_required, &plugins))
		return;
	const char *t = json_string_value(token);
	gboolean ok = change(t, (const char *const *)plugins->pdata);
	g_ptr_array_free(plugins, TRUE);
	if (!ok)
		token_not_found(r, t);
	else
		reply_token_plugins(r, t);
}

/* Janus merges an add into an existing token instead of failing. */
static gboolean add_or_merge_token(const char *token, const char *const *plugins) {
	return cardea_token_add(token, plugins) || cardea_token_allow(token, plugins);
}

static void admin_add_token(admin_req *r) {
	change_token(r, FALSE, add_or_merge_token);
}

static void admin_allow_token(admin_req *r) {
	change_token(r, TRUE, cardea_token_allow);
}

static void admin_disallow_token(admin_req *r) {
	change_token(r, TRUE, cardea_token_disallow);
}

static void admin_list_tokens(admin_req *r) {
	if (!stored_tokens_on(r))
		return;
	json_t *reply = success(r);
	json_object_set_new(reply, "data", json_pack("{s:o}", "tokens", cardea_tokens_list()));
	cardea_api_reply(r->ctx, reply);
}

static void admin_remove_token(admin_req *r) {
	if (!stored_tokens_on(r))
		return;
	json_t *token = need(r, "token", JSON_STRING, "a string");
	if (token == NULL)
		return;
	if (!cardea_token_remove(json_string_value(token)))
		fail(r, CARDEA_ERROR_UNKNOWN, "Error removing token");   /* Janus's answer, not 470 */
	else
		cardea_api_reply(r->ctx, success(r));
}

static void admin_message_plugin(admin_req *r) {
	json_t *plugin = need(r, "plugin", JSON_STRING, "a string");
	if (plugin == NULL)
		return;
	json_t *request = need(r, "request", JSON_OBJECT, "an object");
	if (request == NULL)
		return;
	cardea_loaded_module *m = cardea_gateway_find_plugin(json_string_value(plugin));
	if (m == NULL) {
		char *reason = g_strdup_printf("No such plugin '%s'", json_string_value(plugin));
		fail(r, CARDEA_ERROR_PLUGIN_NOT_FOUND, reason);
		g_free(reason);
		return;
	}
	cardea_api_queue_admin_plugin(r->ctx, m, r->env->transaction, request);
}

/* query_transport / query_eventhandler: finds the module named by the
 * member `key` among `mods` and answers what `query` returns for the
 * request's "request" (an empty object when absent). */
typedef json_t *(*module_query_fn)(cardea_loaded_module *m, json_t *request);

static void query_module(admin_req *r, GPtrArray *mods, const char *key, const char *what, module_query_fn query) {
	json_t *name = need(r, key, JSON_STRING, "a string");
	if (name == NULL)
		return;
	json_t *request = json_object_get(r->root, "request");
	for (guint i = 0; i < mods->len; i++) {
		cardea_loaded_module *m = g_ptr_array_index(mods, i);
		if (strcmp(m->info->package, json_string_value(name)) != 0)
			continue;
		/* The module borrows the request: an empty one made here is ours to drop. */
		json_t *empty = request ? NULL : json_object();
		json_t *response = query(m, request ? request : empty);
		json_decref(empty);
		json_t *reply = success(r);
		json_object_set_new(reply, "response", response ? response : json_object());
		cardea_api_reply(r->ctx, reply);
		return;
	}
	char *reason = g_strdup_printf("No such %s '%s'", what, json_string_value(name));
	fail(r, CARDEA_ERROR_PLUGIN_NOT_FOUND, reason);
	g_free(reason);
}

static json_t *transport_query(cardea_loaded_module *m, json_t *request) {
	return m->ops.transport.query_transport(request);
}

static json_t *events_query(cardea_loaded_module *m, json_t *request) {
	return m->ops.events.handle_request(request);
}

static void admin_query_transport(admin_req *r) {
	query_module(r, cardea_gw->transports, "transport", "transport", transport_query);
}

/* Janus's query_eventhandler: {"handler": package, "request": {...}}. */
static void admin_query_eventhandler(admin_req *r) {
	query_module(r, cardea_gw->events, "handler", "event handler", events_query);
}

/* Auth modules: list_auth, and auth_request {"module"?, "request": {...}}
 * (e.g. {"request": "flush"} empties auth_http's cache). */
static void admin_list_auth(admin_req *r) {
	json_t *reply = success(r);
	json_object_set_new(reply, "auth", cardea_auth_list());
	cardea_api_reply(r->ctx, reply);
}

static void admin_auth_request(admin_req *r) {
	json_t *module = json_object_get(r->root, "module");
	if (module != NULL && !json_is_string(module)) {
		fail(r, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (module should be a string)");
		return;
	}
	json_t *request = need(r, "request", JSON_OBJECT, "an object");
	if (request == NULL)
		return;
	gboolean found = FALSE;
	json_t *response = cardea_auth_admin(json_string_value(module), request, &found);
	if (!found) {
		fail(r, CARDEA_ERROR_PLUGIN_NOT_FOUND, "No such auth module");
		return;
	}
	json_t *reply = success(r);
	json_object_set_new(reply, "response", response ? response : json_object());
	cardea_api_reply(r->ctx, reply);
}

/* Prometheus text for the HTTP transport's /metrics (metrics.h). */
static void admin_metrics(admin_req *r) {
	json_t *reply = success(r);
	char *text = cardea_metrics_text();
	json_object_set_new(reply, "metrics", json_string(text));
	g_free(text);
	cardea_api_reply(r->ctx, reply);
}

/* ---- session scope ---- */

static void admin_destroy_session(admin_req *r) {
	CARDEA_LOG(CARDEA_LOG_INFO, "[session %"G_GUINT64_FORMAT"] destroyed over the Admin API", r->session->id);
	cardea_session_destroy(r->session, FALSE);
	cardea_api_reply(r->ctx, success(r));
}

static void admin_list_handles(admin_req *r) {
	json_t *reply = success(r);
	json_object_set_new(reply, "handles", cardea_session_list_handles(r->session));
	cardea_api_reply(r->ctx, reply);
}

/* ---- handle scope ---- */

static void admin_handle_info(admin_req *r) {
	cardea_handle *h = r->handle;
	cardea_session *s = r->session;
	gint64 now = g_get_monotonic_time();
	json_t *info = json_object();
	json_object_set_new(info, "session_id", json_integer((json_int_t)s->id));
	json_object_set_new(info, "session_last_activity", json_integer(__atomic_load_n(&s->last_activity, __ATOMIC_RELAXED)));
	json_object_set_new(info, "session_timeout", json_integer(g_atomic_int_get(&s->timeout) >= 0 ?
		g_atomic_int_get(&s->timeout) : g_atomic_int_get(&cardea_gw->settings.session_timeout)));
	g_mutex_lock(&s->mutex);
	const char *transport = s->source_transport ? s->source_transport->info->package : NULL;
	gboolean gone = s->gone_since != 0;
	g_mutex_unlock(&s->mutex);
	if (transport)
		json_object_set_new(info, "session_transport", json_string(transport));
	json_object_set_new(info, "session_transport_gone", json_boolean(gone));
	json_object_set_new(info, "handle_id", json_integer((json_int_t)h->id));
	if (h->opaque_id)
		json_object_set_new(info, "opaque_id", json_string(h->opaque_id));
	json_object_set_new(info, "created", json_integer(h->created));
	json_object_set_new(info, "current_time", json_integer(now));
	json_object_set_new(info, "plugin", json_string(h->plugin->info->package));
	cardea_plugin_session *app = h->app;
	if (app && !g_atomic_int_get(&h->detached)) {
		json_t *specific = h->plugin->ops.plugin.query_session(app);
		if (specific)
			json_object_set_new(info, "plugin_specific", specific);
	}
	g_mutex_lock(&h->mutex);
	guint pending = g_queue_get_length(&h->pending_candidates);
	g_mutex_unlock(&h->mutex);
	json_object_set_new(info, "flags", json_pack("{s:b, s:b}",
		"server-offer-pending", g_atomic_int_get(&h->server_offer_pending),
		"detached", g_atomic_int_get(&h->detached)));
	json_object_set_new(info, "pending-trickles", json_integer(pending));
	/* ICE, DTLS and per-m-line stats (null before the first jsep). */
	json_object_set_new(info, "webrtc", cardea_pc_info(h));
	json_t *reply = success(r);
	json_object_set_new(reply, "info", info);
	cardea_api_reply(r->ctx, reply);
}

static void admin_detach_handle(admin_req *r) {
	cardea_api_reply(r->ctx, success(r));
	cardea_handle_detach(r->handle, TRUE);
}

static void admin_hangup_webrtc(admin_req *r) {
	cardea_api_reply(r->ctx, success(r));
	cardea_pc_hangup(r->handle, "Admin API");
}

static const admin_entry global_requests[] = {
	{ "get_status", admin_get_status },
	{ "set_log_level", admin_set_log_level },
	{ "accept_new_sessions", admin_accept_new_sessions },
	{ "set_session_timeout", admin_set_session_timeout },
	{ "list_sessions", admin_list_sessions },
	{ "add_token", admin_add_token },
	{ "allow_token", admin_allow_token },
	{ "disallow_token", admin_disallow_token },
	{ "list_tokens", admin_list_tokens },
	{ "remove_token", admin_remove_token },
	{ "message_plugin", admin_message_plugin },
	{ "query_transport", admin_query_transport },
	{ "query_eventhandler", admin_query_eventhandler },
	{ "list_auth", admin_list_auth },
	{ "auth_request", admin_auth_request },
	{ "metrics", admin_metrics },
	{ NULL, NULL },
};

static const admin_entry session_requests[] = {
	{ "destroy_session", admin_destroy_session },
	{ "list_handles", admin_list_handles },
	{ "set_session_timeout", admin_set_session_timeout },
	{ NULL, NULL },
};

static const admin_entry handle_requests[] = {
	{ "handle_info", admin_handle_info },
	{ "detach_handle", admin_detach_handle },
	{ "hangup_webrtc", admin_hangup_webrtc },
	{ NULL, NULL },
};

static admin_fn lookup(const admin_entry *table, const char *verb) {
	for (; table->verb; table++)
		if (strcmp(table->verb, verb) == 0)
			return table->fn;
	return NULL;
}

/* Janus answers every verb it does not serve at a scope, known or not, with 457. */
static void reply_not_here(admin_req *r) {
	char *reason = g_strdup_printf("Unhandled request '%s' at this path", r->env->verb);
	fail(r, CARDEA_ERROR_INVALID_REQUEST_PATH, reason);
	g_free(reason);
}

void cardea_admin_handle(const cardea_api_ctx *ctx, json_t *root, const cardea_api_envelope *env) {
	admin_req r = { ctx, root, env, NULL, NULL };
	gboolean scoped = env->has_session || env->has_handle;
	if (!scoped && strcmp(env->verb, "info") == 0) {
		cardea_api_reply(ctx, cardea_api_server_info(env->transaction));
		return;
	}
	if (!scoped && strcmp(env->verb, "ping") == 0) {
		cardea_api_reply(ctx, json_pack("{s:s, s:s}", "janus", "pong", "transaction", env->transaction));
		return;
	}
	const char *secret = cardea_gw->settings.admin_secret;
	if (secret != NULL && !cardea_secret_equal(json_string_value(json_object_get(root, "admin_secret")), secret)) {
		cardea_api_reply_error(ctx, 0, env->transaction, CARDEA_ERROR_UNAUTHORIZED, NULL);
		return;
	}
	if (!scoped) {
		admin_fn fn = lookup(global_requests, env->verb);
		if (fn)
			fn(&r);
		else
			reply_not_here(&r);
		return;
	}
	if (!env->has_session || env->session_id < 1) {
		cardea_api_reply_error(ctx, 0, env->transaction, CARDEA_ERROR_SESSION_NOT_FOUND, "No such session");
		return;
	}
	cardea_session *s = cardea_session_find((guint64)env->session_id);
	if (s == NULL) {
		char *reason = g_strdup_printf("No such session %"G_GINT64_FORMAT, (gint64)env->session_id);
		cardea_api_reply_error(ctx, (guint64)env->session_id, env->transaction, CARDEA_ERROR_SESSION_NOT_FOUND, reason);
		g_free(reason);
		return;
	}
	r.session = s;
	if (!env->has_handle) {
		admin_fn fn = lookup(session_requests, env->verb);
		if (fn)
			fn(&r);
		else
			reply_not_here(&r);
		cardea_session_unref(s);
		return;
	}
	cardea_handle *h = env->handle_id > 0 ? cardea_handle_find(s, (guint64)env->handle_id) : NULL;
	if (h == NULL) {
		char *reason = g_strdup_printf("No such handle %"G_GINT64_FORMAT" in session %"G_GUINT64_FORMAT,
			(gint64)env->handle_id, s->id);
		fail(&r, CARDEA_ERROR_HANDLE_NOT_FOUND, reason);
		g_free(reason);
		cardea_session_unref(s);
		return;
	}
	r.handle = h;
	admin_fn fn = lookup(handle_requests, env->verb);
	if (fn)
		fn(&r);
	else
		reply_not_here(&r);
	cardea_handle_unref(h);
	cardea_session_unref(s);
}
