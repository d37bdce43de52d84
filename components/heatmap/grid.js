// Every layer × head as a small thumbnail on one canvas; click a thumbnail to open that head.
// Data: base64 uint8 thumbnails [layer, head, size, size] (each head scaled to its own maximum),
// the current head (outlined), and sizes. No libraries, no markup from data.

const PALETTE = Array.from({ length: 256 }, (_, v) => colour(v / 255));   // uint8 level -> colour

export default function headGrid(component) {
  const { data, parentElement, setTriggerValue } = component;
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

  const gap = 4, left = 30, top = 22;
  const tile = Math.max(18, Math.min(64, Math.floor(((root.clientWidth || 520) - left - 8) / heads) - gap));
  const width = left + heads * (tile + gap), height = top + layers * (tile + gap);
  const ctx = sizeCanvas(canvas, width, height);
  ctx.imageSmoothingEnabled = false;

  const off = document.createElement("canvas");
  off.width = size; off.height = size;
  const offCtx = off.getContext("2d");
  const image = offCtx.createImageData(size, size);
  const x0 = (head) => left + head * (tile + gap), y0 = (layer) => top + layer * (tile + gap);
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < heads; head++) {
      const base = (layer * heads + head) * size * size;
      for (let p = 0; p < size * size; p++) {
        const [r, g, b] = PALETTE[pixels[base + p]];
        image.data[4 * p] = r; image.data[4 * p + 1] = g; image.data[4 * p + 2] = b; image.data[4 * p + 3] = 255;
      }
      offCtx.putImageData(image, 0, 0);
      ctx.drawImage(off, x0(head), y0(layer), tile, tile);
    }
  }
  ctx.fillStyle = "#6b6f80";
  ctx.font = FONT;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let head = 0; head < heads; head++) ctx.fillText(String(head), x0(head) + tile / 2, top / 2);
  ctx.textAlign = "right";
  for (let layer = 0; layer < layers; layer++) ctx.fillText(String(layer), left - 8, y0(layer) + tile / 2);
  if (data.selected) {
    const [layer, head] = data.selected;
    ctx.strokeStyle = "#f97316";
    ctx.lineWidth = 2.5;
    ctx.strokeRect(x0(head) - 1.5, y0(layer) - 1.5, tile + 3, tile + 3);
  }

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
    if (hit) setTriggerValue("open", { layer: hit[0], head: hit[1] });
  });
  root.dataset.ready = "true";
}
