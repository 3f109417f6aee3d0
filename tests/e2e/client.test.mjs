// html/cardea.js, the demo pages' Janus API client, run in headless
// Chromium against a Cardea daemon, over WebSocket and over HTTP long poll:
// requests settle on their direct reply (success/ack/error), plugin events
// reach the handle named by `sender`, keepalives go out, and an unreachable
// WebSocket falls back to HTTP. No media here (echotest.test.mjs does that).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, installedPluginSo, freePort, assertCleanExit } from './lib/gateway.mjs';
import { launchChromium, recordConsole } from './lib/browser.mjs';

const CASE = { timeout: 30000 };
const ECHO = 'janus.plugin.echotest';

let gw, browser;

before(async () => {
	gw = await startGateway({
		plugins: [installedPluginSo('echotest')],
		http: { static: { enabled: true, folder: new URL('../../html', import.meta.url).pathname, path: '/' } },
	});
	browser = await launchChromium();
});

after(async () => {
	await browser?.close().catch(() => {});
	if (!gw)
		return;
	try {
		await gw.stop();
	} finally {
		gw.cleanup();
	}
});

// Runs fn(options) in a page of the gateway's origin with cardea.js loaded
// as `window.cardea`; also returns every keepalive the page sent, by either
// transport.
async function inPage(fn, options) {
	const page = await browser.newPage();
	const consoleLines = recordConsole(page);
	const keepalives = [];
	page.on('websocket', ws => ws.on('framesent', f => {
		if (/"janus":"keepalive"/.test(f.payload))
			keepalives.push('ws');
	}));
	page.on('request', r => {
		if (r.method() === 'POST' && /"janus":"keepalive"/.test(r.postData() || ''))
			keepalives.push('http');
	});
	try {
		await page.goto(`${gw.httpUrl}/index.html`);
		await page.evaluate(async () => { window.cardea = await import('./cardea.js'); });
		const result = await page.evaluate(fn, options);
		return { ...result, keepalives, console: consoleLines.join('\n') };
	} finally {
		await page.close();
	}
}

// The whole handle life cycle, recorded step by step.
async function lifecycle(options) {
	const { connect, GatewayError } = window.cardea;
	const out = {};
	const gw = await connect(options);
	out.transport = gw.transport;
	out.info = gw.serverInfo.janus;
	out.plugins = Object.keys(gw.serverInfo.plugins || {});
	const session = await gw.createSession();
	out.sessionId = session.id;
	const handle = await session.attach('janus.plugin.echotest', 'client-test');
	out.handleId = handle.id;

	const events = [];
	handle.on('*', msg => events.push({ janus: msg.janus, sender: msg.sender, transaction: msg.transaction,
		data: msg.plugindata?.data }));

	// Async plugin request: ack now, event (same transaction) later.
	const eventSeen = handle.once('event', () => true, 5000);
	const ack = await handle.message({ audio: true });
	out.ack = { janus: ack.janus, transaction: ack.transaction, session_id: ack.session_id };
	await eventSeen;

	// A plugin-level error arrives as an event too.
	const errorSeen = handle.once('event', m => m.plugindata?.data?.error_code, 5000);
	await handle.message({ audio: 'loud' });
	out.pluginError = (await errorSeen).plugindata.data.error_code;

	out.trickle = (await handle.trickle(null)).janus;
	out.trickleCandidate = (await handle.trickle({ candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 9 typ host',
		sdpMid: '0', sdpMLineIndex: 0 })).janus;

	// Core errors reject with the gateway's code.
	try {
		await session.attach('janus.plugin.nonexistent');
		out.attachError = 'resolved';
	} catch (err) {
		out.attachError = err instanceof GatewayError ? err.code : String(err);
	}

	// Long enough for a few keepalives when the test asks for a short period.
	await new Promise(r => setTimeout(r, options.wait || 0));

	out.hangup = (await handle.hangup()).janus;
	const detached = handle.once('detached', () => true, 5000);
	out.detach = (await handle.detach()).janus;
	await detached;
	out.destroy = (await session.destroy()).janus;
	try {
		await session.request({ janus: 'keepalive' });
		out.afterDestroy = 'resolved';
	} catch (err) {
		out.afterDestroy = err.code;
	}
	gw.close();
	out.events = events;
	return out;
}

function checkLifecycle(r, transport) {
	const ctx = `\n${JSON.stringify(r, null, 1)}`;
	assert.equal(r.transport, transport, ctx);
	assert.equal(r.info, 'server_info');
	assert.ok(r.plugins.includes(ECHO), ctx);
	assert.ok(Number.isSafeInteger(r.sessionId) && r.sessionId > 0, ctx);
	assert.ok(Number.isSafeInteger(r.handleId) && r.handleId > 0, ctx);
	assert.equal(r.ack.janus, 'ack', ctx);
	assert.equal(r.ack.session_id, r.sessionId);
	// The answering event went to the handle's listeners, tied to the request.
	const answer = r.events.find(e => e.janus === 'event' && e.transaction === r.ack.transaction);
	assert.ok(answer, `no event for the acked transaction${ctx}`);
	assert.equal(answer.sender, r.handleId);
	assert.deepEqual(answer.data, { echotest: 'event', result: 'ok' });
	assert.equal(r.pluginError, 413, ctx);
	assert.equal(r.trickle, 'ack');
	assert.equal(r.trickleCandidate, 'ack');
	assert.equal(r.attachError, 460, ctx);
	assert.equal(r.hangup, 'success');
	assert.equal(r.detach, 'success');
	assert.ok(r.events.some(e => e.janus === 'detached' && e.sender === r.handleId), ctx);
	assert.equal(r.destroy, 'success');
	assert.equal(r.afterDestroy, 458, ctx);
	assert.ok(r.events.every(e => e.sender === r.handleId), `an event reached the wrong handle${ctx}`);
}

test('cardea.js over WebSocket: request/reply, events by sender, errors, keepalives', CASE, async () => {
	const r = await inPage(lifecycle, { transport: 'ws', ws: gw.wsUrl, http: gw.apiUrl, keepaliveMs: 300, wait: 1000 });
	checkLifecycle(r, 'websocket');
	assert.ok(r.keepalives.length >= 2 && r.keepalives.every(k => k === 'ws'), `keepalives: ${r.keepalives}`);
});

test('cardea.js over HTTP long poll: request/reply, events by sender, errors, keepalives', CASE, async () => {
	const r = await inPage(lifecycle, { transport: 'http', ws: gw.wsUrl, http: '/janus', keepaliveMs: 300, wait: 1000 });
	checkLifecycle(r, 'http');
	assert.ok(r.keepalives.length >= 2 && r.keepalives.every(k => k === 'http'), `keepalives: ${r.keepalives}`);
});

test('cardea.js falls back to HTTP when the WebSocket cannot connect', CASE, async () => {
	const closedPort = await freePort();
	const r = await inPage(async options => {
		const gw = await window.cardea.connect(options);
		const session = await gw.createSession();
		const out = { transport: gw.transport, fallbackReason: gw.fallbackReason, sessionId: session.id };
		await session.destroy();
		gw.close();
		return out;
	}, { ws: `ws://127.0.0.1:${closedPort}`, http: '/janus' });
	assert.equal(r.transport, 'http', r.console);
	assert.match(r.fallbackReason, /WebSocket/);
	assert.ok(r.sessionId > 0);
});

test('cardea.js forced to WebSocket does not fall back', CASE, async () => {
	const closedPort = await freePort();
	const r = await inPage(async options => {
		try {
			await window.cardea.connect(options);
			return { result: 'connected' };
		} catch (err) {
			return { result: err.message };
		}
	}, { transport: 'ws', ws: `ws://127.0.0.1:${closedPort}`, http: '/janus' });
	assert.match(r.result, /WebSocket .*connection failed/);
});

test('the daemon exits with status 0 on SIGTERM', CASE, async () => {
	await browser.close();
	browser = null;
	await assertCleanExit(gw);
});
