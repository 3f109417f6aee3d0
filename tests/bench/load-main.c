/* cardea-load: options, worker threads, the run's phases and the report.
 * See tests/bench/README.md for usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include "load.h"
#include "cardea/module.h"

load_options load_opt = {
	.plugin = (char *)"janus.plugin.videoroom",
	.rooms = 1, .publishers = 1, .subscribers = 1,
	.video_kbps = 1500, .video_pps = 150, .fps = 30, .keyframe_s = 5, .audio_kbps = 48,
	.duration = 10, .warmup = 2, .threads = 1, .ramp = 50, .room_base = 4200,
	.join_timeout = 30,
};

static load_worker **workers;
static int n_workers;
static volatile gint errors_printed;

gint64 load_now_us(void) {
	return g_get_monotonic_time();
}

void load_peer_fail(load_peer *p, const char *fmt, ...) {
	if (p->state == PEER_FAILED)
		return;
	p->state = PEER_FAILED;
	va_list ap;
	va_start(ap, fmt);
	g_free(p->error);
	p->error = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (g_atomic_int_add(&errors_printed, 1) < 10)
		g_printerr("cardea-load: %s peer (room %" G_GUINT64_FORMAT "): %s\n",
			p->publisher ? "publisher" : "subscriber", p->room ? p->room->id : 0, p->error);
	load_peer_stop_sending(p);
}

/* ---- workers ---- */

static gpointer worker_main(gpointer data) {
	load_worker *w = data;
	g_main_context_push_thread_default(w->context);
	g_main_loop_run(w->loop);
	g_main_context_pop_thread_default(w->context);
	return NULL;
}

static gboolean keepalive_cb(gpointer data) {
	load_signal_keepalive(data);
	return G_SOURCE_CONTINUE;
}

typedef struct worker_call {
	void (*fn)(load_worker *w, void *data);
	load_worker *w;
	void *data;
	GMutex lock;
	GCond cond;
	gboolean done;
} worker_call;

static gboolean worker_call_cb(gpointer data) {
	worker_call *c = data;
	c->fn(c->w, c->data);
	g_mutex_lock(&c->lock);
	c->done = TRUE;
	g_cond_signal(&c->cond);
	g_mutex_unlock(&c->lock);
	return G_SOURCE_REMOVE;
}

/* Runs fn on a worker's thread and waits for it. */
static void call_one(load_worker *w, void (*fn)(load_worker *w, void *data), void *data) {
	worker_call c = { .fn = fn, .w = w, .data = data };
	g_mutex_init(&c.lock);
	g_cond_init(&c.cond);
	g_main_context_invoke(w->context, worker_call_cb, &c);
	g_mutex_lock(&c.lock);
	while (!c.done)
		g_cond_wait(&c.cond, &c.lock);
	g_mutex_unlock(&c.lock);
	g_mutex_clear(&c.lock);
	g_cond_clear(&c.cond);
}

/* Runs fn on every worker's thread, one after the other. */
static void call_all(void (*fn)(load_worker *w, void *data), void *data) {
	for (int i = 0; i < n_workers; i++)
		call_one(workers[i], fn, data);
}

typedef struct create_rooms_args {
	load_room *rooms;
	int n;
	volatile gint *done;
} create_rooms_args;

static void create_rooms_fn(load_worker *w, void *data) {
	create_rooms_args *c = data;
	load_signal_create_rooms(w, c->rooms, c->n, c->done);
}

/* ---- gateway process figures ---- */

static gboolean gateway_cpu_rss(double *cpu_s, double *rss_mb) {
	if (load_opt.gateway_pid <= 0)
		return FALSE;
	char path[64], *text = NULL;
	g_snprintf(path, sizeof(path), "/proc/%d/stat", load_opt.gateway_pid);
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return FALSE;
	/* fields after the ")" of comm: state is field 3, utime 14, stime 15 */
	char *r = strrchr(text, ')');
	unsigned long ut = 0, st = 0;
	if (!r || sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
		g_free(text);
		return FALSE;
	}
	g_free(text);
	*cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	g_snprintf(path, sizeof(path), "/proc/%d/status", load_opt.gateway_pid);
	*rss_mb = 0;
	if (g_file_get_contents(path, &text, NULL, NULL)) {
		char *v = strstr(text, "VmRSS:");
		if (v)
			*rss_mb = g_ascii_strtod(v + 6, NULL) / 1024.0;
		g_free(text);
	}
	return TRUE;
}

/* ---- peers ---- */

static load_room *rooms;
static int peer_rr;

typedef struct start_args {
	load_room *room;
	int index;
	gboolean publisher;
	int n_feeds;
	guint64 feeds[16];
} start_args;

typedef struct new_peer_call {
	load_worker *w;
	start_args a;
} new_peer_call;

static gboolean new_peer_cb(gpointer data) {
	new_peer_call *c = data;
	load_peer *p = g_new0(load_peer, 1);
	p->worker = c->w;
	p->room = c->a.room;
	p->index = c->a.index;
	p->publisher = c->a.publisher;
	p->n_feeds = c->a.n_feeds;
	memcpy(p->feeds, c->a.feeds, sizeof(p->feeds));
	g_ptr_array_add(c->w->peers, p);
	load_signal_start_peer(p);
	g_free(c);
	return G_SOURCE_REMOVE;
}

static void spawn(const start_args *a) {
	new_peer_call *c = g_new0(new_peer_call, 1);
	c->w = workers[peer_rr++ % n_workers];
	c->a = *a;
	g_main_context_invoke(c->w->context, new_peer_cb, c);
	if (load_opt.ramp > 0)
		g_usleep((gulong)(1e6 / load_opt.ramp));
}

/* ---- snapshots ---- */

typedef struct tally {
	int pubs, pubs_up, pubs_failed, subs, subs_media, subs_failed, subs_complete;
	guint64 rx_packets, rx_bytes, expected, lost_window, rx_window, sent, plis, nacks, rtx, srtp_errors;
	guint64 frames_window, skipped_window;   /* publishers' frames due / skipped in the window */
	double jitter_ms_sum;
	int jitter_n;
	GArray *join_ms;            /* double */
	guint64 hist[LOAD_DELAY_BUCKETS + 1];
	gboolean mark;              /* take the window-start snapshot */
	gboolean feeds;             /* copy publisher feed ids into rooms */
	GHashTable *sent_by_feed;   /* feed id -> packets it sent in the window (guint64*) */
	guint64 expected_sent;      /* what the subscribers should have got in the window */
} tally;

static void tally_worker(load_worker *w, void *data) {
	tally *t = data;
	for (guint i = 0; i < w->peers->len; i++) {
		load_peer *p = g_ptr_array_index(w->peers, i);
		if (p->index < 0 && !p->room)
			continue;   /* the room set-up session */
		if (p->publisher) {
			t->pubs++;
			t->pubs_up += p->state == PEER_UP;
			t->pubs_failed += p->state == PEER_FAILED;
			t->sent += p->sent_packets;
			t->plis += p->plis;
			t->nacks += p->nacks;
			t->rtx += p->retransmitted;
			if (t->mark) {
				p->snap_sent = p->sent_packets;
				p->snap_frames = p->frames + p->audio_frames;
				p->snap_skipped = p->frames_skipped;
			} else {
				t->frames_window += p->frames + p->audio_frames - p->snap_frames;
				t->skipped_window += p->frames_skipped - p->snap_skipped;
			}
			if (!t->mark && t->sent_by_feed && p->feed_id)
				g_hash_table_insert(t->sent_by_feed, g_memdup2(&p->feed_id, 8),
					g_memdup2(&(guint64){ p->sent_packets - p->snap_sent }, 8));
			if (t->feeds && p->feed_id) {
				g_mutex_lock(&p->room->lock);
				p->room->feeds[p->index] = p->feed_id;
				g_mutex_unlock(&p->room->lock);
			}
			continue;
		}
		t->subs++;
		t->subs_failed += p->state == PEER_FAILED;
		t->srtp_errors += p->srtp_errors;
		if (p->first_media_us) {
			t->subs_media++;
			if (t->join_ms) {
				double ms = (double)(p->first_media_us - p->join_sent_us) / 1000.0;
				g_array_append_val(t->join_ms, ms);
			}
		}
		for (int f = 0; t->sent_by_feed && f < p->n_feeds; f++) {
			guint64 *d = g_hash_table_lookup(t->sent_by_feed, &p->feeds[f]);
			t->expected_sent += d ? *d : 0;
		}
		int got = 0;
		for (int s = 0; s < p->n_streams; s++) {
			load_stream *st = &p->streams[s];
			guint64 expected = (guint64)(st->max_seq - st->first_seq + 1);
			got += st->received > 0;
			t->rx_packets += st->received;
			t->rx_bytes += st->bytes;
			t->expected += expected;
			if (t->mark) {
				st->snap_expected = expected;
				st->snap_received = st->received;
			} else {
				guint64 de = expected - st->snap_expected, dr = st->received - st->snap_received;
				t->rx_window += dr;
				t->lost_window += de > dr ? de - dr : 0;
			}
			t->jitter_ms_sum += st->jitter * 1000.0 / st->clock;
			t->jitter_n++;
		}
		t->subs_complete += p->n_expected > 0 && got >= p->n_expected;
	}
	if (t->mark)
		memset(w->delay_hist, 0, sizeof(w->delay_hist));
	else
		for (int i = 0; i <= LOAD_DELAY_BUCKETS; i++)
			t->hist[i] += w->delay_hist[i];
}

static void take(tally *t, gboolean mark, gboolean feeds, gboolean joins) {
	memset(t, 0, sizeof(*t));
	t->mark = mark;
	t->feeds = feeds;
	if (joins) {
		t->join_ms = g_array_new(FALSE, FALSE, sizeof(double));
		t->sent_by_feed = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
		/* publishers first: every worker's, before any subscriber is tallied */
		tally pubs = { .sent_by_feed = t->sent_by_feed };
		call_all(tally_worker, &pubs);
	}
	call_all(tally_worker, t);
}

static double hist_pct(const guint64 *h, double pct) {
	guint64 total = 0;
	for (int i = 0; i <= LOAD_DELAY_BUCKETS; i++)
		total += h[i];
	if (total == 0)
		return -1;
	guint64 want = (guint64)(pct / 100.0 * (double)total), acc = 0;
	for (int i = 0; i <= LOAD_DELAY_BUCKETS; i++) {
		acc += h[i];
		if (acc > want)
			return (i * 10 + 5) / 1000.0;
	}
	return LOAD_DELAY_BUCKETS * 10 / 1000.0;
}

static int cmp_double(gconstpointer a, gconstpointer b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double arr_pct(GArray *a, double pct) {
	if (!a || a->len == 0)
		return -1;
	g_array_sort(a, cmp_double);
	guint i = (guint)(pct / 100.0 * (a->len - 1) + 0.5);
	return g_array_index(a, double, MIN(i, a->len - 1));
}

/* ---- options ---- */

static void usage(void) {
	g_printerr(
		"usage: cardea-load [options]\n"
		"  --url ws://127.0.0.1:8188     gateway WebSocket API (janus-protocol)\n"
		"  --plugin NAME                 default janus.plugin.videoroom; cardea.plugin.broadcast:\n"
		"                                rooms are channels, the publisher presents, subscribers watch\n"
		"  --rooms N --publishers N --subscribers N   per room (defaults 1 1 1)\n"
		"  --mesh                        publishers also subscribe to the room's other feeds\n"
		"  --audio-only                  publishers send Opus only\n"
		"  --video-kbps N --video-pps N --fps N --keyframe S --audio-kbps N\n"
		"  --duration S --warmup S       measured window and settling time (10, 2)\n"
		"  --threads N                   worker threads, each with its own WebSocket (1)\n"
		"  --ramp R                      peer joins per second (50)\n"
		"  --room-base ID                first room id (4200)\n"
		"  --join-timeout S              give up waiting for joins (30)\n"
		"  --ice-ip ADDR                 gather on this address only (default: the host's, no loopback)\n"
		"  --gateway-pid PID             report the gateway's CPU time and RSS\n"
		"  --json FILE                   write the results as JSON ('-' = stdout)\n"
		"  --expect-no-loss              exit 1 unless every subscriber got every stream without loss\n");
	exit(2);
}

static void parse_args(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define INT_OPT(name, field) if (strcmp(a, name) == 0 && v) { load_opt.field = atoi(v); i++; continue; }
		INT_OPT("--rooms", rooms)
		INT_OPT("--publishers", publishers)
		INT_OPT("--subscribers", subscribers)
		INT_OPT("--video-kbps", video_kbps)
		INT_OPT("--video-pps", video_pps)
		INT_OPT("--fps", fps)
		INT_OPT("--keyframe", keyframe_s)
		INT_OPT("--audio-kbps", audio_kbps)
		INT_OPT("--duration", duration)
		INT_OPT("--warmup", warmup)
		INT_OPT("--threads", threads)
		INT_OPT("--gateway-pid", gateway_pid)
		INT_OPT("--join-timeout", join_timeout)
#undef INT_OPT
		if (strcmp(a, "--url") == 0 && v) { load_opt.url = g_strdup(v); i++; continue; }
		if (strcmp(a, "--ice-ip") == 0 && v) { load_opt.ice_ip = g_strdup(v); i++; continue; }
		if (strcmp(a, "--plugin") == 0 && v) { load_opt.plugin = g_strdup(v); i++; continue; }
		if (strcmp(a, "--json") == 0 && v) { load_opt.json_path = g_strdup(v); i++; continue; }
		if (strcmp(a, "--ramp") == 0 && v) { load_opt.ramp = g_ascii_strtod(v, NULL); i++; continue; }
		if (strcmp(a, "--room-base") == 0 && v) { load_opt.room_base = g_ascii_strtoull(v, NULL, 10); i++; continue; }
		if (strcmp(a, "--mesh") == 0) { load_opt.mesh = TRUE; continue; }
		if (strcmp(a, "--audio-only") == 0) { load_opt.audio_only = TRUE; continue; }
		if (strcmp(a, "--expect-no-loss") == 0) { load_opt.expect_no_loss = TRUE; continue; }
		g_printerr("cardea-load: unknown or incomplete option '%s'\n", a);
		usage();
	}
	if (!load_opt.url)
		load_opt.url = g_strdup("ws://127.0.0.1:8188");
	if (load_opt.rooms < 1 || load_opt.publishers < 1 || load_opt.subscribers < 0 || load_opt.threads < 1 ||
			load_opt.threads > 64 || load_opt.duration < 1 || load_opt.fps < 1 || load_opt.video_pps < 1 ||
			load_opt.publishers > 16 || load_opt.warmup < 0) {
		g_printerr("cardea-load: bad option values (publishers per room 1..16, threads 1..64)\n");
		usage();
	}
	if (load_broadcast() && (load_opt.publishers != 1 || load_opt.mesh)) {
		g_printerr("cardea-load: a broadcast channel has one presenter (--publishers 1, no --mesh)\n");
		usage();
	}
}

/* Thousands of peers need thousands of UDP sockets plus the WebSockets. */
static void raise_fd_limit(void) {
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void wait_until(gboolean (*ready)(const tally *t), int timeout_s, const char *what) {
	gint64 deadline = load_now_us() + (gint64)timeout_s * 1000000;
	tally t;
	for (;;) {
		take(&t, FALSE, FALSE, FALSE);
		if (ready(&t) || load_now_us() > deadline)
			break;
		g_usleep(200000);
	}
	fprintf(stderr, "%s: publishers up %d/%d, subscribers with media %d/%d (failed %d)\n", what,
		t.pubs_up, t.pubs, t.subs_media, t.subs, t.subs_failed);
}

static gboolean pubs_ready(const tally *t) {
	return t->pubs_up + t->pubs_failed >= t->pubs;
}

static gboolean subs_ready(const tally *t) {
	return t->subs_complete + t->subs_failed >= t->subs;
}

int main(int argc, char **argv) {
	parse_args(argc, argv);
	raise_fd_limit();
	cardea_log_level = CARDEA_LOG_WARN;
	load_peer_media_init();
	double cpu0 = 0, rss0 = 0, cpu1 = 0, rss1 = 0, cpu2 = 0, rss2 = 0;
	gboolean have_gw = gateway_cpu_rss(&cpu0, &rss0);

	n_workers = load_opt.threads;
	workers = g_new0(load_worker *, n_workers);
	for (int i = 0; i < n_workers; i++) {
		load_worker *w = g_new0(load_worker, 1);
		w->index = i;
		w->context = g_main_context_new();
		w->loop = g_main_loop_new(w->context, FALSE);
		w->peers = g_ptr_array_new();
		w->by_handle = g_hash_table_new(g_direct_hash, g_direct_equal);
		w->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
		GError *err = NULL;
		if (!load_ws_connect(w, &err)) {
			g_printerr("cardea-load: cannot connect to %s: %s\n", load_opt.url, err->message);
			return 1;
		}
		GSource *ka = g_timeout_source_new_seconds(20);
		g_source_set_callback(ka, keepalive_cb, w, NULL);
		g_source_attach(ka, w->context);
		g_source_unref(ka);
		workers[i] = w;
		w->thread = g_thread_new("load-worker", worker_main, w);
	}

	rooms = g_new0(load_room, load_opt.rooms);
	for (int r = 0; r < load_opt.rooms; r++) {
		rooms[r].id = load_opt.room_base + (guint64)r;
		g_mutex_init(&rooms[r].lock);
		rooms[r].n_feeds = load_opt.publishers;
		rooms[r].feeds = g_new0(guint64, load_opt.publishers);
	}
	static volatile gint rooms_done;
	create_rooms_args cra = { rooms, load_opt.rooms, &rooms_done };
	call_one(workers[0], create_rooms_fn, &cra);
	while (g_atomic_int_get(&rooms_done) == 0)
		g_usleep(10000);
	if (g_atomic_int_get(&rooms_done) < 0)
		return 1;

	gint64 t_start = load_now_us();
	for (int r = 0; r < load_opt.rooms; r++)
		for (int i = 0; i < load_opt.publishers; i++) {
			start_args a = { .room = &rooms[r], .index = i, .publisher = TRUE };
			spawn(&a);
		}
	wait_until(pubs_ready, load_opt.join_timeout, "publishers");
	tally t;
	take(&t, FALSE, TRUE, FALSE);
	for (int r = 0; r < load_opt.rooms; r++) {
		int n_subs = load_opt.subscribers + (load_opt.mesh ? load_opt.publishers : 0);
		for (int i = 0; i < n_subs; i++) {
			start_args a = { .room = &rooms[r], .index = -1 };
			int own = load_opt.mesh && i >= load_opt.subscribers ? i - load_opt.subscribers : -1;
			for (int f = 0; f < rooms[r].n_feeds; f++)
				if (f != own && rooms[r].feeds[f])
					a.feeds[a.n_feeds++] = rooms[r].feeds[f];
			if (a.n_feeds > 0)
				spawn(&a);
		}
	}
	wait_until(subs_ready, load_opt.join_timeout, "subscribers");
	double join_s = (double)(load_now_us() - t_start) / 1e6;
	g_usleep((gulong)load_opt.warmup * 1000000);

	take(&t, TRUE, FALSE, FALSE);
	have_gw = have_gw && gateway_cpu_rss(&cpu1, &rss1);
	gint64 w0 = load_now_us();
	guint64 last_rx = t.rx_packets;
	for (int s = 1; s <= load_opt.duration; s++) {
		g_usleep((gulong)MAX(0, w0 + (gint64)s * 1000000 - load_now_us()));
		tally pt;
		take(&pt, FALSE, FALSE, FALSE);
		/* the progress line reads the window counters without resetting them */
		fprintf(stderr, "\r[%3ds/%ds] subs %d/%d with media, rx %" G_GUINT64_FORMAT " pkt/s, lost %" G_GUINT64_FORMAT
			" (%.3f%%)   ", s, load_opt.duration, pt.subs_media, pt.subs, pt.rx_packets - last_rx, pt.lost_window,
			pt.rx_window + pt.lost_window ? 100.0 * (double)pt.lost_window / (double)(pt.rx_window + pt.lost_window) : 0.0);
		last_rx = pt.rx_packets;
	}
	fprintf(stderr, "\n");
	double window_s = (double)(load_now_us() - w0) / 1e6;
	have_gw = have_gw && gateway_cpu_rss(&cpu2, &rss2);
	tally e;
	take(&e, FALSE, FALSE, TRUE);

	/* Two losses: sequence gaps at the subscriber (a gateway that renumbers
	 * hides what it dropped before renumbering) and delivery, i.e. packets
	 * received against packets the subscribed publishers sent in the window
	 * (comparable across gateways; the primary figure). */
	double seq_loss_pct = e.rx_window + e.lost_window ?
		100.0 * (double)e.lost_window / (double)(e.rx_window + e.lost_window) : 100.0;
	double loss_pct = e.expected_sent ? 100.0 * (1.0 - (double)e.rx_window / (double)e.expected_sent) : 100.0;
	if (loss_pct < 0)
		loss_pct = 0;   /* retransmissions and window edges */
	double p50 = hist_pct(e.hist, 50), p99 = hist_pct(e.hist, 99);
	double j50 = arr_pct(e.join_ms, 50), j99 = arr_pct(e.join_ms, 99);
	double cpu_per_pkt_us = have_gw && e.rx_window ? (cpu2 - cpu1) * 1e6 / (double)e.rx_window : -1;
	double rss_per_sub_kb = have_gw && e.subs ? (rss2 - rss0) * 1024.0 / e.subs : -1;
	double jitter = e.jitter_n ? e.jitter_ms_sum / e.jitter_n : -1;
	/* Frames the publishers' timers ran too late to send: above a few
	 * percent the load tool, not the gateway, sets the packet rate, and the
	 * run says nothing about the gateway's limit. */
	double skip_pct = e.frames_window ? 100.0 * (double)e.skipped_window / (double)e.frames_window : 0;

	printf("%-28s %s\n", "gateway", load_opt.url);
	printf("%-28s %d rooms x (%d pub + %d sub%s)%s\n", "shape", load_opt.rooms, load_opt.publishers,
		load_opt.subscribers, load_opt.mesh ? ", mesh" : "", load_opt.audio_only ? ", audio only" : "");
	printf("%-28s %d/%d up, %d failed\n", "publishers", e.pubs_up, e.pubs, e.pubs_failed);
	printf("%-28s %d/%d with media, %d with every stream, %d failed\n", "subscriber PCs", e.subs_media,
		e.subs, e.subs_complete, e.subs_failed);
	printf("%-28s %.1f s\n", "measured window", window_s);
	printf("%-28s %" G_GUINT64_FORMAT " (%.0f pkt/s)\n", "packets received", e.rx_window, e.rx_window / window_s);
	printf("%-28s %.3f%% of %" G_GUINT64_FORMAT " sent to subscribers (sequence gaps: %" G_GUINT64_FORMAT
		", %.3f%%)\n", "packets lost", loss_pct, e.expected_sent, e.lost_window, seq_loss_pct);
	printf("%-28s %.2f%% of %" G_GUINT64_FORMAT " frames due (timers late: the load tool was the limit)\n",
		"publisher frames skipped", skip_pct, e.frames_window);
	printf("%-28s %.3f / %.3f ms\n", "delay p50 / p99", p50, p99);
	printf("%-28s %.3f ms\n", "jitter (mean)", jitter);
	printf("%-28s %.1f / %.1f ms (all joined in %.1f s)\n", "join p50 / p99", j50, j99, join_s);
	printf("%-28s %" G_GUINT64_FORMAT " PLI/FIR, %" G_GUINT64_FORMAT " NACK, %" G_GUINT64_FORMAT " resent\n",
		"publisher feedback", e.plis, e.nacks, e.rtx);
	if (have_gw) {
		printf("%-28s %.2f s in window (%.0f%% of a core)\n", "gateway CPU", cpu2 - cpu1, 100 * (cpu2 - cpu1) / window_s);
		printf("%-28s %.2f us\n", "gateway CPU per packet", cpu_per_pkt_us);
		printf("%-28s %.1f MB (baseline %.1f MB, %.1f KB per subscriber PC)\n", "gateway RSS", rss2, rss0, rss_per_sub_kb);
	}
	if (load_opt.json_path) {
		json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:b, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:I, s:I, "
			"s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I}",
			"url", load_opt.url, "rooms", load_opt.rooms, "publishers", load_opt.publishers,
			"subscribers", load_opt.subscribers, "mesh", load_opt.mesh, "audio_only", load_opt.audio_only,
			"publishers_up", e.pubs_up, "publishers_failed", e.pubs_failed, "subscriber_pcs", e.subs,
			"subscribers_with_media", e.subs_media, "subscribers_complete", e.subs_complete,
			"subscribers_failed", e.subs_failed, "duration", load_opt.duration, "window_s", window_s,
			"packets", (json_int_t)e.rx_window, "lost", (json_int_t)e.lost_window, "loss_pct", loss_pct,
			"delay_p50_ms", p50, "delay_p99_ms", p99, "jitter_ms", jitter, "join_p50_ms", j50,
			"join_p99_ms", j99, "join_all_s", join_s, "plis", (json_int_t)e.plis, "nacks", (json_int_t)e.nacks,
			"srtp_errors", (json_int_t)e.srtp_errors, "bytes", (json_int_t)e.rx_bytes);
		json_object_set_new(j, "seq_loss_pct", json_real(seq_loss_pct));
		json_object_set_new(j, "expected_packets", json_integer((json_int_t)e.expected_sent));
		json_object_set_new(j, "publisher_skip_pct", json_real(skip_pct));
		if (have_gw) {
			json_object_set_new(j, "gateway_cpu_s", json_real(cpu2 - cpu1));
			json_object_set_new(j, "gateway_cpu_per_pkt_us", json_real(cpu_per_pkt_us));
			json_object_set_new(j, "gateway_rss_mb", json_real(rss2));
			json_object_set_new(j, "gateway_rss_base_mb", json_real(rss0));
			json_object_set_new(j, "gateway_rss_per_sub_kb", json_real(rss_per_sub_kb));
		}
		if (strcmp(load_opt.json_path, "-") == 0)
			json_dumpf(j, stdout, JSON_INDENT(1)), printf("\n");
		else
			json_dump_file(j, load_opt.json_path, JSON_INDENT(1));
		json_decref(j);
	}
	fflush(stdout);
	int rc = 0;
	/* Sequence gaps only: the delivery figure carries a few packets of
	 * window-edge skew (workers are snapshotted one after the other), too
	 * much for a no-loss check at smoke rates. */
	if (load_opt.expect_no_loss && (e.lost_window > 0 || e.subs_complete < e.subs || e.subs == 0 ||
			e.pubs_up < e.pubs || e.rx_window == 0 || e.srtp_errors > 0)) {
		g_printerr("cardea-load: FAIL: expected every stream at every subscriber without loss\n");
		rc = 1;
	}
	/* The gateway tears the sessions down when the WebSockets close. */
	_exit(rc);
}
