// cardea.js: a small promise-based client for the Janus API v1, as spoken by
// Cardea (and Janus). Plain ES module, no dependencies; also meant as an
// example to read.
//
//   import { connect, pageServers } from './cardea.js';
//   const gw = await connect(pageServers());          // WebSocket, else HTTP long poll
//   const session = await gw.createSession();
//   const handle = await session.attach('janus.plugin.echotest');
//   handle.on('event', msg => { ... msg.plugindata.data, msg.jsep ... });
//   handle.on('webrtcup', msg => { ... });            // also media, slowlink, hangup, detached, trickle
//   await handle.message({ audio: true }, offer);     // resolves on ack or success, rejects on error
//   await handle.trickle(candidate);                  // null = gathering completed
//   await handle.hangup(); await handle.detach(); await session.destroy(); gw.close();
//
// When the WebSocket drops, the Gateway reconnects by itself (backoff, within
// options.reconnectMs) and `claim`s each of its sessions on the new
// connection: PeerConnections are not touched (media has its own path and
// keeps flowing), and the gateway emits 'reconnecting' then 'reconnected'.
// A session the gateway no longer knows (458: reclaim_session_timeout passed,
// or the gateway restarted) emits 'gone' and the Gateway then emits 'close'
// ({reason, lost: true}) exactly as when reconnecting fails: the page's
// 'close' handler tears down its PeerConnections and joins again from scratch
// (openSession() and Rejoiner, near the end, are what the demo pages use).
//
// Requests resolve with the gateway's direct reply (`success`, `ack`,
// `server_info`, `pong`) and reject with a GatewayError on `error`. What the
// gateway sends later (plugin `event`s, even those answering a request, and
// webrtcup, media, hangup, ...) goes to the listeners of the handle named by
// the message's `sender`; session-wide ones (`timeout`) to the session's.

const KEEPALIVE_MS = 25000;
const WS_CONNECT_TIMEOUT_MS = 5000;
const HTTP_REQUEST_TIMEOUT_MS = 15000;
// Our long polls ask for up to 10 events; the gateway answers within ~30 s.
const LONG_POLL_TIMEOUT_MS = 60000;
const LONG_POLL_MAX_FAILURES = 3;
// After a WebSocket drop: wait this long before each new attempt (the last
// value repeats), for at most RECONNECT_WINDOW_MS (options.reconnectMs; 0 turns
// reconnection off). Keep the window below the gateway's
// reclaim_session_timeout, or the sessions are gone when we get back.
const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 4000];
const RECONNECT_WINDOW_MS = 30000;

// An API `error` reply: code and reason as sent (janus-api.md §1.5).
export class GatewayError extends Error {
	constructor(code, reason, reply) {
		super(`${reason} (${code})`);
		this.name = 'GatewayError';
		this.code = code;
		this.reason = reason;
		this.reply = reply;
	}
}

// Minimal listener registry: on(type, fn) returns a function that removes it;
// '*' listeners see every message.
class Emitter {
	#listeners = new Map();

	on(type, fn) {
		if (!this.#listeners.has(type))
			this.#listeners.set(type, new Set());
		this.#listeners.get(type).add(fn);
		return () => this.off(type, fn);
	}

	off(type, fn) {
		this.#listeners.get(type)?.delete(fn);
	}

	// Resolves with the next `type` message that passes `filter`.
	once(type, filter = () => true, timeoutMs = 0) {
		return new Promise((resolve, reject) => {
			let timer = null;
			const off = this.on(type, msg => {
				if (!filter(msg))
					return;
				off();
				clearTimeout(timer);
				resolve(msg);
			});
			if (timeoutMs > 0) {
				timer = setTimeout(() => {
					off();
					reject(new Error(`no '${type}' within ${timeoutMs} ms`));
				}, timeoutMs);
			}
		});
	}

	emit(type, msg) {
		for (const key of [type, '*']) {
			for (const fn of [...(this.#listeners.get(key) || [])]) {
				try {
					fn(msg);
				} catch (err) {
					console.error(`cardea.js: '${type}' listener failed`, err);
				}
			}
		}
	}
}

function randomTransaction() {
	const bytes = new Uint8Array(9);
	crypto.getRandomValues(bytes);
	return Array.from(bytes, b => b.toString(36).padStart(2, '0')).join('');
}

// Server URLs for a demo page: the page's own origin for HTTP (`/janus`) and
// port 8188 (8989 over https) of the page's host for WebSocket, each
// overridable with ?http=..., ?ws=... and ?transport=ws|http|auto.
export function pageServers(search = location.search) {
	const q = new URLSearchParams(search);
	const secure = location.protocol === 'https:';
	const http = new URL(q.get('http') || q.get('api') || '/janus', location.href).href.replace(/\/+$/, '');
	const ws = q.get('ws') || `${secure ? 'wss' : 'ws'}://${location.hostname}:${secure ? 8989 : 8188}`;
	const transport = q.get('transport') || 'auto';
	return { http, ws, transport };
}

// ---- transports ----
// Both offer: request(msg) -> Promise<reply>, and call onMessage(msg) for
// every unsolicited message; onClose(reason) when the channel is gone.

class WebSocketTransport {
	name = 'websocket';
	#ws;
	#pending = new Map();   // transaction -> { resolve, reject }

	constructor(ws, onMessage, onClose) {
		this.#ws = ws;
		ws.onmessage = ev => {
			let msg;
			try {
				msg = JSON.parse(ev.data);
			} catch {
				console.warn('cardea.js: unparseable message from the gateway', ev.data);
				return;
			}
			this.#route(msg, onMessage);
		};
		ws.onclose = ev => {
			this.#failAll(new Error(`WebSocket closed (${ev.code})`));
			onClose(`WebSocket closed (${ev.code})`);
		};
	}

	static open(url, onMessage, onClose) {
		return new Promise((resolve, reject) => {
			let ws;
			try {
				ws = new WebSocket(url, 'janus-protocol');
			} catch (err) {
				reject(err);
				return;
			}
			const timer = setTimeout(() => { ws.close(); reject(new Error(`WebSocket ${url}: no answer`)); },
				WS_CONNECT_TIMEOUT_MS);
			ws.onopen = () => {
				clearTimeout(timer);
				resolve(new WebSocketTransport(ws, onMessage, onClose));
			};
			ws.onerror = () => {
				clearTimeout(timer);
				reject(new Error(`WebSocket ${url}: connection failed`));
			};
		});
	}

	// Direct replies (success/ack/error/server_info/pong) settle a request;
	// `event`s carry the transaction of the request they answer but belong to
	// the handle's listeners.
	#route(msg, onMessage) {
		const pending = msg.transaction !== undefined && msg.janus !== 'event' ? this.#pending.get(msg.transaction) : null;
		if (pending) {
			this.#pending.delete(msg.transaction);
			pending.resolve(msg);
		} else {
			onMessage(msg);
		}
	}

	#failAll(err) {
		for (const p of this.#pending.values())
			p.reject(err);
		this.#pending.clear();
	}

	request(msg) {
		if (this.#ws.readyState !== WebSocket.OPEN)
			return Promise.reject(new Error('WebSocket is not open'));
		return new Promise((resolve, reject) => {
			this.#pending.set(msg.transaction, { resolve, reject });
			this.#ws.send(JSON.stringify(msg));
		});
	}

	// Pushed model: nothing to start per session.
	sessionCreated() {}

	sessionGone() {}

	close() {
		this.#ws.onclose = null;
		this.#failAll(new Error('client closed'));
		this.#ws.close();
	}
}

class HttpTransport {
	name = 'http';
	#base;
	#onMessage;
	#onClose;
	#polls = new Map();   // session id -> AbortController of its long-poll loop

	constructor(base, onMessage, onClose) {
		this.#base = base;
		this.#onMessage = onMessage;
		this.#onClose = onClose;
	}

	// The path carries the ids (janus-api.md §4.1); they stay in the body too,
	// which the gateway accepts as long as they agree.
	#url(msg) {
		if (msg.handle_id)
			return `${this.#base}/${msg.session_id}/${msg.handle_id}`;
		if (msg.session_id)
			return `${this.#base}/${msg.session_id}`;
		return this.#base;
	}

	async request(msg) {
		const res = await fetch(this.#url(msg), {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify(msg),
			signal: AbortSignal.timeout(HTTP_REQUEST_TIMEOUT_MS),
		});
		if (!res.ok)
			throw new Error(`HTTP ${res.status} from ${this.#url(msg)}`);
		return res.json();
	}

	sessionCreated(id) {
		const abort = new AbortController();
		this.#polls.set(id, abort);
		this.#poll(id, abort.signal);
	}

	sessionGone(id) {
		this.#polls.get(id)?.abort();
		this.#polls.delete(id);
	}

	// One GET at a time per session; each returns 1..10 events or a keepalive.
	async #poll(id, signal) {
		let failures = 0;
		while (!signal.aborted) {
			try {
				const res = await fetch(`${this.#base}/${id}?maxev=10&rid=${Date.now()}`, {
					signal: AbortSignal.any ? AbortSignal.any([signal, AbortSignal.timeout(LONG_POLL_TIMEOUT_MS)]) : signal,
				});
				if (res.status === 404) {
					// The gateway no longer knows the session (destroyed or timed out).
					this.sessionGone(id);
					this.#onMessage({ janus: 'timeout', session_id: id });
					return;
				}
				if (!res.ok)
					throw new Error(`long poll: HTTP ${res.status}`);
				const body = await res.json();
				failures = 0;
				for (const msg of Array.isArray(body) ? body : [body]) {
					if (msg.janus !== 'keepalive')
						this.#onMessage(msg);
				}
			} catch (err) {
				if (signal.aborted)
					return;
				if (++failures >= LONG_POLL_MAX_FAILURES) {
					this.sessionGone(id);
					this.#onClose(`long poll failed ${failures} times: ${err.message}`);
					return;
				}
				await new Promise(r => setTimeout(r, 500 * failures));
			}
		}
	}

	close() {
		for (const id of [...this.#polls.keys()])
			this.sessionGone(id);
	}
}

// ---- the API objects ----

export class Gateway extends Emitter {
	#transport;
	#sessions = new Map();   // id -> Session
	#options;
	#closing = false;        // close() called: never reconnect
	#reconnecting = false;

	constructor(transport, options) {
		super();
		this.#transport = transport;
		this.#options = options;
		this.keepaliveMs = options.keepaliveMs || KEEPALIVE_MS;
		this.reconnectMs = options.reconnectMs ?? RECONNECT_WINDOW_MS;
		this.reconnects = 0;     // successful reconnections, for pages and tests
	}

	// 'websocket' or 'http': which one connect() ended up with.
	get transport() {
		return this.#transport.name;
	}

	// Sends one request and settles with its direct reply. Adds the
	// transaction and credentials; `error` replies reject.
	async request(msg) {
		msg = { ...msg, transaction: randomTransaction() };
		if (this.#options.apisecret)
			msg.apisecret = this.#options.apisecret;
		if (this.#options.token)
			msg.token = this.#options.token;
		const reply = await this.#transport.request(msg);
		if (reply.janus === 'error')
			throw new GatewayError(reply.error?.code, reply.error?.reason, reply);
		return reply;
	}

	info() {
		return this.request({ janus: 'info' });
	}

	async createSession() {
		const reply = await this.request({ janus: 'create' });
		const session = new Session(this, reply.data.id);
		this.#sessions.set(session.id, session);
		this.#transport.sessionCreated(session.id);
		return session;
	}

	close() {
		this.#closing = true;
		for (const s of this.#sessions.values())
			s._stop();
		this.#sessions.clear();
		this.#transport.close();
	}

	// Called by the transport for every unsolicited message.
	_dispatch(msg) {
		const session = this.#sessions.get(msg.session_id);
		if (session)
			session._dispatch(msg);
		else
			this.emit('message', msg);
	}

	_closed(reason) {
		if (this.#closing)
			return;
		if (this.#transport.name === 'websocket' && this.reconnectMs > 0 && this.#options.ws) {
			this.#reconnect(reason);
			return;
		}
		this.#lost(reason);
	}

	#lost(reason) {
		for (const s of this.#sessions.values())
			s._stop();
		this.#sessions.clear();
		this.emit('close', { reason, lost: true });
	}

	// New WebSocket with backoff, then `claim` of every session (janus-api.md:
	// claim moves a session's events to the connection that sends it).
	async #reconnect(reason) {
		if (this.#reconnecting)
			return;
		this.#reconnecting = true;
		this.emit('reconnecting', { reason });
		const deadline = Date.now() + this.reconnectMs;
		let lastError = null;
		let retry = null;
		try {
			for (let i = 0; ; i++) {
				await new Promise(r => setTimeout(r, RECONNECT_DELAYS_MS[Math.min(i, RECONNECT_DELAYS_MS.length - 1)]));
				if (this.#closing)
					return;
				if (Date.now() > deadline) {
					this.#lost(`${reason}; no connection within ${this.reconnectMs} ms (${lastError?.message})`);
					return;
				}
				try {
					this.#transport = await WebSocketTransport.open(this.#options.ws,
						msg => this._dispatch(msg), r => this._closed(r));
					break;
				} catch (err) {
					lastError = err;
				}
			}
			const gone = [];
			for (const s of [...this.#sessions.values()]) {
				try {
					await this.request({ janus: 'claim', session_id: s.id });
				} catch (err) {
					if (!(err instanceof GatewayError))
						throw err;       // the new connection failed too: start over
					gone.push({ session: s, err });
				}
			}
			this.reconnects++;
			if (gone.length > 0) {
				for (const { session, err } of gone) {
					session._stop();
					this.#sessions.delete(session.id);
					session.emit('gone', { reason: err.message, code: err.code });
				}
				this.#lost(`${reason}; session lost on the gateway: ${gone[0].err.message}`);
				return;
			}
			for (const s of this.#sessions.values())
				s.emit('reconnected', {});
			this.emit('reconnected', { reason });
		} catch (err) {
			retry = err;
		} finally {
			this.#reconnecting = false;
		}
		if (retry)
			this._closed(`${reason}; ${retry.message}`);
	}

	_forget(session) {
		this.#sessions.delete(session.id);
		this.#transport.sessionGone(session.id);
	}
}

export class Session extends Emitter {
	#keepalive;
	#handles = new Map();   // id -> Handle

	constructor(gateway, id) {
		super();
		this.gateway = gateway;
		this.id = id;
		// Keeps the session alive on the gateway (default session_timeout 60 s).
		this.#keepalive = setInterval(() => {
			this.request({ janus: 'keepalive' }).catch(err => this.emit('error', err));
		}, gateway.keepaliveMs);
	}

	request(msg) {
		return this.gateway.request({ ...msg, session_id: this.id });
	}

	async attach(plugin, opaqueId) {
		const msg = { janus: 'attach', plugin };
		if (opaqueId)
			msg.opaque_id = opaqueId;
		const reply = await this.request(msg);
		const handle = new Handle(this, reply.data.id, plugin);
		this.#handles.set(handle.id, handle);
		return handle;
	}

	async destroy() {
		try {
			return await this.request({ janus: 'destroy' });
		} finally {
			this._stop();
			this.gateway._forget(this);
		}
	}

	_stop() {
		clearInterval(this.#keepalive);
	}

	_dispatch(msg) {
		const handle = msg.sender !== undefined ? this.#handles.get(msg.sender) : null;
		if (handle) {
			if (msg.janus === 'detached')
				this.#handles.delete(handle.id);
			handle.emit(msg.janus, msg);
			return;
		}
		if (msg.janus === 'timeout') {
			// The gateway dropped the session and all its handles.
			this._stop();
			this.gateway._forget(this);
		}
		this.emit(msg.janus, msg);
	}
}

export class Handle extends Emitter {
	constructor(session, id, plugin) {
		super();
		this.session = session;
		this.id = id;
		this.plugin = plugin;
	}

	request(msg) {
		return this.session.request({ ...msg, handle_id: this.id });
	}

	// Sends a plugin message, with an offer/answer if given (an
	// RTCSessionDescription or {type, sdp}). Resolves with `ack` (the plugin's
	// answer arrives later as an 'event') or with a synchronous `success`
	// holding plugindata.
	message(body, jsep) {
		const msg = { janus: 'message', body };
		if (jsep)
			msg.jsep = { type: jsep.type, sdp: jsep.sdp };
		return this.request(msg);
	}

	// An RTCIceCandidate (or its JSON), or null/undefined for end of gathering.
	trickle(candidate) {
		const c = candidate && candidate.candidate
			? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex }
			: { completed: true };
		return this.request({ janus: 'trickle', candidate: c });
	}

	hangup() {
		return this.request({ janus: 'hangup' });
	}

	detach() {
		return this.request({ janus: 'detach' });
	}
}

// ---- pages that rejoin after losing their session ----
// When the gateway no longer knows a session (it restarted, or the WebSocket
// came back after reclaim_session_timeout), nothing tied to it survives:
// handles, PeerConnections, registrations, room memberships. The demo pages
// then drop all of it and redo what the user had done on a fresh session;
// these two helpers are the parts they share.

// Connects (see connect()) and creates one session. onLost(reason) is
// called at most once, when that session is lost: the Gateway's 'close'
// (reconnecting failed, or the claim found the session gone) or the
// session's 'timeout' (over HTTP, the long poll's 404). The Gateway is
// session.gateway; closing it (gateway.close()) silences onLost.
export async function openSession(options, onLost) {
	const gateway = await connect(options);
	let lost = false;
	const lose = reason => {
		if (!lost) {
			lost = true;
			onLost(reason);
		}
	};
	gateway.on('close', ({ reason }) => lose(reason));
	try {
		const session = await gateway.createSession();
		session.on('timeout', () => lose('the session timed out on the gateway'));
		return session;
	} catch (err) {
		gateway.close();
		throw err;
	}
}

// Runs attempt() after a delay that doubles from minMs to maxMs, and again
// after every failure (it threw, or schedule() was called while it ran: the
// fresh session was lost too), until one succeeds or cancel() is called.
// onRetry(err, delayMs) tells the page why and when the next try is.
export class Rejoiner {
	#attempt;
	#onRetry;
	#min;
	#max;
	#delay;
	#timer = null;
	#running = false;
	#again = false;
	#generation = 0;         // bumped by cancel(): a running attempt's result is void

	constructor(attempt, { minMs = 1000, maxMs = 10000, onRetry = () => {} } = {}) {
		this.#attempt = attempt;
		this.#onRetry = onRetry;
		this.#min = this.#delay = minMs;
		this.#max = maxMs;
	}

	// A try is waiting or running.
	get active() {
		return this.#timer !== null || this.#running;
	}

	// The delay before the next try, in ms.
	get delayMs() {
		return this.#delay;
	}

	schedule() {
		if (this.#timer !== null)
			return;
		if (this.#running) {
			this.#again = true;
			return;
		}
		this.#timer = setTimeout(() => this.#run(), this.#delay);
		this.#delay = Math.min(this.#delay * 2, this.#max);
	}

	cancel() {
		clearTimeout(this.#timer);
		this.#timer = null;
		this.#running = this.#again = false;
		this.#delay = this.#min;
		this.#generation++;
	}

	async #run() {
		this.#timer = null;
		this.#running = true;
		this.#again = false;
		const generation = this.#generation;
		let error = null;
		try {
			await this.#attempt();
		} catch (err) {
			error = err;
		}
		if (generation !== this.#generation)
			return;
		this.#running = false;
		if (!error && !this.#again) {
			this.#delay = this.#min;
			return;
		}
		this.#again = false;
		this.#onRetry(error || new Error('the new session was lost too'), this.#delay);
		this.schedule();
	}
}

// Connects with options { ws, http, transport, apisecret, token, keepaliveMs }:
// transport 'ws' or 'http' forces one, 'auto' (default) tries the WebSocket
// first and falls back to HTTP long poll when it cannot be opened. Resolves
// once the server has answered `info` (kept as gateway.serverInfo).
export async function connect(options = {}) {
	const mode = options.transport || 'auto';
	let gw = null;
	const onMessage = msg => gw._dispatch(msg);
	const onClose = reason => gw._closed(reason);
	let transport = null;
	let wsError = null;
	if (mode !== 'http' && options.ws) {
		try {
			transport = await WebSocketTransport.open(options.ws, onMessage, onClose);
		} catch (err) {
			wsError = err;
			if (mode === 'ws')
				throw err;
		}
	}
	if (!transport) {
		if (!options.http)
			throw wsError || new Error('no server URL given');
		transport = new HttpTransport(options.http, onMessage, onClose);
	}
	gw = new Gateway(transport, options);
	// Proves the server answers before handing the object out (and, over
	// HTTP, that the URL is right).
	try {
		gw.serverInfo = await gw.info();
	} catch (err) {
		gw.close();
		throw err;
	}
	gw.fallbackReason = wsError ? wsError.message : null;
	return gw;
}
