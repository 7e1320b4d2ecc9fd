// The Draw page's pad with the run in the browser (ui.browser_draw): on every stroke event the drawing is prepared
// the way MNIST was made, encoded and decoded here, and the posterior mean (with its 1σ and 2σ ellipses for d = 2)
// moves over the map of test digits, with no message to the server. When a stroke ends, the prepared 28 × 28 digit (784
// grey levels) goes to the server, which analyses that same input. Text received only goes into textContent.
const PAD_PX = 280, PEN_PX = 20, MAP_PX = 320;
const BOX = 20, INK = 0.1; // vae.data.drawing: the ink's box, and the grey level that counts as ink

// Lanczos-3, as PIL resamples (Image.Resampling.LANCZOS): a separable filter, rows first, each output pixel's
// weights normalised to 1; support widened by the scale when shrinking. PIL rounds to 8 bits between passes.
const sinc = (x) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
const lanczos = (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0); // PIL's bounds
function taps(inSize, outSize) {
  const scale = inSize / outSize, filterScale = Math.max(scale, 1), support = 3 * filterScale, out = [];
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale, lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize), w = [];
    for (let x = lo; x < hi; x++) w.push(lanczos((x - centre + 0.5) / filterScale));
    const sum = w.reduce((a, b) => a + b, 0);
    out.push({ lo, w: w.map((v) => v / sum) });
  }
  return out;
}
const clip8 = (v) => Math.min(Math.max(Math.round(v), 0), 255);
// Python's round(): halves to even (a box of 12.5 pixels is 12 there), which Math.round would make 13.
const roundHalfEven = (x) => { const r = Math.round(x); return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r; };
function resize(src, sw, sh, dw, dh) { // 8-bit grey [sh, sw] -> [dh, dw]
  const tx = taps(sw, dw), ty = taps(sh, dh), mid = new Uint8Array(sh * dw), out = new Uint8Array(dh * dw);
  for (let y = 0; y < sh; y++) for (let x = 0; x < dw; x++) {
    let s = 0;
    tx[x].w.forEach((w, j) => { s += w * src[y * sw + tx[x].lo + j]; });
    mid[y * dw + x] = clip8(s);
  }
  for (let y = 0; y < dh; y++) for (let x = 0; x < dw; x++) {
    let s = 0;
    ty[y].w.forEach((w, j) => { s += w * mid[(ty[y].lo + j) * dw + x]; });
    out[y * dw + x] = clip8(s);
  }
  return out;
}

// The pad's pixels -> the digit as vae.data.drawing.mnist_style prepares it: [784] grey levels 0-255, or null (no ink).
function prepare(ctx) {
  const rgba = ctx.getImageData(0, 0, PAD_PX, PAD_PX).data, grey = new Uint8Array(PAD_PX * PAD_PX);
  let bright = 0;
  for (let p = 0; p < grey.length; p++) { grey[p] = rgba[4 * p]; bright += grey[p] > 127 ? 1 : 0; } // white on black: red
  if (bright > grey.length / 2) for (let p = 0; p < grey.length; p++) grey[p] = 255 - grey[p]; // mostly ink: as paper
  let top = PAD_PX, bottom = -1, left = PAD_PX, right = -1;
  for (let p = 0; p < grey.length; p++) {
    if (grey[p] / 255 <= INK) continue;
    const y = Math.floor(p / PAD_PX), x = p % PAD_PX;
    top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x);
  }
  if (bottom < 0) return null;
  const ch = bottom - top + 1, cw = right - left + 1, crop = new Uint8Array(ch * cw);
  for (let y = 0; y < ch; y++) {
    const from = (top + y) * PAD_PX + left;
    crop.set(grey.subarray(from, from + cw), y * cw);
  }
  const scale = BOX / Math.max(ch, cw);
  const h = Math.max(1, roundHalfEven(ch * scale)), w = Math.max(1, roundHalfEven(cw * scale));
  const small = resize(crop, cw, ch, w, h);
  let mass = 0, rows = 0, cols = 0; // integers, as mnist_style sums them: the same ties
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) { const v = small[y * w + x]; mass += v; rows += v * y; cols += v * x; }
  if (mass === 0) return null;
  const place = (moment, size) => Math.min(Math.max(roundHalfEven((SIDE - 1) / 2 - moment / mass), 0), SIDE - size);
  const y0 = place(rows, h), x0 = place(cols, w), field = new Uint8Array(SIDE * SIDE);
  for (let y = 0; y < h; y++) field.set(small.subarray(y * w, (y + 1) * w), (y0 + y) * SIDE + x0);
  return field;
}

// A latent [D] -> the map's plane: itself for d = 2, else its first two principal components (header.pca).
function project(header, v) {
  if (!header.pca) return [v[0], v[1]];
  const { mean, axes } = header.pca;
  return axes.map((axis) => axis.reduce((s, a, j) => s + a * (v[j] - mean[j]), 0));
}

function drawMap(view, mu, logvar) {
  const { header, encoderEntry: entry } = view, ctx = view.map.getContext("2d"), [x0, x1, y0, y1] = header.extent;
  const px = (x) => ((x - x0) / (x1 - x0)) * MAP_PX, py = (y) => MAP_PX - ((y - y0) / (y1 - y0)) * MAP_PX;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, MAP_PX, MAP_PX);
  for (let i = 0; i < entry.labels.length; i++) {
    ctx.fillStyle = PALETTE[entry.labels[i] % PALETTE.length];
    ctx.fillRect(px(entry.points[2 * i]) - 1, py(entry.points[2 * i + 1]) - 1, 2, 2);
  }
  if (!mu) return;
  const [x, y] = project(header, mu).map((v, i) => Math.min(Math.max(v, header.extent[2 * i]), header.extent[2 * i + 1]));
  ctx.strokeStyle = "#000";
  if (!header.pca) { // q(z|x) is a diagonal Gaussian: its 1σ and 2σ ellipses are axis-aligned in the plane of z
    ctx.setLineDash([3, 3]);
    for (const k of [1, 2]) {
      const rx = (k * Math.exp(logvar[0] / 2) * MAP_PX) / (x1 - x0), ry = (k * Math.exp(logvar[1] / 2) * MAP_PX) / (y1 - y0);
      ctx.beginPath();
      ctx.ellipse(px(x), py(y), rx, ry, 0, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }
  ctx.beginPath();
  ctx.arc(px(x), py(y), 6, 0, 2 * Math.PI);
  ctx.fillStyle = "#000";
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#fff";
  ctx.stroke();
  ctx.lineWidth = 1;
}

function update(view) {
  const digit = prepare(view.pad.getContext("2d"));
  view.digit = digit;
  const pixels = digit ? Float32Array.from(digit, (v) => v / 255) : null;
  const posterior = pixels ? VaeLabDecoder.encode(view.encoder, pixels) : null;
  paint(view.input.getContext("2d"), digit || new Uint8Array(SIDE * SIDE), 1);
  paint(view.output.getContext("2d"), posterior ? VaeLabDecoder.decode(view.entry.model, posterior.mu) : new Float32Array(SIDE * SIDE), 255);
  drawMap(view, posterior && posterior.mu, posterior && posterior.logvar);
  view.frames += 1;
  view.root.dataset.frames = view.frames; // read by tests and bench
  view.root.dataset.mu = posterior ? posterior.mu.map((v) => v.toFixed(3)).join(" ") : "";
}

function schedule(view) {
  if (view.pending) return;
  view.pending = true;
  requestAnimationFrame(() => { view.pending = false; update(view); });
}

function build(view, setStateValue) {
  const pad = el("canvas", { width: PAD_PX, height: PAD_PX, className: "pad" });
  pad.setAttribute("aria-label", "Drawing pad");
  const ctx = pad.getContext("2d");
  const blank = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, PAD_PX, PAD_PX); };
  blank();
  const at = (e) => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) * PAD_PX) / r.width, ((e.clientY - r.top) * PAD_PX) / r.height];
  };
  let drawing = false;
  pad.onpointerdown = (e) => {
    drawing = true;
    pad.setPointerCapture(e.pointerId);
    Object.assign(ctx, { strokeStyle: "#fff", lineWidth: PEN_PX, lineCap: "round", lineJoin: "round" });
    const [x, y] = at(e);
    ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x, y); ctx.stroke();
    schedule(view);
  };
  pad.onpointermove = (e) => { if (drawing) { const [x, y] = at(e); ctx.lineTo(x, y); ctx.stroke(); schedule(view); } };
  const end = () => {
    if (!drawing) return;
    drawing = false;
    update(view); // the digit sent is the one on screen
    setStateValue("digit", view.digit ? Array.from(view.digit) : null);
  };
  pad.onpointerup = pad.onpointercancel = end;
  const clear = el("button", { type: "button" }, "Clear");
  clear.onclick = () => { blank(); update(view); setStateValue("digit", null); };
  const input = picture("The prepared input", "the prepared input");
  const output = picture(`${view.header.title}: its reconstruction`, "its reconstruction, decoded in this browser");
  const map = el("canvas", { width: MAP_PX, height: MAP_PX, className: "map" });
  map.setAttribute("aria-label", "Where it lands: the posterior mean over the test digits");
  const left = el("div", { className: "left" });
  left.append(pad, clear);
  const pictures = el("div", { className: "pictures" });
  pictures.append(input.figure, output.figure);
  view.root.replaceChildren(left, pictures, map);
  Object.assign(view, { pad, map, input: input.canvas, output: output.canvas, layout: view.header.key });
}

export default function (component) {
  const { parentElement, data, setStateValue, setTriggerValue } = component;
  const { header, blobs } = VaeLabDecoder.unpack(data instanceof Uint8Array ? data : new Uint8Array(data));
  const root = parentElement.querySelector(".vae-draw");
  if (header.model) remember(header, blobs); // the decoder, unless another board sent it first
  if (header.encoder) { // the encoder, and the map's points, which are this board's own
    remember({ key: header.encoder_key, model: header.encoder },
      { weights: blobs.enc_weights, scales: blobs.enc_scales, biases: blobs.enc_biases, points: blobs.points, labels: blobs.labels });
  }
  if (header.model || header.encoder) delete root.dataset.asked; // weights came: should they go again, ask again
  const entry = MODELS.get(header.key), encoderEntry = MODELS.get(header.encoder_key);
  if (!entry || !encoderEntry) { // this tab lost the weights: asked for once, the server sends them again
    if (root.dataset.asked !== header.key) { root.dataset.asked = header.key; setTriggerValue("missing", header.key); }
    return;
  }
  touch(header.key, header.encoder_key); // in use: the last the tab would let go of
  const view = (root.__vaeDraw ??= { root, frames: 0 }); // the same DOM on every redraw: state lives on it
  Object.assign(view, { header, entry, encoderEntry, encoder: encoderEntry.model });
  if (view.layout !== header.key) { build(view, setStateValue); setStateValue("digit", null); }
  schedule(view);
}
