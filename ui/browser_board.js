// The explorer's mixing board in the browser (ui.browser_model): sliders, and for d = 2 a plane, decoded on every
// input event with no message to the server. What it shows arrives as numbers, or as text that only ever goes
// into textContent and aria-label; nothing it receives is parsed as markup or run.
const PLANE_PX = 320;
const GRID = 20; // the manifold's cells per side, as the server's toggle draws it

function schedule(view) {
  if (view.pending) return;
  view.pending = true;
  requestAnimationFrame(() => { view.pending = false; draw(view); });
}

function draw(view) {
  paint(view.digit.getContext("2d"), VaeLabDecoder.decode(view.entry.model, view.z), 255);
  for (const [dim, { input, out }] of view.sliders) {
    input.value = view.z[dim];
    out.textContent = view.z[dim].toFixed(2);
  }
  if (view.plane) drawPlane(view);
  view.frames += 1;
  view.root.dataset.frames = view.frames; // read by tests and bench/browser_decoder.py
  view.root.dataset.z = Array.from(view.z, (v) => v.toFixed(3)).join(" ");
}

const toPx = (v, limit) => ((v + limit) / (2 * limit)) * PLANE_PX;

function drawPlane(view) {
  const ctx = view.plane.getContext("2d"), limit = view.header.limit;
  ctx.drawImage(background(view), 0, 0);
  const x = toPx(view.z[0], limit), y = PLANE_PX - toPx(view.z[1], limit);
  ctx.beginPath();
  ctx.arc(x, y, 7, 0, 2 * Math.PI);
  ctx.lineWidth = 4;
  ctx.strokeStyle = "#fff";
  ctx.stroke();
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#d62728";
  ctx.stroke();
}

// The plane under the marker: the test digits' μ and, when asked, the decoded manifold; redrawn only on change.
function background(view) {
  const { entry, header } = view, limit = header.limit;
  const grid = header.manifold ? manifold(view) : null;
  const key = `${header.key} ${limit} ${grid ? grid.done : "-"}`;
  if (view.backgroundKey === key) return view.background;
  const canvas = (view.background ??= el("canvas", { width: PLANE_PX, height: PLANE_PX }));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#f0f2f6";
  ctx.fillRect(0, 0, PLANE_PX, PLANE_PX);
  ctx.imageSmoothingEnabled = false;
  if (grid) ctx.drawImage(grid.canvas, 0, 0, PLANE_PX, PLANE_PX);
  ctx.fillStyle = "#bbb";
  ctx.fillRect(PLANE_PX / 2, 0, 1, PLANE_PX);
  ctx.fillRect(0, PLANE_PX / 2, PLANE_PX, 1);
  ctx.globalAlpha = 0.7;
  for (let i = 0; i < entry.labels.length; i++) {
    ctx.fillStyle = PALETTE[entry.labels[i] % PALETTE.length];
    ctx.fillRect(toPx(entry.points[2 * i], limit) - 1.5, PLANE_PX - toPx(entry.points[2 * i + 1], limit) - 1.5, 3, 3);
  }
  ctx.globalAlpha = 1;
  view.backgroundKey = key;
  return canvas;
}

// The decoded manifold, filled a slice of work at a time so that a drag stays smooth while it fills.
function manifold(view) {
  const { entry, header } = view, limit = header.limit;
  let grid = entry.manifolds.get(limit);
  if (!grid) entry.manifolds.set(limit, (grid = { canvas: el("canvas", { width: SIDE * GRID, height: SIDE * GRID }), done: 0 }));
  if (grid.done < GRID * GRID && !grid.busy) {
    grid.busy = true;
    setTimeout(() => fill(view, entry.model, grid, limit), 0);
  }
  return grid;
}

function fill(view, model, grid, limit) {
  const until = performance.now() + 8, ctx = grid.canvas.getContext("2d");
  const at = (i) => -limit + (2 * limit * i) / (GRID - 1); // torch.linspace(-limit, limit, GRID)
  while (grid.done < GRID * GRID && performance.now() < until) {
    const row = Math.floor(grid.done / GRID), col = grid.done % GRID; // rows from high z1 at the top
    paint(ctx, VaeLabDecoder.decode(model, [at(col), at(GRID - 1 - row)]), 255, col * SIDE, row * SIDE);
    grid.done += 1;
  }
  grid.busy = false;
  schedule(view);
}

function slider(view, dim, limit) {
  const input = el("input", { type: "range", min: -limit, max: limit, step: 0.01, value: view.z[dim.index] });
  input.setAttribute("aria-label", dim.label);
  const out = el("output");
  input.addEventListener("input", () => { view.z[dim.index] = Number(input.value); schedule(view); });
  view.sliders.set(dim.index, { input, out });
  const label = el("label", { className: "slider" });
  label.append(el("span", { className: "name" }, dim.label), input, out);
  return label;
}

function planeCanvas(view) {
  const canvas = el("canvas", { width: PLANE_PX, height: PLANE_PX, className: "plane" });
  canvas.setAttribute("aria-label", "Latent plane: drag to decode");
  const move = (e) => {
    const r = canvas.getBoundingClientRect(), limit = view.header.limit;
    const clamp = (v) => Math.min(Math.max(v, -limit), limit);
    view.z[0] = clamp((((e.clientX - r.left) / r.width) * 2 - 1) * limit);
    view.z[1] = clamp((1 - ((e.clientY - r.top) / r.height) * 2) * limit);
    schedule(view);
  };
  canvas.onpointerdown = (e) => { view.dragging = true; canvas.setPointerCapture(e.pointerId); move(e); };
  canvas.onpointermove = (e) => { if (view.dragging) move(e); };
  canvas.onpointerup = canvas.onpointercancel = () => { view.dragging = false; };
  return canvas;
}

// A new run or start point: the board is laid out again and its point set to the start (or to where this tab
// left it, after a remount).
function build(view, header) {
  const saved = BOARDS.get(header.board);
  view.z = Float64Array.from(saved && saved.token === header.token ? saved.z : header.start);
  BOARDS.set(header.board, { token: header.token, z: view.z });
  view.sliders = new Map();
  const start = picture("Start point", "");
  const live = picture(`${header.title}: your point, decoded`, "your point, decoded in this browser");
  const back = el("button", { type: "button" }, "Back to the start point");
  back.onclick = () => { view.z.set(view.header.start); schedule(view); };
  const pictures = el("div", { className: "pictures" });
  pictures.append(start.figure, live.figure, back);
  view.plane = header.latent_dim === 2 ? planeCanvas(view) : null;
  const sliders = el("div", { className: "sliders" });
  sliders.append(...header.dims.filter((d) => d.active).map((d) => slider(view, d, header.limit)));
  const idle = header.dims.filter((d) => !d.active);
  const parts = [pictures, ...(view.plane ? [view.plane] : []), sliders];
  if (idle.length) {
    const details = el("details");
    details.append(el("summary", {}, `${idle.length} inactive dimensions (KL ≈ 0: the decoder ignores them)`));
    const inner = el("div", { className: "sliders" });
    inner.append(...idle.map((d) => slider(view, d, header.limit)));
    details.append(inner);
    parts.push(details);
  }
  view.root.replaceChildren(...parts);
  Object.assign(view, { startCanvas: start.canvas, startText: start.text, digit: live.canvas, layout: `${header.key} ${header.token}` });
}

export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const { header, blobs } = VaeLabDecoder.unpack(data instanceof Uint8Array ? data : new Uint8Array(data));
  if (header.model) remember(header, blobs);
  const root = parentElement.querySelector(".vae-board");
  const entry = MODELS.get(header.key);
  if (!entry) { // this tab lost the weights (or a rerun overtook them): asked for once, the server sends them again
    if (root.dataset.asked !== header.key) { root.dataset.asked = header.key; setTriggerValue("missing", header.key); }
    return;
  }
  delete root.dataset.asked; // should they be lost again later, ask again
  const view = (root.__vaeBoard ??= { root, frames: 0 }); // the same DOM on every redraw: state lives on it
  Object.assign(view, { header, entry });
  if (view.layout !== `${header.key} ${header.token}`) build(view, header);
  paint(view.startCanvas.getContext("2d"), new Uint8Array(blobs.start), 1);
  view.startText.textContent = header.start_caption;
  schedule(view);
}
