// One attention head as a canvas heatmap: query tokens as rows, key tokens as columns.
// Data arrives as JSON from Python (views/payloads.py): tokens as a list of strings and weights as base64 uint16
// levels of the head's maximum (or, outside Streamlit, views/standalone.js hands the levels over already decoded,
// with the precision they carry). Tokens are drawn with fillText / textContent only: they are user text and never
// become markup. No libraries: it draws before any chart bundle is loaded.
//
// In the app a payload names its result (`view`), and the browser keeps what it received in a store shared by the
// views of this tab: a head seen once, or prefetched (8-bit levels, deflated), is drawn again at once, and the server
// sends only a reference to it (`weights` and `tokens` left out). A click on the grid opens a held head here without
// waiting for the server; the component then tells the server ("open") so the pickers and the URL follow.

const STORE = window.__attentionLensStore || (window.__attentionLensStore = { heads: new Map(), tokens: new Map(), bytes: 0 });
const STORE_LIMIT = 96e6;   // bytes of levels kept per tab (~190 heads at 512 tokens); the oldest go first
const PALETTE32 = (() => {   // 256 colours packed as RGBA words in the machine's byte order, for ImageData
  const words = new Uint32Array(256), bytes = new Uint8Array(words.buffer);
  for (let v = 0; v < 256; v++) { const [r, g, b] = colour(v / 255); bytes.set([r, g, b, 255], 4 * v); }
  return words;
})();

const DIVERGING32 = (() => {   // blue (B more, -) through white (0) to red (A more, +), as the plotly difference map
  const words = new Uint32Array(256), bytes = new Uint8Array(words.buffer);
  for (let v = 0; v < 256; v++) { const [r, g, b] = diverging(v / 255); bytes.set([r, g, b, 255], 4 * v); }
  return words;
})();

function diverging(t) {
  // t in [0, 1]: 0 = most negative (blue), 0.5 = zero (white), 1 = most positive (red)
  const blue = [33, 102, 172], white = [247, 247, 247], red = [178, 24, 43];
  const [from, to, f] = t < 0.5 ? [blue, white, t / 0.5] : [white, red, (t - 0.5) / 0.5];
  return from.map((c, k) => Math.round(c + Math.min(Math.max(f, 0), 1) * (to[k] - c)));
}

function keep(view, layer, head, entry) {
  const id = `${view}|${layer}|${head}`;
  const old = STORE.heads.get(id);
  if (old && (old.error === null || entry.error !== null)) return;   // never swap exact levels for coarser ones
  if (old) STORE.bytes -= old.levels.byteLength;
  STORE.heads.set(id, entry);
  STORE.bytes += entry.levels.byteLength;
  for (const [oldest, value] of STORE.heads) {
    if (STORE.bytes <= STORE_LIMIT) break;
    STORE.heads.delete(oldest);
    STORE.bytes -= value.levels.byteLength;
  }
}

function held(view, layer, head) {
  const id = `${view}|${layer}|${head}`, entry = STORE.heads.get(id);
  if (entry) { STORE.heads.delete(id); STORE.heads.set(id, entry); }   // most recently used last
  return entry;
}

async function inflateLevels(b64, bits) {
  // 8-bit levels (255 -> 65535: the same weight, exactly) or little-endian 16-bit ones, deflated
  const stream = new Blob([decodeBytes(b64)]).stream().pipeThrough(new DecompressionStream("deflate"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  if (bits === 16) return new Uint16Array(bytes.buffer);
  const levels = new Uint16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) levels[i] = bytes[i] * 257;
  return levels;
}

function fromStored(data) {
  // the offline file's levels as they were written ({stored: Uint8Array | Uint16Array, bits, code, mu}): 16-bit linear
  // levels for the colours, and each cell's [value, low, high] for the hover (one table of the 256 values at 8 bits)
  const { stored, bits, code, mu, scale } = data;
  const levels = new Uint16Array(stored.length);
  if (bits === 8) {
    const table = Array.from({ length: 256 }, (_, level) => levelBounds(level, 8, code, scale, mu));
    const colour = table.map(([value]) => Math.round(value / scale * 65535));
    for (let i = 0; i < stored.length; i++) levels[i] = colour[stored[i]];
    return { levels, bounds: (i) => table[stored[i]] };
  }
  levels.set(stored);
  return { levels, bounds: (i) => levelBounds(stored[i], 16, code, scale, mu) };
}

function drawHead(parentElement, view) {
  // view: {title, tokens, levels (Uint16Array, row-major [query, key]), scale, error, fixed, top, diverging}
  // top: the colour bar's top when several heads share one scale; diverging: levels code -scale..+scale (A − B)
  // keys: the key tokens when they are not the queries (cross-attention, a pair's A → B); raw / rawKeys: the tokens as
  // the tokenizer wrote them (shown on hover beside the prettified ones); first: [query, key] position of the first
  // row and column (a part of a pair); bounds(i): [value, low, high] of cell i (otherwise from the levels' precision)
  const { tokens, levels, scale } = view;
  const keys = view.keys || tokens;
  const nq = tokens.length, nk = keys.length, n = nk;
  const [q0, k0] = view.first || [0, 0];
  const top1 = view.fixed ? 1 : (view.top || scale);      // the colour bar's top: 1, a shared top, or this head's max
  const weight = view.diverging ? (q, k) => (levels[q * n + k] / 65535 * 2 - 1) * scale
                                : (q, k) => (levels[q * n + k] / 65535) * scale;
  const digits = view.error ? Math.max(3, Math.ceil(-Math.log10(view.error))) : 4;   // the A − B panel
  const shown = (w) => view.error ? `${w.toFixed(digits)} ± ${view.error.toPrecision(1)}` : w.toFixed(4);
  // a weight and a bound that holds for it: 16-bit levels, or 8-bit ones widened to 16 bits (× 257) with error max/510
  const bounds = view.bounds || ((i) => view.error ? levelBounds(levels[i] / 257, 8, "linear", scale)
                                                   : levelBounds(levels[i], 16, "linear", scale));
  const named = (list, raw, i) => (raw && raw[i] !== list[i] ? `${list[i]} «${raw[i]}»` : list[i]);

  const previous = parentElement.querySelector(".hm-root");
  const root = element("div", "hm-root");
  root.setAttribute("role", "figure");
  root.setAttribute("aria-label", `${view.title}: attention weights of ${nq} query tokens over ${nk} key tokens`);
  const header = element("div", "hm-header");
  header.appendChild(element("span", "hm-title", view.title));
  header.appendChild(element("span", "hm-subtitle", "rows: query (attending) · columns: key (attended to)"));
  const save = element("button", "hm-save", "Download PNG");
  save.type = "button";
  header.appendChild(save);
  root.appendChild(header);
  root.appendChild(element("div", "hm-scale", view.diverging
    ? `Colour: ${view.names || "A − B"} of the weights; red: the first attends more, blue: the second, white: the same (± ${scale.toFixed(3)}).`
    : view.fixed ? "Colour: the weight α, on a fixed 0–1 scale (every head comparable)."
    : view.top ? `Colour: the weight α, from 0 to ${top1.toFixed(3)}, one scale shared with the panel beside it.`
    : `Colour: the weight α, from 0 to this head's largest weight (${scale.toFixed(3)}); darkest = that maximum, not 1.`));
  const stage = element("div", "hm-stage");
  const canvas = document.createElement("canvas");
  canvas.className = "hm-canvas";
  const tip = element("div", "hm-tip");
  tip.hidden = true;
  stage.appendChild(canvas);
  stage.appendChild(tip);
  root.appendChild(stage);
  const list = element("ol", "hm-tokens");   // the tokens as text for screen readers (the canvas is pixels)
  list.setAttribute("aria-label", "tokens");
  tokens.forEach((token) => list.appendChild(element("li", "", token)));
  root.appendChild(list);
  if (previous) previous.replaceWith(root); else parentElement.appendChild(root);

  const measure = canvas.getContext("2d");
  measure.font = FONT;
  const widest = Math.min(120, Math.max(30, ...tokens.concat(keys).map((t) => measure.measureText(t).width)));
  const available = Math.max(200, (root.clientWidth || 700) - widest - 90);
  const cell = Math.max(1, Math.min(26, Math.floor(available / Math.max(nq, nk))));
  const labelled = cell >= 9 ? 1 : Math.ceil(9 / cell);     // label every token, or every k-th when cells are tiny
  const left = widest + 8, top = widest * 0.75 + 10, bar = 84;
  const width = left + nk * cell + bar, height = top + nq * cell + 8;
  const ctx = sizeCanvas(canvas, width, height);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, height);

  // cells, drawn as one image so 512 × 512 costs one putImageData; a level becomes one of 256 colours
  const image = ctx.createImageData(nk, nq);
  const pixels = new Uint32Array(image.data.buffer);
  const palette = view.diverging ? DIVERGING32 : PALETTE32;
  const factor = view.diverging ? 255 / 65535 : (scale * 255) / (65535 * top1);
  for (let i = 0; i < nq * nk; i++) pixels[i] = palette[Math.min(255, (levels[i] * factor + 0.5) | 0)];
  const off = document.createElement("canvas");
  off.width = nk; off.height = nq;
  off.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, left, top, nk * cell, nq * cell);

  // labels: queries on the left, keys on top (rotated)
  ctx.fillStyle = "#31333f";
  ctx.font = FONT;
  ctx.textBaseline = "middle";
  const short = (token) => (token.length > 18 ? token.slice(0, 17) + "…" : token);
  for (let i = 0; i < Math.max(nq, nk); i += labelled) {
    const label = short(keys[i] === undefined ? "" : keys[i]);
    ctx.textAlign = "right";
    if (i < nq) ctx.fillText(short(tokens[i]), left - 4, top + (i + 0.5) * cell);
    if (i >= nk) continue;
    ctx.save();
    ctx.translate(left + (i + 0.5) * cell, top - 4);
    ctx.rotate(-Math.PI / 3);
    ctx.textAlign = "left";
    ctx.fillText(label, 0, 0);
    ctx.restore();
  }

  // colour bar, titled: it is the weight α, and its top is 1 or this head's maximum
  const barX = left + nk * cell + 14, barH = Math.max(16, Math.min(nq * cell - 14, 240)), barTop = top + 14;   // ends within the canvas
  for (let y = 0; y < barH; y++) {
    const [r, g, b] = view.diverging ? diverging(1 - y / barH) : colour(1 - y / barH);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(barX, barTop + y, 10, 1);
  }
  ctx.fillStyle = "#31333f";
  ctx.textAlign = "left";
  ctx.fillText(view.diverging ? (view.names || "A − B") : "weight α", barX - 4, top + 2);
  if (view.diverging) {
    ctx.fillText(`+${scale.toFixed(2)}`, barX + 13, barTop + 4);
    ctx.fillText("0", barX + 13, barTop + barH / 2);
    ctx.fillText(`−${scale.toFixed(2)}`, barX + 13, barTop + barH - 4);
  } else {
    ctx.fillText(view.fixed ? "1" : `${top1.toFixed(2)} ${view.top ? "" : "max"}`.trim(), barX + 13, barTop + 4);
    ctx.fillText("0", barX + 13, barTop + barH - 4);
  }

  // hover: which query, which key, what weight
  canvas.addEventListener("mousemove", (event) => {
    const box = canvas.getBoundingClientRect();
    const k = Math.floor((event.clientX - box.left - left) / cell);
    const q = Math.floor((event.clientY - box.top - top) / cell);
    if (q < 0 || k < 0 || q >= nq || k >= nk) { tip.hidden = true; return; }
    const what = view.diverging ? (view.names || "A − B") : "weight", w = weight(q, k);
    const value = view.diverging ? `${w > 0 ? "+" : ""}${shown(w)}` : hoverValue(...bounds(q * nk + k));
    showTip(tip, canvas, event, `query: ${named(tokens, view.raw, q)} (#${q0 + q})\nkey: ${named(keys, view.rawKeys || view.raw, k)} (#${k0 + k})\n${what}: ${value}`);
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  save.addEventListener("click", () => {
    const link = document.createElement("a");
    link.download = `${view.title.replace(/[^A-Za-z0-9]+/g, "-")}.png`;
    link.href = canvas.toDataURL("image/png");
    link.click();
  });
  root.dataset.ready = "true";
  return root;
}

function afterPaint(task) {
  // run `task` once the frame that shows the new view has been painted
  requestAnimationFrame(() => setTimeout(task, 0));
}

function pickerBar(parentElement, state) {
  // Layer and Head boxes drawn by the component itself (issue 19): a change draws a held head in this frame and then
  // tells the server, instead of waiting for a Streamlit widget round trip. Native <select>s with their <label>s.
  let bar = parentElement.querySelector(".hm-pickers");
  if (bar) return bar;
  bar = element("div", "hm-pickers");
  const uid = Math.random().toString(36).slice(2, 8);
  for (const name of ["Layer", "Head"]) {
    const field = element("div", "hm-field");
    const label = element("label", "hm-label", name);
    const select = document.createElement("select");
    select.className = `hm-select hm-${name.toLowerCase()}`;
    select.id = `hm-${name.toLowerCase()}-${uid}`;
    label.htmlFor = select.id;
    select.title = name === "Layer" ? "Layers count from 0 (nearest the input)." : "Heads count from 0; each has its own query/key/value projections.";
    select.addEventListener("change", () => {
      const layer = Number(bar.querySelector(".hm-layer").value), head = Number(bar.querySelector(".hm-head").value);
      state.choose(layer, head);
    });
    field.append(label, select);
    bar.appendChild(field);
  }
  parentElement.insertBefore(bar, parentElement.firstChild);
  return bar;
}

function setOptions(select, count, value) {
  if (select.options.length !== count) {
    select.replaceChildren(...Array.from({ length: count }, (_, i) => { const o = document.createElement("option"); o.value = String(i); o.textContent = String(i); return o; }));
  }
  if (select.value !== String(value)) select.value = String(value);
}

function difference(a, b, pair) {
  // A − B over the aligned tokens (pair.a, pair.b: their positions in A and B), as levels of ± its largest |value|
  const ia = pair.a, ib = pair.b, m = ia.length, na = a.tokens, nb = b.tokens;
  const diff = new Float32Array(m * m);
  let span = 0.02;   // at least ±0.02, so equal heads stay white instead of showing rounding noise
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const d = a.levels[ia[i] * na + ia[j]] / 65535 * a.scale - b.levels[ib[i] * nb + ib[j]] / 65535 * b.scale;
      diff[i * m + j] = d;
      span = Math.max(span, Math.abs(d));
    }
  }
  const levels = new Uint16Array(m * m);
  for (let i = 0; i < m * m; i++) levels[i] = Math.round((diff[i] / span + 1) / 2 * 65535);
  return { levels, scale: span };
}

function outlineFollows(pickers, layer, head) {
  // A page's plotly map of every layer × head (Head stats' grid) sits outside this view's fragment and outlines the
  // open head; it is not re-sent when the view changes, so the outline moves here, in the browser. Such a map: a
  // plotly chart whose first trace is a [layers][heads] heatmap, with a 1 × 1 rectangle shape on one cell.
  for (const chart of document.querySelectorAll(".js-plotly-plot")) {
    const layout = chart.layout, full = chart._fullLayout, z = chart._fullData && chart._fullData[0] && chart._fullData[0].z;
    if (!layout || !full || !Array.isArray(layout.shapes) || !Array.isArray(z) || z.length !== pickers.layers
        || !z[0] || z[0].length !== pickers.heads) continue;   // (rows may be typed arrays)
    layout.shapes.forEach((shape, index) => {
      if (shape.type !== "rect" || shape.x1 - shape.x0 !== 1 || shape.y1 - shape.y0 !== 1) return;
      const path = chart.querySelector(`.shapelayer path[data-index="${index}"]`);
      if (!path || !full.xaxis || !full.yaxis || typeof full.xaxis.l2p !== "function") return;
      // where plotly drew it (kept on the element: plotly draws new elements when it redraws the shapes)
      if (!path.__cell) path.__cell = [shape.y0 + 0.5, shape.x0 + 0.5];
      const [fromLayer, fromHead] = path.__cell;
      const dx = full.xaxis.l2p(head) - full.xaxis.l2p(fromHead), dy = full.yaxis.l2p(layer) - full.yaxis.l2p(fromLayer);
      path.setAttribute("transform", `translate(${dx}, ${dy})`);
      for (const target of [shape, full.shapes && full.shapes[index]].filter(Boolean)) {   // a redraw (resize) keeps it
        Object.assign(target, { x0: head - 0.5, x1: head + 0.5, y0: layer - 0.5, y1: layer + 0.5 });
      }
    });
  }
}

export default function headHeatmap(component) {
  const { data, parentElement, setTriggerValue } = component;
  if (data) holdPlaces(data.hold);
  if (!data || showPending(parentElement, "hm-root", data.pending)) return;
  if (!data.view) {   // a payload that carries everything (the offline file, a notebook)
    if (!Array.isArray(data.tokens)) return;
    const { levels, bounds } = data.stored ? fromStored(data) : {
      levels: data.levels instanceof Uint16Array ? data.levels : new Uint16Array(decodeBytes(data.weights).buffer), bounds: null };
    const root = drawHead(parentElement, { title: data.title, tokens: data.tokens.map(String), levels, scale: data.scale,
                                           error: data.error || null, fixed: Boolean(data.fixed), bounds,
                                           keys: data.keys, raw: data.raw, rawKeys: data.rawKeys, first: data.first });
    if (data.part) root.dataset.part = data.part;
    return;
  }

  // the app: keep what arrived, draw from the store
  if (Array.isArray(data.tokens)) STORE.tokens.set(data.view, data.tokens.map(String));
  if (Array.isArray(data.tokens)) STORE.raw = Object.assign(STORE.raw || {}, { [data.view]: Array.isArray(data.raw) ? data.raw.map(String) : null });
  if (typeof data.weights === "string") {
    keep(data.view, data.layer, data.head, { levels: new Uint16Array(decodeBytes(data.weights).buffer), scale: data.scale, error: null });
  }
  const pair = data.pair || null;   // Compare: B's head beside A's, and A − B over the aligned tokens
  if (pair) {
    if (Array.isArray(pair.tokens)) STORE.tokens.set(pair.view, pair.tokens.map(String));
    if (typeof pair.weights === "string") {
      keep(pair.view, data.layer, data.head, { levels: new Uint16Array(decodeBytes(pair.weights).buffer), scale: pair.scale, error: null });
    }
  }
  for (const stray of parentElement.querySelectorAll(":scope > .hm-root")) stray.remove();   // a placeholder drawn before
  const state = parentElement.__attentionLens || (parentElement.__attentionLens = {});
  state.data = data;
  state.trigger = setTriggerValue;
  const panels = (() => {   // one body per drawn head: [A] or [A, B, A − B]
    let holder = parentElement.querySelector(".hm-panels");
    const count = pair ? 3 : 1;
    if (!holder || holder.children.length !== count) {
      if (holder) holder.remove();
      holder = element("div", pair ? "hm-panels hm-triple" : "hm-panels");
      for (let i = 0; i < count; i++) holder.appendChild(element("div", "hm-panel"));
      parentElement.appendChild(holder);
    }
    return [...holder.children];
  })();

  const show = (layer, head) => {
    const d = state.data, tokens = STORE.tokens.get(d.view), entry = held(d.view, layer, head);
    if (!tokens || !entry) return false;
    const fixed = Boolean(d.fixed);
    if (!d.pair) {
      const root = drawHead(panels[0], { title: `Layer ${layer} · Head ${head}`, tokens, levels: entry.levels,
                                         scale: entry.scale, error: entry.error, fixed, raw: (STORE.raw || {})[d.view] });
      root.dataset.source = entry.error === null ? "exact" : "prefetched";
      mark(root, layer, head);
    } else {
      const p = d.pair, tokensB = STORE.tokens.get(p.view), other = held(p.view, layer, head);
      if (!tokensB || !other) return false;
      const top = Math.max(entry.scale, other.scale);   // one colour scale for A and B, so strengths compare
      const a = drawHead(panels[0], { title: `${p.title_a} · L${layer} H${head}`, tokens, levels: entry.levels,
                                      scale: entry.scale, error: entry.error, fixed, top });
      const b = drawHead(panels[1], { title: `${p.title_b} · L${layer} H${head}`, tokens: tokensB, levels: other.levels,
                                      scale: other.scale, error: other.error, fixed, top });
      const error = entry.error === null && other.error === null ? null : (entry.error || 0) + (other.error || 0);
      let c = null;
      if (p.labels.length) {
        const diff = difference({ ...entry, tokens: tokens.length }, { ...other, tokens: tokensB.length }, p);
        c = drawHead(panels[2], { title: `A − B · Layer ${layer} · Head ${head}`, tokens: p.labels.map(String),
                                  levels: diff.levels, scale: diff.scale, error, diverging: true, names: "A − B" });
      } else {
        showPending(panels[2], "hm-root", "A and B share no tokens: no difference to show.");
      }
      for (const root of [a, b, c].filter(Boolean)) {
        root.dataset.source = error === null ? "exact" : "prefetched";
        mark(root, layer, head);
      }
    }
    state.drawn = `${d.view}|${layer}|${head}|${Boolean(d.fixed)}`;
    window.dispatchEvent(new CustomEvent("attention-lens:shown", { detail: { view: d.view, layer, head } }));
    if (d.pickers) outlineFollows(d.pickers, layer, head);
    return true;
  };
  const mark = (root, layer, head) => { root.dataset.layer = String(layer); root.dataset.head = String(head); };

  // a new layer or head, from the pickers or a grid click: draw it now when held, then let the server follow
  state.choose = (layer, head) => {
    if (state.bar) {
      setOptions(state.bar.querySelector(".hm-layer"), state.data.pickers.layers, layer);
      setOptions(state.bar.querySelector(".hm-head"), state.data.pickers.heads, head);
    }
    if (!show(layer, head)) {
      for (const panel of panels) showPending(panel, "hm-root", "Loading this head…");
      state.drawn = null;
    }
    afterPaint(() => state.trigger("open", { layer, head }));   // Streamlit's work on the trigger waits for the paint
  };
  if (data.pickers) {
    state.bar = pickerBar(parentElement, state);
    setOptions(state.bar.querySelector(".hm-layer"), data.pickers.layers, data.layer);
    setOptions(state.bar.querySelector(".hm-head"), data.pickers.heads, data.head);
  } else if (state.bar) {
    state.bar.remove();
    state.bar = null;
  }

  if (!state.listening) {   // a grid click in this tab
    state.listening = (event) => {
      const { view, layer, head } = event.detail || {};
      if (!state.data || view !== state.data.view) return;
      event.preventDefault();
      state.choose(layer, head);
    };
    window.addEventListener("attention-lens:open", state.listening);
  }

  const wanted = `${data.view}|${data.layer}|${data.head}|${Boolean(data.fixed)}`;
  if (state.drawn !== wanted || !panels[0].querySelector(".hm-root[data-ready]")) {
    if (!show(data.layer, data.head)) {   // the server thought this head was here (e.g. the store let it go): ask again
      for (const panel of panels) showPending(panel, "hm-root", "Loading this head…");
      state.drawn = null;
      setTriggerValue("missing", { layer: data.layer, head: data.head });
    }
  }
  if (Array.isArray(data.prefetch) && state.unpacked !== data) {
    state.unpacked = data;
    for (const packed of data.prefetch) {
      inflateLevels(packed.data, packed.bits).then((levels) => keep(packed.view || data.view, packed.layer, packed.head, {
        levels, scale: packed.scale, error: packed.bits === 16 ? null : packed.scale / 510,   // half a level of 255
      }));
    }
  }
  if (data.more && state.asked !== data) {   // once this view is painted, ask for the heads a reader opens next
    state.asked = data;
    requestAnimationFrame(() => setTimeout(() => setTriggerValue("prefetch", { layer: data.layer, head: data.head }), 0));
  }
  return () => {
    window.removeEventListener("attention-lens:open", state.listening);
    state.listening = null;
  };
}
