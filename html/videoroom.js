// Video room demo (janus.plugin.videoroom, Janus 1.x multistream API).
//
// Two handles on one session: the "publisher" handle joins the room (and
// publishes camera + mic, optionally simulcast, plus an optional screen as a
// second video m-line); the "subscriber" handle receives every other
// participant's streams in ONE peer connection, grown and shrunk with
// `update` as publishers come and go. If the connection to the gateway
// drops, the page says so and rejoins.
//
// Query: ?room=1234&display=Ann&autojoin=1&publish=0&simulcast=1, plus
// ws/http/transport (see cardea.js pageServers()). window.cardeaDemo exposes
// the state for the browser tests.
import { connect, pageServers } from './cardea.js';
import { $, log, setStatus, pluginData, ensureRoom, Peer, inboundVideoByMid } from './rtc.js';

const PLUGIN = 'janus.plugin.videoroom';
const REJOIN_MIN_MS = 1000;
const REJOIN_MAX_MS = 10000;
const SUB_SETTLE_MS = 10000;
// What janus.js asks for: three layers, high first.
const SIMULCAST_ENCODINGS = [
	{ rid: 'h', active: true, maxBitrate: 900000 },
	{ rid: 'm', active: true, maxBitrate: 300000, scaleResolutionDownBy: 2 },
	{ rid: 'l', active: true, maxBitrate: 100000, scaleResolutionDownBy: 4 },
];

const servers = pageServers();
const query = new URLSearchParams(location.search);

const demo = window.cardeaDemo = {
	state: 'idle',          // idle, joining, joined, reconnecting, left, failed
	transport: null,
	room: null,
	myId: null,
	privateId: null,
	published: false,       // our publish answer applied
	screen: false,          // sharing a screen
	feeds: {},              // publisher id -> { display, streams }
	remote: {},             // subscriber mid -> { feed, display, type, description }
	layers: {},             // subscriber mid -> { substream, temporal } as last confirmed
	reconnects: 0,
	error: null,
	videoStats: () => inboundVideoByMid(sub?.pc),
	// What we send, one entry per simulcast layer (rid).
	async outboundVideo() {
		const out = [];
		(await pub?.pc.getStats())?.forEach(r => {
			if (r.type === 'outbound-rtp' && r.kind === 'video') {
				out.push({ mid: r.mid, rid: r.rid, frameWidth: r.frameWidth, framesSent: r.framesSent,
					limitation: r.qualityLimitationReason, active: r.active });
			}
		});
		return out;
	},
	async setSubstream(mid, substream, temporal = 2) {
		await subHandle.message({ request: 'configure', streams: [{ mid: String(mid), substream, temporal }] });
	},
};

let gateway = null, session = null, pubHandle = null, subHandle = null;
let pub = null, sub = null;              // Peer objects
let localStream = null, screenStream = null, screenTransceiver = null;
let subStreams = [];                     // the subscriber's current `streams`
let subBusy = false, subDirty = false;   // one update/renegotiation at a time
let goneStreams = [];                    // { feed[, mid] } to unsubscribe: left or stopped
let busyTimer = null;
let leaving = false, rejoinTimer = null, rejoinDelay = REJOIN_MIN_MS;

function setState(state) {
	demo.state = state;
	const inRoom = ['joining', 'joined', 'reconnecting'].includes(state);
	$('join').disabled = inRoom;
	$('leave').disabled = !inRoom;
	for (const id of ['room', 'display', 'publish', 'simulcast'])
		$(id).disabled = inRoom;
	const publishing = state === 'joined' && !!localStream;
	$('mute-audio').disabled = !publishing || !localStream.getAudioTracks().length;
	$('mute-video').disabled = !publishing || !localStream.getVideoTracks().length;
	$('screen').disabled = !(state === 'joined' && demo.published);
}

function badge(id, on) {
	$(id).classList.toggle('on', on);
}

function fail(err, what) {
	demo.error = `${what}: ${err.message}`;
	setStatus(demo.error, 'error');
	log(demo.error, 'error');
	teardown(true);
	setState('failed');
}

// ---- joining ----

async function join() {
	const room = Number($('room').value);
	if (!Number.isSafeInteger(room) || room <= 0) {
		setStatus('The room must be a positive number.', 'error');
		return;
	}
	const display = $('display').value.trim() || `guest-${Math.random().toString(36).slice(2, 6)}`;
	$('display').value = display;
	demo.room = room;
	demo.error = null;
	leaving = false;
	setState(demo.state === 'reconnecting' ? 'reconnecting' : 'joining');
	try {
		setStatus('Connecting to the gateway…');
		gateway = await connect(servers);
		demo.transport = gateway.transport;
		$('badge-transport').textContent = `transport: ${gateway.transport}`;
		badge('badge-transport', true);
		gateway.on('close', ({ reason }) => connectionLost(reason));
		session = await gateway.createSession();
		session.on('timeout', () => connectionLost('session timed out'));
		pubHandle = await session.attach(PLUGIN, `videoroom-${display}`);
		pubHandle.on('event', onPublisherEvent);
		pubHandle.on('webrtcup', () => { badge('badge-publisher', true); log('publisher: webrtcup', 'ok'); });
		pubHandle.on('hangup', msg => { badge('badge-publisher', false); log(`publisher hangup: ${msg.reason}`, 'warn'); });
		if (await ensureRoom(pubHandle, room, { description: `Room ${room}` }))
			log(`created room ${room}`);
		const joined = new Promise((resolve, reject) => {
			const off = pubHandle.on('event', msg => {
				const { data } = pluginData(msg);
				if (data.videoroom === 'joined') {
					off();
					resolve(data);
				} else if (data.error_code) {
					off();
					reject(new Error(`${data.error} (${data.error_code})`));
				}
			});
		});
		await pubHandle.message({ request: 'join', ptype: 'publisher', room, display });
		const data = await joined;
		demo.myId = data.id;
		demo.privateId = data.private_id;
		rejoinDelay = REJOIN_MIN_MS;
		setState('joined');
		setStatus(`In room ${room} as ${display} (id ${data.id}).`, 'ok');
		log(`joined room ${room} as ${display}, id ${data.id}`, 'ok');
		addFeeds(data.publishers || []);
		if ($('publish').checked)
			await publishCamera();
	} catch (err) {
		if (demo.state === 'reconnecting' || leaving)
			return;
		fail(err, 'Join failed');
	}
}

async function publishCamera() {
	const simulcast = $('simulcast').checked;
	if (!localStream) {
		// Simulcast needs a picture big enough for three layers.
		localStream = await navigator.mediaDevices.getUserMedia({
			audio: true,
			video: simulcast ? { width: 1280, height: 720, frameRate: 15 } : { width: 320, height: 240, frameRate: 15 },
		});
	}
	$('local').srcObject = localStream;
	pub = new Peer(pubHandle);
	for (const track of localStream.getTracks()) {
		const init = { direction: 'sendonly', streams: [localStream] };
		if (track.kind === 'video' && simulcast)
			init.sendEncodings = SIMULCAST_ENCODINGS.map(e => ({ ...e }));
		const t = pub.pc.addTransceiver(track, init);
		if (track.kind === 'video' && simulcast) {
			// Under CPU pressure keep the picture size (fewer frames instead):
			// a shrunk capture would silently drop the upper layers.
			const params = t.sender.getParameters();
			params.degradationPreference = 'maintain-resolution';
			await t.sender.setParameters(params).catch(() => {});
		}
	}
	pub.pc.onconnectionstatechange = () => log(`publisher connection ${pub?.pc.connectionState}`);
	await pub.offer({ request: 'publish', display: $('display').value });
	log(`publishing camera + mic${simulcast ? ' (simulcast h/m/l)' : ''}`);
	setState('joined');
}

function onPublisherEvent(msg) {
	const { data, jsep } = pluginData(msg);
	if (jsep?.type === 'answer' && pub) {
		pub.pc.setRemoteDescription(jsep).then(() => {
			demo.published = true;
			setState(demo.state);
		}).catch(err => fail(err, 'Publisher answer rejected'));
	}
	if (data.error_code) {
		log(`videoroom error ${data.error_code}: ${data.error}`, 'error');
		return;
	}
	if (data.videoroom !== 'event')
		return;
	if (Array.isArray(data.publishers))
		addFeeds(data.publishers);
	for (const key of ['unpublished', 'leaving']) {
		if (data[key] !== undefined && data[key] !== 'ok')
			removeFeed(data[key], key);
	}
	if (data.configured === 'ok')
		log('publisher configured');
}

// ---- the other participants ----

function addFeeds(list) {
	for (const p of list) {
		if (p.id === demo.myId || p.dummy)
			continue;
		const known = demo.feeds[p.id];
		demo.feeds[p.id] = { display: p.display || String(p.id), streams: p.streams || [] };
		// Streams the publisher dropped (e.g. a screen share that ended):
		// their tiles go now, the subscription follows.
		for (const s of subStreams) {
			if (s.feed_id === p.id && s.active !== false && !published(p.id, s.feed_mid)) {
				removeTile(String(s.mid));
				delete demo.remote[String(s.mid)];
				goneStreams.push({ feed: p.id, mid: String(s.feed_mid) });
			}
		}
		if (!known)
			log(`${p.display || p.id} publishes ${(p.streams || []).map(s => s.type).join('+')}`);
	}
	syncSubscriptions();
}

// Whether publisher `feed` currently offers its stream `mid`.
function published(feed, mid) {
	return !!demo.feeds[feed]?.streams.some(x => String(x.mid) === String(mid) && !x.disabled);
}

function removeFeed(id, why) {
	if (!demo.feeds[id])
		return;
	log(`${demo.feeds[id].display} ${why === 'leaving' ? 'left' : 'stopped publishing'}`);
	delete demo.feeds[id];
	// The tiles go now; the gateway may or may not renegotiate the
	// subscription by itself, so ask it to drop the feed (a no-op if it
	// already did).
	for (const [mid, r] of Object.entries(demo.remote)) {
		if (r.feed === id) {
			removeTile(mid);
			delete demo.remote[mid];
		}
	}
	goneStreams.push({ feed: Number(id) });
	syncSubscriptions();
}

// Subscribes to every published stream we do not receive yet: `join` the
// first time, `update` later. One at a time: the answer must be in before
// the next change.
async function syncSubscriptions() {
	if (subBusy) {
		subDirty = true;
		return;
	}
	const have = new Set(subStreams.filter(s => s.active !== false && s.feed_id !== undefined)
		.map(s => `${s.feed_id}/${s.feed_mid}`));
	const wanted = [];
	for (const [id, feed] of Object.entries(demo.feeds)) {
		for (const s of feed.streams) {
			if (!s.disabled && s.mid !== undefined && !have.has(`${id}/${s.mid}`))
				wanted.push({ feed: Number(id), mid: String(s.mid) });
		}
	}
	const unwanted = goneStreams.filter(g => subStreams.some(s => s.active !== false && s.feed_id === g.feed &&
		(g.mid === undefined || String(s.feed_mid) === g.mid)));
	goneStreams = [];
	if ((wanted.length === 0 && unwanted.length === 0) || !session)
		return;
	if (!subHandle && wanted.length === 0)
		return;
	subBusy = true;
	subDirty = false;
	// Should the gateway answer an update with no event at all, do not
	// block later changes forever.
	clearTimeout(busyTimer);
	busyTimer = setTimeout(subscriptionSettled, SUB_SETTLE_MS);
	try {
		if (!subHandle) {
			const h = subHandle = await session.attach(PLUGIN, `videoroom-sub-${demo.myId}`);
			// Only the current subscriber handle counts (see resetSubscriber).
			h.on('event', msg => { if (h === subHandle) onSubscriberEvent(msg); });
			h.on('webrtcup', () => { if (h === subHandle) { badge('badge-subscriber', true); log('subscriber: webrtcup', 'ok'); } });
			h.on('hangup', msg => {
				if (h !== subHandle)
					return;
				log(`subscriber hangup: ${msg.reason}; subscribing again`, 'warn');
				resetSubscriber();
				syncSubscriptions();
			});
			sub = new Peer(subHandle);
			sub.pc.ontrack = onRemoteTrack;
			await sub.send({ request: 'join', ptype: 'subscriber', room: demo.room, streams: wanted,
				private_id: demo.privateId });
		} else {
			const body = { request: 'update' };
			if (wanted.length)
				body.subscribe = wanted;
			if (unwanted.length)
				body.unsubscribe = unwanted;
			await subHandle.message(body);
		}
		if (wanted.length)
			log(`subscribing to ${wanted.map(w => `${w.feed}/${w.mid}`).join(', ')}`);
		if (unwanted.length)
			log(`unsubscribing from ${unwanted.map(w => w.mid === undefined ? w.feed : `${w.feed}/${w.mid}`).join(', ')}`);
	} catch (err) {
		log(`subscribe failed: ${err.message}`, 'error');
		subscriptionSettled();
	}
}

// Drops the subscriber connection and handle: the next sync starts over
// with a fresh `join` (after the gateway hung it up).
function resetSubscriber() {
	const h = subHandle;
	sub?.close();
	sub = null;
	subHandle = null;
	subStreams = [];
	for (const mid of Object.keys(demo.remote))
		removeTile(mid);
	demo.remote = {};
	badge('badge-subscriber', false);
	clearTimeout(busyTimer);
	subBusy = subDirty = false;
	goneStreams = [];
	h?.detach().catch(() => {});
}

function subscriptionSettled() {
	clearTimeout(busyTimer);
	subBusy = false;
	if (subDirty)
		syncSubscriptions();
}

function onSubscriberEvent(msg) {
	const { data, jsep } = pluginData(msg);
	if (data.error_code) {
		log(`subscriber error ${data.error_code}: ${data.error}`, 'error');
		subscriptionSettled();
		return;
	}
	if (Array.isArray(data.streams))
		setSubStreams(data.streams);
	if (data.substream !== undefined || data.temporal !== undefined) {
		const mid = data.mid !== undefined ? String(data.mid) : firstVideoMid();
		demo.layers[mid] = { ...demo.layers[mid], ...(data.substream !== undefined && { substream: data.substream }),
			...(data.temporal !== undefined && { temporal: data.temporal }) };
		log(`mid ${mid}: now layer ${data.substream ?? '?'}/${data.temporal ?? '?'}`);
	}
	if (jsep?.type === 'offer') {
		sub.answer(jsep, { request: 'start' })
			.then(subscriptionSettled)
			.catch(err => { log(`subscriber answer failed: ${err.message}`, 'error'); subscriptionSettled(); });
	} else if (data.videoroom === 'updated') {
		subscriptionSettled();   // nothing to renegotiate
	}
}

function firstVideoMid() {
	return String(subStreams.find(s => s.type === 'video')?.mid ?? '');
}

// The subscriber's stream list: tiles follow it.
function setSubStreams(streams) {
	subStreams = streams;
	const remote = {};
	for (const s of streams) {
		if (s.active === false || s.feed_id === undefined || s.type === 'data' || !published(s.feed_id, s.feed_mid))
			continue;
		remote[String(s.mid)] = { feed: s.feed_id, display: s.feed_display || String(s.feed_id),
			type: s.type, description: s.feed_description || null };
	}
	for (const mid of Object.keys(demo.remote)) {
		if (!remote[mid])
			removeTile(mid);
	}
	demo.remote = remote;
	for (const [mid, r] of Object.entries(remote))
		updateCaption(mid, r);
}

function onRemoteTrack(ev) {
	const mid = ev.transceiver?.mid;
	if (mid === undefined || mid === null)
		return;
	const info = demo.remote[mid];
	let el = $(`media-${mid}`);
	if (!el) {
		if (ev.track.kind === 'audio') {
			el = document.createElement('audio');
			el.autoplay = true;
			el.id = `media-${mid}`;
			el.dataset.mid = mid;
			document.body.append(el);
		} else {
			el = makeTile(mid);
		}
	}
	el.srcObject = new MediaStream([ev.track]);
	if (info)
		updateCaption(mid, info);
}

function makeTile(mid) {
	const fig = document.createElement('figure');
	fig.id = `tile-${mid}`;
	const video = document.createElement('video');
	video.id = `media-${mid}`;
	video.autoplay = true;
	video.playsInline = true;
	video.muted = true;   // audio plays from its own element
	const cap = document.createElement('figcaption');
	const name = document.createElement('span');
	const layer = document.createElement('select');
	layer.title = 'simulcast layer';
	for (const [v, text] of [['', 'auto'], ['2', 'high'], ['1', 'medium'], ['0', 'low']]) {
		const o = document.createElement('option');
		o.value = v;
		o.textContent = text;
		layer.append(o);
	}
	layer.addEventListener('change', () => {
		if (layer.value !== '')
			demo.setSubstream(mid, Number(layer.value)).catch(err => log(`layer change failed: ${err.message}`, 'error'));
	});
	cap.append(name, layer);
	fig.append(video, cap);
	$('tiles').append(fig);
	return video;
}

function updateCaption(mid, info) {
	const fig = $(`tile-${mid}`);
	if (!fig)
		return;
	const screen = /screen/i.test(info.description || '');
	fig.classList.toggle('screen', screen);
	fig.querySelector('span').textContent = `${info.display}${screen ? ' (screen)' : ''}`;
}

function removeTile(mid) {
	const media = $(`media-${mid}`);
	if (media)
		media.srcObject = null;
	($(`tile-${mid}`) || media)?.remove();
}

// ---- publisher controls ----

async function toggleMute(kind) {
	const track = localStream?.[kind === 'audio' ? 'getAudioTracks' : 'getVideoTracks']()[0];
	if (!track || !pub)
		return;
	track.enabled = !track.enabled;
	const transceiver = pub.pc.getTransceivers().find(t => t.sender.track === track);
	$(kind === 'audio' ? 'mute-audio' : 'mute-video').textContent =
		kind === 'audio' ? (track.enabled ? 'Mute mic' : 'Unmute mic') : (track.enabled ? 'Stop camera' : 'Start camera');
	// Tell the gateway too, so it stops relaying instead of forwarding silence.
	if (transceiver?.mid !== null && transceiver?.mid !== undefined) {
		await pubHandle.message({ request: 'configure', streams: [{ mid: transceiver.mid, send: track.enabled }] })
			.catch(err => log(`configure failed: ${err.message}`, 'error'));
	}
	log(`${kind} ${track.enabled ? 'on' : 'muted'}`);
}

// The screen is a second video m-line on the publisher connection; adding
// or removing it is a renegotiation through `configure`.
async function toggleScreen() {
	if (!pub)
		return;
	$('screen').disabled = true;
	try {
		if (!screenTransceiver) {
			screenStream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
			const track = screenStream.getVideoTracks()[0];
			track.addEventListener('ended', () => { if (screenTransceiver) toggleScreen(); });
			screenTransceiver = pub.pc.addTransceiver(track, { direction: 'sendonly', streams: [screenStream] });
			const offer = await pub.pc.createOffer();
			await pub.pc.setLocalDescription(offer);
			await pub.send({ request: 'configure', descriptions: [{ mid: screenTransceiver.mid, description: 'screen' }] },
				pub.pc.localDescription);
			demo.screen = true;
			$('screen').textContent = 'Stop sharing';
			log('sharing the screen');
		} else {
			screenTransceiver.sender.track?.stop();
			screenTransceiver.stop();
			screenTransceiver = null;
			screenStream = null;
			await pub.offer({ request: 'configure' });
			demo.screen = false;
			$('screen').textContent = 'Share screen';
			log('stopped sharing the screen');
		}
	} catch (err) {
		log(`screen share: ${err.message}`, 'error');
	} finally {
		$('screen').disabled = !(demo.state === 'joined' && demo.published);
	}
}

// ---- leaving, losing the connection ----

// Drops everything gateway-side we hold; keeps the camera when rejoining.
function teardown(stopMedia) {
	clearTimeout(rejoinTimer);
	pub?.close();
	sub?.close();
	pub = sub = null;
	pubHandle = subHandle = null;
	subStreams = [];
	subBusy = subDirty = false;
	clearTimeout(busyTimer);
	screenTransceiver?.sender.track?.stop();
	screenTransceiver = screenStream = null;
	demo.published = demo.screen = false;
	$('screen').textContent = 'Share screen';
	for (const mid of Object.keys(demo.remote))
		removeTile(mid);
	demo.remote = {};
	demo.feeds = {};
	demo.layers = {};
	goneStreams = [];
	if (stopMedia && localStream) {
		for (const t of localStream.getTracks())
			t.stop();
		localStream = null;
		$('local').srcObject = null;
	}
	const g = gateway;
	gateway = session = null;
	g?.close();
	badge('badge-publisher', false);
	badge('badge-subscriber', false);
	badge('badge-transport', false);
}

async function leave() {
	leaving = true;
	clearTimeout(rejoinTimer);
	try {
		await pubHandle?.message({ request: 'leave' });
		await session?.destroy();
	} catch {
		// the gateway may already be gone
	}
	teardown(true);
	setState('left');
	setStatus('You left the room.');
	log('left the room');
}

function connectionLost(reason) {
	if (leaving || !['joining', 'joined', 'reconnecting'].includes(demo.state))
		return;
	log(`connection to the gateway lost: ${reason}`, 'error');
	teardown(false);
	setState('reconnecting');
	demo.reconnects++;
	scheduleRejoin(reason);
}

function scheduleRejoin(reason) {
	setStatus(`Connection to the gateway lost (${reason}); rejoining in ${Math.round(rejoinDelay / 1000)} s…`, 'warn');
	rejoinTimer = setTimeout(async () => {
		rejoinDelay = Math.min(rejoinDelay * 2, REJOIN_MAX_MS);
		await join();
		if (demo.state === 'reconnecting' && !leaving) {
			teardown(false);
			scheduleRejoin('gateway unreachable');
		}
	}, rejoinDelay);
}

// ---- wiring ----

if (query.get('room'))
	$('room').value = query.get('room');
if (query.get('display'))
	$('display').value = query.get('display');
if (query.get('publish') === '0')
	$('publish').checked = false;
if (query.get('simulcast') === '1')
	$('simulcast').checked = true;
$('home').href = `index.html${location.search}`;
$('join').addEventListener('click', join);
$('leave').addEventListener('click', leave);
$('mute-audio').addEventListener('click', () => toggleMute('audio'));
$('mute-video').addEventListener('click', () => toggleMute('video'));
$('screen').addEventListener('click', toggleScreen);
window.addEventListener('pagehide', () => {
	leaving = true;
	teardown(true);
});
setState('idle');
if (query.get('autojoin') === '1')
	join();
