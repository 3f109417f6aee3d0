// Screen sharing demo on janus.plugin.videoroom (Janus 1.x API).
//
// Presenter: creates the room if needed, joins it and publishes one video
// stream (getDisplayMedia, described as "screen"). Viewer: joins the same
// room as a participant that does not publish (to hear about publishers)
// and subscribes to the presenter's video with a second handle.
//
// Query: ?role=present|watch&room=N&display=...&autostart=1, and
// source=canvas to present an animated canvas instead of a real screen
// (browsers without screen capture, and the browser tests). window.cardeaDemo
// exposes the state.
//
// A dropped WebSocket is reconnected and the session claimed by cardea.js:
// nothing to redo. A lost session (the gateway restarted: the room is gone
// too) makes the page join again on a fresh session (backoff 1 ... 10 s):
// the presenter creates the room again and publishes the same screen, a
// viewer creates it too if it is first back (same settings) and watches
// whoever presents.
import { Rejoiner, pageServers } from './cardea.js';
import { $, log, setStatus, pluginData, ensureRoom, Peer, inboundVideoByMid, openPageSession } from './rtc.js';

const PLUGIN = 'janus.plugin.videoroom';
const servers = pageServers();
const query = new URLSearchParams(location.search);

const demo = window.cardeaDemo = {
	state: 'idle',          // idle, starting, presenting, waiting, watching, reconnecting, stopped, failed
	role: null,
	room: null,
	display: null,
	presenter: null,        // viewer: { id, display } of the feed watched
	error: null,
	sessionId: null,
	claims: 0,              // WebSocket reconnections that kept the session
	reconnects: 0,          // sessions lost: joined again on a fresh one
	videoStats: () => inboundVideoByMid(sub?.pc),
};

let session = null, handle = null, subHandle = null;
let pub = null, sub = null, stream = null, canvasTimer = null;
let myId = null, privateId = null;
// Bumped whenever the page drops its session: callbacks of an older one are stale.
let generation = 0;
const rejoiner = new Rejoiner(enter, {
	onRetry: (err, ms) => {
		log(`gateway still unreachable: ${err.message}`, 'warn');
		setStatus(`Connection to the gateway lost; trying again in ${Math.round(ms / 1000)} s…`, 'warn');
	},
});

function setState(state) {
	demo.state = state;
	const busy = !['idle', 'stopped', 'failed'].includes(state);
	$('start').disabled = busy;
	$('stop').disabled = !busy;
	for (const id of ['role-present', 'role-watch', 'room', 'display'])
		$(id).disabled = busy;
}

function fail(err, what) {
	demo.error = `${what}: ${err.message}`;
	setStatus(demo.error, 'error');
	log(demo.error, 'error');
	teardown();
	setState('failed');
}

// A 1280x720 animated canvas: a stand-in "screen".
function canvasStream() {
	const canvas = document.createElement('canvas');
	canvas.width = 1280;
	canvas.height = 720;
	const ctx = canvas.getContext('2d');
	let n = 0;
	const draw = () => {
		ctx.fillStyle = '#1d2430';
		ctx.fillRect(0, 0, canvas.width, canvas.height);
		ctx.fillStyle = '#9cc3ff';
		ctx.fillRect((n * 8) % canvas.width, 300, 160, 120);
		ctx.font = '48px sans-serif';
		ctx.fillText(`slide ${Math.floor(n / 30) + 1} — ${new Date().toLocaleTimeString()}`, 60, 120);
		n++;
	};
	draw();
	canvasTimer = setInterval(draw, 66);
	return canvas.captureStream(15);
}

async function start() {
	demo.role = $('role-watch').checked ? 'watch' : 'present';
	let room = Number($('room').value);
	if (!$('room').value && demo.role === 'present')
		room = 1000 + Math.floor(Math.random() * 1e9);
	if (!Number.isSafeInteger(room) || room <= 0) {
		setStatus('The room must be a positive number.', 'error');
		return;
	}
	$('room').value = room;
	demo.room = room;
	demo.error = null;
	demo.display = $('display').value.trim() || (demo.role === 'present' ? 'presenter' : 'viewer');
	setState('starting');
	try {
		if (demo.role === 'present') {
			// Ask for the screen first: the picker needs the click's user
			// activation. Kept across rejoins.
			stream = query.get('source') === 'canvas' ? canvasStream()
				: await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
			stream.getVideoTracks()[0].addEventListener('ended', stop);
			$('screen').srcObject = stream;
		}
		await enter();
	} catch (err) {
		if (demo.state === 'starting')
			fail(err, 'Start failed');
		// else stopped meanwhile, or lost and rejoining by itself
	}
}

// Joins the room on a fresh session: the first time from start(), after a
// lost session from the Rejoiner (which retries when this throws). The
// `joined` event goes on in onJoined().
async function enter() {
	dropSession();
	const gen = generation;
	const s = await openPageSession(servers, demo, () => gen === generation, connectionLost);
	if (!s)
		return;
	session = s;
	const h = handle = await s.attach(PLUGIN, `screenshare-${demo.role}`);
	h.on('event', msg => { if (h === handle) onEvent(msg); });
	// A lost session took the room with it: whoever is back first creates it
	// again, with the settings the presenter used.
	if (demo.role === 'present' || demo.state === 'reconnecting') {
		if (await ensureRoom(h, demo.room, { description: `Screen share ${demo.room}`, publishers: 4 }))
			log(`created room ${demo.room}`);
	}
	await h.message({ request: 'join', ptype: 'publisher', room: demo.room, display: demo.display });
}

// The session is gone: drop what hung on it and join again.
function connectionLost(reason) {
	log(`connection to the gateway lost: ${reason}`, 'error');
	dropSession();
	if (!['starting', 'presenting', 'waiting', 'watching', 'reconnecting'].includes(demo.state))
		return;
	if (demo.state !== 'reconnecting') {
		demo.reconnects++;
		setState('reconnecting');
	}
	setStatus(`Connection to the gateway lost (${reason}); ${demo.role === 'present' ? 'presenting' : 'watching'} ` +
		`in room ${demo.room} again as soon as it is back…`, 'warn');
	rejoiner.schedule();
}

async function onJoined(data) {
	myId = data.id;
	privateId = data.private_id;
	log(`joined room ${demo.room} (id ${myId})`, 'ok');
	if (demo.role === 'present') {
		pub = new Peer(handle);
		const t = pub.pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly', streams: [stream] });
		const offer = await pub.pc.createOffer();
		await pub.pc.setLocalDescription(offer);
		await pub.send({ request: 'publish', descriptions: [{ mid: t.mid, description: 'screen' }] }, pub.pc.localDescription);
		const link = new URL(location.href);
		const q = new URLSearchParams(location.search);
		q.set('role', 'watch');
		q.set('room', String(demo.room));
		q.set('autostart', '1');
		q.delete('source');
		q.delete('display');
		link.search = q.toString();
		$('share-link').href = link.href;
		$('share-link').textContent = link.href;
		$('share').hidden = false;
		$('caption').textContent = 'Your screen (what viewers get)';
		setState('presenting');
		setStatus(`Presenting in room ${demo.room}.`, 'ok');
	} else {
		setState('waiting');
		setStatus(`Waiting for a presenter in room ${demo.room}…`);
		watch(data.publishers || []);
	}
}

function onEvent(msg) {
	const { data, jsep } = pluginData(msg);
	if (data.error_code) {
		fail(new Error(`${data.error} (${data.error_code})`), 'Videoroom');
		return;
	}
	if (data.videoroom === 'joined') {
		onJoined(data).catch(failUnlessStale('Publishing failed'));
		return;
	}
	if (jsep?.type === 'answer' && pub) {
		pub.pc.setRemoteDescription(jsep).catch(err => fail(err, 'Answer rejected'));
		return;
	}
	if (data.videoroom !== 'event' || demo.role !== 'watch')
		return;
	if (Array.isArray(data.publishers))
		watch(data.publishers);
	const gone = data.unpublished ?? data.leaving;
	if (gone !== undefined && gone === demo.presenter?.id) {
		log(`${demo.presenter.display} stopped presenting`, 'warn');
		stopWatching();
		setState('waiting');
		setStatus(`The presenter left; waiting for a new one in room ${demo.room}…`);
	}
}

// Viewer: subscribes to the first publisher with a video stream.
async function watch(publishers) {
	if (demo.presenter || demo.state !== 'waiting')
		return;
	const p = publishers.find(x => x.id !== myId && (x.streams || []).some(s => s.type === 'video' && !s.disabled));
	if (!p)
		return;
	const video = p.streams.find(s => /screen/i.test(s.description || '') && s.type === 'video')
		|| p.streams.find(s => s.type === 'video');
	demo.presenter = { id: p.id, display: p.display || String(p.id) };
	const gen = generation;
	const failed = failUnlessStale('Subscribing failed');
	try {
		const h = await session.attach(PLUGIN, 'screenshare-viewer');
		if (gen !== generation)
			return;
		subHandle = h;
		const peer = sub = new Peer(subHandle);
		peer.pc.ontrack = ev => { $('screen').srcObject = new MediaStream([ev.track]); };
		// Events may still arrive for a subscription we already dropped.
		subHandle.on('event', msg => {
			const { data, jsep } = pluginData(msg);
			if (peer.closed)
				return;
			if (data.error_code)
				log(`subscriber error ${data.error_code}: ${data.error}`, 'error');
			else if (jsep?.type === 'offer')
				peer.answer(jsep, { request: 'start' }).catch(failed);
		});
		subHandle.on('webrtcup', () => log('receiving the screen (webrtcup)', 'ok'));
		await peer.send({ request: 'join', ptype: 'subscriber', room: demo.room,
			streams: [{ feed: p.id, mid: String(video.mid) }], private_id: privateId });
		$('caption').textContent = `${demo.presenter.display}'s screen`;
		setState('watching');
		setStatus(`Watching ${demo.presenter.display} in room ${demo.room}.`, 'ok');
	} catch (err) {
		failed(err);
	}
}

// A catch handler for work on the current session: its failure fails the
// page, unless the session was dropped meanwhile (lost, or stopped).
function failUnlessStale(what) {
	const gen = generation;
	return err => {
		if (gen === generation)
			fail(err, what);
	};
}

function stopWatching() {
	demo.presenter = null;
	sub?.close();
	sub = null;
	subHandle?.detach().catch(() => {});
	subHandle = null;
	$('screen').srcObject = null;
	$('caption').textContent = 'Nothing shared yet';
}

// Everything tied to the session; the presenter's screen stays.
function dropSession() {
	generation++;
	if (demo.role === 'watch')
		stopWatching();
	pub?.close();
	pub = null;
	myId = privateId = null;
	const s = session;
	session = handle = subHandle = null;
	s?.gateway.close();
}

function teardown() {
	rejoiner.cancel();
	dropSession();
	stopWatching();
	clearInterval(canvasTimer);
	for (const t of stream?.getTracks() || [])
		t.stop();
	stream = null;
	$('share').hidden = true;
}

async function stop() {
	if (!['presenting', 'waiting', 'watching', 'starting', 'reconnecting'].includes(demo.state))
		return;
	try {
		await handle?.message({ request: 'leave' });
		await session?.destroy();
	} catch {
		// already gone
	}
	teardown();
	setState('stopped');
	setStatus('Stopped.');
	log('stopped');
}

if (query.get('role') === 'watch')
	$('role-watch').checked = true;
if (query.get('room'))
	$('room').value = query.get('room');
if (query.get('display'))
	$('display').value = query.get('display');
$('home').href = `index.html${location.search}`;
$('start').addEventListener('click', start);
$('stop').addEventListener('click', stop);
window.addEventListener('pagehide', teardown);
setState('idle');
if (query.get('autostart') === '1')
	start();
