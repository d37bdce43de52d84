// An 8×8 drawing pad. Left button or finger paints with a soft brush (like the scanned digits, whose strokes are
// blurred); the right button or Shift erases. The picture goes back to Python as 64 hex digits when a stroke ends.
const SIZE = 8;
const CELL = 32;        // canvas pixels per image pixel

function parse(text) {
  const levels = new Array(SIZE * SIZE).fill(0);
  if (typeof text === "string" && /^[0-9a-f]{64}$/i.test(text)) {
    for (let i = 0; i < levels.length; i++) levels[i] = parseInt(text[i], 16) / 15;
  }
  return levels;
}

function format(levels) {
  return levels.map((v) => Math.round(Math.min(1, Math.max(0, v)) * 15).toString(16)).join("");
}

export default function drawDigit(component) {
  const { data, parentElement, setStateValue } = component;
  if (!data) return;
  let root = parentElement.querySelector(".dd-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "dd-root";
    const canvas = document.createElement("canvas");
    canvas.className = "dd-pad";
    canvas.width = canvas.height = SIZE * CELL;
    canvas.setAttribute("aria-label", "Drawing pad, 8 by 8 pixels");
    const bar = document.createElement("div");
    bar.className = "dd-bar";
    const clear = document.createElement("button");
    clear.type = "button";
    clear.textContent = "Clear";
    const hint = document.createElement("span");
    hint.textContent = "Draw with the mouse; right button or Shift erases.";
    bar.append(clear, hint);
    root.append(canvas, bar);
    parentElement.appendChild(root);
    root.state = { levels: parse(data.pixels), sent: data.pixels, drawing: false, erase: false };

    const draw = () => {
      const ctx = canvas.getContext("2d");
      root.state.levels.forEach((v, i) => {
        const grey = Math.round(255 * (1 - v));
        ctx.fillStyle = `rgb(${grey},${grey},${grey})`;
        ctx.fillRect((i % SIZE) * CELL, Math.floor(i / SIZE) * CELL, CELL, CELL);
      });
      ctx.strokeStyle = "#8fb3e8";                       // the 2×2 patches the model reads as tokens
      for (let edge = 2; edge < SIZE; edge += 2) {
        ctx.beginPath(); ctx.moveTo(edge * CELL, 0); ctx.lineTo(edge * CELL, SIZE * CELL); ctx.stroke();
        ctx.beginPath(); ctx.moveTo(0, edge * CELL); ctx.lineTo(SIZE * CELL, edge * CELL); ctx.stroke();
      }
    };
    const paint = (event) => {
      const box = canvas.getBoundingClientRect();
      const col = Math.floor(((event.clientX - box.left) / box.width) * SIZE);
      const row = Math.floor(((event.clientY - box.top) / box.height) * SIZE);
      if (row < 0 || col < 0 || row >= SIZE || col >= SIZE) return;
      const cell = row * SIZE + col;
      if (cell === root.state.last) return;             // ink once per cell a stroke enters, not per mouse event
      root.state.last = cell;
      const levels = root.state.levels;
      for (const [dr, dc, amount] of [[0, 0, 1], [-1, 0, 0.35], [1, 0, 0.35], [0, -1, 0.35], [0, 1, 0.35]]) {
        const r = row + dr, c = col + dc;
        if (r < 0 || c < 0 || r >= SIZE || c >= SIZE) continue;
        const i = r * SIZE + c;
        levels[i] = root.state.erase ? (amount === 1 ? 0 : levels[i]) : Math.min(1, levels[i] + amount);
      }
      draw();
    };
    const send = () => {
      const text = format(root.state.levels);
      if (text !== root.state.sent) {
        root.state.sent = text;
        root.setStateValue("pixels", text);
      }
    };
    canvas.addEventListener("contextmenu", (event) => event.preventDefault());
    canvas.addEventListener("pointerdown", (event) => {
      root.state.drawing = true;
      root.state.last = null;
      root.state.erase = event.button === 2 || event.shiftKey;
      canvas.setPointerCapture(event.pointerId);
      paint(event);
    });
    canvas.addEventListener("pointermove", (event) => { if (root.state.drawing) paint(event); });
    const finish = () => { if (root.state.drawing) { root.state.drawing = false; send(); } };
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);
    clear.addEventListener("click", () => { root.state.levels.fill(0); draw(); send(); });
    root.draw = draw;
  }
  root.setStateValue = setStateValue;
  if (data.pixels !== root.state.sent && !root.state.drawing) {   // set from Python (a link, a test image): show it
    root.state.levels = parse(data.pixels);
    root.state.sent = data.pixels;
  }
  root.draw();
}
