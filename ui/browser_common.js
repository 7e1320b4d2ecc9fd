// What the app's model boards share in the browser (ui.browser_model puts it after browser_decoder.js and before
// each board's own file): the tab's cache of runs' weights, which every board reads and fills alike, and a safe
// element maker. Nothing received is parsed as markup: text only ever goes into textContent.
const MODELS = (globalThis.__vaeLabModels ??= new Map()); // model key -> {model, points, labels, manifolds}
const BOARDS = (globalThis.__vaeLabBoards ??= new Map()); // board name -> its place: it outlives a remount
const MAX_MODELS = 6; // weights kept in this tab: a few runs visited back and forth (Draw keeps two a run)
const SIDE = 28;

function el(tag, props = {}, text = undefined) {
  const node = Object.assign(document.createElement(tag), props);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Keep a run's weights (once), and its plane's test points when they come: a board that sent the weights without
// them (the interpolation's scrubber) leaves the explorer's plane to fill them in later.
function remember(header, blobs) {
  let entry = MODELS.get(header.key);
  if (!entry) {
    entry = { model: VaeLabDecoder.fromParts(header.model, blobs), points: new Float32Array(0),
      labels: new Uint8Array(0), manifolds: new Map() };
    MODELS.set(header.key, entry);
  }
  if (blobs.points && !entry.points.length) {
    entry.points = new Float32Array(blobs.points);
    entry.labels = new Uint8Array(blobs.labels || new ArrayBuffer(0));
  }
  touch(header.key);
}

// Mark ``keys`` as just used: the tab lets go of the least recently used weights first, never of these.
function touch(...keys) {
  for (const key of keys) {
    const entry = MODELS.get(key);
    if (entry) { MODELS.delete(key); MODELS.set(key, entry); }
  }
  while (MODELS.size > MAX_MODELS) MODELS.delete(MODELS.keys().next().value);
}

// The classes' colours, as plotly's default sequence colours the server's charts.
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

// values [784] times scale -> grey pixels at (x, y) of ctx.
function paint(ctx, values, scale, x = 0, y = 0) {
  const image = ctx.createImageData(SIDE, SIDE);
  for (let p = 0; p < SIDE * SIDE; p++) {
    const v = Math.round(Math.min(Math.max(values[p] * scale, 0), 255));
    image.data[4 * p] = image.data[4 * p + 1] = image.data[4 * p + 2] = v;
    image.data[4 * p + 3] = 255;
  }
  ctx.putImageData(image, x, y);
}

function picture(label, caption) {
  const canvas = el("canvas", { width: SIDE, height: SIDE, className: "digit" });
  canvas.setAttribute("aria-label", label);
  const figure = el("figure");
  const text = el("figcaption", {}, caption);
  figure.append(canvas, text);
  return { canvas, figure, text };
}
