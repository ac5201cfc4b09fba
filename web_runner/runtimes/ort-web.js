/*
 * ONNX models through onnxruntime-web: wasm, WebGPU and WebNN. Same shape as every runtime module (see tfjs.js).
 *
 * Always the default ort.min.js bundle: its WebGPU is JSEP, which agrees with native onnxruntime. The
 * ort.webgpu.min.js / ort.jspi.min.js bundles' native WebGPU provider gave wrong outputs in headless Chromium
 * (SwiftShader) from the second convolution on (onnxruntime-web 1.30); tests/test_browser_ort.py watches it
 * through the page's `ort_bundle` option, which exists for that test only.
 */
import {
  JobError, castTo, errorText, feedOrder, halfToFloat, loadScripts, modulePath, requestedThreads, toFloat32,
} from './common.js';

const WASM_DIR = modulePath('onnxruntime-web/dist/');
const BUNDLES = { default: 'ort.min.js', webgpu: 'ort.webgpu.min.js', jspi: 'ort.jspi.min.js' };
const PROFILE_RUNS = 10;

export class OrtWebRuntime {
  static runtimeName = 'ort-web';
  static backends = ['wasm', 'webgpu', 'webnn'];
  static loadIncludesRuntimeInit = true;

  constructor(job, page = {}) {
    this.job = job;
    this.backend = job.runtime.backend || OrtWebRuntime.backends[0];
    this.bundle = page.ort_bundle || 'default';
  }

  async init() {
    if (!OrtWebRuntime.backends.includes(this.backend)) {
      throw new JobError('backend_unavailable', `ort-web has no '${this.backend}' backend`,
        `use one of ${OrtWebRuntime.backends.join(', ')}`);
    }
    if (this.backend === 'webgpu' && !navigator.gpu) {
      throw new JobError('backend_unavailable', 'ort-web backend \'webgpu\': this browser has no navigator.gpu',
        'Chromium on Linux needs --enable-unsafe-webgpu');
    }
    if (this.backend === 'webnn') this.webnnContext = await webnnContext();
    if (!BUNDLES[this.bundle]) throw new JobError('protocol', `unknown onnxruntime-web bundle '${this.bundle}'`);
    // Emscripten binds console.log when the wasm starts, so the profiler's output can only be caught by a
    // console installed before that: it forwards everything, and also keeps it while profile() listens.
    this.heard = null;
    for (const m of ['log', 'info', 'warn', 'debug']) {
      const original = console[m].bind(console);
      console[m] = (...args) => {
        if (this.heard) this.heard.push(args.map(String).join(' '));
        else original(...args);
      };
    }
    await loadScripts([WASM_DIR + BUNDLES[this.bundle]]);
    ort.env.wasm.wasmPaths = WASM_DIR;
    // More than one thread needs a cross-origin isolated page; ort-web falls back to 1 by itself otherwise.
    ort.env.wasm.numThreads = requestedThreads(this.job);
    ort.env.wasm.proxy = false; // run on this thread: a proxy worker would add a message round trip per run
    ort.env.logLevel = 'warning';
  }

  version() {
    const bundle = this.bundle === 'default' ? '' : ` (${BUNDLES[this.bundle]})`;
    return `onnxruntime-web ${ort.env.versions.web || ort.env.versions.common}${bundle}`;
  }

  threadsUsed() {
    return this.backend === 'wasm' ? (window.crossOriginIsolated ? ort.env.wasm.numThreads : 1) : null;
  }

  used() {
    return `ort-web-${this.backend}`;
  }

  sessionOptions(extra = {}) {
    const provider = this.backend === 'webnn' ? { name: 'webnn', context: this.webnnContext } : this.backend;
    return { executionProviders: [provider], ...extra };
  }

  async load(url) {
    this.url = url;
    try {
      this.session = await ort.InferenceSession.create(url, this.sessionOptions());
    } catch (err) {
      // ort-web reports a missing execution provider as "no available backend found".
      if (/backend/i.test(errorText(err)) && this.backend !== 'wasm') {
        throw new JobError('backend_unavailable', `ort-web backend '${this.backend}': ${errorText(err)}`,
          'use the wasm backend');
      }
      throw err;
    }
    this.outputNames = this.session.outputNames;
    // An explain job's model also outputs every intermediate: the timed and accuracy runs fetch only the
    // model's own outputs, capture() the rest.
    const captured = new Set(this.job.capture ? this.job.capture.tensors : []);
    this.fetches = captured.size ? this.outputNames.filter((name) => !captured.has(name)) : null;
    if (this.fetches) this.outputNames = this.fetches;
    this.order = feedOrder(this.session.inputNames, this.job, 'ort-web');
    // The dtype each input wants (int64 ids need BigInt64Array; float16 raw bits); null when ort does not say.
    const metadata = this.session.inputMetadata || [];
    this.inputTypes = this.session.inputNames.map((_, i) => (metadata[i] && metadata[i].type) || null);
  }

  prepare(sample) {
    const feed = {};
    this.session.inputNames.forEach((name, i) => {
      const t = sample[this.order[i]];
      const dtype = this.inputTypes[i] || t.dtype;
      feed[name] = new ort.Tensor(dtype, castTo(t.data, dtype), t.shape);
    });
    return feed;
  }

  async run(feed) {
    // Outputs come back in CPU memory (downloaded from the GPU if any).
    return this.fetches ? this.session.run(feed, this.fetches) : this.session.run(feed);
  }

  release(raw) {
    for (const t of Object.values(raw)) if (typeof t.dispose === 'function') t.dispose();
  }

  finish(raw) {
    const outputs = this.outputNames.map((name) => ({ name, shape: raw[name].dims.slice(),
      data: toFloat32(raw[name].data) }));
    this.release(raw);
    return outputs;
  }

  dispose(feeds) {
    for (const feed of feeds) for (const t of Object.values(feed)) if (typeof t.dispose === 'function') t.dispose();
  }

  /**
   * Intermediate tensors by name (devicelab explain). ONNX Runtime fetches graph outputs only: the host sends a
   * model whose graph also outputs every intermediate tensor, and this fetches the ones the job names.
   */
  async capture(feed, names) {
    const raw = await this.session.run(feed, names);
    const captured = names.filter((name) => raw[name]).map((name) => {
      const t = raw[name];
      // float16 comes as raw bits (Uint16Array) or, in newer bundles, a Float16Array: widen either to float32.
      const half = t.type === 'float16';
      const data = half && t.data instanceof Uint16Array ? Float32Array.from(t.data, halfToFloat)
        : half ? toFloat32(t.data) : t.data;
      return { name, dtype: half ? 'float32' : t.type, shape: t.dims.slice(), data };
    });
    this.release(raw);
    return captured;
  }

  get captureMethod() {
    return 'InferenceSession.run(feeds, names) per sample, on the model with every intermediate as an output';
  }

  /**
   * Per-node times from onnxruntime's profiler, in a session of its own after the timed runs (profiling the
   * measured session would slow every timed run). endProfiling() logs the Chrome-trace JSON to the console.
   */
  async profile(feeds) {
    const lines = [];
    let session;
    try {
      session = await ort.InferenceSession.create(this.url, this.sessionOptions({ enableProfiling: true }));
      for (let i = 0; i < PROFILE_RUNS; i++) this.release(await session.run(feeds[i % feeds.length]));
      this.heard = lines;
      await session.endProfiling();
    } finally {
      this.heard = null;
      if (session) await session.release();
    }
    const nodes = nodeTable(traceEvents(lines));
    return { method: `onnxruntime-web enableProfiling, ${PROFILE_RUNS} untimed runs in a second session ` +
      `(${this.used()}); per-node kernel times`, runs: PROFILE_RUNS, nodes,
    ...shares(nodes, this.requestedProvider()) };
  }

  /** The execution provider the backend asks for, as ORT's profile names it. */
  requestedProvider() {
    if (this.backend === 'webgpu') return this.bundle === 'default' ? 'JsExecutionProvider' : 'WebGpuExecutionProvider';
    return this.backend === 'webnn' ? 'WebNNExecutionProvider' : 'CPUExecutionProvider';
  }
}

/**
 * The share of nodes, and of their median time, that ran on the requested provider: ORT places a node its
 * provider lacks on the CPU without a word, and only this says so (the same figures as devicelab's host table).
 */
function shares(nodes, requested) {
  const time = (n) => n.median_us * n.calls;
  const on = nodes.filter((n) => n.provider === requested);
  const total = nodes.reduce((sum, n) => sum + time(n), 0);
  return { requested_provider: requested,
    share_ops_on_requested: nodes.length ? on.length / nodes.length : null,
    share_time_on_requested: total ? on.reduce((sum, n) => sum + time(n), 0) / total : null };
}

/** navigator.ml's context, or the error every browser without WebNN gets. */
async function webnnContext() {
  const hint = 'Chromium exposes WebNN behind --enable-features=WebMachineLearningNeuralNetwork, and needs a ' +
    'backend for it (DirectML, Core ML, TFLite); use the wasm or webgpu backend';
  if (!navigator.ml || typeof navigator.ml.createContext !== 'function') {
    throw new JobError('backend_unavailable', 'WebNN is not available in this browser (no navigator.ml)', hint);
  }
  try {
    return await navigator.ml.createContext();
  } catch (err) {
    throw new JobError('backend_unavailable', 'WebNN is not available in this browser: navigator.ml could not ' +
      `create a context (${errorText(err)})`, hint);
  }
}

/** Chrome-trace events found in console lines (whole JSON arrays, or one event per line). */
function traceEvents(lines) {
  const events = [];
  for (const line of lines) {
    const start = line.search(/[[{]/);
    if (start < 0) continue;
    try {
      const parsed = JSON.parse(line.slice(start).replace(/,\s*$/, ''));
      for (const e of Array.isArray(parsed) ? parsed : [parsed]) if (e && e.cat === 'Node') events.push(e);
    } catch (err) { /* not JSON: other console output */ }
  }
  return events;
}

/** One row per node: op type, provider, calls, total, mean and median kernel time (us), slowest first. */
function nodeTable(events) {
  const rows = new Map();
  for (const e of events) {
    if (!/_kernel_time$/.test(e.name || '')) continue;
    const name = e.name.replace(/_kernel_time$/, '');
    const args = e.args || {};
    const row = rows.get(name) || { node: name, op_type: args.op_name || null, provider: args.provider || null,
      durations: [] };
    row.durations.push(Number(e.dur) || 0);
    rows.set(name, row);
  }
  // The median, because the first run of a fresh session pays for setup (shader compiles on WebGPU).
  return [...rows.values()].map(({ durations, ...r }) => {
    const sorted = durations.slice().sort((a, b) => a - b);
    const total = durations.reduce((a, b) => a + b, 0);
    return { ...r, calls: durations.length, total_us: total, mean_us: total / durations.length,
      median_us: sorted[Math.floor(sorted.length / 2)] };
  }).sort((a, b) => b.median_us - a.median_us);
}
