// A Chromium WebRTC peer driven over stdin/stdout, for tests that need what
// aiortc cannot do (an ICE restart). The same JSON-lines protocol as
// netpeer.py, so netns.NetPeer drives it:
//
//   node browserpeer.mjs [--netns NS]
//
// With --netns, Chromium runs inside that network namespace (through
// `ip netns exec`, which keeps the DevTools pipe fds playwright talks over),
// while this process stays where it was started. Signalling goes through the
// test, so the page needs no network access to the gateway's API.
//
// Commands, one JSON object per stdin line, each answered by one JSON line
// ({"error": "..."} when it failed):
//   {"cmd": "offer", "restart": false, "recvonly": false}  -> {"sdp": OFFER}  sendrecv
//        audio + video from the fake camera and microphone (recvonly: true, the first
//        time: a receive-only audio + video offer, as a WHEP player makes); restart:
//        true = createOffer({iceRestart: true}) on the existing connection, as janus.js
//        does for iceRestart. Returned once gathering completed (no trickle), or after
//        3 s with what was gathered.
//   {"cmd": "answer", "sdp": ANSWER}    -> {}
//   {"cmd": "addresses"}                -> {"addresses": [...]} the host candidate addresses
//        a new RTCPeerConnection gathers now: what the browser believes its
//        addresses are (it learns of an address change ~2 s later)
//   {"cmd": "stats"}                    -> {framesDecoded, packetsReceived, bytesReceived,
//        ice, connection, pair, localAddress}: the inbound video and the selected pair
//   {"cmd": "close"}                    -> {} and exit
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// playwright-core is installed for the browser tests (tests/e2e).
const require = createRequire(path.join(HERE, '..', 'e2e', 'package.json'));
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CARDEA_CHROMIUM || '/usr/bin/chromium';
const IP = fs.existsSync('/usr/sbin/ip') ? '/usr/sbin/ip' : 'ip';
const GATHER_MS = 3000;
const ARGS = [
	'--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	'--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
	// Real host addresses in the candidates: the gateway does not resolve mDNS names.
	'--disable-features=WebRtcHideLocalIpsWithMdns',
];

const argv = process.argv.slice(2);
const netns = argv[0] === '--netns' ? argv[1] : null;

const out = obj => process.stdout.write(JSON.stringify(obj) + '\n');

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cardea-browserpeer-'));
let executable = CHROMIUM;
if (netns) {
	executable = path.join(profile, 'chromium-in-netns');
	fs.writeFileSync(executable, `#!/bin/sh\nexec ${IP} netns exec '${netns}' '${CHROMIUM}' "$@"\n`, { mode: 0o755 });
}
const userData = path.join(profile, 'data');
fs.mkdirSync(userData);

let context = null;
async function quit(code) {
	await context?.close().catch(() => {});
	fs.rmSync(profile, { recursive: true, force: true });
	process.exit(code);
}
process.on('SIGTERM', () => quit(0));

// CARDEA_CHROMIUM_ARGS: extra flags for debugging, e.g. "--enable-logging=stderr
// --vmodule=*/p2p/*=2" (the browser's stderr shows with DEBUG=pw:browser).
const extra = (process.env.CARDEA_CHROMIUM_ARGS || '').split(' ').filter(Boolean);
context = await chromium.launchPersistentContext(userData, { executablePath: executable, args: [...ARGS, ...extra], timeout: 30000 });
const page = context.pages()[0] || await context.newPage();
// A file: page is a secure context (getUserMedia) and needs no server.
const html = path.join(profile, 'peer.html');
fs.writeFileSync(html, '<!doctype html><title>browserpeer</title><video id="v" autoplay muted playsinline></video>');
await page.goto(`file://${html}`);

// Everything below runs in the page.
await page.evaluate(() => {
	window.peer = {
		pc: null,
		async offer(restart, recvonly, gatherMs) {
			if (!this.pc) {
				this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
				if (recvonly) {
					this.pc.addTransceiver('audio', { direction: 'recvonly' });
					this.pc.addTransceiver('video', { direction: 'recvonly' });
				} else {
					const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
					for (const t of stream.getTracks())
						this.pc.addTrack(t, stream);
				}
				const remote = new MediaStream();
				this.pc.ontrack = ev => remote.addTrack(ev.track);
				document.getElementById('v').srcObject = remote;
			}
			const pc = this.pc;
			const done = new Promise(resolve => {
				const check = () => { if (pc.iceGatheringState === 'complete') resolve(); };
				pc.addEventListener('icegatheringstatechange', check);
				setTimeout(resolve, gatherMs);
			});
			await pc.setLocalDescription(await pc.createOffer(restart ? { iceRestart: true } : {}));
			await done;
			return pc.localDescription.sdp;
		},
		async addresses(gatherMs) {
			const pc = new RTCPeerConnection();
			const found = new Set();
			pc.onicecandidate = ev => {
				const m = ev.candidate && / (\S+) \d+ typ host/.exec(ev.candidate.candidate);
				if (m)
					found.add(m[1]);
			};
			const done = new Promise(resolve => {
				pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
				setTimeout(resolve, gatherMs);
			});
			pc.addTransceiver('audio');
			await pc.setLocalDescription();
			await done;
			pc.close();
			return [...found];
		},
		async answer(sdp) {
			await this.pc.setRemoteDescription({ type: 'answer', sdp });
		},
		async stats() {
			const pc = this.pc;
			const s = { framesDecoded: 0, packetsReceived: 0, bytesReceived: 0,
				ice: pc?.iceConnectionState, connection: pc?.connectionState, pair: null, localAddress: null };
			if (!pc)
				return s;
			const report = await pc.getStats();
			let pairId = null;
			report.forEach(r => {
				if (r.type === 'inbound-rtp' && r.kind === 'video') {
					s.framesDecoded = r.framesDecoded ?? 0;
					s.packetsReceived = r.packetsReceived ?? 0;
					s.bytesReceived = r.bytesReceived ?? 0;
				} else if (r.type === 'transport' && r.selectedCandidatePairId) {
					pairId = r.selectedCandidatePairId;
				}
			});
			const pair = pairId && report.get(pairId);
			if (pair) {
				const l = report.get(pair.localCandidateId), r = report.get(pair.remoteCandidateId);
				s.localAddress = l?.address ?? null;
				s.pair = `${l?.address}:${l?.port} ${l?.candidateType} -> ${r?.address}:${r?.port} ${r?.candidateType}`;
			}
			return s;
		},
	};
});

out({ ready: true });
for await (const line of createInterface({ input: process.stdin })) {
	let cmd;
	try {
		cmd = JSON.parse(line);
		if (cmd.cmd === 'offer')
			out({ sdp: await page.evaluate(([r, ro, ms]) => window.peer.offer(r, ro, ms), [!!cmd.restart, !!cmd.recvonly, GATHER_MS]) });
		else if (cmd.cmd === 'answer')
			out(await page.evaluate(sdp => window.peer.answer(sdp).then(() => ({})), cmd.sdp));
		else if (cmd.cmd === 'addresses')
			out({ addresses: await page.evaluate(ms => window.peer.addresses(ms), GATHER_MS) });
		else if (cmd.cmd === 'stats')
			out(await page.evaluate(() => window.peer.stats()));
		else if (cmd.cmd === 'close')
			break;
		else
			out({ error: `unknown command ${cmd.cmd}` });
	} catch (err) {
		out({ error: `${err.name}: ${err.message}` });
	}
}
out({});
await quit(0);
