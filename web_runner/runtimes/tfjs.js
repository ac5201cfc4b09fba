/*
 * TF.js graph models on the cpu, wasm, webgl or webgpu backend.
 *
 * Every runtime module exports one class of the same shape (the twin of devicelab/runtimes/base.py):
 *   static runtimeName, static backends (first = default), static loadIncludesRuntimeInit
 *   init()      start the runtime, outside the timed load (like importing the library in Python)
 *   load(url)   timed
 *   prepare(sample) per sample, untimed: [{name, dtype, shape, data}] -> what run() eats
 *   run(feed)   timed; returns raw outputs
 *   release(raw), finish(raw) -> [{name, shape, data: Float32Array}] untimed; dispose(feeds) at the end
 *   version(), used() (what really ran), threadsUsed()
 * Optional: memoryBytes(), profilePeakBytes(feed), profile(feeds) -> {method, runs, nodes: [{node, op_type,
 *   provider, calls, total_us, mean_us}]} (per-node times, untimed, only when the page is asked to profile),
 *   capture(feed, names) -> [{name, dtype, shape, data}] and captureMethod (intermediate tensors, untimed, only
 *   for a job with `capture`: devicelab explain).
 */
import {
  JobError, castTo, errorText, feedOrder, inSignatureOrder, loadScripts, modulePath, requestedThreads, toFloat32,
} from './common.js';

const SCRIPTS = {
  tf: modulePath('@tensorflow/tfjs/dist/tf.min.js'),
  wasm: modulePath('@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js'),
  webgpu: modulePath('@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js'),
};
const WASM_DIR = modulePath('@tensorflow/tfjs-backend-wasm/dist/');

export class TfjsRuntime {
  static runtimeName = 'tfjs';
  static backends = ['wasm', 'cpu', 'webgl', 'webgpu'];
  static loadIncludesRuntimeInit = false;

  constructor(job) {
    this.job = job;
    this.backend = job.runtime.backend || TfjsRuntime.backends[0];
    this.async = false; // switched on when the graph has control flow (execute() refuses it)
  }

  async init() {
    if (!TfjsRuntime.backends.includes(this.backend)) {
      throw new JobError('backend_unavailable', `tfjs has no '${this.backend}' backend`,
        `use one of ${TfjsRuntime.backends.join(', ')}`);
    }
    const scripts = [SCRIPTS.tf];
    if (this.backend === 'wasm') scripts.push(SCRIPTS.wasm);
    if (this.backend === 'webgpu') scripts.push(SCRIPTS.webgpu);
    await loadScripts(scripts);
    if (this.backend === 'wasm') {
      tf.wasm.setWasmPaths(WASM_DIR);
      // Threads need SharedArrayBuffer, i.e. a cross-origin isolated page; without it tfjs loads the
      // single-threaded binary whatever is asked. tfjs also caps the count at hardwareConcurrency / 2 (max 8),
      // so threadsUsed() reads back what it really took.
      if (typeof tf.wasm.setThreadsCount === 'function') tf.wasm.setThreadsCount(requestedThreads(this.job));
    }
    if (this.backend === 'webgpu' && !navigator.gpu) {
      throw new JobError('backend_unavailable', 'tfjs backend \'webgpu\': this browser has no navigator.gpu',
        'Chromium on Linux needs --enable-unsafe-webgpu (and a secure context: http://127.0.0.1 is one)');
    }
    let ok = false;
    try {
      ok = await tf.setBackend(this.backend);
      await tf.ready();
    } catch (err) {
      throw new JobError('backend_unavailable', `tfjs backend '${this.backend}' failed to start: ${errorText(err)}`,
        'try another backend (cpu, wasm, webgl, webgpu)');
    }
    if (!ok || tf.getBackend() !== this.backend) {
      throw new JobError('backend_unavailable', `tfjs backend '${this.backend}' is not available in this browser` +
        ` (got ${tf.getBackend() || 'none'})`, this.backend === 'webgpu'
        ? 'no WebGPU adapter: Chromium on Linux needs --enable-unsafe-webgpu' : 'try the wasm or cpu backend');
    }
  }

  version() {
    return `tfjs ${tf.version.tfjs}`;
  }

  used() {
    return `tfjs-${tf.getBackend()}`; // what really ran, not what was asked
  }

  threadsUsed() {
    if (tf.getBackend() !== 'wasm') return null;
    return typeof tf.wasm.getThreadsCount === 'function' ? tf.wasm.getThreadsCount() : 1;
  }

  async load(url) {
    this.model = await tf.loadGraphModel(url);
    this.outputNames = this.model.outputNodes || [];
    this.inputInfo = this.model.inputs || [];
    this.order = this.inputInfo.length ? feedOrder(this.inputInfo.map((i) => i.name), this.job, 'tfjs')
      : this.job.inputs.map((_, i) => i);
  }

  prepare(sample) {
    // tfjs tensors are float32, int32 or bool: each input gets the dtype the graph declares (int64 ids -> int32,
    // int8/uint8 -> int32, float16 -> float32), else the nearest one to the job's.
    const tensors = this.order.map((j, i) => {
      const t = sample[j];
      const declared = this.inputInfo[i] && this.inputInfo[i].dtype;
      const dtype = ['float32', 'int32', 'bool'].includes(declared) ? declared
        : t.dtype.startsWith('float') ? 'float32' : t.dtype === 'bool' ? 'bool' : 'int32';
      return tf.tensor(castTo(t.data, dtype === 'bool' ? 'uint8' : dtype), t.shape, dtype);
    });
    if (tensors.length === 1) return tensors;
    // Several inputs go by name: execute() maps an array by the graph's own input order.
    return [Object.fromEntries(tensors.map((tensor, i) => [this.inputInfo[i].name, tensor]))];
  }

  /** execute(), or executeAsync() once the graph turned out to have control flow; `outputs`: node names. */
  async execute(feed, outputs) {
    const input = feed[0] instanceof tf.Tensor ? (feed.length === 1 ? feed[0] : feed) : feed[0];
    if (this.async) return this.model.executeAsync(input, outputs);
    try {
      return this.model.execute(input, outputs);
    } catch (err) {
      // Raised before any kernel runs, so the retry costs nothing measurable.
      if (!/executeAsync/.test(errorText(err))) throw err;
      this.async = true;
      return this.model.executeAsync(input, outputs);
    }
  }

  async run(feed) {
    const out = await this.execute(feed);
    const tensors = Array.isArray(out) ? out : [out];
    // Reading the data back is part of an inference: on webgl/webgpu it waits for the GPU to finish.
    const data = [];
    for (const t of tensors) data.push(await t.data());
    return { tensors, data };
  }

  release(raw) {
    tf.dispose(raw.tensors);
  }

  finish(raw) {
    const outputs = raw.tensors.map((t, k) => ({ name: this.outputNames[k] || `output_${k}`, shape: t.shape,
      data: toFloat32(raw.data[k]) }));
    this.release(raw);
    // A SavedModel signature is a map: its outputs (output_0, output_1... from Keras) come in any order, and
    // execute() keeps that order. The model's own order is the keys' natural order (untimed: done here).
    return inSignatureOrder(outputs);
  }

  dispose(feeds) {
    for (const feed of feeds) for (const f of feed) tf.dispose(f instanceof tf.Tensor ? f : Object.values(f));
  }

  memoryBytes() {
    return tf.memory().numBytes;
  }

  /** tf.profile() of one extra, untimed inference: the peak tensor bytes while it ran. */
  async profilePeakBytes(feed) {
    const info = await tf.profile(async () => {
      const raw = await this.run(feed);
      return raw.tensors;
    });
    tf.dispose(info.result);
    return info.peakBytes;
  }

  /**
   * Intermediate tensors by node name (devicelab explain): model.execute(inputs, names) returns any node's
   * output, not only the graph's; read back and disposed here, untimed.
   */
  async capture(feed, names) {
    const out = await this.execute(feed, names);
    const tensors = Array.isArray(out) ? out : [out];
    const captured = [];
    for (const [k, t] of tensors.entries()) {
      captured.push({ name: names[k], dtype: t.dtype, shape: t.shape, data: await t.data() });
    }
    tf.dispose(tensors);
    return captured;
  }

  get captureMethod() {
    return 'GraphModel.execute(inputs, node names) per sample';
  }

  /** Per-kernel times of one extra, untimed inference (tf.profile; webgl/webgpu through timer queries). */
  async profile(feeds) {
    const started = performance.now();
    const info = await tf.profile(async () => (await this.run(feeds[0])).tensors);
    const wholeMs = performance.now() - started; // the profiled inference, tf.profile's own bookkeeping included
    tf.dispose(info.result);
    const backend = tf.getBackend();
    // tf.profile() also records whole ops ('fusedMatMul__op') around the kernels they call: only kernels
    // registered for the backend are rows, so no time is counted twice.
    const kernels = info.kernels.filter((k) => tf.getKernel(k.name, backend) != null);
    // Where WebGL has no timer queries, tfjs gives {error} instead of a time: say so rather than report zeros.
    const failed = kernels.find((k) => k.kernelTimeMs && typeof k.kernelTimeMs === 'object');
    if (failed) {
      return { available: false, reason: `tf.profile() has no kernel times here: ${failed.kernelTimeMs.error}` };
    }
    const rows = new Map();
    for (const k of kernels) {
      const row = rows.get(k.name) || { node: k.name, op_type: k.name, provider: backend, calls: 0, total_us: 0 };
      row.calls += 1;
      row.total_us += (Number(k.kernelTimeMs) || 0) * 1000;
      rows.set(k.name, row);
    }
    const nodes = [...rows.values()].map((r) => ({ ...r, mean_us: r.total_us / r.calls }))
      .sort((a, b) => b.total_us - a.total_us);
    // tf.profile() names no device per kernel: a backend runs what it has (webgl hands small tensors to the CPU
    // inside its kernels, unseen), so no share on the requested backend is claimed.
    return { method: `tf.profile() of one untimed inference (${this.used()}); kernels grouped by name`, runs: 1,
      nodes, ops_ms_mean: nodes.reduce((sum, r) => sum + r.total_us, 0) / 1000, run_ms_mean: wholeMs,
      requested_provider: backend, share_ops_on_requested: null, share_time_on_requested: null,
      share_note: 'tf.profile() does not say where each kernel ran' };
  }

}
