// Shared by heatmap.js and grid.js (prepended to each by components/heatmap/__init__.py).
const STOPS = [[247, 251, 255], [222, 235, 247], [198, 219, 239], [158, 202, 225], [107, 174, 214],
               [66, 146, 198], [33, 113, 181], [8, 81, 156], [8, 48, 107]];   // "Blues", as the plotly figures
const FONT = "11px 'Source Sans Pro', sans-serif";

function colour(t) {
  const x = Math.min(Math.max(t, 0), 1) * (STOPS.length - 1);
  const i = Math.min(Math.floor(x), STOPS.length - 2), f = x - i;
  return STOPS[i].map((c, k) => Math.round(c + f * (STOPS[i + 1][k] - c)));
}

function decodeBytes(b64) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function showTip(tip, canvas, event, text) {
  const box = canvas.getBoundingClientRect();
  tip.textContent = text;
  tip.style.left = `${event.clientX - box.left + 14}px`;
  tip.style.top = `${event.clientY - box.top + 14}px`;
  tip.hidden = false;
}

function sizeCanvas(canvas, width, height) {
  // a crisp canvas of width × height CSS pixels on any screen density; returns its 2D context
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.ceil(width * ratio);
  canvas.height = Math.ceil(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  return ctx;
}

function holdPlaces(css) {
  // `css`: the page's rule that keeps its keyed containers above this view at their heights (ui.held_heights builds
  // it from constants, never from user text), added to the document once. The view adds it as it draws: anything the
  // page itself draws (a markdown <style>, the widgets) comes from lazily loaded scripts that a loaded machine runs
  // after this view, which would then be pushed down once they arrive.
  if (typeof css !== "string" || !css) return;
  if ([...document.head.querySelectorAll("style[data-hm-hold]")].some((style) => style.textContent === css)) return;
  const style = document.createElement("style");
  style.dataset.hmHold = "";
  style.textContent = css;
  document.head.appendChild(style);
}

function showPending(parentElement, rootClass, message) {
  // Drawn while the server computes: the component's script is loaded and laid out before the data arrives.
  // Returns true when `message` is set (nothing else to draw yet).
  if (typeof message !== "string") return false;
  const previous = parentElement.querySelector(`.${rootClass}`);
  if (previous) previous.remove();
  const root = element("div", `${rootClass} hm-pending`);
  root.setAttribute("role", "status");
  root.appendChild(element("span", "hm-pending-text", message));
  parentElement.appendChild(root);
  return true;
}

function levelBounds(level, bits, code, scale, mu) {
  // [value, low, high] of a weight stored as `level` (views/standalone.py encode_weights; the app's 16-bit levels):
  // "linear": level/top of the head's maximum `scale`; "mu": the μ-law curve. Every weight that rounds to `level` lies
  // in [low, high] (a little slack for the float arithmetic on either side; never below 0 or above the maximum).
  const top = 2 ** bits - 1;
  const at = (x) => {
    const t = Math.min(Math.max(x, 0), top) / top;
    return code === "mu" ? scale * (Math.pow(1 + mu, t) - 1) / mu : scale * t;
  };
  const slack = scale * 1e-6;
  return [at(level), Math.max(0, at(level - 0.5) - slack), Math.min(scale, at(level + 0.5) + slack)];
}

function ceilTwo(x) {
  // x rounded UP to two significant digits, as text with exactly those digits (never below x)
  if (!(x > 0)) return "0";
  const exponent = Math.floor(Math.log10(x)) - 1;
  const digits = Math.ceil(x / 10 ** exponent * (1 - 1e-12));
  const places = Math.max(0, -exponent);
  const text = (digits * 10 ** exponent).toFixed(places);
  return Number(text) >= x ? text : ((digits + 1) * 10 ** exponent).toFixed(places);
}

function hoverValue(value, low, high) {
  // "value ± bound": the value written with enough decimals for its precision, and a bound that covers both how far the
  // stored level may be from the weight and the rounding of the printed digits, so |printed − weight| ≤ bound holds.
  const half = Math.max(high - value, value - low, 1e-12);
  const places = Math.min(8, Math.max(3, Math.ceil(-Math.log10(half)) + 1));
  const printed = value.toFixed(places), shown = Number(printed);
  return `${printed} ± ${ceilTwo(Math.max(high - shown, shown - low))}`;
}
