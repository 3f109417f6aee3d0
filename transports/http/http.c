/* HTTP transport (libmicrohttpd): the Janus API as REST + long poll
 * (janus-api.md §4) and the Admin API on its own listener (§6), plus
 * optional static file serving for the demo pages.
 *
 * This file holds the module entry, init/destroy, the listeners and the
 * callbacks the core calls. The request handling lives in http-request.c,
 * the long polls in http-poll.c; http-priv.h describes threads and locking.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cardea/module.h"
#include "cardea/transport.h"
#include "http-priv.h"
#include "whip.h"

http_module cardea_http;

/* TLS material read at init; MHD may refer to it for the daemon's lifetime. */
static char *http_cert_text, *http_key_text;    /* owned */
/* MHD reports bind failures and the like at start-up (worth a warning) and
 * client misbehaviour later (not worth flooding the log with). */
static gint http_started;

static cardea_transport http_transport;

/* ---- listeners ---- */

static void http_mhd_log(void *cls, const char *fmt, va_list ap) {
	int level = g_atomic_int_get(&http_started) ? CARDEA_LOG_VERB : CARDEA_LOG_WARN;
	if (level > cardea_log_level)
		return;
	char *text = g_strdup_vprintf(fmt, ap);
	g_strchomp(text);
	CARDEA_LOG(level, "[http] libmicrohttpd: %s", text);
	g_free(text);
}

/* ---- connections: rate limit state and the slowloris guard ----
 *
 * libmicrohttpd's connection timeout only fires after that long *without
 * any* traffic, so a client sending its headers a byte a second holds a
 * connection forever. The guard gives each request request_timeout seconds
 * from the connection's start (or the previous response) to arrive in full;
 * the timer thread shuts the socket of a connection past its deadline down,
 * and MHD then closes it as a peer that went away. The fd stays valid while
 * we may touch it: MHD reports CLOSED (which takes the entry out under
 * guard_lock) before it closes the socket. */

http_conn *cardea_http_conn_of(struct MHD_Connection *conn) {
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info ? info->socket_context : NULL;
}

static gint64 http_request_deadline(void) {
	int t = cardea_http.settings.request_timeout;
	return t > 0 ? g_get_monotonic_time() + (gint64)t * G_USEC_PER_SEC : 0;
}

void cardea_http_conn_request_in(http_conn *hc) {
	if (hc == NULL)
		return;
	g_mutex_lock(&cardea_http.guard_lock);
	hc->deadline_us = 0;
	g_mutex_unlock(&cardea_http.guard_lock);
}

void cardea_http_conn_request_done(http_conn *hc) {
	if (hc == NULL)
		return;
	gint64 deadline = http_request_deadline();
	g_mutex_lock(&cardea_http.guard_lock);
	hc->deadline_us = deadline;
	g_mutex_unlock(&cardea_http.guard_lock);
}

/* MHD worker of the connection. */
static void http_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
		enum MHD_ConnectionNotificationCode toe) {
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		http_conn *hc = g_new0(http_conn, 1);
		const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		hc->fd = info ? info->connect_fd : MHD_INVALID_SOCKET;
		cardea_token_bucket_init(&hc->bucket, cardea_http.settings.requests_per_second,
			cardea_http.settings.requests_burst);
		hc->deadline_us = http_request_deadline();
		g_mutex_lock(&cardea_http.guard_lock);
		g_hash_table_add(cardea_http.conns, hc);
		g_mutex_unlock(&cardea_http.guard_lock);
		*socket_context = hc;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context != NULL) {
		g_mutex_lock(&cardea_http.guard_lock);
		g_hash_table_remove(cardea_http.conns, *socket_context);   /* frees it */
		g_mutex_unlock(&cardea_http.guard_lock);
		*socket_context = NULL;
	}
}

/* Timer thread, twice a second. */
static gboolean http_guard_sweep(gpointer data) {
	gint64 now = g_get_monotonic_time();
	int dropped = 0;
	g_mutex_lock(&cardea_http.guard_lock);
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, cardea_http.conns);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		http_conn *hc = key;
		if (hc->dropped || hc->deadline_us == 0 || now < hc->deadline_us || hc->fd == MHD_INVALID_SOCKET)
			continue;
		shutdown(hc->fd, SHUT_RDWR);
		hc->dropped = true;
		dropped++;
	}
	g_mutex_unlock(&cardea_http.guard_lock);
	if (dropped > 0) {
		g_atomic_int_add(&cardea_http.slow_dropped, dropped);
		CARDEA_LOG(CARDEA_LOG_WARN, "[http] dropped %d connection(s) that took over %d s to send a request "
			"(request_timeout)", dropped, cardea_http.settings.request_timeout);
	}
	return G_SOURCE_CONTINUE;
}

static void http_guard_start(void) {
	if (cardea_http.settings.request_timeout <= 0 || cardea_http.timer_ctx == NULL)
		return;
	cardea_http.guard = g_timeout_source_new(500);
	g_source_set_callback(cardea_http.guard, http_guard_sweep, NULL, NULL);
	g_source_attach(cardea_http.guard, cardea_http.timer_ctx);
}

static void http_guard_stop(void) {
	if (cardea_http.guard != NULL) {
		g_source_destroy(cardea_http.guard);
		g_source_unref(cardea_http.guard);
		cardea_http.guard = NULL;
	}
}

static const char *http_listener_path(const http_listener *l) {
	const char *p = l->conf->admin ? cardea_http.settings.admin_base_path : cardea_http.settings.base_path;
	return *p ? p : "/";
}

static bool http_listener_start(http_listener *l) {
	const http_settings *s = &cardea_http.settings;
	const http_listener_conf *c = l->conf;
	const char *name = cardea_http_listener_name(l->kind);
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_AUTO;
	if (c->secure)
		flags |= MHD_USE_TLS;

	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	const struct sockaddr *addr = NULL;
	if (c->ip != NULL) {
		memset(&sin, 0, sizeof(sin));
		memset(&sin6, 0, sizeof(sin6));
		if (inet_pton(AF_INET, c->ip, &sin.sin_addr) == 1) {
			sin.sin_family = AF_INET;
			sin.sin_port = htons((uint16_t)c->port);
			addr = (const struct sockaddr *)&sin;
		} else if (inet_pton(AF_INET6, c->ip, &sin6.sin6_addr) == 1) {
			sin6.sin6_family = AF_INET6;
			sin6.sin6_port = htons((uint16_t)c->port);
			addr = (const struct sockaddr *)&sin6;
			flags |= MHD_USE_IPv6;
		}
	}

	struct MHD_OptionItem opts[14];
	int n = 0;
	/* The logger first, or MHD complains that earlier options could log elsewhere. */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_mhd_log, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
		(intptr_t)cardea_http_request_completed, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)http_notify_connection, NULL };
	/* Connections without any traffic; suspended requests (parked polls,
	 * requests waiting for the core) do not time out. Slow senders are the
	 * guard's business (request_timeout). */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, s->connection_timeout, NULL };
	if (s->threads > 1)
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, s->threads, NULL };
	if (s->max_connections > 0)
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, s->max_connections, NULL };
	if (addr != NULL)
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, (void *)addr };
	if (c->secure) {
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, http_cert_text };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, http_key_text };
		if (s->cert_pwd != NULL)
			opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_KEY_PASSWORD, 0, s->cert_pwd };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	g_assert(n <= (int)G_N_ELEMENTS(opts));

	if (addr == NULL) {
		/* All interfaces: dual stack when the host has IPv6, else IPv4. */
		l->daemon = MHD_start_daemon(flags | MHD_USE_DUAL_STACK, (uint16_t)c->port, NULL, NULL,
			cardea_http_handler, l, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	}
	if (l->daemon == NULL) {
		l->daemon = MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL,
			cardea_http_handler, l, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	}
	if (l->daemon == NULL) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[http] cannot start the %s listener on %s port %d "
			"(port in use, address not local, or bad certificate?)",
			name, c->ip ? c->ip : "all interfaces", c->port);
		return false;
	}
	CARDEA_LOG(CARDEA_LOG_INFO, "[http] %s API listening on %s://%s:%d%s", c->admin ? "Admin" : "Janus",
		c->secure ? "https" : "http", c->ip ? c->ip : "*", c->port, http_listener_path(l));
	return true;
}

/* ---- lifecycle (main thread) ---- */

static bool http_load_tls(void) {
	const http_settings *s = &cardea_http.settings;
	if (!s->listeners[HTTP_LISTENER_HTTPS].enabled && !s->listeners[HTTP_LISTENER_ADMIN_HTTPS].enabled)
		return true;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[http] https/admin_https is enabled, but this libmicrohttpd "
			"was built without TLS (GnuTLS) support");
		return false;
	}
	if (s->cert_pwd != NULL && MHD_is_feature_supported(MHD_FEATURE_HTTPS_KEY_PASSWORD) != MHD_YES) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[http] certificates.cert_pwd is set, but this libmicrohttpd "
			"cannot read password-protected keys");
		return false;
	}
	GError *error = NULL;
	if (!g_file_get_contents(s->cert_pem, &http_cert_text, NULL, &error) ||
			!g_file_get_contents(s->cert_key, &http_key_text, NULL, &error)) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[http] cannot read the HTTPS certificate or key: %s", error->message);
		g_error_free(error);
		return false;
	}
	return true;
}

/* Static serving is a convenience: a missing folder disables it with a
 * warning rather than keeping the gateway down. */
static void http_setup_static(void) {
	const http_settings *s = &cardea_http.settings;
	if (!s->static_enabled)
		return;
	char real[PATH_MAX];
	if (realpath(s->static_folder, real) == NULL || !g_file_test(real, G_FILE_TEST_IS_DIR)) {
		CARDEA_LOG(CARDEA_LOG_WARN, "[http] static folder %s is not a readable folder: static serving disabled",
			s->static_folder);
		return;
	}
	cardea_http.static_root = g_strdup(real);
	CARDEA_LOG(CARDEA_LOG_INFO, "[http] serving %s at %s/", real, s->static_path);
	if (!*s->base_path)
		CARDEA_LOG(CARDEA_LOG_WARN, "[http] base_path is \"/\": the API shadows every static file");
}

static void http_teardown(void) {
	g_atomic_int_set(&cardea_http.closing, 1);
	http_guard_stop();
	cardea_whip_shutdown();
	cardea_http_poll_shutdown();
	/* Stop accepting, then give the requests just answered a moment to go
	 * out before the daemons drop every connection. */
	for (int i = 0; i < HTTP_LISTENER_COUNT; i++) {
		if (cardea_http.listeners[i].daemon != NULL) {
			MHD_socket fd = MHD_quiesce_daemon(cardea_http.listeners[i].daemon);
			if (fd != MHD_INVALID_SOCKET)
				close(fd);
		}
	}
	gint64 deadline = g_get_monotonic_time() + 300 * G_TIME_SPAN_MILLISECOND;
	while (g_atomic_int_get(&cardea_http.live_reqs) > 0 && g_get_monotonic_time() < deadline)
		g_usleep(5 * G_TIME_SPAN_MILLISECOND);
	for (int i = 0; i < HTTP_LISTENER_COUNT; i++) {
		if (cardea_http.listeners[i].daemon != NULL)
			MHD_stop_daemon(cardea_http.listeners[i].daemon);
		cardea_http.listeners[i].daemon = NULL;
	}
	cardea_http_poll_free();
	cardea_whip_free();
	/* The daemons are stopped: every connection reported CLOSED. */
	if (cardea_http.conns != NULL)
		g_hash_table_destroy(cardea_http.conns);
	cardea_http.conns = NULL;
	g_mutex_clear(&cardea_http.guard_lock);
	if (cardea_http.ts != NULL)
		cardea_transport_session_unref(cardea_http.ts);
	cardea_http.ts = NULL;
	g_free(http_cert_text);
	if (http_key_text != NULL)
		memset(http_key_text, 0, strlen(http_key_text));
	g_free(http_key_text);
	http_cert_text = http_key_text = NULL;
	g_free(cardea_http.static_root);
	cardea_http.static_root = NULL;
	cardea_http_settings_clear(&cardea_http.settings);
	g_mutex_clear(&cardea_http.lock);
	cardea_http.core = NULL;
	g_atomic_int_set(&http_started, 0);
}

static int http_init(const cardea_transport_core *core, const char *config_path) {
	if (core == NULL || core->incoming_request == NULL || core->check_api_auth == NULL ||
			core->session_keepalive == NULL)
		return -1;
	memset(&cardea_http, 0, sizeof(cardea_http));
	g_mutex_init(&cardea_http.lock);
	g_mutex_init(&cardea_http.guard_lock);
	cardea_http.conns = g_hash_table_new_full(g_direct_hash, g_direct_equal, g_free, NULL);
	cardea_http.self = &http_transport;
	cardea_http.core = core;
	GError *error = NULL;
	if (!cardea_http_settings_load(config_path, core->html_folder, &cardea_http.settings, &error)) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[http] %s", error->message);
		g_error_free(error);
		cardea_http_settings_clear(&cardea_http.settings);
		g_mutex_clear(&cardea_http.lock);
		g_hash_table_destroy(cardea_http.conns);
		cardea_http.conns = NULL;
		g_mutex_clear(&cardea_http.guard_lock);
		cardea_http.core = NULL;
		return -1;
	}
	cardea_http.ts = cardea_transport_session_new(NULL, NULL);
	bool ok = http_load_tls() && cardea_http_poll_init() && cardea_whip_init(config_path);
	if (ok) {
		http_setup_static();
		http_guard_start();
	}
	int started = 0;
	for (int i = 0; ok && i < HTTP_LISTENER_COUNT; i++) {
		http_listener *l = &cardea_http.listeners[i];
		l->kind = (http_listener_kind)i;
		l->conf = &cardea_http.settings.listeners[i];
		if (!l->conf->enabled)
			continue;
		ok = http_listener_start(l);
		started += ok ? 1 : 0;
	}
	if (!ok) {
		http_teardown();
		return -1;
	}
	if (started == 0)
		CARDEA_LOG(CARDEA_LOG_WARN, "[http] every listener is disabled in %s: the HTTP transport does nothing",
			config_path ? config_path : "(defaults)");
	g_atomic_int_set(&http_started, 1);
	return 0;
}

static void http_destroy(void) {
	if (cardea_http.core == NULL)
		return;
	http_teardown();
	CARDEA_LOG(CARDEA_LOG_INFO, "[http] stopped");
}

static bool http_is_janus_api_enabled(void) {
	return cardea_http.settings.listeners[HTTP_LISTENER_HTTP].enabled ||
		cardea_http.settings.listeners[HTTP_LISTENER_HTTPS].enabled;
}

static bool http_is_admin_api_enabled(void) {
	return cardea_http.settings.listeners[HTTP_LISTENER_ADMIN_HTTP].enabled ||
		cardea_http.settings.listeners[HTTP_LISTENER_ADMIN_HTTPS].enabled;
}

/* ---- calls from the core (core threads) ---- */

static int http_send_message(cardea_transport_session *ts, void *request_id, bool admin, json_t *message) {
	if (message == NULL)
		return 0;
	if (cardea_whip_owns(ts))
		return cardea_whip_message(request_id, message);
	if (request_id == NULL)
		return cardea_http_event(message);
	cardea_http_reply((guint64)(uintptr_t)request_id, message);
	return 0;
}

static void http_session_created(cardea_transport_session *ts, guint64 session_id) {
	if (ts == cardea_http.ts)
		cardea_http_session_created(session_id);
}

static void http_session_over(cardea_transport_session *ts, guint64 session_id, bool timeout, bool claimed) {
	if (cardea_whip_owns(ts))
		cardea_whip_session_over(session_id);
	if (ts != cardea_http.ts)
		return;
	CARDEA_LOG(CARDEA_LOG_VERB, "[http] [session %"G_GUINT64_FORMAT"] long-poll queue ends (%s)", session_id,
		claimed ? "claimed by another connection" : timeout ? "timeout" : "destroyed");
	cardea_http_session_over(session_id);
}

/* Admin query_transport: the listeners and the long-poll bookkeeping, or
 * with {"request":"stats"} the abuse counters as flat numbers (the core
 * exports them in /metrics). */
static json_t *http_query_transport(json_t *request) {
	const char *what = json_string_value(json_object_get(request, "request"));
	if (what != NULL && strcmp(what, "stats") == 0) {
		g_mutex_lock(&cardea_http.guard_lock);
		guint open = cardea_http.conns ? g_hash_table_size(cardea_http.conns) : 0;
		g_mutex_unlock(&cardea_http.guard_lock);
		return json_pack("{sisisi}", "connections", (int)open,
			"requests_rate_limited", g_atomic_int_get(&cardea_http.rate_limited),
			"slow_connections_dropped", g_atomic_int_get(&cardea_http.slow_dropped));
	}
	json_t *listeners = json_object();
	for (int i = 0; i < HTTP_LISTENER_COUNT; i++) {
		const http_listener *l = &cardea_http.listeners[i];
		if (l->daemon == NULL)
			continue;
		json_object_set_new(listeners, cardea_http_listener_name(l->kind), json_pack("{sisssssbsb}",
			"port", l->conf->port, "ip", l->conf->ip ? l->conf->ip : "",
			"path", http_listener_path(l), "admin", l->conf->admin, "secure", l->conf->secure));
	}
	json_t *res = json_pack("{so}", "listeners", listeners);
	g_mutex_lock(&cardea_http.lock);
	if (cardea_http.sessions != NULL)
		cardea_http_poll_stats_locked(res);
	g_mutex_unlock(&cardea_http.lock);
	json_object_set_new(res, "static", cardea_http.static_root ? json_string(cardea_http.static_root) : json_null());
	return res;
}

static cardea_transport http_transport = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_TRANSPORT, cardea_transport),
		.package = "cardea.transport.http",
		.name = "http",
		.description = "Janus API (REST + long poll) and Admin API over HTTP/HTTPS (libmicrohttpd)",
		.author = "Cardea",
		.version_string = CARDEA_VERSION_STRING,
		.version = CARDEA_VERSION_NUMBER,
	},
	.init = http_init,
	.destroy = http_destroy,
	.is_janus_api_enabled = http_is_janus_api_enabled,
	.is_admin_api_enabled = http_is_admin_api_enabled,
	.send_message = http_send_message,
	.session_created = http_session_created,
	.session_over = http_session_over,
	.query_transport = http_query_transport,
};

CARDEA_MODULE_DEFINE(http_transport)
