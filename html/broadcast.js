// Broadcast demo on cardea.plugin.broadcast (docs/broadcast.md).
//
// Presenter: `present` with a sendonly offer of the screen (getDisplayMedia,
// or an animated canvas with ?source=canvas); the plugin's events tell it
// how many viewers it has. Viewer: `watch` with a recvonly offer; when
// another presenter takes over, the same PeerConnection simply goes on with
// the new presenter's video.
//
// A dropped WebSocket is reconnected and the session claimed by cardea.js:
// nothing to redo. A lost session (the gateway restarted) makes the page
// present again on the same channel, with the same screen, or watch it
// again, on a fresh session (backoff 1 ... 10 s) until it is back or the
// user stops.
//
// Query: ?role=present|watch&channel=NAME&pin=...&autostart=1&source=canvas.
// window.cardeaDemo exposes the state for the browser tests.
import { Rejoiner, pageServers } from './cardea.js';
import { $, log, setStatus, pluginData, syncRequest, Peer, inboundVideoByMid, openPageSession } from './rtc.js';

const PLUGIN = 'cardea.plugin.broadcast';
const servers = pageServers();
const query = new URLSearchParams(location.search);

const demo = window.cardeaDemo = {
	state: 'idle',          // idle, starting, presenting, watching, reconnecting, stopped, failed
	role: null,
	channel: null,
	viewers: null,          // presenter: the count the plugin reports
	presenter: null,        // viewer: 'present' | 'none' | 'changed'
	error: null,
	sessionId: null,
	claims: 0,              // WebSocket reconnections that kept the session
	reconnects: 0,          // sessions lost: presented / watched again on a fresh one
	videoStats: () => inboundVideoByMid(peer?.pc),
};

let session = null, handle = null, peer = null, stream = null, canvasTimer = null;
let pin = '';
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
	for (const id of ['role-present', 'role-watch', 'channel', 'pin'])
		$(id).disabled = busy;
}

function setViewers(n) {
	demo.viewers = n;
	$('viewers').textContent = n === null ? '–' : String(n);
}

function fail(err, what) {
	demo.error = `${what}: ${err.message}`;
	setStatus(demo.error, 'error');
	log(demo.error, 'error');
	teardown();
	setState('failed');
}

// An animated 1280x720 canvas standing in for a screen.
function canvasStream() {
	const canvas = document.createElement('canvas');
	canvas.width = 1280;
	canvas.height = 720;
	const ctx = canvas.getContext('2d');
	let n = 0;
	const draw = () => {
		ctx.fillStyle = '#20262e';
		ctx.fillRect(0, 0, canvas.width, canvas.height);
		ctx.fillStyle = '#ffb454';
		ctx.fillRect((n * 8) % canvas.width, 320, 160, 120);
		ctx.font = '48px sans-serif';
		ctx.fillText(`broadcast — ${new Date().toLocaleTimeString()}`, 60, 120);
		n++;
	};
	draw();
	canvasTimer = setInterval(draw, 66);
	return canvas.captureStream(15);
}

function shareLink() {
	const q = new URLSearchParams(location.search);
	q.set('role', 'watch');
	q.set('channel', demo.channel);
	q.set('autostart', '1');
	q.delete('source');
	const link = new URL(location.href);
	link.search = q.toString();
	$('share-link').href = link.href;
	$('share-link').textContent = link.href;
	$('share').hidden = false;
}

function onEvent(msg) {
	const { data, jsep } = pluginData(msg);
	if (data.error_code) {
		fail(new Error(`${data.error} (${data.error_code})`), 'Broadcast');
		return;
	}
	if (jsep?.type === 'answer' && peer) {
		peer.pc.setRemoteDescription(jsep).catch(err => fail(err, 'Answer rejected'));
	}
	if (data.result === 'presenting') {
		setViewers(data.viewers);
		setState('presenting');
		setStatus(`Presenting on channel ${demo.channel}.`, 'ok');
		shareLink();
	} else if (data.result === 'watching') {
		demo.presenter = data.presenter;
		setState('watching');
		setStatus(data.presenter === 'none' ? `Watching ${demo.channel}: waiting for a presenter…`
			: `Watching ${demo.channel}.`, 'ok');
	} else if (data.result === 'replaced') {
		log('another presenter took over the channel', 'warn');
		teardown();
		setState('stopped');
		setStatus('Another presenter took over.');
	} else if (typeof data.viewers === 'number' && demo.role === 'present') {
		setViewers(data.viewers);
		log(`${data.viewers} viewer(s)`);
	} else if (data.presenter && demo.role === 'watch') {
		demo.presenter = data.presenter;
		log(data.presenter === 'changed' ? 'a new presenter took over' : 'the presenter left', 'warn');
		if (data.presenter === 'none')
			setStatus(`Watching ${demo.channel}: waiting for a presenter…`);
		else
			setStatus(`Watching ${demo.channel}.`, 'ok');
	} else if (data.broadcast === 'destroyed') {
		teardown();
		setState('stopped');
		setStatus('The channel was destroyed.');
	}
}

async function start() {
	demo.role = $('role-watch').checked ? 'watch' : 'present';
	demo.channel = $('channel').value.trim() || 'demo';
	demo.error = null;
	pin = $('pin').value;
	setState('starting');
	try {
		if (demo.role === 'present') {
			// Kept across rejoins: the picker needs this click's user activation.
			stream = query.get('source') === 'canvas' ? canvasStream()
				: await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
			stream.getVideoTracks()[0].addEventListener('ended', stop);
			$('screen').srcObject = stream;
			$('caption').textContent = 'Your screen (what viewers get)';
		}
		await enter();
	} catch (err) {
		if (demo.state === 'starting')
			fail(err, 'Start failed');
		// else stopped meanwhile, or lost and rejoining by itself
	}
}

// Presents or watches on a fresh session: the first time from start(),
// after a lost session from the Rejoiner (which retries when this throws).
async function enter() {
	dropSession();
	const gen = generation;
	const stale = () => gen !== generation;
	const s = await openPageSession(servers, demo, () => !stale(), connectionLost);
	if (!s)
		return;
	session = s;
	const h = handle = await s.attach(PLUGIN, `broadcast-${demo.role}`);
	h.on('event', msg => { if (h === handle) onEvent(msg); });
	h.on('webrtcup', () => log('PeerConnection up (webrtcup)', 'ok'));
	h.on('hangup', msg => log(`hangup: ${msg.reason}`, 'warn'));
	const info = await syncRequest(h, { request: 'info', channel: demo.channel });
	if (stale())
		return;
	if (demo.role === 'present')
		setViewers(info.viewers);
	peer = new Peer(h);
	const body = { request: demo.role, channel: demo.channel };
	if (pin)
		body.pin = pin;
	if (demo.role === 'present') {
		peer.pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly', streams: [stream] });
	} else {
		peer.pc.addTransceiver('video', { direction: 'recvonly' });
		peer.pc.addTransceiver('audio', { direction: 'recvonly' });
		peer.pc.ontrack = ev => {
			if (ev.track.kind !== 'video')
				return;
			$('screen').srcObject = new MediaStream([ev.track]);
			$('caption').textContent = `Channel ${demo.channel}`;
		};
	}
	await peer.offer(body);
}

// The session is gone: drop what hung on it and present / watch again.
function connectionLost(reason) {
	log(`connection to the gateway lost: ${reason}`, 'error');
	dropSession();
	if (!['starting', 'presenting', 'watching', 'reconnecting'].includes(demo.state))
		return;
	if (demo.state !== 'reconnecting') {
		demo.reconnects++;
		setState('reconnecting');
	}
	setViewers(null);
	setStatus(`Connection to the gateway lost (${reason}); ${demo.role === 'present' ? 'presenting on' : 'watching'} ` +
		`${demo.channel} again as soon as it is back…`, 'warn');
	rejoiner.schedule();
}

// Everything tied to the session; the presenter's screen stays.
function dropSession() {
	generation++;
	peer?.close();
	peer = null;
	if (demo.role === 'watch')
		$('screen').srcObject = null;
	const s = session;
	session = handle = null;
	s?.gateway.close();
}

function teardown() {
	rejoiner.cancel();
	dropSession();
	clearInterval(canvasTimer);
	for (const t of stream?.getTracks() || [])
		t.stop();
	stream = null;
	$('screen').srcObject = null;
	$('share').hidden = true;
	$('caption').textContent = 'Nothing shared yet';
	setViewers(null);
}

async function stop() {
	if (!['presenting', 'watching', 'starting', 'reconnecting'].includes(demo.state))
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
if (query.get('channel'))
	$('channel').value = query.get('channel');
if (query.get('pin'))
	$('pin').value = query.get('pin');
$('home').href = `index.html${location.search}`;
$('start').addEventListener('click', start);
$('stop').addEventListener('click', stop);
window.addEventListener('pagehide', teardown);
setState('idle');
if (query.get('autostart') === '1')
	start();
