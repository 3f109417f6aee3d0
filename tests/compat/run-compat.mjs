// Runs the shared black-box compatibility check (../shared/compat/run.sh: the
// real janus.js in Debian's Chromium) against a Cardea daemon started here on
// free loopback ports. Its output, including the closing "N passed, N failed"
// line, is passed through; the exit code is the check's, or non-zero if the
// daemon does not stop cleanly.
//
//   node tests/compat/run-compat.mjs              # ONLY="echotest videoroom" by default
//   COMPAT_ONLY=echotest node tests/compat/run-compat.mjs                   # one case only
//   CARDEA_TEST_TARGET=janus COMPAT_ONLY=videoroom node tests/compat/run-compat.mjs   # Debian's Janus
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startGateway, installedPluginSo, REPO, TARGET } from '../e2e/lib/gateway.mjs';

const shared = process.env.CARDEA_SHARED || path.resolve(REPO, '..', 'shared');
const source = path.join(shared, 'compat');
if (!fs.existsSync(path.join(source, 'run.sh'))) {
	console.error(`no ${source}/run.sh: the shared folder must sit beside the repository (or set CARDEA_SHARED)`);
	console.log('0 passed, 1 failed');
	process.exit(1);
}
// Never write into shared/: run from a private copy (its npm install is kept
// between runs, its logs are not). COMPAT_DIR is where run-all.sh reads the TAP.
const work = process.env.COMPAT_DIR || path.join(REPO, 'logs', 'compat');
for (const entry of fs.readdirSync(source)) {
	if (entry === 'node_modules' || entry === 'logs')
		continue;
	fs.cpSync(path.join(source, entry), path.join(work, entry), { recursive: true, force: true });
}
fs.rmSync(path.join(work, 'logs'), { recursive: true, force: true });
for (const f of fs.readdirSync(work, { recursive: true }))
	fs.chmodSync(path.join(work, f), fs.statSync(path.join(work, f)).isDirectory() ? 0o755 : 0o644);
fs.chmodSync(path.join(work, 'run.sh'), 0o755);
const script = path.join(work, 'run.sh');
const only = process.env.COMPAT_ONLY ?? 'echotest videoroom';
const plugins = only.split(/\s+/).filter(Boolean).map((p) => installedPluginSo(p));
for (const so of plugins) {
	// (the Janus target maps the names to Janus's own plugins)
	if (TARGET === 'cardea' && !fs.existsSync(so)) {
		console.error(`missing ${so}: build and install first`);
		console.log('0 passed, 1 failed');
		process.exit(1);
	}
}

// Media stays on this host: the gateway gathers on loopback only.
// Plugins get an empty config: the videoroom case creates its own rooms.
const pluginConfigs = Object.fromEntries(only.split(/\s+/).filter(Boolean).map((p) => [p, { general: {} }]));
const gw = await startGateway({ plugins, pluginConfigs, admin: true, core: { nat: { ice_enforce_list: '127.0.0.1' } } });
let code = 1;
try {
	const child = spawn('bash', [script], {
		stdio: 'inherit',
		env: {
			...process.env,
			GW_HTTP: gw.apiUrl, GW_WS: gw.wsUrl,
			GW_ADMIN_HTTP: gw.adminUrl, GW_ADMIN_SECRET: gw.adminSecret,
			ONLY: only,
		},
	});
	code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(sig ? 1 : c)));
} finally {
	const exit = await gw.stop();
	if (exit.code !== 0) {
		console.error(`the daemon did not stop cleanly: ${JSON.stringify(exit)}\n${gw.logTail ? gw.logTail() : ''}`);
		console.log('0 passed, 1 failed');
		code = code || 1;
	}
	gw.cleanup();
}
process.exit(code);
