/* janus.plugin.videocall: one-to-one calls between registered users, with
 * the gateway in the media path (each user has their own leg).
 *
 * Wire API (Janus VideoCall, janus-api.md section 7.3; every request is
 * acked, then answered by an event with its transaction):
 *   list                       -> {"list":[names]}
 *   register  username         -> {"event":"registered","username":...}
 *   call      username + offer -> {"event":"calling"}; the callee gets
 *                                 {"event":"incomingcall","username":caller}
 *                                 with the GATEWAY's offer (vc-sdp.c)
 *   accept    + answer         -> {"event":"accepted"}; the caller gets
 *                                 {"event":"accepted","username":callee}
 *                                 with the gateway's answer to its offer
 *   set       audio, video, bitrate, substream, temporal, fallback,
 *             record/filename (docs/recording.md), restart (the
 *             client's offer does it), optional jsep
 *                              -> {"event":"set"}; with a jsep the peer gets
 *                                 {"event":"update"} with the gateway's
 *                                 offer (or answer) built from it
 *   hangup    reason           -> {"event":"hangup","username":me,
 *                                 "reason":"Explicit hangup"}; the peer gets
 *                                 the same with `reason` or "We did the hangup"
 * Unsolicited: hangup with "User busy" (the callee is in a call) or "Remote
 * WebRTC hangup" (the peer's PeerConnection went away or it detached);
 * {"event":"simulcast","videocodec":...,"substream"|"temporal":N}.
 * Errors are {"videocall":"event","error_code":N,"error":text} with Janus's
 * codes and texts (checked against Janus 1.1.2, in Janus's order).
 *
 * Threads: requests run on the plugin's queue thread (cardea_plugin_queue),
 * one at a time, so a call's set-up is never interleaved with another
 * request; hangup_media and destroy_session come from core threads. Call
 * state lives under vc_state_mutex (see videocall.h for the lock order);
 * every core call is made after unlocking.
 */
#include <string.h>
#include "cardea/record.h"
#include "videocall.h"

#define VC_HINT "I'm taking my time!"
#define VC_MAX_USERNAME 256

enum {
	VC_ERROR_UNKNOWN = 499,
	VC_ERROR_NO_MESSAGE = 470,
	VC_ERROR_INVALID_JSON = 471,
	VC_ERROR_INVALID_REQUEST = 472,
	VC_ERROR_REGISTER_FIRST = 473,
	VC_ERROR_INVALID_ELEMENT = 474,
	VC_ERROR_MISSING_ELEMENT = 475,
	VC_ERROR_USERNAME_TAKEN = 476,
	VC_ERROR_ALREADY_REGISTERED = 477,
	VC_ERROR_NO_SUCH_USERNAME = 478,
	VC_ERROR_USE_ECHO_TEST = 479,
	VC_ERROR_ALREADY_IN_CALL = 480,
	VC_ERROR_NO_CALL = 481,
	VC_ERROR_MISSING_SDP = 482,
	VC_ERROR_INVALID_SDP = 483,
};

const cardea_plugin_core *vc_core;
static cardea_plugin_queue *queue;
static GMutex vc_state_mutex;
static GHashTable *sessions;        /* cardea_plugin_session* -> vc_session* (table's ref) */
static GHashTable *users;           /* username -> vc_session* (borrowed; removed on detach) */

/* ---- sessions ---- */

void vc_session_ref(vc_session *s) {
	cardea_refcount_ref(&s->ref);
}

void vc_session_unref(vc_session *s) {
	cardea_refcount_unref(&s->ref);
}

static void vc_session_free(const cardea_refcount *ref) {
	vc_session *s = cardea_container_of(ref, vc_session, ref);
	g_free(s->username);
	g_free(s->pending_offer);
	for (int i = 0; i < VC_MAX_MLINES; i++)
		cardea_recorder_close(s->rec[i]);   /* normally closed when the call ended */
	g_mutex_clear(&s->media_mutex);
	cardea_plugin_session_unref(s->app);
	g_free(s);
}

static vc_session *session_lookup(cardea_plugin_session *app) {
	g_mutex_lock(&vc_state_mutex);
	vc_session *s = sessions ? g_hash_table_lookup(sessions, app) : NULL;
	if (s)
		vc_session_ref(s);
	g_mutex_unlock(&vc_state_mutex);
	return s;
}

static const char *state_name(vc_state st) {
	switch (st) {
	case VC_CALLING: return "calling";
	case VC_RINGING: return "ringing";
	case VC_INCALL: return "incall";
	default: return "idle";
	}
}

/* ---- events ---- */

/* Sends {"videocall":"event","result":result} (result: transfer full). */
static int push_result(vc_session *s, const char *transaction, json_t *result, json_t *jsep) {
	json_t *ev = json_pack("{s:s, s:o}", "videocall", "event", "result", result);
	int rc = vc_core->push_event(s->app, &vc_plugin, transaction, ev, jsep);
	json_decref(ev);
	return rc;
}

static void push_error(vc_session *s, const char *transaction, int code, const char *format, ...)
	G_GNUC_PRINTF(4, 5);
static void push_error(vc_session *s, const char *transaction, int code, const char *format, ...) {
	va_list ap;
	va_start(ap, format);
	char *text = g_strdup_vprintf(format, ap);
	va_end(ap);
	CARDEA_LOG(CARDEA_LOG_VERB, "[videocall] session %p: error %d (%s)", (void *)s->app, code, text);
	json_t *ev = json_pack("{s:s, s:i, s:s}", "videocall", "event", "error_code", code, "error", text);
	vc_core->push_event(s->app, &vc_plugin, transaction, ev, NULL);
	json_decref(ev);
	g_free(text);
}

/* {"event":"hangup","username":name,"reason":reason}; no username when NULL. */
static json_t *hangup_result(const char *username, const char *reason) {
	json_t *r = json_pack("{s:s}", "event", "hangup");
	if (username)
		json_object_set_new(r, "username", json_string(username));
	json_object_set_new(r, "reason", json_string(reason));
	return r;
}

/* Hands a call event to the events modules (webhooks), when any listen. */
static void notify(vc_session *s, const char *event, const char *username, const char *peer) {
	if (!vc_core->events_is_enabled())
		return;
	json_t *info = json_pack("{s:s, s:s*, s:s*}", "event", event, "username", username, "peer", peer);
	vc_core->notify_event(&vc_plugin, s->app, info);
}

/* ---- recording (docs/recording.md) ----
 * As Janus's videocall: `set` record:true records what this user sends,
 * one file per audio/video m-line, named <filename>-audio/-video.mjr or
 * videocall-<user>-<peer>-<µs>-audio/-video.mjr, in the plugin's rec_dir
 * (cardea.plugin.videocall.jcfg general.rec_dir, default
 * cardea_recorder_default_dir()); record:false and the end of the call
 * stop it. Client filenames must be relative names without "..". */

static char *rec_dir;                   /* owned; NULL: the SDK default */

/* Which codec s sends on each m-line: the first payload of each accepted
 * m-line of `sdp` (the SDP that fixed what s sends). Queue thread. */
static void rec_codecs_set(vc_session *s, const char *sdp) {
	cardea_sdp *parsed = sdp ? cardea_sdp_parse(sdp, strlen(sdp), NULL, NULL) : NULL;
	g_mutex_lock(&vc_state_mutex);
	memset(s->rec_codec, 0, sizeof(s->rec_codec));
	for (guint i = 0; parsed && i < parsed->n_mlines && i < VC_MAX_MLINES; i++) {
		const cardea_sdp_mline *m = parsed->mlines[i];
		if (m->port == 0 || !m->rtp || m->n_payloads == 0 || m->payloads[0].name == NULL ||
				(m->kind != CARDEA_SDP_MEDIA_AUDIO && m->kind != CARDEA_SDP_MEDIA_VIDEO))
			continue;
		char *low = g_ascii_strdown(m->payloads[0].name, -1);
		g_strlcpy(s->rec_codec[i], low, sizeof(s->rec_codec[i]));
		g_free(low);
		s->rec_video[i] = m->kind == CARDEA_SDP_MEDIA_VIDEO;
	}
	g_mutex_unlock(&vc_state_mutex);
	if (parsed)
		cardea_sdp_free(parsed);
}

static void record_stop(vc_session *s) {
	cardea_recorder *old[VC_MAX_MLINES];
	g_mutex_lock(&s->media_mutex);
	memcpy(old, s->rec, sizeof(old));
	memset(s->rec, 0, sizeof(s->rec));
	g_mutex_unlock(&s->media_mutex);
	for (int i = 0; i < VC_MAX_MLINES; i++) {
		if (old[i] == NULL)
			continue;
		CARDEA_LOG(CARDEA_LOG_INFO, "[videocall] stopped recording %s (%" G_GUINT64_FORMAT " packets)",
			cardea_recorder_path(old[i]), cardea_recorder_packets(old[i]));
		cardea_recorder_close(old[i]);
	}
}

/* Starts recording what s sends (`base` NULL: Janus's default name). */
static void record_start(vc_session *s, const char *base) {
	char codec[VC_MAX_MLINES][16];
	gboolean video[VC_MAX_MLINES];
	g_mutex_lock(&vc_state_mutex);
	memcpy(codec, s->rec_codec, sizeof(codec));
	memcpy(video, s->rec_video, sizeof(video));
	char *me = g_strdup(s->username ? s->username : "unknown");
	char *peer = g_strdup(s->peer && s->peer->username ? s->peer->username : "unknown");
	g_mutex_unlock(&vc_state_mutex);
	gint64 now = g_get_real_time();
	gboolean seen[2] = { FALSE, FALSE };
	for (int i = 0; i < VC_MAX_MLINES; i++) {
		/* As Janus: one audio and one video file (the first m-line of each). */
		if (codec[i][0] == '\0' || seen[video[i]])
			continue;
		seen[video[i]] = TRUE;
		const char *kind = video[i] ? "video" : "audio";
		char *name = base ? g_strdup_printf("%s-%s", base, kind)
			: g_strdup_printf("videocall-%s-%s-%" G_GINT64_FORMAT "-%s", me, peer, now, kind);
		GError *error = NULL;
		cardea_recorder *rec = cardea_recorder_open(rec_dir, name,
			video[i] ? CARDEA_RECORDER_VIDEO : CARDEA_RECORDER_AUDIO, codec[i], NULL, &error);
		g_free(name);
		if (rec == NULL) {
			CARDEA_LOG(CARDEA_LOG_ERR, "[videocall] %s: can't record %s: %s", me, kind, error ? error->message : "?");
			g_clear_error(&error);
			continue;
		}
		CARDEA_LOG(CARDEA_LOG_INFO, "[videocall] %s: recording %s to %s", me, kind, cardea_recorder_path(rec));
		g_mutex_lock(&s->media_mutex);
		cardea_recorder *old = s->rec[i];
		s->rec[i] = rec;
		g_mutex_unlock(&s->media_mutex);
		cardea_recorder_close(old);
	}
	/* The video file must start with a keyframe. */
	vc_media_request_keyframes(s);
	g_free(me);
	g_free(peer);
}

void vc_record_rtp(vc_session *s, const cardea_rtp_packet *packet) {
	g_mutex_lock(&s->media_mutex);
	cardea_recorder *rec = s->rec[packet->mindex];
	if (rec && packet->substream == 0)
		cardea_recorder_save_rtp(rec, packet->buffer, packet->length);
	g_mutex_unlock(&s->media_mutex);
}

/* ---- calls ---- */

/* Ends s's call, if any: the peer gets {"event":"hangup","username":s's
 * name,"reason":peer_reason} and its PeerConnection closed; s's own is
 * closed too when close_self. Idempotent; any thread. */
static void end_call(vc_session *s, const char *peer_reason, gboolean close_self) {
	g_mutex_lock(&vc_state_mutex);
	vc_session *p = s->peer;
	char *me = g_strdup(s->username);
	s->peer = NULL;
	s->state = VC_IDLE;
	g_clear_pointer(&s->pending_offer, g_free);
	gboolean back_ref = FALSE;
	if (p && p->peer == s) {
		p->peer = NULL;
		p->state = VC_IDLE;
		g_clear_pointer(&p->pending_offer, g_free);
		back_ref = TRUE;
	}
	g_mutex_unlock(&vc_state_mutex);
	vc_media_set_peer(s, NULL, NULL);
	record_stop(s);
	if (p) {
		vc_media_set_peer(p, NULL, NULL);
		record_stop(p);
		CARDEA_LOG(CARDEA_LOG_INFO, "[videocall] call of %s ended (%s)", me ? me : "?", peer_reason);
		push_result(p, NULL, hangup_result(me, peer_reason), NULL);
		vc_core->close_pc(p->app);
		notify(s, "hangup", me, p->username);
		if (back_ref)
			vc_session_unref(s);     /* p->peer's */
		vc_session_unref(p);         /* s->peer's */
	}
	if (close_self)
		vc_core->close_pc(s->app);
	g_free(me);
}

/* ---- requests (queue thread) ---- */

typedef void (*vc_request_fn)(vc_session *s, const char *tx, json_t *body, json_t *jsep);

/* Checks an optional member's type; pushes 474 and returns FALSE when wrong.
 * kind: 'b' boolean, 's' string, 'u' positive integer (>= 0). */
static gboolean check_member(vc_session *s, const char *tx, json_t *body, const char *name, char kind) {
	json_t *v = json_object_get(body, name);
	if (v == NULL)
		return TRUE;
	gboolean ok = kind == 'b' ? json_is_boolean(v) : kind == 's' ? json_is_string(v) :
		json_is_integer(v) && json_integer_value(v) >= 0;
	if (!ok)
		push_error(s, tx, VC_ERROR_INVALID_ELEMENT, "Invalid element type (%s should be %s)", name,
			kind == 'b' ? "a boolean" : kind == 's' ? "a string" : "a positive integer");
	return ok;
}

/* The mandatory `username` string; NULL after pushing 475/474. */
static const char *get_username(vc_session *s, const char *tx, json_t *body) {
	json_t *u = json_object_get(body, "username");
	if (u == NULL) {
		push_error(s, tx, VC_ERROR_MISSING_ELEMENT, "Missing mandatory element (username)");
		return NULL;
	}
	if (!json_is_string(u)) {
		push_error(s, tx, VC_ERROR_INVALID_ELEMENT, "Invalid element type (username should be a string)");
		return NULL;
	}
	return json_string_value(u);
}

/* TRUE when the jsep is of `type` ("offer"/"answer", any case). */
static gboolean jsep_is(json_t *jsep, const char *type) {
	const char *t = jsep ? json_string_value(json_object_get(jsep, "type")) : NULL;
	return t != NULL && g_ascii_strcasecmp(t, type) == 0;
}

static const char *jsep_sdp(json_t *jsep) {
	return jsep ? json_string_value(json_object_get(jsep, "sdp")) : NULL;
}

/* Asks the auth module (docs/auth.md) without blocking this queue thread;
 * `target` is taken. FALSE when the request is parked until the answer
 * comes (nothing pushed: it runs again then) or denied: a deny pushes 472
 * (Janus's videocall has no "unauthorized" code: "invalid request" is the
 * closest). */
static gboolean auth_allowed(vc_session *s, const char *tx, const char *action, json_t *target) {
	json_t *d = cardea_plugin_queue_auth(queue, vc_core, s->app, action, target);
	json_decref(target);
	if (d == NULL)
		return FALSE;
	gboolean ok = cardea_auth_allowed(d);
	if (!ok) {
		const char *why = json_string_value(json_object_get(d, "reason"));
		CARDEA_LOG(CARDEA_LOG_INFO, "[videocall] %s refused (session %p): %s", action, (void *)s->app,
			why ? why : "denied");
		push_error(s, tx, VC_ERROR_INVALID_REQUEST, "Unauthorized request (%s)", why ? why : "denied");
	}
	json_decref(d);
	return ok;
}

static void req_list(vc_session *s, const char *tx, json_t *body, json_t *jsep) {
	json_t *list = json_array();
	g_mutex_lock(&vc_state_mutex);
	GList *names = g_list_sort(g_hash_table_get_keys(users), (GCompareFunc)strcmp);
	for (GList *l = names; l; l = l->next)
		json_array_append_new(list, json_string(l->data));
	g_list_free(names);
	g_mutex_unlock(&vc_state_mutex);
	push_result(s, tx, json_pack("{s:o}", "list", list), NULL);
}

static void req_register(vc_session *s, const char *tx, json_t *body, json_t *jsep) {
	g_mutex_lock(&vc_state_mutex);
	char *mine = g_strdup(s->username);
	g_mutex_unlock(&vc_state_mutex);
	if (mine) {
		push_error(s, tx, VC_ERROR_ALREADY_REGISTERED, "Already registered (%s)", mine);
		g_free(mine);
		return;
	}
	const char *name = get_username(s, tx, body);
	if (name == NULL)
		return;
	if (*name == '\0' || strlen(name) > VC_MAX_USERNAME) {
		push_error(s, tx, VC_ERROR_INVALID_ELEMENT, "Invalid element (username should be 1 to %d bytes)",
			VC_MAX_USERNAME);
		return;
	}
	if (!auth_allowed(s, tx, "videocall.register", json_pack("{s:s}", "display", name)))
		return;
	g_mutex_lock(&vc_state_mutex);
	gboolean taken = g_hash_table_contains(users, name);
	if (!taken && s->username == NULL) {
		s->username = g_strdup(name);
		g_hash_table_insert(users, s->username, s);
	}
	g_mutex_unlock(&vc_state_mutex);
	if (taken) {
		push_error(s, tx, VC_ERROR_USERNAME_TAKEN, "Username '%s' already taken", name);
		return;
	}
	CARDEA_LOG(CARDEA_LOG_INFO, "[videocall] registered '%s' (session %p)", name, (void *)s->app);
	push_result(s, tx, json_pack("{s:s, s:s}", "event", "registered", "username", name), NULL);
	notify(s, "registered", name, NULL);
}

static void req_call(vc_session *s, const char *tx, json_t *body, json_t *jsep) {
	g_mutex_lock(&vc_state_mutex);
	gboolean registered = s->username != NULL, busy = s->peer != NULL;
	g_mutex_unlock(&vc_state_mutex);
	if (!registered) {
		push_error(s, tx, VC_ERROR_REGISTER_FIRST, "Register a username first");
		return;
	}
	if (busy) {
		push_error(s, tx, VC_ERROR_ALREADY_IN_CALL, "Already in a call");
		return;
	}
	const char *name = get_username(s, tx, body);
	if (name == NULL || !auth_allowed(s, tx, "videocall.call", json_pack("{s:s}", "peer", name)))
		return;
	g_mutex_lock(&vc_state_mutex);
	gboolean self = g_strcmp0(name, s->username) == 0;
	vc_session *p = self ? NULL : g_hash_table_lookup(users, name);
	gboolean peer_busy = p && p->peer != NULL;
	char *me = g_strdup(s->username);
	g_mutex_unlock(&vc_state_mutex);
	if (self) {
		push_error(s, tx, VC_ERROR_USE_ECHO_TEST, "You can't call yourself... use the EchoTest for that");
	} else if (p == NULL) {
		push_error(s, tx, VC_ERROR_NO_SUCH_USERNAME, "Username '%s' doesn't exist", name);
	} else if (peer_busy) {
		/* Like Janus: a hangup of our own call attempt, and our PC closed. */
		push_result(s, tx, hangup_result(me, "User busy"), NULL);
		vc_core->close_pc(s->app);
	} else if (jsep == NULL) {
		push_error(s, tx, VC_ERROR_MISSING_SDP, "Missing SDP");
	} else if (!jsep_is(jsep, "offer")) {
		push_error(s, tx, VC_ERROR_INVALID_SDP, "Invalid SDP (a call needs an offer)");
	} else {
		const char *error = NULL;
		char *offer = vc_sdp_offer_from(jsep_sdp(jsep), &error);
		if (offer == NULL) {
			push_error(s, tx, VC_ERROR_INVALID_SDP, "%s", error);
			g_free(me);
			return;
		}
		/* Look again: the callee may have detached or been called meanwhile. */
		g_mutex_lock(&vc_state_mutex);
		p = g_hash_table_lookup(users, name);
		gboolean ok = p && p->peer == NULL && s->peer == NULL;
		if (ok) {
			vc_session_ref(p);
			vc_session_ref(s);
			s->peer = p;
			p->peer = s;
			s->state = VC_CALLING;
			p->state = VC_RINGING;
			g_free(s->pending_offer);
			s->pending_offer = g_strdup(jsep_sdp(jsep));
			vc_session_ref(p);       /* ours, for the pushes below */
		}
		g_mutex_unlock(&vc_state_mutex);
		if (!ok) {
			push_result(s, tx, hangup_result(me, "User busy"), NULL);
			vc_core->close_pc(s->app);
		} else {
			json_t *ojsep = json_pack("{s:s, s:s}", "type", "offer", "sdp", offer);
			int rc = push_result(p, NULL, json_pack("{s:s, s:s}", "event", "incomingcall", "username", me), ojsep);
			json_decref(ojsep);
			if (rc < 0) {
				CARDEA_LOG(CARDEA_LOG_ERR, "[videocall] cannot offer %s's call to %s (%d)", me, name, rc);
				end_call(s, "Remote WebRTC hangup", FALSE);
				push_error(s, tx, VC_ERROR_UNKNOWN, "Could not offer the call to '%s'", name);
			} else {
				CARDEA_LOG(CARDEA_LOG_INFO, "[videocall] %s is calling %s", me, name);
				push_result(s, tx, json_pack("{s:s}", "event", "calling"), NULL);
				notify(s, "calling", me, name);
			}
			vc_session_unref(p);
		}
		g_free(offer);
	}
	g_free(me);
}

/* The answerer `s` answered `p`'s pending offer with `answer`: builds p's
 * answer and sets up the relay both ways. Returns p's answer (g_free) or
 * NULL with *error. Takes p from s->peer; *pp gets a ref. */
static char *complete_negotiation(vc_session *s, const char *answer, vc_session **pp, const char **error) {
	g_mutex_lock(&vc_state_mutex);
	vc_session *p = s->peer;
	char *offer = p ? g_strdup(p->pending_offer) : NULL;
	if (p)
		vc_session_ref(p);
	g_mutex_unlock(&vc_state_mutex);
	*pp = p;
	if (offer == NULL) {
		*error = "No offer to answer";
		return NULL;
	}
	vc_fwd_cfg pfwd[VC_MAX_MLINES], sfwd[VC_MAX_MLINES];
	char *text = vc_sdp_answer_from(offer, answer, pfwd, sfwd, error);
	g_free(offer);
	if (text == NULL)
		return NULL;
	/* What each side sends, for recording: p what we answered it, s its answer. */
	rec_codecs_set(p, text);
	rec_codecs_set(s, answer);
	g_mutex_lock(&vc_state_mutex);
	gboolean still = s->peer == p && p->peer == s;
	if (still) {
		s->state = p->state = VC_INCALL;
		g_clear_pointer(&p->pending_offer, g_free);
	}
	g_mutex_unlock(&vc_state_mutex);
	if (!still) {
		*error = "The call ended meanwhile";
		g_free(text);
		return NULL;
	}
	vc_media_set_peer(p, s, pfwd);
	vc_media_set_peer(s, p, sfwd);
	return text;
}

static void req_accept(vc_session *s, const char *tx, json_t *body, json_t *jsep) {
	g_mutex_lock(&vc_state_mutex);
	gboolean has_call = s->peer != NULL;
	gboolean ringing = s->state == VC_RINGING;
	char *me = g_strdup(s->username);
	g_mutex_unlock(&vc_state_mutex);
	if (!has_call) {
		push_error(s, tx, VC_ERROR_NO_CALL, "No incoming call to accept");
	} else if (jsep == NULL) {
		push_error(s, tx, VC_ERROR_MISSING_SDP, "Missing SDP");
	} else if (!ringing) {
		push_error(s, tx, VC_ERROR_NO_CALL, "No incoming call to accept");
	} else if (!jsep_is(jsep, "answer")) {
		push_error(s, tx, VC_ERROR_INVALID_SDP, "Invalid SDP (accept needs an answer)");
	} else {
		vc_session *p = NULL;
		const char *error = NULL;
		char *answer = complete_negotiation(s, jsep_sdp(jsep), &p, &error);
		if (answer == NULL) {
			push_error(s, tx, VC_ERROR_INVALID_SDP, "%s", error);
			end_call(s, "Remote WebRTC hangup", TRUE);
		} else {
			json_t *ajsep = json_pack("{s:s, s:s}", "type", "answer", "sdp", answer);
			int rc = push_result(p, NULL, json_pack("{s:s, s:s}", "event", "accepted", "username", me), ajsep);
			json_decref(ajsep);
			push_result(s, tx, json_pack("{s:s}", "event", "accepted"), NULL);
			if (rc < 0) {
				/* The caller's PeerConnection is gone: nothing to relay to. */
				end_call(p, "Remote WebRTC hangup", TRUE);
			} else {
				CARDEA_LOG(CARDEA_LOG_INFO, "[videocall] %s accepted the call", me);
				notify(s, "accepted", me, p->username);
			}
		}
		g_free(answer);
		if (p)
			vc_session_unref(p);
	}
	g_free(me);
}

/* `set` with a jsep: an offer goes on to the peer as an update (its answer
 * comes back in its own `set`); an answer completes the peer's offer. */
static gboolean set_jsep(vc_session *s, const char *tx, json_t *jsep) {
	const char *error = NULL;
	if (jsep_is(jsep, "answer")) {
		vc_session *p = NULL;
		char *answer = complete_negotiation(s, jsep_sdp(jsep), &p, &error);
		if (answer == NULL) {
			if (p)
				vc_session_unref(p);
			push_error(s, tx, VC_ERROR_INVALID_SDP, "%s", error);
			return FALSE;
		}
		json_t *ajsep = json_pack("{s:s, s:s}", "type", "answer", "sdp", answer);
		push_result(p, NULL, json_pack("{s:s}", "event", "update"), ajsep);
		json_decref(ajsep);
		g_free(answer);
		vc_session_unref(p);
		return TRUE;
	}
	g_mutex_lock(&vc_state_mutex);
	vc_session *p = s->state == VC_INCALL ? s->peer : NULL;
	if (p)
		vc_session_ref(p);
	g_mutex_unlock(&vc_state_mutex);
	if (p == NULL)
		return TRUE;                /* like Janus: nobody to update */
	char *offer = vc_sdp_offer_from(jsep_sdp(jsep), &error);
	if (offer == NULL) {
		vc_session_unref(p);
		push_error(s, tx, VC_ERROR_INVALID_SDP, "%s", error);
		return FALSE;
	}
	g_mutex_lock(&vc_state_mutex);
	g_free(s->pending_offer);
	s->pending_offer = g_strdup(jsep_sdp(jsep));
	g_mutex_unlock(&vc_state_mutex);
	json_t *ojsep = json_pack("{s:s, s:s}", "type", "offer", "sdp", offer);
	if (push_result(p, NULL, json_pack("{s:s}", "event", "update"), ojsep) < 0)
		CARDEA_LOG(CARDEA_LOG_WARN, "[videocall] could not send a renegotiation offer to the peer");
	json_decref(ojsep);
	g_free(offer);
	vc_session_unref(p);
	return TRUE;
}

static void req_set(vc_session *s, const char *tx, json_t *body, json_t *jsep) {
	static const struct { const char *name; char kind; } members[] = {
		{ "audio", 'b' }, { "video", 'b' }, { "bitrate", 'u' }, { "record", 'b' }, { "filename", 's' },
		{ "restart", 'b' }, { "substream", 'u' }, { "temporal", 'u' }, { "fallback", 'u' },
	};
	for (guint i = 0; i < G_N_ELEMENTS(members); i++)
		if (!check_member(s, tx, body, members[i].name, members[i].kind))
			return;
	json_t *substream = json_object_get(body, "substream"), *temporal = json_object_get(body, "temporal");
	if (substream && json_integer_value(substream) > 2) {
		push_error(s, tx, VC_ERROR_INVALID_ELEMENT, "Invalid value (substream should be 0, 1 or 2)");
		return;
	}
	if (temporal && json_integer_value(temporal) > 2) {
		push_error(s, tx, VC_ERROR_INVALID_ELEMENT, "Invalid value (temporal should be 0, 1 or 2)");
		return;
	}
	json_t *v;
	if ((v = json_object_get(body, "audio")))
		g_atomic_int_set(&s->audio, json_is_true(v));
	if ((v = json_object_get(body, "video"))) {
		g_atomic_int_set(&s->video, json_is_true(v));
		if (json_is_true(v))
			vc_media_request_keyframes(s);  /* the peer resumes decoding */
	}
	if ((v = json_object_get(body, "bitrate"))) {
		g_atomic_int_set(&s->bitrate, (gint)MIN(json_integer_value(v), G_MAXINT));
		/* Caps what this user sends; setup_media repeats it for a new PC. */
		vc_core->send_remb(s->app, (uint32_t)g_atomic_int_get(&s->bitrate));
	}
	json_t *fallback = json_object_get(body, "fallback");
	if (substream || temporal || fallback) {
		if (substream)
			g_atomic_int_set(&s->substream_target, (gint)json_integer_value(substream));
		if (temporal)
			g_atomic_int_set(&s->temporal_target, (gint)json_integer_value(temporal));
		if (fallback)
			g_atomic_int_set(&s->fallback, (gint)MIN(json_integer_value(fallback), G_MAXINT));
		g_atomic_int_inc(&s->sim_gen);
		g_mutex_lock(&vc_state_mutex);
		vc_session *p = s->peer;
		if (p)
			vc_session_ref(p);
		g_mutex_unlock(&vc_state_mutex);
		if (p) {
			/* A switch happens at a keyframe of the layer switched to. */
			vc_media_request_keyframes(p);
			vc_session_unref(p);
		}
	}
	/* restart: an ICE restart is the client's offer, handled by the core. */
	json_t *record = json_object_get(body, "record"), *filename = json_object_get(body, "filename");
	if (filename && !cardea_recorder_name_valid(json_string_value(filename))) {
		push_error(s, tx, VC_ERROR_INVALID_ELEMENT, "Invalid element (filename: a relative name without '..' is needed)");
		return;
	}
	if (jsep && !set_jsep(s, tx, jsep))
		return;
	if (json_is_true(record)) {
		record_stop(s);
		record_start(s, json_string_value(filename));
	} else if (json_is_false(record)) {
		record_stop(s);
	}
	push_result(s, tx, json_pack("{s:s}", "event", "set"), NULL);
}

static void req_hangup(vc_session *s, const char *tx, json_t *body, json_t *jsep) {
	const char *reason = json_string_value(json_object_get(body, "reason"));
	g_mutex_lock(&vc_state_mutex);
	char *me = g_strdup(s->username);
	g_mutex_unlock(&vc_state_mutex);
	push_result(s, tx, hangup_result(me, "Explicit hangup"), NULL);
	end_call(s, reason ? reason : "We did the hangup", TRUE);
	g_free(me);
}

static const struct {
	const char *name;
	vc_request_fn fn;
} requests[] = {
	{ "list", req_list },
	{ "register", req_register },
	{ "call", req_call },
	{ "accept", req_accept },
	{ "set", req_set },
	{ "hangup", req_hangup },
};

static void handle_request(cardea_plugin_session *app, const char *tx, json_t *body, json_t *jsep, void *user_data) {
	vc_session *s = session_lookup(app);
	if (s == NULL)
		goto out;
	json_t *request = json_object_get(body, "request");
	if (request == NULL) {
		push_error(s, tx, VC_ERROR_MISSING_ELEMENT, "Missing mandatory element (request)");
	} else if (!json_is_string(request)) {
		push_error(s, tx, VC_ERROR_INVALID_ELEMENT, "Invalid element type (request should be a string)");
	} else {
		const char *name = json_string_value(request);
		guint i = 0;
		while (i < G_N_ELEMENTS(requests) && g_ascii_strcasecmp(name, requests[i].name) != 0)
			i++;
		if (i < G_N_ELEMENTS(requests))
			requests[i].fn(s, tx, body, jsep);
		else
			push_error(s, tx, VC_ERROR_INVALID_REQUEST, "Unknown request (%s)", name);
	}
	vc_session_unref(s);
out:
	json_decref(body);
	json_decref(jsep);
}

/* ---- plugin API ---- */

static int vc_init(const cardea_plugin_core *c, const char *config_path) {
	vc_core = c;
	/* One setting, general.rec_dir; the config file may be absent. */
	if (config_path && g_file_test(config_path, G_FILE_TEST_EXISTS)) {
		GError *error = NULL;
		cardea_config *cfg = cardea_config_load(config_path, &error);
		if (cfg == NULL || !cardea_config_get_string(cfg, "general", "rec_dir", NULL, &rec_dir, &error)) {
			CARDEA_LOG(CARDEA_LOG_FATAL, "[videocall] %s", error ? error->message : "cannot load the config");
			g_clear_error(&error);
			cardea_config_free(cfg);
			return -1;
		}
		cardea_config_free(cfg);
	}
	sessions = g_hash_table_new(NULL, NULL);
	users = g_hash_table_new(g_str_hash, g_str_equal);
	queue = cardea_plugin_queue_new("videocall", handle_request, NULL);
	return 0;
}

static void vc_destroy(void) {
	cardea_plugin_queue_free(queue);
	queue = NULL;
	g_clear_pointer(&rec_dir, g_free);
	g_mutex_lock(&vc_state_mutex);
	g_hash_table_destroy(users);
	users = NULL;
	g_hash_table_destroy(sessions);
	sessions = NULL;
	g_mutex_unlock(&vc_state_mutex);
}

static void vc_create_session(cardea_plugin_session *app, int *error) {
	vc_session *s = g_new0(vc_session, 1);
	cardea_plugin_session_ref(app);
	s->app = app;
	s->audio = s->video = 1;
	s->substream_target = s->temporal_target = -1;
	s->substream = s->temporal = -1;
	g_mutex_init(&s->media_mutex);
	cardea_refcount_init(&s->ref, vc_session_free);
	app->plugin_handle = s;
	g_mutex_lock(&vc_state_mutex);
	g_hash_table_insert(sessions, app, s);
	g_mutex_unlock(&vc_state_mutex);
}

static cardea_plugin_result vc_handle_message(cardea_plugin_session *app, const char *transaction,
		json_t *message, json_t *jsep) {
	cardea_plugin_queue_push(queue, app, transaction, message, jsep);
	return cardea_plugin_wait(VC_HINT);
}

static void vc_hangup_media(cardea_plugin_session *app) {
	vc_session *s = session_lookup(app);
	if (s == NULL)
		return;
	/* Our PeerConnection is gone: so is the call. */
	end_call(s, "Remote WebRTC hangup", FALSE);
	vc_session_unref(s);
}

static void vc_destroy_session(cardea_plugin_session *app, int *error) {
	vc_session *s = session_lookup(app);
	if (s == NULL) {
		*error = -1;
		return;
	}
	end_call(s, "Remote WebRTC hangup", FALSE);
	g_mutex_lock(&vc_state_mutex);
	if (s->username && g_hash_table_lookup(users, s->username) == s)
		g_hash_table_remove(users, s->username);
	gboolean removed = g_hash_table_remove(sessions, app);
	g_mutex_unlock(&vc_state_mutex);
	if (s->username)
		CARDEA_LOG(CARDEA_LOG_INFO, "[videocall] '%s' unregistered (detached)", s->username);
	app->plugin_handle = NULL;
	if (removed)
		vc_session_unref(s);         /* the table's */
	vc_session_unref(s);
}

static json_t *vc_query_session(cardea_plugin_session *app) {
	vc_session *s = session_lookup(app);
	if (s == NULL)
		return NULL;
	g_mutex_lock(&vc_state_mutex);
	json_t *info = json_pack("{s:s*, s:s*, s:s}", "username", s->username,
		"peer", s->peer ? s->peer->username : NULL, "state", state_name(s->state));
	g_mutex_unlock(&vc_state_mutex);
	json_object_set_new(info, "audio_active", json_boolean(g_atomic_int_get(&s->audio)));
	json_object_set_new(info, "video_active", json_boolean(g_atomic_int_get(&s->video)));
	json_object_set_new(info, "bitrate", json_integer(g_atomic_int_get(&s->bitrate)));
	json_object_set_new(info, "packets_relayed", json_integer((json_int_t)s->relayed));
	json_object_set_new(info, "packets_dropped", json_integer((json_int_t)s->dropped));
	gint st = g_atomic_int_get(&s->substream_target), tt = g_atomic_int_get(&s->temporal_target);
	json_object_set_new(info, "substream", json_integer(g_atomic_int_get(&s->substream)));
	json_object_set_new(info, "substream-target", json_integer(st >= 0 ? st : 2));
	json_object_set_new(info, "temporal-layer", json_integer(g_atomic_int_get(&s->temporal)));
	json_object_set_new(info, "temporal-layer-target", json_integer(tt >= 0 ? tt : 2));
	vc_session_unref(s);
	return info;
}

/* /metrics gauges: registered users, and calls (pairs of peers). */
static json_t *vc_query_metrics(void) {
	int registered = 0, in_call = 0;
	g_mutex_lock(&vc_state_mutex);
	if (users) {
		GHashTableIter it;
		gpointer v;
		g_hash_table_iter_init(&it, users);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			registered++;
			in_call += ((vc_session *)v)->peer != NULL;
		}
	}
	g_mutex_unlock(&vc_state_mutex);
	return json_pack("{s:i, s:i}", "users", registered, "calls", in_call / 2);
}

cardea_plugin vc_plugin = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_PLUGIN, cardea_plugin),
		.package = VC_PACKAGE,
		.name = "videocall",
		.description = "One-to-one calls between registered users, relayed by the gateway (Janus VideoCall API)",
		.author = "Cardea",
		.version_string = "0.1.0",
		.version = 1,
	},
	.init = vc_init,
	.destroy = vc_destroy,
	.create_session = vc_create_session,
	.handle_message = vc_handle_message,
	.hangup_media = vc_hangup_media,
	.destroy_session = vc_destroy_session,
	.query_session = vc_query_session,
	.setup_media = vc_setup_media,
	.incoming_rtp = vc_incoming_rtp,
	.incoming_keyframe_request = vc_incoming_keyframe_request,
	.data_ready = vc_data_ready,
	.incoming_data = vc_incoming_data,
	.query_metrics = vc_query_metrics,
};

CARDEA_MODULE_DEFINE(vc_plugin)
