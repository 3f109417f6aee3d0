/* Cardea SDK: media plugins (echotest, videocall, videoroom, broadcast, yours).
 *
 * A plugin is a shared object exporting CARDEA_MODULE_DEFINE(its cardea_plugin).
 * Clients attach to it by `info.package` (Janus names such as
 * "janus.plugin.echotest" keep janus.js/Janode/Flutter clients working;
 * new plugins use "cardea.plugin.NAME").
 *
 * Threads and ownership, in one place:
 *  - init/destroy run on the main thread, once.
 *  - create_session, destroy_session, query_session, handle_message and
 *    handle_admin_message run on the core's request worker threads. Several
 *    may run at once (for different handles, and in rare cases for the same
 *    handle): protect your own state. Keep them short; long work goes to a
 *    cardea_plugin_queue (below), whose thread you own.
 *  - The core never calls a plugin while holding a core lock; a plugin must
 *    not call the core (push_event, ...) while holding a lock that any plugin
 *    callback also takes (STYLE.md rule 13: unlock, then emit).
 *  - A cardea_plugin_session is owned by the core. It stays valid until the
 *    core's destroy_session call returns; take a ref
 *    (cardea_plugin_session_ref) to use it on your own threads after that, and
 *    check `stopped` before acting on it.
 */
#ifndef CARDEA_PLUGIN_H
#define CARDEA_PLUGIN_H

#include <stdbool.h>
#include <jansson.h>
#include "cardea/module.h"
#include "cardea/config.h"
#include "cardea/rtp.h"
#include "cardea/data.h"
#include "cardea/auth.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cardea_plugin_session {
	void *core_handle;      /* the core's handle; opaque to plugins (borrowed) */
	void *plugin_handle;    /* the plugin's per-handle state (owned by the plugin) */
	volatile gint stopped;  /* 1 once the core started tearing the handle down */
	cardea_refcount ref;
} cardea_plugin_session;

CARDEA_SDK_API void cardea_plugin_session_ref(cardea_plugin_session *session);
CARDEA_SDK_API void cardea_plugin_session_unref(cardea_plugin_session *session);

typedef enum cardea_plugin_result_kind {
	CARDEA_PLUGIN_OK = 0,       /* synchronous answer: `content` goes to the client as plugindata.data */
	CARDEA_PLUGIN_OK_WAIT = 1,  /* accepted; the client gets an ack (with `text` as hint) and an event later */
	CARDEA_PLUGIN_ERROR = 2,    /* hard failure: the client gets Janus error 462 with `text` */
	CARDEA_PLUGIN_LATER = 3,    /* a synchronous answer that comes later: see defer_reply */
} cardea_plugin_result_kind;

typedef struct cardea_plugin_result {
	cardea_plugin_result_kind kind;
	const char *text;           /* static or plugin-owned string, copied by the core */
	json_t *content;            /* OK only: transfer full to the core */
} cardea_plugin_result;

static inline cardea_plugin_result cardea_plugin_ok(json_t *content) {
	cardea_plugin_result r = { CARDEA_PLUGIN_OK, NULL, content };
	return r;
}
static inline cardea_plugin_result cardea_plugin_wait(const char *hint) {
	cardea_plugin_result r = { CARDEA_PLUGIN_OK_WAIT, hint, NULL };
	return r;
}
static inline cardea_plugin_result cardea_plugin_error(const char *text) {
	cardea_plugin_result r = { CARDEA_PLUGIN_ERROR, text, NULL };
	return r;
}
static inline cardea_plugin_result cardea_plugin_later(void) {
	cardea_plugin_result r = { CARDEA_PLUGIN_LATER, NULL, NULL };
	return r;
}

/* A synchronous request's reply kept for later (core->defer_reply). */
typedef struct cardea_plugin_reply cardea_plugin_reply;

typedef struct cardea_plugin cardea_plugin;

/* Services the core gives plugins. Thread-safe, callable from any thread. */
typedef struct cardea_plugin_core {
	/* Sends an `event` to the client owning `session`. `transaction` (may be
	 * NULL) ties it to the request it answers. `message` becomes
	 * plugindata.data and `jsep` the event's jsep; both are borrowed (the core
	 * takes its own references). Returns 0, or a negative value when the
	 * session is gone or the arguments are invalid (-3: the SDP could not be
	 * completed; nothing was sent).
	 *
	 * jsep {"type":"answer","sdp":S} answers the client's offer. jsep
	 * {"type":"offer","sdp":S} starts a negotiation from the gateway (first
	 * offer, or a re-offer on a live PeerConnection; "restart":true also
	 * restarts ICE). In both, S is only the media half written with
	 * cardea/sdp.h (m-lines with a=mid, direction, payload types with
	 * rtpmap/fmtp/rtcp-fb, extmaps, optional msid); the core adds the rest
	 * (o=, BUNDLE, ICE credentials and candidates, fingerprint, a=setup --
	 * actpass in offers --, rtcp-mux, its SSRCs, and for offers an rtx
	 * payload + FID SSRC per video codec offering nack when S has none).
	 * A re-offer keeps every m-line slot and mid of the session (disable
	 * with port 0, append new ones); ICE, DTLS and SRTP carry on. The
	 * client's answer reaches handle_message only after the core applied
	 * it (a bad one is refused with a Janus error and never reaches you);
	 * media on m-line i of your offer is packet->mindex i both ways. Only
	 * one offer may wait for its answer at a time (-3 otherwise). */
	int (*push_event)(cardea_plugin_session *session, cardea_plugin *plugin,
		const char *transaction, json_t *message, json_t *jsep);
	/* Asks the core to close the handle's PeerConnection (hangup event,
	 * reason "Close PC"). */
	void (*close_pc)(cardea_plugin_session *session);
	/* Asks the core to detach the handle (the client gets `detached`). */
	void (*end_session)(cardea_plugin_session *session);
	/* True when at least one events module is loaded (skip building events otherwise). */
	bool (*events_is_enabled)(void);
	/* Hands a plugin event to the events modules. `event` is transfer full. */
	void (*notify_event)(cardea_plugin *plugin, cardea_plugin_session *session, json_t *event);
	const char *configs_folder;
	/* Media (PeerConnection glue). Call these only on the media loop thread
	 * that delivered the handle's packets (i.e. from inside incoming_rtp,
	 * incoming_keyframe_request or setup_media); a call from any other thread
	 * is copied and handed over to that loop, which costs an allocation.
	 * relay_rtp sends `packet` (borrowed; copied before rewriting) to the
	 * handle's peer on m-line packet->mindex, with the gateway's own SSRC for
	 * that m-line; dropped when the m-line does not send or the PC is not up.
	 * A peer on another media loop gets the packet through that loop's relay
	 * ring: calling relay_rtp for several peers back to back with the same
	 * packet (only sequence number/timestamp rewritten per peer) hands it
	 * over once per loop; a full ring drops (cardea_relay_drops_total).
	 * send_keyframe_request sends a PLI (FIR if the peer only negotiated
	 * that) for what the peer sends on `mindex`, at most one per 500 ms per
	 * m-line: requests in between are merged and sent when the interval ends. */
	void (*relay_rtp)(cardea_plugin_session *session, cardea_rtp_packet *packet);
	void (*send_keyframe_request)(cardea_plugin_session *session, int mindex);
	/* Data channels (cardea/data.h). Sends one message to the handle's peer
	 * on the open channel named packet->label; a label no open channel has
	 * makes the core open one first (reliable, ordered, DCEP). `packet` is
	 * borrowed and copied. Same threading as relay_rtp: free of copies on
	 * the media loop thread (inside incoming_data or data_ready), handed over
	 * from any other. Dropped (and counted in handle_info) before data_ready,
	 * after hangup, or over the peer's a=max-message-size. */
	void (*relay_data)(cardea_plugin_session *session, const cardea_data_packet *packet);
	/* Caps what the peer sends us at `bitrate` bps (REMB, when the peer
	 * negotiated goog-remb): the core sends a REMB at once and repeats it
	 * every second while the PeerConnection lives. 0 removes the cap (the
	 * peer gets one REMB high enough to forget it). The cap belongs to the
	 * current PeerConnection: set it again after a new negotiation, e.g. in
	 * setup_media. Any thread; the same handover rules as relay_rtp. */
	void (*send_remb)(cardea_plugin_session *session, uint32_t bitrate);
	/* Asks the auth module (cardea/auth.h) whether the handle's client may do
	 * `action` ("videoroom.join.publisher", ...; docs/auth.md lists them).
	 * `target` (borrowed, may be NULL) adds the action's details, e.g.
	 * {"room": 1234, "display": "Bob"}; a "token" member in it replaces the
	 * token the client attached with. `done` gets the decision (transfer
	 * full; read it with cardea_auth_allowed/_permission/_room_allowed) once,
	 * from any thread: with no auth module at once, inside this call, with
	 * {"allow": true}. Never call it holding a lock `done` takes. A denied
	 * action must answer the plugin's "unauthorized" error and create no
	 * state. Any thread; never blocks. */
	void (*auth_check)(cardea_plugin_session *session, const char *action, json_t *target,
		cardea_auth_done_fn done, void *user_data);
	/* Synchronous requests whose answer has to wait (for the auth module,
	 * say) without holding the core's request worker: call defer_reply inside
	 * handle_message, on its thread, and return cardea_plugin_later(); later,
	 * from any thread, call reply_later exactly once with what handle_message
	 * would have returned (OK -> `success` with plugindata, ERROR -> 462; the
	 * client sees no difference). reply_later takes `reply` and result.content.
	 * NULL outside handle_message. */
	cardea_plugin_reply *(*defer_reply)(cardea_plugin_session *session);
	void (*reply_later)(cardea_plugin_reply *reply, cardea_plugin_result result);
	void *_reserved[9];
} cardea_plugin_core;

struct cardea_plugin {
	cardea_module_info info;
	/* Main thread, once. `config_path` is the plugin's cardea.plugin.<name>.jcfg
	 * (may not exist). Non-zero makes the daemon refuse to start. */
	int (*init)(const cardea_plugin_core *core, const char *config_path);
	void (*destroy)(void);
	/* A client attached. Set session->plugin_handle. *error = non-zero to refuse (461). */
	void (*create_session)(cardea_plugin_session *session, int *error);
	/* A client sent a `message`. `transaction` is borrowed (copy it to keep
	 * it); `message` (the body, always an object) and `jsep` (validated
	 * {type, sdp} object or NULL) are transfer full. */
	cardea_plugin_result (*handle_message)(cardea_plugin_session *session, const char *transaction,
		json_t *message, json_t *jsep);
	/* Admin API message_plugin. `message` borrowed; return a new reference or NULL. */
	json_t *(*handle_admin_message)(json_t *message);
	/* The handle's PeerConnection went away (hangup request, ICE/DTLS failure, close_pc). */
	void (*hangup_media)(cardea_plugin_session *session);
	/* The handle is being detached (detach, session destroy/timeout, shutdown).
	 * Drop every reference to plugin_handle state; *error non-zero is logged. */
	void (*destroy_session)(cardea_plugin_session *session, int *error);
	/* Admin handle_info plugin_specific. Return a new reference or NULL. */
	json_t *(*query_session)(cardea_plugin_session *session);
	/* Media callbacks, all on the handle's media loop thread (one thread per
	 * PeerConnection, so they never run concurrently for one handle, but may
	 * run concurrently with handle_message/destroy_session on other threads).
	 * None is called after hangup_media has returned for that PeerConnection.
	 * Any may be NULL. */
	/* ICE connected and DTLS done (the client got `webrtcup`): media can flow. */
	void (*setup_media)(cardea_plugin_session *session);
	/* One RTP packet from the peer, SRTP-unprotected and validated. Borrowed. */
	void (*incoming_rtp)(cardea_plugin_session *session, cardea_rtp_packet *packet);
	/* The peer asked for a keyframe (PLI or FIR) on what we send on `mindex`. */
	void (*incoming_keyframe_request)(cardea_plugin_session *session, int mindex);
	/* Data channels: the SCTP association with the peer is up (the plugin's
	 * SDP accepted the m=application line and DTLS is done). relay_data
	 * works from now on. Once per PeerConnection. */
	void (*data_ready)(cardea_plugin_session *session);
	/* One complete data channel message from the peer, on the channel named
	 * packet->label. Borrowed (see cardea/data.h). */
	void (*incoming_data)(cardea_plugin_session *session, cardea_data_packet *packet);
	/* Optional: gauges for Prometheus /metrics, e.g. {"rooms": 3,
	 * "participants": 12}: an object of numbers (new reference), exported as
	 * cardea_plugin_<name>{plugin="<package>"}. Any thread, must be quick. */
	json_t *(*query_metrics)(void);
	/* Optional: how much the peer can take of what we send it, in bps, on
	 * the handle's media loop thread (like the other media callbacks).
	 * From the peer's REMB when its m-lines negotiated goog-remb without
	 * transport-cc, else from the core's estimate over the transport-cc
	 * feedback the peer sends about our packets (docs/broadcast.md, "Layer
	 * choice"). Rate-limited by the core: at most one call per 250 ms and
	 * only when the value moved more than 10 % from the last one given; a
	 * peer that sends neither kind of feedback never triggers it. */
	void (*incoming_bitrate_estimate)(cardea_plugin_session *session, uint32_t bitrate);
	void *_reserved[9];
};

/* ---- A per-plugin request queue with its own thread ----
 * Most plugins answer handle_message with cardea_plugin_wait() and do the
 * work on one thread of their own; this is that thread, so plugins do not
 * each rewrite it. `fn` runs on the queue's thread, in push order; it owns
 * `message` and `jsep` (decref them), and the session ref taken at push is
 * dropped after fn returns. Messages for sessions already `stopped` are
 * dropped without calling fn. */
typedef struct cardea_plugin_queue cardea_plugin_queue;
typedef void (*cardea_plugin_queue_fn)(cardea_plugin_session *session, const char *transaction,
	json_t *message, json_t *jsep, void *user_data);
CARDEA_SDK_API cardea_plugin_queue *cardea_plugin_queue_new(const char *thread_name, cardea_plugin_queue_fn fn, void *user_data);
/* Takes a session ref and ownership of message/jsep. */
CARDEA_SDK_API void cardea_plugin_queue_push(cardea_plugin_queue *queue, cardea_plugin_session *session,
	const char *transaction, json_t *message, json_t *jsep);
/* Stops the thread (after the messages already queued), drops the rest, frees. */
CARDEA_SDK_API void cardea_plugin_queue_free(cardea_plugin_queue *queue);
/* For a synchronous request answered from the queue: `reply` comes from
 * core->defer_reply (handle_message then returns cardea_plugin_later()).
 * fn takes it with cardea_plugin_queue_take_reply and answers it with
 * core->reply_later; a reply fn never took (the session stopped, the queue
 * was freed) is answered with an error by the queue. */
CARDEA_SDK_API void cardea_plugin_queue_push_sync(cardea_plugin_queue *queue, cardea_plugin_session *session,
	const char *transaction, json_t *message, json_t *jsep, const cardea_plugin_core *core,
	cardea_plugin_reply *reply);
/* Inside fn: the current message's deferred reply (transfer full), or NULL. */
CARDEA_SDK_API cardea_plugin_reply *cardea_plugin_queue_take_reply(cardea_plugin_queue *queue);
/* Inside fn, on the queue's thread: asks the auth module (core->auth_check)
 * about `action` on `target` (borrowed, may be NULL) without blocking the
 * thread. Returns the decision (new reference) when it is already known --
 * no auth module, an answer given at once, or the current message was parked
 * for this action and is being run again. Returns NULL when the message is
 * parked: fn must then return at once, having replied nothing and changed
 * nothing; when the answer arrives the queue runs fn again with the same
 * message (and its deferred reply) and this call returns the answer. Later
 * messages of the same session wait behind a parked one, so a client's
 * requests keep their order; other sessions go on. */
CARDEA_SDK_API json_t *cardea_plugin_queue_auth(cardea_plugin_queue *queue, const cardea_plugin_core *core,
	cardea_plugin_session *session, const char *action, json_t *target);

/* ---- Events for events modules (docs/events.md) ----
 * Hands {"event": name, ...fields} to the events modules (type
 * "<plugin>.<name>"), when any listens; `fields` (may be NULL) is always
 * taken. Any thread; call it with no lock held. */
static inline void cardea_plugin_notify(const cardea_plugin_core *core, cardea_plugin *plugin,
		cardea_plugin_session *session, const char *name, json_t *fields) {
	if (core->events_is_enabled == NULL || core->notify_event == NULL || !core->events_is_enabled()) {
		json_decref(fields);
		return;
	}
	json_t *ev = json_pack("{s:s}", "event", name);
	if (json_is_object(fields))
		json_object_update(ev, fields);
	json_decref(fields);
	core->notify_event(plugin, session, ev);
}

/* ---- Waiting for an auth decision on a worker thread ----
 * For plugins whose guarded request runs on a thread that may block (their
 * cardea_plugin_queue thread, a core request worker): calls
 * core->auth_check and waits at most `timeout_us` for the answer. Returns the
 * decision (new reference; read it with cardea_auth_allowed() & co.), or NULL
 * on timeout (treat as a deny). Without auth_check in the core, returns
 * {"allow": true}. Without an auth module the answer comes inside the call,
 * so nothing waits. Never call it holding a lock the auth path may take. */
typedef struct cardea_auth_wait_ {
	GMutex m;
	GCond c;
	json_t *decision;
	gboolean done;
	gint refs;                      /* the waiter's and the callback's */
} cardea_auth_wait_;

static inline void cardea_auth_wait_unref_(cardea_auth_wait_ *w) {
	if (!g_atomic_int_dec_and_test(&w->refs))
		return;
	json_decref(w->decision);
	g_mutex_clear(&w->m);
	g_cond_clear(&w->c);
	g_free(w);
}

static inline void cardea_auth_wait_done_(json_t *decision, void *user_data) {
	cardea_auth_wait_ *w = (cardea_auth_wait_ *)user_data;
	g_mutex_lock(&w->m);
	w->decision = decision;
	w->done = TRUE;
	g_cond_signal(&w->c);
	g_mutex_unlock(&w->m);
	cardea_auth_wait_unref_(w);
}

static inline json_t *cardea_plugin_auth_wait(const cardea_plugin_core *core, cardea_plugin_session *session,
		const char *action, json_t *target, gint64 timeout_us) {
	if (core->auth_check == NULL)
		return json_pack("{s:b}", "allow", 1);
	cardea_auth_wait_ *w = g_new0(cardea_auth_wait_, 1);
	g_mutex_init(&w->m);
	g_cond_init(&w->c);
	w->refs = 2;
	core->auth_check(session, action, target, cardea_auth_wait_done_, w);
	gint64 end = g_get_monotonic_time() + timeout_us;
	g_mutex_lock(&w->m);
	while (!w->done)
		if (!g_cond_wait_until(&w->c, &w->m, end))
			break;
	json_t *decision = w->done ? json_incref(w->decision) : NULL;
	g_mutex_unlock(&w->m);
	cardea_auth_wait_unref_(w);
	return decision;
}

#ifdef __cplusplus
}
#endif
#endif
