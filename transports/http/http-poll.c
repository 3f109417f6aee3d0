/* Long polls (janus-api.md §4.2): one event queue per gateway session that
 * was created or claimed over HTTP, GET {base}/{s} to drain it, and the
 * timer thread that answers idle polls with a keepalive and frees the
 * queues of ended sessions.
 *
 * Threads: the core adds events and creates/ends queues from its threads,
 * MHD workers start polls, the timer thread expires them; all under
 * cardea_http.lock, resuming connections only after unlocking.
 */
#include <string.h>

#include "cardea/module.h"
#include "http-priv.h"

/* A session whose client stopped polling must not grow without bound. */
#define HTTP_MAX_QUEUED_EVENTS 1000
/* Events queued when a session ended stay fetchable this long. */
#define HTTP_OVER_GRACE_US (30 * G_USEC_PER_SEC)
#define HTTP_SWEEP_SECONDS 5
/* Upper bound for ?maxev: one response, not a dump of the whole queue. */
#define HTTP_MAX_MAXEV 1000

static void http_session_free(gpointer p) {
	http_session *s = p;
	json_t *ev;
	while ((ev = g_queue_pop_head(&s->events)) != NULL)
		json_decref(ev);
	/* Parked polls are borrowed and were completed before we got here. */
	g_queue_clear(&s->polls);
	g_free(s);
}

static json_t *http_keepalive(void) {
	return json_pack("{s:s}", "janus", "keepalive");
}

json_t *cardea_http_poll_body(int maxev, json_t *events) {
	if (maxev <= 1) {
		json_t *one = json_array_size(events) > 0 ? json_incref(json_array_get(events, 0)) : http_keepalive();
		json_decref(events);
		return one;
	}
	if (json_array_size(events) == 0)
		json_array_append_new(events, http_keepalive());
	return events;
}

/* Moves up to `maxev` queued events into a new array; lock held. */
static json_t *http_take_events_locked(http_session *s, int maxev) {
	json_t *arr = json_array();
	while (json_array_size(arr) < (size_t)maxev && !g_queue_is_empty(&s->events))
		json_array_append_new(arr, g_queue_pop_head(&s->events));
	return arr;
}

/* An ended session's queue goes as soon as nothing is left to deliver. */
static void http_session_maybe_free_locked(http_session *s) {
	if (s->over && g_queue_is_empty(&s->events) && g_queue_is_empty(&s->polls))
		g_hash_table_remove(cardea_http.sessions, &s->id);
}

/* Completes every parked poll of `s`: the first ones drain the queue, the
 * rest get a keepalive (§4.2). Adds the connections to resume to `resume`. */
static void http_complete_polls_locked(http_session *s, GPtrArray *resume) {
	http_req *req;
	while ((req = g_queue_pop_head(&s->polls)) != NULL) {
		json_t *body = cardea_http_poll_body(req->maxev, http_take_events_locked(s, req->maxev));
		g_ptr_array_add(resume, cardea_http_req_complete_locked(req, body, 0));
	}
}

static void http_resume_all(GPtrArray *conns) {
	if (conns == NULL)
		return;
	for (guint i = 0; i < conns->len; i++)
		MHD_resume_connection(g_ptr_array_index(conns, i));
	g_ptr_array_free(conns, TRUE);
}

void cardea_http_poll_forget_locked(http_req *req) {
	http_session *s = g_hash_table_lookup(cardea_http.sessions, &req->session_id);
	if (s != NULL)
		g_queue_remove(&s->polls, req);
}

/* ---- calls from the core ---- */

void cardea_http_session_created(guint64 session_id) {
	g_mutex_lock(&cardea_http.lock);
	http_session *s = cardea_http.stopping ? NULL : g_hash_table_lookup(cardea_http.sessions, &session_id);
	if (s != NULL) {
		/* Claimed back before its old queue was freed: keep what is queued. */
		s->over = false;
	} else if (!cardea_http.stopping) {
		s = g_new0(http_session, 1);
		s->id = session_id;
		g_queue_init(&s->events);
		g_queue_init(&s->polls);
		g_hash_table_insert(cardea_http.sessions, &s->id, s);
	}
	g_mutex_unlock(&cardea_http.lock);
}

void cardea_http_session_over(guint64 session_id) {
	GPtrArray *resume = NULL;
	g_mutex_lock(&cardea_http.lock);
	http_session *s = g_hash_table_lookup(cardea_http.sessions, &session_id);
	if (s != NULL) {
		s->over = true;
		s->over_since = g_get_monotonic_time();
		/* Parked polls would otherwise hang until their timeout. Events
		 * queued just before (the `timeout` event) already woke them. */
		if (!g_queue_is_empty(&s->polls)) {
			resume = g_ptr_array_new();
			http_complete_polls_locked(s, resume);
		}
		http_session_maybe_free_locked(s);
	}
	g_mutex_unlock(&cardea_http.lock);
	http_resume_all(resume);
}

int cardea_http_event(json_t *event) {
	json_t *sid = json_object_get(event, "session_id");
	if (!json_is_integer(sid) || json_integer_value(sid) <= 0) {
		CARDEA_LOG(CARDEA_LOG_WARN, "[http] event without a session_id dropped");
		json_decref(event);
		return 0;
	}
	guint64 id = (guint64)json_integer_value(sid);
	GPtrArray *resume = NULL;
	g_mutex_lock(&cardea_http.lock);
	if (cardea_http.stopping) {
		g_mutex_unlock(&cardea_http.lock);
		json_decref(event);
		return -1;
	}
	http_session *s = g_hash_table_lookup(cardea_http.sessions, &id);
	if (s == NULL || s->over) {
		g_mutex_unlock(&cardea_http.lock);
		CARDEA_LOG(CARDEA_LOG_VERB, "[http] [session %"G_GUINT64_FORMAT"] event dropped: no long-poll queue", id);
		json_decref(event);
		return 0;
	}
	if (g_queue_get_length(&s->events) >= HTTP_MAX_QUEUED_EVENTS) {
		json_decref(g_queue_pop_head(&s->events));
		CARDEA_LOG(CARDEA_LOG_WARN, "[http] [session %"G_GUINT64_FORMAT"] more than %d events waiting "
			"for a long poll, dropping the oldest", id, HTTP_MAX_QUEUED_EVENTS);
	}
	g_queue_push_tail(&s->events, event);
	if (!g_queue_is_empty(&s->polls)) {
		resume = g_ptr_array_new();
		http_complete_polls_locked(s, resume);
	}
	g_mutex_unlock(&cardea_http.lock);
	http_resume_all(resume);
	return 0;
}

/* ---- polls ---- */

/* Timer thread: a parked poll saw no event for long_poll_timeout seconds.
 * `data` is the request's rid, not a pointer: the poll may be long gone. */
static gboolean http_poll_expired(gpointer data) {
	guint64 rid = (guint64)(uintptr_t)data;
	struct MHD_Connection *conn = NULL;
	g_mutex_lock(&cardea_http.lock);
	http_req *req = g_hash_table_lookup(cardea_http.waiting, data);
	if (req != NULL && req->is_poll && req->rid == rid) {
		cardea_http_poll_forget_locked(req);
		conn = cardea_http_req_complete_locked(req, cardea_http_poll_body(req->maxev, json_array()), 0);
	}
	g_mutex_unlock(&cardea_http.lock);
	if (conn != NULL)
		MHD_resume_connection(conn);
	return G_SOURCE_REMOVE;
}

static int http_parse_maxev(const char *text) {
	if (text == NULL)
		return 1;
	char *end = NULL;
	gint64 v = g_ascii_strtoll(text, &end, 10);
	if (end == text || v < 1)
		return 1;
	return v > HTTP_MAX_MAXEV ? HTTP_MAX_MAXEV : (int)v;
}

static enum MHD_Result http_poll_answer(http_req *req, unsigned int status, json_t *body) {
	req->state = HTTP_REQ_DONE;
	if (body != NULL)
		return cardea_http_send_json(req->conn, MHD_HTTP_OK, body, false);
	return cardea_http_send_status(req->conn, status);
}

enum MHD_Result cardea_http_poll_start(http_req *req, guint64 session_id) {
	struct MHD_Connection *conn = req->conn;
	const char *apisecret = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "apisecret");
	const char *token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
	req->maxev = http_parse_maxev(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "maxev"));
	req->session_id = session_id;
	if (!cardea_http.core->check_api_auth(apisecret, token))
		return http_poll_answer(req, MHD_HTTP_FORBIDDEN, NULL);

	g_mutex_lock(&cardea_http.lock);
	http_session *s = g_hash_table_lookup(cardea_http.sessions, &session_id);
	bool exists = s != NULL, over = s != NULL && s->over;
	g_mutex_unlock(&cardea_http.lock);
	/* An ended session has no timer left to refresh, but what it queued
	 * before ending (the `timeout` event) must still reach the client. */
	if (!exists || (!over && !cardea_http.core->session_keepalive(session_id)))
		return http_poll_answer(req, MHD_HTTP_NOT_FOUND, NULL);

	g_mutex_lock(&cardea_http.lock);
	s = g_hash_table_lookup(cardea_http.sessions, &session_id);
	if (s != NULL && !g_queue_is_empty(&s->events)) {
		json_t *body = cardea_http_poll_body(req->maxev, http_take_events_locked(s, req->maxev));
		http_session_maybe_free_locked(s);
		g_mutex_unlock(&cardea_http.lock);
		return http_poll_answer(req, 0, body);
	}
	if (s == NULL || s->over || cardea_http.stopping) {
		if (s != NULL)
			http_session_maybe_free_locked(s);
		g_mutex_unlock(&cardea_http.lock);
		return http_poll_answer(req, MHD_HTTP_NOT_FOUND, NULL);
	}
	g_mutex_unlock(&cardea_http.lock);

	/* Nothing queued: park. Suspend first, register second (http-priv.h),
	 * and look again, since an event may have slipped in meanwhile. */
	MHD_suspend_connection(conn);
	struct MHD_Connection *resume = NULL;
	g_mutex_lock(&cardea_http.lock);
	s = g_hash_table_lookup(cardea_http.sessions, &session_id);
	if (s != NULL && !g_queue_is_empty(&s->events)) {
		resume = cardea_http_req_complete_locked(req,
			cardea_http_poll_body(req->maxev, http_take_events_locked(s, req->maxev)), 0);
		http_session_maybe_free_locked(s);
	} else if (s == NULL || s->over || cardea_http.stopping) {
		resume = cardea_http_req_complete_locked(req, NULL, MHD_HTTP_NOT_FOUND);
		if (s != NULL)
			http_session_maybe_free_locked(s);
	} else {
		cardea_http_req_register_locked(req);
		g_queue_push_tail(&s->polls, req);
		req->timeout = g_timeout_source_new((guint)cardea_http.settings.long_poll_timeout * 1000);
		g_source_set_callback(req->timeout, http_poll_expired, (gpointer)(uintptr_t)req->rid, NULL);
		g_source_attach(req->timeout, cardea_http.timer_ctx);
	}
	g_mutex_unlock(&cardea_http.lock);
	if (resume != NULL)
		MHD_resume_connection(resume);
	return MHD_YES;
}

/* ---- timer thread ---- */

/* Frees the queues of sessions that ended more than the grace period ago
 * with events nobody came to fetch. */
static gboolean http_sweep(gpointer data) {
	gint64 now = g_get_monotonic_time();
	guint freed = 0;
	g_mutex_lock(&cardea_http.lock);
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, cardea_http.sessions);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		http_session *s = value;
		if (s->over && g_queue_is_empty(&s->polls) && now - s->over_since >= HTTP_OVER_GRACE_US) {
			g_hash_table_iter_remove(&it);
			freed++;
		}
	}
	g_mutex_unlock(&cardea_http.lock);
	if (freed > 0)
		CARDEA_LOG(CARDEA_LOG_VERB, "[http] freed %u unclaimed long-poll queue(s) of ended sessions", freed);
	return G_SOURCE_CONTINUE;
}

static gpointer http_timer_main(gpointer data) {
	g_main_context_push_thread_default(cardea_http.timer_ctx);
	g_main_loop_run(cardea_http.timer_loop);
	g_main_context_pop_thread_default(cardea_http.timer_ctx);
	return NULL;
}

static gboolean http_timer_quit(gpointer data) {
	g_main_loop_quit(cardea_http.timer_loop);
	return G_SOURCE_REMOVE;
}

bool cardea_http_poll_init(void) {
	cardea_http.waiting = g_hash_table_new(g_direct_hash, g_direct_equal);
	cardea_http.sessions = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, http_session_free);
	cardea_http.timer_ctx = g_main_context_new();
	cardea_http.timer_loop = g_main_loop_new(cardea_http.timer_ctx, FALSE);
	GSource *sweep = g_timeout_source_new_seconds(HTTP_SWEEP_SECONDS);
	g_source_set_callback(sweep, http_sweep, NULL, NULL);
	g_source_attach(sweep, cardea_http.timer_ctx);
	g_source_unref(sweep);
	GError *error = NULL;
	cardea_http.timer_thread = g_thread_try_new("http-timer", http_timer_main, NULL, &error);
	if (cardea_http.timer_thread == NULL) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[http] cannot start the timer thread: %s", error->message);
		g_error_free(error);
		return false;
	}
	return true;
}

void cardea_http_poll_shutdown(void) {
	GPtrArray *resume = g_ptr_array_new();
	g_mutex_lock(&cardea_http.lock);
	cardea_http.stopping = true;
	if (cardea_http.waiting != NULL) {
		GList *reqs = g_hash_table_get_values(cardea_http.waiting);
		for (GList *l = reqs; l != NULL; l = l->next) {
			http_req *req = l->data;
			json_t *body;
			if (req->is_poll) {
				cardea_http_poll_forget_locked(req);
				body = cardea_http_poll_body(req->maxev, json_array());
			} else {
				body = cardea_http_error_json(490, "Server shutting down");
			}
			g_ptr_array_add(resume, cardea_http_req_complete_locked(req, body, 0));
		}
		g_list_free(reqs);
	}
	if (cardea_http.sessions != NULL)
		g_hash_table_remove_all(cardea_http.sessions);
	g_mutex_unlock(&cardea_http.lock);
	http_resume_all(resume);

	if (cardea_http.timer_thread != NULL) {
		/* Quit from inside the loop: a g_main_loop_quit() that lands before
		 * the thread has entered g_main_loop_run() would be lost. */
		GSource *quit = g_idle_source_new();
		g_source_set_callback(quit, http_timer_quit, NULL, NULL);
		g_source_attach(quit, cardea_http.timer_ctx);
		g_source_unref(quit);
		g_thread_join(cardea_http.timer_thread);
		cardea_http.timer_thread = NULL;
	}
	if (cardea_http.timer_loop != NULL)
		g_main_loop_unref(cardea_http.timer_loop);
	if (cardea_http.timer_ctx != NULL)
		g_main_context_unref(cardea_http.timer_ctx);
	cardea_http.timer_loop = NULL;
	cardea_http.timer_ctx = NULL;
}

void cardea_http_poll_free(void) {
	if (cardea_http.waiting != NULL)
		g_hash_table_destroy(cardea_http.waiting);
	if (cardea_http.sessions != NULL)
		g_hash_table_destroy(cardea_http.sessions);
	cardea_http.waiting = NULL;
	cardea_http.sessions = NULL;
}

void cardea_http_poll_stats_locked(json_t *into) {
	guint polls = 0, events = 0, ended = 0;
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, cardea_http.sessions);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		http_session *s = value;
		polls += g_queue_get_length(&s->polls);
		events += g_queue_get_length(&s->events);
		ended += s->over ? 1 : 0;
	}
	json_object_set_new(into, "long_poll_queues", json_integer(g_hash_table_size(cardea_http.sessions)));
	json_object_set_new(into, "ended_queues", json_integer(ended));
	json_object_set_new(into, "parked_polls", json_integer(polls));
	json_object_set_new(into, "queued_events", json_integer(events));
	json_object_set_new(into, "waiting_requests", json_integer(g_hash_table_size(cardea_http.waiting) - polls));
}
