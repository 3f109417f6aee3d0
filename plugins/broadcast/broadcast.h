/* cardea.plugin.broadcast internals shared by the plugin's files.
 *
 * Files: broadcast.c (plugin glue, sessions, request dispatch), channels.c
 * (channel registry and config), bc-media.c (SDP answers and the media fan
 * out).
 *
 * Threads:
 *  - core request workers: handle_message answers the synchronous requests
 *    (create, destroy, list, info) directly and queues the others;
 *  - the plugin queue thread (one): present, watch, configure, leave, in
 *    arrival order;
 *  - media loop threads: the presenter's incoming_rtp fans its packets out
 *    to the viewers; a viewer's setup_media and keyframe requests go to the
 *    presenter.
 *
 * Lock order (never call the core while holding any of them, STYLE rule 13):
 *   channels_lock (registry) > channel->mutex > session->mutex > viewer fwd_mutex.
 *
 * Hot path: the presenter's media thread reads channel->snap, an immutable
 * refcounted array of the viewers whose PeerConnection is up, which the
 * request threads replace under channel->mutex; the media thread holds the
 * mutex only to take a ref to the current snapshot. Each packet is copied
 * once per viewer into a stack buffer and rewritten there (sequence numbers,
 * timestamps, VP8 picture ids, payload type) under that viewer's fwd_mutex,
 * which is released before relay_rtp. No allocation per packet or viewer.
 *
 * Layer choice (docs/broadcast.md): a viewer that did not pin a substream
 * gets the one its bandwidth estimate affords (cardea/bwe.h): the
 * presenter's media thread meters each substream, the viewer's media
 * thread stores its estimate, and the fan out runs the policy at most every
 * BC_POLICY_US per viewer and sets the selector's target.
 */
#ifndef BC_BROADCAST_H
#define BC_BROADCAST_H

#include <glib.h>
#include <jansson.h>
#include "cardea/plugin.h"
#include "cardea/sdp.h"
#include "cardea/simulcast.h"
#include "cardea/bwe.h"

#define BC_PACKAGE "cardea.plugin.broadcast"

/* Plugin error codes (docs/broadcast.md). */
enum {
	BC_ERR_UNKNOWN = 480, BC_ERR_INVALID_JSON = 481, BC_ERR_INVALID_REQUEST = 482,
	BC_ERR_MISSING_ELEMENT = 483, BC_ERR_INVALID_ELEMENT = 484, BC_ERR_NO_SUCH_CHANNEL = 485,
	BC_ERR_CHANNEL_EXISTS = 486, BC_ERR_UNAUTHORIZED = 487, BC_ERR_INVALID_SDP = 488,
	BC_ERR_PRESENTER_BUSY = 489, BC_ERR_NO_PRESENTER = 490, BC_ERR_WRONG_STATE = 491,
};

typedef struct bc_channel bc_channel;
typedef struct bc_session bc_session;

/* ---- plugin globals (broadcast.c) ---- */
extern const cardea_plugin_core *bc_core;
extern cardea_plugin bc_plugin;
extern char *bc_admin_key;

void bc_push(cardea_plugin_session *app, const char *transaction, json_t *data, json_t *jsep);
void bc_push_error(cardea_plugin_session *app, const char *transaction, int code, const char *text);

/* ---- channels (channels.c) ---- */
typedef struct bc_props {
	char *description;
	char *secret;                   /* for destroy; NULL: none */
	char *pin;                      /* for present/watch; NULL: none */
	char *token;                    /* a Bearer token WHIP/WHEP and present may give instead of pin */
	gboolean is_private;            /* left out of list */
	gboolean takeover;              /* present replaces a current presenter (else 489) */
	char *video_codec;              /* "vp8" (default), "vp9", "h264", "av1" */
	char *audio_codec;              /* "opus" */
} bc_props;
void bc_props_clear(bc_props *p);

/* Immutable snapshot of the viewers ready for media (refs). */
typedef struct bc_snap {
	cardea_refcount ref;
	guint n;
	bc_session *v[];
} bc_snap;
void bc_snap_unref(bc_snap *snap);

struct bc_channel {
	char *name;
	bc_props props;                 /* fixed after creation */
	gboolean permanent;             /* from the config file */
	GMutex mutex;                   /* guards everything below */
	bc_session *presenter;          /* ref, NULL: none */
	GHashTable *viewers;            /* bc_session* -> itself (ref) */
	bc_snap *snap;                  /* ref; viewers with media up */
	volatile gint presenter_gen;    /* bumped at each new presenter (source id for rewriters) */
	volatile gint destroyed;
	cardea_refcount ref;
};

int bc_channels_init(const char *config_path, GError **error);
void bc_channels_deinit(void);
bc_channel *bc_channel_lookup(const char *name);  /* ref, NULL if none */
void bc_channel_unref(bc_channel *ch);
bc_channel *bc_channel_new(const char *name, const bc_props *props);
/* 486 when the name exists; takes no ref of `ch` (the table takes its own). */
int bc_channel_add(bc_channel *ch);
gboolean bc_channel_remove(bc_channel *ch);
GPtrArray *bc_channels_all(void);  /* refs; g_ptr_array_unref */
/* Rebuilds ch->snap from the viewers whose media is up; ch->mutex held. */
void bc_channel_resnap_locked(bc_channel *ch);
guint bc_channel_viewer_count(bc_channel *ch);
json_t *bc_channel_json(bc_channel *ch, gboolean details);

/* ---- sessions (broadcast.c) ---- */
typedef enum { BC_ROLE_NONE = 0, BC_ROLE_PRESENTER, BC_ROLE_VIEWER } bc_role;

/* One negotiated media line of a leg. */
typedef struct bc_leg {
	int audio_mindex, video_mindex; /* -1: none */
	int audio_pt, video_pt;         /* the PT this leg uses, -1: none */
	cardea_video_codec vcodec;
	int substreams;                 /* presenter only: > 1 simulcast */
} bc_leg;

struct bc_session {
	cardea_plugin_session *app;     /* borrowed: valid while in the sessions table */
	GMutex mutex;                   /* guards role, channel and leg */
	bc_role role;
	bc_channel *channel;            /* ref while present/watching */
	bc_leg leg;                     /* what the last answer said */
	int gen;                        /* presenter: the channel's presenter_gen it presents as */
	volatile gint media_up;         /* setup_media .. hangup_media */
	volatile gint destroyed;
	/* Viewer forwarding state: touched by whichever presenter media thread
	 * fans out (two at once only around a handover), under fwd_mutex. */
	GMutex fwd_mutex;
	int fwd_gen;                    /* presenter generation the state below follows */
	cardea_sim_selector sel;
	cardea_sim_rewriter vrw, arw;
	volatile gint substream_target, temporal_target;  /* -1: default (substream: automatic) */
	volatile gint sel_dirty;        /* targets changed: apply at the next packet */
	guint64 relayed;                /* packets sent to this viewer (under fwd_mutex) */
	/* Automatic layer choice (substream_target -1): the viewer's estimate,
	 * set from its media thread (incoming_bitrate_estimate), and the
	 * policy run by the fan out under fwd_mutex. */
	volatile gint estimate_bps;     /* 0: none yet */
	cardea_bwe_policy policy;
	gint64 policy_us;               /* last policy run, 0: run at the next packet */
	/* Presenter: what each substream costs, measured on its media thread
	 * (meter) and published for the request threads (layer_bps). */
	cardea_bwe_meter meter;
	volatile gint layer_bps[CARDEA_BWE_LAYERS];
	cardea_refcount ref;
};
void bc_session_ref(bc_session *s);
void bc_session_unref(bc_session *s);

/* ---- SDP and media (bc-media.c) ---- */
/* The presenter's answer, restricted to the channel's codecs (recvonly);
 * NULL with *error when the offer has nothing usable. */
char *bc_presenter_answer(const char *offer, const bc_props *props, bc_leg *leg, const char **error);
/* A viewer's answer to its recvonly offer (sendonly). */
char *bc_viewer_answer(const char *offer, const bc_props *props, bc_leg *leg, const char **error);
/* watch without a jsep: the gateway's offer (sendonly audio + video), and
 * the viewer's answer narrowing the leg (FALSE: it accepted nothing). */
char *bc_viewer_offer(const bc_props *props, bc_leg *leg);
gboolean bc_viewer_apply_answer(const char *answer, bc_leg *leg);
void bc_media_incoming_rtp(cardea_plugin_session *app, cardea_rtp_packet *packet);
/* A viewer joined (its media is up) or asked for a keyframe: ask the presenter. */
void bc_request_keyframe(bc_channel *ch);
/* Resets a viewer's forwarding state for a new PeerConnection. */
void bc_viewer_reset(bc_session *s);
/* Resets a presenter's layer meter (its media thread). */
void bc_presenter_reset(bc_session *s);
/* A viewer's peer estimate (its media thread). */
void bc_media_estimate(cardea_plugin_session *app, uint32_t bitrate);
/* The presenter's measured layer rates, as a JSON array (any thread). */
json_t *bc_layer_rates_json(bc_session *p);

#endif
