// rtc.js: small WebRTC helpers shared by the room demos (videoroom.js,
// screenshare.js): a peer connection bound to one plugin handle with trickle
// ICE both ways, a page event log and the room bootstrap (exists -> create).
// Plain ES module on top of cardea.js.

import { openSession } from './cardea.js';

export const $ = id => document.getElementById(id);

const MAX_LOG_ENTRIES = 150;

export function log(text, kind = '') {
	// Mirrored to the console (info level) for debugging and the browser tests.
	console.info(`[${kind || 'info'}] ${text}`);
	const list = $('events');
	if (!list)
		return;
	const li = document.createElement('li');
	const time = document.createElement('time');
	time.textContent = new Date().toLocaleTimeString();
	li.append(time, ' ', text);
	if (kind)
		li.className = kind;
	list.prepend(li);
	while (list.children.length > MAX_LOG_ENTRIES)
		list.lastElementChild.remove();
}

export function setStatus(text, kind = '') {
	const el = $('status');
	el.textContent = text;
	el.className = kind;
}

// A plugin `event` as { data, jsep }; data is plugindata.data.
export function pluginData(msg) {
	return { data: msg.plugindata?.data || {}, jsep: msg.jsep || null };
}

// Sends a synchronous plugin request (create, exists, listparticipants, ...)
// and returns plugindata.data; a plugin-level error_code throws.
export async function syncRequest(handle, body) {
	const reply = await handle.message(body);
	const data = reply.plugindata?.data || {};
	if (data.error_code)
		throw new Error(`${body.request}: ${data.error} (${data.error_code})`);
	return data;
}

// Makes sure the room exists: `exists`, then `create` if it does not (a
// race with another creator answers 427 "already exists", which is fine).
export async function ensureRoom(handle, room, extra = {}) {
	const { exists } = await syncRequest(handle, { request: 'exists', room });
	if (exists)
		return false;
	try {
		await syncRequest(handle, { request: 'create', room, permanent: false, publishers: 16, ...extra });
		return true;
	} catch (err) {
		if (/\(427\)/.test(err.message))
			return false;
		throw err;
	}
}

// One RTCPeerConnection negotiated through one plugin handle. Local
// candidates wait until the first offer/answer has been sent (the gateway
// needs the SDP before their trickles); remote ones come as `trickle`s.
export class Peer {
	constructor(handle) {
		this.handle = handle;
		this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
		this.queue = [];
		this.sdpSent = false;
		this.closed = false;
		this.pc.onicecandidate = ev => this.#localCandidate(ev.candidate);
		this.offTrickle = handle.on('trickle', msg => {
			const c = msg.candidate;
			if (!c || c.completed || this.closed)
				return;
			this.pc.addIceCandidate(c).catch(err => log(`remote candidate rejected: ${err.message}`, 'warn'));
		});
	}

	#localCandidate(candidate) {
		if (this.closed)
			return;
		if (!this.sdpSent) {
			this.queue.push(candidate);
			return;
		}
		this.handle.trickle(candidate).catch(() => {});
	}

	// Sends body with our description (after setLocalDescription), then the
	// candidates gathered meanwhile.
	async send(body, description) {
		const reply = await this.handle.message(body, description);
		if (description && !this.sdpSent) {
			this.sdpSent = true;
			for (const c of this.queue.splice(0))
				this.handle.trickle(c).catch(() => {});
		}
		return reply;
	}

	async offer(body) {
		const offer = await this.pc.createOffer();
		await this.pc.setLocalDescription(offer);
		return this.send(body, this.pc.localDescription);
	}

	// Applies the gateway's offer and answers it with body (e.g. start).
	async answer(jsep, body) {
		await this.pc.setRemoteDescription(jsep);
		const answer = await this.pc.createAnswer();
		await this.pc.setLocalDescription(answer);
		return this.send(body, this.pc.localDescription);
	}

	close() {
		this.closed = true;
		this.offTrickle();
		this.pc.close();
	}
}

// Summary of every inbound video RTP stream by mid, from getStats().
export async function inboundVideoByMid(pc) {
	const out = {};
	if (!pc)
		return out;
	(await pc.getStats()).forEach(r => {
		if (r.type === 'inbound-rtp' && r.kind === 'video') {
			out[r.mid ?? r.trackIdentifier] = {
				framesDecoded: r.framesDecoded ?? 0, bytesReceived: r.bytesReceived ?? 0,
				frameWidth: r.frameWidth ?? 0, frameHeight: r.frameHeight ?? 0,
			};
		}
	});
	return out;
}

// cardea.js openSession() for a page that rejoins after losing its session
// (broadcast, screenshare, videocall): onLost(reason) only while current()
// holds (the page has not dropped this session meanwhile); a WebSocket
// drop that cardea.js repairs with a claim is logged and counted in
// demo.claims, and demo.sessionId follows. Resolves with the session, or
// null (and closes it) when the page moved on while it was being opened.
export async function openPageSession(servers, demo, current, onLost) {
	const session = await openSession(servers, reason => { if (current()) onLost(reason); });
	if (!current()) {
		session.gateway.close();
		return null;
	}
	demo.sessionId = session.id;
	session.gateway.on('reconnecting', ({ reason }) => log(`signalling connection lost (${reason}), reconnecting…`, 'warn'));
	session.gateway.on('reconnected', () => {
		demo.claims++;
		log('reconnected, session claimed: nothing to redo', 'ok');
	});
	return session;
}
