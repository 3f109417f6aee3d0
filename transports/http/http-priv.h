/* HTTP transport internals shared between its files:
 *   http.c         module entry, init/destroy, listeners, core callbacks
 *   http-config.c  reading cardea.transport.http.jcfg
 *   http-request.c the MHD access handler: routing, CORS, replies to POSTs
 *   http-poll.c    per-session long-poll queues and the timer thread
 *   http-static.c  optional static file serving
 * Nothing here is visible outside the module (-fvisibility=hidden).
 *
 * Threads:
 *   - MHD worker thread(s) (one per listener, or `threads` per listener) run
 *     the access handler and the completion callback; a connection always
 *     stays on the same worker.
 *   - Core threads call send_message/session_created/session_over.
 *   - Our timer thread (a GMainContext) expires long polls and frees the
 *     queues of ended sessions.
 *   - The main thread runs init and destroy.
 *
 * Locking: one mutex, cardea_http.lock, guards `waiting`, `sessions`, every
 * http_session and the mutable fields of every registered http_req. It is a
 * leaf lock: while holding it we never call the core, never suspend or
 * resume an MHD connection and never queue a response (STYLE.md rule 13);
 * only GLib source bookkeeping (attach/destroy on our own timer context)
 * happens under it.
 *
 * Suspend/resume protocol (the one subtle part): a request that must wait
 * (for the core's answer or for events) is first suspended by its MHD worker
 * with MHD_suspend_connection(), and only then registered under the lock.
 * Whoever completes it later (core thread, timer thread, destroy) takes it
 * out of every table under the lock, stores the answer and marks it READY,
 * and calls MHD_resume_connection() after unlocking. Because a request is
 * reachable only while registered and only one thread can unregister it,
 * each suspension is resumed exactly once, and never before it happened.
 * MHD then calls the access handler again, which sends the stored answer.
 */
#ifndef CARDEA_HTTP_PRIV_H
#define CARDEA_HTTP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include <jansson.h>
#include <microhttpd.h>

#include "cardea/transport.h"
#include "cardea/security.h"

/* ---- settings (http-config.c) ---- */

typedef enum http_listener_kind {
	HTTP_LISTENER_HTTP = 0,
	HTTP_LISTENER_HTTPS,
	HTTP_LISTENER_ADMIN_HTTP,
	HTTP_LISTENER_ADMIN_HTTPS,
	HTTP_LISTENER_COUNT
} http_listener_kind;

typedef struct http_listener_conf {
	bool enabled;
	bool admin;               /* Admin API rather than Janus API */
	bool secure;              /* HTTPS */
	int port;
	char *ip;                 /* owned; bind address, NULL = all interfaces */
} http_listener_conf;

/* Everything read from the config file. Filled on the main thread during
 * init, read-only afterwards (any thread may read it). */
typedef struct http_settings {
	size_t json_flags;                      /* jansson dump flags */
	char *base_path;                        /* owned; "/janus": no trailing slash, "" = root */
	char *admin_base_path;                  /* owned; "/admin", same form */
	http_listener_conf listeners[HTTP_LISTENER_COUNT];
	int threads;                            /* MHD thread pool size per listener, 0/1 = one thread */
	size_t max_body_size;                   /* bytes */
	int max_connections;                    /* per listener, 0 = MHD default */
	int long_poll_timeout;                  /* seconds a GET waits for events */
	int connection_timeout;                 /* s without any traffic before MHD closes (idle) */
	int request_timeout;                    /* s for a whole request to arrive (slowloris), 0 = off */
	unsigned int requests_per_second;       /* per connection, 0 = unlimited */
	unsigned int requests_burst;
	char *allow_origin;                     /* owned, NULL = "*" */
	bool enforce_cors;
	char *cert_pem, *cert_key, *cert_pwd;   /* owned file paths / password, NULL when unset */
	bool static_enabled;
	char *static_folder;                    /* owned; NULL when static serving is off */
	char *static_path;                      /* owned; URL prefix, same form as base_path */
} http_settings;

#define HTTP_DEFAULT_PORT 8088
#define HTTP_DEFAULT_SECURE_PORT 8089
#define HTTP_DEFAULT_ADMIN_PORT 7088
#define HTTP_DEFAULT_ADMIN_SECURE_PORT 7889
#define HTTP_DEFAULT_MAX_BODY (1024 * 1024)
#define HTTP_DEFAULT_LONG_POLL 30
#define HTTP_DEFAULT_CONNECTION_TIMEOUT 60
#define HTTP_DEFAULT_REQUEST_TIMEOUT 30

/* Reads `path` into `out` (defaults when the file does not exist);
 * `html_folder` is the default static folder. Returns false and sets *error
 * ("FILE:LINE: ...") when the file cannot be used. `out` must be cleared with
 * cardea_http_settings_clear() either way. */
bool cardea_http_settings_load(const char *path, const char *html_folder, http_settings *out, GError **error);
void cardea_http_settings_clear(http_settings *s);
const char *cardea_http_listener_name(http_listener_kind kind);

/* ---- module state (http.c) ---- */

typedef struct http_listener {
	http_listener_kind kind;
	const http_listener_conf *conf;   /* borrowed from settings */
	struct MHD_Daemon *daemon;        /* owned; NULL when not started */
} http_listener;

typedef struct http_module {
	cardea_transport *self;                 /* borrowed: our own module struct */
	const cardea_transport_core *core;      /* borrowed, valid init..destroy */
	http_settings settings;
	cardea_transport_session *ts;           /* owned ref: the one session for all HTTP traffic */
	http_listener listeners[HTTP_LISTENER_COUNT];
	char *static_root;                      /* owned; realpath of the static folder, NULL = off */

	GMutex lock;                            /* see the header comment */
	GHashTable *waiting;                    /* rid -> http_req* (borrowed): requests parked for an answer */
	GHashTable *sessions;                   /* guint64* -> http_session* (owned): long-poll queues */
	guint64 next_rid;                       /* 0 is never used */
	bool stopping;                          /* destroy started: nothing new may park */

	gint live_reqs;                         /* atomic: http_req objects alive (destroy waits for 0) */
	gint closing;                           /* atomic: teardown began; requests still arriving on
	                                         * kept-alive connections get 503 and touch nothing else */

	/* Abuse resistance (http.c): every open connection's http_conn, so the
	 * timer thread can drop those that take too long to send a request.
	 * guard_lock is a leaf lock of its own (never taken with `lock`). */
	GMutex guard_lock;
	GHashTable *conns;                      /* http_conn* set, entries owned */
	GSource *guard;                         /* owned; request_timeout sweep on timer_ctx */
	volatile gint rate_limited;             /* requests refused by requests_per_second */
	volatile gint slow_dropped;             /* connections dropped by request_timeout */

	GMainContext *timer_ctx;                /* owned; driven by timer_thread */
	GMainLoop *timer_loop;                  /* owned */
	GThread *timer_thread;                  /* owned, joined in destroy */
} http_module;

extern http_module cardea_http;

/* ---- connections (http.c) ---- */

/* One TCP connection (MHD's socket context), from MHD's STARTED to CLOSED
 * notification. `bucket` is touched only by the connection's MHD worker;
 * `deadline_us` under guard_lock. */
typedef struct http_conn {
	MHD_socket fd;
	cardea_token_bucket bucket;       /* requests_per_second */
	gint64 deadline_us;               /* the current request must be in by then; 0 = being served */
	bool dropped;                     /* shut down by the guard */
} http_conn;

/* The connection's http_conn (NULL if MHD has none, e.g. at shutdown). */
http_conn *cardea_http_conn_of(struct MHD_Connection *conn);
/* The whole request is in (stop its clock) / its response is done (the
 * next request's clock starts). MHD worker of the connection. */
void cardea_http_conn_request_in(http_conn *hc);
void cardea_http_conn_request_done(http_conn *hc);

/* ---- requests (http-request.c) ---- */

typedef enum http_req_state {
	HTTP_REQ_READING = 0,    /* headers seen, body (if any) arriving */
	HTTP_REQ_WAITING,        /* suspended and registered under `rid` */
	HTTP_REQ_READY,          /* answer stored, connection resumed */
	HTTP_REQ_DONE,           /* response queued */
} http_req_state;

/* One HTTP request. Created by the access handler on its first call for a
 * request, freed by the completion callback; both run on the connection's
 * MHD worker. While WAITING, other threads may touch `state`, `reply`,
 * `status`, `rid` and `timeout`, under the lock only. */
typedef struct http_req {
	struct MHD_Connection *conn;      /* borrowed: valid until the completion callback */
	const http_listener *listener;    /* borrowed */
	http_req_state state;
	bool is_poll;                     /* a GET long poll (else an API request) */
	bool is_metrics;                  /* GET /metrics on an admin listener: answer as Prometheus text */
	bool is_whip;                     /* a WHIP/WHEP request (whip.c builds the response) */
	bool too_large;                   /* body exceeded max_body_size: being discarded */
	GByteArray *body;                 /* owned; NULL once submitted or discarded */
	size_t discarded;                 /* body bytes dropped after the limit */
	guint64 path_session, path_handle;
	guint64 rid;                      /* key in cardea_http.waiting while WAITING, else 0 */
	json_t *reply;                    /* owned; the JSON to send once READY */
	unsigned int status;              /* bare HTTP status to send when READY and reply is NULL */
	/* long poll only */
	guint64 session_id;
	int maxev;
	GSource *timeout;                 /* owned ref while parked */
} http_req;

enum MHD_Result cardea_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload_data,
	size_t *upload_data_size, void **req_cls);
void cardea_http_request_completed(void *cls, struct MHD_Connection *conn,
	void **req_cls, enum MHD_RequestTerminationCode toe);

/* Answers the request registered under `rid` with `reply` (stolen). A late
 * answer for a request that is gone is dropped. Any thread. */
void cardea_http_reply(guint64 rid, json_t *reply);

/* Under the lock: takes a WAITING request out of `waiting`, stores the
 * answer (reply stolen; NULL + status for a bare status) and marks it READY.
 * The caller must MHD_resume_connection(req->conn) after unlocking; the
 * connection pointer is returned for that. */
struct MHD_Connection *cardea_http_req_complete_locked(http_req *req, json_t *reply, unsigned int status);

/* Registers a suspended request under a new rid; lock held. */
void cardea_http_req_register_locked(http_req *req);

/* Queues a JSON response (json stolen) with the CORS headers. */
enum MHD_Result cardea_http_send_json(struct MHD_Connection *conn, unsigned int status, json_t *json, bool close);
/* Queues an empty response with the CORS headers. */
enum MHD_Result cardea_http_send_status(struct MHD_Connection *conn, unsigned int status);
/* Adds the CORS headers of §4.3 to a response. */
void cardea_http_add_cors(struct MHD_Connection *conn, struct MHD_Response *resp);
/* The client's IP as text into buf ("?" when unknown); returns it. */
const char *cardea_http_peer(struct MHD_Connection *conn, char *buf, size_t size);
/* Hands a request to the core with the client's address (remote_addr may be NULL). */
void cardea_http_incoming(cardea_transport_session *ts, void *request_id, bool admin, const char *text,
	size_t len, guint64 path_session, guint64 path_handle, const char *remote_addr);
/* {"janus":"error","error":{"code":N,"reason":"..."}} */
json_t *cardea_http_error_json(int code, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* ---- long polls (http-poll.c) ---- */

typedef struct http_session {
	guint64 id;
	GQueue events;            /* json_t*, owned: waiting for a poll */
	GQueue polls;             /* http_req*, borrowed: parked polls (each also in `waiting`) */
	bool over;                /* session ended: deliver what is queued, then free */
	gint64 over_since;        /* monotonic us */
} http_session;

/* Creates `waiting`, `sessions` and the timer thread; main thread. */
bool cardea_http_poll_init(void);
/* Sets `stopping`, completes every parked request (polls get a keepalive,
 * API requests an error), frees every queue and stops the timer thread.
 * Main thread, before the MHD daemons are stopped. */
void cardea_http_poll_shutdown(void);
/* Frees the tables; main thread, after the MHD daemons are stopped. */
void cardea_http_poll_free(void);
/* Takes a parked poll off its session's list; lock held. */
void cardea_http_poll_forget_locked(http_req *req);
void cardea_http_session_created(guint64 session_id);
void cardea_http_session_over(guint64 session_id);
/* Routes an async event (stolen) to its session's queue. Any thread. */
int cardea_http_event(json_t *event);
/* Handles GET {base}/{s}: answers at once or parks the request. MHD worker. */
enum MHD_Result cardea_http_poll_start(http_req *req, guint64 session_id);
/* Builds the body a poll with `maxev` sends for `events` (stolen, may be
 * empty): an object when maxev <= 1, else an array; keepalive when empty. */
json_t *cardea_http_poll_body(int maxev, json_t *events);
/* Counters for query_transport; lock held by the caller. */
void cardea_http_poll_stats_locked(json_t *into);

/* ---- static files (http-static.c) ---- */

/* True when `url` falls under the static prefix (and static serving is on). */
bool cardea_http_static_matches(const char *url);
/* Serves a GET/HEAD for `url` from the static folder (404 when missing). */
enum MHD_Result cardea_http_static_serve(struct MHD_Connection *conn, const char *url);

#endif
