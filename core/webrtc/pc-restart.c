/* ICE restart without an offer/answer exchange: WHIP/WHEP (RFC 9725 4.3.3)
 * carry only the peer's new ICE credentials in a PATCH, the media stays as
 * negotiated. The Janus API path (a re-offer with new credentials) is in
 * cardea_pc_process_remote; this one does the same transport work (new local
 * credentials, an agent restart on new ports, the peer's credentials)
 * without an SDP.
 *
 * New ports, as for a Janus API re-offer (ice.h): a browser that moved
 * sends its PATCH after createOffer({iceRestart: true}), and meanwhile
 * checks our old candidate from its new address with the old credentials;
 * were the new candidates on the same ports, it would keep that stale pair
 * and never check them (tests/integration/test_ice_restart_netns.py).
 *
 * Threads: the transport's thread looks the handle up and waits while the
 * PC's media loop does the work (restart_loop), like admin info does, then
 * waits (bounded, as for a half-trickle answer) for the new candidates:
 * WHIP has no server-to-client trickle, so the 200 must carry them. The
 * credentials and candidates shared with the SDP builder change under
 * pc->mutex, as in process_remote. */
#include "webrtc/pc-priv.h"
#include "api-errors.h"

typedef struct pc_restart {
	cardea_pc *pc;
	const char *ufrag, *pwd;        /* the peer's new credentials (borrowed: the caller waits) */
	char *local_ufrag, *local_pwd;  /* out, owned: our new credentials, on success */
	int code;                       /* out */
} pc_restart;

/* RFC 8839 5.4: ice-char = ALPHA / DIGIT / "+" / "/". */
static gboolean ice_chars(const char *s, size_t min, size_t max) {
	size_t n = s ? strlen(s) : 0;
	if (n < min || n > max)
		return FALSE;
	for (const char *c = s; *c; c++)
		if (!g_ascii_isalnum(*c) && *c != '+' && *c != '/')
			return FALSE;
	return TRUE;
}

/* Loop thread. */
static gboolean restart_loop(gpointer data) {
	pc_restart *r = data;
	cardea_pc *pc = r->pc;
	r->code = CARDEA_ERROR_WEBRTC_STATE;
	/* Only a transport that exists and whose DTLS was set up: before the
	 * first answer there is nothing to restart. */
	if (!g_atomic_int_get(&pc->active) || pc->ice == NULL || pc->dtls == NULL)
		return G_SOURCE_REMOVE;
	g_mutex_lock(&pc->mutex);
	/* Our own offer waits for an answer: that answer would bring other
	 * credentials (pc-offer.c checks them), so no restart behind its back. */
	gboolean pending = pc->offer_pending;
	gboolean same = g_strcmp0(pc->remote_ufrag, r->ufrag) == 0;
	g_mutex_unlock(&pc->mutex);
	if (pending)
		return G_SOURCE_REMOVE;
	if (same) {
		/* RFC 8839 4.4.1.1.1: a restart changes the ufrag. */
		r->code = CARDEA_ERROR_JSEP_INVALID_SDP;
		return G_SOURCE_REMOVE;
	}
	char *ufrag = NULL, *pwd = NULL;
	cardea_ice_random_credentials(&ufrag, &pwd);
	/* The candidates gathered from now on are the new stream's. */
	g_mutex_lock(&pc->mutex);
	pc->gathering_done = FALSE;
	g_ptr_array_set_size(pc->local_candidates, 0);
	g_mutex_unlock(&pc->mutex);
	if (!cardea_ice_restart_new_ports(pc->ice, ufrag, pwd) ||
			!cardea_ice_set_remote_credentials(pc->ice, r->ufrag, r->pwd)) {
		/* The agent is in no known state: end it, as a failed restart of a
		 * Janus API re-offer does, and wake an SDP builder waiting for
		 * candidates that will not come. */
		g_free(ufrag);
		g_free(pwd);
		g_mutex_lock(&pc->mutex);
		pc->gathering_done = TRUE;
		g_cond_broadcast(&pc->cond);
		g_mutex_unlock(&pc->mutex);
		r->code = CARDEA_ERROR_UNKNOWN;
		cardea_pc_priv_end(pc, "ICE failed");
		return G_SOURCE_REMOVE;
	}
	g_mutex_lock(&pc->mutex);
	g_free(pc->local_ufrag);
	g_free(pc->local_pwd);
	pc->local_ufrag = g_strdup(ufrag);
	pc->local_pwd = g_strdup(pwd);
	g_free(pc->remote_ufrag);
	g_free(pc->remote_pwd);
	pc->remote_ufrag = g_strdup(r->ufrag);
	pc->remote_pwd = g_strdup(r->pwd);
	g_mutex_unlock(&pc->mutex);
	r->local_ufrag = ufrag;
	r->local_pwd = pwd;
	r->code = 0;
	CARDEA_LOG(CARDEA_LOG_INFO, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] ICE restart on new ports (no offer)",
		pc->sid, pc->hid);
	return G_SOURCE_REMOVE;
}

/* How long the transport's thread waits for the new candidates. Host ones
 * come at once (the agent binds them while restart_loop runs); srflx/relay
 * ones take a round trip to the STUN/TURN server, well under this on a
 * working path. Shorter than PC_GATHER_WAIT_US: the waiting thread may be
 * the HTTP transport's only one. */
#define RESTART_GATHER_WAIT_US (G_USEC_PER_SEC)

/* Transport thread, after restart_loop: our side for the peer, once the new
 * stream gathered (or RESTART_GATHER_WAIT_US passed: what we have then,
 * without "complete"). */
static json_t *restart_local(cardea_pc *pc, const pc_restart *r) {
	gint64 deadline = g_get_monotonic_time() + RESTART_GATHER_WAIT_US;
	json_t *cands = json_array();
	g_mutex_lock(&pc->mutex);
	while (!pc->gathering_done)
		if (!g_cond_wait_until(&pc->cond, &pc->mutex, deadline))
			break;
	for (guint i = 0; i < pc->local_candidates->len; i++)
		json_array_append_new(cands, json_string(g_ptr_array_index(pc->local_candidates, i)));
	json_t *local = json_pack("{s:s, s:s, s:o, s:b, s:b}", "ufrag", r->local_ufrag, "pwd", r->local_pwd,
		"candidates", cands, "complete", pc->gathering_done, "lite", cardea_gw->settings.ice_lite);
	g_mutex_unlock(&pc->mutex);
	return local;
}

int cardea_pc_transport_ice_restart(cardea_transport_session *ts, guint64 session_id, guint64 handle_id,
		const char *ufrag, const char *pwd, json_t **local) {
	*local = NULL;
	if (!ice_chars(ufrag, 4, 256) || !ice_chars(pwd, 22, 256))
		return CARDEA_ERROR_JSEP_INVALID_SDP;
	cardea_session *s = cardea_session_find(session_id);
	if (s == NULL)
		return CARDEA_ERROR_SESSION_NOT_FOUND;
	/* A transport restarts only the sessions it talks for. */
	g_mutex_lock(&s->mutex);
	gboolean mine = ts != NULL && s->source == ts;
	g_mutex_unlock(&s->mutex);
	cardea_handle *h = mine && !g_atomic_int_get(&s->destroyed) ? cardea_handle_find(s, handle_id) : NULL;
	cardea_session_unref(s);
	if (!mine)
		return CARDEA_ERROR_SESSION_NOT_FOUND;
	if (h == NULL)
		return CARDEA_ERROR_HANDLE_NOT_FOUND;
	int code = CARDEA_ERROR_WEBRTC_STATE;
	cardea_pc *pc = g_atomic_int_get(&h->detached) ? NULL : pc_of(h);
	if (pc != NULL) {
		pc_restart r = { pc, ufrag, pwd, NULL, NULL, CARDEA_ERROR_WEBRTC_STATE };
		/* The handle ref keeps pc alive while we wait. */
		cardea_pc_priv_run_sync(pc, restart_loop, &r);
		code = r.code;
		if (code == 0)
			*local = restart_local(pc, &r);
		g_free(r.local_ufrag);
		g_free(r.local_pwd);
	}
	cardea_handle_unref(h);
	return code;
}
