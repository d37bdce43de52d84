// A long attention head as a map: it opens on the head's overview (every cell pools a block of weights, "max" or
// "mean", named above the map); scrolling zooms about the pointer, dragging pans, shift-dragging zooms into a box. The
// part on screen is then asked from Python (views/zoom/payload.py, through this component's triggers) and drawn
// over the overview: pooled while the window is wide, exact (cell = one weight, float16) once it spans ≤ 256 tokens,
// with token labels once a cell is wide enough to hold one. A click on a cell opens that query's row over every key
// (a strip) with the text around its strongest keys. Tokens are user text: fillText / textContent only.
// common.js (colour, decodeBytes, sizeCanvas, showTip, showPending) and dom.js (element) are prepended in Python.

const ZSTORE = window.__attentionLensZoom || (window.__attentionLensZoom = { tokens: new Map(), overviews: new Map(), windows: new Map(), records: new Map() });
const ZPALETTE = (() => {
  const words = new Uint32Array(256), bytes = new Uint8Array(words.buffer);
  for (let v = 0; v < 256; v++) { const [r, g, b] = colour(v / 255); bytes.set([r, g, b, 255], 4 * v); }
  return words;
})();
const HALF = (() => {   // float16 bits -> float32, for every one of the 65,536 patterns
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    table[h] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity)
                         : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return table;
})();
const SIDE = 640, LEFT = 118, TOP = 96, STRIP = 46, LABEL_CELL = 12;
const EXACT_SPAN = 256, POOLED_SPAN = 1024;   // as views/zoom/payload.py
const RECORD_AFTER_MS = 1000;   // a head's queries and keys are asked once the reader has stayed this long on it

function headKey(view, layer, head) {   // what ZSTORE keeps a head's record (and, with the pool, its views) under
  return `${view}|${layer}|${head}`;
}

function halves(b64) {
  const bits = new Uint16Array(decodeBytes(b64).buffer), out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = HALF[bits[i]];
  return out;
}

async function inflate(b64) {
  const stream = new Blob([decodeBytes(b64)]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function picture(cols, rows, level) {
  // an offscreen canvas of cols × rows pixels, pixel (r, c) coloured by level(r * cols + c) in 0..255
  const canvas = document.createElement("canvas");
  canvas.width = cols; canvas.height = rows;
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(cols, rows), px = new Uint32Array(image.data.buffer);
  for (let i = 0; i < rows * cols; i++) px[i] = ZPALETTE[level(i)];
  ctx.putImageData(image, 0, 0);
  return canvas;
}

function shortToken(token) {
  const text = String(token);
  return text.length > 14 ? `${text.slice(0, 13)}…` : text;
}

function build(parentElement, state) {
  const root = element("div", "zm-root");
  root.setAttribute("role", "figure");
  const header = element("div", "zm-header");
  state.title = element("span", "zm-title");
  state.subtitle = element("span", "zm-subtitle");
  header.append(state.title, state.subtitle);
  const tools = element("div", "zm-tools");
  const button = (label, title, action) => {
    const b = element("button", "zm-button", label);
    b.type = "button"; b.title = title; b.addEventListener("click", action);
    tools.appendChild(b);
    return b;
  };
  state.poolButtons = {
    max: button("Max pooling", "Each overview cell shows the largest weight in its block: lone spikes stay visible",
                () => state.choosePool("max")),
    mean: button("Mean pooling", "Each overview cell shows its block's average weight (rows still sum to 1)",
                 () => state.choosePool("mean")),
  };
  button("Zoom in", "Zoom in about the centre", () => state.zoomBy(0.5, SIDE / 2, SIDE / 2));
  button("Zoom out", "Zoom out about the centre", () => state.zoomBy(2, SIDE / 2, SIDE / 2));
  button("Whole head", "Back to the overview", () => state.reset());
  state.levelBox = element("select", "zm-select");
  state.levelBox.setAttribute("aria-label", "Level");
  for (const [value, label] of [["token", "Tokens"], ["sentence", "Sentences"], ["block", "Blocks of 256 tokens"]]) {
    const option = element("option", "", label); option.value = value; state.levelBox.appendChild(option);
  }
  state.levelBox.addEventListener("change", () => state.chooseLevel(state.levelBox.value));
  tools.appendChild(state.levelBox);
  header.appendChild(tools);
  root.appendChild(header);
  state.legend = element("div", "zm-legend");
  root.appendChild(state.legend);
  const body = element("div", "zm-body");
  state.gridBox = element("div", "zm-grid");
  const stage = element("div", "zm-stage");
  state.canvas = document.createElement("canvas");
  state.canvas.className = "zm-canvas";
  state.tip = element("div", "zm-tip"); state.tip.hidden = true;
  state.box = element("div", "zm-box"); state.box.hidden = true;
  stage.append(state.canvas, state.tip, state.box);
  state.stripCanvas = document.createElement("canvas");
  state.stripCanvas.className = "zm-strip";
  state.stripTitle = element("div", "zm-strip-title", "Click a cell to see that query's row over every key.");
  state.peaks = element("ol", "zm-peaks");
  const main = element("div", "zm-main");
  main.append(stage, state.stripTitle, state.stripCanvas, state.peaks);
  body.append(main, state.gridBox);
  root.appendChild(body);
  state.status = element("div", "zm-status");
  root.appendChild(state.status);
  parentElement.appendChild(root);
  state.root = root;
  state.ctx = sizeCanvas(state.canvas, LEFT + SIDE + 8, TOP + SIDE + 8);
  state.stripCtx = sizeCanvas(state.stripCanvas, LEFT + SIDE + 8, STRIP);
  attachPointer(state);
}

function attachPointer(state) {
  const canvas = state.canvas;
  const inMap = (event) => {
    const box = canvas.getBoundingClientRect();
    return [event.clientX - box.left - LEFT, event.clientY - box.top - TOP];
  };
  canvas.addEventListener("wheel", (event) => {
    const [x, y] = inMap(event);
    if (x < 0 || y < 0 || x > SIDE || y > SIDE) return;
    event.preventDefault();
    state.zoomBy(event.deltaY < 0 ? 0.8 : 1.25, x, y);
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("pointerdown", (event) => {
    const [x, y] = inMap(event);
    if (x < 0 || y < 0 || x > SIDE || y > SIDE) return;
    drag = { x, y, view: { ...state.viewport }, box: event.shiftKey, moved: false };
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    const [x, y] = inMap(event);
    if (!drag) { hover(state, event, x, y); return; }
    if (Math.abs(x - drag.x) + Math.abs(y - drag.y) > 3) drag.moved = true;
    if (drag.box) {
      const side = Math.max(Math.abs(x - drag.x), Math.abs(y - drag.y));
      Object.assign(state.box.style, { left: `${LEFT + Math.min(drag.x, x < drag.x ? drag.x - side : drag.x)}px`,
        top: `${TOP + (y < drag.y ? drag.y - side : drag.y)}px`, width: `${side}px`, height: `${side}px` });
      state.box.hidden = false;
      return;
    }
    const per = state.viewport.span / SIDE;
    state.setViewport(drag.view.q0 - (y - drag.y) * per, drag.view.k0 - (x - drag.x) * per, drag.view.span);
  });
  canvas.addEventListener("pointerup", (event) => {
    const [x, y] = inMap(event);
    const was = drag; drag = null;
    state.box.hidden = true;
    if (!was) return;
    if (was.box && was.moved) {
      const side = Math.max(Math.abs(x - was.x), Math.abs(y - was.y)), per = state.viewport.span / SIDE;
      const x0 = x < was.x ? was.x - side : was.x, y0 = y < was.y ? was.y - side : was.y;
      state.setViewport(state.viewport.q0 + y0 * per, state.viewport.k0 + x0 * per, Math.max(4, side * per));
    } else if (!was.moved) {
      const cell = state.cellAt(x, y);
      if (cell) state.askRow(cell.query);
    }
  });
  canvas.addEventListener("pointerleave", () => { state.tip.hidden = true; });
}

function hover(state, event, x, y) {
  const cell = state.cellAt(x, y);
  if (!cell) { state.tip.hidden = true; return; }
  const tokens = state.tokens;
  const what = cell.factor === 1 ? "weight" : `${cell.pool} of ${cell.factor}×${cell.factor} weights`;
  const where = cell.factor === 1
    ? `query ${cell.query} “${tokens[cell.query]}” → key ${cell.key} “${tokens[cell.key]}”`
    : `queries ${cell.query}–${cell.query + cell.factor - 1} → keys ${cell.key}–${cell.key + cell.factor - 1}`;
  const value = cell.approx ? (cell.weight >= state.overview.scale ? `≥ ${cell.weight.toPrecision(3)}` : `≈ ${cell.weight.toPrecision(2)}`)
                            : cell.weight.toPrecision(4);
  showTip(state.tip, state.canvas, event, `${where}\n${what}: ${value}`);
  state.root.dataset.hover = JSON.stringify({ query: cell.query, key: cell.key, factor: cell.factor, weight: cell.weight });
}

function draw(state) {
  const { ctx, viewport: v, data } = state;
  const n = data.n, per = SIDE / v.span;   // CSS pixels per token
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, LEFT + SIDE + 8, TOP + SIDE + 8);
  ctx.save();
  ctx.beginPath(); ctx.rect(LEFT, TOP, SIDE, SIDE); ctx.clip();
  ctx.imageSmoothingEnabled = false;
  const grouped = state.level !== "token" ? state.grouped : null;
  const place = (image, q0, k0, rows, cols, step) =>   // an image whose pixel is step × step tokens, from (q0, k0)
    ctx.drawImage(image, LEFT + (k0 - v.k0) * per, TOP + (q0 - v.q0) * per, cols * step * per, rows * step * per);
  if (grouped) {
    place(grouped.image, 0, 0, grouped.size, grouped.size, 1);
  } else {
    const ov = state.overview;
    if (ov) ctx.drawImage(ov.image, LEFT - v.k0 * per, TOP - v.q0 * per, n * per, n * per);
    const win = state.window;
    if (win && win.pool === state.pool) {
      ctx.drawImage(win.image, LEFT + (win.k0 - v.k0) * per, TOP + (win.q0 - v.q0) * per,
                    (win.k1 - win.k0) * per, (win.q1 - win.q0) * per);
    }
  }
  ctx.restore();
  ctx.strokeStyle = "#c9cdd8"; ctx.strokeRect(LEFT - 0.5, TOP - 0.5, SIDE + 1, SIDE + 1);
  // axes: token labels once a cell holds one, else positions
  ctx.fillStyle = "#31333f"; ctx.font = FONT;
  const labels = grouped ? grouped.labels : state.tokens;
  const count = grouped ? grouped.size : n;
  const first = Math.max(0, Math.floor(v.q0)), lastQ = Math.min(count, Math.ceil(v.q0 + v.span));
  const firstK = Math.max(0, Math.floor(v.k0)), lastK = Math.min(count, Math.ceil(v.k0 + v.span));
  if (per >= LABEL_CELL && labels) {
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (let q = first; q < lastQ; q++) ctx.fillText(shortToken(labels[q]), LEFT - 4, TOP + (q + 0.5 - v.q0) * per);
    ctx.textAlign = "left";
    for (let k = firstK; k < lastK; k++) {
      ctx.save(); ctx.translate(LEFT + (k + 0.5 - v.k0) * per, TOP - 4); ctx.rotate(-Math.PI / 3);
      ctx.fillText(shortToken(labels[k]), 0, 0); ctx.restore();
    }
    state.root.dataset.labels = "shown";
  } else {
    const step = niceStep(v.span / 6);
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (let q = Math.ceil(v.q0 / step) * step; q < v.q0 + v.span; q += step) {
      ctx.fillText(q.toLocaleString(), LEFT - 4, TOP + (q - v.q0) * per);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    for (let k = Math.ceil(v.k0 / step) * step; k < v.k0 + v.span; k += step) {
      ctx.fillText(k.toLocaleString(), LEFT + (k - v.k0) * per, TOP - 4);
    }
    state.root.dataset.labels = "hidden";
  }
  ctx.textAlign = "left"; ctx.textBaseline = "alphabetic"; ctx.fillStyle = "#6b6f80";
  ctx.fillText("keys →", LEFT, 14); ctx.save(); ctx.translate(14, TOP + 60); ctx.rotate(Math.PI / 2);
  ctx.fillText("queries →", 0, 0); ctx.restore();
  drawStrip(state);
  state.legend.textContent = legend(state);
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || power * 10;
}

function legend(state) {
  const v = state.viewport, d = state.data, win = state.window;
  if (state.level !== "token") {
    const g = state.grouped;
    return g ? `${g.size.toLocaleString()} ${g.by}s: a cell is a query ${g.by}'s average weight summed over a key ${g.by} (rows sum to 1; exact). Colour: √(weight ÷ ${g.scale.toPrecision(3)}).`
             : `Loading the ${state.level} level…`;
  }
  const span = Math.round(v.span).toLocaleString();
  if (win && win.pool === state.pool && covers(win, v)) {
    return win.factor === 1
      ? `Exact weights: one cell is one weight (${span} tokens a side shown). Colour: √(weight ÷ ${win.top.toPrecision(3)}). Hover a cell to read it.`
      : `A window of ${span} tokens a side: each cell is the ${state.pool} of ${win.factor}×${win.factor} weights. Zoom in to ${EXACT_SPAN} tokens a side for exact weights.`;
  }
  const ov = state.overview;
  if (!ov) return "Loading the overview…";
  const block = Math.ceil(d.n / ov.rows);
  return `Overview of all ${d.n.toLocaleString()} tokens: each cell is the ${ov.pool} of a block of ${block}×${block} weights `
       + `(${ov.pool === "max" ? "max pooling: lone spikes stay visible" : "mean pooling: rows keep their sums"}). `
       + `Colour: √(cell ÷ ${ov.scale.toPrecision(3)}), darkest from ${ov.scale.toPrecision(3)} up (largest cell ${ov.top.toPrecision(3)}). `
       + "Scroll to zoom, drag to pan, shift-drag to zoom into a box, click a cell for its query's row.";
}

function covers(win, v) {
  return win.q0 <= Math.max(0, v.q0) + 0.01 && win.k0 <= Math.max(0, v.k0) + 0.01
      && win.q1 >= Math.min(win.n, v.q0 + v.span) - 0.01 && win.k1 >= Math.min(win.n, v.k0 + v.span) - 0.01;
}

function drawStrip(state) {
  const ctx = state.stripCtx, row = state.row, width = LEFT + SIDE + 8;
  ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, width, STRIP);
  if (!row || state.level !== "token") return;
  const n = state.data.n, top = Math.max(...row.peaks.map((p) => p.weight), 1e-12);
  const bins = new Float32Array(SIDE);   // the largest weight per pixel column, over every key
  for (let k = 0; k < row.values.length; k++) {
    const x = Math.min(SIDE - 1, Math.floor(k * SIDE / n));
    if (row.values[k] > bins[x]) bins[x] = row.values[k];
  }
  for (let x = 0; x < SIDE; x++) {
    const [r, g, b] = colour(Math.sqrt(bins[x] / top));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(LEFT + x, 6, 1, STRIP - 16);
  }
  const v = state.viewport;   // the keys on screen, outlined on the strip
  ctx.strokeStyle = "#ff4b4b";
  ctx.strokeRect(LEFT + Math.max(0, v.k0) * SIDE / n, 4, Math.max(2, v.span * SIDE / n), STRIP - 12);
  ctx.fillStyle = "#6b6f80"; ctx.font = FONT; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  ctx.fillText(`query ${row.query}`, LEFT - 4, STRIP / 2);
}

function showRow(state, row) {
  state.row = row;
  const [before, token, after] = row.context;
  state.stripTitle.textContent = `Query ${row.query} “${token}” over all ${state.data.n.toLocaleString()} keys `
    + `(largest weight per pixel; red box: the keys on screen). In the text: …${before} [${token}] ${after}…`;
  state.peaks.replaceChildren();
  for (const peak of row.peaks) {
    const item = element("li", "zm-peak");
    const [b, t, a] = peak.context;
    item.append(element("span", "zm-peak-weight", `${peak.weight.toFixed(3)} · key ${peak.key.toLocaleString()} `),
                element("span", "zm-peak-text", `…${b} `), element("mark", "", t), element("span", "zm-peak-text", ` ${a}…`));
    item.title = "Zoom to this query and key";
    item.addEventListener("click", () => state.setViewport(row.query - 24, peak.key - 24, 48));
    state.peaks.appendChild(item);
  }
  state.root.dataset.row = String(row.query);
  drawStrip(state);
}

function drawGrid(state) {
  const d = state.data, box = state.gridBox;
  box.replaceChildren();
  box.appendChild(element("div", "zm-grid-title", "Layers × heads"));
  if (d.groups > 1) {
    box.appendChild(element("div", "zm-grid-note",
      `Grouped-query attention: every ${d.groups} query heads share one key/value head (one colour band per shared head).`));
  }
  const table = element("div", "zm-grid-rows");
  for (let layer = 0; layer < d.layers; layer++) {
    const line = element("div", "zm-grid-row");
    line.appendChild(element("span", "zm-grid-label", `L${layer}`));
    for (let head = 0; head < d.heads; head++) {
      const group = Math.floor(head / d.groups);
      const cell = element("button", `zm-cell zm-band-${group % 4}`, `H${head}`);
      cell.type = "button";
      cell.title = d.groups > 1 ? `Layer ${layer} · head ${head} (key/value head ${group}, shared with heads `
        + `${group * d.groups}–${group * d.groups + d.groups - 1})` : `Layer ${layer} · head ${head}`;
      cell.dataset.layer = String(layer); cell.dataset.head = String(head); cell.dataset.kv = String(group);
      if (d.groups > 1 && head % d.groups === 0 && head > 0) cell.classList.add("zm-group-start");
      if (layer === state.layer && head === state.head) cell.classList.add("zm-open");
      cell.addEventListener("click", () => state.open(layer, head));
      line.appendChild(cell);
    }
    table.appendChild(line);
  }
  box.appendChild(table);
  if (d.groups > 1) {
    const kv = element("div", "zm-grid-row zm-kv-row");
    kv.appendChild(element("span", "zm-grid-label", "KV"));
    for (let group = 0; group < d.heads / d.groups; group++) {
      const band = element("span", `zm-kv zm-band-${group % 4}`, `key/value ${group}`);
      band.style.flex = String(d.groups);
      kv.appendChild(band);
    }
    box.appendChild(kv);
  }
}

export default function zoomView(component) {
  const { parentElement, setTriggerValue } = component;
  const data = typeof component.data === "string" ? JSON.parse(component.data) : component.data;   // the app: one string
  if (!data || data.preload || showPending(parentElement, "zm-root", data.pending)) return;   // preload: the script only
  for (const stray of parentElement.querySelectorAll(":scope > .hm-pending")) stray.remove();
  const state = parentElement.__zoom || (parentElement.__zoom = { level: "token", asked: 0 });
  state.trigger = setTriggerValue;
  if (!state.root || !state.root.isConnected) build(parentElement, state);
  if (Array.isArray(data.tokens)) ZSTORE.tokens.set(data.view, data.tokens.map(String));
  state.tokens = ZSTORE.tokens.get(data.view);
  if (!state.tokens) { setTriggerValue("missing", { tokens: true }); return; }
  const headChanged = !state.data || state.data.view !== data.view || state.layer !== data.layer || state.head !== data.head;
  state.data = data; state.layer = data.layer; state.head = data.head; state.pool = data.pool;
  const id = `${headKey(data.view, data.layer, data.head)}|${data.pool}`;

  state.title.textContent = `Layer ${data.layer} · Head ${data.head}`;
  state.subtitle.textContent = `${data.n.toLocaleString()} tokens · ${data.model}`
    + (data.groups > 1 ? ` · key/value head ${Math.floor(data.head / data.groups)} (grouped-query)` : "");
  for (const [name, b] of Object.entries(state.poolButtons)) b.classList.toggle("zm-on", name === data.pool);
  state.root.dataset.pool = data.pool;
  state.root.dataset.layer = String(data.layer); state.root.dataset.head = String(data.head);
  state.root.dataset.n = String(data.n);
  state.status.textContent = typeof data.error === "string" ? data.error : "";

  state.setViewport = (q0, k0, span) => {
    const count = state.level !== "token" && state.grouped ? state.grouped.size : data.n;
    span = Math.min(count, Math.max(state.level === "token" ? 8 : 2, span));
    state.viewport = { q0: Math.min(Math.max(q0, 0), count - span), k0: Math.min(Math.max(k0, 0), count - span), span };
    draw(state);
    if (state.level === "token") wantWindow(state);
  };
  state.zoomBy = (factor, x, y) => {
    const v = state.viewport, per = v.span / SIDE, span = v.span * factor;
    state.setViewport(v.q0 + y * per - y * per * factor, v.k0 + x * per - x * per * factor, span);
  };
  state.reset = () => {
    const count = state.level !== "token" && state.grouped ? state.grouped.size : data.n;
    state.setViewport(0, 0, count);
  };
  state.cellAt = (x, y) => {
    const v = state.viewport;
    if (x < 0 || y < 0 || x >= SIDE || y >= SIDE) return null;
    const q = v.q0 + y * v.span / SIDE, k = v.k0 + x * v.span / SIDE;
    if (state.level !== "token") {
      const g = state.grouped;
      if (!g) return null;
      const qi = Math.floor(q), ki = Math.floor(k);
      if (qi >= g.size || ki >= g.size) return null;
      return { query: g.starts[qi], key: g.starts[ki], factor: 1, pool: "", weight: g.values[qi * g.size + ki] };
    }
    const win = state.window;
    if (win && win.pool === state.pool && q >= win.q0 && q < win.q1 && k >= win.k0 && k < win.k1) {
      const r = Math.floor((q - win.q0) / win.factor), c = Math.floor((k - win.k0) / win.factor);
      return { query: win.q0 + r * win.factor, key: win.k0 + c * win.factor, factor: win.factor, pool: win.pool,
               weight: win.values[r * win.cols + c] };
    }
    const ov = state.overview;
    if (!ov) return null;
    const r = Math.floor(q * ov.rows / data.n), c = Math.floor(k * ov.cols / data.n), level = ov.levels[r * ov.cols + c];
    const block = Math.ceil(data.n / ov.rows);
    return { query: Math.floor(r * data.n / ov.rows), key: Math.floor(c * data.n / ov.cols), factor: block,
             pool: ov.pool, weight: ov.scale * (level / 255) ** 2, approx: true };
  };
  state.askRow = (query) => {
    if (state.level !== "token") return;
    if (state.record) { showRow(state, recordRow(state.record, query, state.tokens)); return; }   // no round trip
    state.stripTitle.textContent = `Loading query ${query}'s row…`;
    setTriggerValue("row", { layer: data.layer, head: data.head, query });
  };
  state.open = (layer, head) => {
    state.opening = { layer, head, at: performance.now() };   // asked → drawn is measured in the page (data-open-ms)
    showPending(state.gridBox, "zm-wait", "Opening…");
    setTriggerValue("open", { layer, head });
  };
  state.choosePool = (pool) => setTriggerValue("pool", { pool });
  state.chooseLevel = (level) => {
    state.level = level;
    state.grouped = null;
    if (level === "token") { state.reset(); return; }
    draw(state);
    setTriggerValue("level", { layer: data.layer, head: data.head, by: level });
  };

  const landed = [];
  if (data.overview) landed.push(inflate(data.overview.data).then((levels) => {
    const ov = data.overview;
    ZSTORE.overviews.set(id, { ...ov, levels, image: picture(ov.cols, ov.rows, (i) => levels[i]) });
  }));
  if (data.window) {
    const w = data.window, values = halves(w.data);
    let top = 0;
    for (const value of values) if (value > top) top = value;
    const scale = Math.max(top, 1e-12);   // a window is coloured on its own largest weight (the legend says which)
    const entry = { ...w, n: data.n, values, top: scale,
                    image: picture(w.cols, w.rows, (i) => Math.round(255 * Math.sqrt(Math.max(values[i], 0) / scale))) };
    entry.q1 = Math.min(w.q1, w.q0 + w.rows * w.factor); entry.k1 = Math.min(w.k1, w.k0 + w.cols * w.factor);
    const newer = ZSTORE.windows.get(id);
    if (!newer || !(newer.seq > w.seq)) ZSTORE.windows.set(id, entry);   // a late answer never replaces a newer window
    const sent = state.sent && state.sent.get(w.seq);
    if (sent !== undefined) {   // request sent → window received and drawn (the draw follows below, synchronously)
      state.landed = { seq: w.seq, started: sent };
      state.sent.delete(w.seq);
    }
    if (state.pending && w.seq >= state.pending.seq) state.pending = null;
  }
  const recordId = headKey(data.view, data.layer, data.head);
  if (data.record && !data.record.none) {   // this head's queries and keys: from now on windows are computed here
    const r = data.record, floats = (b64) => r.bits === 16 ? halves(b64) : new Float32Array(decodeBytes(b64).buffer);
    ZSTORE.records.set(headKey(data.view, r.layer, r.head), { ...r, q: floats(r.q), k: floats(r.k),
                                                            lse: new Float32Array(decodeBytes(r.lse).buffer) });
  } else if (data.record) {
    ZSTORE.records.set(headKey(data.view, data.record.layer, data.record.head), null);   // the server computes them
  }
  state.record = ZSTORE.records.get(recordId) || null;
  if (data.row && data.row.layer === data.layer && data.row.head === data.head) {
    showRow(state, { ...data.row, values: halves(data.row.data) });
  }
  if (data.grouped && state.level === data.grouped.by) {
    const g = data.grouped, values = halves(g.data), size = g.labels.length;
    state.grouped = { ...g, size, values,
                      image: picture(size, size, (i) => Math.round(255 * Math.sqrt(Math.max(values[i], 0) / g.scale))) };
    state.reset();
  }
  Promise.all(landed).then(() => {
    state.overview = ZSTORE.overviews.get(id) || null;
    state.window = ZSTORE.windows.get(id) || null;
    if (!state.overview) { setTriggerValue("missing", { layer: data.layer, head: data.head }); return; }
    const opening = state.opening;
    if (opening && opening.layer === data.layer && opening.head === data.head) {
      state.root.dataset.openMs = String(Math.round(performance.now() - opening.at));
      state.opening = null;
    }
    if (headChanged || !state.viewport) {
      state.root.dataset.openedAt = String(Date.now());   // when this head was first drawn (wall clock, for benches)
      state.level = "token"; state.levelBox.value = "token"; state.row = null;
      state.peaks.replaceChildren();
      state.stripTitle.textContent = "Click a cell to see that query's row over every key.";
      drawGrid(state);
      state.setViewport(0, 0, data.n);
    } else {
      draw(state);
      if (data.window) wantWindow(state);   // the view may have moved on while this window travelled
    }
    if (state.landed) {
      const ms = Math.round(performance.now() - state.landed.started);
      state.steps = [...(state.steps || []).slice(-49), ms];
      state.root.dataset.stepMs = String(ms);
      state.root.dataset.steps = JSON.stringify(state.steps);
      state.landed = null;
    }
    if (!ZSTORE.records.has(recordId) && state.waitingRecord !== recordId
        && (state.askedRecord !== recordId || performance.now() - state.askedAt > 3000)) {
      // once the reader has stayed RECORD_AFTER_MS on this head (again if a window request took the trigger's place):
      // a record is megabytes that keep the page busy for a moment, so a reader going through heads is not held up
      state.waitingRecord = recordId;
      setTimeout(() => {
        if (state.waitingRecord === recordId) state.waitingRecord = null;
        if (ZSTORE.records.has(recordId) || headKey(state.data.view, state.layer, state.head) !== recordId || state.opening) return;
        state.askedRecord = recordId;
        state.askedAt = performance.now();
        setTriggerValue("record", { layer: data.layer, head: data.head });
      }, RECORD_AFTER_MS);
    }
    state.root.dataset.source = state.record ? "browser" : "server";
    state.root.dataset.ready = "1";
    state.root.dataset.drawn = String((Number(state.root.dataset.drawn) || 0) + 1);
    const shown = state.window;
    if (shown) state.root.dataset.window = [shown.q0, shown.q1, shown.k0, shown.k1, shown.factor].join(",");
    window.dispatchEvent(new CustomEvent("attention-lens:zoom-drawn", { detail: { view: data.view, layer: data.layer, head: data.head } }));
  });
}

function wantWindow(state) {
  // ask for the part on screen (with a margin to pan into) unless the held window already shows it well enough
  const v = state.viewport, n = state.data.n;
  if (v.span > POOLED_SPAN) return;
  const need = v.span <= EXACT_SPAN ? 1 : Math.ceil(Math.min(POOLED_SPAN, v.span * 1.5) / 256);
  const win = state.window;
  if (win && win.pool === state.pool && covers(win, v) && win.factor <= Math.max(need, 1)) return;
  if (state.pending && performance.now() - state.pending.started < 2000) { state.queued = true; return; }
  const span = v.span <= EXACT_SPAN ? EXACT_SPAN : Math.min(POOLED_SPAN, Math.ceil(v.span * 1.5));
  const centreQ = v.q0 + v.span / 2, centreK = v.k0 + v.span / 2;
  const q0 = Math.max(0, Math.min(n - span, Math.floor(centreQ - span / 2)));
  const k0 = Math.max(0, Math.min(n - span, Math.floor(centreK - span / 2)));
  if (state.record) {   // computed here from the head's queries and keys: no round trip
    const started = performance.now(), factor = span <= EXACT_SPAN ? 1 : Math.ceil(span / 256);
    const q1 = Math.min(n, q0 + span), k1 = Math.min(n, k0 + span);
    const { values, rows, cols } = computeWindow(state.record, q0, q1, k0, k1, factor, state.pool);
    let top = 0;
    for (const value of values) if (value > top) top = value;
    top = Math.max(top, 1e-12);
    const entry = { seq: ++state.asked, layer: state.layer, head: state.head, pool: state.pool, q0, q1, k0, k1, factor, rows, cols, n,
                    values, top, image: picture(cols, rows, (i) => Math.round(255 * Math.sqrt(values[i] / top))) };
    ZSTORE.windows.set(`${headKey(state.data.view, state.layer, state.head)}|${state.pool}`, entry);
    state.window = entry;
    draw(state);
    const ms = Math.round(performance.now() - started);
    state.steps = [...(state.steps || []).slice(-49), ms];
    Object.assign(state.root.dataset, { stepMs: String(ms), steps: JSON.stringify(state.steps), source: "browser",
                                        window: [q0, q1, k0, k1, factor].join(",") });
    return;
  }
  const seq = ++state.asked;
  state.pending = { seq, started: performance.now() };
  (state.sent || (state.sent = new Map())).set(seq, state.pending.started);
  const recordId = headKey(state.data.view, state.layer, state.head);   // asked along only once it was asked alone
  const wanted = !ZSTORE.records.has(recordId) && state.askedRecord === recordId;
  state.trigger("window", { layer: state.layer, head: state.head, pool: state.pool, seq, record: wanted,
                            q0, q1: Math.min(n, q0 + span), k0, k1: Math.min(n, k0 + span) });
}

const PEAKS = 6, CONTEXT = 8;   // as views/zoom/payload.py

function joinPieces(pieces) {
  // word pieces as the tokenizer spells them: "##" continues a word; Ġ, ▁ and Ċ mark a space (as payload._context)
  let text = "";
  for (const raw of pieces) {
    const piece = String(raw).replace(/[ĠĊ▁]/g, " ");
    text += piece.startsWith("##") ? piece.slice(2) : (piece.startsWith(" ") || !text ? piece : ` ${piece}`);
  }
  return text;
}

function contextOf(tokens, position) {
  return [joinPieces(tokens.slice(Math.max(0, position - CONTEXT), position)), String(tokens[position]),
          joinPieces(tokens.slice(position + 1, position + 1 + CONTEXT))];
}

function recordRow(rec, query, tokens) {
  // one query's exact weights over every key from the head's queries and keys, its strongest keys with their text
  // (the same as payload.row_payload, which the server sends when the browser holds no record)
  const { values } = computeWindow(rec, query, query + 1, 0, rec.k.length / rec.d, 1, "max");
  const order = Array.from(values.keys()).filter((k) => values[k] > 0)
    .sort((a, b) => values[b] - values[a] || a - b).slice(0, PEAKS);
  return { layer: rec.layer, head: rec.head, query, values, context: contextOf(tokens, query),
           peaks: order.map((key) => ({ key, weight: values[key], context: contextOf(tokens, key) })) };
}

function computeWindow(rec, q0, q1, k0, k1, factor, pool) {
  // exact weights exp(score − row's log-sum-exp) of queries q0..q1 × keys k0..k1, pooled factor × factor (max, or
  // mean over the cells inside the map) — as Attention.tile and views/zoom/payload.py compute them
  const d = rec.d, rows = Math.ceil((q1 - q0) / factor), cols = Math.ceil((k1 - k0) / factor);
  const values = new Float32Array(rows * cols), counts = pool === "mean" ? new Float32Array(rows * cols) : null;
  const { q: Q, k: K, lse: L, scaling, softcap, causal } = rec;
  for (let q = q0; q < q1; q++) {
    const r = Math.floor((q - q0) / factor) * cols, lse = L[q], qo = q * d;
    for (let k = k0; k < k1; k++) {
      const index = r + Math.floor((k - k0) / factor);
      let w = 0;
      if (!(causal && k > q) && Number.isFinite(lse)) {
        let score = 0;
        const ko = k * d;
        for (let j = 0; j < d; j++) score += Q[qo + j] * K[ko + j];
        score *= scaling;
        if (softcap) score = softcap * Math.tanh(score / softcap);
        w = Math.exp(score - lse);
      }
      if (counts) { values[index] += w; counts[index] += 1; } else if (w > values[index]) values[index] = w;
    }
  }
  if (counts) for (let i = 0; i < values.length; i++) values[i] /= Math.max(counts[i], 1);
  return { values, rows, cols };
}
