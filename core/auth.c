/* Asking the auth module, with a shutdown guarantee: every caller's `done`
 * runs exactly once, even when the module answers after the gateway began
 * stopping (cardea_auth_cancel_all answers for it). See auth.h. */
#include <string.h>
#include "auth.h"
#include "gateway.h"
#include "log.h"

/* A module that never answers must not park a request for ever: after this
 * the core answers a deny itself (the module's late answer is dropped). */
#define AUTH_ANSWER_TIMEOUT_S 10

/* One outstanding question. Three refs: one for the `calls` table (the
 * caller's side: dropped by whoever delivers the answer), one held by the
 * module until it calls module_done, one by the timeout source. */
typedef struct auth_call {
	gint refs;
	cardea_auth_done_fn done;
	void *user_data;
	char *action;            /* owned, for log lines */
	GSource *timer;          /* owned ref; destroyed once answered */
} auth_call;

static GMutex calls_lock;
static GHashTable *calls;     /* auth_call* set; created on first use */
static guint64 n_allowed, n_denied;   /* under calls_lock */

/* The module that decides: the first active one (modules are read-only
 * after start-up, and is_active is fixed after init). */
static cardea_loaded_module *active_module(void) {
	for (guint i = 0; cardea_gw && cardea_gw->auth && i < cardea_gw->auth->len; i++) {
		cardea_loaded_module *m = g_ptr_array_index(cardea_gw->auth, i);
		if (m->ops.auth.is_active == NULL || m->ops.auth.is_active())
			return m;
	}
	return NULL;
}

gboolean cardea_auth_enabled(void) {
	return active_module() != NULL;
}

json_t *cardea_auth_deny_new(const char *reason) {
	return json_pack("{s:b, s:s}", "allow", 0, "reason", reason ? reason : "denied");
}

static void call_unref(auth_call *c) {
	if (g_atomic_int_dec_and_test(&c->refs)) {
		if (c->timer)
			g_source_unref(c->timer);
		g_free(c->action);
		g_free(c);
	}
}

static void call_unref_cb(gpointer data) {
	call_unref(data);
}

/* Whoever took `c` out of the table answers it and stops its timer. */
static void deliver(auth_call *c, json_t *decision) {
	g_source_destroy(c->timer);
	c->done(decision, c->user_data);
	call_unref(c);
}

static void count(gboolean allow) {
	g_mutex_lock(&calls_lock);
	if (allow)
		n_allowed++;
	else
		n_denied++;
	g_mutex_unlock(&calls_lock);
}

/* Makes any module answer a well-formed decision: an object whose "allow"
 * is a boolean; anything else is a deny. */
static json_t *normalise(json_t *decision) {
	if (!json_is_object(decision) || !json_is_boolean(json_object_get(decision, "allow"))) {
		json_decref(decision);
		return cardea_auth_deny_new("the auth module gave no decision");
	}
	return decision;
}

static void module_done(json_t *decision, void *data) {
	auth_call *c = data;
	decision = normalise(decision);
	g_mutex_lock(&calls_lock);
	gboolean mine = calls && g_hash_table_steal(calls, c);
	g_mutex_unlock(&calls_lock);
	if (mine) {
		gboolean allow = cardea_auth_allowed(decision);
		count(allow);
		CARDEA_LOG(allow ? CARDEA_LOG_VERB : CARDEA_LOG_INFO, "[auth] %s: %s%s%s", c->action,
			allow ? "allowed" : "denied", allow ? "" : ": ",
			allow ? "" : (json_string_value(json_object_get(decision, "reason")) ?
				json_string_value(json_object_get(decision, "reason")) : "no reason given"));
		deliver(c, decision);
	} else {
		/* Cancelled at shutdown or timed out: the caller already had its answer. */
		json_decref(decision);
	}
	call_unref(c);
}

/* Main loop: the module kept quiet for AUTH_ANSWER_TIMEOUT_S. */
static gboolean call_timed_out(gpointer data) {
	auth_call *c = data;
	g_mutex_lock(&calls_lock);
	gboolean mine = calls && g_hash_table_steal(calls, c);
	g_mutex_unlock(&calls_lock);
	if (mine) {
		count(FALSE);
		CARDEA_LOG(CARDEA_LOG_WARN, "[auth] %s: the auth module gave no answer in %d s: denied",
			c->action, AUTH_ANSWER_TIMEOUT_S);
		deliver(c, cardea_auth_deny_new("auth timeout"));
	}
	return G_SOURCE_REMOVE;
}

void cardea_auth_check(json_t *request, cardea_auth_done_fn done, void *user_data) {
	cardea_loaded_module *m = active_module();
	if (m == NULL) {
		done(json_pack("{s:b}", "allow", 1), user_data);
		return;
	}
	auth_call *c = g_new0(auth_call, 1);
	c->refs = 3;
	c->done = done;
	c->user_data = user_data;
	c->action = g_strdup(json_string_value(json_object_get(request, "action")));
	c->timer = g_timeout_source_new_seconds(AUTH_ANSWER_TIMEOUT_S);
	g_source_set_callback(c->timer, call_timed_out, c, call_unref_cb);
	g_mutex_lock(&calls_lock);
	if (calls == NULL)
		calls = g_hash_table_new(NULL, NULL);
	g_hash_table_add(calls, c);
	g_mutex_unlock(&calls_lock);
	g_source_attach(c->timer, NULL);
	m->ops.auth.authorize(request, module_done, c);
}

void cardea_auth_cancel_all(void) {
	g_mutex_lock(&calls_lock);
	GList *pending = calls ? g_hash_table_get_keys(calls) : NULL;
	if (calls)
		g_hash_table_steal_all(calls);
	g_mutex_unlock(&calls_lock);
	for (GList *l = pending; l; l = l->next)
		deliver(l->data, cardea_auth_deny_new("Server shutting down"));
	g_list_free(pending);
}

void cardea_auth_counters(guint64 *allowed, guint64 *denied) {
	g_mutex_lock(&calls_lock);
	*allowed = n_allowed;
	*denied = n_denied;
	g_mutex_unlock(&calls_lock);
}

static cardea_loaded_module *find_module(const char *name) {
	for (guint i = 0; cardea_gw && cardea_gw->auth && i < cardea_gw->auth->len; i++) {
		cardea_loaded_module *m = g_ptr_array_index(cardea_gw->auth, i);
		if (name == NULL || strcmp(m->info->package, name) == 0 ||
				(m->info->name && strcmp(m->info->name, name) == 0))
			return m;
	}
	return NULL;
}

json_t *cardea_auth_admin(const char *module, json_t *request, gboolean *found) {
	cardea_loaded_module *m = find_module(module);
	*found = m != NULL;
	if (m == NULL || m->ops.auth.handle_request == NULL)
		return NULL;
	/* Modules built before handle_request existed have a shorter struct:
	 * the loader copied only what they declared, so the slot reads NULL. */
	return m->ops.auth.handle_request(request);
}

json_t *cardea_auth_list(void) {
	json_t *list = json_array();
	for (guint i = 0; cardea_gw && cardea_gw->auth && i < cardea_gw->auth->len; i++) {
		cardea_loaded_module *m = g_ptr_array_index(cardea_gw->auth, i);
		json_array_append_new(list, json_pack("{s:s, s:s?, s:s?, s:b}", "package", m->info->package,
			"name", m->info->name, "version_string", m->info->version_string, "active", m == active_module()));
	}
	return list;
}
