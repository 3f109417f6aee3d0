// WHIP and WHEP (RFC 9725) from Chromium with nothing but fetch(): a page
// publishes an animated canvas with POST /whip/demo, a second page plays it
// with POST /whep/demo and decodes frames. Then each of them restarts ICE
// the WHIP way: pc.restartIce(), a new offer whose ICE credentials and
// candidates go in a PATCH (application/trickle-ice-sdpfrag, If-Match: *),
// the gateway's 200 brings its new credentials, its candidates (on new
// ports) and a new ETag, and the page applies them to the answer it already
// has. The selected candidate pair
// moves to the new credentials and the viewer keeps decoding.
//
// WHIP/WHEP live on Cardea's HTTP transport (Janus has no built-in
// counterpart): this file only runs against Cardea.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installedPluginSo, TARGET } from './lib/gateway.mjs';
import { recordConsole } from './lib/browser.mjs';
import { demoEnv, pollPage } from './lib/demo.mjs';

const CASE = { timeout: 120000, skip: TARGET === 'janus' ? 'no Janus counterpart' : false };
const CONNECT_MS = 20000;
const DECODE_MS = 30000;

// One daemon (broadcast plugin, html/ served for a same-origin page) and
// one Chromium for the file.
const env = TARGET === 'janus' ? {} : demoEnv({
	plugins: [installedPluginSo('broadcast')],
	pluginConfigs: { broadcast: { general: {}, demo: { description: 'Demo channel' } } },
});

// Installed in each page: a minimal WHIP/WHEP client on window.whip.
function installClient() {
	const gathered = pc => new Promise(resolve => {
		if (pc.iceGatheringState === 'complete')
			return resolve();
		const check = () => {
			if (pc.iceGatheringState === 'complete') {
				pc.removeEventListener('icegatheringstatechange', check);
				resolve();
			}
		};
		pc.addEventListener('icegatheringstatechange', check);
	});
	const attr = (sdp, name) => (sdp.match(new RegExp(`^a=${name}:(\\S+)`, 'm')) || [])[1];
	// RFC 8840 sdpfrag of our offer: credentials, the first (bundle) m-line
	// with its mid, its candidates, end-of-candidates.
	const sdpfrag = sdp => {
		const lines = sdp.split('\r\n');
		const first = lines.findIndex(l => l.startsWith('m='));
		const next = lines.findIndex((l, i) => i > first && l.startsWith('m='));
		const section = lines.slice(first, next < 0 ? undefined : next);
		return [`a=ice-ufrag:${attr(sdp, 'ice-ufrag')}`, `a=ice-pwd:${attr(sdp, 'ice-pwd')}`, section[0],
			...section.filter(l => l.startsWith('a=mid:') || l.startsWith('a=candidate:')),
			'a=end-of-candidates', ''].join('\r\n');
	};
	window.whip = {
		async start(url, publish) {
			const pc = new RTCPeerConnection();
			if (publish) {
				const canvas = document.createElement('canvas');
				canvas.width = 320;
				canvas.height = 240;
				document.body.appendChild(canvas);
				const ctx = canvas.getContext('2d');
				let n = 0;
				// Changing pictures, so the encoder keeps producing frames.
				setInterval(() => {
					ctx.fillStyle = `hsl(${(n++ * 7) % 360}, 80%, 50%)`;
					ctx.fillRect(0, 0, 320, 240);
					ctx.fillStyle = '#fff';
					ctx.fillText(String(n), 10, 20);
				}, 33);
				const stream = canvas.captureStream(30);
				pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly', streams: [stream] });
			} else {
				pc.addTransceiver('video', { direction: 'recvonly' });
			}
			await pc.setLocalDescription(await pc.createOffer());
			await gathered(pc);
			const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' },
				body: pc.localDescription.sdp });
			const answer = await r.text();
			if (r.status !== 201)
				throw new Error(`POST ${url}: ${r.status} ${answer}`);
			await pc.setRemoteDescription({ type: 'answer', sdp: answer });
			Object.assign(this, { pc, answer, resource: new URL(r.headers.get('Location'), url).href,
				etag: r.headers.get('ETag') });
			return { etag: this.etag, resource: this.resource };
		},
		// RFC 9725 4.3.3, the client's part.
		async restart() {
			const pc = this.pc;
			pc.restartIce();
			await pc.setLocalDescription(await pc.createOffer());
			await gathered(pc);
			const offer = pc.localDescription.sdp;
			const r = await fetch(this.resource, { method: 'PATCH', body: sdpfrag(offer),
				headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '*' } });
			const body = await r.text();
			const out = { status: r.status, type: r.headers.get('Content-Type'), etag: r.headers.get('ETag'),
				oldEtag: this.etag, body, ufrag: attr(offer, 'ice-ufrag'),
				oldServerUfrag: attr(this.answer, 'ice-ufrag'), oldServerPwd: attr(this.answer, 'ice-pwd'),
				serverUfrag: attr(body, 'ice-ufrag'), serverPwd: attr(body, 'ice-pwd') };
			if (r.status !== 200 || !out.serverUfrag || !out.serverPwd)
				return out;
			// The answer we have, with the gateway's new credentials and
			// candidates (a restart moves them to new ports) and a newer o= version.
			const candidates = body.split(/\r?\n/).filter(l => /^a=(candidate:|end-of-candidates)/.test(l));
			const answer = this.answer
				.replace(/^a=(candidate:|end-of-candidates).*\r?\n/gm, '')
				.replace(/^a=ice-ufrag:\S+/gm, `a=ice-ufrag:${out.serverUfrag}`)
				.replace(/^a=ice-pwd:\S+(\r?\n)/gm, (_, eol) => `a=ice-pwd:${out.serverPwd}${eol}` +
					candidates.map(c => c + eol).join(''))
				.replace(/^(o=\S+ \S+ )(\d+)/m, (_, head, v) => `${head}${BigInt(v) + 1n}`);
			await pc.setRemoteDescription({ type: 'answer', sdp: answer });
			this.answer = answer;
			this.etag = out.etag;
			return out;
		},
		async patch(body, ifMatch) {
			const headers = { 'Content-Type': 'application/trickle-ice-sdpfrag' };
			if (ifMatch)
				headers['If-Match'] = ifMatch;
			return (await fetch(this.resource, { method: 'PATCH', headers, body })).status;
		},
		async stop() {
			const r = await fetch(this.resource, { method: 'DELETE' });
			this.pc.close();
			return r.status;
		},
		// The selected pair's id and credentials, the ICE state, frames decoded.
		async stats() {
			const out = { ice: this.pc.iceConnectionState, decoded: 0, sent: 0 };
			const report = await this.pc.getStats();
			report.forEach(s => {
				if (s.type === 'inbound-rtp' && s.kind === 'video')
					out.decoded += s.framesDecoded || 0;
				if (s.type === 'outbound-rtp' && s.kind === 'video')
					out.sent += s.framesEncoded || 0;
				if (s.type === 'transport' && s.selectedCandidatePairId) {
					const pair = report.get(s.selectedCandidatePairId);
					out.pair = s.selectedCandidatePairId;
					out.localUfrag = report.get(pair?.localCandidateId)?.usernameFragment;
					out.remoteUfrag = report.get(pair?.remoteCandidateId)?.usernameFragment;
					out.pairState = pair?.state;
				}
			});
			return out;
		},
	};
}

async function openClient(logs) {
	const page = await env.browser.newPage();
	logs.push(recordConsole(page));
	// Any page of the gateway's origin: WHIP/WHEP are on the same port.
	await page.goto(`${env.gw.httpUrl}/index.html`);
	await page.evaluate(installClient);
	return page;
}

const stats = () => window.whip.stats();

// One restart of `page`'s resource; returns its stats once the selected
// pair uses the new credentials on both sides.
async function restartAndCheck(page, who, context) {
	const before = await page.evaluate(stats);
	const r = await page.evaluate(() => window.whip.restart());
	assert.equal(r.status, 200, `${who} restart: ${JSON.stringify(r)}${context()}`);
	assert.match(r.type, /^application\/trickle-ice-sdpfrag/);
	assert.ok(r.etag && r.etag !== r.oldEtag, `${who}: a new ETag (${r.oldEtag} -> ${r.etag})`);
	assert.ok(r.serverUfrag !== r.oldServerUfrag && r.serverPwd !== r.oldServerPwd,
		`${who}: new gateway credentials: ${JSON.stringify(r)}`);
	assert.match(r.body, /^m=video 9 /m);
	assert.match(r.body, /^a=candidate:/m);
	const after = await pollPage(page, stats, s => s.ice === 'connected' && s.localUfrag === r.ufrag &&
		s.remoteUfrag === r.serverUfrag && s.pairState === 'succeeded', CONNECT_MS);
	assert.equal(after.localUfrag, r.ufrag, `${who}: selected pair after the restart ${JSON.stringify(after)} ` +
		`(before ${JSON.stringify(before)})${context()}`);
	assert.equal(after.remoteUfrag, r.serverUfrag);
	assert.notEqual(after.localUfrag, before.localUfrag);
	assert.notEqual(after.pair, before.pair);
	// The old ICE session's ETag is stale now, the new one takes trickles.
	assert.equal(await page.evaluate(e => window.whip.patch('a=end-of-candidates\r\n', e), r.oldEtag), 412);
	assert.equal(await page.evaluate(e => window.whip.patch('a=end-of-candidates\r\n', e), r.etag), 204);
	return after;
}

test('Chromium publishes over WHIP and plays over WHEP with fetch(), and both restart ICE over PATCH', CASE, async () => {
	const gw = env.gw, logs = [];
	const context = () => `\n--- page consoles ---\n${logs.map(l => l.join('\n')).join('\n--\n')}\n--- daemon log ---\n${gw.logTail(30)}`;
	const publisher = await openClient(logs);
	const viewer = await openClient(logs);
	try {
		await publisher.evaluate(u => window.whip.start(u, true), `${gw.httpUrl}/whip/demo`);
		let s = await pollPage(publisher, stats, x => x.ice === 'connected' && x.sent > 0, CONNECT_MS);
		assert.ok(s.sent > 0, `publisher: ${JSON.stringify(s)}${context()}`);
		await viewer.evaluate(u => window.whip.start(u, false), `${gw.httpUrl}/whep/demo`);
		s = await pollPage(viewer, stats, x => x.decoded > 10, DECODE_MS);
		assert.ok(s.decoded > 10, `viewer decoded nothing: ${JSON.stringify(s)}${context()}`);
		// RFC 9725 4.3.1: a PATCH without If-Match is refused.
		assert.equal(await viewer.evaluate(() => window.whip.patch('a=end-of-candidates\r\n', null)), 428);

		// The publisher restarts; the viewer keeps decoding what it sends.
		await restartAndCheck(publisher, 'publisher', context);
		let base = (await viewer.evaluate(stats)).decoded;
		s = await pollPage(viewer, stats, x => x.decoded > base + 30, DECODE_MS);
		assert.ok(s.decoded > base + 30, `viewer stopped decoding after the publisher's restart (${base} -> ${s.decoded})${context()}`);

		// The viewer restarts, and decodes on.
		await restartAndCheck(viewer, 'viewer', context);
		base = (await viewer.evaluate(stats)).decoded;
		s = await pollPage(viewer, stats, x => x.decoded > base + 30, DECODE_MS);
		assert.ok(s.decoded > base + 30, `viewer stopped decoding after its restart (${base} -> ${s.decoded})${context()}`);

		assert.doesNotMatch(gw.logTail(200), /PeerConnection closed/, 'no PeerConnection was closed');
		assert.equal(await viewer.evaluate(() => window.whip.stop()), 200);
		assert.equal(await publisher.evaluate(() => window.whip.stop()), 200);
		// Chromium logs every 4xx fetch; the 412s and the 428 above are expected.
		assert.deepEqual(logs.flat().filter(l => /^(error|pageerror)/.test(l) &&
			!/status of (412|428) /.test(l)), [], 'console errors');
	} finally {
		await publisher.close().catch(() => {});
		await viewer.close().catch(() => {});
	}
});
