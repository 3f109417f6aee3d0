/* The plugin queue's auth parking (core/plugin_queue.c): a message waiting
 * for the auth module leaves the thread free, comes back with the decision,
 * keeps its session's order, and its deferred synchronous reply is always
 * answered. The auth module and the core's reply path are fakes here. */
#include <string.h>
#include "cardea/plugin.h"

/* ---- a fake core: auth answers are held until the test releases them ---- */

typedef struct held_answer {
	cardea_auth_done_fn done;
	void *user_data;
	char *action;
} held_answer;

static GMutex fake_lock;
static GPtrArray *held;            /* held_answer* */
static gboolean answer_at_once;    /* auth_check answers inside the call */
static GPtrArray *replies;         /* "ok:<json>" / "error:<text>" strings */

static void fake_auth_check(cardea_plugin_session *s, const char *action, json_t *target,
		cardea_auth_done_fn done, void *user_data) {
	(void)s;
	(void)target;
	if (answer_at_once) {
		done(json_pack("{s:b, s:s}", "allow", 1, "via", "at-once"), user_data);
		return;
	}
	held_answer *h = g_new0(held_answer, 1);
	h->done = done;
	h->user_data = user_data;
	h->action = g_strdup(action);
	g_mutex_lock(&fake_lock);
	g_ptr_array_add(held, h);
	g_mutex_unlock(&fake_lock);
}

struct cardea_plugin_reply {
	int id;
};

static void fake_reply_later(cardea_plugin_reply *reply, cardea_plugin_result r) {
	char *text = r.kind == CARDEA_PLUGIN_OK ? json_dumps(r.content, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	g_mutex_lock(&fake_lock);
	g_ptr_array_add(replies, r.kind == CARDEA_PLUGIN_OK ? g_strdup_printf("%d ok:%s", reply->id, text)
		: g_strdup_printf("%d error:%s", reply->id, r.text));
	g_mutex_unlock(&fake_lock);
	free(text);
	json_decref(r.content);
	g_free(reply);
}

static cardea_plugin_core fake_core = {
	.auth_check = fake_auth_check,
	.reply_later = fake_reply_later,
};

/* Releases the oldest held question with allow = `allow`. */
static void release_one(gboolean allow) {
	g_mutex_lock(&fake_lock);
	g_assert_cmpuint(held->len, >, 0);
	held_answer *h = g_ptr_array_steal_index(held, 0);
	g_mutex_unlock(&fake_lock);
	h->done(json_pack("{s:b}", "allow", allow), h->user_data);
	g_free(h->action);
	g_free(h);
}

static guint n_held(void) {
	g_mutex_lock(&fake_lock);
	guint n = held->len;
	g_mutex_unlock(&fake_lock);
	return n;
}

/* ---- the plugin side: fn logs what it saw ---- */

static cardea_plugin_queue *queue;
static GAsyncQueue *log_q;         /* char*: "<name> <what>" */

static void fn(cardea_plugin_session *s, const char *transaction, json_t *message, json_t *jsep,
		void *user_data) {
	(void)jsep;
	(void)user_data;
	const char *name = json_string_value(json_object_get(message, "name"));
	gboolean guarded = json_is_true(json_object_get(message, "guarded"));
	char *entry;
	if (guarded) {
		json_t *d = cardea_plugin_queue_auth(queue, &fake_core, s, "test.action", NULL);
		if (d == NULL) {
			g_async_queue_push(log_q, g_strdup_printf("%s parked", name));
			json_decref(message);
			return;
		}
		entry = g_strdup_printf("%s ran allow=%d%s", name, cardea_auth_allowed(d),
			json_object_get(d, "via") ? " at-once" : "");
		json_decref(d);
	} else {
		entry = g_strdup_printf("%s ran", name);
	}
	cardea_plugin_reply *reply = cardea_plugin_queue_take_reply(queue);
	if (reply)
		fake_core.reply_later(reply, cardea_plugin_ok(json_pack("{s:s, s:s?}", "name", name, "tx", transaction)));
	g_async_queue_push(log_q, entry);
	json_decref(message);
}

static char *next_log(void) {
	char *e = g_async_queue_timeout_pop(log_q, 5 * G_USEC_PER_SEC);
	g_assert_nonnull(e);
	return e;
}

static void expect_log(const char *want) {
	char *got = next_log();
	g_assert_cmpstr(got, ==, want);
	g_free(got);
}

static void expect_quiet(void) {
	char *e = g_async_queue_timeout_pop(log_q, 200 * 1000);
	if (e)
		g_error("unexpected: %s", e);
}

static int sessions_freed;
static void session_free(const cardea_refcount *ref) {
	g_free(cardea_container_of(ref, cardea_plugin_session, ref));
	g_atomic_int_inc(&sessions_freed);
}

static cardea_plugin_session *session_new(void) {
	cardea_plugin_session *s = g_new0(cardea_plugin_session, 1);
	cardea_refcount_init(&s->ref, session_free);
	return s;
}

static json_t *msg(const char *name, gboolean guarded) {
	return json_pack("{s:s, s:b}", "name", name, "guarded", guarded);
}

static void setup(void) {
	held = g_ptr_array_new();
	replies = g_ptr_array_new_with_free_func(g_free);
	log_q = g_async_queue_new_full(g_free);
	answer_at_once = FALSE;
	queue = cardea_plugin_queue_new("test-queue", fn, NULL);
}

static void teardown(void) {
	cardea_plugin_queue_free(queue);
	queue = NULL;
	g_assert_cmpuint(held->len, ==, 0);
	g_ptr_array_free(held, TRUE);
	g_ptr_array_free(replies, TRUE);
	g_async_queue_unref(log_q);
}

static void test_park_keeps_order_per_session(void) {
	setup();
	cardea_plugin_session *a = session_new(), *b = session_new();
	cardea_plugin_queue_push(queue, a, "t1", msg("a1", TRUE), NULL);
	expect_log("a1 parked");
	cardea_plugin_queue_push(queue, a, "t2", msg("a2", FALSE), NULL);
	cardea_plugin_queue_push(queue, b, "t3", msg("b1", FALSE), NULL);
	/* b's message goes past the parked session; a2 waits behind a1. */
	expect_log("b1 ran");
	expect_quiet();
	g_assert_cmpuint(n_held(), ==, 1);
	release_one(TRUE);
	expect_log("a1 ran allow=1");
	expect_log("a2 ran");
	/* Denied answers come back as such. */
	cardea_plugin_queue_push(queue, b, "t4", msg("b2", TRUE), NULL);
	expect_log("b2 parked");
	release_one(FALSE);
	expect_log("b2 ran allow=0");
	cardea_plugin_session_unref(a);
	cardea_plugin_session_unref(b);
	teardown();
}

static void test_answer_inside_auth_check_does_not_park(void) {
	setup();
	answer_at_once = TRUE;
	cardea_plugin_session *a = session_new();
	cardea_plugin_queue_push(queue, a, "t1", msg("a1", TRUE), NULL);
	expect_log("a1 ran allow=1 at-once");
	cardea_plugin_queue_push(queue, a, "t2", msg("a2", FALSE), NULL);
	expect_log("a2 ran");
	cardea_plugin_session_unref(a);
	teardown();
}

static void test_deferred_reply_answered_after_park(void) {
	setup();
	cardea_plugin_session *a = session_new();
	cardea_plugin_reply *r = g_new0(cardea_plugin_reply, 1);
	r->id = 7;
	cardea_plugin_queue_push_sync(queue, a, "tx7", msg("s1", TRUE), NULL, &fake_core, r);
	expect_log("s1 parked");
	g_assert_cmpuint(replies->len, ==, 0);
	release_one(TRUE);
	expect_log("s1 ran allow=1");
	g_assert_cmpuint(replies->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(replies, 0), ==, "7 ok:{\"name\":\"s1\",\"tx\":\"tx7\"}");
	cardea_plugin_session_unref(a);
	teardown();
}

static void test_stopped_session_gets_its_reply_and_frees(void) {
	setup();
	sessions_freed = 0;
	cardea_plugin_session *a = session_new();
	cardea_plugin_reply *r = g_new0(cardea_plugin_reply, 1);
	r->id = 9;
	cardea_plugin_queue_push_sync(queue, a, "tx9", msg("s1", TRUE), NULL, &fake_core, r);
	expect_log("s1 parked");
	cardea_plugin_queue_push(queue, a, "tx10", msg("s2", FALSE), NULL);
	g_atomic_int_set(&a->stopped, 1);
	release_one(TRUE);
	expect_quiet();      /* neither runs for a stopped session */
	g_mutex_lock(&fake_lock);
	g_assert_cmpuint(replies->len, ==, 1);
	g_assert_true(g_str_has_prefix(g_ptr_array_index(replies, 0), "9 error:"));
	g_mutex_unlock(&fake_lock);
	cardea_plugin_session_unref(a);
	g_assert_cmpint(g_atomic_int_get(&sessions_freed), ==, 1);
	teardown();
}

static void test_answer_after_free_is_safe(void) {
	setup();
	sessions_freed = 0;
	cardea_plugin_session *a = session_new();
	cardea_plugin_reply *r = g_new0(cardea_plugin_reply, 1);
	r->id = 11;
	cardea_plugin_queue_push_sync(queue, a, "tx11", msg("s1", TRUE), NULL, &fake_core, r);
	expect_log("s1 parked");
	cardea_plugin_queue_free(queue);
	queue = NULL;
	release_one(TRUE);   /* the queue is gone: the item is dropped, its reply answered */
	g_assert_cmpuint(replies->len, ==, 1);
	g_assert_true(g_str_has_prefix(g_ptr_array_index(replies, 0), "11 error:"));
	cardea_plugin_session_unref(a);
	g_assert_cmpint(g_atomic_int_get(&sessions_freed), ==, 1);
	g_ptr_array_free(held, TRUE);
	g_ptr_array_free(replies, TRUE);
	g_async_queue_unref(log_q);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/plugin-queue/park-keeps-order-per-session", test_park_keeps_order_per_session);
	g_test_add_func("/plugin-queue/answer-inside-auth-check", test_answer_inside_auth_check_does_not_park);
	g_test_add_func("/plugin-queue/deferred-reply-after-park", test_deferred_reply_answered_after_park);
	g_test_add_func("/plugin-queue/stopped-session", test_stopped_session_gets_its_reply_and_frees);
	g_test_add_func("/plugin-queue/answer-after-free", test_answer_after_free_is_safe);
	return g_test_run();
}
