/* Cardea SDK: transport modules (HTTP, WebSocket, ...).
 *
 * A transport owns its sockets and I/O threads. It turns each incoming
 * request into raw JSON text and hands it to the core with
 * core->incoming_request(); it never parses or validates the Janus API
 * itself. The core answers later, from one of its own threads, through the
 * transport's send_message(). The core never calls a transport callback while
 * holding a core lock, and a transport must not call into the core while
 * holding a lock that send_message() also takes.
 *
 * Connections are represented to the core by a cardea_transport_session (one
 * per WebSocket connection; for HTTP one shared object is enough, because
 * HTTP events are routed by session id into per-session long-poll queues).
 */
#ifndef CARDEA_TRANSPORT_H
#define CARDEA_TRANSPORT_H

#include <stdbool.h>
#include <jansson.h>
#include "cardea/module.h"
#include "cardea/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One transport connection as the core sees it. Refcounted: created by the
 * transport with cardea_transport_session_new() (count 1, owned by the
 * transport); the core takes its own refs for every gateway session bound to
 * it. When the connection goes away the transport calls
 * core->transport_gone() and then drops its ref. `transport_p` is the
 * transport's own per-connection state, freed with `free_p` when the last ref
 * goes, on whatever thread drops it. */
typedef struct cardea_transport_session {
	void *transport_p;                      /* owned by the transport */
	void (*free_p)(void *transport_p);      /* may be NULL */
	volatile gint gone;                     /* set by transport_gone(): do not send any more */
	cardea_refcount ref;
} cardea_transport_session;

CARDEA_SDK_API cardea_transport_session *cardea_transport_session_new(void *transport_p, void (*free_p)(void *));
CARDEA_SDK_API void cardea_transport_session_ref(cardea_transport_session *ts);
CARDEA_SDK_API void cardea_transport_session_unref(cardea_transport_session *ts);

typedef struct cardea_transport cardea_transport;

/* Reads general.json ("indented", "plain" or "compact", the Janus styles;
 * default compact) into jansson dump flags, so every transport formats
 * replies the same way for the same setting. */
CARDEA_SDK_API gboolean cardea_transport_read_json_style(const cardea_config *config, size_t *flags, GError **error);

/* Services the core gives transports. Every function is thread-safe and
 * returns quickly (nothing here runs plugin code on the caller's thread). */
typedef struct cardea_transport_core {
	/* Queue a request. `text` is the raw body (not NUL-terminated necessarily),
	 * copied before return. `request_id` is the transport's opaque cookie for
	 * this request: exactly one send_message() with the same request_id answers
	 * it (a reply, an ack or an error). `path_session_id`/`path_handle_id` are
	 * ids the transport took from a URL (0 when none); the core copies them
	 * into the request and answers 457 when the body disagrees. `admin` selects
	 * the Admin API. */
	void (*incoming_request)(cardea_transport *transport, cardea_transport_session *ts,
		void *request_id, bool admin, const char *text, size_t len,
		guint64 path_session_id, guint64 path_handle_id);
	/* The connection is gone (socket closed): sessions it owns start their
	 * reclaim window (or are destroyed when reclaim_session_timeout is 0). */
	void (*transport_gone)(cardea_transport *transport, cardea_transport_session *ts);
	/* Credentials check for transport-level operations that are not API
	 * requests (the HTTP long poll). Either may be NULL. */
	bool (*check_api_auth)(const char *apisecret, const char *token);
	/* Refreshes a session's activity timer, as a request naming it would.
	 * Returns false when no such session exists. */
	bool (*session_keepalive)(guint64 session_id);
	/* Configuration paths the module may need. */
	const char *configs_folder;
	const char *html_folder;      /* demo pages, for optional static serving */
	/* incoming_request plus the client's address (IP as text; NULL or ""
	 * when unknown), which the core gives the auth module as remote_addr.
	 * Prefer it when not NULL (older cores leave the slot NULL). */
	void (*incoming_request_from)(cardea_transport *transport, cardea_transport_session *ts,
		void *request_id, bool admin, const char *text, size_t len,
		guint64 path_session_id, guint64 path_handle_id, const char *remote_addr);
	/* ICE restart without an SDP offer (WHIP/WHEP PATCH, RFC 9725 4.3.3):
	 * the PeerConnection of handle `handle_id` of session `session_id`, a
	 * session bound to `ts`, restarts ICE with the peer's new credentials
	 * (`ufrag` 4-256 and `pwd` 22-256 ice-chars, RFC 8839 5.4). DTLS, SRTP
	 * and the negotiated media carry on; our candidates move to new ports.
	 * Any thread; waits for the PC's media loop and for its new candidates
	 * (at most 1 s: STUN/TURN ones need the network). Returns 0 and *local, a
	 * new object {"ufrag", "pwd": our new credentials, "candidates": our
	 * candidates as "candidate:..." strings, "complete": gathering is over,
	 * "lite": we are ICE lite}; the peer's new candidates then come as
	 * ordinary trickle requests. Otherwise a Janus error code and nothing
	 * changed: 458/459 no such session (or not bound to `ts`) / handle,
	 * 465 bad credentials, 471 no live transport (or a gateway offer is
	 * waiting for its answer). NULL in older cores. */
	int (*ice_restart)(cardea_transport_session *ts, guint64 session_id, guint64 handle_id,
		const char *ufrag, const char *pwd, json_t **local);
	void *_reserved[6];
} cardea_transport_core;

struct cardea_transport {
	cardea_module_info info;
	/* Called once on the main thread. `config_path` is the module's own
	 * cardea.transport.<name>.jcfg (may not exist: use defaults). Return 0 on
	 * success; a negative value makes the daemon refuse to start (use it for
	 * a broken config, with the FILE:LINE message logged). */
	int (*init)(const cardea_transport_core *core, const char *config_path);
	/* Called once on the main thread at shutdown, after the core stopped
	 * feeding it; must close every port and join every thread it started. */
	void (*destroy)(void);
	bool (*is_janus_api_enabled)(void);
	bool (*is_admin_api_enabled)(void);
	/* Delivers one message (`message` is owned by the transport from here on:
	 * json_decref it when done). `request_id` is the cookie of the request this
	 * answers, or NULL for an asynchronous event of a session bound to `ts`.
	 * Called from core threads; must not block on the network. Returns 0 if
	 * queued, negative if `ts` is gone. */
	int (*send_message)(cardea_transport_session *ts, void *request_id, bool admin, json_t *message);
	/* A gateway session was created on (or claimed by) `ts`: HTTP creates its
	 * long-poll queue for it. */
	void (*session_created)(cardea_transport_session *ts, guint64 session_id);
	/* A gateway session bound to `ts` ended (destroy, timeout) or was claimed
	 * away by another connection. */
	void (*session_over)(cardea_transport_session *ts, guint64 session_id, bool timeout, bool claimed);
	/* Optional: admin query_transport. Returns a new reference or NULL. */
	json_t *(*query_transport)(json_t *request);
	void *_reserved[8];
};

#ifdef __cplusplus
}
#endif
#endif
