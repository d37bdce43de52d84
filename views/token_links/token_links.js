// Token links: query tokens (left) joined to key tokens (right) by one line per link above the threshold.
// Data arrives as JSON from Python (views/payloads.py: payload). Tokens are written with textContent only:
// they are user text and never become markup. Lines are drawn on one canvas, bucketed by strength so
// thousands of links cost a few dozen strokes.
//
// The view is built once per text (the bar, the two token columns, the canvas) and then kept: a layer change, a head
// toggle, a pin or a threshold only swaps the links it draws and redraws the canvas and the status line (issue 19:
// rebuilding the columns cost a frame of 100–300 ms of style and layout on every change).

const ROW = 20;          // px per token row, the same in both columns and on the canvas
const BUCKETS = 8;       // strength levels: one canvas path per (head, level)
const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
];

function colour(index, count) {
  if (count === 1 && index === 0) return "#4a4a8a";
  return index < PALETTE.length ? PALETTE[index] : `hsl(${(index * 137.5) % 360}, 60%, 45%)`;
}

function decode(b64, Kind) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new Kind(bytes.buffer);
}

function decodedHeads(item) {
  // the typed arrays of a payload's heads, decoded once per payload (a layer seen again is not decoded again)
  if (!item.__decoded) {
    item.__decoded = item.heads.map((head, index) => ({
      name: String(head.name),
      colour: colour(index, item.heads.length),
      query: decode(head.q, Uint16Array),
      key: decode(head.k, Uint16Array),
      weight: decode(head.w, Uint8Array),
    }));
  }
  return item.__decoded;
}

// In the app a payload names its result (`view`) and its layer, threshold and mode (`slot`); the browser keeps the
// links it received (and the other layers', prefetched once the first view is drawn) in a store of this tab, so the
// server sends a reference for a layer already here, and a head toggle or a pin is never sent back down.
const LINKS = window.__attentionLensLinks || (window.__attentionLensLinks = { slots: new Map(), tokens: new Map() });

function resolve(data, state, setTriggerValue) {
  // the payload to draw: as it came, or the stored one for its view and slot with this run's shown heads and pin
  if (!data.view) return data;
  if (Array.isArray(data.tokens)) LINKS.tokens.set(data.view, data.tokens.map(String));
  for (const item of data.prefetch || []) LINKS.slots.set(`${data.view}|${item.slot}`, item);
  if (Array.isArray(data.heads)) LINKS.slots.set(`${data.view}|${data.slot}`, data);
  while (LINKS.slots.size > 200) LINKS.slots.delete(LINKS.slots.keys().next().value);
  const stored = LINKS.slots.get(`${data.view}|${data.slot}`), tokens = LINKS.tokens.get(data.view);
  if (!stored || !tokens) { setTriggerValue("missing", data.slot); return null; }
  if (data.more && state.asked !== data) {
    state.asked = data;
    requestAnimationFrame(() => setTimeout(() => setTriggerValue("prefetch", data.slot), 0));
  }
  return { ...data, heads: stored.heads, source: stored, tokens };
}

function sameTokens(a, b) {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function build(parentElement, state, tokens, keyTokens = tokens) {
  // the parts that stay while the text stays: bar (Layer box, head squares, status), token columns, canvas
  // keyTokens: the right column when keys are not the queries (cross-attention: decoder tokens left, encoder right)
  const n = Math.max(tokens.length, keyTokens.length);
  const root = element("div", "tl-root");
  root.setAttribute("role", "figure");
  root.setAttribute("aria-label", "Links from query tokens to key tokens");
  const bar = element("div", "tl-bar");
  const label = element("span", "tl-bar-label");
  const squares = element("span", "tl-squares");
  const status = element("span", "tl-status");
  bar.append(label, squares, status);
  root.appendChild(bar);

  const scroller = element("div", "tl-scroll");
  const grid = element("div", "tl-grid");
  const left = element("div", "tl-col tl-queries");
  const right = element("div", "tl-col tl-keys");
  // The canvas is only as tall as the visible window and sticks in it while the columns scroll: a 512-token
  // text would need a 10,000-pixel canvas otherwise, slow to paint. Lines are drawn for the rows in view.
  const lines = element("div", "tl-lines");
  const canvas = element("canvas", "tl-canvas");
  lines.appendChild(canvas);
  // Column titles sit in the grid's first row (sticky), so they line up with the columns whatever their width.
  grid.append(element("div", "tl-title tl-title-q", "query: attends from"), element("div", "tl-title", ""),
              element("div", "tl-title tl-title-k", "key: is attended to"), left, lines, right);
  scroller.appendChild(grid);
  root.appendChild(scroller);
  root.appendChild(element("div", "tl-hint",
    "Hover or focus a token to isolate its links; click to pin it (click again to unpin). Left: what it attends to; right: what attends to it."));

  const makeColumn = (column, side) => (side === "k" ? keyTokens : tokens).map((token, position) => {
    const cell = element("div", "tl-token", token === "" ? "∅" : token);
    cell.dataset.side = side;
    cell.dataset.pos = String(position);
    cell.tabIndex = 0;
    cell.title = `${side === "q" ? "query" : "key"} ${position}`;
    column.appendChild(cell);
    return cell;
  });
  const view = {
    root, bar, label, squares, status, scroller, lines, canvas, left, tokens, keyTokens, n,
    cells: { q: makeColumn(left, "q"), k: makeColumn(right, "k") },
    marks: { q: new Array(n).fill(""), k: new Array(n).fill("") },   // what each cell shows now: written only on change
    names: null, layerBox: null,
  };

  // Hover changes are drawn once per frame: moving across tokens fires leave+enter pairs.
  const redrawSoon = () => {
    if (!state.frame) state.frame = requestAnimationFrame(() => { state.frame = 0; draw(state); });
  };
  const onEnter = (event) => {
    const cell = event.target.closest && event.target.closest(".tl-token");
    if (!cell) return;
    state.hover = `${cell.dataset.side}${cell.dataset.pos}`;
    redrawSoon();
  };
  const onLeave = (event) => {
    const cell = event.target.closest && event.target.closest(".tl-token");
    if (!cell || !state.hover) return;
    state.hover = null;
    redrawSoon();
  };
  const onClick = (event) => {
    const cell = event.target.closest && event.target.closest(".tl-token");
    if (!cell) return;
    const id = `${cell.dataset.side}${cell.dataset.pos}`;
    state.pin = state.pin === id ? null : id;
    state.hover = null;
    draw(state);
    state.component.setStateValue("pin", state.pin);
  };
  const onKey = (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); onClick(event); }
  };
  grid.addEventListener("mouseover", onEnter);
  grid.addEventListener("mouseout", onLeave);
  grid.addEventListener("focusin", onEnter);
  grid.addEventListener("focusout", onLeave);
  grid.addEventListener("click", onClick);
  grid.addEventListener("keydown", onKey);
  scroller.addEventListener("scroll", redrawSoon, { passive: true });
  view.resize = new ResizeObserver(() => draw(state));

  const previous = parentElement.querySelector(".tl-root");   // replaced in place: the page never sees it gone
  if (previous) previous.replaceWith(root); else parentElement.appendChild(root);
  return view;
}

function headSquares(state) {
  // the head squares (and All/None) for the heads of the payload drawn; rebuilt only when their names change
  const { view } = state, heads = state.heads;
  const names = heads.map((head) => head.name).join("\u0000");
  view.label.textContent = heads.length === 1 ? "Layer mean:" : "Heads:";
  if (view.names === names) {   // the same heads (another layer): only their colours may differ
    heads.forEach((head, index) => view.squares.children[index].style.setProperty("--head-colour", head.colour));
    return;
  }
  view.names = names;
  const changed = () => {
    draw(state);
    const shown = [...state.shown].sort((a, b) => a - b);
    requestAnimationFrame(() => setTimeout(() => state.component.setStateValue("heads", shown), 0));   // after the paint
  };
  const items = heads.map((head, index) => {
    const square = element("button", "tl-head", head.name);
    square.type = "button";
    square.dataset.head = String(index);
    square.style.setProperty("--head-colour", head.colour);
    square.title = heads.length === 1 ? "The mean of the layer's heads" : `Head ${head.name}: click to show or hide, double-click to show only this head`;
    square.addEventListener("click", () => {
      if (state.shown.has(index)) state.shown.delete(index); else state.shown.add(index);
      changed();
    });
    square.addEventListener("dblclick", () => { state.shown.clear(); state.shown.add(index); changed(); });
    return square;
  });
  if (heads.length > 1) {
    for (const [text, all] of [["All", true], ["None", false]]) {
      const button = element("button", "tl-all", text);
      button.type = "button";
      button.addEventListener("click", () => {
        state.shown.clear();
        if (all) state.heads.forEach((_, index) => state.shown.add(index));
        changed();
      });
      items.push(button);
    }
  }
  view.squares.replaceChildren(...items);
}

function layerBox(state) {
  // the Layer box, drawn here (issue 19): a held layer is drawn in this frame with the heads and pin shown now,
  // then the server follows ("layer"); one not held yet waits for it
  const { view } = state, data = state.data;
  if (!(data.view && Number.isInteger(data.layers) && Array.isArray(data.slots))) {
    if (view.layerBox) { view.layerBox.remove(); view.layerBox = null; }
    return;
  }
  if (!view.layerBox) {
    const field = element("span", "tl-layer-field");
    const select = document.createElement("select");
    select.className = "tl-layer";
    select.id = `tl-layer-${Math.random().toString(36).slice(2, 8)}`;
    const label = element("label", "tl-layer-label", "Layer");
    label.htmlFor = select.id;
    select.title = "Layers count from 0 (nearest the input). All heads of this layer are available.";
    select.addEventListener("change", () => {
      const layer = Number(select.value), latest = state.data;
      const next = { ...latest, layer, slot: latest.slots[layer], shown: [...state.shown], pin: state.pin };
      const stored = LINKS.slots.get(`${latest.view}|${next.slot}`);
      if (stored) {
        show(state, { ...next, heads: stored.heads, source: stored });
      } else {
        view.root.dataset.drawn = "";
        view.root.dataset.layer = String(layer);
        view.root.classList.add("tl-loading");
        view.status.textContent = `Loading layer ${layer}…`;
      }
      requestAnimationFrame(() => setTimeout(() => state.component.setTriggerValue("layer", layer), 0));   // after the paint
    });
    field.append(label, select);
    view.bar.insertBefore(field, view.bar.firstChild);
    view.layerBox = field;
  }
  const select = view.layerBox.querySelector("select");
  if (select.options.length !== data.layers) {
    select.replaceChildren(...Array.from({ length: data.layers }, (_, i) => {
      const option = document.createElement("option");
      option.value = String(i);
      option.textContent = String(i);
      return option;
    }));
  }
  if (select.value !== String(data.layer)) select.value = String(data.layer);
}

function within(heads, range) {
  // a sentence pair's filter (A → B, …): only the links from queries in range.q to keys in range.k
  if (!range) return heads;
  const [[q0, q1], [k0, k1]] = range;
  return heads.map((head) => {
    const keep = [];
    for (let i = 0; i < head.weight.length; i++) {
      if (head.query[i] >= q0 && head.query[i] < q1 && head.key[i] >= k0 && head.key[i] < k1) keep.push(i);
    }
    const pick = (Kind, values) => Kind.from(keep, (i) => values[i]);
    return { ...head, query: pick(Uint16Array, head.query), key: pick(Uint16Array, head.key), weight: pick(Uint8Array, head.weight) };
  });
}

function show(state, data) {
  // draw `data` (resolved: heads, tokens) in the kept view: new links, shown heads and pin; the columns stay
  state.data = data;
  state.heads = within(data.source ? decodedHeads(data.source) : decodedHeads(data), data.range);
  state.shown = new Set(data.shown);
  state.pin = typeof data.pin === "string" ? data.pin : null;   // "q3" or "k5"
  state.hover = null;
  headSquares(state);
  layerBox(state);
  state.view.root.classList.remove("tl-loading");
  draw(state);
}

// Rasterising the lines is what a change costs (software raster: ~50–150 ms for 2,000 links on this machine's CPUs);
// building the DOM again cost more. So the canvas keeps, for the rows in view, one picture per head of the layer shown
// (a head toggle composites them: a few ms) and one picture of the layers beside it with the heads now shown (a layer
// change copies it). They are painted while the page is idle, head by head, and dropped when the window, the width
// or the links change; a hover or a pin draws its few links directly.
const PICTURE_BYTES = 48e6;   // most pixels kept per view for these pictures (12 heads + 2 layers at 460 × 620 px: 16 MB)

function strokeHead(context, head, width, top, bottom, ratio, focus, glow) {
  // the links of one head that cross the rows [top, bottom] (row pixels), bucketed by strength; returns the links
  // that pass the focus (all when there is none), in view or not
  const ends = Array.from({ length: BUCKETS }, () => []);   // per strength level: from, to, from, to, …
  const { query, key, weight } = head;
  let passed = 0;
  for (let i = 0; i < weight.length; i++) {
    const q = query[i], k = key[i];
    if (focus && (focus.side === "q" ? q !== focus.pos : k !== focus.pos)) continue;
    passed++;
    if (focus) {
      const w = weight[i] / 255;
      if (focus.side === "q") glow.k[k] = Math.max(glow.k[k], w); else glow.q[q] = Math.max(glow.q[q], w);
    }
    const from = q * ROW + ROW / 2, to = k * ROW + ROW / 2;
    if (Math.max(from, to) < top || Math.min(from, to) > bottom) continue;   // not in view
    ends[Math.min(BUCKETS - 1, (weight[i] * BUCKETS) >> 8)].push(from, to);
  }
  context.strokeStyle = head.colour;
  ends.forEach((list, level) => {
    const strength = (level + 1) / BUCKETS;
    context.globalAlpha = Math.min(1, 0.15 + 0.85 * strength);
    context.lineWidth = 0.6 + 2.4 * strength;
    // Why not one path per level: a wide stroke of one path with many crossing lines is filled as one complex polygon
    // (about twice as slow in software raster); each line alone is a small convex one. Hairlines: one path.
    if (context.lineWidth * ratio <= 1) {
      const path = new Path2D();
      for (let i = 0; i < list.length; i += 2) { path.moveTo(0, list[i]); path.lineTo(width, list[i + 1]); }
      context.stroke(path);
    } else {
      for (let i = 0; i < list.length; i += 2) {
        context.beginPath();
        context.moveTo(0, list[i]);
        context.lineTo(width, list[i + 1]);
        context.stroke();
      }
    }
  });
  context.globalAlpha = 1;
  return passed;
}

function frameOf(state) {
  // the visible canvas sized to the window of rows in view; returns where that window is
  const { canvas, lines, scroller, left, n } = state.view;
  const width = Math.max(120, lines.clientWidth || 240);
  const height = Math.max(ROW, Math.min(n * ROW, scroller.clientHeight || n * ROW));
  if (canvas.style.height !== `${height}px`) canvas.style.height = `${height}px`;
  const ratio = Math.min(window.devicePixelRatio || 1, 2);
  const pixelsWide = Math.round(width * ratio), pixelsHigh = Math.round(height * ratio);
  if (canvas.width !== pixelsWide || canvas.height !== pixelsHigh) {
    canvas.width = pixelsWide;
    canvas.height = pixelsHigh;
  }
  const top = canvas.getBoundingClientRect().top - left.getBoundingClientRect().top;   // window top, in row pixels
  return { width, height, ratio, top, bottom: top + height, pixelsWide, pixelsHigh, key: `${pixelsWide}|${pixelsHigh}|${ratio}|${top}` };
}

function blank(frame) {
  // an off-page canvas the size of the window, ready to stroke links in row pixels
  const canvas = document.createElement("canvas");
  canvas.width = frame.pixelsWide;
  canvas.height = frame.pixelsHigh;
  const context = canvas.getContext("2d");
  context.setTransform(frame.ratio, 0, 0, frame.ratio, 0, -frame.top * frame.ratio);
  return { canvas, context };
}

function fromPictures(state, frame, context) {
  // the window painted from the kept pictures, when they cover it; false otherwise
  const { pictures } = state, source = state.data.source || state.data;
  if (!pictures || pictures.frame !== frame.key) return false;
  const order = [...state.shown].sort((a, b) => a - b);
  const heads = pictures.heads.get(source);
  const copy = (canvases) => {
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, frame.pixelsWide, frame.pixelsHigh);
    for (const canvas of canvases) context.drawImage(canvas, 0, 0);
    return true;
  };
  if (heads && order.every((index) => heads[index])) return copy(order.map((index) => heads[index]));
  const layer = pictures.layers.get(source);
  if (layer && layer.shown === order.join(",") && layer.painted === state.heads.length) return copy([layer.canvas]);
  return false;
}

function paintLater(state, frame) {
  // once the page is idle, one head at a time: the pictures of this layer's heads, then of the layers beside it
  const source = state.data.source || state.data, data = state.data;
  const chosen = new Set(state.shown), shown = [...chosen].sort((a, b) => a - b).join(",");
  const old = state.pictures && state.pictures.frame === frame.key ? state.pictures : null;
  const pictures = { frame: frame.key, heads: new Map(), layers: new Map() };
  const bytes = frame.pixelsWide * frame.pixelsHigh * 4;
  const tasks = [];
  if (bytes * state.heads.length <= PICTURE_BYTES / 2) {
    const kept = (old && old.heads.get(source)) || [];
    pictures.heads.set(source, kept);
    state.heads.forEach((head, index) => {
      if (!kept[index]) tasks.push(() => { const { canvas, context } = blank(frame); strokeHead(context, head, frame.width, frame.top, frame.bottom, frame.ratio); kept[index] = flushed(canvas, context); });
    });
  }
  const beside = Number.isInteger(data.layer) && Array.isArray(data.slots) ? [data.layer + 1, data.layer - 1] : [];
  for (const layer of beside) {
    const stored = layer >= 0 && layer < data.slots.length && LINKS.slots.get(`${data.view}|${data.slots[layer]}`);
    if (!stored || bytes * 2 > PICTURE_BYTES / 2) continue;
    const previous = old && old.layers.get(stored);
    if (previous && previous.shown === shown) { pictures.layers.set(stored, previous); if (previous.painted === decodedHeads(stored).length) continue; }
    const entry = previous && previous.shown === shown ? previous : { shown, painted: 0, ...blank(frame) };
    pictures.layers.set(stored, entry);
    decodedHeads(stored).forEach((head, index) => {
      if (index < entry.painted) return;
      tasks.push(() => {
        if (chosen.has(index)) strokeHead(entry.context, head, frame.width, frame.top, frame.bottom, frame.ratio);
        flushed(entry.canvas, entry.context);
        entry.painted = index + 1;
      });
    });
  }
  state.pictures = pictures;
  const run = (deadline) => {
    if (state.pictures !== pictures) return;   // the window or the links changed since: a newer list is under way
    while (tasks.length && deadline.timeRemaining() > 4) tasks.shift()();
    if (tasks.length) idle(run);
  };
  if (tasks.length) idle(run);
}

function flushed(canvas, context) {
  context.getImageData(0, 0, 1, 1);   // rasterise now (idle), not when the picture is first copied
  return canvas;
}

const idle = (task) => (window.requestIdleCallback ? window.requestIdleCallback(task, { timeout: 2000 })
                                                     : setTimeout(() => task({ timeRemaining: () => 50 }), 50));

function draw(state) {
  const started = performance.now();
  const { view, heads, shown, pin, data } = state;
  const { canvas, cells, marks, tokens, n, root } = view;
  const frame = frameOf(state);
  const context = canvas.getContext("2d");
  const active = state.hover || pin;
  const focus = active ? { side: active[0], pos: Number(active.slice(1)) } : null;
  const glow = { q: new Float32Array(n), k: new Float32Array(n) };   // (n: the longer column)
  const total = heads.reduce((sum, head, index) => sum + (shown.has(index) ? head.weight.length : 0), 0);
  let drawn = total, source = "pictures";
  if (focus || !fromPictures(state, frame, context)) {
    source = "links";
    context.setTransform(frame.ratio, 0, 0, frame.ratio, 0, -frame.top * frame.ratio);
    context.clearRect(0, frame.top, frame.width, frame.height);
    drawn = 0;
    heads.forEach((head, index) => {
      if (shown.has(index)) drawn += strokeHead(context, head, frame.width, frame.top, frame.bottom, frame.ratio, focus, glow);
    });
  }
  if (!focus) paintLater(state, frame);
  for (const side of ["q", "k"]) {   // only the cells whose look changes are written (no style work for the rest)
    cells[side].forEach((cell, position) => {
      const strength = glow[side][position];
      const isFocus = Boolean(focus && focus.side === side && focus.pos === position);
      const mark = `${isFocus ? "f" : ""}${pin === `${side}${position}` ? "p" : ""}${strength > 0 ? (0.15 + 0.6 * strength).toFixed(2) : ""}`;
      if (marks[side][position] === mark) return;
      marks[side][position] = mark;
      cell.classList.toggle("tl-focus", isFocus);
      cell.classList.toggle("tl-pinned", pin === `${side}${position}`);
      cell.style.backgroundColor = strength > 0 ? `rgba(74, 120, 210, ${(0.15 + 0.6 * strength).toFixed(2)})` : "";
    });
  }
  [...view.squares.querySelectorAll(".tl-head")].forEach((square, index) => square.classList.toggle("tl-off", !shown.has(index)));
  view.status.textContent = focus
    ? `${drawn} link${drawn === 1 ? "" : "s"} of ${focus.side === "q" ? "query" : "key"} “${(focus.side === "q" ? tokens : view.keyTokens)[focus.pos]}”`
    : `${drawn} link${drawn === 1 ? "" : "s"} ≥ ${data.threshold}`;
  root.dataset.drawn = String(drawn);
  root.dataset.total = String(total);
  root.dataset.focus = focus ? `${focus.side}${focus.pos}` : "";
  root.dataset.shown = [...shown].sort((a, b) => a - b).join(",");
  if (Number.isInteger(data.layer)) root.dataset.layer = String(data.layer);
  root.dataset.key = `${data.view}|${data.slot}|${root.dataset.shown}|${pin}`;
  root.dataset.source = source;   // "pictures": copied from what the view kept; "links": stroked now
  root.dataset.drawMs = (performance.now() - started).toFixed(1);
}

export default function tokenLinks(component) {
  const parentElement = component.parentElement;
  if (!component.data) return;
  const state = parentElement.__tl || (parentElement.__tl = { view: null, frame: 0 });
  state.component = { setStateValue: component.setStateValue || (() => {}), setTriggerValue: component.setTriggerValue || (() => {}) };
  const data = resolve(component.data, state, state.component.setTriggerValue);
  if (!data || !Array.isArray(data.tokens)) return;
  const keyTokens = Array.isArray(data.key_tokens) ? data.key_tokens.map(String) : data.tokens;
  const fresh = !state.view || !state.view.root.isConnected || !sameTokens(state.view.tokens, data.tokens)
    || !sameTokens(state.view.keyTokens, keyTokens);
  if (fresh) {
    if (state.view) state.view.resize.disconnect();
    state.view = build(parentElement, state, data.tokens, keyTokens);
  }
  const { view } = state;
  view.resize.observe(view.lines);   // (again) after a pause; observing twice is a no-op
  view.resize.observe(view.scroller);
  // the server following what the browser already drew (a toggle, a pin, a held layer): nothing to redraw
  const key = `${data.view}|${data.slot}|${[...data.shown].sort((a, b) => a - b).join(",")}|${data.pin}`;
  const sameLinks = state.data && (data.view ? state.data.source === data.source : state.data.heads === data.heads);
  if (fresh || view.root.dataset.key !== key || !sameLinks || state.data.threshold !== data.threshold) {
    show(state, data);
    if (fresh && state.pin) {
      const target = view.cells[state.pin[0]][Number(state.pin.slice(1))];
      if (target) {
        const offset = target.getBoundingClientRect().top - view.scroller.getBoundingClientRect().top;
        view.scroller.scrollTop = Math.max(0, offset - view.scroller.clientHeight / 3);
      }
    }
  } else {
    state.data = data;   // the latest payload (its Layer box list, its `more`) for the next change
    layerBox(state);
    // layers prefetched for this view: paint their pictures once the page is idle (nothing on screen changes)
    if (component.data.prefetch && component.data.prefetch.length && !state.hover && !state.pin) paintLater(state, frameOf(state));
  }
  // Streamlit calls this before the next data arrive: the view stays (the next call updates it in place)
  return () => {
    cancelAnimationFrame(state.frame);
    state.frame = 0;
    view.resize.disconnect();
  };
}
