// Echo test demo: getUserMedia -> RTCPeerConnection -> offer to
// janus.plugin.echotest -> the gateway echoes our audio and video back.
//
// If the WebSocket drops, cardea.js reconnects and claims the session: the
// call is not touched (its media has its own path). If the session is lost
// (the gateway restarted, or did not keep it), the page closes the call and
// calls again by itself on a fresh session, with backoff, until it is back or
// the user hangs up.
//
// window.cardeaDemo exposes the page's state (for the browser tests and for
// poking around in the console).
import { connect, pageServers } from './cardea.js';

const PLUGIN = 'janus.plugin.echotest';
const STATS_INTERVAL_MS = 1000;
const MAX_LOG_ENTRIES = 100;
const REJOIN_MIN_MS = 1000;
const REJOIN_MAX_MS = 10000;

const $ = id => document.getElementById(id);
const servers = pageServers();

const demo = window.cardeaDemo = {
	state: 'idle',          // idle, connecting, negotiating, connected, reconnecting, hungup, failed
	transport: null,        // 'websocket' or 'http'
	sessionId: null,
	handleId: null,
	webrtcup: false,
	hangup: null,           // reason of the last hangup event
	receiving: {},          // media type -> last `media` event's receiving flag
	events: [],             // every gateway message type seen for the handle, in order
	stats: null,            // last summary shown in the table
	error: null,
	claims: 0,              // WebSocket reconnections that kept the session (claim)
	reconnects: 0,          // calls started again on a fresh session after it was lost
	pc: null,
	// Fresh getStats() of the echoed video (inbound-rtp, kind video), or null.
	async inboundVideo() {
		if (!demo.pc)
			return null;
		let found = null;
		(await demo.pc.getStats()).forEach(r => {
			if (r.type === 'inbound-rtp' && r.kind === 'video')
				found = { ...r };
		});
		return found;
	},
};

let gateway = null, session = null, handle = null;
let pc = null, localStream = null, statsTimer = null, previous = null;
let earlyCandidates = [];
let rejoinTimer = null, rejoinDelay = REJOIN_MIN_MS;

// ---- page helpers ----

function setStatus(text, kind = '') {
	const el = $('status');
	el.textContent = text;
	el.className = kind;
}

function setState(state) {
	demo.state = state;
	$('start').disabled = !['idle', 'hungup', 'failed'].includes(state);
	$('hangup').disabled = !['negotiating', 'connected', 'reconnecting'].includes(state);
}

function log(text, kind = '') {
	const li = document.createElement('li');
	const time = document.createElement('time');
	time.textContent = new Date().toLocaleTimeString();
	li.append(time, ' ', text);
	if (kind)
		li.className = kind;
	const list = $('events');
	list.prepend(li);
	while (list.children.length > MAX_LOG_ENTRIES)
		list.lastElementChild.remove();
}

function badge(id, on) {
	$(id).classList.toggle('on', on);
}

function fail(err, what) {
	demo.error = `${what}: ${err.message}`;
	setStatus(demo.error, 'error');
	log(demo.error, 'error');
	closePeerConnection();
	setState('failed');
}

// ---- gateway side ----

// One session and one echotest handle per page, created on the first Start
// and reused by later calls (a hangup keeps the handle).
async function ensureHandle() {
	if (handle)
		return;
	setStatus('Connecting to the gateway…');
	gateway = await connect(servers);
	demo.transport = gateway.transport;
	$('badge-transport').textContent = `transport: ${gateway.transport}`;
	badge('badge-transport', true);
	$('st-transport').textContent = gateway.transport === 'websocket'
		? `WebSocket ${servers.ws}` : `HTTP long poll ${servers.http}`;
	if (gateway.fallbackReason)
		log(`WebSocket unavailable (${gateway.fallbackReason}), using HTTP long poll`, 'warn');
	log(`connected to ${gateway.serverInfo.name} ${gateway.serverInfo.version_string} over ${gateway.transport}`);
	gateway.on('reconnecting', ({ reason }) => {
		log(`signalling connection lost (${reason}), reconnecting…`, 'warn');
		setStatus('Connection to the gateway lost, reconnecting…', 'warn');
	});
	gateway.on('reconnected', () => {
		demo.claims++;
		log('reconnected, session claimed: the call goes on', 'ok');
		setStatus(demo.state === 'connected' ? 'Connected again: the call went on meanwhile.' : 'Reconnected to the gateway.', 'ok');
	});
	gateway.on('close', ({ reason }) => connectionLost(reason));

	session = await gateway.createSession();
	demo.sessionId = session.id;
	session.on('timeout', () => connectionLost('session timed out on the gateway'));

	handle = await session.attach(PLUGIN, `echotest-${Math.random().toString(36).slice(2, 10)}`);
	demo.handleId = handle.id;
	$('st-ids').textContent = `${session.id} / ${handle.id}`;
	handle.on('*', msg => demo.events.push(msg.janus));
	handle.on('event', onPluginEvent);
	handle.on('webrtcup', () => {
		demo.webrtcup = true;
		rejoinDelay = REJOIN_MIN_MS;
		badge('badge-webrtcup', true);
		setState('connected');
		setStatus('Connected: the gateway is echoing your media (webrtcup).', 'ok');
		log('webrtcup: ICE and DTLS are up', 'ok');
	});
	handle.on('media', msg => {
		demo.receiving[msg.type] = msg.receiving;
		badge(`badge-media-${msg.type}`, msg.receiving);
		log(`media: the gateway is ${msg.receiving ? '' : 'no longer '}receiving our ${msg.type}` +
			(msg.mid !== undefined ? ` (mid ${msg.mid})` : ''), msg.receiving ? '' : 'warn');
	});
	handle.on('slowlink', msg => {
		log(`slowlink: ${msg.media} ${msg.uplink ? 'uplink' : 'downlink'}, ${msg.lost} packets lost`, 'warn');
	});
	handle.on('hangup', msg => {
		demo.hangup = msg.reason || 'unknown';
		log(`hangup: ${demo.hangup}`, 'warn');
		closePeerConnection();
		setState('hungup');
		setStatus(`Hung up (${demo.hangup}). Press Start to call again.`);
	});
	// Only with full_trickle on the gateway: by default its candidates are in the answer.
	handle.on('trickle', msg => addRemoteCandidate(msg.candidate));
	handle.on('detached', () => {
		log('handle detached by the gateway', 'warn');
		handle = null;
	});
}

function forgetGateway() {
	gateway?.close();
	gateway = session = handle = null;
}

// The session is gone (cardea.js gave up reconnecting, or the gateway no
// longer knows it): a call in progress starts again from scratch; without
// one, the next Start connects again.
function connectionLost(reason) {
	log(`connection to the gateway lost: ${reason}`, 'error');
	forgetGateway();
	const inCall = ['connecting', 'negotiating', 'connected', 'reconnecting'].includes(demo.state);
	closePeerConnection();
	if (!inCall) {
		setStatus(`Connection to the gateway lost (${reason}). Press Start to call again.`, 'warn');
		return;
	}
	demo.webrtcup = false;
	demo.reconnects++;
	setState('reconnecting');
	scheduleRejoin(reason);
}

function scheduleRejoin(reason) {
	clearTimeout(rejoinTimer);
	setStatus(`Connection to the gateway lost (${reason}); calling again in ${Math.round(rejoinDelay / 1000)} s…`, 'warn');
	rejoinTimer = setTimeout(() => {
		rejoinTimer = null;
		rejoinDelay = Math.min(rejoinDelay * 2, REJOIN_MAX_MS);
		start({ rejoin: true });
	}, rejoinDelay);
}

async function onPluginEvent(msg) {
	const data = msg.plugindata?.data || {};
	if (data.error_code) {
		log(`echotest error ${data.error_code}: ${data.error}`, 'error');
		if (demo.state === 'negotiating')
			fail(new Error(data.error), 'The echotest refused the offer');
		return;
	}
	if (data.result === 'done') {
		log('echotest: PeerConnection closed (result "done")');
	} else if (data.event === 'slow_link') {
		log(`echotest: slow link on ${data.media}, bitrate now ${data['current-bitrate']}`, 'warn');
	} else if (data.result) {
		log(`echotest: ${data.result}${msg.jsep ? ` + ${msg.jsep.type}` : ''}`);
	} else {
		log(`echotest: ${JSON.stringify(data)}`);
	}
	if (msg.jsep && pc) {
		try {
			await pc.setRemoteDescription(msg.jsep);
			if (demo.state === 'negotiating')
				setStatus('Answer applied, waiting for ICE and DTLS…');
			for (const c of earlyCandidates.splice(0))
				await addRemoteCandidate(c);
		} catch (err) {
			fail(err, 'Could not apply the answer');
		}
	}
}

// A gateway candidate ({completed: true} ends them); held until the answer is applied.
async function addRemoteCandidate(candidate) {
	if (!pc || !candidate)
		return;
	if (!pc.remoteDescription) {
		earlyCandidates.push(candidate);
		return;
	}
	try {
		await pc.addIceCandidate(candidate.completed ? null : candidate);
	} catch (err) {
		log(`could not add a gateway candidate: ${err.message}`, 'warn');
	}
}

// ---- the call ----

// rejoin: called by scheduleRejoin; an unreachable gateway then means
// "try again later", not a failure.
async function start({ rejoin = false } = {}) {
	clearTimeout(rejoinTimer);
	rejoinTimer = null;
	if (!rejoin)
		rejoinDelay = REJOIN_MIN_MS;
	setState(rejoin ? 'reconnecting' : 'connecting');
	demo.webrtcup = false;
	demo.hangup = null;
	demo.error = null;
	demo.receiving = {};
	try {
		await ensureHandle();
	} catch (err) {
		forgetGateway();
		if (rejoin && demo.state === 'reconnecting') {
			log(`gateway still unreachable: ${err.message}`, 'warn');
			return scheduleRejoin(err.message);
		}
		if (demo.state !== 'connecting')
			return;    // hung up meanwhile
		return fail(err, 'Could not reach the gateway');
	}
	if (rejoin && demo.state !== 'reconnecting')
		return;        // hung up while connecting
	if (!navigator.mediaDevices?.getUserMedia) {
		return fail(new Error('this page needs a secure context (https, or http on localhost/127.0.0.1)'),
			'No camera or microphone');
	}
	try {
		setStatus('Asking for your camera and microphone…');
		localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
		$('local').srcObject = localStream;
	} catch (err) {
		return fail(err, 'No camera or microphone');
	}

	setState('negotiating');
	earlyCandidates = [];
	pc = demo.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
	const remote = new MediaStream();
	$('remote').srcObject = remote;
	pc.ontrack = ev => remote.addTrack(ev.track);
	pc.oniceconnectionstatechange = showState;
	pc.onconnectionstatechange = () => {
		showState();
		if (pc?.connectionState === 'failed')
			log('PeerConnection failed (ICE or DTLS)', 'error');
	};
	for (const track of localStream.getTracks())
		pc.addTrack(track, localStream);

	// Candidates go out one by one, in order, and only once the offer is
	// on its way (the gateway would queue early ones too); null = completed.
	let offerSent;
	let trickles = new Promise(resolve => { offerSent = resolve; });
	const thisPc = pc;
	pc.onicecandidate = ev => {
		trickles = trickles.then(() => thisPc === pc && handle?.trickle(ev.candidate))
			.catch(err => log(`trickle failed: ${err.message}`, 'error'));
	};

	try {
		await pc.setLocalDescription(await pc.createOffer());
		const body = { audio: $('audio').checked, video: $('video').checked };
		const bitrate = Number($('bitrate').value);
		if (bitrate > 0)
			body.bitrate = bitrate;
		setStatus('Offer sent, waiting for the echotest to answer…');
		log(`sending the offer with ${JSON.stringify(body)}`);
		await handle.message(body, pc.localDescription);
		offerSent();
	} catch (err) {
		return fail(err, 'Could not send the offer');
	}
	// Unless the echotest already refused the offer (its error event can
	// overtake the ack over HTTP).
	if (pc === thisPc) {
		previous = null;
		statsTimer = setInterval(updateStats, STATS_INTERVAL_MS);
	}
}

async function hangup() {
	$('hangup').disabled = true;
	if (demo.state === 'reconnecting') {
		// Nothing on the gateway to hang up: stop calling again.
		clearTimeout(rejoinTimer);
		rejoinTimer = null;
		closePeerConnection();
		setState('hungup');
		setStatus('Hung up. Press Start to call again.');
		return;
	}
	setStatus('Hanging up…');
	try {
		await handle?.hangup();
	} catch (err) {
		log(`hangup request failed: ${err.message}`, 'error');
	}
	// The gateway confirms with a `hangup` event (when a PeerConnection was
	// up); don't wait for it to release the camera.
	closePeerConnection();
	if (demo.state !== 'hungup') {
		setState('hungup');
		setStatus(`Hung up${demo.hangup ? ` (${demo.hangup})` : ''}. Press Start to call again.`);
	}
}

function closePeerConnection() {
	clearInterval(statsTimer);
	statsTimer = null;
	if (pc) {
		pc.close();
		pc = demo.pc = null;
	}
	if (localStream) {
		for (const t of localStream.getTracks())
			t.stop();
		localStream = null;
	}
	$('local').srcObject = null;
	$('remote').srcObject = null;
	for (const id of ['badge-webrtcup', 'badge-media-audio', 'badge-media-video'])
		badge(id, false);
	showState();
}

// Sent on the fly: the echotest applies audio/video/bitrate to the running call.
async function sendSetting(body) {
	if (!handle || !['negotiating', 'connected'].includes(demo.state))
		return;
	try {
		await handle.message(body);
		log(`sent ${JSON.stringify(body)}`);
	} catch (err) {
		log(`${JSON.stringify(body)} failed: ${err.message}`, 'error');
	}
}

// ---- statistics ----

function showState() {
	$('st-state').textContent = pc ? `ICE ${pc.iceConnectionState}, connection ${pc.connectionState}` : 'closed';
}

function fmtBytes(n) {
	if (n === undefined)
		return '–';
	if (n < 1024)
		return `${n} B`;
	if (n < 1024 * 1024)
		return `${(n / 1024).toFixed(1)} KiB`;
	return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function kbps(now, before, key, dtMs) {
	if (!now || !before || dtMs <= 0 || now[key] === undefined || before[key] === undefined)
		return null;
	return Math.max(0, Math.round((now[key] - before[key]) * 8 / dtMs));
}

function describeCandidate(c) {
	if (!c)
		return '?';
	return `${c.address ?? c.ip}:${c.port} ${c.candidateType}/${c.protocol}`;
}

async function updateStats() {
	const current = pc;
	if (!current)
		return;
	const report = await current.getStats();
	const s = { time: performance.now(), in: {}, out: {}, pair: null };
	let pairId = null;
	report.forEach(r => {
		if (r.type === 'inbound-rtp' && (r.kind === 'audio' || r.kind === 'video'))
			s.in[r.kind] = r;
		else if (r.type === 'outbound-rtp' && (r.kind === 'audio' || r.kind === 'video'))
			s.out[r.kind] = r;
		else if (r.type === 'transport' && r.selectedCandidatePairId)
			pairId = r.selectedCandidatePairId;
	});
	if (!pairId) {
		report.forEach(r => {
			if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded')
				pairId = r.id;
		});
	}
	s.pair = pairId ? report.get(pairId) : null;
	if (current !== pc)
		return;

	const dt = previous ? s.time - previous.time : 0;
	for (const kind of ['audio', 'video']) {
		const i = s.in[kind], o = s.out[kind];
		$(`st-${kind}-bytes-sent`).textContent = fmtBytes(o?.bytesSent);
		$(`st-${kind}-packets-sent`).textContent = o?.packetsSent ?? '–';
		$(`st-${kind}-bytes-received`).textContent = fmtBytes(i?.bytesReceived);
		$(`st-${kind}-packets-received`).textContent = i?.packetsReceived ?? '–';
		const up = kbps(o, previous?.out[kind], 'bytesSent', dt);
		const down = kbps(i, previous?.in[kind], 'bytesReceived', dt);
		$(`st-${kind}-bitrate`).textContent = up === null ? '–' : `${up} / ${down ?? '–'} kbit/s`;
	}
	const v = s.in.video;
	$('st-frames-decoded').textContent = v?.framesDecoded ?? '–';
	$('st-resolution').textContent = v?.frameWidth
		? `${v.frameWidth}×${v.frameHeight}${v.framesPerSecond ? ` @ ${v.framesPerSecond} fps` : ''}` : '–';
	if (s.pair) {
		const local = report.get(s.pair.localCandidateId), remote = report.get(s.pair.remoteCandidateId);
		$('st-pair').textContent = `${describeCandidate(local)} ⇄ ${describeCandidate(remote)}`;
		$('st-rtt').textContent = s.pair.currentRoundTripTime !== undefined
			? `${(s.pair.currentRoundTripTime * 1000).toFixed(1)} ms` : '–';
	} else {
		$('st-pair').textContent = 'none yet';
		$('st-rtt').textContent = '–';
	}
	demo.stats = {
		framesDecoded: v?.framesDecoded ?? 0,
		videoBytesReceived: v?.bytesReceived ?? 0,
		audioBytesReceived: s.in.audio?.bytesReceived ?? 0,
		videoBytesSent: s.out.video?.bytesSent ?? 0,
		audioBytesSent: s.out.audio?.bytesSent ?? 0,
		rttMs: s.pair?.currentRoundTripTime !== undefined ? s.pair.currentRoundTripTime * 1000 : null,
		pair: $('st-pair').textContent,
	};
	previous = s;
}

// ---- wiring ----

$('start').addEventListener('click', () => start());
$('hangup').addEventListener('click', hangup);
$('audio').addEventListener('change', ev => sendSetting({ audio: ev.target.checked }));
$('video').addEventListener('change', ev => sendSetting({ video: ev.target.checked }));
$('bitrate').addEventListener('change', ev => sendSetting({ bitrate: Number(ev.target.value) }));
$('home').href = `index.html${location.search}`;
$('st-transport').textContent = `${servers.transport === 'auto' ? 'WebSocket, else HTTP long poll' : servers.transport}`;

// Leaving the page: over WebSocket, closing the socket ends the session;
// over HTTP, tell the gateway (a keepalive fetch survives the unload).
window.addEventListener('pagehide', () => {
	clearTimeout(rejoinTimer);
	if (session && gateway?.transport === 'http') {
		fetch(`${servers.http}/${session.id}`, {
			method: 'POST', keepalive: true, headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ janus: 'destroy', transaction: 'pagehide' }),
		}).catch(() => {});
	}
	closePeerConnection();
	forgetGateway();
});
setState('idle');
