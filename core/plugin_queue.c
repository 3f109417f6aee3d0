/* The per-plugin request thread every plugin would otherwise write itself
 * (see cardea/plugin.h). One GAsyncQueue, one thread, FIFO. */
#include "cardea/plugin.h"

typedef struct queue_item {
	cardea_plugin_session *session;   /* owned ref; NULL = stop marker */
	char *transaction;                /* owned */
	json_t *message;                  /* owned */
	json_t *jsep;                     /* owned */
} queue_item;

struct cardea_plugin_queue {
	GAsyncQueue *items;               /* owned */
	GThread *thread;                  /* owned, joined in free */
	cardea_plugin_queue_fn fn;
	void *user_data;                  /* borrowed */
	volatile gint stopping;
};

static void queue_item_free(queue_item *item) {
	if (item->session)
		cardea_plugin_session_unref(item->session);
	g_free(item->transaction);
	json_decref(item->message);
	json_decref(item->jsep);
	g_free(item);
}

static gpointer queue_thread(gpointer data) {
	cardea_plugin_queue *q = data;
	for (;;) {
		queue_item *item = g_async_queue_pop(q->items);
		if (item->session == NULL) {
			queue_item_free(item);
			break;
		}
		if (!g_atomic_int_get(&item->session->stopped)) {
			/* fn owns message/jsep from here. */
			q->fn(item->session, item->transaction, item->message, item->jsep, q->user_data);
			item->message = NULL;
			item->jsep = NULL;
		}
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
	q->thread = g_thread_new(thread_name ? thread_name : "plugin-queue", queue_thread, q);
	return q;
}

void cardea_plugin_queue_push(cardea_plugin_queue *q, cardea_plugin_session *session,
		const char *transaction, json_t *message, json_t *jsep) {
	if (q == NULL || session == NULL || g_atomic_int_get(&q->stopping)) {
		json_decref(message);
		json_decref(jsep);
		return;
	}
	queue_item *item = g_new0(queue_item, 1);
	cardea_plugin_session_ref(session);
	item->session = session;
	item->transaction = g_strdup(transaction);
	item->message = message;
	item->jsep = jsep;
	g_async_queue_push(q->items, item);
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
	g_async_queue_unref(q->items);
	g_free(q);
}
