/* cardea-load: many WebRTC peers in one process driving the Janus videoroom
 * API (Cardea or Janus) over WebSocket.
 *
 * Threads: the main thread parses options, runs the phases and prints. Each
 * worker thread owns one GMainContext, one WebSocket connection and the
 * peers bound to it; everything about a peer (signalling, ICE, DTLS, SRTP,
 * counters) is touched only on its worker's thread. The main thread reads
 * counters only through lw_worker_call(), which runs a function on the
 * worker and waits for it.
 */
#ifndef CARDEA_LOAD_H
#define CARDEA_LOAD_H

#include <glib.h>
#include <jansson.h>
#include "webrtc/rtp.h"

#define LOAD_MAX_STREAMS 32       /* m-lines per subscriber PC */
#define LOAD_DELAY_BUCKETS 50000  /* 10 us each: 0..500 ms, then overflow */
#define LOAD_RTX_SLOTS 512        /* protected video packets kept per publisher for NACK */

typedef struct load_options {
	char *url;                  /* ws://host:port */
	char *plugin;               /* janus.plugin.videoroom */
	int rooms, publishers, subscribers;  /* publishers and subscribers per room */
	gboolean mesh;              /* publishers also subscribe to the room's other feeds */
	gboolean audio_only;
	int video_kbps, video_pps, fps, keyframe_s, audio_kbps;
	int duration, warmup, threads;
	double ramp;                /* joins per second */
	guint64 room_base;
	char *json_path;
	int gateway_pid;            /* 0 = no gateway CPU/RSS figures */
	gboolean expect_no_loss;    /* exit 1 on any loss or silent subscriber (smoke) */
	int join_timeout;
	char *ice_ip;               /* NULL = the host's addresses */
} load_options;

extern load_options load_opt;

/* Cardea's broadcast plugin instead of a videoroom: a room is a channel,
 * its one publisher `present`s and subscribers `watch` (gateway offer). */
static inline gboolean load_broadcast(void) {
	return g_strcmp0(load_opt.plugin, "cardea.plugin.broadcast") == 0;
}

typedef struct load_worker load_worker;
typedef struct load_peer load_peer;

typedef struct load_room {
	guint64 id;
	GMutex lock;
	guint64 *feeds;             /* feed id per publisher index, 0 = not yet */
	int n_feeds;
} load_room;

/* One received stream (SSRC) at a subscriber. */
typedef struct load_stream {
	guint32 ssrc;
	guint32 clock;
	gboolean started;
	gint64 first_seq, max_seq;  /* unwrapped */
	guint64 received, bytes;
	guint64 snap_expected, snap_received;
	double jitter;              /* RTP units */
	gint64 last_transit;
	cardea_seq_unwrapper unwrap;
} load_stream;

typedef enum load_peer_state {
	PEER_NEW, PEER_SIGNALLING, PEER_CONNECTING, PEER_UP, PEER_FAILED,
} load_peer_state;

struct load_peer {
	load_worker *worker;        /* borrowed */
	load_room *room;            /* borrowed */
	int index;                  /* publisher index in room, or -1 */
	gboolean publisher;
	load_peer_state state;
	char *error;                /* owned: why FAILED */
	guint64 session_id, handle_id, feed_id;
	gint64 join_sent_us, first_media_us;
	/* media (load-peer.c) */
	struct cardea_ice *ice;
	struct cardea_dtls *dtls;
	GSource *dtls_timer, *video_timer, *audio_timer;
	GPtrArray *local_cands;     /* owned char* */
	gboolean gathered;
	char *remote_sdp;           /* owned: waiting for gathering */
	gboolean srtp_ready;
	/* publisher */
	guint32 audio_ssrc, video_ssrc;
	guint16 audio_seq, video_seq;
	guint8 audio_pt, video_pt, mid_ext;
	gint64 media_start_us;
	guint64 frames, audio_frames;
	/* Frames (video + audio) the timers were too late to send: the load
	 * tool, not the gateway, was the limit (see publisher_skip_pct). */
	guint64 frames_skipped, snap_frames, snap_skipped;
	gboolean want_keyframe;
	guint64 plis, nacks, retransmitted;
	guint64 sent_packets, snap_sent;
	guint8 *rtx_buf;            /* owned: LOAD_RTX_SLOTS * 1500 */
	guint16 rtx_len[LOAD_RTX_SLOTS];
	guint16 rtx_seq[LOAD_RTX_SLOTS];
	/* subscriber */
	int n_feeds;
	guint64 feeds[16];
	int n_expected;             /* active RTP m-lines offered */
	guint8 pt_clock_kind[128];  /* 1 = audio 48k, 2 = video 90k */
	load_stream streams[LOAD_MAX_STREAMS];
	int n_streams;
	guint64 srtp_errors;
};

struct load_worker {
	int index;
	GMainContext *context;
	GMainLoop *loop;
	GThread *thread;
	GPtrArray *peers;           /* owned load_peer* */
	GHashTable *by_handle;      /* handle id -> peer (borrowed) */
	GHashTable *pending;        /* transaction -> load_pending* (owned) */
	struct load_ws *ws;
	guint64 delay_hist[LOAD_DELAY_BUCKETS + 1];
	guint64 tx_seq;
};

/* load-main.c */
gint64 load_now_us(void);
void load_peer_fail(load_peer *p, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* load-signal.c: Janus API over one WebSocket per worker */
gboolean load_ws_connect(load_worker *w, GError **error);
void load_ws_close(load_worker *w);
void load_signal_create_rooms(load_worker *w, load_room *rooms, int n, volatile gint *done);
void load_signal_start_peer(load_peer *p);
void load_signal_send_jsep(load_peer *p, const char *type, const char *sdp);
void load_signal_keepalive(load_worker *w);

/* load-peer.c: ICE + DTLS-SRTP + synthetic RTP */
void load_peer_media_init(void);
/* Publisher: gathers, then calls load_signal_send_jsep(p, "offer", ...). */
void load_peer_start_offer(load_peer *p);
/* The gateway's answer (publisher) or offer (subscriber, answers it). */
void load_peer_remote_sdp(load_peer *p, const char *type, const char *sdp);
void load_peer_remote_candidate(load_peer *p, const char *candidate);
void load_peer_stop_sending(load_peer *p);   /* publisher timers only */
void load_peer_free_media(load_peer *p);

#endif
