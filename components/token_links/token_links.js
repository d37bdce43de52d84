// Token links: query tokens (left) joined to key tokens (right) by one line per link above the threshold.
// Data arrives as JSON from Python (attention/links.py: payload). Tokens are written with textContent only:
// they are user text and never become markup. Lines are drawn on one canvas, bucketed by strength so
// thousands of links cost a few dozen strokes.

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

// In the app a payload names its result (`view`) and its layer, threshold and mode (`slot`); the browser keeps the
// links it received (and the other layers', prefetched once the first view is drawn) in a store of this tab, so the
// server sends a reference for a layer already here, and a head toggle or a pin is never sent back down.
const LINKS = window.__attentionLensLinks || (window.__attentionLensLinks = { slots: new Map(), tokens: new Map() });

function resolve(data, parentElement, setTriggerValue) {
  // the payload to draw: as it came, or the stored one for its view and slot with this run's shown heads and pin
  if (!data.view) return data;
  if (Array.isArray(data.tokens)) LINKS.tokens.set(data.view, data.tokens);
  for (const item of data.prefetch || []) LINKS.slots.set(`${data.view}|${item.slot}`, item);
  if (Array.isArray(data.heads)) LINKS.slots.set(`${data.view}|${data.slot}`, data);
  while (LINKS.slots.size > 200) LINKS.slots.delete(LINKS.slots.keys().next().value);
  const stored = LINKS.slots.get(`${data.view}|${data.slot}`), tokens = LINKS.tokens.get(data.view);
  if (!stored || !tokens) { setTriggerValue("missing", data.slot); return null; }
  if (data.more && parentElement.__tlAsked !== data) {
    parentElement.__tlAsked = data;
    requestAnimationFrame(() => setTimeout(() => setTriggerValue("prefetch", data.slot), 0));
  }
  return { ...stored, tokens, shown: data.shown, pin: data.pin, threshold: data.threshold, view: data.view, slot: data.slot,
           layer: data.layer, layers: data.layers, slots: data.slots };
}

export default function tokenLinks(component) {
  const { setStateValue, setTriggerValue } = component;
  const parentElement = component.parentElement;
  if (!component.data) return;
  if (component.data.view && !component.local) parentElement.__tlComponent = component;   // Streamlit's, not a local redraw
  const data = resolve(component.data, parentElement, setTriggerValue || (() => {}));
  if (!data || !Array.isArray(data.tokens)) return;
  // the same layer with the heads and pin the view already shows (the server following a toggle): nothing to redraw
  const current = parentElement.querySelector(".tl-root");
  const drawnKey = `${data.view}|${data.slot}|${[...data.shown].sort((a, b) => a - b).join(",")}|${data.pin}`;
  if (data.view && current && current.dataset.key === drawnKey) return current.__resume ? current.__resume() : undefined;
  const tokens = data.tokens;
  const n = tokens.length;
  const heads = data.heads.map((head, index) => ({
    name: String(head.name),
    colour: colour(index, data.heads.length),
    query: decode(head.q, Uint16Array),
    key: decode(head.k, Uint16Array),
    weight: decode(head.w, Uint8Array),
  }));
  const shown = new Set(data.shown);

  function layerBox() {
    // the Layer box, drawn here (issue 19): a held layer is drawn in this frame with the heads and pin shown now,
    // then the server follows ("layer"); one not held yet waits for it
    const field = element("span", "tl-layer-field");
    const select = document.createElement("select");
    select.className = "tl-layer";
    select.id = `tl-layer-${Math.random().toString(36).slice(2, 8)}`;
    const label = element("label", "tl-layer-label", "Layer");
    label.htmlFor = select.id;
    select.title = "Layers count from 0 (nearest the input). All heads of this layer are available.";
    for (let i = 0; i < data.layers; i++) {
      const option = document.createElement("option");
      option.value = String(i);
      option.textContent = String(i);
      select.appendChild(option);
    }
    select.value = String(data.layer);
    select.addEventListener("change", () => {
      const layer = Number(select.value), latest = parentElement.__tlComponent || component;
      const next = { ...latest.data, layer, slot: data.slots[layer], shown: [...shown], pin,
                     heads: undefined, tokens: undefined, prefetch: undefined, more: false };
      if (LINKS.slots.has(`${data.view}|${next.slot}`)) {
        tokenLinks({ ...latest, data: next, local: true });
      } else {
        const root = parentElement.querySelector(".tl-root");
        if (root) { root.dataset.drawn = ""; root.classList.add("tl-loading"); }
        status.textContent = `Loading layer ${layer}…`;
      }
      requestAnimationFrame(() => setTimeout(() => latest.setTriggerValue("layer", layer), 0));   // after the paint
    });
    field.append(label, select);
    return field;
  }
  let pin = typeof data.pin === "string" ? data.pin : null;   // "q3" or "k5"
  let hover = null;

  const previous = parentElement.querySelector(".tl-root");   // replaced in place below: the page never sees it gone
  const root = element("div", "tl-root");
  root.setAttribute("role", "figure");
  root.setAttribute("aria-label", "Links from query tokens to key tokens");

  // Head squares: click toggles a head, double-click shows it alone.
  const bar = element("div", "tl-bar");
  bar.appendChild(element("span", "tl-bar-label", heads.length === 1 ? "Layer mean:" : "Heads:"));
  const squares = heads.map((head, index) => {
    const square = element("button", "tl-head", head.name);
    square.type = "button";
    square.dataset.head = String(index);
    square.style.setProperty("--head-colour", head.colour);
    square.title = heads.length === 1 ? "The mean of the layer's heads" : `Head ${head.name}: click to show or hide, double-click to show only this head`;
    square.addEventListener("click", () => {
      if (shown.has(index)) shown.delete(index); else shown.add(index);
      changedHeads();
    });
    square.addEventListener("dblclick", () => { shown.clear(); shown.add(index); changedHeads(); });
    bar.appendChild(square);
    return square;
  });
  if (heads.length > 1) {
    for (const [label, all] of [["All", true], ["None", false]]) {
      const button = element("button", "tl-all", label);
      button.type = "button";
      button.addEventListener("click", () => {
        shown.clear();
        if (all) heads.forEach((_, index) => shown.add(index));
        changedHeads();
      });
      bar.appendChild(button);
    }
  }
  if (data.view && Number.isInteger(data.layers) && Array.isArray(data.slots)) bar.insertBefore(layerBox(), bar.firstChild);
  const status = element("span", "tl-status");
  bar.appendChild(status);
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

  const makeColumn = (column, side) => tokens.map((token, position) => {
    const cell = element("div", "tl-token", token === "" ? "∅" : token);
    cell.dataset.side = side;
    cell.dataset.pos = String(position);
    cell.tabIndex = 0;
    cell.title = `${side === "q" ? "query" : "key"} ${position}`;
    column.appendChild(cell);
    return cell;
  });
  const cells = { q: makeColumn(left, "q"), k: makeColumn(right, "k") };
  if (previous) {
    if (previous.__pause) previous.__pause();
    previous.replaceWith(root);
  } else {
    parentElement.appendChild(root);
  }

  function focusOf() {
    const active = hover || pin;
    if (!active) return null;
    return { side: active[0], pos: Number(active.slice(1)) };
  }

  function draw() {
    const started = performance.now();
    const width = Math.max(120, lines.clientWidth || 240);
    const view = Math.max(ROW, Math.min(n * ROW, scroller.clientHeight || n * ROW));
    if (canvas.style.height !== `${view}px`) canvas.style.height = `${view}px`;
    const ratio = Math.min(window.devicePixelRatio || 1, 2);
    const pixelsWide = Math.round(width * ratio), pixelsHigh = Math.round(view * ratio);
    if (canvas.width !== pixelsWide || canvas.height !== pixelsHigh) {
      canvas.width = pixelsWide;
      canvas.height = pixelsHigh;
    }
    const top = canvas.getBoundingClientRect().top - left.getBoundingClientRect().top;   // window top, in row pixels
    const bottom = top + view;
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, -top * ratio);
    context.clearRect(0, top, width, view);
    const focus = focusOf();
    const glow = { q: new Float32Array(n), k: new Float32Array(n) };
    let drawn = 0;
    heads.forEach((head, index) => {
      if (!shown.has(index)) return;
      const paths = Array.from({ length: BUCKETS }, () => new Path2D());
      const { query, key, weight } = head;
      for (let i = 0; i < weight.length; i++) {
        const q = query[i], k = key[i];
        if (focus && (focus.side === "q" ? q !== focus.pos : k !== focus.pos)) continue;
        drawn++;
        if (focus) {
          const w = weight[i] / 255;
          if (focus.side === "q") glow.k[k] = Math.max(glow.k[k], w); else glow.q[q] = Math.max(glow.q[q], w);
        }
        const from = q * ROW + ROW / 2, to = k * ROW + ROW / 2;
        if (Math.max(from, to) < top || Math.min(from, to) > bottom) continue;   // not in view
        const level = Math.min(BUCKETS - 1, (weight[i] * BUCKETS) >> 8);
        paths[level].moveTo(0, from);
        paths[level].lineTo(width, to);
      }
      context.strokeStyle = head.colour;
      paths.forEach((path, level) => {
        const strength = (level + 1) / BUCKETS;
        context.globalAlpha = Math.min(1, 0.15 + 0.85 * strength);
        context.lineWidth = 0.6 + 2.4 * strength;
        context.stroke(path);
      });
    });
    context.globalAlpha = 1;
    for (const side of ["q", "k"]) {
      cells[side].forEach((cell, position) => {
        const isFocus = focus && focus.side === side && focus.pos === position;
        cell.classList.toggle("tl-focus", Boolean(isFocus));
        cell.classList.toggle("tl-pinned", pin === `${side}${position}`);
        const strength = glow[side][position];
        cell.style.backgroundColor = strength > 0 ? `rgba(74, 120, 210, ${(0.15 + 0.6 * strength).toFixed(2)})` : "";
      });
    }
    squares.forEach((square, index) => square.classList.toggle("tl-off", !shown.has(index)));
    const total = heads.reduce((sum, head, index) => sum + (shown.has(index) ? head.weight.length : 0), 0);
    status.textContent = focus
      ? `${drawn} link${drawn === 1 ? "" : "s"} of ${focus.side === "q" ? "query" : "key"} “${tokens[focus.pos]}”`
      : `${drawn} link${drawn === 1 ? "" : "s"} ≥ ${data.threshold}`;
    root.dataset.drawn = String(drawn);
    root.dataset.total = String(total);
    root.dataset.focus = focus ? `${focus.side}${focus.pos}` : "";
    root.dataset.shown = [...shown].sort((a, b) => a - b).join(",");
    root.dataset.key = `${data.view}|${data.slot}|${root.dataset.shown}|${pin}`;
    root.dataset.drawMs = (performance.now() - started).toFixed(1);
  }

  function changedHeads() {
    draw();
    const heads = [...shown].sort((a, b) => a - b);
    requestAnimationFrame(() => setTimeout(() => setStateValue("heads", heads), 0));   // after the paint
  }

  // Hover changes are drawn once per frame: moving across tokens fires leave+enter pairs.
  let frame = 0;
  const redrawSoon = () => {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); });
  };
  const onEnter = (event) => {
    const cell = event.target.closest && event.target.closest(".tl-token");
    if (!cell) return;
    hover = `${cell.dataset.side}${cell.dataset.pos}`;
    redrawSoon();
  };
  const onLeave = (event) => {
    const cell = event.target.closest && event.target.closest(".tl-token");
    if (!cell || !hover) return;
    hover = null;
    redrawSoon();
  };
  const onClick = (event) => {
    const cell = event.target.closest && event.target.closest(".tl-token");
    if (!cell) return;
    const id = `${cell.dataset.side}${cell.dataset.pos}`;
    pin = pin === id ? null : id;
    hover = null;
    draw();
    setStateValue("pin", pin);
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

  const resize = new ResizeObserver(() => draw());
  resize.observe(lines);
  resize.observe(scroller);
  draw();
  if (pin) {
    const target = cells[pin[0]][Number(pin.slice(1))];
    if (target) {
      const offset = target.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
      scroller.scrollTop = Math.max(0, offset - scroller.clientHeight / 3);
    }
  }

  // Streamlit calls this before the next data arrive: the view stays (the next call replaces it, or keeps it when the
  // server only follows a toggle) and watches the size again on `__resume`.
  const pause = () => {
    cancelAnimationFrame(frame);
    resize.disconnect();
  };
  root.__pause = pause;
  root.__resume = () => {
    resize.observe(lines);
    resize.observe(scroller);
    return pause;
  };
  return pause;
}
