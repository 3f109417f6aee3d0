// Janode (Meetecho's Node.js Janus client) against Cardea over WebSocket:
// session, attach to the test plugin, a synchronous and an asynchronous
// plugin message, detach, destroy, close, and a clean daemon exit.
//
// The daemon is started the way tests/integration/gateway.py does it: the
// installed binary and transports ($CARDEA_PREFIX), the test plugin copied
// from the build ($CARDEA_BUILD/tests/plugins/.libs) into a private plugins
// folder, configs in a temp folder, free loopback ports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PREFIX = process.env.CARDEA_PREFIX || path.join(REPO, '_install');
const BUILD = process.env.CARDEA_BUILD || REPO;
const PLUGIN = 'cardea.plugin.test';
const START_TIMEOUT_MS = Number(process.env.CARDEA_START_TIMEOUT || 20) * 1000;
const STOP_TIMEOUT_MS = Number(process.env.CARDEA_STOP_TIMEOUT || 5) * 1000;

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

function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => ([8088, 8188, 7088, 7188].includes(port) ? freePort().then(resolve, reject) : resolve(port)));
		});
	});
}

function jcfg(sections) {
	return Object.entries(sections).map(([name, keys]) =>
		`${name}: {\n` + Object.entries(keys).map(([k, v]) =>
			`\t${k} = ${typeof v === 'string' ? JSON.stringify(v) : String(v)}\n`).join('') + '}\n').join('');
}

const daemon = { proc: null, dir: null, log: null, exit: null };

function logTail(lines = 60) {
	try {
		return fs.readFileSync(daemon.log, 'utf8').split('\n').slice(-lines).join('\n');
	} catch {
		return '';
	}
}

async function startDaemon() {
	const binary = path.join(PREFIX, 'bin', 'cardea');
	const transports = path.join(PREFIX, 'lib', 'cardea', 'transports');
	const pluginSo = path.join(BUILD, 'tests', 'plugins', '.libs', 'cardea_plugin_test.so');
	for (const p of [binary, path.join(transports, 'cardea_transport_http.so'),
		path.join(transports, 'cardea_transport_websockets.so'), pluginSo]) {
		if (!fs.existsSync(p))
			throw new Error(`missing ${p}: build and make install into CARDEA_PREFIX=${PREFIX}, and set CARDEA_BUILD (now ${BUILD})`);
	}
	daemon.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cardea-e2e-'));
	const plugins = path.join(daemon.dir, 'plugins');
	fs.mkdirSync(plugins);
	fs.copyFileSync(pluginSo, path.join(plugins, path.basename(pluginSo)));
	const httpPort = await freePort();
	const wsPort = await freePort();
	fs.writeFileSync(path.join(daemon.dir, 'cardea.jcfg'), jcfg({
		general: { server_name: 'cardea-e2e', session_timeout: 60, debug_level: 4 },
	}));
	fs.writeFileSync(path.join(daemon.dir, 'cardea.transport.http.jcfg'), jcfg({
		general: { port: httpPort, ip: '127.0.0.1', base_path: '/janus' },
		admin: { admin_http: false },
	}));
	fs.writeFileSync(path.join(daemon.dir, 'cardea.transport.websockets.jcfg'), jcfg({
		general: { ws_port: wsPort, ws_ip: '127.0.0.1' },
		admin: { admin_ws: false },
	}));
	daemon.log = path.join(daemon.dir, 'daemon.log');
	const out = fs.openSync(daemon.log, 'w');
	daemon.proc = spawn(binary, ['-C', path.join(daemon.dir, 'cardea.jcfg'), '-F', daemon.dir,
		'-P', plugins, '-T', transports, '-d', '4'], { stdio: ['ignore', out, out], cwd: daemon.dir });
	fs.closeSync(out);
	daemon.proc.on('exit', (code, signal) => { daemon.exit = { code, signal }; });

	// Ready when HTTP answers /info and the WebSocket port accepts connections.
	const deadline = Date.now() + START_TIMEOUT_MS;
	for (;;) {
		if (daemon.exit)
			throw new Error(`daemon exited (${JSON.stringify(daemon.exit)}) during start-up:\n${logTail()}`);
		if (Date.now() > deadline)
			throw new Error(`daemon not ready after ${START_TIMEOUT_MS} ms:\n${logTail()}`);
		try {
			const r = await fetch(`http://127.0.0.1:${httpPort}/janus/info`, { signal: AbortSignal.timeout(1000) });
			const info = await r.json();
			if (info.janus === 'server_info' && await portOpen(wsPort))
				break;
		} catch {
			// not listening yet
		}
		await new Promise(r => setTimeout(r, 50));
	}
	return `ws://127.0.0.1:${wsPort}`;
}

function portOpen(port) {
	return new Promise(resolve => {
		const s = net.connect(port, '127.0.0.1');
		s.once('connect', () => { s.destroy(); resolve(true); });
		s.once('error', () => resolve(false));
	});
}

// Sends SIGTERM by PID and waits for the exit; SIGKILL after the budget.
async function stopDaemon() {
	if (!daemon.proc || daemon.exit)
		return daemon.exit;
	const exited = once(daemon.proc, 'exit');
	process.kill(daemon.proc.pid, 'SIGTERM');
	const timer = setTimeout(() => { if (!daemon.exit) process.kill(daemon.proc.pid, 'SIGKILL'); }, STOP_TIMEOUT_MS);
	await exited;
	clearTimeout(timer);
	return daemon.exit;
}

let wsUrl, connection, session, handle;
// Janode's detach() logs errors instead of throwing, so a failed step can
// only show up as a missing event: every step has a deadline.
const STEP = { timeout: 15000 };

before(async () => {
	wsUrl = await startDaemon();
});

after(async () => {
	// After a failure mid-way, don't leave a socket or keepalive timer behind.
	if (connection)
		await connection.close().catch(() => {});
	try {
		await stopDaemon();
	} finally {
		if (daemon.dir)
			fs.rmSync(daemon.dir, { recursive: true, force: true });
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
	const exit = await stopDaemon();
	assert.deepEqual(exit, { code: 0, signal: null }, logTail());
});
