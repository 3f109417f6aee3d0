/* janus.plugin.videoroom internals shared by the plugin's files.
 *
 * Files: videoroom.c (plugin glue, request dispatch), rooms.c (room registry,
 * config load/save), room-config.c (room properties), requests.c
 * (synchronous requests), publisher.c (publisher requests and the media fan
 * out), subscriber.c (subscriber requests, gateway offers), forwarders.c
 * (rtp_forward).
 *
 * Threads:
 *  - core request workers: handle_message answers synchronous requests
 *    (create, list, kick, ...) directly, and queues the others;
 *  - the plugin queue thread (one): join, publish, configure, start, update,
 *    leave ... in arrival order, so one client's requests never race;
 *  - media loop threads: a publisher's incoming_rtp fans its packets out to
 *    its subscribers and forwarders; a subscriber's keyframe requests go to
 *    the publisher it watches.
 *
 * Lock order (never call the core while holding any of them, STYLE rule 13):
 *   rooms_lock (registry) > room->mutex > sub->mutex > pub->mutex > session mutex
 * (a session mutex is only held to read or swap its role pointers).
 *
 * Hot path: the publisher's media thread reads pub->snap, an immutable
 * refcounted array of (subscriber, stream) targets that the request threads
 * replace under pub->mutex; the media thread holds pub->mutex only to take a
 * ref to the current snapshot, never across relay calls. Each packet is
 * copied once per target into a stack buffer and rewritten there.
 */
#ifndef VR_VIDEOROOM_H
#define VR_VIDEOROOM_H

#include <glib.h>
#include <jansson.h>
#include <netinet/in.h>
#include "cardea/plugin.h"
#include "cardea/sdp.h"
#include "cardea/simulcast.h"
#include "cardea/svc.h"
#include "room-config.h"

#define VR_PACKAGE "janus.plugin.videoroom"
#define VR_MAX_STREAMS 16               /* m-lines per publisher */
#define VR_MAX_SUB_STREAMS 64           /* m-lines per subscriber PC */

/* Janus error codes (janus-api.md 8.5). */
enum {
	VR_ERR_UNKNOWN = 499, VR_ERR_NO_MESSAGE = 421, VR_ERR_INVALID_JSON = 422, VR_ERR_INVALID_REQUEST = 423,
	VR_ERR_JOIN_FIRST = 424, VR_ERR_ALREADY_JOINED = 425, VR_ERR_NO_SUCH_ROOM = 426, VR_ERR_ROOM_EXISTS = 427,
	VR_ERR_NO_SUCH_FEED = 428, VR_ERR_MISSING_ELEMENT = 429, VR_ERR_INVALID_ELEMENT = 430,
	VR_ERR_INVALID_SDP_TYPE = 431, VR_ERR_PUBLISHERS_FULL = 432, VR_ERR_UNAUTHORIZED = 433,
	VR_ERR_ALREADY_PUBLISHED = 434, VR_ERR_NOT_PUBLISHED = 435, VR_ERR_ID_EXISTS = 436, VR_ERR_INVALID_SDP = 437,
};

typedef enum { VR_AUDIO = 0, VR_VIDEO, VR_DATA } vr_mtype;

typedef struct vr_room vr_room;
typedef struct vr_publisher vr_publisher;
typedef struct vr_subscriber vr_subscriber;
typedef struct vr_forwarder vr_forwarder;

/* A request's outcome: either a JSON reply or a Janus error. */
typedef struct vr_reply {
	int code;                       /* 0: ok */
	char *error;                    /* g_malloc'd */
	json_t *data;                   /* the plugindata.data (owned) */
	cardea_plugin_session *app;     /* the asking handle (borrowed); NULL from the Admin API */
	gboolean parked;                /* waiting for the auth module: reply nothing, change nothing */
} vr_reply;
void vr_reply_error(vr_reply *r, int code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* ---- plugin globals (videoroom.c) ---- */
extern const cardea_plugin_core *vr_core;
extern cardea_plugin vr_plugin;
extern gboolean vr_string_ids;
extern char *vr_admin_key;
extern gboolean vr_lock_rtp_forward;
extern char *vr_config_path;

/* Per handle. */
typedef enum { VR_PT_NONE = 0, VR_PT_PUBLISHER, VR_PT_SUBSCRIBER } vr_ptype;
typedef struct vr_session {
	cardea_plugin_session *app;     /* borrowed: valid while in the sessions table */
	GMutex mutex;                   /* guards ptype/pub/sub */
	vr_ptype ptype;
	vr_publisher *pub;              /* ref */
	vr_subscriber *sub;             /* ref */
	volatile gint destroyed;
	cardea_refcount ref;
} vr_session;

void vr_push(cardea_plugin_session *app, const char *transaction, json_t *data, json_t *jsep);
void vr_push_error(cardea_plugin_session *app, const char *transaction, int code, const char *text);
/* An event for events modules (docs/events.md): {"event": name, "room",
 * "id" (when not NULL), ...fields}; `fields` (may be NULL) is taken. No lock held. */
void vr_notify(cardea_plugin_session *app, const char *name, const char *room, const char *id, json_t *fields);
/* Room and participant ids: kept as strings; numbers on the wire unless string_ids. */
json_t *vr_id_json(const char *id);
/* Reads `key` of `body` as an id; NULL (with *r set) when the type is wrong. */
char *vr_id_get(json_t *body, const char *key, vr_reply *r);

/* ---- rooms (rooms.c) ---- */
struct vr_room {
	char *id;
	vr_props props;                 /* guarded by mutex */
	GHashTable *allowed;            /* tokens (may be NULL: empty); guarded by mutex */
	gboolean check_allowed;         /* joins need a token in `allowed` */
	gboolean permanent;             /* lives in the config file */
	GMutex mutex;                   /* guards everything below and props */
	GHashTable *participants;       /* id -> vr_publisher* (ref): joined publisher handles */
	GHashTable *subscribers;        /* vr_subscriber* -> itself (ref) */
	volatile gint destroyed;
	cardea_refcount ref;
};

int vr_rooms_init(const char *config_path, GError **error);
void vr_rooms_deinit(void);
vr_room *vr_room_lookup(const char *id);   /* ref, NULL if none */
void vr_room_unref(vr_room *room);
/* Registers a new room; 427 when the id exists. Takes `room`'s creator ref. */
int vr_room_add(vr_room *room);
vr_room *vr_room_new(const char *id, const vr_props *props);
/* Removes from the registry (marks destroyed); FALSE when absent. */
gboolean vr_room_remove(vr_room *room);
GPtrArray *vr_rooms_all(void);             /* array of refs, free with g_ptr_array_unref */
char *vr_room_random_id(void);
/* Rewrites the config file with every permanent room (temp file + rename). */
gboolean vr_rooms_save(GError **error);
/* Apps of every participant and subscriber of `room` (session refs), for
 * events; except `skip`. Free with vr_apps_free. */
GPtrArray *vr_room_apps(vr_room *room, vr_publisher *skip, gboolean subscribers_too);
void vr_apps_push(GPtrArray *apps, json_t *data);
/* Every joined publisher handle but `skip` (refs; g_ptr_array_unref frees). */
GPtrArray *vr_room_participants(vr_room *room, vr_publisher *skip);
void vr_apps_free(GPtrArray *apps);

/* ---- synchronous requests (requests.c) ---- */
/* NULL when `request` is not a synchronous one. */
typedef void (*vr_sync_fn)(json_t *body, vr_reply *r);
vr_sync_fn vr_sync_lookup(const char *request);
/* The room the body's `room` names (ref), or NULL with 429/430/426 in *r. */
vr_room *vr_room_from(json_t *body, vr_reply *r);
gboolean vr_check_secret(vr_room *room, json_t *body, vr_reply *r);
gboolean vr_check_pin(vr_room *room, json_t *body, vr_reply *r);
/* Asks the auth module whether `app` may do `action` (docs/auth.md) without
 * blocking: on the queue thread the request is parked until the answer comes
 * (NULL with r->parked set: the caller returns at once, replying nothing, and
 * runs again later). `target` is taken (new ref). Returns the decision (new
 * ref) when allowed, or NULL with 433 in *r when denied, timed out, or
 * target.room is outside the decision's rooms. From the Admin API (app NULL,
 * admin_secret already checked) always allows. Elsewhere (a core worker
 * thread, which only happens if defer_reply was refused) it waits at most
 * VR_AUTH_TIMEOUT. */
#define VR_AUTH_TIMEOUT (10 * G_TIME_SPAN_SECOND)
json_t *vr_auth(cardea_plugin_session *app, const char *action, json_t *target, vr_reply *r);
/* videoroom.c: the queue's non-blocking ask (cardea_plugin_queue_auth);
 * `on_queue` is FALSE off the queue thread (nothing asked then). */
json_t *vr_queue_auth(cardea_plugin_session *app, const char *action, json_t *target, gboolean *on_queue);

/* ---- publishers (publisher.c) ---- */
typedef struct vr_pstream {
	vr_mtype type;
	int mindex;
	char mid[32];
	gboolean disabled;
	char *description;
	int pt;                         /* negotiated payload type */
	char *codec;                    /* Janus name: opus, vp8, ... */
	char *rtpname;                  /* a=rtpmap name as negotiated */
	guint32 clock;
	guint channels;
	char *fmtp;
	cardea_video_codec vcodec;
	int substreams;                 /* > 1: simulcast */
	gboolean fec, dtx, stereo;
	int level_ext;                  /* ssrc-audio-level extension id, 0: none */
	volatile gint muted;            /* moderate */
	gboolean svc;                   /* VP9/AV1 in a video_svc room: reported as "svc" */
	volatile gint paused;           /* the publisher's configure streams[].send = false: not relayed */
	int dd_ext;                     /* video: the Dependency Descriptor's extension id, 0: not negotiated */
} vr_pstream;

typedef struct vr_target {
	vr_subscriber *sub;             /* ref */
	int sidx;                       /* the subscriber's stream (= its mindex) */
	int pub_mindex;
} vr_target;

typedef struct vr_snapshot {
	cardea_refcount ref;
	guint n;
	vr_target t[];
} vr_snapshot;

struct vr_publisher {
	cardea_plugin_session *app;     /* session ref */
	vr_session *session;            /* borrowed: valid while app is not stopped */
	vr_room *room;                  /* ref */
	char *id;
	guint32 private_id;
	char *display;
	gboolean display_forced;        /* the auth decision named the display: clients can't change it */
	GMutex mutex;                   /* guards everything below */
	gboolean joined;                /* in room->participants */
	volatile gint publishing;
	vr_pstream streams[VR_MAX_STREAMS];
	int n_streams;
	guint32 bitrate;
	GPtrArray *links;               /* vr_target (plain structs, sub not ref'd: the snapshot holds refs) */
	vr_snapshot *snap;              /* ref */
	GPtrArray *forwarders;          /* vr_forwarder* (owned) */
	gint64 last_fir;                /* media thread: last keyframe request sent */
	volatile gint talking;
	/* media thread only */
	int level_sum, level_count;
	cardea_refcount ref;
	gboolean e2ee;                  /* its last offer's jsep said e2ee (insertable streams): payloads are opaque */
	/* Recording (recording.c), under mutex. The media thread writes to
	 * rec[mindex] holding mutex; files are opened/closed without it. */
	gboolean recording_active;      /* should record while publishing */
	char *recording_base;           /* configure `filename`, NULL: Janus's default name */
	struct cardea_recorder *rec[VR_MAX_STREAMS];  /* owned, NULL: not recording that stream */
};

void vr_publisher_unref(vr_publisher *p);
vr_publisher *vr_publisher_lookup(vr_room *room, const char *id);  /* ref */
/* {id, display, streams, ...} as in publishers lists; caller holds nothing. */
json_t *vr_publisher_json(vr_publisher *p, gboolean with_talking);
/* Sets obj[key] = p's display (read under p->mutex), if it has one. */
void vr_publisher_set_display(vr_publisher *p, json_t *obj, const char *key);
void vr_publisher_handle(vr_session *s, const char *request, const char *transaction, json_t *body, json_t *jsep);
/* Leaves the room (unpublish + leaving events). `reason` NULL or "kicked". */
void vr_publisher_leave(vr_publisher *p, const char *reason, gboolean notify_self);
void vr_publisher_unpublish(vr_publisher *p, gboolean notify);
void vr_publisher_keyframe(vr_publisher *p, int mindex, gboolean force);
void vr_publisher_incoming_rtp(vr_publisher *p, cardea_rtp_packet *pkt);
void vr_publisher_incoming_data(vr_publisher *p, cardea_data_packet *pkt);
/* Adds/removes a subscriber stream in the publisher's fan-out. */
void vr_publisher_link(vr_publisher *p, vr_subscriber *sub, int sidx, int pub_mindex);
void vr_publisher_unlink(vr_publisher *p, vr_subscriber *sub, int sidx);
void vr_snapshot_unref(vr_snapshot *s);
json_t *vr_publisher_query(vr_publisher *p);

/* ---- recording (recording.c, docs/recording.md) ---- */
/* Opens/closes p's recorders to match publishing && recording_active. */
void vr_recording_sync(vr_publisher *p);
void vr_recording_stop(vr_publisher *p);
/* TRUE while at least one of p's streams is being written. */
gboolean vr_recording_active(vr_publisher *p);
/* configure's record/filename: 0, or 430 with *error. */
int vr_recording_configure(vr_publisher *p, json_t *body, const char **error);
/* enable_recording / edit new_record: the room flag and every participant. */
void vr_room_set_recording(vr_room *room, gboolean record);
/* Media thread, p->mutex held. */
void vr_recording_save_rtp(vr_publisher *p, const cardea_rtp_packet *pkt);
void vr_recording_save_data(vr_publisher *p, const cardea_data_packet *pkt);

/* ---- subscribers (subscriber.c) ---- */
typedef struct vr_sstream {
	gboolean used;                  /* the m-line exists in the offer */
	gboolean active;                /* it has a source (else port 0) */
	vr_mtype type;
	int mindex;
	char mid[16];
	char *crossrefid;
	vr_publisher *feed;             /* ref, NULL when inactive */
	int feed_mindex;
	/* copied from the feed's stream at subscription */
	int pt;
	char *rtpname, *codec, *fmtp;
	guint32 clock;
	guint channels;
	cardea_video_codec vcodec;
	int substreams;
	volatile gint send;             /* per-stream pause (configure send:false) */
	volatile gint substream_target, temporal_target, fallback, sim_gen;
	volatile gint substream, temporal;
	/* media thread of the feed only */
	gint sim_applied;
	cardea_sim_selector sel;
	cardea_sim_rewriter rw;
	gboolean rw_init;
	/* VP9/AV1 SVC (room video_svc; subscriber.c): set at subscription */
	gboolean svc;                   /* layers picked by svc_sel instead of simulcast */
	volatile gint spatial_target, temporal_layer_target;   /* -1 = highest */
	volatile gint spatial_layer, temporal_layer;           /* what goes out, -1 none yet */
	cardea_svc_selector *svc_sel;   /* owned, media thread of the feed only: made by the first
	                                 * sim_sync of an svc stream (640 bytes other streams skip) */
	/* AV1 SVC: the Dependency Descriptor id offered to the subscriber (the
	 * feed's at subscription), 0: none. Packets of a feed with another id
	 * get theirs swapped to it (cardea_svc_rtp_extension_swap). */
	int dd_ext;
	/* Simulcast from an e2ee publisher: switch points without the payload
	 * (cardea_sim_e2ee); media thread of the feed only, reset by sim_sync. */
	cardea_sim_e2ee *e2ee;          /* owned, made by the first packet of an e2ee simulcast feed
	                                 * (1.5 KB that other streams do not carry) */
} vr_sstream;

struct vr_subscriber {
	cardea_plugin_session *app;     /* session ref */
	vr_room *room;                  /* ref */
	guint32 pvt_id;
	gboolean use_msid, autoupdate;
	GMutex mutex;                   /* guards the streams' non-atomic fields */
	/* [0, n_streams): owned, allocated when the stream is added (a
	 * vr_sstream is ~2.5 KB of simulcast/SVC state: a fixed array of 64
	 * cost ~158 KB per subscriber); slots never move or go back to NULL. */
	vr_sstream *streams[VR_MAX_SUB_STREAMS];
	int n_streams;
	volatile gint paused;           /* before start, or after pause */
	volatile gint left;
	volatile gint data_ready;
	cardea_refcount ref;
};

void vr_subscriber_unref(vr_subscriber *s);
void vr_subscriber_handle(vr_session *s, const char *request, const char *transaction, json_t *body, json_t *jsep);
/* A publisher went away: drop its streams, re-offer if autoupdate. */
void vr_subscriber_feed_gone(vr_subscriber *sub, vr_publisher *pub);
void vr_subscriber_leave(vr_subscriber *sub);
/* Media thread of the feed: one packet for stream sidx. */
void vr_subscriber_relay(vr_subscriber *sub, int sidx, const cardea_rtp_packet *pkt, vr_publisher *src,
	const vr_pstream *ps, gint64 now);
void vr_subscriber_relay_data(vr_subscriber *sub, const cardea_data_packet *pkt);
void vr_subscriber_keyframe_request(vr_subscriber *sub, int mindex);
json_t *vr_subscriber_query(vr_subscriber *sub);

/* ---- forwarders (forwarders.c) ---- */
struct vr_forwarder {
	guint32 stream_id;
	int mindex;                     /* publisher stream */
	vr_mtype type;
	int substream;                  /* video simulcast: which one, -1 any */
	char *host;
	int port;
	guint32 ssrc;
	int pt;                         /* 0: keep */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd;
	guint16 seq;
	gboolean seq_init;
	guint16 seq_off;
	guint64 packets;
	struct cardea_srtp *srtp;       /* owned (cardea/srtp.h): NULL = plain RTP */
	int srtp_suite;                 /* 32 or 80 with srtp */
};
void vr_rtp_forward(json_t *body, vr_reply *r);
void vr_stop_rtp_forward(json_t *body, vr_reply *r);
void vr_list_forwarders(json_t *body, vr_reply *r);
json_t *vr_forwarders_json(vr_publisher *p);   /* caller holds p->mutex */
void vr_forwarder_free(vr_forwarder *f);
/* Media thread, p->mutex held: sends one packet to the forwarder. */
void vr_forwarder_send(vr_forwarder *f, const cardea_rtp_packet *pkt);

#endif
