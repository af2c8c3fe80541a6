// getmusic studio — the page. Plain JavaScript, no framework, no build step.
// It talks to the JSON API of `getmusic studio` (README: "getmusic studio")
// and draws the piano roll itself on a canvas. What it plays is the server's
// FluidSynth rendering of the version's MIDI, re-rendered with the muted
// tracks left out, so what is heard is what the MIDI says.
'use strict';

const $ = (id) => document.getElementById(id);

// Lane colours per class (unmapped tracks grey); generated notes are a light
// tint of their colour with a magenta outline, as in `getmusic plot`.
const CLASS_COLOURS = { lead: '#1f77b4', counter: '#ff7f0e', piano: '#2ca02c', drums: '#d62728',
  bass: '#9467bd', guitar: '#8c564b', strings: '#17becf' };
const OTHER_COLOURS = ['#bcbd22', '#393b79', '#006e6e', '#e377c2'];
const GENERATED_EDGE = '#e6007e';
const COL_PX = 8;        // pixels per 16th note
const GUTTER = 44;       // pitch labels
const HEADER = 34;       // bar numbers + chords
const ROW = 6;           // pixels per semitone
const LANE = 8;          // pixels per drum lane
const DRUM_NAMES = { 35: 'kick', 36: 'kick', 37: 'stick', 38: 'snare', 40: 'snare', 39: 'clap', 42: 'hat',
  44: 'hat ped', 46: 'open hat', 49: 'crash', 51: 'ride', 41: 'tom', 43: 'tom', 45: 'tom', 47: 'tom', 48: 'tom', 50: 'tom' };

// The page's whole state, readable by tests (window.studio).
const S = window.studio = {
  model: null,       // GET /api/model
  song: null,        // GET /api/songs/ID
  view: null,        // GET /api/songs/ID/versions/N.json of the version shown
  compareView: null, // the version it came from (outlines), when asked
  version: null,     // number of the version shown
  sel: null,         // [first, last] 0-based bars to rewrite, or null = all
  muted: new Set(), soloed: new Set(),
  job: null,         // job being watched
  layout: null,      // geometry of the last drawing
};

// ---------------------------------------------------------------- helpers

function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = !msg;
}

async function api(method, path, body, type) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.body = body;
    opts.headers['Content-Type'] = type || 'application/json';
  }
  let r;
  try { r = await fetch(path, opts); } catch (e) { throw new Error('the studio server cannot be reached (' + e.message + ')'); }
  const text = await r.text();
  let data = null;
  try { data = JSON.parse(text); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new Error((data && data.error) || ('HTTP ' + r.status));
  return data;
}

function fmtTime(s) {
  const m = Math.floor(s / 60);
  return m + ':' + (s - 60 * m).toFixed(1).padStart(4, '0');
}

function classColour(cls, index) {
  if (cls && CLASS_COLOURS[cls]) return CLASS_COLOURS[cls];
  return cls ? OTHER_COLOURS[index % OTHER_COLOURS.length] : '#9e9e9e';
}

// A lighter tint of a #rrggbb colour (generated notes).
function tint(hex, k) {
  const n = parseInt(hex.slice(1), 16), r = n >> 16, g = (n >> 8) & 255, b = n & 255;
  const f = (c) => Math.round(c + (255 - c) * k);
  return `rgb(${f(r)},${f(g)},${f(b)})`;
}

// Seconds of a tick through the tempo map ([[tick, usec per quarter]...]).
function tickToSec(view, tick) {
  const map = view.tempo_map.length ? view.tempo_map : [[0, 500000]];
  let sec = 0, prevTick = 0, usec = map[0][0] === 0 ? map[0][1] : 500000;
  for (const [t, u] of map) {
    if (t > tick) break;
    sec += (t - prevTick) * usec / 1e6 / view.ppq;
    prevTick = t;
    usec = u;
  }
  return sec + (tick - prevTick) * usec / 1e6 / view.ppq;
}

function secToTick(view, sec) {
  let lo = 0, hi = Math.max(view.bar_end, view.end_tick);
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (tickToSec(view, mid) < sec) lo = mid; else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------- the roll

// x of a tick: bars are laid out at COL_PX per 16th of their own metre.
function tickToX(view, tick) {
  const tpc = view.ppq / 4; // ticks per 16th column
  return GUTTER + tick / tpc * COL_PX;
}

function barAtX(x) {
  const L = S.layout, view = S.view;
  if (!L || !view) return -1;
  for (let b = 0; b < view.bars.length; b++) {
    const x0 = tickToX(view, view.bars[b][0]);
    const x1 = tickToX(view, b + 1 < view.bars.length ? view.bars[b + 1][0] : view.bar_end);
    if (x >= x0 && x < x1) return b;
  }
  return x >= GUTTER ? view.bars.length - 1 : 0;
}

// Pitch range and drum lanes of what is drawn (both versions when comparing).
function geometry(views) {
  let lo = 127, hi = 0;
  const drumKeys = new Set();
  for (const v of views) {
    v.info.tracks.forEach((t, i) => {
      for (const n of v.notes[i]) {
        if (t.drums) drumKeys.add(n[2]);
        else { lo = Math.min(lo, n[2]); hi = Math.max(hi, n[2]); }
      }
    });
  }
  if (lo > hi) { lo = 48; hi = 72; }
  lo = Math.max(0, lo - 1); hi = Math.min(127, hi + 1);
  while (hi - lo < 24) { if (lo > 0) lo--; if (hi - lo < 24 && hi < 127) hi++; }
  const lanes = [...drumKeys].sort((a, b) => b - a);
  const pitchH = (hi - lo + 1) * ROW;
  return { lo, hi, lanes, pitchTop: HEADER, drumTop: HEADER + pitchH + (lanes.length ? 6 : 0),
    height: HEADER + pitchH + (lanes.length ? 6 + lanes.length * LANE : 0) + 2 };
}

function noteY(L, drum, pitch) {
  if (drum) return L.drumTop + L.lanes.indexOf(pitch) * LANE;
  return L.pitchTop + (L.hi - pitch) * ROW;
}

function drawGrid(ctx, view, L, width) {
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, L.height);
  for (let p = L.lo; p <= L.hi; p++) { // black-key rows shaded, a line under every C
    const y = noteY(L, false, p);
    if ([1, 3, 6, 8, 10].includes(p % 12)) { ctx.fillStyle = '#f3f3f3'; ctx.fillRect(GUTTER, y, width - GUTTER, ROW); }
    if (p % 12 === 0) {
      ctx.fillStyle = '#ccc'; ctx.fillRect(GUTTER, y + ROW - 1, width - GUTTER, 1);
      ctx.fillStyle = '#555'; ctx.font = '10px sans-serif'; ctx.fillText('C' + (p / 12 - 1), 4, y + ROW);
    }
  }
  L.lanes.forEach((k, i) => {
    const y = L.drumTop + i * LANE;
    if (i % 2) { ctx.fillStyle = '#f3f3f3'; ctx.fillRect(GUTTER, y, width - GUTTER, LANE); }
    ctx.fillStyle = '#555'; ctx.font = '9px sans-serif'; ctx.fillText(DRUM_NAMES[k] || String(k), 4, y + LANE - 1);
  });
  const F = view.chord_frames;
  view.bars.forEach(([tick, num, den], b) => {
    const x = tickToX(view, tick);
    const end = b + 1 < view.bars.length ? view.bars[b + 1][0] : view.bar_end;
    const beat = view.ppq * 4 / den;
    ctx.fillStyle = '#e4e4e4';
    for (let t = tick + beat; t < end - 1; t += beat) ctx.fillRect(Math.round(tickToX(view, t)), HEADER, 1, L.height - HEADER);
    ctx.fillStyle = '#777';
    ctx.fillRect(Math.round(x), 0, 1, L.height);
    ctx.font = '11px sans-serif';
    const metre = b === 0 || view.bars[b - 1][1] !== num || view.bars[b - 1][2] !== den ? `  ${num}/${den}` : '';
    ctx.fillText(String(b + 1) + metre, x + 3, 12);
    ctx.fillStyle = '#14286e';
    const x1 = tickToX(view, end);
    for (let k = 0; k < F; k++) { // chord of each half bar; a repeated half is not written twice
      const name = view.frame_chords[b * F + k];
      if (k > 0 && name === view.frame_chords[b * F + k - 1]) continue;
      if (name && name !== 'N') ctx.fillText(name, x + 3 + (x1 - x) * k / F, 28);
    }
  });
  ctx.fillStyle = '#777';
  ctx.fillRect(Math.round(tickToX(view, view.bar_end)), 0, 1, L.height);
}

function drawNotes(ctx, view, L, outlineOnly) {
  const tpc = view.ppq / 4;
  view.info.tracks.forEach((t, i) => {
    const colour = classColour(t.class, i);
    const silent = isSilent(i);
    ctx.globalAlpha = silent && !outlineOnly ? 0.25 : 1;
    for (const [tick, dur, pitch, , gen] of view.notes[i]) {
      const x = tickToX(view, tick), y = noteY(L, t.drums, pitch);
      const w = Math.max(2, (t.drums ? tpc : dur) / tpc * COL_PX - 1), h = t.drums ? LANE - 1 : ROW - 1;
      if (outlineOnly) { ctx.strokeStyle = '#555'; ctx.strokeRect(x + 0.5, y + 0.5, w, h); continue; }
      ctx.fillStyle = gen ? tint(colour, 0.3) : colour;
      ctx.fillRect(x, y, w, h);
      if (gen) { ctx.strokeStyle = GENERATED_EDGE; ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1); }
    }
  });
  ctx.globalAlpha = 1;
}

function drawRoll() {
  const view = S.view, roll = $('roll'), over = $('overlay');
  if (!view) return;
  const views = S.compareView ? [view, S.compareView] : [view];
  const L = geometry(views);
  const width = Math.ceil(tickToX(view, Math.max(view.bar_end, S.compareView ? S.compareView.bar_end : 0))) + 20;
  roll.width = over.width = width;
  roll.height = over.height = L.height;
  S.layout = L;
  const ctx = roll.getContext('2d');
  drawGrid(ctx, view, L, width);
  if (S.sel) {
    const x0 = tickToX(view, view.bars[S.sel[0]][0]);
    const x1 = tickToX(view, S.sel[1] + 1 < view.bars.length ? view.bars[S.sel[1] + 1][0] : view.bar_end);
    ctx.fillStyle = 'rgba(21,101,192,0.12)';
    ctx.fillRect(x0, 0, x1 - x0, L.height);
  }
  if (S.compareView) drawNotes(ctx, S.compareView, L, true);
  drawNotes(ctx, view, L, false);
  let gen = 0, all = 0;
  view.notes.forEach((ns) => { all += ns.length; ns.forEach((n) => { gen += n[4]; }); });
  roll.dataset.notes = all;
  roll.dataset.generated = gen;
  drawPlayhead();
}

function drawPlayhead() {
  const over = $('overlay'), view = S.view;
  const ctx = over.getContext('2d');
  ctx.clearRect(0, 0, over.width, over.height);
  if (!view) return;
  const t = $('audio').currentTime || 0;
  const x = tickToX(view, secToTick(view, t));
  ctx.fillStyle = '#e53935';
  ctx.fillRect(Math.round(x), 0, 2, over.height);
  $('time').textContent = fmtTime(t);
}

// ---------------------------------------------------------------- tracks, targets, history

function isSilent(i) {
  return S.muted.has(i) || (S.soloed.size > 0 && !S.soloed.has(i));
}

function renderTracks() {
  const tb = $('tracks').tBodies[0];
  tb.textContent = '';
  const view = S.view;
  view.info.tracks.forEach((t, i) => {
    const tr = tb.insertRow();
    if (!t.class) { tr.className = 'unusable'; tr.title = 'no track of the model: copied unchanged, never written'; }
    const name = tr.insertCell();
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = classColour(t.class, i);
    name.append(sw, `${t.name || '(unnamed)'} · ${t.program_name} · ${t.notes}`);
    tr.insertCell().textContent = t.class || 'not usable';
    for (const [set, label] of [[S.muted, 'mute'], [S.soloed, 'solo']]) {
      const cb = document.createElement('input');
      cb.type = 'checkbox';
      cb.checked = set.has(i);
      cb.title = label + ' ' + (t.name || 'track ' + i);
      cb.dataset.track = i;
      cb.dataset.kind = label;
      cb.addEventListener('change', () => { cb.checked ? set.add(i) : set.delete(i); drawRoll(); updateAudio(); });
      tr.insertCell().append(cb);
    }
  });
  const legend = $('legend');
  legend.textContent = '';
  const classes = new Set(view.info.tracks.map((t) => t.class));
  for (const c of S.model.classes) {
    if (!classes.has(c.name)) continue;
    const s = document.createElement('span'), sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = classColour(c.name, 0);
    s.append(sw, c.name);
    legend.append(s);
  }
  const g = document.createElement('span'), gs = document.createElement('span');
  gs.className = 'swatch generated';
  g.append(gs, 'generated');
  legend.append(g);
}

function renderTargets() {
  const box = $('targets');
  box.textContent = '';
  const present = new Set(S.view.info.tracks.filter((t) => t.notes > 0).map((t) => t.class));
  for (const c of S.model.classes) {
    const l = document.createElement('label');
    const cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.value = c.name;
    cb.checked = !present.has(c.name); // like generate: the tracks the song lacks
    l.append(cb, ' ' + c.name + (present.has(c.name) ? ' (rewrite)' : ''));
    box.append(l);
  }
}

function renderHistory() {
  const ol = $('history');
  ol.textContent = '';
  for (const v of S.song.versions) {
    const li = document.createElement('li');
    li.value = v.version;
    li.dataset.version = v.version;
    li.textContent = `${v.label} (${v.notes} notes)`;
    if (v.version === S.version) li.className = 'current';
    li.addEventListener('click', () => showVersion(v.version).catch((e) => showError(e.message)));
    ol.append(li);
  }
}

function renderSelection() {
  $('selection').textContent = S.sel ? (S.sel[0] === S.sel[1] ? `bar ${S.sel[0] + 1}` : `bars ${S.sel[0] + 1}-${S.sel[1] + 1}`) : 'all';
}

// ---------------------------------------------------------------- audio

function versionUrl(ext) {
  return `/api/songs/${S.song.id}/versions/${S.version}.${ext}`;
}

function silentList() {
  return S.view.info.tracks.map((t, i) => i).filter(isSilent).join(',');
}

// The <audio> plays the server's rendering without the silent tracks.
function updateAudio() {
  const a = $('audio');
  const mute = silentList();
  const src = versionUrl('wav') + (mute ? '?mute=' + mute : '');
  if (a.dataset.src === src) return;
  const t = a.currentTime || 0, playing = !a.paused;
  a.dataset.src = src;
  a.src = src;
  a.addEventListener('loadedmetadata', () => { a.currentTime = Math.min(t, a.duration || t); if (playing) a.play(); }, { once: true });
  $('dl-wav').href = src + (mute ? '&' : '?') + 'download=1';
}

function tick() {
  drawPlayhead();
  if (!$('audio').paused) requestAnimationFrame(tick);
}

// ---------------------------------------------------------------- loading

async function showVersion(num) {
  const view = await api('GET', `/api/songs/${S.song.id}/versions/${num}.json`);
  S.view = view;
  S.version = num;
  S.compareView = null;
  if ($('compare').checked && view.from >= 0)
    S.compareView = await api('GET', `/api/songs/${S.song.id}/versions/${view.from}.json`).catch(() => null);
  if (S.sel && S.sel[1] >= view.bars.length) S.sel = null;
  S.muted = new Set([...S.muted].filter((i) => i < view.info.tracks.length));
  S.soloed = new Set([...S.soloed].filter((i) => i < view.info.tracks.length));
  renderTracks();
  renderHistory();
  renderSelection();
  drawRoll();
  for (const [id, ext] of [['dl-mid', 'mid'], ['dl-png', 'png']]) {
    $(id).href = versionUrl(ext) + '?download=1';
    $(id).classList.remove('disabled');
  }
  $('dl-wav').classList.remove('disabled');
  $('audio').dataset.src = '';
  updateAudio();
  $('play').disabled = $('stop').disabled = false;
}

async function openSong(created) {
  S.song = await api('GET', `/api/songs/${created.id}`);
  S.sel = null;
  S.muted.clear();
  S.soloed.clear();
  $('songname').textContent = `${S.song.name} · ${created.info.bars} bars · ${created.info.key}`;
  await showVersion(0);
  renderTargets();
  if (S.song.chords) { $('chordmode').value = 'custom'; $('chords').value = S.song.chords; $('chords').hidden = false; }
  else { $('chordmode').value = 'input'; $('chords').hidden = true; }
  $('generate').disabled = false;
}

async function uploadFile(file) {
  showError('');
  if (file.size > S.model.limits.upload_bytes) throw new Error(`${file.name} is larger than the ${S.model.limits.upload_bytes >> 20} MiB the studio takes`);
  const buf = await file.arrayBuffer();
  const created = await api('POST', '/api/songs?name=' + encodeURIComponent(file.name), buf, 'audio/midi');
  await openSong(created);
}

// ---------------------------------------------------------------- generate

function generateOptions() {
  const o = {
    targets: [...$('targets').querySelectorAll('input:checked')].map((c) => c.value),
    version: S.version,
    steps: +$('steps').value, seed: +$('seed').value,
    temperature: +$('temperature').value, chord_guidance: +$('guidance').value,
  };
  if (!$('drumstyle').disabled) o.drum_style = $('drumstyle').value; // a model with styles
  const cont = +$('continue').value;
  if (cont > 0) o.continue = cont;
  else if (S.sel) o.bars = `${S.sel[0] + 1}-${S.sel[1] + 1}`;
  const mode = $('chordmode').value;
  o.chords = mode === 'custom' ? $('chords').value : mode;
  return o;
}

async function generate() {
  showError('');
  const o = generateOptions();
  if (!o.targets.length && !(o.continue > 0)) throw new Error('tick at least one track to write');
  const { job } = await api('POST', `/api/songs/${S.song.id}/generate`, JSON.stringify(o));
  S.job = job;
  $('generate').disabled = true;
  $('cancel').hidden = false;
  $('progress').hidden = false;
  $('progress').value = 0;
  try {
    for (;;) {
      const j = await api('GET', `/api/jobs/${job}`);
      $('progress').max = j.steps || 1;
      $('progress').value = j.step;
      $('jobstatus').textContent = j.state === 'queued' ? `waiting: ${j.position} ahead` :
        j.state === 'running' ? `denoising step ${j.step} of ${j.steps}` : j.state;
      if (j.state === 'done') {
        S.song = await api('GET', `/api/songs/${S.song.id}`);
        await showVersion(j.version);
        $('seed').value = +$('seed').value + 1; // the next try differs unless asked
        break;
      }
      if (j.state === 'failed') throw new Error(j.error === 'cancelled' ? 'generation cancelled' : 'generation failed: ' + j.error);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    S.job = null;
    $('generate').disabled = false;
    $('cancel').hidden = true;
    $('progress').hidden = true;
  }
}

// ---------------------------------------------------------------- events

function wire() {
  const guard = (f) => (...a) => Promise.resolve().then(() => f(...a)).catch((e) => showError(e.message));
  $('file').addEventListener('change', guard(async (e) => { if (e.target.files[0]) await uploadFile(e.target.files[0]); e.target.value = ''; }));
  $('example').addEventListener('click', guard(async () => {
    const r = await fetch('/melody.mid');
    await uploadFile(new File([await r.blob()], 'melody.mid'));
  }));
  $('newform').addEventListener('submit', guard(async (e) => {
    e.preventDefault();
    showError('');
    const created = await api('POST', '/api/songs/new', JSON.stringify({
      bars: +$('new-bars').value, metre: $('new-metre').value, tempo: +$('new-tempo').value, chords: $('new-chords').value }));
    $('newpiece').open = false;
    await openSong(created);
  }));
  document.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', guard(async (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    if (e.dataTransfer.files[0]) await uploadFile(e.dataTransfer.files[0]);
  }));
  $('generate').addEventListener('click', guard(generate));
  $('cancel').addEventListener('click', guard(async () => { if (S.job) await api('POST', `/api/jobs/${S.job}/cancel`); }));
  $('clearsel').addEventListener('click', () => { S.sel = null; renderSelection(); drawRoll(); });
  $('chordmode').addEventListener('change', () => { $('chords').hidden = $('chordmode').value !== 'custom'; });
  $('compare').addEventListener('change', guard(() => showVersion(S.version)));
  const audio = $('audio');
  $('play').addEventListener('click', guard(async () => { await audio.play(); requestAnimationFrame(tick); }));
  $('stop').addEventListener('click', () => { audio.pause(); audio.currentTime = 0; drawPlayhead(); });
  audio.addEventListener('ended', drawPlayhead);
  audio.addEventListener('error', () => { if (audio.dataset.src) showError('the audio could not be rendered (is a SoundFont installed?)'); });
  wireRollMouse();
}

// Drag across bars selects them for rewriting; a click moves the playhead.
function wireRollMouse() {
  const over = $('overlay');
  let down = null;
  over.addEventListener('mousedown', (e) => { if (S.view) down = { x: e.offsetX, bar: barAtX(e.offsetX) }; });
  over.addEventListener('mousemove', (e) => {
    if (!down || Math.abs(e.offsetX - down.x) < 4) return;
    const b = barAtX(e.offsetX);
    S.sel = [Math.min(down.bar, b), Math.max(down.bar, b)];
    $('continue').value = 0;
    renderSelection();
    drawRoll();
  });
  over.addEventListener('mouseup', (e) => {
    if (down && Math.abs(e.offsetX - down.x) < 4) {
      const tickAt = (e.offsetX - GUTTER) / COL_PX * (S.view.ppq / 4);
      const a = $('audio');
      if (tickAt >= 0) { a.currentTime = tickToSec(S.view, tickAt); drawPlayhead(); }
    }
    down = null;
  });
}

async function main() {
  wire();
  try {
    S.model = await api('GET', '/api/model');
    const d = S.model.defaults;
    $('steps').value = d.steps; $('seed').value = d.seed; $('temperature').value = d.temperature; $('guidance').value = d.chord_guidance;
    const ds = $('drumstyle');
    for (const name of S.model.drum_styles || []) ds.add(new Option(name, name, false, name === d.drum_style));
    ds.disabled = (S.model.drum_styles || []).length < 2; // a model without styles has only "any"
  } catch (e) { showError(e.message); }
}
main();
