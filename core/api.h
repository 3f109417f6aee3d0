/* Janus API request handling: the API thread, the request worker pool, and
 * the callbacks the core gives transports and plugins.
 *
 * Every request is answered exactly once through the transport it came from
 * (a success/ack/error or a server_info/pong).
 */
#ifndef CARDEA_API_H
#define CARDEA_API_H

#include <stdbool.h>
#include <jansson.h>
#include "cardea/transport.h"
#include "cardea/plugin.h"
#include "modules.h"
#include "session.h"

/* Where a reply goes: one per request. */
typedef struct cardea_api_ctx {
	cardea_loaded_module *transport;     /* borrowed */
	cardea_transport_session *ts;        /* owned ref */
	void *request_id;                    /* the transport's cookie, NULL for streaming transports */
	bool admin;
	char remote_addr[64];                /* the client's IP as text, "" when the transport did not say */
} cardea_api_ctx;

/* The request envelope, validated in Janus's order (janus-api.md §1.1 steps 2–4). */
typedef struct cardea_api_envelope {
	const char *transaction;   /* borrowed from the request, NULL if unreadable */
	char verb[32];             /* lower-cased `janus` */
	gboolean has_session;      /* an integer session_id was given (maybe < 1) */
	gboolean has_handle;
	json_int_t session_id;
	json_int_t handle_id;
	json_int_t wanted_id;      /* create's optional `id`, 0 = none */
} cardea_api_envelope;

/* Validates the envelope of `root` (an object). Copies URL ids into `root`
 * (answering 457 on conflict). Returns 0, or an error code with *reason set
 * (g_free). `env->transaction` stays NULL for errors that Janus answers
 * without a transaction. */
int cardea_api_parse_envelope(json_t *root, guint64 path_session, guint64 path_handle,
	cardea_api_envelope *env, char **reason);

/* {"janus":"error", "session_id"?, "transaction"?, "error":{code, reason}}.
 * `session_id` 0 = omitted; `reason` NULL = the code's default text. */
json_t *cardea_api_error_new(guint64 session_id, const char *transaction, int code, const char *reason);
/* Sends `message` (transfer full) as the answer of ctx. */
void cardea_api_reply(const cardea_api_ctx *ctx, json_t *message);
void cardea_api_reply_error(const cardea_api_ctx *ctx, guint64 session_id, const char *transaction,
	int code, const char *reason);
/* The `server_info` reply. */
json_t *cardea_api_server_info(const char *transaction);

/* Runs `plugin`'s handle_admin_message on a worker and answers ctx with
 * {"janus":"success","transaction":t,"response":...}. Takes its own refs. */
void cardea_api_queue_admin_plugin(const cardea_api_ctx *ctx, cardea_loaded_module *plugin,
	const char *transaction, json_t *request);
/* Detaches a handle from the API thread (plugins' end_session, Admin detach_handle). */
void cardea_api_queue_detach(cardea_handle *handle);

/* Starts the API thread and the worker pool; fills the callback tables. */
void cardea_api_start(void);
/* Stops accepting requests, destroys every session on the API thread (clients
 * get `detached` events), joins the API thread and drains the workers. */
void cardea_api_stop(void);
void cardea_api_fill_transport_core(cardea_transport_core *core);
void cardea_api_fill_plugin_core(cardea_plugin_core *core);

#endif
