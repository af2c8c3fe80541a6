// studio_browser.mjs — drives `getmusic studio`'s page in headless Debian
// chromium through playwright-core (no browser download): open the bundled
// example, choose piano and drums, generate (2 steps), check that the roll
// shows generated notes and that the melody is unchanged, select bars by
// dragging and by typing, listen (Web Audio: every track's audio fetched
// once; mute and solo while playing ask the server for nothing, pause
// nothing, restart nothing; seek while playing and while stopped; stop stays
// stopped; a loop of the chosen bars; Space, M and S), download the MIDI,
// reload the page and restart the server and find the song again, start a
// piece from nothing (settings of the song before do not leak into it), add
// bars (the header follows), see a junk file refused and a song too long to
// draw said so, reach "Open MIDI file…" with Tab.
// Usage: node tests/studio_browser.mjs URL EXAMPLE.mid WORK_DIR SHOTS_DIR
// (WORK_DIR: the shell test's folder; writing WORK_DIR/restart asks it to
// restart the server, WORK_DIR/restarted says it has.)
// Prints "ok: ..." / "FAIL: ..." lines; exits 1 on any failure.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [url, example, workDir, shots] = process.argv.slice(2);
let failures = 0;
const ok = (what) => console.log('ok: ' + what);
const bad = (what) => { failures++; console.log('FAIL: ' + what); };
const check = (cond, what) => (cond ? ok(what) : bad(what));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A MIDI file of one note at bar `bars` (4/4, 480 ticks a quarter).
function longMidi(bars) {
  const vlq = (n) => { const b = [n & 127]; for (n >>= 7; n; n >>= 7) b.unshift(128 | (n & 127)); return b; };
  const trk = [0, 0x90, 60, 64, ...vlq(480), 0x80, 60, 0, ...vlq((bars - 1) * 1920 - 480), 0x90, 62, 64,
    ...vlq(480), 0x80, 62, 0, 0, 0xff, 0x2f, 0];
  const u32 = (n) => [n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255];
  return Buffer.from([...Buffer.from('MThd'), ...u32(6), 0, 1, 0, 1, 1, 224, ...Buffer.from('MTrk'), ...u32(trk.length), ...trk]);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text()); });
  const audioRequests = [];
  page.on('request', (r) => { if (/\/tracks\/|\.wav/.test(r.url())) audioRequests.push(r.url()); });
  await page.goto(url);
  await page.waitForFunction(() => window.studio && window.studio.model);
  ok('page loaded, model read');

  // ---- "Open MIDI file…" is reachable with Tab (a real button)
  let reached = false;
  for (let i = 0; i < 5 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.id === 'openfile');
  }
  check(reached, 'Tab reaches "Open MIDI file…"');

  // ---- open the bundled example
  await page.setInputFiles('#file', example);
  await page.waitForFunction(() => window.studio.view && window.studio.version === 0, null, { timeout: 30000 });
  const v0 = await page.evaluate(() => window.studio.view);
  check(v0.info.bars === 16, `the example has 16 bars (${v0.info.bars})`);
  check(+(await page.locator('#roll').getAttribute('data-notes')) === v0.info.notes, 'the roll drew every note of the upload');
  const rows = await page.locator('#tracks tbody tr').count();
  check(rows === v0.info.tracks.length, `one row per input track (${rows})`);
  const songId = await page.evaluate(() => window.studio.song.id);
  check(new URL(page.url()).hash === `#song=${songId}&v=0`, `the URL names the open song (${new URL(page.url()).hash})`);
  check((await page.locator('#songs button').count()) === 1, 'the song is listed among the songs kept');
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
  const labels = await page.locator('#targets label').allTextContents();
  check(labels.some((l) => /drums \(rewrite\)/.test(l)), `the "(rewrite)" labels follow the version shown (${labels})`);
  await page.screenshot({ path: path.join(shots, 'studio-generated.png') });

  // ---- drag across bars 3..4, then type a range
  const box = await page.locator('#overlay').boundingBox();
  const xOfBar = (b) => box.x + 44 + (b + 0.5) * 16 * 8;
  await page.mouse.move(xOfBar(2), box.y + 100);
  await page.mouse.down();
  await page.mouse.move(xOfBar(3), box.y + 100, { steps: 5 });
  await page.mouse.up();
  let sel = await page.evaluate(() => window.studio.sel);
  check(sel && sel[0] === 2 && sel[1] === 3, `dragging selects bars 3-4 (${JSON.stringify(sel)})`);
  check((await page.inputValue('#barrange')) === '3-4', 'the selection is shown in the bar range field');
  await page.screenshot({ path: path.join(shots, 'studio-select.png') });
  await page.fill('#barrange', '5-6');
  await page.press('#barrange', 'Enter');
  sel = await page.evaluate(() => window.studio.sel);
  check(sel && sel[0] === 4 && sel[1] === 5, `typing 5-6 selects bars 5-6 (${JSON.stringify(sel)})`);
  await page.click('#clearsel');

  // ---- listening: every track's audio, fetched once
  const withNotes = v1.info.tracks.filter((t) => t.notes > 0).length;
  await page.waitForFunction((n) => window.studio.audio.buffers.size === n, withNotes, { timeout: 120000 });
  const lens = await page.evaluate(() => [...window.studio.audio.buffers.values()].map((b) => b.length));
  check(Math.max(...lens) - Math.min(...lens) <= 1, `every track's audio is as long as the piece (${lens} frames)`);
  const trackReqs = audioRequests.filter((u) => /\/versions\/1\/tracks\//.test(u)).length;
  check(trackReqs === withNotes, `one request per track with notes (${trackReqs} for ${withNotes})`);

  await page.click('#play');
  const played = await page.waitForFunction(() => window.studio.audio.position() > 0.3, null, { timeout: 30000 })
    .then(() => true, () => false);
  check(played, 'play: the audio runs');
  check((await page.textContent('#time')) !== '0:00.0', 'the clock moves');
  const before = audioRequests.length;
  const drumIdx = v1.info.tracks.findIndex((t) => t.class === 'drums');
  const pianoIdx = v1.info.tracks.findIndex((t) => t.class === 'piano');
  const p0 = await page.evaluate(() => window.studio.audio.position());
  await page.locator(`#tracks input[data-kind="mute"][data-track="${drumIdx}"]`).check();
  await page.locator(`#tracks input[data-kind="solo"][data-track="${pianoIdx}"]`).check();
  await page.locator(`#tracks input[data-kind="solo"][data-track="${pianoIdx}"]`).uncheck();
  await sleep(300);
  const st1 = await page.evaluate((d) => ({ pos: window.studio.audio.position(), playing: window.studio.audio.playing,
    drumGain: window.studio.audio.gains.get(d).gain.value }), drumIdx);
  check(audioRequests.length === before, `mute and solo ask the server for nothing (${audioRequests.length - before} requests)`);
  check(st1.playing && st1.pos > p0, `mute and solo while playing: no pause, no restart, the clock goes on (${p0.toFixed(2)} -> ${st1.pos.toFixed(2)} s)`);
  check(st1.drumGain < 0.05, `the muted drums' gain is 0 (${st1.drumGain.toFixed(3)})`);
  const href = await page.getAttribute('#dl-wav', 'href');
  check(href.includes('mute=' + drumIdx), `the WAV download leaves the muted drums out (${href})`);

  // seek while playing: click bar 7 (on screen)
  const secOf = (b) => page.evaluate((bar) => { const v = window.studio.view; return tickToSecPub(v, v.bars[bar][0]); }, b);
  await page.evaluate(() => { window.tickToSecPub = (v, t) => { // the page's own tempo map, as a test helper
    const map = v.tempo_map.length ? v.tempo_map : [[0, 500000]];
    let sec = 0, prev = 0, usec = map[0][0] === 0 ? map[0][1] : 500000;
    for (const [tk, u] of map) { if (tk > t) break; sec += (tk - prev) * usec / 1e6 / v.ppq; prev = tk; usec = u; }
    return sec + (t - prev) * usec / 1e6 / v.ppq; }; });
  const bar7 = await secOf(6);
  await page.mouse.click(box.x + 44 + 6 * 128 + 1, box.y + 100);
  await page.waitForFunction((t) => window.studio.audio.position() >= t - 0.05, bar7, { timeout: 10000 }).catch(() => {});
  const s9 = await page.evaluate(() => ({ pos: window.studio.audio.position(), playing: window.studio.audio.playing }));
  check(s9.playing && s9.pos >= bar7 - 0.05 && s9.pos < bar7 + 1, `seek while playing: bar 7 (${bar7.toFixed(2)} s) -> ${s9.pos.toFixed(2)} s, still playing`);

  // stop, and stays stopped
  await page.click('#stop');
  await sleep(500);
  const stopped = await page.evaluate(() => ({ playing: window.studio.audio.playing, pos: window.studio.audio.position(), sources: window.studio.audio.sources.length }));
  check(!stopped.playing && stopped.pos === 0 && stopped.sources === 0, `stop stays stopped, back at 0:00 (${JSON.stringify(stopped)})`);
  check((await page.textContent('#time')) === '0:00.0', 'the clock reads 0:00.0 after stop');

  // seek while stopped: click bar 5, the playhead moves there
  const bar5 = await secOf(4);
  await page.mouse.click(box.x + 44 + 4 * 128 + 1, box.y + 100);
  const s5 = await page.evaluate(() => ({ pos: window.studio.audio.position(), playing: window.studio.audio.playing, x: window.studio.playheadX }));
  check(!s5.playing && Math.abs(s5.pos - bar5) < 0.05 && Math.abs(s5.x - (44 + 4 * 128)) < 3,
    `seek while stopped: the playhead moves to bar 5 (${s5.pos.toFixed(2)} s, x ${Math.round(s5.x)})`);
  check(audioRequests.length === before, `seek and stop ask the server for nothing (${audioRequests.length - before} requests)`);

  // loop the chosen bar: bar 2 alone, played past its end, stays inside it
  await page.fill('#barrange', '2');
  await page.press('#barrange', 'Enter');
  await page.check('#loop');
  await page.click('#play');
  const [l0, l1] = [await secOf(1), await secOf(2)];
  const loopSrc = await page.evaluate(() => window.studio.audio.sources.map((s) => [s.loop, s.loopStart, s.loopEnd]));
  check(loopSrc.length > 0 && loopSrc.every(([lp, a, b]) => lp && Math.abs(a - l0) < 1e-6 && Math.abs(b - l1) < 1e-6),
    `looping bar 2: every source loops ${l0.toFixed(2)}-${l1.toFixed(2)} s`);
  await sleep((l1 - l0) * 1000 + 700);
  const lp = await page.evaluate(() => ({ pos: window.studio.audio.position(), playing: window.studio.audio.playing }));
  check(lp.playing && lp.pos >= l0 && lp.pos < l1, `after more than the bar's length the loop is still in bar 2 (${lp.pos.toFixed(2)} s)`);
  await page.click('#stop');
  await page.uncheck('#loop');
  await page.click('#clearsel');

  // keyboard: Space plays and pauses; M and S act on the focused track
  await page.evaluate(() => document.activeElement && document.activeElement.blur()); // focus off the fields
  await page.keyboard.press('Space');
  await page.waitForFunction(() => window.studio.audio.playing, null, { timeout: 10000 }).catch(() => {});
  const spacePlay = await page.evaluate(() => window.studio.audio.playing);
  await page.keyboard.press('Space');
  const spacePause = await page.evaluate(() => window.studio.audio.playing);
  check(spacePlay && !spacePause, `Space plays, Space again pauses (${spacePlay}, ${spacePause})`);
  await page.locator(`#tracks tbody tr[data-track="${pianoIdx}"]`).focus();
  await page.keyboard.press('m');
  const mk = await page.evaluate((i) => window.studio.muted.has(i), pianoIdx);
  await page.keyboard.press('m');
  await page.keyboard.press('s');
  const sk = await page.evaluate((i) => window.studio.soloed.has(i) && !window.studio.muted.has(i), pianoIdx);
  await page.keyboard.press('s');
  check(mk && sk, `M mutes and S solos the focused track (${mk}, ${sk})`);
  await page.locator(`#tracks input[data-kind="mute"][data-track="${drumIdx}"]`).uncheck();
  check(audioRequests.length === before, `the whole session of listening made no new audio request (${audioRequests.length - before})`);

  // ---- download the MIDI
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-mid')]);
  const out = path.join(workDir, 'studio-download.mid');
  await dl.saveAs(out);
  check(fs.existsSync(out) && fs.statSync(out).size > 100, `downloaded the MIDI (${dl.suggestedFilename()})`);

  // ---- reload: the URL reopens the song with its versions
  await page.reload();
  await page.waitForFunction((id) => window.studio.song && window.studio.song.id === id && window.studio.version === 1,
    songId, { timeout: 30000 }).catch(() => {});
  const rl = await page.evaluate(() => ({ song: window.studio.song && window.studio.song.id, version: window.studio.version,
    versions: window.studio.song && window.studio.song.versions.length }));
  check(rl.song === songId && rl.version === 1 && rl.versions === 2, `a reload reopens the song, version 1 shown, both versions (${JSON.stringify(rl)})`);

  // ---- restart the server on the same data folder: reopened again
  fs.writeFileSync(path.join(workDir, 'restart'), '');
  for (let i = 0; i < 300 && !fs.existsSync(path.join(workDir, 'restarted')); i++) await sleep(100);
  let up = false;
  for (let i = 0; i < 100 && !up; i++) {
    up = await page.evaluate(() => fetch('/api/model').then((r) => r.ok, () => false));
    if (!up) await sleep(100);
  }
  await page.reload();
  await page.waitForFunction((id) => window.studio.song && window.studio.song.id === id && window.studio.version === 1,
    songId, { timeout: 30000 }).catch(() => {});
  const rs = await page.evaluate(() => ({ song: window.studio.song && window.studio.song.id, version: window.studio.version,
    versions: window.studio.song && window.studio.song.versions.map((v) => v.version), gen: +document.getElementById('roll').dataset.generated }));
  check(up && rs.song === songId && rs.version === 1 && JSON.stringify(rs.versions) === '[0,1]' && rs.gen === generated,
    `after a server restart the page reopens the song and its versions (${JSON.stringify(rs)})`);

  // ---- settings of one song do not leak into the next
  await page.fill('#continue', '8');
  await page.fill('#seed', '77');
  await page.fill('#barrange', '9-16');
  await page.press('#barrange', 'Enter');
  await page.click('#newpiece summary');
  await page.fill('#new-bars', '4');
  await page.fill('#new-metre', '3/4');
  await page.fill('#new-chords', 'C G | Am F');
  await page.click('#newform button[type=submit]');
  await page.waitForFunction(() => window.studio.view && window.studio.view.info.bars === 4 && window.studio.version === 0,
    null, { timeout: 30000 });
  const fresh0 = await page.evaluate(() => ({ cont: document.getElementById('continue').value, seed: document.getElementById('seed').value,
    sel: window.studio.sel, range: document.getElementById('barrange').value, dflt: String(window.studio.model.defaults.seed) }));
  check(fresh0.cont === '0' && fresh0.seed === fresh0.dflt && fresh0.sel === null && fresh0.range === '',
    `a new song starts from the defaults: no bars to add, the default seed, no bars chosen (${JSON.stringify(fresh0)})`);
  check(await page.evaluate(() => document.getElementById('chordmode').value === 'custom'), 'a new piece generates over its chords');
  check(await page.evaluate(() => window.studio.view.bars[0][1] === 3), 'the new piece is in 3/4');
  await page.fill('#steps', '2');
  await page.click('#generate');
  await page.waitForFunction(() => window.studio.version === 1, null, { timeout: 180000 });
  const fresh = +(await page.locator('#roll').getAttribute('data-generated'));
  check(fresh > 0, `the new piece was written (${fresh} notes)`);

  // ---- add bars: the header's bar count follows, and bars are added once
  await page.fill('#continue', '2');
  await page.click('#generate');
  await page.waitForFunction(() => window.studio.version === 2, null, { timeout: 180000 });
  const hdr = await page.textContent('#songname');
  check(/· 6 bars ·/.test(hdr), `after adding 2 bars the header says 6 bars (${hdr})`);
  check((await page.inputValue('#continue')) === '0', 'bars to add go back to 0 once added');
  check(await page.evaluate(() => window.studio.view.info.bars === 6 && window.studio.view.bars.length === 6), 'the roll has 6 bars');

  // ---- a file that is not MIDI is a clear message in the page
  const junk = path.join(workDir, 'junk.mid');
  fs.writeFileSync(junk, 'this is not a MIDI file');
  await page.setInputFiles('#file', junk);
  await page.waitForSelector('#error:not([hidden])', { timeout: 10000 });
  const msg = await page.textContent('#error');
  check(/not a usable MIDI or MusicXML file/.test(msg), `junk upload shows an error (${msg})`);
  check(await page.evaluate(() => window.studio.version === 2), 'the song shown stays after a refused upload');
  await page.screenshot({ path: path.join(shots, 'studio-error.png') });

  // ---- a song too long to draw: a message, not a blank giant canvas
  const long = path.join(workDir, 'long.mid');
  fs.writeFileSync(long, longMidi(20000));
  await page.setInputFiles('#file', long);
  await page.waitForFunction(() => window.studio.view && window.studio.view.bars.length >= 20000, null, { timeout: 60000 });
  const tl = await page.evaluate(() => ({ shown: !document.getElementById('toolong').hidden, text: document.getElementById('toolong').textContent,
    w: document.getElementById('roll').width, box: document.getElementById('rollbox').hidden }));
  check(tl.shown && /too long to draw/.test(tl.text) && tl.w <= 32000 && tl.box, `a 20,000-bar song is said too long to draw (${tl.text})`);
  check(pageErrors.length === 0, `no script errors (${pageErrors.join(' | ')})`);
} catch (e) {
  bad('browser test stopped: ' + e.message);
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
