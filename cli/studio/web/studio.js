// getmusic studio — the page. Plain JavaScript, no framework, no build step.
// It talks to the JSON API of `getmusic studio` (README: "getmusic studio")
// and draws the piano roll itself on a canvas. What it plays is the
// server's FluidSynth rendering of each track of the version, alone (one
// compressed file per track, rendered once), mixed here with Web Audio: a
// source and a gain per track, so mute, solo, seek, loop and stop are
// instant and never ask the server for anything. The playhead follows the
// audio clock (AudioContext.currentTime).
'use strict';

const $ = (id) => document.getElementById(id);

// Lane colours per class (unmapped tracks grey); generated notes are a light
// tint of their colour with a magenta outline, as in `getmusic plot`.
const CLASS_COLOURS = { lead: '#1f77b4', counter: '#ff7f0e', piano: '#2ca02c', drums: '#d62728',
  bass: '#9467bd', guitar: '#8c564b', strings: '#17becf' };
const OTHER_COLOURS = ['#bcbd22', '#393b79', '#006e6e', '#e377c2'];
const GENERATED_EDGE = '#e6007e';
const COL_PX = 8;        // pixels per 16th note (fewer for long songs, down to MIN_COL_PX)
const MIN_COL_PX = 2;
const MAX_CANVAS_PX = 32000; // wider than this is not drawn (browsers give up near 32767)
const GUTTER = 44;       // pitch labels
const HEADER = 34;       // bar numbers + chords
const ROW = 6;           // pixels per semitone
const LANE = 8;          // pixels per drum lane
const DRUM_NAMES = { 35: 'kick', 36: 'kick', 37: 'stick', 38: 'snare', 40: 'snare', 39: 'clap', 42: 'hat',
  44: 'hat ped', 46: 'open hat', 49: 'crash', 51: 'ride', 41: 'tom', 43: 'tom', 45: 'tom', 47: 'tom', 48: 'tom', 50: 'tom' };

// The page's whole state, readable by tests (window.studio).
const S = window.studio = {
  model: null,       // GET /api/model
  songs: [],         // GET /api/songs
  song: null,        // GET /api/songs/ID
  view: null,        // GET /api/songs/ID/versions/N.json of the version shown
  compareView: null, // the version it came from (outlines), when asked
  version: null,     // number of the version shown
  sel: null,         // [first, last] 0-based bars to rewrite (or loop), or null = all
  muted: new Set(), soloed: new Set(),
  focusTrack: 0,     // the track M and S act on
  job: null,         // job being watched
  layout: null,      // geometry of the last drawing
  colPx: COL_PX,
  audio: null,       // the mixer (below)
};

// ---------------------------------------------------------------- helpers

function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = !msg;
}

function showNotice(msg) {
  const e = $('notice');
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

function barStart(view, b) { return b < view.bars.length ? view.bars[b][0] : view.bar_end; }

// Seconds of the selection's bars [start, end), or of the whole piece.
function selectionSeconds() {
  const v = S.view;
  if (!S.sel) return [0, tickToSec(v, v.bar_end)];
  return [tickToSec(v, barStart(v, S.sel[0])), tickToSec(v, barStart(v, S.sel[1] + 1))];
}

// ---------------------------------------------------------------- the roll

// x of a tick: bars are laid out at S.colPx per 16th of their own metre.
function tickToX(view, tick) {
  const tpc = view.ppq / 4; // ticks per 16th column
  return GUTTER + tick / tpc * S.colPx;
}

function barAtX(x) {
  const view = S.view;
  if (!S.layout || !view) return -1;
  let lo = 0, hi = view.bars.length - 1; // bars are in tick order: binary search
  if (x < tickToX(view, view.bars[0][0])) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tickToX(view, view.bars[mid][0]) <= x) lo = mid; else hi = mid - 1;
  }
  return lo;
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
  ctx.font = `${LANE}px sans-serif`; // a lane's label no taller than its lane
  L.lanes.forEach((k, i) => {
    const y = L.drumTop + i * LANE;
    if (i % 2) { ctx.fillStyle = '#f3f3f3'; ctx.fillRect(GUTTER, y, width - GUTTER, LANE); }
    ctx.fillStyle = '#555';
    ctx.fillText(DRUM_NAMES[k] || String(k), 4, y + LANE - 1, GUTTER - 6);
  });
  const F = view.chord_frames;
  // Labels that would run into the one before (narrow bars) are skipped.
  let barLabelEnd = -Infinity, chordLabelEnd = -Infinity;
  S.labelsSkipped = 0;
  view.bars.forEach(([tick, num, den], b) => {
    const x = tickToX(view, tick);
    const end = barStart(view, b + 1);
    const beat = view.ppq * 4 / den;
    if (S.colPx * 4 * 4 / den >= 3) { // beat lines, where there is room for them
      ctx.fillStyle = '#e4e4e4';
      for (let t = tick + beat; t < end - 1; t += beat) ctx.fillRect(Math.round(tickToX(view, t)), HEADER, 1, L.height - HEADER);
    }
    ctx.fillStyle = '#777';
    ctx.fillRect(Math.round(x), 0, 1, L.height);
    ctx.font = '11px sans-serif';
    const metre = b === 0 || view.bars[b - 1][1] !== num || view.bars[b - 1][2] !== den ? `  ${num}/${den}` : '';
    const label = String(b + 1) + metre;
    if (x + 3 >= barLabelEnd) {
      ctx.fillText(label, x + 3, 12);
      barLabelEnd = x + 3 + ctx.measureText(label).width + 4;
    } else S.labelsSkipped++;
    ctx.fillStyle = '#14286e';
    const x1 = tickToX(view, end);
    for (let k = 0; k < F; k++) { // chord of each half bar; a repeated half is not written twice
      const name = view.frame_chords[b * F + k];
      if (k > 0 && name === view.frame_chords[b * F + k - 1]) continue;
      if (!name || name === 'N') continue;
      const cx = x + 3 + (x1 - x) * k / F;
      if (cx < chordLabelEnd) { S.labelsSkipped++; continue; }
      ctx.fillText(name, cx, 28);
      chordLabelEnd = cx + ctx.measureText(name).width + 4;
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
      const w = Math.max(2, (t.drums ? tpc : dur) / tpc * S.colPx - 1), h = t.drums ? LANE - 1 : ROW - 1;
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
  const endTick = Math.max(view.bar_end, S.compareView ? S.compareView.bar_end : 0);
  const cols = endTick / (view.ppq / 4);
  // Narrower columns for a long song; too long even then: said, not drawn.
  S.colPx = Math.max(MIN_COL_PX, Math.min(COL_PX, Math.floor((MAX_CANVAS_PX - GUTTER - 20) / Math.max(1, cols))));
  const width = Math.ceil(tickToX(view, endTick)) + 20;
  const tooLong = width > MAX_CANVAS_PX;
  $('toolong').hidden = !tooLong;
  $('rollbox').hidden = tooLong;
  S.layout = tooLong ? null : L;
  if (tooLong) {
    const most = Math.floor((MAX_CANVAS_PX - GUTTER - 20) / MIN_COL_PX / 16);
    $('toolong').textContent = `This song is ${view.bars.length.toLocaleString()} bars long: too long to draw here ` +
      `(about ${most.toLocaleString()} bars of 4/4 at most); you can still type bars to rewrite.`;
    roll.width = over.width = 1;
    roll.height = over.height = 1;
    roll.dataset.notes = 0;
    return;
  }
  roll.width = over.width = width;
  roll.height = over.height = L.height;
  const ctx = roll.getContext('2d');
  drawGrid(ctx, view, L, width);
  if (S.sel) {
    const x0 = tickToX(view, barStart(view, S.sel[0]));
    const x1 = tickToX(view, barStart(view, S.sel[1] + 1));
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
  const t = S.audio ? S.audio.position() : 0;
  $('time').textContent = fmtTime(t);
  if (!view || !S.layout) return;
  const ctx = over.getContext('2d');
  ctx.clearRect(0, 0, over.width, over.height);
  const x = tickToX(view, secToTick(view, t));
  ctx.fillStyle = '#e53935';
  ctx.fillRect(Math.round(x), 0, 2, over.height);
  S.playheadX = x;
}

// ---------------------------------------------------------------- audio: one source and gain per track

// The mixer: AudioBuffers of the version's tracks (fetched and decoded once
// per version), played by one AudioBufferSourceNode per track through one
// GainNode per track. Mute and solo set gains; seek, loop and stop start or
// stop sources; none of them fetches anything.
class Mixer {
  constructor() {
    this.ctx = null;
    this.key = null;        // "song/version" whose tracks are loaded
    this.buffers = new Map(); // track index -> AudioBuffer
    this.loading = null;    // promise of the loading in progress
    this.gains = new Map(); // track index -> GainNode (while playing)
    this.sources = [];
    this.playing = false;
    this.offset = 0;        // seconds into the piece when stopped, or where playing started
    this.startedAt = 0;     // ctx.currentTime when playing started
    this.loop = null;       // [start, end] seconds while looping
    this.token = 0;         // bumped by stop: a play still loading then gives up
    this.fetches = 0;       // audio requests made (tests: mute and solo make none)
    this.duration = 0;
  }

  context() {
    if (!this.ctx) this.ctx = new AudioContext();
    return this.ctx;
  }

  // Fetches and decodes every track of the version shown that has notes.
  load() {
    const key = `${S.song.id}/${S.version}`;
    if (this.key === key && this.loading) return this.loading;
    this.stop(false);
    this.key = key;
    this.buffers = new Map();
    const ext = S.model.stems.ext, song = S.song.id, version = S.version;
    const tracks = S.view.info.tracks.map((t, i) => [t, i]).filter(([t]) => t.notes > 0).map(([, i]) => i);
    $('audiostate').textContent = 'loading the audio…';
    this.loading = Promise.all(tracks.map(async (i) => {
      this.fetches++;
      const r = await fetch(`/api/songs/${song}/versions/${version}/tracks/${i}.${ext}`);
      if (!r.ok) {
        let msg = 'HTTP ' + r.status;
        try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
        throw new Error(`the audio of track ${i + 1} could not be made: ${msg}`);
      }
      const buf = await this.context().decodeAudioData(await r.arrayBuffer());
      if (this.key === key) this.buffers.set(i, buf);
    })).then(() => {
      if (this.key !== key) return;
      this.duration = Math.max(0, ...[...this.buffers.values()].map((b) => b.duration));
      $('audiostate').textContent = '';
    }, (e) => {
      if (this.key === key) { this.loading = null; this.key = null; $('audiostate').textContent = ''; }
      throw e;
    });
    return this.loading;
  }

  gainOf(i) { return isSilent(i) ? 0 : 1; }

  // Mute/solo changed: the gains follow at once (10 ms ramp: no click).
  updateGains() {
    if (!this.ctx) return;
    for (const [i, g] of this.gains) g.gain.setTargetAtTime(this.gainOf(i), this.ctx.currentTime, 0.01);
  }

  position() {
    if (!this.playing) return this.offset;
    let t = this.offset + this.ctx.currentTime - this.startedAt;
    if (this.loop && t >= this.loop[1]) t = this.loop[0] + (t - this.loop[0]) % (this.loop[1] - this.loop[0]);
    if (!this.loop && t >= this.duration) t = this.duration;
    return t;
  }

  async play(at) {
    const token = ++this.token;
    await this.load();
    if (token !== this.token) return; // stopped (or played again) while loading
    const ctx = this.context();
    if (ctx.state !== 'running') await ctx.resume();
    if (token !== this.token) return;
    this.stopSources();
    let offset = at !== undefined ? at : this.offset;
    this.loop = $('loop').checked ? selectionSeconds() : null;
    if (this.loop && (offset < this.loop[0] || offset >= this.loop[1])) offset = this.loop[0];
    if (!this.loop && offset >= this.duration) offset = 0;
    const when = ctx.currentTime + 0.02;
    for (const [i, buf] of this.buffers) {
      const src = ctx.createBufferSource(), g = ctx.createGain();
      src.buffer = buf;
      g.gain.value = this.gainOf(i);
      src.connect(g).connect(ctx.destination);
      if (this.loop) { src.loop = true; src.loopStart = this.loop[0]; src.loopEnd = this.loop[1]; }
      src.start(when, offset);
      this.sources.push(src);
      this.gains.set(i, g);
    }
    this.offset = offset;
    this.startedAt = when;
    this.playing = true;
    $('play').textContent = '❚❚ Pause';
    requestAnimationFrame(() => this.frame());
  }

  frame() {
    if (!this.playing) return;
    if (!this.loop && this.position() >= this.duration) { this.pause(); this.offset = 0; }
    drawPlayhead();
    if (this.playing) requestAnimationFrame(() => this.frame());
  }

  stopSources() {
    for (const s of this.sources) { try { s.stop(); } catch (e) { /* never started */ } s.disconnect(); }
    this.sources = [];
    this.gains = new Map();
  }

  pause() {
    this.token++;
    if (this.playing) this.offset = this.position();
    this.stopSources();
    this.playing = false;
    $('play').textContent = '▶ Play';
    drawPlayhead();
  }

  // Stop: silence, back to the start (of the loop, when looping).
  stop(redraw = true) {
    this.pause();
    this.offset = $('loop').checked && S.view ? selectionSeconds()[0] : 0;
    if (redraw) drawPlayhead();
  }

  // Seek: while playing, the sources start again there; while stopped, the
  // playhead moves and play starts there.
  seek(sec) {
    if (this.playing) this.play(sec);
    else { this.offset = sec; drawPlayhead(); }
  }

  toggle() { return this.playing ? this.pause() : this.play(); }
}

// ---------------------------------------------------------------- tracks, targets, history

function isSilent(i) {
  return S.muted.has(i) || (S.soloed.size > 0 && !S.soloed.has(i));
}

function toggleTrack(set, i) {
  set.has(i) ? set.delete(i) : set.add(i);
  for (const cb of $('tracks').querySelectorAll(`input[data-track="${i}"]`)) cb.checked = (cb.dataset.kind === 'mute' ? S.muted : S.soloed).has(i);
  silenceChanged();
}

function silenceChanged() {
  S.audio.updateGains();
  drawRoll();
  updateWavLink();
}

function renderTracks() {
  const tb = $('tracks').tBodies[0];
  tb.textContent = '';
  const view = S.view;
  view.info.tracks.forEach((t, i) => {
    const tr = tb.insertRow();
    tr.tabIndex = 0;
    tr.dataset.track = i;
    tr.addEventListener('focus', () => { S.focusTrack = i; });
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
      cb.title = label + ' ' + (t.name || 'track ' + (i + 1));
      cb.dataset.track = i;
      cb.dataset.kind = label;
      cb.addEventListener('focus', () => { S.focusTrack = i; });
      cb.addEventListener('change', () => { cb.checked ? set.add(i) : set.delete(i); silenceChanged(); });
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

// The tracks to write: by default (a new song) the classes the song lacks;
// later only the "(rewrite)" labels follow the version shown, the ticks stay.
function renderTargets(reset) {
  const box = $('targets');
  const present = new Set(S.view.info.tracks.filter((t) => t.notes > 0).map((t) => t.class));
  const was = new Map([...box.querySelectorAll('input')].map((c) => [c.value, c.checked]));
  box.textContent = '';
  for (const c of S.model.classes) {
    const l = document.createElement('label');
    const cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.value = c.name;
    cb.checked = reset || !was.has(c.name) ? !present.has(c.name) : was.get(c.name);
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
    li.tabIndex = 0;
    li.textContent = `${v.label} (${v.notes} notes)`;
    if (v.warning) {
      const w = document.createElement('span');
      w.className = 'warn';
      w.textContent = ' ⚠ ' + v.warning;
      li.append(w);
    }
    li.title = 'settings: ' + JSON.stringify(v.settings);
    if (v.version === S.version) li.className = 'current';
    const open = () => showVersion(v.version).catch((e) => showError(e.message));
    li.addEventListener('click', open);
    li.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
    ol.append(li);
  }
}

function renderSelection() {
  $('barrange').value = S.sel ? (S.sel[0] === S.sel[1] ? `${S.sel[0] + 1}` : `${S.sel[0] + 1}-${S.sel[1] + 1}`) : '';
}

function setSelection(sel) {
  S.sel = sel;
  if (sel) $('continue').value = 0; // bars to rewrite and bars to add do not go together
  renderSelection();
  drawRoll();
  if (S.audio.playing && $('loop').checked) S.audio.play(); // the loop follows the selection
}

// A typed range: "9-16", "9" or "" (all bars).
function typedSelection() {
  const text = $('barrange').value.trim(), n = S.view ? S.view.bars.length : 0;
  if (!text) { setSelection(null); return; }
  const m = /^(\d+)\s*(?:[-–]\s*(\d+))?$/.exec(text);
  const a = m ? +m[1] : NaN, b = m && m[2] ? +m[2] : a;
  if (!m || a < 1 || b < a || b > n) {
    showError(`bars: give a bar or a range like 9-16 within 1-${n}`);
    renderSelection();
    return;
  }
  showError('');
  setSelection([a - 1, b - 1]);
}

function renderSongs() {
  const ul = $('songs');
  ul.textContent = '';
  if (!S.songs.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'none kept yet';
    ul.append(li);
    return;
  }
  for (const s of [...S.songs].reverse()) { // newest first
    const li = document.createElement('li'), b = document.createElement('button');
    b.type = 'button';
    b.dataset.song = s.id;
    b.textContent = `${s.name} · ${s.versions.length} version${s.versions.length === 1 ? '' : 's'}`;
    if (S.song && S.song.id === s.id) b.className = 'current';
    b.addEventListener('click', () => openSong(s.id).catch((e) => showError(e.message)));
    li.append(b);
    ul.append(li);
  }
}

async function refreshSongs() {
  S.songs = (await api('GET', '/api/songs')).songs;
  renderSongs();
}

// ---------------------------------------------------------------- downloads

function versionUrl(ext) {
  return `/api/songs/${S.song.id}/versions/${S.version}.${ext}`;
}

function silentList() {
  return S.view.info.tracks.map((t, i) => i).filter(isSilent).join(',');
}

// The WAV download is the server's full mix without the silenced tracks.
function updateWavLink() {
  const mute = silentList();
  $('dl-wav').href = versionUrl('wav') + '?download=1' + (mute ? '&mute=' + mute : '');
}

// ---------------------------------------------------------------- loading

function setHash() {
  const h = `#song=${S.song.id}&v=${S.version}`;
  if (location.hash !== h) history.replaceState(null, '', h);
}

function updateHeader() {
  const i = S.view.info;
  $('songname').textContent = `${S.song.name} · ${i.bars} bars · ${i.key}`;
}

async function showVersion(num) {
  const view = await api('GET', `/api/songs/${S.song.id}/versions/${num}.json`);
  S.audio.stop(false);
  S.view = view;
  S.version = num;
  S.compareView = null;
  if ($('compare').checked && view.from >= 0)
    S.compareView = await api('GET', `/api/songs/${S.song.id}/versions/${view.from}.json`).catch(() => null);
  if (S.sel && S.sel[1] >= view.bars.length) S.sel = null;
  S.muted = new Set([...S.muted].filter((i) => i < view.info.tracks.length));
  S.soloed = new Set([...S.soloed].filter((i) => i < view.info.tracks.length));
  if (S.focusTrack >= view.info.tracks.length) S.focusTrack = 0;
  renderTracks();
  renderTargets(false);
  renderHistory();
  renderSelection();
  updateHeader();
  drawRoll();
  for (const [id, ext] of [['dl-mid', 'mid'], ['dl-xml', 'musicxml'], ['dl-png', 'png']]) {
    $(id).href = versionUrl(ext) + '?download=1';
    $(id).classList.remove('disabled');
  }
  $('dl-wav').classList.remove('disabled');
  updateWavLink();
  $('play').disabled = $('stop').disabled = false;
  setHash();
  S.audio.load().catch((e) => showError(e.message)); // ready before Play is pressed
}

// Opens a song from the store: every setting starts from the defaults (a
// new song inherits nothing: bars to add, seed, selection, chords, tracks).
async function openSong(id, version) {
  const song = await api('GET', `/api/songs/${id}`);
  S.audio.stop(false);
  S.song = song;
  S.sel = null;
  S.muted.clear();
  S.soloed.clear();
  S.focusTrack = 0;
  resetSettings();
  const nums = song.versions.map((v) => v.version);
  const v = version !== undefined && nums.includes(version) ? version : nums[0];
  $('targets').textContent = '';
  await showVersion(v);
  renderTargets(true);
  if (song.chords) { $('chordmode').value = 'custom'; $('chords').value = song.chords; $('chords').hidden = false; }
  else { $('chordmode').value = 'input'; $('chords').hidden = true; }
  $('generate').disabled = false;
  $('jobstatus').textContent = '';
  renderSongs();
}

function resetSettings() {
  const d = S.model.defaults;
  $('continue').value = 0;
  $('steps').value = d.steps; $('seed').value = d.seed; $('temperature').value = d.temperature; $('guidance').value = d.chord_guidance;
  if (S.model.drum_styles) $('drumstyle').value = d.drum_style;
  $('loop').checked = false;
}

// A song just added: said when the store made room by evicting older ones.
async function added(created) {
  await refreshSongs();
  const gone = created.evicted || [];
  showNotice(gone.length ? `To make room, the studio removed ${gone.length === 1 ? 'song' : 'songs'} ${gone.join(', ')} ` +
    `(it keeps the ${created.kept} newest songs).` : '');
  await openSong(created.id);
}

async function uploadFile(file) {
  showError('');
  if (file.size > S.model.limits.upload_bytes) throw new Error(`${file.name} is larger than the ${S.model.limits.upload_bytes >> 20} MiB the studio takes`);
  const buf = await file.arrayBuffer();
  await added(await api('POST', '/api/songs?name=' + encodeURIComponent(file.name), buf, 'audio/midi'));
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

function jobText(j) {
  if (j.state === 'queued') return `waiting: ${j.position} ahead`;
  if (j.state !== 'running') return j.state;
  const per = j.windows > 1 ? ` (${j.steps_per_window} steps × ${j.windows} windows)` : '';
  return `denoising step ${j.step} of ${j.steps}${per}`;
}

async function generate() {
  showError('');
  showNotice('');
  const o = generateOptions();
  if (!o.targets.length && !(o.continue > 0)) throw new Error('tick at least one track to write');
  const songId = S.song.id;
  const { job } = await api('POST', `/api/songs/${songId}/generate`, JSON.stringify(o));
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
      $('jobstatus').textContent = jobText(j);
      if (j.state === 'done') {
        if (S.song.id !== songId) break; // another song was opened meanwhile
        S.song = await api('GET', `/api/songs/${songId}`);
        if (o.continue > 0) $('continue').value = 0; // bars added once, not again on the next try
        await showVersion(j.version);
        $('seed').value = +$('seed').value + 1; // the next try differs unless asked
        const notes = [];
        if (j.warning) notes.push(`Version ${j.version}: ${j.warning}.`);
        if (j.evicted_version !== null) notes.push(`Version ${j.evicted_version} was removed to make room (a song keeps ${S.model.limits.versions} versions).`);
        showNotice(notes.join(' '));
        $('jobstatus').textContent = j.warning ? `done, but ${j.warning}` : 'done';
        refreshSongs().catch(() => {});
        break;
      }
      if (j.state === 'cancelled') { $('jobstatus').textContent = 'cancelled'; break; }
      if (j.state === 'failed') throw new Error('generation failed: ' + j.error);
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
  $('openfile').addEventListener('click', () => $('file').click());
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
    await added(created);
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
  $('clearsel').addEventListener('click', () => setSelection(null));
  $('barrange').addEventListener('change', typedSelection);
  $('barrange').addEventListener('keydown', (e) => { if (e.key === 'Enter') typedSelection(); });
  $('continue').addEventListener('input', () => { if (+$('continue').value > 0 && S.sel) setSelection(null); });
  $('chordmode').addEventListener('change', () => { $('chords').hidden = $('chordmode').value !== 'custom'; });
  $('compare').addEventListener('change', guard(() => showVersion(S.version)));
  $('play').addEventListener('click', guard(() => S.audio.toggle()));
  $('stop').addEventListener('click', () => S.audio.stop());
  $('loop').addEventListener('change', () => { if (S.audio.playing) S.audio.play(S.audio.position()); });
  window.addEventListener('hashchange', guard(openFromHash));
  document.addEventListener('keydown', guard(onKey));
  wireRollMouse();
}

// Space plays and pauses, M mutes and S solos the focused track, arrow keys
// move the chosen bars (Shift: widen). Not while typing in a field.
function onKey(e) {
  const t = e.target, tag = t && t.tagName;
  if (e.ctrlKey || e.metaKey || e.altKey || !S.view) return;
  if (tag === 'TEXTAREA' || tag === 'SELECT' || (tag === 'INPUT' && t.type !== 'checkbox')) return;
  if (e.key === ' ') { e.preventDefault(); return S.audio.toggle(); }
  const k = e.key.toLowerCase();
  if (k === 'm' || k === 's') {
    e.preventDefault();
    return toggleTrack(k === 'm' ? S.muted : S.soloed, S.focusTrack);
  }
  if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
    if (t && t.closest && t.closest('#tracks, #history, #songs')) return;
    e.preventDefault();
    const n = S.view.bars.length, d = e.key === 'ArrowRight' ? 1 : -1;
    const [a, b] = S.sel || [0, 0];
    if (e.shiftKey) setSelection([a, Math.max(a, Math.min(n - 1, b + d))]);
    else if (a + d >= 0 && b + d < n) setSelection([a + d, b + d]);
  }
}

// Drag across bars selects them; a click moves the playhead to that point.
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
      const tickAt = (e.offsetX - GUTTER) / S.colPx * (S.view.ppq / 4);
      if (tickAt >= 0) S.audio.seek(tickToSec(S.view, tickAt));
    } else if (down && S.audio.playing && $('loop').checked) S.audio.play();
    down = null;
  });
}

// #song=ID&v=N: the song (and version) the URL names, after a reload or a
// server restart (songs are kept in its data folder).
async function openFromHash() {
  const m = /song=(\d+)(?:&v=(\d+))?/.exec(location.hash);
  if (!m || (S.song && S.song.id === +m[1] && (m[2] === undefined || S.version === +m[2]))) return;
  if (!S.songs.some((s) => s.id === +m[1])) {
    showNotice(`Song ${m[1]} is no longer kept by the studio.`);
    return;
  }
  await openSong(+m[1], m[2] !== undefined ? +m[2] : undefined);
}

async function main() {
  S.audio = new Mixer();
  wire();
  try {
    S.model = await api('GET', '/api/model');
    const d = S.model.defaults;
    $('steps').value = d.steps; $('steps').max = S.model.limits.steps; // the model's diffusion steps
    $('seed').value = d.seed; $('temperature').value = d.temperature; $('guidance').value = d.chord_guidance;
    const ds = $('drumstyle');
    for (const name of S.model.drum_styles || []) ds.add(new Option(name, name, false, name === d.drum_style));
    ds.disabled = (S.model.drum_styles || []).length < 2; // a model without styles has only "any"
    await refreshSongs();
    await openFromHash();
  } catch (e) { showError(e.message); }
}
main();
