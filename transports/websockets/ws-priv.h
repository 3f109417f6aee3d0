/* WebSocket transport internals shared between websockets.c (sockets,
 * threads) and ws-config.c (reading cardea.transport.websockets.jcfg).
 * Nothing here is visible outside the module (-fvisibility=hidden).
 */
#ifndef CARDEA_WS_PRIV_H
#define CARDEA_WS_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <glib.h>

/* The four listeners, in the order they are created and reported. */
typedef enum ws_listener_kind {
	WS_LISTENER_WS = 0,
	WS_LISTENER_WSS,
	WS_LISTENER_ADMIN_WS,
	WS_LISTENER_ADMIN_WSS,
	WS_LISTENER_COUNT
} ws_listener_kind;

typedef struct ws_listener_conf {
	bool enabled;
	bool admin;            /* Admin API (janus-admin-protocol) rather than Janus API */
	bool secure;           /* TLS */
	int port;
	char *ip;              /* owned; bind address or interface name, NULL = all */
	char **acl;            /* owned, NULL-terminated IP prefixes; empty = anyone */
} ws_listener_conf;

/* Everything the transport reads from its config file. Filled by
 * cardea_ws_settings_load() on the main thread during init, then read-only
 * for the lifetime of the module (any thread may read it). */
typedef struct ws_settings {
	size_t json_flags;                          /* jansson dump flags */
	ws_listener_conf listeners[WS_LISTENER_COUNT];
	size_t max_message_size;                    /* bytes, incoming, after reassembly */
	size_t max_queued_bytes;                    /* bytes waiting to be written, per connection */
	int pingpong_trigger;                       /* s of silence before a ping, 0 = off */
	int pingpong_timeout;                       /* s to wait for the pong, 0 = off */
	int lws_log_mask;                           /* LLL_* bits routed to our log */
	unsigned int requests_per_second;           /* per connection, 0 = unlimited */
	unsigned int requests_burst;                /* requests a connection may send at once */
	int max_connections;                        /* per listener, 0 = unlimited */
	char *cert_pem, *cert_key, *cert_pwd;       /* owned, NULL when unset */
	bool epoll;                                 /* event_loop = "epoll" (lws on a libev loop) */
} ws_settings;

#define WS_DEFAULT_PORT 8188
#define WS_DEFAULT_WSS_PORT 8989
#define WS_DEFAULT_ADMIN_PORT 7188
#define WS_DEFAULT_ADMIN_WSS_PORT 7989
#define WS_DEFAULT_MAX_MESSAGE_SIZE 262144
#define WS_DEFAULT_MAX_QUEUED_BYTES (8 * 1024 * 1024)
#define WS_DEFAULT_PINGPONG_TRIGGER 30
#define WS_DEFAULT_PINGPONG_TIMEOUT 10
#define WS_DEFAULT_REQUESTS_PER_SECOND 0

/* Reads `path` into `out` (defaults when the file does not exist). Returns
 * false and sets *error ("FILE:LINE: ...") when the file cannot be used.
 * `out` must be cleared with cardea_ws_settings_clear() either way. */
bool cardea_ws_settings_load(const char *path, ws_settings *out, GError **error);
void cardea_ws_settings_clear(ws_settings *s);

/* Human-readable name of a listener for logs and query_transport. */
const char *cardea_ws_listener_name(ws_listener_kind kind);

#endif
