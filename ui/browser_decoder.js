// The decoder's forward pass: the ops of vae.browser.model, in float64 over float32 weights. No eval, no markup:
// what arrives is read as numbers and a few fixed op names.
const VaeLabDecoder = (() => {
  const MAGIC = "VAEW";
  const SIDE_PX = 28;
  const sliceOf = (bytes, at, n) => bytes.slice(at, at + n).buffer;  // a copy: typed views need an aligned start
  // A packed payload (vae.browser.model.pack) -> {header, blobs: {name: ArrayBuffer}}.
  function unpack(bytes) {
    if (String.fromCharCode(...bytes.subarray(0, 4)) !== MAGIC) throw new Error("not a packed web model");
    const length = new DataView(bytes.buffer, bytes.byteOffset + 4, 4).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
    const blobs = {};
    for (const [name, [at, n]] of Object.entries(header.blobs || {})) blobs[name] = sliceOf(bytes, 8 + length + at, n);
    return { header, blobs };
  }
  function half(h) {  // IEEE 754 binary16 bits -> number (Float16Array is too new to count on)
    const sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e === 0) return sign * m * 2 ** -24;
    if (e === 31) return m ? NaN : sign * Infinity;
    return sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  // Rows of a weighted op: dense [out, in] per output unit; transposed conv [in, out, k, k] per input channel.
  // An encoder's convolution (vae.browser.encoder) [out, in, k, k] ships as float32 only: its rows are its outputs.
  const rowsOf = (op) => (op.op === "convT" ? op.in : op.out);
  const sizeOf = (op) => (op.op === "dense" ? op.in * op.out : op.in * op.out * op.k * op.k);
  const WEIGHTED = new Set(["dense", "convT", "conv"]);
  function weightsOf(header, blobs) {  // every weight as float32, as torch holds it after the same rounding
    const weighted = header.ops.filter((op) => WEIGHTED.has(op.op));
    const total = weighted.reduce((n, op) => n + sizeOf(op), 0);
    if (header.dtype === "float32") return new Float32Array(blobs.weights, 0, total);
    if (header.dtype === "float16") return Float32Array.from(new Uint16Array(blobs.weights, 0, total), half);
    const q = new Int16Array(blobs.weights, 0, total), scales = new Float32Array(blobs.scales), out = new Float32Array(total);
    for (const op of weighted) {
      const rows = rowsOf(op), row = sizeOf(op) / rows;
      for (let r = 0; r < rows; r++) {
        const s = scales[op.s + r], at = op.w + r * row;
        for (let i = 0; i < row; i++) out[at + i] = q[at + i] * s;
      }
    }
    return out;
  }
  // Transposed-conv weights [in, out, k, k] -> [in, k, k, out], so the innermost loop runs over contiguous outputs.
  function convWeights(w, op) {
    const { in: cin, out: cout, k } = op, t = new Float32Array(cin * cout * k * k);
    for (let ci = 0; ci < cin; ci++)
      for (let co = 0; co < cout; co++)
        for (let kk = 0; kk < k * k; kk++) t[(ci * k * k + kk) * cout + co] = w[op.w + (ci * cout + co) * k * k + kk];
    return t;
  }
  // A model's header (vae.browser.model.WebDecoder.header) and its blobs -> a model ready to decode.
  function fromParts(header, blobs) {
    if (header.format !== 1) throw new Error("unknown web model format");
    const w = weightsOf(header, blobs), b = new Float32Array(blobs.biases);
    const layers = header.ops.map((op) => ({ ...op, wt: op.op === "convT" ? convWeights(w, op) : null }));
    return { key: header.key, latentDim: header.latent_dim, dtype: header.dtype, layers, w, b };
  }
  const load = (bytes) => { const { header, blobs } = unpack(bytes); return fromParts(header, blobs); };
  function dense(x, op, w, b) {
    const y = new Float64Array(op.out);
    for (let j = 0; j < op.out; j++) {
      let s = 0;
      const row = op.w + j * op.in;
      for (let i = 0; i < op.in; i++) s += w[row + i] * x.data[i];
      y[j] = s + b[op.b + j];
    }
    return { data: y, shape: [op.out] };
  }
  // A flat [C·H·W] (torch's CHW order) -> HWC, the layout convT works in.
  function reshape(x, op) {
    if (op.shape.length !== 3) return { data: x.data, shape: op.shape.slice() };
    const [c, h, wd] = op.shape, y = new Float64Array(c * h * wd);
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * wd; p++) y[p * c + ch] = x.data[ch * h * wd + p];
    return { data: y, shape: [h, wd, c], hwc: true };
  }
  // out[oy, ox, co] = b[co] + Σ x[iy, ix, ci] · w[ci, co, ky, kx] over oy = iy·stride − pad + ky (likewise x).
  function convT(x, op, wt, b) {
    const [h, wd] = x.shape, { in: cin, out: cout, k, stride, pad, outpad } = op;
    const oh = (h - 1) * stride - 2 * pad + k + outpad, ow = (wd - 1) * stride - 2 * pad + k + outpad;
    const y = new Float64Array(oh * ow * cout), xs = x.data;
    for (let iy = 0; iy < h; iy++) for (let ix = 0; ix < wd; ix++) {
      const src = (iy * wd + ix) * cin;
      for (let ky = 0; ky < k; ky++) {
        const oy = iy * stride - pad + ky;
        if (oy < 0 || oy >= oh) continue;
        for (let kx = 0; kx < k; kx++) {
          const ox = ix * stride - pad + kx;
          if (ox < 0 || ox >= ow) continue;
          const dst = (oy * ow + ox) * cout;
          for (let ci = 0; ci < cin; ci++) {
            const v = xs[src + ci];
            if (v === 0) continue;  // after a ReLU most inputs are 0: skipping them changes no sum
            const at = ((ci * k + ky) * k + kx) * cout;
            for (let co = 0; co < cout; co++) y[dst + co] += v * wt[at + co];
          }
        }
      }
    }
    for (let p = 0; p < oh * ow; p++) for (let co = 0; co < cout; co++) y[p * cout + co] += b[op.b + co];
    return { data: y, shape: [oh, ow, cout], hwc: true };
  }
  // out[co, oy, ox] = b[co] + Σ x[ci, oy·stride − pad + ky, ox·stride − pad + kx] · w[co, ci, ky, kx], in C·H·W.
  function conv(x, op, w, b) {
    const [, h, wd] = x.shape, { in: cin, out: cout, k, stride, pad } = op;
    const oh = Math.floor((h + 2 * pad - k) / stride) + 1, ow = Math.floor((wd + 2 * pad - k) / stride) + 1;
    const y = new Float64Array(cout * oh * ow), xs = x.data;
    for (let co = 0; co < cout; co++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      let s = 0;
      for (let ci = 0; ci < cin; ci++) for (let ky = 0; ky < k; ky++) {
        const iy = oy * stride - pad + ky;
        if (iy < 0 || iy >= h) continue;
        const row = (ci * h + iy) * wd, at = op.w + ((co * cin + ci) * k + ky) * k;
        for (let kx = 0; kx < k; kx++) {
          const ix = ox * stride - pad + kx;
          if (ix >= 0 && ix < wd) s += w[at + kx] * xs[row + ix];
        }
      }
      y[(co * oh + oy) * ow + ox] = s + b[op.b + co];
    }
    return { data: y, shape: [cout, oh, ow] };
  }
  function apply(x, layer, model) {
    switch (layer.op) {
      case "conv": return conv(x, layer, model.w, model.b);
      case "flatten": return { data: x.data, shape: [x.data.length] };  // C·H·W, torch's order
      case "dense": return dense(x, layer, model.w, model.b);
      case "convT": return convT(x, layer, layer.wt, model.b);
      case "reshape": return reshape(x, layer);
      case "relu": return { ...x, data: x.data.map((v) => (v > 0 ? v : 0)) };
      case "tanh": return { ...x, data: x.data.map(Math.tanh) };
      default: throw new Error("unknown op");
    }
  }
  // z (numbers, length latentDim) -> 784 pixel intensities in [0, 1]: sigmoid of the logits, as torch draws.
  function decode(model, z) {
    let x = { data: Float64Array.from(z), shape: [model.latentDim] };
    for (const layer of model.layers) x = apply(x, layer, model);
    const [h, wd, c] = x.hwc ? x.shape : [1, x.data.length, 1], out = new Float32Array(h * wd);
    for (let p = 0; p < h * wd; p++) out[p] = 1 / (1 + Math.exp(-x.data[p * c]));  // the first channel: images are 1
    return out;
  }
  // 784 pixel intensities in [0, 1] (a 28 × 28 image, row by row) -> the posterior {mu, logvar}, latentDim each.
  function encode(model, pixels) {
    let x = { data: Float64Array.from(pixels), shape: [1, SIDE_PX, SIDE_PX] };
    for (const layer of model.layers) x = apply(x, layer, model);
    const d = model.latentDim;
    return { mu: Array.from(x.data.subarray(0, d)), logvar: Array.from(x.data.subarray(d, 2 * d)) };
  }
  return { unpack, fromParts, load, decode, encode };
})();
