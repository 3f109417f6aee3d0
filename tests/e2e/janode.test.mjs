// Janode (Meetecho's Node.js Janus client) against Cardea over WebSocket:
// session, attach to the test plugin, a synchronous and an asynchronous
// plugin message, detach, destroy, close, and a clean daemon exit.
//
// The daemon comes from lib/gateway.mjs (installed binary and transports,
// the test plugin copied from $CARDEA_BUILD/tests/plugins/.libs, temp
// configs, free loopback ports).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { once } from 'node:events';
import { startGateway, testPluginSo, assertCleanExit } from './lib/gateway.mjs';

// Janode statically imports its Unix-socket transport, whose native addon
// (unix-dgram) only exists when npm runs install scripts; tests/e2e/.npmrc
// turns those off (no compiler or node headers needed). We only use
// WebSockets, so that one import resolves to a stub.
const hooks = `export async function resolve(specifier, context, next) {
	if (specifier === 'unix-dgram')
		return { url: 'data:text/javascript,export function createSocket() { throw new Error("unix-dgram is stubbed in the Cardea e2e tests"); }', shortCircuit: true };
	return next(specifier, context);
}`;
register('data:text/javascript,' + encodeURIComponent(hooks), import.meta.url);
const { default: Janode } = await import('janode');
const { default: Handle } = await import('janode/handle');

const PLUGIN = 'cardea.plugin.test';

Janode.Logger.setLevel(process.env.JANODE_LOG || 'warn');

// A generic Janode handle for the test plugin. Janode's base Handle closes a
// request's transaction on a synchronous `success`, ignores the `ack`, and
// hands `event`s to handleMessage: closing the transaction there is what makes
// handle.message() resolve with the asynchronous answer. Every message seen
// for this handle is recorded so the tests can check the ack-then-event order.
class TestHandle extends Handle {
	constructor(session, id) {
		super(session, id);
		this.seen = [];
	}

	_handleMessage(msg) {
		this.seen.push({ janus: msg.janus, transaction: msg.transaction });
		return super._handleMessage(msg);
	}

	handleMessage(msg) {
		const { plugindata, transaction } = msg;
		if (!plugindata || plugindata.plugin !== PLUGIN)
			return null;
		if (msg.janus === 'event' && transaction && this.ownsTransaction(transaction))
			this.closeTransactionWithSuccess(transaction, msg);
		return msg;
	}
}

let gw, wsUrl, connection, session, handle;
// Janode's detach() logs errors instead of throwing, so a failed step can
// only show up as a missing event: every step has a deadline.
const STEP = { timeout: 15000 };

before(async () => {
	gw = await startGateway({ plugins: [testPluginSo()] });
	wsUrl = gw.wsUrl;
});

after(async () => {
	// After a failure mid-way, don't leave a socket or keepalive timer behind.
	if (connection)
		await connection.close().catch(() => {});
	if (!gw)
		return;
	try {
		await gw.stop();
	} finally {
		gw.cleanup();
	}
});

test('Janode connects over WebSocket and creates a session', STEP, async () => {
	connection = await Janode.connect({ is_admin: false, address: { url: wsUrl }, max_retries: 1, retry_time_secs: 1 });
	session = await connection.create();
	assert.ok(Number.isSafeInteger(session.id) && session.id > 0, `session id ${session.id}`);
});

test(`attaches ${PLUGIN}`, STEP, async () => {
	handle = await session.attach({ id: PLUGIN, Handle: TestHandle });
	assert.ok(Number.isSafeInteger(handle.id) && handle.id > 0, `handle id ${handle.id}`);
	assert.notEqual(handle.id, session.id);
});

test('ping is answered synchronously with pong', STEP, async () => {
	const res = await handle.message({ request: 'ping' });
	assert.equal(res.janus, 'success');
	assert.equal(res.sender, handle.id);
	assert.equal(res.session_id, session.id);
	assert.deepEqual(res.plugindata, { plugin: PLUGIN, data: { test: 'pong' } });
	assert.deepEqual(handle.seen.filter(m => m.transaction === res.transaction).map(m => m.janus), ['success']);
});

test('echo is acked, then answered by an event carrying the body', STEP, async () => {
	const body = { request: 'echo', text: 'hello from janode', n: 7, nested: { list: [1, 'two', null, true] } };
	const res = await handle.message(body);
	assert.equal(res.janus, 'event');
	assert.equal(res.sender, handle.id);
	assert.equal(res.session_id, session.id);
	assert.deepEqual(res.plugindata, { plugin: PLUGIN, data: { test: 'echo', body } });
	assert.deepEqual(handle.seen.filter(m => m.transaction === res.transaction).map(m => m.janus), ['ack', 'event']);
});

test('detaches the handle', STEP, async () => {
	const detached = once(handle, Janode.EVENT.HANDLE_DETACHED);
	await handle.detach();
	await detached;
});

test('destroys the session and closes the connection', STEP, async () => {
	const destroyed = once(session, Janode.EVENT.SESSION_DESTROYED);
	await session.destroy();
	await destroyed;
	const closed = once(connection, Janode.EVENT.CONNECTION_CLOSED);
	await connection.close();
	await closed;
	connection = null;
});

test('the daemon exits with status 0 on SIGTERM', STEP, async () => {
	await assertCleanExit(gw);
});
