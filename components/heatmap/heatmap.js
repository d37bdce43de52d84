// One attention head as a canvas heatmap: query tokens as rows, key tokens as columns.
// Data arrives as JSON from Python (attention/figures.py: head_payload): tokens as a list of strings and
// weights as base64 uint16 levels of the head's maximum (or, outside Streamlit, components/standalone.js hands the
// levels over already decoded, with the precision they carry). Tokens are drawn with fillText / textContent only:
// they are user text and never become markup. No libraries: it draws before any chart bundle is loaded.

export default function headHeatmap(component) {
  const { data, parentElement } = component;
  if (!data || showPending(parentElement, "hm-root", data.pending) || !Array.isArray(data.tokens)) return;
  const tokens = data.tokens.map(String);
  const n = tokens.length;
  const levels = data.levels instanceof Uint16Array ? data.levels : new Uint16Array(decodeBytes(data.weights).buffer);
  const weight = (q, k) => (levels[q * n + k] / 65535) * data.scale;
  // coarser levels (the offline file's 8 bits) say how far the shown weight may be from the true one
  const digits = data.error ? Math.max(3, Math.ceil(-Math.log10(data.error))) : 4;
  const shown = (w) => data.error ? `${w.toFixed(digits)} ± ${data.error.toPrecision(1)}` : w.toFixed(4);

  const previous = parentElement.querySelector(".hm-root");
  if (previous) previous.remove();
  const root = element("div", "hm-root");
  root.setAttribute("role", "figure");
  root.setAttribute("aria-label", `${data.title}: attention weights of ${n} query tokens over ${n} key tokens`);
  const header = element("div", "hm-header");
  header.appendChild(element("span", "hm-title", data.title));
  header.appendChild(element("span", "hm-subtitle", "rows: query (attending) · columns: key (attended to)"));
  const save = element("button", "hm-save", "Download PNG");
  save.type = "button";
  header.appendChild(save);
  root.appendChild(header);
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
  parentElement.appendChild(root);

  const measure = canvas.getContext("2d");
  measure.font = FONT;
  const widest = Math.min(120, Math.max(30, ...tokens.map((t) => measure.measureText(t).width)));
  const available = Math.max(200, (root.clientWidth || 700) - widest - 70);
  const cell = Math.max(1, Math.min(26, Math.floor(available / n)));
  const labelled = cell >= 9 ? 1 : Math.ceil(9 / cell);     // label every token, or every k-th when cells are tiny
  const left = widest + 8, top = widest * 0.75 + 10, bar = 64;
  const width = left + n * cell + bar, height = top + n * cell + 8;
  const ctx = sizeCanvas(canvas, width, height);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, height);

  // cells, drawn as one image so 512 × 512 costs one putImageData
  const image = ctx.createImageData(n, n);
  for (let q = 0; q < n; q++) {
    for (let k = 0; k < n; k++) {
      const [r, g, b] = colour(levels[q * n + k] / 65535);
      const at = 4 * (q * n + k);
      image.data[at] = r; image.data[at + 1] = g; image.data[at + 2] = b; image.data[at + 3] = 255;
    }
  }
  const off = document.createElement("canvas");
  off.width = n; off.height = n;
  off.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, left, top, n * cell, n * cell);

  // labels: queries on the left, keys on top (rotated)
  ctx.fillStyle = "#31333f";
  ctx.font = FONT;
  ctx.textBaseline = "middle";
  for (let i = 0; i < n; i += labelled) {
    const label = tokens[i].length > 18 ? tokens[i].slice(0, 17) + "…" : tokens[i];
    ctx.textAlign = "right";
    ctx.fillText(label, left - 4, top + (i + 0.5) * cell);
    ctx.save();
    ctx.translate(left + (i + 0.5) * cell, top - 4);
    ctx.rotate(-Math.PI / 3);
    ctx.textAlign = "left";
    ctx.fillText(label, 0, 0);
    ctx.restore();
  }

  // colour bar
  const barX = left + n * cell + 14, barH = Math.min(n * cell, 240);
  for (let y = 0; y < barH; y++) {
    const [r, g, b] = colour(1 - y / barH);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(barX, top + y, 10, 1);
  }
  ctx.fillStyle = "#31333f";
  ctx.textAlign = "left";
  ctx.fillText(data.scale.toFixed(2), barX + 13, top + 4);
  ctx.fillText("0", barX + 13, top + barH - 4);

  // hover: which query, which key, what weight
  canvas.addEventListener("mousemove", (event) => {
    const box = canvas.getBoundingClientRect();
    const k = Math.floor((event.clientX - box.left - left) / cell);
    const q = Math.floor((event.clientY - box.top - top) / cell);
    if (q < 0 || k < 0 || q >= n || k >= n) { tip.hidden = true; return; }
    showTip(tip, canvas, event, `query: ${tokens[q]} (#${q})\nkey: ${tokens[k]} (#${k})\nweight: ${shown(weight(q, k))}`);
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  save.addEventListener("click", () => {
    const link = document.createElement("a");
    link.download = `${data.title.replace(/[^A-Za-z0-9]+/g, "-")}.png`;
    link.href = canvas.toDataURL("image/png");
    link.click();
  });
  root.dataset.ready = "true";
}
