/* webhook: delivers the gateway's events to HTTP receivers (docs/events.md).
 *
 * incoming_event() (any core/plugin thread) only filters, stamps an id and
 * appends to a bounded queue under a mutex: it never waits for the network.
 * One sender thread takes batches (up to batch_max events, or whatever
 * arrived within batch_ms of the oldest), POSTs them as a JSON array to
 * every URL with the X-Cardea-Signature header, and retries a failed URL
 * with exponential backoff (retry_ms doubling up to retry_max_ms) until it
 * takes the batch, so events arrive in order and none is lost while the
 * queue has room. A full queue drops the new event and counts it.
 *
 * Threads: `lock` guards the queue, `stopping` and the stats; the sender
 * owns its poster and the in-flight batch.
 */
#include <string.h>
#include <jansson.h>
#include "cardea/events.h"
#include "cardea/config.h"
#include "../common/http-post.h"

static struct {
	gboolean active;
	char **urls;             /* owned, NULL-terminated */
	char *secret;
	char **filter;           /* owned; type prefixes, empty = everything */
	gint64 batch_max, batch_ms, queue_max, timeout_ms, retry_ms, retry_max_ms;
	GMutex lock;
	GCond cond;
	GQueue queue;            /* json_t* (owned) */
	gboolean stopping;
	guint64 next_id;
	GThread *sender;
	struct {
		guint64 received, filtered, dropped, sent, batches, failed_posts, in_flight;
	} stats;
} wh;

static gboolean wanted(const char *type) {
	if (wh.filter == NULL || wh.filter[0] == NULL)
		return TRUE;
	for (int i = 0; wh.filter[i]; i++) {
		const char *f = wh.filter[i];
		size_t n = strlen(f);
		/* "videoroom" matches "videoroom.joined"; "session.created" only itself. */
		if (strcmp(type, f) == 0 || (strncmp(type, f, n) == 0 && (type[n] == '.' || f[n - 1] == '.')))
			return TRUE;
	}
	return FALSE;
}

static void wh_incoming_event(json_t *event) {
	const char *type = json_string_value(json_object_get(event, "type"));
	if (!wh.active || type == NULL)
		return;
	g_mutex_lock(&wh.lock);
	wh.stats.received++;
	if (!wanted(type)) {
		wh.stats.filtered++;
	} else if ((gint64)g_queue_get_length(&wh.queue) >= wh.queue_max || wh.stopping) {
		wh.stats.dropped++;
		if (wh.stats.dropped == 1 || wh.stats.dropped % 1000 == 0)
			CARDEA_LOG(CARDEA_LOG_WARN, "[webhook] queue full (%"G_GINT64_FORMAT"): %"G_GUINT64_FORMAT" event(s) dropped so far",
				wh.queue_max, wh.stats.dropped);
	} else {
		/* A shallow copy: the event is shared with other modules; we only add "id". */
		json_t *copy = json_copy(event);
		json_object_set_new(copy, "id", json_integer((json_int_t)++wh.next_id));
		g_queue_push_tail(&wh.queue, copy);
		g_cond_signal(&wh.cond);
	}
	g_mutex_unlock(&wh.lock);
}

/* Waits for a batch: returns it (NULL when stopping with nothing left to send). */
static json_t *take_batch(void) {
	g_mutex_lock(&wh.lock);
	while (!wh.stopping && g_queue_is_empty(&wh.queue))
		g_cond_wait(&wh.cond, &wh.lock);
	/* Let the batch fill for batch_ms after its first event. */
	gint64 until = g_get_monotonic_time() + wh.batch_ms * 1000;
	while (!wh.stopping && (gint64)g_queue_get_length(&wh.queue) < wh.batch_max)
		if (!g_cond_wait_until(&wh.cond, &wh.lock, until))
			break;
	json_t *batch = NULL;
	if (!wh.stopping && !g_queue_is_empty(&wh.queue)) {
		batch = json_array();
		while (!g_queue_is_empty(&wh.queue) && (gint64)json_array_size(batch) < wh.batch_max)
			json_array_append_new(batch, g_queue_pop_head(&wh.queue));
		wh.stats.in_flight = json_array_size(batch);
	}
	g_mutex_unlock(&wh.lock);
	return batch;
}

/* Sleeps up to `ms`, waking early on stop. Returns FALSE when stopping. */
static gboolean backoff_sleep(gint64 ms) {
	g_mutex_lock(&wh.lock);
	gint64 until = g_get_monotonic_time() + ms * 1000;
	while (!wh.stopping)
		if (!g_cond_wait_until(&wh.cond, &wh.lock, until))
			break;
	gboolean go_on = !wh.stopping;
	g_mutex_unlock(&wh.lock);
	return go_on;
}

static gpointer sender(gpointer data) {
	cardea_http_poster *poster = cardea_http_poster_new();
	guint n_urls = g_strv_length(wh.urls);
	gboolean *done = g_new0(gboolean, n_urls);
	json_t *batch;
	while ((batch = take_batch()) != NULL) {
		char *body = json_dumps(batch, JSON_COMPACT);
		memset(done, 0, n_urls * sizeof(gboolean));
		guint left = n_urls;
		gint64 wait = wh.retry_ms;
		for (;;) {
			for (guint i = 0; i < n_urls; i++) {
				if (done[i])
					continue;
				char *response = NULL, *error = NULL;
				long status = 0;
				if (cardea_http_post(poster, wh.urls[i], body, wh.secret, (long)wh.timeout_ms,
						&response, &status, &error) == CARDEA_POST_OK) {
					done[i] = TRUE;
					left--;
				} else {
					g_mutex_lock(&wh.lock);
					wh.stats.failed_posts++;
					g_mutex_unlock(&wh.lock);
					CARDEA_LOG(CARDEA_LOG_WARN, "[webhook] POST of %zu event(s) to %s failed (%s): retrying in %"G_GINT64_FORMAT" ms",
						json_array_size(batch), wh.urls[i], error, wait);
				}
				g_free(response);
				g_free(error);
			}
			if (left == 0 || !backoff_sleep(wait))
				break;
			wait = MIN(wait * 2, wh.retry_max_ms);
		}
		g_mutex_lock(&wh.lock);
		if (left == 0) {
			wh.stats.sent += json_array_size(batch);
			wh.stats.batches++;
		} else {
			/* Stopping with receivers still down: these are lost; say so. */
			wh.stats.dropped += json_array_size(batch);
		}
		wh.stats.in_flight = 0;
		g_mutex_unlock(&wh.lock);
		free(body);
		json_decref(batch);
	}
	g_free(done);
	cardea_http_poster_free(poster);
	return NULL;
}

static json_t *wh_handle_request(json_t *request) {
	if (!wh.active)
		return json_pack("{s:s}", "error", "not configured");
	g_mutex_lock(&wh.lock);
	json_t *s = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"queue_length", (json_int_t)g_queue_get_length(&wh.queue),
		"in_flight", (json_int_t)wh.stats.in_flight,
		"received", (json_int_t)wh.stats.received, "filtered", (json_int_t)wh.stats.filtered,
		"dropped", (json_int_t)wh.stats.dropped, "sent", (json_int_t)wh.stats.sent,
		"batches", (json_int_t)wh.stats.batches, "failed_posts", (json_int_t)wh.stats.failed_posts);
	g_mutex_unlock(&wh.lock);
	return s;
}

static bool wh_is_active(void) {
	return wh.active;
}

static int wh_init(const cardea_events_core *core, const char *config_path) {
	GError *error = NULL;
	memset(&wh, 0, sizeof(wh));
	if (config_path == NULL || !g_file_test(config_path, G_FILE_TEST_EXISTS)) {
		CARDEA_LOG(CARDEA_LOG_INFO, "[webhook] %s not found: inactive", config_path ? config_path : "config");
		return 0;
	}
	cardea_config *cfg = cardea_config_load(config_path, &error);
	if (cfg == NULL) {
		CARDEA_LOG(CARDEA_LOG_FATAL, "[webhook] %s", error->message);
		g_error_free(error);
		return -1;
	}
	static const char *const known[] = { "enabled", "urls", "secret", "batch_max", "batch_ms", "queue_max",
		"filter", "timeout_ms", "retry_ms", "retry_max_ms", NULL };
	cardea_config_warn_unknown(cfg, "general", known);
	gboolean ok = cardea_config_get_list(cfg, "general", "urls", &wh.urls, &error) &&
		cardea_config_get_string(cfg, "general", "secret", NULL, &wh.secret, &error) &&
		cardea_config_get_list(cfg, "general", "filter", &wh.filter, &error) &&
		cardea_config_get_int(cfg, "general", "batch_max", 100, 1, 10000, &wh.batch_max, &error) &&
		cardea_config_get_int(cfg, "general", "batch_ms", 1000, 0, 600000, &wh.batch_ms, &error) &&
		cardea_config_get_int(cfg, "general", "queue_max", 10000, 1, 10000000, &wh.queue_max, &error) &&
		cardea_config_get_int(cfg, "general", "timeout_ms", 5000, 50, 120000, &wh.timeout_ms, &error) &&
		cardea_config_get_int(cfg, "general", "retry_ms", 500, 10, 600000, &wh.retry_ms, &error) &&
		cardea_config_get_int(cfg, "general", "retry_max_ms", 30000, 10, 3600000, &wh.retry_max_ms, &error);
	for (int i = 0; ok && wh.urls && wh.urls[i]; i++) {
		if (g_ascii_strncasecmp(wh.urls[i], "http://", 7) != 0 && g_ascii_strncasecmp(wh.urls[i], "https://", 8) != 0) {
			cardea_config_set_value_error(&error, cfg, "general", "urls", "must hold http:// or https:// URLs (\"%s\" does not)", wh.urls[i]);
			ok = FALSE;
		}
	}
	if (ok && (wh.urls == NULL || wh.urls[0] == NULL)) {
		cardea_config_set_value_error(&error, cfg, "general", "urls", "must list at least one URL");
		ok = FALSE;
	}
	cardea_config_free(cfg);
	if (!ok) {
		CARDEA_LOG(CARDEA_LOG_FATAL, "[webhook] %s", error->message);
		g_error_free(error);
		g_strfreev(wh.urls);
		g_strfreev(wh.filter);
		g_free(wh.secret);
		memset(&wh, 0, sizeof(wh));
		return -1;
	}
	if (wh.retry_max_ms < wh.retry_ms)
		wh.retry_max_ms = wh.retry_ms;
	cardea_http_post_global_init();
	g_mutex_init(&wh.lock);
	g_cond_init(&wh.cond);
	g_queue_init(&wh.queue);
	wh.active = TRUE;
	wh.sender = g_thread_new("webhook", sender, NULL);
	CARDEA_LOG(CARDEA_LOG_INFO, "[webhook] posting events to %u URL(s) (batches of %"G_GINT64_FORMAT" / %"G_GINT64_FORMAT" ms, queue %"G_GINT64_FORMAT")",
		g_strv_length(wh.urls), wh.batch_max, wh.batch_ms, wh.queue_max);
	return 0;
}

static void wh_destroy(void) {
	if (!wh.active)
		return;
	g_mutex_lock(&wh.lock);
	wh.stopping = TRUE;
	g_cond_broadcast(&wh.cond);
	g_mutex_unlock(&wh.lock);
	g_thread_join(wh.sender);
	guint left = g_queue_get_length(&wh.queue);
	if (left > 0 || wh.stats.dropped > 0)
		CARDEA_LOG(CARDEA_LOG_WARN, "[webhook] stopping: %u queued event(s) not delivered, %"G_GUINT64_FORMAT" dropped in total",
			left, wh.stats.dropped + left);
	g_queue_clear_full(&wh.queue, (GDestroyNotify)json_decref);
	wh.active = FALSE;
	g_mutex_clear(&wh.lock);
	g_cond_clear(&wh.cond);
	g_strfreev(wh.urls);
	g_strfreev(wh.filter);
	g_free(wh.secret);
	wh.urls = wh.filter = NULL;
	wh.secret = NULL;
}

static cardea_events webhook = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_EVENTS, cardea_events),
		.package = "cardea.events.webhook",
		.name = "webhook",
		.description = "Posts the gateway's events, batched and signed, to HTTP receivers",
		.author = "Cardea",
		.version_string = "0.1.0",
		.version = 1,
	},
	.init = wh_init,
	.destroy = wh_destroy,
	.incoming_event = wh_incoming_event,
	.handle_request = wh_handle_request,
	.is_active = wh_is_active,
};

CARDEA_MODULE_DEFINE(webhook)
