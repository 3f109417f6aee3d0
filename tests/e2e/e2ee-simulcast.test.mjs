// End-to-end encrypted (insertable streams) VP8 simulcast in a video room
// with require_e2ee, in headless Chromium.
//
// The publisher sends a canvas of a known pattern (left half red, right
// half blue, a small moving square at the top so the encoder keeps
// producing frames) as three simulcast layers (rids h/m/l), through an
// encoded frame transform that "encrypts" every frame: XOR with a key,
// leaving the first bytes clear as the insertable-streams e2ee schemes do
// for VP8 (10 bytes of a keyframe, 3 of a delta frame: the VP8 payload
// header, whose P bit and picture size the receiving browser's depacketizer
// reads before the decrypt transform runs). The gateway itself reads none
// of the frame: its e2ee simulcast path (cardea_sim_e2ee, cardea/svc.h)
// takes switch points from the Dependency Descriptor header extension,
// which Chromium sends because the gateway's answer negotiates it, and
// temporal layers from the VP8 payload descriptor, which the packetizer
// writes after the transform (so it is clear text).
//
// A subscriber with the matching decrypt transform must see the pattern
// (sampled on a canvas), follow substream 0 -> 2 -> 0 switches (the decoded
// width changes and decoding goes on); a subscriber without it must never
// see the pattern. A publisher whose offer jsep lacks "e2ee": true is
// refused with 433, as Janus does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installedPluginSo } from './lib/gateway.mjs';
import { demoEnv, pollPage as poll } from './lib/demo.mjs';
import { recordConsole } from './lib/browser.mjs';

const CASE = { timeout: 240000 };
const STEP_MS = 40000;
const KEY = [0x5a, 0xc3, 0x17, 0x99, 0x2e, 0x81, 0x44, 0xf0];

const env = demoEnv({ plugins: [installedPluginSo('videoroom')], pluginConfigs: { videoroom: { general: {} } } });

// Runs in the page (page.evaluate): sets up window.e2ee.
async function pageSetup([ws, key]) {
	const { connect } = await import('/cardea.js');
	const { Peer, pluginData } = await import('/rtc.js');
	const gw = await connect({ ws, transport: 'ws' });
	const session = await gw.createSession();
	const e = window.e2ee = { events: [], key };
	// The frame transform runs in a worker, fed the createEncodedStreams()
	// pair by postMessage (what janus.js's e2ee uses), or through
	// RTCRtpScriptTransform where that is missing. Chromium 156 has both,
	// but with RTCRtpScriptTransform on a simulcast sender its frames left
	// unencrypted (a keyless subscriber decoded them), so the legacy API
	// comes first. XOR is its own inverse: the same code encrypts on send
	// and decrypts on receive.
	const src = `
		function pipe(readable, writable, key) {
			readable.pipeThrough(new TransformStream({ transform(frame, out) {
				const clear = frame.type === 'key' ? 10 : frame.type === 'delta' ? 3 : 1;
				const d = new Uint8Array(frame.data);
				for (let i = clear; i < d.length; i++)
					d[i] ^= key[i % key.length];
				frame.data = d.buffer;
				out.enqueue(frame);
			} })).pipeTo(writable);
		}
		self.onrtctransform = ev => pipe(ev.transformer.readable, ev.transformer.writable, ev.transformer.options.key);
		self.onmessage = ev => pipe(ev.data.readable, ev.data.writable, ev.data.key);
	`;
	const worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
	e.mode = RTCRtpSender.prototype.createEncodedStreams ? 'createEncodedStreams' : 'RTCRtpScriptTransform';
	if (e.mode === 'createEncodedStreams') {
		const Native = window.RTCPeerConnection;
		window.RTCPeerConnection = class extends Native {
			constructor(cfg) {
				super({ ...cfg, encodedInsertableStreams: true });
			}
		};
	}
	const transform = (senderOrReceiver, side) => {
		if (e.mode === 'RTCRtpScriptTransform') {
			senderOrReceiver.transform = new RTCRtpScriptTransform(worker, { side, key });
			return;
		}
		const { readable, writable } = senderOrReceiver.createEncodedStreams();
		worker.postMessage({ readable, writable, key }, [readable, writable]);
	};
	const attach = async () => {
		const h = await session.attach('janus.plugin.videoroom');
		h.on('event', msg => e.events.push(pluginData(msg)));
		return h;
	};
	const nextEvent = (h, ok) => h.once('event', msg => ok(pluginData(msg)), 20000).then(pluginData);
	e.createRoom = async room => {
		const h = await attach();
		const r = await h.message({ request: 'create', room, permanent: false, publishers: 4, videocodec: 'vp8',
			require_e2ee: true, bitrate: 2000000 });
		return r.plugindata?.data;
	};
	// The canvas the publisher sends: drawn on a timer (captureStream only
	// emits a frame when the canvas changed).
	const pattern = () => {
		const c = document.createElement('canvas');
		c.width = 1280;
		c.height = 720;
		const g = c.getContext('2d');
		let n = 0;
		setInterval(() => {
			g.fillStyle = '#ff0000';
			g.fillRect(0, 0, 640, 720);
			g.fillStyle = '#0000ff';
			g.fillRect(640, 0, 640, 720);
			g.fillStyle = '#ffffff';
			g.fillRect((n++ * 16) % 1200, 20, 80, 80);
		}, 40);
		return c.captureStream(25).getVideoTracks()[0];
	};
	// Joins and publishes three VP8 layers; encrypt=false sends a plain
	// offer (no transform, no "e2ee" in the jsep). Returns the event data.
	e.publish = async (room, encrypt) => {
		const h = await attach();
		// cardea.js keeps only type and sdp of a jsep: add janus.js's flag.
		h.message = (body, jsep) => h.request({ janus: 'message', body,
			...(jsep ? { jsep: { type: jsep.type, sdp: jsep.sdp, ...(encrypt ? { e2ee: true } : {}) } } : {}) });
		const peer = new Peer(h);
		const joined = nextEvent(h, d => d.data.videoroom === 'joined' || d.data.error);
		await h.message({ request: 'join', ptype: 'publisher', room, display: encrypt ? 'e2ee' : 'plain' });
		const j = await joined;
		if (j.data.error)
			return j.data;
		const tr = peer.pc.addTransceiver(pattern(), { direction: 'sendonly', sendEncodings: [
			{ rid: 'h', maxBitrate: 900000 },
			{ rid: 'm', maxBitrate: 300000, scaleResolutionDownBy: 2 },
			{ rid: 'l', maxBitrate: 100000, scaleResolutionDownBy: 4 },
		] });
		tr.setCodecPreferences(RTCRtpSender.getCapabilities('video').codecs.filter(c => /vp8|rtx/i.test(c.mimeType)));
		const params = tr.sender.getParameters();
		params.degradationPreference = 'maintain-resolution';
		await tr.sender.setParameters(params).catch(() => {});
		if (encrypt)
			transform(tr.sender, 'send');
		const answered = nextEvent(h, d => d.jsep || d.data.error);
		await peer.offer({ request: 'configure', audio: false, video: true });
		const a = await answered;
		if (!a.jsep)
			return a.data;
		await peer.pc.setRemoteDescription(a.jsep);
		e.pub = { peer, feed: j.data.id, answer: a.jsep };
		return { ...a.data, feed: j.data.id, jsepE2ee: a.jsep.e2ee === true, answerSdp: a.jsep.sdp };
	};
	e.outbound = async () => {
		const out = [];
		(await e.pub?.peer.pc.getStats())?.forEach(r => {
			if (r.type === 'outbound-rtp' && r.kind === 'video')
				out.push({ rid: r.rid, frameWidth: r.frameWidth, framesSent: r.framesSent, fps: r.framesPerSecond,
					limitation: r.qualityLimitationReason });
		});
		return out;
	};
	// Subscribes to feed, with the decrypt transform when decrypt is true.
	e.subscribe = async (room, feed, decrypt) => {
		const h = e.subHandle = await attach();
		const peer = e.sub = new Peer(h);
		peer.pc.ontrack = ev => {
			if (ev.track.kind !== 'video')
				return;
			if (decrypt)
				transform(ev.receiver, 'receive');
			const v = e.video = document.createElement('video');
			v.muted = true;
			v.autoplay = true;
			v.playsInline = true;
			v.srcObject = new MediaStream([ev.track]);
			document.body.append(v);
			v.play().catch(() => {});
		};
		const offered = nextEvent(h, d => d.jsep || d.data.error);
		await h.message({ request: 'join', ptype: 'subscriber', room, streams: [{ feed }] });
		const o = await offered;
		if (!o.jsep)
			throw new Error(o.data.error || 'no offer');
		e.mid = o.data.streams.find(s => s.type === 'video').mid;
		await peer.answer(o.jsep, { request: 'start' });
		return e.mid;
	};
	e.substream = async n => {
		const reply = nextEvent(e.subHandle, d => d.data.configured || d.data.error);
		await e.subHandle.message({ request: 'configure', streams: [{ mid: e.mid, substream: n }] });
		return (await reply).data;
	};
	// Inbound video and two pixels of the picture (at a quarter and three
	// quarters of the width): [r, g, b] each, null before a picture.
	e.stats = async () => {
		let out = { framesDecoded: 0, frameWidth: 0 };
		(await e.sub?.pc.getStats())?.forEach(r => {
			if (r.type === 'inbound-rtp' && r.kind === 'video')
				out = { framesDecoded: r.framesDecoded ?? 0, frameWidth: r.frameWidth ?? 0, frameHeight: r.frameHeight ?? 0,
					keyFramesDecoded: r.keyFramesDecoded ?? 0, pliCount: r.pliCount ?? 0, bytes: r.bytesReceived ?? 0 };
		});
		const v = e.video;
		out.left = out.right = null;
		if (v && v.videoWidth > 0) {
			const c = document.createElement('canvas');
			c.width = v.videoWidth;
			c.height = v.videoHeight;
			const g = c.getContext('2d', { willReadFrequently: true });
			g.drawImage(v, 0, 0);
			const px = x => Array.from(g.getImageData(Math.floor(x * c.width), Math.floor(0.6 * c.height), 1, 1).data.slice(0, 3));
			out.left = px(0.25);
			out.right = px(0.75);
		}
		return out;
	};
}

// The pattern came through: red on the left, blue on the right (lossy
// coding moves a channel by a few tens at most).
function isPattern(s) {
	const near = (p, want) => p && p.every((v, i) => Math.abs(v - want[i]) < 70);
	return near(s.left, [255, 0, 0]) && near(s.right, [0, 0, 255]);
}

async function openPage(logs, pages) {
	const page = await env.browser.newPage();
	pages.push(page);
	logs.push(recordConsole(page));
	await page.goto(`${env.gw.httpUrl}/index.html`);
	await page.evaluate(pageSetup, [env.gw.wsUrl, KEY]);
	return page;
}

function context(logs) {
	return `\n--- page consoles ---\n${logs.map(l => l.join('\n')).join('\n--\n')}\n--- daemon log ---\n${env.gw.logTail(40)}`;
}

// Asks for a substream until ok(stats): a switch waits for a keyframe of
// the new layer, and a loaded sender may pause its upper layers for a moment.
async function switchUntil(page, n, ok) {
	const deadline = Date.now() + STEP_MS;
	let s;
	do {
		const conf = await page.evaluate(k => window.e2ee.substream(k), n);
		assert.equal(conf.configured, 'ok', JSON.stringify(conf));
		s = await poll(page, () => window.e2ee.stats(), ok, Math.min(8000, deadline - Date.now()));
	} while (!ok(s) && Date.now() < deadline);
	return s;
}

// Decoding goes on with the pattern intact: more frames, still red/blue.
async function keepsDecoding(page, from, what, logs) {
	const s = await poll(page, () => window.e2ee.stats(), st => st.framesDecoded > from + 10 && isPattern(st), STEP_MS);
	assert.ok(s.framesDecoded > from + 10 && isPattern(s), `${what}: ${JSON.stringify(s)}${context(logs)}`);
	return s;
}

test('require_e2ee: encrypted VP8 simulcast decodes only with the key, and follows substream switches', CASE, async () => {
	const logs = [], pages = [];
	const room = 100000 + Math.floor(Math.random() * 800000000);
	try {
		const pub = await openPage(logs, pages);
		const created = await pub.evaluate(r => window.e2ee.createRoom(r), room);
		assert.equal(created?.videoroom, 'created', JSON.stringify(created));

		// A plain offer is refused (checked before joining).
		const plainPage = await openPage(logs, pages);
		const plain = await plainPage.evaluate(r => window.e2ee.publish(r, false), room);
		assert.equal(plain.error_code, 433, JSON.stringify(plain));
		assert.match(plain.error, /end-to-end/);

		const published = await pub.evaluate(r => window.e2ee.publish(r, true), room);
		assert.equal(published.configured, 'ok', JSON.stringify(published));
		assert.equal(published.jsepE2ee, true, 'the answer jsep repeats e2ee');
		// The gateway's switch points for encrypted payloads come from the DD.
		assert.match(published.answerSdp, /dependency-descriptor/, 'the answer negotiates the Dependency Descriptor');
		const feed = published.feed;

		const viewer = await openPage(logs, pages);
		await viewer.evaluate(([r, f]) => window.e2ee.subscribe(r, f, true), [room, feed]);
		const blind = await openPage(logs, pages);
		await blind.evaluate(([r, f]) => window.e2ee.subscribe(r, f, false), [room, feed]);
		const mode = await viewer.evaluate(() => window.e2ee.mode);
		const sender = async () => JSON.stringify(await pub.evaluate(() => window.e2ee.outbound()));

		// The top layer with the key: the pattern, at >= 640 px (the sender
		// ramps its layers up with its bandwidth estimate).
		let s = await switchUntil(viewer, 2, st => st.frameWidth >= 640 && isPattern(st));
		assert.ok(s.frameWidth >= 640 && isPattern(s), `${mode}: top layer with the key: ${JSON.stringify(s)}, ` +
			`sender: ${await sender()}${context(logs)}`);
		const high = s.frameWidth;
		s = await keepsDecoding(viewer, s.framesDecoded, 'top layer', logs);

		// Without the key: bytes arrive, the pattern never shows.
		const b = await poll(blind, () => window.e2ee.stats(), st => isPattern(st) || st.bytes > 200000, STEP_MS);
		assert.ok(b.bytes > 200000, `the keyless subscriber gets media: ${JSON.stringify(b)}`);
		for (let i = 0; i < 8; i++) {
			const st = await blind.evaluate(() => window.e2ee.stats());
			assert.ok(!isPattern(st), `a subscriber without the key decoded the picture: ${JSON.stringify(st)}`);
			await blind.waitForTimeout(500);
		}

		// 2 -> 0: a quarter of the width, decoding on.
		s = await switchUntil(viewer, 0, st => st.frameWidth > 0 && st.frameWidth <= high / 2);
		const low = s.frameWidth;
		assert.ok(low > 0 && low <= high / 2, `substream 0: width ${low} (high ${high})${context(logs)}`);
		const ev = await poll(viewer, () => window.e2ee.events.some(e => e.data.substream === 0), x => x, 5000);
		assert.ok(ev, 'a substream event for 0');
		s = await keepsDecoding(viewer, s.framesDecoded, 'substream 0', logs);

		// 0 -> 2 -> 0.
		s = await switchUntil(viewer, 2, st => st.frameWidth >= 2 * low);
		assert.ok(s.frameWidth >= 2 * low, `back to substream 2 from ${low}: ${JSON.stringify(s)}, sender: ${await sender()}${context(logs)}`);
		s = await keepsDecoding(viewer, s.framesDecoded, 'substream 2 again', logs);
		s = await switchUntil(viewer, 0, st => st.frameWidth > 0 && st.frameWidth <= high / 2);
		assert.ok(s.frameWidth <= high / 2, `substream 0 again: ${JSON.stringify(s)}`);
		await keepsDecoding(viewer, s.framesDecoded, 'substream 0 again', logs);
	} finally {
		for (const p of pages)
			await p.close().catch(() => {});
	}
});
