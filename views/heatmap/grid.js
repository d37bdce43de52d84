// Every layer × head as a small thumbnail on one canvas; click a thumbnail to open that head.
// Data: base64 uint8 thumbnails [layer, head, size, size] (each head scaled to its own maximum),
// the current head (outlined), and sizes. No libraries, no markup from data.
// In the app (`view` set) a click first offers the head to the heatmap of the same result in this tab (a window
// event): the heatmap draws it at once and tells the server; only when no heatmap answers does the grid ask the
// server itself ("open"). The outline follows whichever head the heatmap shows, so the grid is never re-sent.

const PALETTE = Array.from({ length: 256 }, (_, v) => colour(v / 255));   // uint8 level -> colour

export default function headGrid(component) {
  const { data, parentElement, setTriggerValue } = component;
  if (data) holdPlaces(data.hold);
  if (!data || showPending(parentElement, "hg-root", data.pending) || !data.thumbnails) return;
  const { layers, heads, size } = data;
  const pixels = decodeBytes(data.thumbnails);

  const previous = parentElement.querySelector(".hg-root");
  if (previous) previous.remove();
  const root = document.createElement("div");
  root.className = "hg-root";
  root.setAttribute("role", "figure");
  root.setAttribute("aria-label", `All ${layers} layers × ${heads} heads; click one to open it`);
  const canvas = document.createElement("canvas");
  canvas.className = "hg-canvas";
  const tip = document.createElement("div");
  tip.className = "hm-tip";
  tip.hidden = true;
  root.appendChild(canvas);
  root.appendChild(tip);
  parentElement.appendChild(root);

  // axis titles: "head →" above the head numbers, "layer ↓" beside the layer numbers
  const gap = 4, left = 46, top = 38;
  const tile = Math.max(18, Math.min(64, Math.floor(((root.clientWidth || 520) - left - 8) / heads) - gap));
  const width = left + heads * (tile + gap), height = top + layers * (tile + gap);
  const ctx = sizeCanvas(canvas, width, height);
  const x0 = (head) => left + head * (tile + gap), y0 = (layer) => top + layer * (tile + gap);

  // the thumbnails once, on a canvas of their own; an outline change copies it back and strokes the new one
  const base = document.createElement("canvas");
  base.width = canvas.width; base.height = canvas.height;
  const baseCtx = base.getContext("2d");
  baseCtx.scale(canvas.width / width, canvas.height / height);
  baseCtx.fillStyle = "#ffffff";
  baseCtx.fillRect(0, 0, width, height);
  baseCtx.imageSmoothingEnabled = false;
  const off = document.createElement("canvas");
  off.width = size; off.height = size;
  const offCtx = off.getContext("2d");
  const image = offCtx.createImageData(size, size);
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < heads; head++) {
      const start = (layer * heads + head) * size * size;
      for (let p = 0; p < size * size; p++) {
        const [r, g, b] = PALETTE[pixels[start + p]];
        image.data[4 * p] = r; image.data[4 * p + 1] = g; image.data[4 * p + 2] = b; image.data[4 * p + 3] = 255;
      }
      offCtx.putImageData(image, 0, 0);
      baseCtx.drawImage(off, x0(head), y0(layer), tile, tile);
    }
  }
  baseCtx.fillStyle = "#6b6f80";
  baseCtx.font = FONT;
  baseCtx.textAlign = "center";
  baseCtx.textBaseline = "middle";
  for (let head = 0; head < heads; head++) baseCtx.fillText(String(head), x0(head) + tile / 2, top - 9);
  baseCtx.fillText("head →", left + Math.min(heads * (tile + gap), 200) / 2, 9);
  baseCtx.textAlign = "right";
  for (let layer = 0; layer < layers; layer++) baseCtx.fillText(String(layer), left - 8, y0(layer) + tile / 2);
  baseCtx.save();
  baseCtx.translate(11, top + Math.min(layers * (tile + gap), 200) / 2);
  baseCtx.rotate(Math.PI / 2);   // reads downwards, as the layers count
  baseCtx.textAlign = "center";
  baseCtx.fillText("layer →", 0, 0);
  baseCtx.restore();

  function outline(selected) {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(base, 0, 0);
    ctx.restore();
    if (!selected) return;
    const [layer, head] = selected;
    ctx.strokeStyle = "#f97316";
    ctx.lineWidth = 2.5;
    ctx.strokeRect(x0(head) - 1.5, y0(layer) - 1.5, tile + 3, tile + 3);
    root.dataset.selected = `${layer},${head}`;
  }
  outline(data.selected);

  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    const head = Math.floor((event.clientX - box.left - left) / (tile + gap));
    const layer = Math.floor((event.clientY - box.top - top) / (tile + gap));
    return layer >= 0 && head >= 0 && layer < layers && head < heads ? [layer, head, box, event] : null;
  };
  canvas.addEventListener("mousemove", (event) => {
    const hit = at(event);
    canvas.style.cursor = hit ? "pointer" : "default";
    if (!hit) { tip.hidden = true; return; }
    showTip(tip, canvas, event, `Layer ${hit[0]} · Head ${hit[1]}\nclick to open`);
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  canvas.addEventListener("click", (event) => {
    const hit = at(event);
    if (!hit) return;
    outline([hit[0], hit[1]]);
    const offer = new CustomEvent("attention-lens:open", { detail: { view: data.view, layer: hit[0], head: hit[1] }, cancelable: true });
    const answered = Boolean(data.view) && !window.dispatchEvent(offer);   // false from dispatchEvent: a heatmap took it
    if (!answered) setTriggerValue("open", { layer: hit[0], head: hit[1] });
  });

  const follow = (event) => {
    const { view, layer, head } = event.detail || {};
    if (data.view && view === data.view) outline([layer, head]);
  };
  if (parentElement.__attentionLensFollow) window.removeEventListener("attention-lens:shown", parentElement.__attentionLensFollow);
  parentElement.__attentionLensFollow = follow;
  if (data.view) window.addEventListener("attention-lens:shown", follow);
  root.dataset.ready = "true";
  return () => window.removeEventListener("attention-lens:shown", follow);
}
