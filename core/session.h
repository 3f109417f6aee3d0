/* Gateway sessions and handles.
 *
 * Ownership: the global table owns one ref of each live session; a session
 * owns one ref of each of its handles; a handle owns a ref of its session and
 * of its plugin session (cardea_plugin_session), which owns a ref of the
 * handle through core_handle. That last cycle is broken when the handle is
 * detached (the handle drops its plugin-session ref only after the plugin's
 * destroy_session returned).
 *
 * Threads: tables are mutated only on the API thread. Any thread may look
 * objects up (under the locks) and must hold a ref while using them.
 * Lock order: sessions_mutex (session.c) before session->mutex. Neither is
 * held while calling a plugin or a transport.
 */
#ifndef CARDEA_SESSION_H
#define CARDEA_SESSION_H

#include <glib.h>
#include <jansson.h>
#include "cardea/plugin.h"
#include "cardea/transport.h"
#include "modules.h"

typedef struct cardea_session {
	guint64 id;
	GMutex mutex;                         /* protects handles, source, source_transport */
	GHashTable *handles;                  /* owned: guint64* id -> cardea_handle* (ref) */
	cardea_loaded_module *source_transport; /* borrowed (modules outlive sessions) */
	cardea_transport_session *source;     /* owned ref: where events go */
	gint64 last_activity;                 /* monotonic µs, atomic */
	gint64 gone_since;                    /* monotonic µs when the source dropped, 0 = connected */
	gint timeout;                         /* per-session timeout, -1 = global */
	volatile gint destroyed;
	cardea_refcount ref;
	char remote_addr[64];                 /* under mutex: the client's address on its latest request */
} cardea_session;

typedef struct cardea_handle {
	guint64 id;
	cardea_session *session;              /* owned ref */
	cardea_loaded_module *plugin;         /* borrowed */
	cardea_plugin_session *app;           /* owned ref, NULL after detach */
	char *opaque_id;                      /* owned */
	gint64 created;                       /* monotonic µs */
	volatile gint detached;
	volatile gint server_offer_pending;   /* the plugin sent an offer; a client answer is expected */
	GMutex mutex;                         /* protects pending_candidates and the acking_ fields */
	GQueue pending_candidates;            /* owned json_t*: trickles waiting for the media stack */
	/* A request worker between handle_message and its ack (api.c): an
	 * event for that transaction pushed from another thread waits for the
	 * ack (bounded), since clients expect the ack first. Borrowed from the
	 * worker's task, NULL when none. */
	const char *acking_transaction;
	GThread *acking_thread;
	GCond acked;
	struct cardea_pc *pc;                 /* owned (webrtc/pc.h): created by the first jsep, freed with the handle */
	cardea_refcount ref;
	/* Auth (core/auth.h): set once at attach on the API thread, read-only
	 * afterwards: the token the client attached with and the auth module's
	 * decision (NULL without an auth module). Both owned. */
	char *auth_token;
	json_t *auth_decision;
	/* permissions.max_bitrate (bps) of the latest allow that carried one for
	 * this handle (attach or a plugin action); 0 = none. Atomic: written
	 * by whichever thread delivers a decision, read by the media loop, which
	 * sends it to the peer as a REMB cap (pc-rtcp.c). */
	volatile gint auth_max_bitrate;
} cardea_handle;

void cardea_sessions_init(void);
void cardea_sessions_deinit(void);

/* Creates a session bound to (transport, ts). `wanted_id` 0 = random.
 * Returns a new ref, or NULL with *code = 468 (id taken) / 472 / 490. */
cardea_session *cardea_session_create(guint64 wanted_id, cardea_loaded_module *transport,
	cardea_transport_session *ts, int *code);
/* New ref or NULL. */
cardea_session *cardea_session_find(guint64 id);
void cardea_session_ref(cardea_session *session);
void cardea_session_unref(cardea_session *session);
void cardea_session_touch(cardea_session *session);
/* Removes the session from the table, detaches every handle (plugins'
 * destroy_session), tells the source transport it is over. Idempotent.
 * `timeout` sends the `timeout` event first. API thread only. */
void cardea_session_destroy(cardea_session *session, gboolean timeout);
/* Rebinds the event channel to (transport, ts) (claim). API thread only. */
void cardea_session_claim(cardea_session *session, cardea_loaded_module *transport, cardea_transport_session *ts);
/* Sends an async event (transfer full) to the session's current source.
 * Any thread. Dropped (and freed) when the source is gone. */
void cardea_session_send_event(cardea_session *session, json_t *event);
/* A transport connection dropped. API thread only. */
void cardea_sessions_transport_gone(cardea_transport_session *ts);
/* Expires sessions past their timeout or reclaim window. API thread only. */
void cardea_sessions_watchdog(void);
/* Destroys every session (shutdown). API thread only. */
void cardea_sessions_destroy_all(void);
/* Session ids (new array). */
json_t *cardea_sessions_list(void);
guint cardea_sessions_count(void);

/* Attaches `plugin`. Returns a new ref, or NULL with *code 461 (plugin
 * refused) / 490, *reason possibly set (g_free). API thread only. */
cardea_handle *cardea_handle_create(cardea_session *session, cardea_loaded_module *plugin,
	const char *opaque_id, int *code, char **reason);
/* Records the attach token and auth decision (both copied/ref'd, may be
 * NULL). API thread, right after cardea_handle_create. */
void cardea_handle_set_auth(cardea_handle *handle, const char *token, json_t *decision);
/* New ref or NULL. */
cardea_handle *cardea_handle_find(cardea_session *session, guint64 id);
/* Any thread: keeps what the media path enforces from an auth decision
 * for the handle (permissions.max_bitrate as a REMB cap). */
void cardea_handle_note_decision(cardea_handle *h, const json_t *decision);
void cardea_handle_ref(cardea_handle *handle);
void cardea_handle_unref(cardea_handle *handle);
/* Detaches: plugin destroy_session, removal from the session, and when
 * `notify` a `detached` event. Idempotent. API thread only. */
void cardea_handle_detach(cardea_handle *handle, gboolean notify);
/* Handle ids of a session (new array). */
json_t *cardea_session_list_handles(cardea_session *session);
guint cardea_session_handle_count(cardea_session *session);
/* A handle's event skeleton {"janus": kind, "session_id", "sender"(, "opaque_id")}. */
json_t *cardea_handle_event_new(cardea_handle *handle, const char *kind);
/* Queues a trickled candidate (transfer full) until the media stack takes it.
 * The object gets a CARDEA_HANDLE_QUEUED_AT member (monotonic µs) so the
 * media stack can drop the ones older than candidates_timeout. */
#define CARDEA_HANDLE_QUEUED_AT "cardea-queued-at"
void cardea_handle_queue_candidate(cardea_handle *handle, json_t *candidate);

/* media.max_peerconnections: live PeerConnections core-wide (a PC is live
 * from the offer that starts it to its hangup). Any thread, lock-free.
 * reserve: TRUE and one more counted when under the cap (always when the
 * cap is 0), FALSE when full. mark_active: flips *active 0 -> 1 for a PC
 * whose slot was reserved (`reserved`) or not (a renegotiation racing a
 * hangup), keeping the count equal to the number of live PCs; a lost race
 * gives the reservation back. release: the PC's active went 1 -> 0. */
gboolean cardea_pc_slot_reserve(void);
void cardea_pc_slot_mark_active(volatile gint *active, gboolean reserved);
void cardea_pc_slot_release(void);
guint cardea_pc_slots_in_use(void);

#endif
