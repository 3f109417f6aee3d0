/* auth_http: asks the company's backend over HTTP (docs/auth.md).
 *
 * authorize() answers cache hits at once and queues the rest for a few
 * worker threads, each with its own libcurl handle (kept between requests,
 * so the connection to the backend is reused). The backend gets a signed
 * JSON POST and answers {"allow": bool, ...}; anything else (down, slower
 * than timeout_ms, not a decision) denies, or allows when fail_open is set.
 * Allow answers are cached per (token, action, target) for cache_ttl
 * seconds; denies never are.
 *
 * Threads: authorize/handle_request on any core or plugin thread; the
 * workers own their pollers; `cache` and `stats` under `lock`.
 */
#include <string.h>
#include <jansson.h>
#include "cardea/auth.h"
#include "cardea/config.h"
#include "../common/http-post.h"

#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_CACHE_TTL 30
#define DEFAULT_THREADS 4

typedef struct cache_entry {
	json_t *decision;        /* owned */
	gint64 expires;          /* monotonic µs */
} cache_entry;

typedef struct job {
	json_t *body;            /* owned: what the backend gets */
	char *cache_key;         /* owned, NULL = do not cache */
	cardea_auth_done_fn done;
	void *user_data;
} job;

static struct {
	char *url, *secret;
	long timeout_ms;
	gint64 cache_ttl_us;
	gboolean fail_open;
	gboolean active;         /* configured (a config file exists) */
	int n_threads;
	GAsyncQueue *queue;      /* job*; a NULL-body job stops one worker */
	GThread **threads;
	GMutex lock;
	GHashTable *cache;       /* key -> cache_entry* */
	struct {
		guint64 requests, allowed, denied, cache_hits, backend_down, backend_timeout,
			backend_garbage, fail_open_allowed;
	} stats;
} ah;

static void cache_entry_free(gpointer p) {
	cache_entry *e = p;
	json_decref(e->decision);
	g_free(e);
}

static void job_free(job *j) {
	json_decref(j->body);
	g_free(j->cache_key);
	g_free(j);
}

#define STAT_INC(field) do { g_mutex_lock(&ah.lock); ah.stats.field++; g_mutex_unlock(&ah.lock); } while (0)

/* The target of a request: what distinguishes two answers for one token and action. */
static char *make_cache_key(json_t *request) {
	const char *token = json_string_value(json_object_get(request, "token"));
	const char *action = json_string_value(json_object_get(request, "action"));
	if (token == NULL || action == NULL || ah.cache_ttl_us <= 0)
		return NULL;
	json_t *target = json_object();
	static const char *const keys[] = { "plugin", "room", "channel", "peer", "display", "feeds", NULL };
	for (int i = 0; keys[i]; i++) {
		json_t *v = json_object_get(request, keys[i]);
		if (v)
			json_object_set(target, keys[i], v);
	}
	char *t = json_dumps(target, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(target);
	char *key = g_strdup_printf("%s\n%s\n%s", token, action, t ? t : "");
	free(t);
	return key;
}

/* A decision from the backend's answer, or NULL when it is not one. */
static json_t *parse_answer(const char *text) {
	json_t *a = text ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_object(a) || !json_is_boolean(json_object_get(a, "allow"))) {
		json_decref(a);
		return NULL;
	}
	json_t *perms = json_object_get(a, "permissions");
	if (perms != NULL && !json_is_object(perms)) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *failure(const char *what, const char *detail, json_t *body) {
	const char *action = json_string_value(json_object_get(body, "action"));
	if (ah.fail_open) {
		STAT_INC(fail_open_allowed);
		CARDEA_LOG(CARDEA_LOG_WARN, "[auth_http] %s: backend %s (%s): allowing (fail_open)", action, what, detail);
		return json_pack("{s:b, s:s}", "allow", 1, "reason", "fail_open");
	}
	CARDEA_LOG(CARDEA_LOG_WARN, "[auth_http] %s: backend %s (%s): denying", action, what, detail);
	char *reason = g_strdup_printf("auth backend %s", what);
	json_t *d = json_pack("{s:b, s:s}", "allow", 0, "reason", reason);
	g_free(reason);
	return d;
}

static void run_job(cardea_http_poster *poster, job *j) {
	char *text = json_dumps(j->body, JSON_COMPACT);
	char *response = NULL, *error = NULL;
	long status = 0;
	cardea_post_result r = cardea_http_post(poster, ah.url, text, ah.secret, ah.timeout_ms, &response, &status, &error);
	free(text);
	json_t *decision = NULL;
	if (r == CARDEA_POST_TIMEOUT) {
		STAT_INC(backend_timeout);
		decision = failure("timeout", error, j->body);
	} else if (r == CARDEA_POST_UNREACHABLE) {
		STAT_INC(backend_down);
		decision = failure("unreachable", error, j->body);
	} else if (r == CARDEA_POST_HTTP_ERROR && status != 401 && status != 403) {
		STAT_INC(backend_down);
		decision = failure("error", error, j->body);
	} else if (r == CARDEA_POST_HTTP_ERROR) {
		/* 401/403 is the backend saying no, maybe without a JSON body. */
		json_t *a = parse_answer(response);
		decision = json_pack("{s:b, s:s}", "allow", 0, "reason",
			a && json_is_string(json_object_get(a, "reason")) ? json_string_value(json_object_get(a, "reason")) : "denied by the backend");
		json_decref(a);
	} else {
		decision = parse_answer(response);
		if (decision == NULL) {
			STAT_INC(backend_garbage);
			decision = failure("answer unreadable", "not a JSON object with a boolean allow", j->body);
		} else if (cardea_auth_allowed(decision) && j->cache_key) {
			cache_entry *e = g_new0(cache_entry, 1);
			e->decision = json_deep_copy(decision);
			e->expires = g_get_monotonic_time() + ah.cache_ttl_us;
			g_mutex_lock(&ah.lock);
			g_hash_table_replace(ah.cache, g_strdup(j->cache_key), e);
			g_mutex_unlock(&ah.lock);
		}
	}
	g_free(response);
	g_free(error);
	if (cardea_auth_allowed(decision))
		STAT_INC(allowed);
	else
		STAT_INC(denied);
	j->done(decision, j->user_data);
}

static gpointer worker(gpointer data) {
	cardea_http_poster *poster = cardea_http_poster_new();
	for (;;) {
		job *j = g_async_queue_pop(ah.queue);
		if (j->body == NULL) {
			job_free(j);
			break;
		}
		run_job(poster, j);
		job_free(j);
	}
	cardea_http_poster_free(poster);
	return NULL;
}

static void ah_authorize(json_t *request, cardea_auth_done_fn done, void *user_data) {
	STAT_INC(requests);
	char *key = make_cache_key(request);
	if (key) {
		json_t *hit = NULL;
		gint64 now = g_get_monotonic_time();
		g_mutex_lock(&ah.lock);
		cache_entry *e = g_hash_table_lookup(ah.cache, key);
		if (e && e->expires > now) {
			hit = json_deep_copy(e->decision);
			ah.stats.cache_hits++;
			ah.stats.allowed++;
		} else if (e) {
			g_hash_table_remove(ah.cache, key);
		}
		g_mutex_unlock(&ah.lock);
		if (hit) {
			g_free(key);
			done(hit, user_data);
			return;
		}
	}
	job *j = g_new0(job, 1);
	j->body = json_deep_copy(request);
	j->cache_key = key;
	j->done = done;
	j->user_data = user_data;
	g_async_queue_push(ah.queue, j);
}

static json_t *ah_handle_request(json_t *request) {
	if (!ah.active)
		return json_pack("{s:s}", "error", "not configured");
	const char *what = json_string_value(json_object_get(request, "request"));
	if (what && strcmp(what, "flush") == 0) {
		g_mutex_lock(&ah.lock);
		guint n = g_hash_table_size(ah.cache);
		g_hash_table_remove_all(ah.cache);
		g_mutex_unlock(&ah.lock);
		CARDEA_LOG(CARDEA_LOG_INFO, "[auth_http] cache flushed (%u entries) over the Admin API", n);
		return json_pack("{s:I}", "flushed", (json_int_t)n);
	}
	if (what && strcmp(what, "stats") == 0) {
		g_mutex_lock(&ah.lock);
		json_t *s = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"requests", (json_int_t)ah.stats.requests, "allowed", (json_int_t)ah.stats.allowed,
			"denied", (json_int_t)ah.stats.denied, "cache_hits", (json_int_t)ah.stats.cache_hits,
			"cache_entries", (json_int_t)g_hash_table_size(ah.cache),
			"backend_down", (json_int_t)ah.stats.backend_down, "backend_timeout", (json_int_t)ah.stats.backend_timeout,
			"backend_garbage", (json_int_t)ah.stats.backend_garbage,
			"fail_open_allowed", (json_int_t)ah.stats.fail_open_allowed);
		g_mutex_unlock(&ah.lock);
		return s;
	}
	return json_pack("{s:s}", "error", "unknown request (use \"stats\" or \"flush\")");
}

static bool ah_is_active(void) {
	return ah.active;
}

static int ah_init(const cardea_auth_core *core, const char *config_path) {
	GError *error = NULL;
	ah.active = FALSE;
	if (config_path == NULL || !g_file_test(config_path, G_FILE_TEST_EXISTS)) {
		/* Installed but not configured: stay out of the way (the core
		 * treats an inactive module as absent). */
		CARDEA_LOG(CARDEA_LOG_INFO, "[auth_http] %s not found: inactive", config_path ? config_path : "config");
		return 0;
	}
	cardea_config *cfg = cardea_config_load(config_path, &error);
	if (cfg == NULL) {
		CARDEA_LOG(CARDEA_LOG_FATAL, "[auth_http] %s", error->message);
		g_error_free(error);
		return -1;
	}
	static const char *const known[] = { "enabled", "url", "secret", "timeout_ms", "cache_ttl", "fail_open", "threads", NULL };
	cardea_config_warn_unknown(cfg, "general", known);
	gint64 timeout = 0, ttl = 0, threads = 0;
	gboolean ok = cardea_config_get_string(cfg, "general", "url", NULL, &ah.url, &error) &&
		cardea_config_get_string(cfg, "general", "secret", NULL, &ah.secret, &error) &&
		cardea_config_get_int(cfg, "general", "timeout_ms", DEFAULT_TIMEOUT_MS, 50, 60000, &timeout, &error) &&
		cardea_config_get_int(cfg, "general", "cache_ttl", DEFAULT_CACHE_TTL, 0, 86400, &ttl, &error) &&
		cardea_config_get_int(cfg, "general", "threads", DEFAULT_THREADS, 1, 64, &threads, &error) &&
		cardea_config_get_bool(cfg, "general", "fail_open", FALSE, &ah.fail_open, &error);
	if (ok && (ah.url == NULL || (g_ascii_strncasecmp(ah.url, "http://", 7) != 0 &&
			g_ascii_strncasecmp(ah.url, "https://", 8) != 0))) {
		cardea_config_set_value_error(&error, cfg, "general", "url", "must be an http:// or https:// URL");
		ok = FALSE;
	}
	if (!ok) {
		CARDEA_LOG(CARDEA_LOG_FATAL, "[auth_http] %s", error->message);
		g_error_free(error);
		cardea_config_free(cfg);
		g_free(ah.url);
		g_free(ah.secret);
		ah.url = ah.secret = NULL;
		return -1;
	}
	cardea_config_free(cfg);
	if (ah.secret == NULL || *ah.secret == '\0')
		CARDEA_LOG(CARDEA_LOG_WARN, "[auth_http] no secret: requests to %s are not signed", ah.url);
	ah.timeout_ms = (long)timeout;
	ah.cache_ttl_us = ttl * G_USEC_PER_SEC;
	ah.n_threads = (int)threads;
	memset(&ah.stats, 0, sizeof(ah.stats));
	cardea_http_post_global_init();
	g_mutex_init(&ah.lock);
	ah.cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, cache_entry_free);
	ah.queue = g_async_queue_new();
	ah.active = TRUE;
	ah.threads = g_new0(GThread *, ah.n_threads);
	for (int i = 0; i < ah.n_threads; i++)
		ah.threads[i] = g_thread_new("auth_http", worker, NULL);
	CARDEA_LOG(CARDEA_LOG_INFO, "[auth_http] asking %s (timeout %ld ms, cache %"G_GINT64_FORMAT" s, %s)",
		ah.url, ah.timeout_ms, ttl, ah.fail_open ? "fail open" : "fail closed");
	return 0;
}

static void ah_destroy(void) {
	if (!ah.active)
		return;
	ah.active = FALSE;
	/* Queued questions are still asked (bounded by timeout_ms each); the
	 * core already answered its own callers at shutdown and drops these. */
	for (int i = 0; i < ah.n_threads; i++)
		g_async_queue_push(ah.queue, g_new0(job, 1));
	for (int i = 0; i < ah.n_threads; i++)
		g_thread_join(ah.threads[i]);
	g_free(ah.threads);
	g_async_queue_unref(ah.queue);
	g_hash_table_destroy(ah.cache);
	g_mutex_clear(&ah.lock);
	g_free(ah.url);
	g_free(ah.secret);
	ah.url = ah.secret = NULL;
}

static cardea_auth auth_http = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_AUTH, cardea_auth),
		.package = "cardea.auth.http",
		.name = "http",
		.description = "Asks an HTTP backend (signed JSON POST) whether to allow each guarded request",
		.author = "Cardea",
		.version_string = "0.1.0",
		.version = 1,
	},
	.init = ah_init,
	.destroy = ah_destroy,
	.authorize = ah_authorize,
	.handle_request = ah_handle_request,
	.is_active = ah_is_active,
};

CARDEA_MODULE_DEFINE(auth_http)
