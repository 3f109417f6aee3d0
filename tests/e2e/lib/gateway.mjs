// Starts a private Cardea daemon for one test file, the way
// tests/integration/gateway.py does it: the installed binary and transports
// ($CARDEA_PREFIX), the plugins a test asks for copied into a private plugins
// folder, configs in a temp folder, free loopback ports for every listener.
//
//   const gw = await startGateway({ plugins: [echotestSo()], core: { nat: {...} } });
//   ... gw.httpUrl, gw.apiUrl, gw.wsUrl ...
//   const exit = await gw.stop();     // SIGTERM by PID; { code, signal }
//   gw.cleanup();                     // removes the temp folder
//
// CARDEA_TEST_TARGET=janus runs the same tests against Debian's Janus
// (/usr/bin/janus) instead, as tests/integration/gateway.py does: a check of
// the tests themselves, never of Cardea. Plugins map by name
// (cardea_plugin_videoroom.so -> libjanus_videoroom.so), and as Janus has no
// static file server, a small Node one serves the page folder and forwards
// /janus to the daemon (same origin, as with Cardea).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const PREFIX = process.env.CARDEA_PREFIX || path.join(REPO, '_install');
export const BUILD = process.env.CARDEA_BUILD || REPO;
export const TARGET = process.env.CARDEA_TEST_TARGET || 'cardea';
const JANUS_BIN = process.env.JANUS_BIN || '/usr/bin/janus';
const JANUS_LIBDIR = process.env.JANUS_LIBDIR || '/usr/lib/x86_64-linux-gnu/janus';

// Sanitizer builds (configure --enable-sanitizers): UBSan stops the daemon
// instead of only printing, and any ASan/LSan/UBSan report in its log fails
// the test (see gw.stop). Harmless for normal builds.
const SANITIZER_ENV = { UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1', ASAN_OPTIONS: 'detect_leaks=1' };
const SANITIZER_REPORT = /ERROR: (AddressSanitizer|LeakSanitizer)|\.c:\d+:\d+: runtime error:/;

function sanitizerReport(log) {
	let text;
	try {
		text = fs.readFileSync(log, 'utf8');
	} catch {
		return null;
	}
	const m = SANITIZER_REPORT.exec(text);
	if (!m)
		return null;
	const start = text.lastIndexOf('\n', m.index) + 1;
	return text.slice(start).split('\n').slice(0, 40).join('\n');
}

const START_TIMEOUT_MS = Number(process.env.CARDEA_START_TIMEOUT || 20) * 1000;
const STOP_TIMEOUT_MS = Number(process.env.CARDEA_STOP_TIMEOUT || 5) * 1000;
// Ports the quick start and other engineers' daemons use: never ours.
const RESERVED_PORTS = [8088, 8188, 7088, 7188];

// The test plugin lives only in the build tree (it is not installed).
export function testPluginSo() {
	return path.join(BUILD, 'tests', 'plugins', '.libs', 'cardea_plugin_test.so');
}

// Media plugins are installed with the daemon.
export function installedPluginSo(name) {
	return path.join(PREFIX, 'lib', 'cardea', 'plugins', `cardea_plugin_${name}.so`);
}

export function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => (RESERVED_PORTS.includes(port) ? freePort().then(resolve, reject) : resolve(port)));
		});
	});
}

export function portOpen(port) {
	return new Promise(resolve => {
		const s = net.connect(port, '127.0.0.1');
		s.once('connect', () => { s.destroy(); resolve(true); });
		s.once('error', () => resolve(false));
	});
}

// { section: { key: value } } -> .jcfg text. Strings are quoted (JSON
// escaping is valid libconfig), numbers and booleans written bare.
export function jcfg(sections) {
	return Object.entries(sections).map(([name, keys]) =>
		`${name}: {\n` + Object.entries(keys).map(([k, v]) =>
			`\t${k} = ${typeof v === 'string' ? JSON.stringify(v) : String(v)}\n`).join('') + '}\n').join('');
}

// Shallow per-section merge: the caller's keys win over the defaults.
function merge(base, extra = {}) {
	const out = { ...base };
	for (const [section, keys] of Object.entries(extra))
		out[section] = { ...(out[section] || {}), ...keys };
	return out;
}

/**
 * Options (all optional):
 *   plugins   .so paths copied into the daemon's private plugins folder
 *   core      extra cardea.jcfg sections, e.g. { nat: { ice_enforce_list: '127.0.0.1' } }
 *   http      extra cardea.transport.http.jcfg sections (e.g. static serving)
 *   ws        extra cardea.transport.websockets.jcfg sections
 *   admin     true: Admin API over HTTP and WS on free loopback ports
 *   pluginConfigs  { name: { section: { key: value } } } written as the
 *             plugin's own config, e.g. { videoroom: { general: {} } }
 *   debug     daemon log level (default 4)
 */
export async function startGateway(opts = {}) {
	if (TARGET === 'janus')
		return startJanus(opts);
	if (TARGET !== 'cardea')
		throw new Error(`CARDEA_TEST_TARGET must be cardea or janus, not ${TARGET}`);
	const binary = path.join(PREFIX, 'bin', 'cardea');
	const transports = path.join(PREFIX, 'lib', 'cardea', 'transports');
	const plugins = opts.plugins || [];
	for (const p of [binary, path.join(transports, 'cardea_transport_http.so'),
		path.join(transports, 'cardea_transport_websockets.so'), ...plugins]) {
		if (!fs.existsSync(p))
			throw new Error(`missing ${p}: build and make install into CARDEA_PREFIX=${PREFIX}, and set CARDEA_BUILD (now ${BUILD})`);
	}

	const gw = {
		proc: null, exit: null, log: null,
		dir: fs.mkdtempSync(path.join(os.tmpdir(), 'cardea-e2e-')),
		httpPort: await freePort(),
		wsPort: await freePort(),
		adminHttpPort: opts.admin ? await freePort() : null,
		adminWsPort: opts.admin ? await freePort() : null,
		adminSecret: 'e2e-admin-secret',
	};
	gw.httpUrl = `http://127.0.0.1:${gw.httpPort}`;
	gw.apiUrl = `${gw.httpUrl}/janus`;
	gw.wsUrl = `ws://127.0.0.1:${gw.wsPort}`;
	if (opts.admin) {
		gw.adminUrl = `http://127.0.0.1:${gw.adminHttpPort}/admin`;
		gw.adminWsUrl = `ws://127.0.0.1:${gw.adminWsPort}`;
	}

	const pluginsDir = path.join(gw.dir, 'plugins');
	fs.mkdirSync(pluginsDir);
	for (const so of plugins)
		fs.copyFileSync(so, path.join(pluginsDir, path.basename(so)));

	fs.writeFileSync(path.join(gw.dir, 'cardea.jcfg'), jcfg(merge({
		general: { server_name: 'cardea-e2e', session_timeout: 60, debug_level: opts.debug ?? 4,
			admin_secret: gw.adminSecret },
	}, opts.core)));
	fs.writeFileSync(path.join(gw.dir, 'cardea.transport.http.jcfg'), jcfg(merge({
		general: { port: gw.httpPort, ip: '127.0.0.1', base_path: '/janus' },
		admin: opts.admin
			? { admin_http: true, admin_port: gw.adminHttpPort, admin_ip: '127.0.0.1', admin_base_path: '/admin' }
			: { admin_http: false },
		static: { enabled: false },
	}, opts.http)));
	fs.writeFileSync(path.join(gw.dir, 'cardea.transport.websockets.jcfg'), jcfg(merge({
		general: { ws_port: gw.wsPort, ws_ip: '127.0.0.1' },
		admin: opts.admin
			? { admin_ws: true, admin_ws_port: gw.adminWsPort, admin_ws_ip: '127.0.0.1' }
			: { admin_ws: false },
	}, opts.ws)));
	writePluginConfigs(gw.dir, 'cardea', opts.pluginConfigs);

	spawnDaemon(gw, binary, ['-C', path.join(gw.dir, 'cardea.jcfg'), '-F', gw.dir,
		'-P', pluginsDir, '-T', transports, '-d', String(opts.debug ?? 4)]);
	await waitReady(gw, opts);
	return gw;
}

function writePluginConfigs(dir, prefix, configs = {}) {
	for (const [name, sections] of Object.entries(configs))
		fs.writeFileSync(path.join(dir, `${prefix}.plugin.${name}.jcfg`), jcfg(sections));
}

// Starts the daemon with its output in gw.log and adds gw.stop, gw.logTail
// and gw.cleanup.
function spawnDaemon(gw, binary, args) {
	gw.log = path.join(gw.dir, 'daemon.log');
	const out = fs.openSync(gw.log, 'w');
	gw.proc = spawn(binary, args,
		{ stdio: ['ignore', out, out], cwd: gw.dir, env: { ...SANITIZER_ENV, ...process.env } });
	fs.closeSync(out);
	gw.proc.on('exit', (code, signal) => { gw.exit = { code, signal }; });

	gw.logTail = (lines = 60) => {
		try {
			return fs.readFileSync(gw.log, 'utf8').split('\n').slice(-lines).join('\n');
		} catch {
			return '';
		}
	};

	// Sends SIGTERM by PID and waits for the exit; SIGKILL after the budget.
	gw.stop = async () => {
		if (!gw.proc)
			return gw.exit;
		if (!gw.exit) {
			const exited = once(gw.proc, 'exit');
			process.kill(gw.proc.pid, 'SIGTERM');
			const timer = setTimeout(() => { if (!gw.exit) process.kill(gw.proc.pid, 'SIGKILL'); }, STOP_TIMEOUT_MS);
			await exited;
			clearTimeout(timer);
		}
		// A sanitizer build's report fails whoever stops the daemon first,
		// also when it already died of it (ASan aborts, UBSan halts).
		if (!gw.sanitizerChecked) {
			gw.sanitizerChecked = true;
			const report = sanitizerReport(gw.log);
			if (report)
				throw new Error(`sanitizer report in ${gw.log}:\n${report}`);
		}
		return gw.exit;
	};

	gw.cleanup = () => {
		gw.staticServer?.close();
		gw.staticServer?.closeAllConnections?.();
		fs.rmSync(gw.dir, { recursive: true, force: true });
	};
}

// Ready when HTTP answers /info and every WebSocket port accepts.
async function waitReady(gw, opts) {
	const wsPorts = [gw.wsPort, ...(opts.admin ? [gw.adminWsPort] : [])];
	const deadline = Date.now() + START_TIMEOUT_MS;
	for (;;) {
		if (gw.exit) {
			const tail = gw.logTail();
			gw.cleanup();
			throw new Error(`daemon exited (${JSON.stringify(gw.exit)}) during start-up:\n${tail}`);
		}
		if (Date.now() > deadline) {
			const tail = gw.logTail();
			await gw.stop();
			gw.cleanup();
			throw new Error(`daemon not ready after ${START_TIMEOUT_MS} ms:\n${tail}`);
		}
		try {
			const r = await fetch(`${gw.apiUrl}/info`, { signal: AbortSignal.timeout(1000) });
			const info = await r.json();
			if (info.janus === 'server_info' && (await Promise.all(wsPorts.map(portOpen))).every(Boolean))
				break;
		} catch {
			// not listening yet
		}
		await new Promise(r => setTimeout(r, 50));
	}
}

// ---- CARDEA_TEST_TARGET=janus ----

async function startJanus(opts) {
	if (!fs.existsSync(JANUS_BIN))
		throw new Error(`CARDEA_TEST_TARGET=janus but ${JANUS_BIN} is missing`);
	const gw = {
		proc: null, exit: null, log: null, target: 'janus',
		dir: fs.mkdtempSync(path.join(os.tmpdir(), 'cardea-e2e-janus-')),
		httpPort: await freePort(),
		wsPort: await freePort(),
		adminHttpPort: opts.admin ? await freePort() : null,
		adminWsPort: opts.admin ? await freePort() : null,
		adminSecret: 'e2e-admin-secret',
	};
	gw.apiUrl = `http://127.0.0.1:${gw.httpPort}/janus`;
	gw.httpUrl = `http://127.0.0.1:${gw.httpPort}`;
	gw.wsUrl = `ws://127.0.0.1:${gw.wsPort}`;
	if (opts.admin) {
		gw.adminUrl = `http://127.0.0.1:${gw.adminHttpPort}/admin`;
		gw.adminWsUrl = `ws://127.0.0.1:${gw.adminWsPort}`;
	}
	const plugins = (opts.plugins || []).map(so =>
		path.basename(so).replace(/^cardea_plugin_(\w+)\.so$/, 'libjanus_$1.so'));
	const dirs = {};
	for (const [kind, keep] of [['plugins', plugins], ['transports', ['libjanus_http.so', 'libjanus_websockets.so']],
		['events', []], ['loggers', []]]) {
		dirs[kind] = path.join(gw.dir, kind);
		fs.mkdirSync(dirs[kind]);
		for (const so of keep) {
			if (!fs.existsSync(path.join(JANUS_LIBDIR, kind, so)))
				throw new Error(`missing ${path.join(JANUS_LIBDIR, kind, so)}`);
			fs.symlinkSync(path.join(JANUS_LIBDIR, kind, so), path.join(dirs[kind], so));
		}
	}
	const core = { ...(opts.core || {}) };
	// Janus matches ice_enforce_list entries against interface names and
	// addresses alike; Cardea-only sections are dropped.
	delete core.auth;
	fs.writeFileSync(path.join(gw.dir, 'janus.jcfg'), jcfg(merge({
		general: { server_name: 'janus-e2e', session_timeout: 60, debug_level: opts.debug ?? 4,
			admin_secret: gw.adminSecret, plugins_folder: dirs.plugins, transports_folder: dirs.transports,
			events_folder: dirs.events, loggers_folder: dirs.loggers },
		certificates: {}, media: { rtp_port_range: '40000-50000' },
		nat: { ice_ignore_list: 'vmnet', ignore_mdns: true },
		plugins: {}, transports: {}, loggers: {}, events: { broadcast: false },
	}, core)));
	fs.writeFileSync(path.join(gw.dir, 'janus.transport.http.jcfg'), jcfg({
		general: { json: 'compact', http: true, https: false, port: gw.httpPort, ip: '127.0.0.1', base_path: '/janus' },
		admin: opts.admin
			? { admin_http: true, admin_https: false, admin_port: gw.adminHttpPort, admin_ip: '127.0.0.1', admin_base_path: '/admin' }
			: { admin_http: false, admin_https: false },
		cors: {},
	}));
	fs.writeFileSync(path.join(gw.dir, 'janus.transport.websockets.jcfg'), jcfg({
		general: { json: 'compact', ws: true, wss: false, ws_port: gw.wsPort, ws_ip: '127.0.0.1' },
		admin: opts.admin
			? { admin_ws: true, admin_wss: false, admin_ws_port: gw.adminWsPort, admin_ws_ip: '127.0.0.1' }
			: { admin_ws: false, admin_wss: false },
		cors: {},
	}));
	for (const so of plugins)
		fs.writeFileSync(path.join(gw.dir, so.replace(/^libjanus_(\w+)\.so$/, 'janus.plugin.$1.jcfg')), 'general: {\n}\n');
	writePluginConfigs(gw.dir, 'janus', opts.pluginConfigs);

	spawnDaemon(gw, JANUS_BIN, ['-C', path.join(gw.dir, 'janus.jcfg'), '-F', gw.dir, '-o',
		'-d', String(opts.debug ?? 4)]);
	await waitReady(gw, opts);
	const folder = opts.http?.static?.enabled ? opts.http.static.folder : null;
	if (folder) {
		gw.staticServer = await serveStatic(folder, gw.httpPort);
		gw.httpUrl = `http://127.0.0.1:${gw.staticServer.address().port}`;
	}
	return gw;
}

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css' };

// Files from `folder`; /janus/... forwarded to the daemon's HTTP port.
function serveStatic(folder, apiPort) {
	const server = http.createServer((req, res) => {
		if (req.url.startsWith('/janus')) {
			const fwd = http.request({ host: '127.0.0.1', port: apiPort, path: req.url, method: req.method,
				headers: req.headers }, up => {
				res.writeHead(up.statusCode, up.headers);
				up.pipe(res);
			});
			fwd.on('error', () => { res.writeHead(502); res.end(); });
			req.pipe(fwd);
			return;
		}
		const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '') || 'index.html';
		const file = path.resolve(folder, rel);
		if (!file.startsWith(path.resolve(folder) + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
			res.writeHead(404);
			res.end();
			return;
		}
		res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] || 'application/octet-stream' });
		fs.createReadStream(file).pipe(res);
	});
	return new Promise(resolve => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// Stops gw with SIGTERM (by PID) and asserts it exited with status 0, with
// its log tail in the failure message.
export async function assertCleanExit(gw) {
	const exit = await gw.stop();
	assert.deepEqual(exit, { code: 0, signal: null }, gw.logTail());
}
