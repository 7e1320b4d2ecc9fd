// The interpolation's scrubber in the browser (ui.browser_model.path_board): one range input along a whole chain of
// class means, each position interpolated and decoded here on every input event, with no message to the server.
// What it shows arrives as numbers, or as text that only ever goes into textContent and aria-label.
const STEP = 0.01; // of a leg: a hundred places between two class means

// vae.analysis.latents's interpolation, point for point, in float64 (the strip's torch works in float32: within 1e-5 of it,
// except slerp near opposite ends, where float32 itself drifts by ~1e-3; see tests/test_browser_path.py).
export const VaeLabPath = (() => {
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  // (1 − t)·a + t·b
  const lerp = (a, b, t) => a.map((x, i) => (1 - t) * x + t * b[i]);
  // Angle and norm interpolated apart (vae.analysis.latents.slerp): a zero end, or ends at an angle under 1e-6 where the
  // great circle is undefined, fall back to the straight line as torch's does.
  function slerp(a, b, t) {
    const na = norm(a), nb = norm(b);
    if (na === 0 || nb === 0) return lerp(a, b, t);
    const cos = a.reduce((s, x, i) => s + (x / na) * (b[i] / nb), 0);
    const omega = Math.acos(Math.min(Math.max(cos, -1), 1));
    if (Math.abs(omega) < 1e-6) return lerp(a, b, t);
    const wa = Math.sin((1 - t) * omega) / Math.sin(omega), wb = Math.sin(t * omega) / Math.sin(omega);
    const r = (1 - t) * na + t * nb;
    return a.map((x, i) => (wa * (x / na) + wb * (b[i] / nb)) * r);
  }
  // The place s in [0, legs] along the chain of ends [K][D]: leg ⌊s⌋ (the last leg at s = legs), fraction t on it.
  // A leg's ends are the class means themselves, as vae.analysis.latents.interpolate pins them.
  function at(ends, method, s) {
    const legs = ends.length - 1, leg = Math.min(Math.max(Math.floor(s), 0), legs - 1);
    const t = Math.min(Math.max(s - leg, 0), 1), a = ends[leg], b = ends[leg + 1];
    if (t === 0 || t === 1) return { leg, t, z: (t === 0 ? a : b).slice() };
    return { leg, t, z: method === "spherical" ? slerp(a, b, t) : lerp(a, b, t) };
  }
  return { lerp, slerp, at };
})();

function schedule(view) {
  if (view.pending) return;
  view.pending = true;
  requestAnimationFrame(() => { view.pending = false; draw(view); });
}

function draw(view) {
  const { header, root } = view, names = header.names;
  const { leg, t, z } = VaeLabPath.at(header.means, header.method, view.place.s);
  view.pixels = VaeLabDecoder.decode(view.model, z); // [784] in [0, 1]: read by tests
  const image = view.canvas.getContext("2d").createImageData(SIDE, SIDE);
  for (let p = 0; p < SIDE * SIDE; p++) {
    image.data[4 * p] = image.data[4 * p + 1] = image.data[4 * p + 2] = Math.round(view.pixels[p] * 255);
    image.data[4 * p + 3] = 255;
  }
  view.canvas.getContext("2d").putImageData(image, 0, 0);
  view.input.value = view.place.s;
  view.leg.textContent = `${names[leg]} → ${names[leg + 1]}`;
  view.fraction.textContent = `t = ${t.toFixed(2)}`;
  view.input.setAttribute("aria-valuetext", `${names[leg]} → ${names[leg + 1]}, t = ${t.toFixed(2)}`);
  view.frames += 1;
  Object.assign(root.dataset, { frames: view.frames, s: view.place.s, leg, method: header.method });
}

// A new run or chain: laid out again, at the start of the path (or where this tab left it, after a remount).
function build(view, header) {
  const saved = BOARDS.get(header.board);
  view.place = saved && saved.token === header.token ? saved : { token: header.token, s: 0 };
  BOARDS.set(header.board, view.place);
  const legs = header.names.length - 1;
  view.canvas = el("canvas", { width: SIDE, height: SIDE, className: "digit" });
  view.canvas.setAttribute("aria-label", `${header.title}: the path at the scrubber, decoded`);
  const figure = el("figure");
  figure.append(view.canvas);
  view.input = el("input", { type: "range", min: 0, max: legs, step: STEP, value: view.place.s });
  view.input.setAttribute("aria-label", "Place along the path");
  view.input.addEventListener("input", () => { view.place.s = Number(view.input.value); schedule(view); });
  view.leg = el("span", { className: "leg" });
  view.fraction = el("span", { className: "fraction" });
  const where = el("div", { className: "where" });
  where.append(view.leg, view.fraction);
  const stops = el("div", { className: "stops" });
  stops.append(...header.names.map((name) => el("span", {}, name)));
  const scrub = el("div", { className: "scrub" });
  scrub.append(where, view.input, stops);
  view.root.replaceChildren(figure, scrub);
  view.layout = `${header.key} ${header.token}`;
}

export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const { header, blobs } = VaeLabDecoder.unpack(data instanceof Uint8Array ? data : new Uint8Array(data));
  if (header.model) remember(header, blobs);
  const root = parentElement.querySelector(".vae-path");
  const entry = MODELS.get(header.key);
  if (!entry) { // this tab lost the weights (or never had them): asked for once, the server sends them again
    if (root.dataset.asked !== header.key) { root.dataset.asked = header.key; setTriggerValue("missing", header.key); }
    return;
  }
  delete root.dataset.asked; // should they be lost again later, ask again
  const view = (root.__vaePath ??= { root, frames: 0 }); // the same DOM on every redraw: state lives on it
  Object.assign(view, { header, model: entry.model });
  if (view.layout !== `${header.key} ${header.token}`) build(view, header);
  schedule(view);
}
