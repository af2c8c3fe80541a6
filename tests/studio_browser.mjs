// studio_browser.mjs — drives `getmusic studio`'s page in headless Debian
// chromium through playwright-core (no browser download): open the bundled
// example, choose piano and drums, generate (2 steps), check that the roll
// shows generated notes and that the melody is unchanged, select bars by
// dragging, mute a track, press play, download the MIDI (the shell test
// checks it with `getmusic info`), start a piece from nothing, and see a
// junk file refused in the page.
// Usage: node tests/studio_browser.mjs URL EXAMPLE.mid DOWNLOAD_DIR SHOTS_DIR
// Prints "ok: ..." / "FAIL: ..." lines; exits 1 on any failure.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [url, example, downloadDir, shots] = process.argv.slice(2);
let failures = 0;
const ok = (what) => console.log('ok: ' + what);
const bad = (what) => { failures++; console.log('FAIL: ' + what); };
const check = (cond, what) => (cond ? ok(what) : bad(what));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => window.studio && window.studio.model);
  ok('page loaded, model read');

  // ---- open the bundled example
  await page.setInputFiles('#file', example);
  await page.waitForFunction(() => window.studio.view && window.studio.version === 0, null, { timeout: 30000 });
  const v0 = await page.evaluate(() => window.studio.view);
  check(v0.info.bars === 16, `the example has 16 bars (${v0.info.bars})`);
  check(+(await page.locator('#roll').getAttribute('data-notes')) === v0.info.notes, 'the roll drew every note of the upload');
  const rows = await page.locator('#tracks tbody tr').count();
  check(rows === v0.info.tracks.length, `one row per input track (${rows})`);
  await page.screenshot({ path: path.join(shots, 'studio-open.png') });

  // ---- choose piano and drums, 2 steps, generate
  for (const box of await page.locator('#targets input').all()) {
    const want = ['piano', 'drums'].includes(await box.getAttribute('value'));
    if ((await box.isChecked()) !== want) await box.click();
  }
  await page.fill('#steps', '2');
  await page.click('#generate');
  await page.waitForFunction(() => window.studio.version === 1, null, { timeout: 180000 });
  const v1 = await page.evaluate(() => window.studio.view);
  const generated = +(await page.locator('#roll').getAttribute('data-generated'));
  check(generated > 0, `the roll shows generated notes (${generated})`);
  const classes = v1.info.tracks.map((t) => t.class);
  check(classes.includes('piano') && classes.includes('drums'), `the result has piano and drums (${classes})`);
  const leadOf = (v) => JSON.stringify(v.notes[v.info.tracks.findIndex((t) => t.class === 'lead')].map((n) => n.slice(0, 4)));
  check(leadOf(v0) === leadOf(v1), 'the melody is unchanged, note for note');
  const hist = await page.locator('#history li').count();
  check(hist === 2, `history lists both versions (${hist})`);
  await page.screenshot({ path: path.join(shots, 'studio-generated.png') });

  // ---- drag across bars 3..4 to choose an infill range
  const box = await page.locator('#overlay').boundingBox();
  const xOfBar = (b) => box.x + 44 + (b + 0.5) * 16 * 8;
  await page.mouse.move(xOfBar(2), box.y + 100);
  await page.mouse.down();
  await page.mouse.move(xOfBar(3), box.y + 100, { steps: 5 });
  await page.mouse.up();
  const sel = await page.evaluate(() => window.studio.sel);
  check(sel && sel[0] === 2 && sel[1] === 3, `dragging selects bars 3-4 (${JSON.stringify(sel)})`);
  check((await page.textContent('#selection')) === 'bars 3-4', 'the selection is shown');
  await page.screenshot({ path: path.join(shots, 'studio-select.png') });
  await page.click('#clearsel');

  // ---- mute the drums: the audio is re-rendered without them
  const drumIdx = v1.info.tracks.findIndex((t) => t.class === 'drums');
  await page.locator(`#tracks input[data-kind="mute"][data-track="${drumIdx}"]`).check();
  const src = await page.evaluate(() => document.getElementById('audio').dataset.src);
  check(src.includes('mute=' + drumIdx), `muting asks for a rendering without the drums (${src})`);

  // ---- play: the audio runs and the playhead moves
  await page.click('#play');
  const played = await page.waitForFunction(() => document.getElementById('audio').currentTime > 0.3, null, { timeout: 30000 })
    .then(() => true, () => false);
  check(played, 'play: the audio runs');
  check((await page.textContent('#time')) !== '0:00.0', 'the playhead time moves');
  await page.click('#stop');

  // ---- download the MIDI
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-mid')]);
  const out = path.join(downloadDir, 'studio-download.mid');
  await dl.saveAs(out);
  check(fs.existsSync(out) && fs.statSync(out).size > 100, `downloaded the MIDI (${dl.suggestedFilename()})`);

  // ---- start from nothing: 4 bars of 3/4 over typed chords, then write them
  await page.click('#newpiece summary');
  await page.fill('#new-bars', '4');
  await page.fill('#new-metre', '3/4');
  await page.fill('#new-chords', 'C G | Am F');
  await page.click('#newform button[type=submit]');
  await page.waitForFunction(() => window.studio.view && window.studio.view.info.bars === 4 && window.studio.version === 0,
    null, { timeout: 30000 });
  check(await page.evaluate(() => document.getElementById('chordmode').value === 'custom'), 'a new piece generates over its chords');
  check(await page.evaluate(() => window.studio.view.bars[0][1] === 3), 'the new piece is in 3/4');
  await page.fill('#steps', '2');
  await page.click('#generate');
  await page.waitForFunction(() => window.studio.version === 1, null, { timeout: 180000 });
  const fresh = +(await page.locator('#roll').getAttribute('data-generated'));
  check(fresh > 0, `the new piece was written (${fresh} notes)`);

  // ---- a file that is not MIDI is a clear message in the page
  const junk = path.join(downloadDir, 'junk.mid');
  fs.writeFileSync(junk, 'this is not a MIDI file');
  await page.setInputFiles('#file', junk);
  await page.waitForSelector('#error:not([hidden])', { timeout: 10000 });
  const msg = await page.textContent('#error');
  check(/not a usable MIDI file/.test(msg), `junk upload shows an error (${msg})`);
  check(await page.evaluate(() => window.studio.version === 1), 'the song shown stays after a refused upload');
  await page.screenshot({ path: path.join(shots, 'studio-error.png') });
  check(pageErrors.length === 0, `no script errors (${pageErrors.join(' | ')})`);
} catch (e) {
  bad('browser test stopped: ' + e.message);
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
