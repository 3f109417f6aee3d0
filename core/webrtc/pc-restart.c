/* ICE restart without an offer/answer exchange: WHIP/WHEP (RFC 9725 4.3.3)
 * carry only the peer's new ICE credentials in a PATCH, the media stays as
 * negotiated. The Janus API path (a re-offer with new credentials) is in
 * cardea_pc_process_remote; this one does the same transport work (new local
 * credentials, agent restart, peer's credentials) without an SDP.
 *
 * Threads: the transport's thread looks the handle up and waits while the
 * PC's media loop does the work (restart_loop), like admin info does; the
 * credentials and candidates shared with the SDP builder change under
 * pc->mutex, as in process_remote. */
#include "webrtc/pc-priv.h"
#include "api-errors.h"

typedef struct pc_restart {
	cardea_pc *pc;
	const char *ufrag, *pwd;        /* the peer's new credentials (borrowed: the caller waits) */
	json_t *local;                  /* out: our side, on success */
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
	if (!cardea_ice_restart(pc->ice, ufrag, pwd) || !cardea_ice_set_remote_credentials(pc->ice, r->ufrag, r->pwd)) {
		/* The agent is in no known state: end it, as a failed restart of a
		 * Janus API re-offer does. */
		g_free(ufrag);
		g_free(pwd);
		r->code = CARDEA_ERROR_UNKNOWN;
		cardea_pc_priv_end(pc, "ICE failed");
		return G_SOURCE_REMOVE;
	}
	/* Local candidates survive a restart (ice.h): the peer gets them again
	 * with the new credentials. */
	json_t *cands = json_array();
	g_mutex_lock(&pc->mutex);
	g_free(pc->local_ufrag);
	g_free(pc->local_pwd);
	pc->local_ufrag = ufrag;
	pc->local_pwd = pwd;
	g_free(pc->remote_ufrag);
	g_free(pc->remote_pwd);
	pc->remote_ufrag = g_strdup(r->ufrag);
	pc->remote_pwd = g_strdup(r->pwd);
	for (guint i = 0; i < pc->local_candidates->len; i++)
		json_array_append_new(cands, json_string(g_ptr_array_index(pc->local_candidates, i)));
	r->local = json_pack("{s:s, s:s, s:o, s:b, s:b}", "ufrag", ufrag, "pwd", pwd, "candidates", cands,
		"complete", pc->gathering_done, "lite", cardea_gw->settings.ice_lite);
	g_mutex_unlock(&pc->mutex);
	r->code = 0;
	CARDEA_LOG(CARDEA_LOG_INFO, "[%"G_GUINT64_FORMAT"/%"G_GUINT64_FORMAT"] ICE restart (no offer)",
		pc->sid, pc->hid);
	return G_SOURCE_REMOVE;
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
		pc_restart r = { pc, ufrag, pwd, NULL, CARDEA_ERROR_WEBRTC_STATE };
		/* The handle ref keeps pc alive while we wait. */
		cardea_pc_priv_run_sync(pc, restart_loop, &r);
		code = r.code;
		*local = r.local;
	}
	cardea_handle_unref(h);
	return code;
}
