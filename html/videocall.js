// Video call demo (janus.plugin.videocall): register a name, call another
// name, accept an incoming call, mute, cap the bitrate, hang up.
//
// The gateway is in the media path: the callee receives the GATEWAY's offer
// (built from the caller's) in `incomingcall` and answers it with `accept`;
// the caller then gets the gateway's answer in `accepted`. Renegotiations
// arrive as `update` events.
//
// A dropped WebSocket is reconnected and the session claimed by cardea.js:
// registration and call go on. A lost session (the gateway restarted) ends
// the call; the page connects again on a fresh session (backoff 1 ... 10 s)
// and registers the same name again. Calling back is left to the user: the
// status line says whom the call was with.
//
// window.cardeaDemo exposes the page's state (for the browser tests and for
// poking around in the console).
import { Rejoiner, pageServers } from './cardea.js';
import { $, log, setStatus, pluginData, Peer, openPageSession } from './rtc.js';

const PLUGIN = 'janus.plugin.videocall';

const demo = window.cardeaDemo = {
	state: 'connecting',    // connecting, ready, registered, calling, incoming, incall, reconnecting, failed
	transport: null,
	sessionId: null,
	username: null,
	peer: null,             // the other side's name during a call
	lostCall: null,         // the other side of a call that a lost session ended
	claims: 0,              // WebSocket reconnections that kept the session
	reconnects: 0,          // sessions lost: connected (and registered) again on a fresh one
	webrtcup: false,
	hangup: null,           // { username, reason } of the last hangup event
	lastError: null,        // the last plugin error (text and code)
	error: null,            // a failure that stopped the page
	events: [],             // videocall event names seen, in order
	// Fresh getStats() of the received video (inbound-rtp, kind video), or null.
	async inboundVideo() {
		if (!peer)
			return null;
		let found = null;
		(await peer.pc.getStats()).forEach(r => {
			if (r.type === 'inbound-rtp' && r.kind === 'video')
				found = { ...r };
		});
		return found;
	},
};

let session = null, handle = null, peer = null, localStream = null, incomingJsep = null;
let mutedAudio = false, mutedVideo = false;
// The last call the gateway hung up: { name, at }. A gateway shutting down
// hangs calls up just before the connection goes.
let endedCall = null;
const SAME_INCIDENT_MS = 5000;
// Bumped whenever the page drops its session: callbacks of an older one are stale.
let generation = 0;
const rejoiner = new Rejoiner(connectGateway, {
	onRetry: (err, ms) => {
		log(`gateway still unreachable: ${err.message}`, 'warn');
		setStatus(`Connection to the gateway lost; trying again in ${Math.round(ms / 1000)} s…`, 'warn');
	},
});

function setState(state) {
	demo.state = state;
	const registered = !['connecting', 'ready', 'reconnecting', 'failed'].includes(state);
	$('register').disabled = state !== 'ready';
	$('username').disabled = state !== 'ready';
	$('call').disabled = state !== 'registered';
	$('refresh').disabled = !registered;
	$('hangup').disabled = !['calling', 'incall'].includes(state);
	$('incoming').hidden = state !== 'incoming';
	for (const id of ['mute-audio', 'mute-video', 'bitrate'])
		$(id).disabled = state !== 'incall';
	$('badge-registered').classList.toggle('on', registered);
	$('badge-incall').classList.toggle('on', state === 'incall');
}

function fail(err, what) {
	demo.error = `${what}: ${err.message}`;
	setStatus(demo.error, 'error');
	log(demo.error, 'error');
	setState('failed');
}

function request(body, jsep) {
	log(`-> ${body.request}${jsep ? ` + ${jsep.type}` : ''}`);
	return (peer && jsep ? peer.send(body, jsep) : handle.message(body, jsep))
		.catch(err => log(`${body.request} refused: ${err.message}`, 'error'));
}

async function startMedia() {
	if (!navigator.mediaDevices?.getUserMedia)
		throw new Error('this page needs a secure context (https, or http on localhost/127.0.0.1)');
	localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
	$('local').srcObject = localStream;
	peer = new Peer(handle);
	peer.pc.ontrack = ev => {
		if (ev.track.kind === 'video' || !$('remote').srcObject)
			$('remote').srcObject = ev.streams[0] || new MediaStream([ev.track]);
		else
			$('remote').srcObject.addTrack(ev.track);
	};
	peer.pc.onconnectionstatechange = () => log(`PeerConnection ${peer?.pc.connectionState}`);
	mutedAudio = mutedVideo = false;
	$('mute-audio').textContent = 'Mute mic';
	$('mute-video').textContent = 'Stop camera';
}

function stopMedia() {
	peer?.close();
	peer = null;
	for (const t of localStream?.getTracks() || [])
		t.stop();
	localStream = null;
	$('local').srcObject = null;
	$('remote').srcObject = null;
	demo.webrtcup = false;
	$('badge-webrtcup').classList.remove('on');
}

// ---- the plugin's events ----

async function onEvent(msg) {
	const { data, jsep } = pluginData(msg);
	if (data.error_code) {
		demo.lastError = { code: data.error_code, error: data.error };
		log(`error ${data.error_code}: ${data.error}`, 'error');
		setStatus(data.error, 'error');
		if (demo.state === 'calling' || demo.state === 'incoming')
			stopMedia();
		if (['calling', 'incoming'].includes(demo.state))
			setState('registered');
		if (demo.state === 'reconnecting') {
			// Registering the name again was refused: the user picks one.
			setStatus(`Could not register ${demo.username} again (${data.error}): pick a name and Register.`, 'error');
			demo.username = null;
			setState('ready');
		}
		return;
	}
	const result = data.result || {};
	if (result.list) {
		$('users').replaceChildren(...result.list.filter(n => n !== demo.username).map(n => {
			const o = document.createElement('option');
			o.value = n;
			return o;
		}));
		log(`online: ${result.list.join(', ') || 'nobody'}`);
		return;
	}
	const ev = result.event;
	demo.events.push(ev);
	log(`<- ${ev}${result.username ? ` (${result.username})` : ''}${jsep ? ` + ${jsep.type}` : ''}`);
	try {
		switch (ev) {
		case 'registered':
			demo.username = result.username;
			if (demo.state === 'reconnecting') {
				setStatus(`Registered again as ${result.username} after losing the gateway.` + (demo.lostCall
					? ` The call with ${demo.lostCall} ended: press Call to call again.` : ''), 'warn');
				if (demo.lostCall)
					$('peer').value = demo.lostCall;
			} else {
				setStatus(`Registered as ${result.username}. Call someone, or wait for a call.`);
			}
			setState('registered');
			break;
		case 'calling':
			setStatus(`Calling ${demo.peer}…`);
			break;
		case 'incomingcall':
			demo.peer = result.username;
			incomingJsep = jsep;
			$('incoming-text').textContent = `Incoming call from ${result.username}`;
			setStatus(`${result.username} is calling you.`);
			setState('incoming');
			break;
		case 'accepted':
			if (jsep)   // we called: the gateway's answer to our offer
				await peer.pc.setRemoteDescription(jsep);
			if (result.username)
				demo.peer = result.username;
			$('remote-caption').textContent = demo.peer;
			setStatus(`In a call with ${demo.peer}.`);
			setState('incall');
			break;
		case 'update':
			if (jsep?.type === 'offer') {
				await peer.pc.setRemoteDescription(jsep);
				await peer.pc.setLocalDescription(await peer.pc.createAnswer());
				await request({ request: 'set' }, peer.pc.localDescription);
			} else if (jsep) {
				await peer.pc.setRemoteDescription(jsep);
			}
			break;
		case 'hangup':
			demo.hangup = { username: result.username, reason: result.reason };
			if (demo.peer)
				endedCall = { name: demo.peer, at: Date.now() };
			setStatus(`Call ended: ${result.reason}`);
			stopMedia();
			demo.peer = null;
			incomingJsep = null;
			if (demo.username)
				setState('registered');
			break;
		case 'simulcast':
			log(`now receiving ${result.substream !== undefined ? `substream ${result.substream}` : `temporal layer ${result.temporal}`}`);
			break;
		}
	} catch (err) {
		fail(err, `handling ${ev}`);
	}
}

// ---- buttons ----

$('register').onclick = () => {
	const name = $('username').value.trim();
	if (!name)
		return setStatus('Pick a name first.', 'error');
	request({ request: 'register', username: name });
};

$('refresh').onclick = () => request({ request: 'list' });

$('call').onclick = async () => {
	const name = $('peer').value.trim();
	if (!name)
		return setStatus('Whom do you want to call?', 'error');
	try {
		demo.peer = name;
		demo.hangup = null;
		demo.lostCall = null;
		setState('calling');
		await startMedia();
		for (const t of localStream.getTracks())
			peer.pc.addTrack(t, localStream);
		await peer.pc.setLocalDescription(await peer.pc.createOffer());
		await request({ request: 'call', username: name }, peer.pc.localDescription);
	} catch (err) {
		stopMedia();
		setState('registered');
		setStatus(`Cannot call: ${err.message}`, 'error');
	}
};

$('accept').onclick = async () => {
	try {
		demo.hangup = null;
		await startMedia();
		// Our tracks go on the transceivers the gateway's offer created.
		await peer.pc.setRemoteDescription(incomingJsep);
		for (const t of localStream.getTracks())
			peer.pc.addTrack(t, localStream);
		await peer.pc.setLocalDescription(await peer.pc.createAnswer());
		await request({ request: 'accept' }, peer.pc.localDescription);
	} catch (err) {
		fail(err, 'accepting the call');
	}
};

$('decline').onclick = () => request({ request: 'hangup', reason: 'Declined' });
$('hangup').onclick = () => request({ request: 'hangup' });

$('mute-audio').onclick = () => {
	mutedAudio = !mutedAudio;
	for (const t of localStream?.getAudioTracks() || [])
		t.enabled = !mutedAudio;
	$('mute-audio').textContent = mutedAudio ? 'Unmute mic' : 'Mute mic';
	request({ request: 'set', audio: !mutedAudio });
};

$('mute-video').onclick = () => {
	mutedVideo = !mutedVideo;
	for (const t of localStream?.getVideoTracks() || [])
		t.enabled = !mutedVideo;
	$('mute-video').textContent = mutedVideo ? 'Start camera' : 'Stop camera';
	request({ request: 'set', video: !mutedVideo });
};

$('bitrate').onchange = () => request({ request: 'set', bitrate: Number($('bitrate').value) });

// ---- the gateway, and losing it ----

// Connects on a fresh session and attaches the videocall handle: from
// main() the first time, from the Rejoiner after a lost session (it retries
// when this throws), registering the name again if there was one.
async function connectGateway() {
	dropSession();
	const gen = generation;
	const s = await openPageSession(pageServers(), demo, () => gen === generation, connectionLost);
	if (!s)
		return;
	session = s;
	demo.transport = s.gateway.transport;
	$('badge-transport').textContent = `transport: ${s.gateway.transport}`;
	$('badge-transport').classList.add('on');
	const h = handle = await s.attach(PLUGIN);
	h.on('event', msg => { if (h === handle) onEvent(msg); });
	h.on('webrtcup', () => {
		if (h !== handle)
			return;
		demo.webrtcup = true;
		$('badge-webrtcup').classList.add('on');
		log('webrtcup');
	});
	h.on('hangup', msg => log(`PeerConnection closed by the gateway (${msg.reason})`));
	h.on('media', msg => log(`${msg.type ?? msg.mid}: ${msg.receiving ? 'receiving' : 'not receiving'}`));
	if (demo.state === 'reconnecting' && demo.username) {
		log(`-> register ${demo.username} (again)`);
		await h.message({ request: 'register', username: demo.username });
	} else {
		setState('ready');
		setStatus(demo.state === 'reconnecting' ? 'Connected again. Pick a name and Register.' : 'Pick a name and Register.');
	}
}

// The session is gone, and with it the registration and any call.
function connectionLost(reason) {
	log(`connection to the gateway lost: ${reason}`, 'error');
	const call = ['calling', 'incoming', 'incall'].includes(demo.state) ? demo.peer
		: endedCall && Date.now() - endedCall.at < SAME_INCIDENT_MS ? endedCall.name : null;
	dropSession();
	if (demo.state === 'failed')
		return;
	if (call) {
		demo.lostCall = call;
		demo.peer = null;
	}
	if (demo.state !== 'reconnecting') {
		demo.reconnects++;
		setState('reconnecting');
	}
	setStatus(`Connection to the gateway lost (${reason})${call ? `: the call with ${call} ended` : ''}; ` +
		`reconnecting${demo.username ? ` to register ${demo.username} again` : ''}…`, 'warn');
	rejoiner.schedule();
}

function dropSession() {
	generation++;
	stopMedia();
	incomingJsep = null;
	const s = session;
	session = handle = null;
	s?.gateway.close();
	$('badge-transport').classList.remove('on');
}

// ---- start-up ----

async function main() {
	setState('connecting');
	$('username').value = `user-${Math.random().toString(36).slice(2, 7)}`;
	const params = new URLSearchParams(location.search);
	if (params.get('name'))
		$('username').value = params.get('name');
	try {
		await connectGateway();
	} catch (err) {
		if (demo.state === 'connecting')
			fail(err, 'Cannot reach the gateway');
	}
}

window.addEventListener('pagehide', () => {
	rejoiner.cancel();
	dropSession();
});
main();
