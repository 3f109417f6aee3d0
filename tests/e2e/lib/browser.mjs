// Headless Chromium (Debian's /usr/bin/chromium, never a downloaded one) for
// the demo-page tests: fake camera and microphone, loopback ICE candidates
// allowed, a fresh profile folder per launch.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CARDEA_CHROMIUM || '/usr/bin/chromium';

const ARGS = [
	'--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	'--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
	'--allow-loopback-in-peer-connection',
];

// Resolves with playwright's BrowserContext (newPage(), close()); close()
// also removes the profile folder. A persistent context is how playwright
// takes a user-data-dir; it adds its own --headless, and ours (the new
// mode) comes later and wins.
export async function launchChromium() {
	if (!fs.existsSync(CHROMIUM))
		throw new Error(`missing ${CHROMIUM} (set CARDEA_CHROMIUM)`);
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cardea-chromium-'));
	let context;
	try {
		context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, timeout: 30000 });
	} catch (err) {
		fs.rmSync(profile, { recursive: true, force: true });
		throw err;
	}
	const close = context.close.bind(context);
	context.close = async () => {
		try {
			await close();
		} finally {
			fs.rmSync(profile, { recursive: true, force: true });
		}
	};
	return context;
}

// Collects a page's console output and errors, for assertion messages.
export function recordConsole(page) {
	const lines = [];
	page.on('console', m => lines.push(`${m.type()}: ${m.text()}`));
	page.on('pageerror', e => lines.push(`pageerror: ${e.message}`));
	return lines;
}
