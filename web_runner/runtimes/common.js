/*
 * What every runtime module of the web runner shares: the error type the host understands, script loading,
 * paths into node_modules and small tensor helpers. No runtime is loaded here.
 */

// node_modules sits next to the page (/runner/ when served by devicelab); this file is in runtimes/.
const ROOT = new URL('../', import.meta.url);
export const modulePath = (path) => new URL(`node_modules/${path}`, ROOT).href;

/** A failure with a kind the host understands (error.kind in result.json). */
export class JobError extends Error {
  constructor(kind, message, hint = null) {
    super(message);
    this.kind = kind;
    this.hint = hint;
  }
}

export const errorText = (err) => (err && err.message) ? err.message : String(err);
export const product = (shape) => shape.reduce((a, b) => a * b, 1);

export function requestedThreads(job) {
  return job.runtime.threads || 1;
}

function loadScript(url) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = url;
    script.onload = resolve;
    script.onerror = () => reject(new JobError('runtime_unavailable', `could not load ${url}`,
      'run `npm ci` in web_runner/ (make setup)'));
    document.head.appendChild(script);
  });
}

/** Classic (UMD) scripts, in order: tfjs backends attach to the global `tf`. Each is loaded once per page. */
export async function loadScripts(urls) {
  for (const url of urls) {
    if (document.querySelector(`script[src="${url}"]`)) continue;
    await loadScript(url);
  }
}

/** A float32 copy of any typed array (runtimes may reuse their buffers; int64 goes through Number). */
export function toFloat32(data) {
  if (data instanceof Float32Array) return data.slice();
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float32Array.from(data, Number);
  return Float32Array.from(data);
}

// --- int8/uint8 I/O: quantization parameters from the artifact's manifest.json ----------------------------

/** Tensor names as converters write them ("serving_default_x:0") and as signatures give them ("x"). */
export const bareName = (name) => name.replace(/^serving_default_/, '').replace(/:\d+$/, '');

/** The job's manifest.json (listed in job.model.files, next to the model): {inputs, outputs} I/O specs. */
export async function readManifest(job, modelUrl) {
  const file = job.model.files.find((f) => f.endsWith('manifest.json'));
  if (!file) return { inputs: [], outputs: [] };
  const response = await fetch(new URL(file.split('/').pop(), modelUrl), { cache: 'no-store' });
  if (!response.ok) throw new JobError('protocol', `${file}: HTTP ${response.status}`);
  const manifest = await response.json();
  return { inputs: manifest.inputs || [], outputs: manifest.outputs || [] };
}

/**
 * {scale, zero_point} of a model tensor from a manifest list, or null: the entry of the same name; else the only
 * entry of the same dtype and shape (manifests list tensors in the file's order, which need not be the
 * signature's); else the entry at the same position.
 */
export function quantizationOf(entries, name, k, dtype = null, shape = null) {
  const sameShape = (e) => e.dtype === dtype && shape && e.shape && e.shape.length === shape.length &&
    e.shape.every((d, i) => d === shape[i]);
  const alike = dtype ? entries.filter(sameShape) : [];
  const entry = entries.find((e) => bareName(e.name) === bareName(name)) || (alike.length === 1 ? alike[0] : null) ||
    entries[k];
  return entry && entry.quantization ? entry.quantization : null;
}

/** Outputs in the model's own order: signature keys (output_0, output_1, ...) sorted naturally. */
export function inSignatureOrder(outputs) {
  return outputs.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

const INTEGER_RANGES = { int8: [-128, 127], uint8: [0, 255] };

/** Float samples -> the quantized integers of an int8/uint8 input, as `Typed`; errors when no parameters. */
export function quantize(data, quant, dtype, Typed, name) {
  if (!quant) {
    throw new JobError('unsupported_io', `input '${name}' is ${dtype} and the job gives floats, but the job ` +
      'carries no quantization parameters for it (the artifact\'s manifest.json)',
      'measure a variant made by devicelab convert, whose manifest holds them');
  }
  const [lo, hi] = INTEGER_RANGES[dtype];
  return Typed.from(data, (v) => Math.min(hi, Math.max(lo, Math.round(v / quant.scale + quant.zero_point))));
}

export function dequantize(data, quant) {
  return Float32Array.from(data, (q) => (Number(q) - quant.zero_point) * quant.scale);
}

// --- dtypes: every input keeps its own (issue 11); converted only where a runtime's model wants another ----

function floatToHalf(value) {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = bits & 0x7fffff;
  if (Number.isNaN(value)) return 0x7e00;
  if (exponent >= 31) return sign | 0x7c00; // overflow -> infinity
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    const m = (mantissa | 0x800000) >> (1 - exponent);
    return sign | ((m + 0x1000) >> 13);
  }
  return (sign | (exponent << 10) | (mantissa >> 13)) + ((mantissa >> 12) & 1); // round half up
}

/** `data` (any typed array) as the typed array of `dtype`; float16 as raw bits (Uint16Array). */
export function castTo(data, dtype) {
  switch (dtype) {
    case 'float32': return data instanceof Float32Array ? data : Float32Array.from(data, Number);
    case 'float16': return Uint16Array.from(data, (v) => floatToHalf(Number(v)));
    case 'int32': return data instanceof Int32Array ? data : Int32Array.from(data, Number);
    case 'int64': return data instanceof BigInt64Array ? data
      : BigInt64Array.from(data, (v) => BigInt(Math.trunc(Number(v))));
    case 'int8': return data instanceof Int8Array ? data : Int8Array.from(data, Number);
    case 'uint8': case 'bool': return data instanceof Uint8Array ? data : Uint8Array.from(data, Number);
    default: throw new JobError('unsupported_io', `the web runner cannot feed a ${dtype} input`);
  }
}

/**
 * Which job input feeds each model input: by name when every model input's name is among the job's
 * (converters decorate names: "serving_default_x:0" is x), else in order. Counts must match.
 */
export function feedOrder(modelNames, job, runtimeName) {
  const jobNames = job.inputs.map((spec) => bareName(spec.name));
  if (jobNames.length !== modelNames.length) {
    throw new JobError('model_run', `the model has ${modelNames.length} inputs (${modelNames.join(', ')}); ` +
      `the job gives ${jobNames.length} (${jobNames.join(', ')})`, `${runtimeName} needs one array per model input`);
  }
  const byName = modelNames.map((name) => jobNames.indexOf(bareName(name)));
  return byName.every((j) => j >= 0) ? byName : modelNames.map((_, i) => i);
}

/** An IEEE float16 (raw bits in a Uint16Array) as a JS number: the page and LiteRT.js both widen float16. */
export function halfToFloat(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
