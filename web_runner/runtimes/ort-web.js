/*
 * ONNX models through onnxruntime-web (ort.min.js: wasm, and WebGPU through JSEP). Same shape as every
 * runtime module (see tfjs.js).
 */
import { JobError, errorText, loadScripts, modulePath, requestedThreads, toFloat32 } from './common.js';

const SCRIPT = modulePath('onnxruntime-web/dist/ort.min.js');
const WASM_DIR = modulePath('onnxruntime-web/dist/');

export class OrtWebRuntime {
  static runtimeName = 'ort-web';
  static backends = ['wasm', 'webgpu'];

  constructor(job) {
    this.job = job;
    this.backend = job.runtime.backend || OrtWebRuntime.backends[0];
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
    await loadScripts([SCRIPT]);
    ort.env.wasm.wasmPaths = WASM_DIR;
    // More than one thread needs a cross-origin isolated page; ort-web falls back to 1 by itself otherwise.
    ort.env.wasm.numThreads = requestedThreads(this.job);
    ort.env.wasm.proxy = false; // run on this thread: a proxy worker would add a message round trip per run
    ort.env.logLevel = 'warning';
  }

  version() {
    return `onnxruntime-web ${ort.env.versions.web || ort.env.versions.common}`;
  }

  threadsUsed() {
    return this.backend === 'wasm' ? (window.crossOriginIsolated ? ort.env.wasm.numThreads : 1) : null;
  }

  used() {
    return `ort-web-${this.backend}`;
  }

  async load(url) {
    try {
      this.session = await ort.InferenceSession.create(url, { executionProviders: [this.backend] });
    } catch (err) {
      // ort-web reports a missing execution provider as "no available backend found".
      if (/backend/i.test(errorText(err)) && this.backend !== 'wasm') {
        throw new JobError('backend_unavailable', `ort-web backend '${this.backend}': ${errorText(err)}`,
          'use the wasm backend');
      }
      throw err;
    }
    if (this.session.inputNames.length !== this.job.inputs.length) {
      throw new JobError('model_run', `the model has ${this.session.inputNames.length} inputs ` +
        `(${this.session.inputNames}); the job gives ${this.job.inputs.length}`);
    }
    this.outputNames = this.session.outputNames;
  }

  prepare(sample) {
    const feed = {};
    this.session.inputNames.forEach((name, i) => {
      const t = sample[i];
      feed[name] = new ort.Tensor(t.dtype, t.data, t.shape);
    });
    return feed;
  }

  async run(feed) {
    return this.session.run(feed); // outputs come back in CPU memory (downloaded from the GPU if any)
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
}
