/* The per-plugin request thread every plugin would otherwise write itself
 * (see cardea/plugin.h). One GAsyncQueue, one thread, FIFO -- except that a
 * message waiting for the auth module is parked off the thread (with the
 * later messages of its session behind it) and pushed again when the answer
 * arrives, so a slow backend delays only the client that asked.
 *
 * Threads: push/push_sync from any thread; fn, take_reply and auth on the
 * queue's thread; auth answers on the auth module's threads. `lock` guards
 * `parked` and the deferred lists. The queue is refcounted: the thread's
 * owner holds one ref and every parked message one, so an answer arriving
 * after cardea_plugin_queue_free finds the memory still there. */
#include "cardea/plugin.h"

typedef struct queue_item {
	cardea_plugin_session *session;   /* owned ref; NULL = stop marker */
	char *transaction;                /* owned */
	json_t *message;                  /* owned */
	json_t *jsep;                     /* owned */
	const cardea_plugin_core *core;   /* for `reply`; borrowed */
	cardea_plugin_reply *reply;       /* owned until taken or answered */
	json_t *decisions;                /* {action: decision} owned; NULL = none yet */
	gboolean resumed;                 /* pushed again after its auth answer */
} queue_item;

struct cardea_plugin_queue {
	GAsyncQueue *items;               /* owned */
	GThread *thread;                  /* owned, joined in free */
	cardea_plugin_queue_fn fn;
	void *user_data;                  /* borrowed */
	volatile gint stopping;
	gint refs;
	GMutex lock;
	GHashTable *parked;               /* session -> GQueue of items deferred behind it */
	queue_item *current;              /* the item fn runs for (queue thread only) */
	gboolean current_parked;          /* fn parked it (queue thread only) */
};

/* One auth question of a parked item. `state` settles the race between an
 * answer given inside auth_check and the parking that follows it. */
enum { ASK_WAITING, ASK_ANSWERED, ASK_PARKED };
typedef struct queue_ask {
	cardea_plugin_queue *q;           /* ref */
	queue_item *item;                 /* owned once parked */
	char *action;
	json_t *decision;                 /* when answered before parking */
	gint state;
} queue_ask;

static void queue_item_free(queue_item *item);

static void queue_unref(cardea_plugin_queue *q) {
	if (!g_atomic_int_dec_and_test(&q->refs))
		return;
	queue_item *item;   /* answers that arrived after cardea_plugin_queue_free drained */
	while ((item = g_async_queue_try_pop(q->items)) != NULL)
		queue_item_free(item);
	g_async_queue_unref(q->items);
	g_hash_table_destroy(q->parked);
	g_mutex_clear(&q->lock);
	g_free(q);
}

static void queue_item_free(queue_item *item) {
	if (item->reply) {
		/* Nobody answered this synchronous request: the client must still hear. */
		item->core->reply_later(item->reply, cardea_plugin_error("The request was dropped (handle gone or plugin stopping)"));
	}
	if (item->session)
		cardea_plugin_session_unref(item->session);
	g_free(item->transaction);
	json_decref(item->message);
	json_decref(item->jsep);
	json_decref(item->decisions);
	g_free(item);
}

static void free_deferred(gpointer data) {
	GQueue *deferred = data;
	queue_item *item;
	while ((item = g_queue_pop_head(deferred)) != NULL)
		queue_item_free(item);
	g_queue_free(deferred);
}

/* Under q->lock: TRUE when `item` must wait behind a parked message of its
 * session (it is then appended to that session's deferred list). */
static gboolean defer_locked(cardea_plugin_queue *q, queue_item *item) {
	GQueue *deferred = g_hash_table_lookup(q->parked, item->session);
	if (deferred == NULL)
		return FALSE;
	g_queue_push_tail(deferred, item);
	return TRUE;
}

/* After a resumed item ran to the end: the messages that waited behind it
 * go back to the queue in order (under the lock, so a push cannot slip in
 * between them). */
static void release_session(cardea_plugin_queue *q, cardea_plugin_session *session) {
	g_mutex_lock(&q->lock);
	GQueue *deferred = NULL;
	g_hash_table_steal_extended(q->parked, session, NULL, (gpointer *)&deferred);
	queue_item *item;
	while (deferred && (item = g_queue_pop_head(deferred)) != NULL)
		g_async_queue_push(q->items, item);
	g_mutex_unlock(&q->lock);
	if (deferred)
		g_queue_free(deferred);
}

static gpointer queue_thread(gpointer data) {
	cardea_plugin_queue *q = data;
	for (;;) {
		queue_item *item = g_async_queue_pop(q->items);
		if (item->session == NULL) {
			queue_item_free(item);
			break;
		}
		if (!item->resumed) {
			g_mutex_lock(&q->lock);
			gboolean deferred = defer_locked(q, item);
			g_mutex_unlock(&q->lock);
			if (deferred)
				continue;
		}
		q->current = item;
		q->current_parked = FALSE;
		if (!g_atomic_int_get(&item->session->stopped)) {
			/* fn owns message/jsep from here; a parked item keeps its own refs. */
			q->fn(item->session, item->transaction, item->message, item->jsep, q->user_data);
		} else {
			json_decref(item->message);
			json_decref(item->jsep);
		}
		q->current = NULL;
		if (q->current_parked) {
			/* auth_answered owns it now (message/jsep re-taken by auth). */
			continue;
		}
		item->message = NULL;
		item->jsep = NULL;
		if (item->resumed)
			release_session(q, item->session);
		queue_item_free(item);
	}
	return NULL;
}

cardea_plugin_queue *cardea_plugin_queue_new(const char *thread_name, cardea_plugin_queue_fn fn, void *user_data) {
	g_return_val_if_fail(fn != NULL, NULL);
	cardea_plugin_queue *q = g_new0(cardea_plugin_queue, 1);
	q->items = g_async_queue_new();
	q->fn = fn;
	q->user_data = user_data;
	q->refs = 1;
	g_mutex_init(&q->lock);
	q->parked = g_hash_table_new_full(NULL, NULL, NULL, free_deferred);
	q->thread = g_thread_new(thread_name ? thread_name : "plugin-queue", queue_thread, q);
	return q;
}

static void push_item(cardea_plugin_queue *q, cardea_plugin_session *session, const char *transaction,
		json_t *message, json_t *jsep, const cardea_plugin_core *core, cardea_plugin_reply *reply) {
	queue_item *item = g_new0(queue_item, 1);
	cardea_plugin_session_ref(session);
	item->session = session;
	item->transaction = g_strdup(transaction);
	item->message = message;
	item->jsep = jsep;
	item->core = core;
	item->reply = reply;
	g_mutex_lock(&q->lock);
	if (!defer_locked(q, item))
		g_async_queue_push(q->items, item);
	g_mutex_unlock(&q->lock);
}

void cardea_plugin_queue_push(cardea_plugin_queue *q, cardea_plugin_session *session,
		const char *transaction, json_t *message, json_t *jsep) {
	if (q == NULL || session == NULL || g_atomic_int_get(&q->stopping)) {
		json_decref(message);
		json_decref(jsep);
		return;
	}
	push_item(q, session, transaction, message, jsep, NULL, NULL);
}

void cardea_plugin_queue_push_sync(cardea_plugin_queue *q, cardea_plugin_session *session,
		const char *transaction, json_t *message, json_t *jsep, const cardea_plugin_core *core,
		cardea_plugin_reply *reply) {
	g_return_if_fail(core != NULL && reply != NULL);
	if (q == NULL || session == NULL || g_atomic_int_get(&q->stopping)) {
		json_decref(message);
		json_decref(jsep);
		core->reply_later(reply, cardea_plugin_error("The plugin is stopping"));
		return;
	}
	push_item(q, session, transaction, message, jsep, core, reply);
}

cardea_plugin_reply *cardea_plugin_queue_take_reply(cardea_plugin_queue *q) {
	if (q == NULL || q->current == NULL)
		return NULL;
	cardea_plugin_reply *reply = q->current->reply;
	q->current->reply = NULL;
	return reply;
}

/* Any thread: the auth module answered a parked item's question. */
static void auth_answered(json_t *decision, void *data) {
	queue_ask *ask = data;
	if (g_atomic_int_compare_and_exchange(&ask->state, ASK_WAITING, ASK_ANSWERED)) {
		/* Answered inside auth_check: cardea_plugin_queue_auth picks it up. */
		ask->decision = decision;
		return;
	}
	cardea_plugin_queue *q = ask->q;
	queue_item *item = ask->item;
	if (item->decisions == NULL)
		item->decisions = json_object();
	json_object_set_new(item->decisions, ask->action, decision ? decision : json_null());
	item->resumed = TRUE;
	if (g_atomic_int_get(&q->stopping)) {
		g_mutex_lock(&q->lock);
		g_hash_table_remove(q->parked, item->session);
		g_mutex_unlock(&q->lock);
		queue_item_free(item);
	} else {
		g_async_queue_push(q->items, item);
	}
	g_free(ask->action);
	g_free(ask);
	queue_unref(q);
}

json_t *cardea_plugin_queue_auth(cardea_plugin_queue *q, const cardea_plugin_core *core,
		cardea_plugin_session *session, const char *action, json_t *target) {
	g_return_val_if_fail(q != NULL && action != NULL, NULL);
	queue_item *item = q->current;
	json_t *known = item && item->decisions ? json_object_get(item->decisions, action) : NULL;
	if (known)
		return json_incref(known);
	if (core == NULL || core->auth_check == NULL)
		return json_pack("{s:b}", "allow", 1);
	if (item == NULL || item->session != session || g_thread_self() != q->thread) {
		/* Not inside fn: nothing to park, so this is a usage error. */
		g_warning("cardea_plugin_queue_auth called outside the queue's fn");
		return NULL;
	}
	queue_ask *ask = g_new0(queue_ask, 1);
	g_atomic_int_inc(&q->refs);
	ask->q = q;
	ask->item = item;
	ask->action = g_strdup(action);
	core->auth_check(session, action, target, auth_answered, ask);
	if (!g_atomic_int_compare_and_exchange(&ask->state, ASK_WAITING, ASK_PARKED)) {
		/* The answer came inside auth_check (no module, cache hit, JWT). */
		json_t *decision = ask->decision;
		g_free(ask->action);
		g_free(ask);
		queue_unref(q);
		return decision;
	}
	/* Parked: fn consumes its message/jsep refs, the item keeps its own. */
	json_incref(item->message);
	json_incref(item->jsep);
	q->current_parked = TRUE;
	g_mutex_lock(&q->lock);
	if (!g_hash_table_contains(q->parked, session))
		g_hash_table_insert(q->parked, session, g_queue_new());
	g_mutex_unlock(&q->lock);
	return NULL;
}

void cardea_plugin_queue_free(cardea_plugin_queue *q) {
	if (q == NULL)
		return;
	g_atomic_int_set(&q->stopping, 1);
	g_async_queue_push(q->items, g_new0(queue_item, 1));
	g_thread_join(q->thread);
	queue_item *item;
	while ((item = g_async_queue_try_pop(q->items)) != NULL)
		queue_item_free(item);
	g_mutex_lock(&q->lock);
	g_hash_table_remove_all(q->parked);
	g_mutex_unlock(&q->lock);
	queue_unref(q);
}
