/*
 * devicelab web runner: runs one job of the devicelab job/result protocol in the browser.
 *
 * The JavaScript twin of devicelab/runner.py (and of the Android and iOS apps): the same phases in the same
 * order, so figures from every target mean the same thing.
 *   load (timed) -> first inference on sample 0 (timed alone) -> accuracy mode (every sample once, outputs kept)
 *   -> performance mode (warmups, then runs until both `runs` and `min_seconds` are met, or `max_seconds`)
 * Raw per-run times are kept; statistics are computed on the host, once.
 *
 * Page URL: index.html?job=/jobs/<id>/&result=/results/<id>/
 *   GET  <job>job.json, the model file(s) and raw little-endian input tensors it names
 *   PUT  <result>outputs/output_<k>.bin, then <result>result.json, then <result>DONE (always last)
 * The host polls window.devicelab = {state, phase, done, total, error};
 * state: starting -> loading -> running -> done | error. Whatever fails, an error result.json and DONE are
 * still written, so the host never has to guess.
 *
 * Plain script, no bundler: each runtime's dist/*.min.js is loaded from node_modules on demand, so a job
 * only pays for (and is only measured with) the runtime it asks for.
 */
'use strict';

(() => {
  // Everything the page loads sits next to this file (/runner/ when served by devicelab).
  const HERE = new URL('.', document.currentScript.src);
  const modulePath = (path) => new URL(`node_modules/${path}`, HERE).href;

  const SCRIPTS = {
    tf: modulePath('@tensorflow/tfjs/dist/tf.min.js'),
    wasm: modulePath('@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js'),
    webgpu: modulePath('@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js'),
    tflite: modulePath('@tensorflow/tfjs-tflite/dist/tf-tflite.min.js'),
    ort: modulePath('onnxruntime-web/dist/ort.min.js'),
  };
  const TFJS_WASM_DIR = modulePath('@tensorflow/tfjs-backend-wasm/dist/');
  // tfjs-tflite ships its Emscripten loader + .wasm files in wasm/, not dist/.
  const TFLITE_WASM_DIR = modulePath('@tensorflow/tfjs-tflite/wasm/');
  const ORT_WASM_DIR = modulePath('onnxruntime-web/dist/');
  // The tf-tflite bundle does not export its version: keep this in step with package.json.
  const TFLITE_VERSION = '0.0.1-alpha.10';

  const TFJS_BACKENDS = ['cpu', 'wasm', 'webgl', 'webgpu'];
  const ORT_BACKENDS = ['wasm', 'webgpu'];
  const PROGRESS_EVERY_MS = 200; // as runner.py: reporting never weighs on what is being timed

  // --- state the host polls ----------------------------------------------------------------------------

  const status = { state: 'starting', phase: '', done: 0, total: 0, error: null };
  window.devicelab = status;

  function render() {
    const el = document.getElementById('status');
    if (!el) return;
    const progress = status.total ? ` ${status.done}/${status.total}` : '';
    el.textContent = `${status.state}${status.phase ? ` - ${status.phase}` : ''}${progress}` +
      (status.error ? `\n${status.error}` : '');
  }

  // One result per page, whichever of the main flow or a stray error gets there first: `writing` once it is
  // being written, `finished` once written (the host has its answer: the state must not move any more).
  let writing = false;
  let finished = false;

  function setState(state, phase = '') {
    if (finished) return;
    Object.assign(status, { state, phase, done: 0, total: 0 });
    render();
  }

  function setProgress(phase, done, total) {
    if (finished) return;
    Object.assign(status, { phase, done, total });
    render();
  }

  /** A failure with a kind the host understands (error.kind in result.json). */
  class JobError extends Error {
    constructor(kind, message, hint = null) {
      super(message);
      this.kind = kind;
      this.hint = hint;
    }
  }

  // --- small helpers -----------------------------------------------------------------------------------

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

  async function loadScripts(urls) {
    for (const url of urls) await loadScript(url); // in order: backends attach to the global `tf`
  }

  async function fetchOk(url, what) {
    let response;
    try {
      response = await fetch(url, { cache: 'no-store' });
    } catch (err) {
      throw new JobError('protocol', `could not fetch ${what} (${url}): ${err.message}`);
    }
    if (!response.ok) throw new JobError('protocol', `${what} (${url}): HTTP ${response.status}`);
    return response;
  }

  async function put(url, body) {
    const response = await fetch(url, { method: 'PUT', body });
    if (!response.ok) throw new Error(`PUT ${url}: HTTP ${response.status}`);
  }

  /** Let the event loop run (Selenium's polls, repaints) without the 4 ms clamp or background throttling of setTimeout. */
  function yieldToEventLoop() {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => resolve();
      channel.port2.postMessage(null);
    });
  }

  const product = (shape) => shape.reduce((a, b) => a * b, 1);
  const errorText = (err) => (err && err.message) ? err.message : String(err);

  // --- tensors: raw little-endian files, dtype and shape from the JSON ----------------------------------

  // Typed arrays use the platform's byte order; every browser platform in use is little-endian.
  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

  const TYPED_ARRAYS = {
    float32: Float32Array, float16: Uint16Array /* raw bits, widened below */, int8: Int8Array,
    uint8: Uint8Array, int32: Int32Array, int64: BigInt64Array, bool: Uint8Array,
  };

  function halfToFloat(bits) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }

  /** One input tensor of the job: {name, dtype, shape, data}; float16 arrives widened to float32. */
  async function readTensor(jobBase, spec) {
    const Typed = TYPED_ARRAYS[spec.dtype];
    if (!Typed) throw new JobError('protocol', `input '${spec.name}' has unknown dtype ${spec.dtype}`);
    const buffer = await (await fetchOk(new URL(spec.file, jobBase), `input '${spec.name}'`)).arrayBuffer();
    const expected = product(spec.shape) * Typed.BYTES_PER_ELEMENT;
    if (buffer.byteLength !== expected) {
      throw new JobError('protocol', `tensor file '${spec.file}' holds ${buffer.byteLength} bytes; ` +
        `${spec.dtype}[${spec.shape}] needs ${expected}`, 'the file was truncated or written with another shape');
    }
    let data = new Typed(buffer);
    let dtype = spec.dtype;
    if (dtype === 'float16') {
      data = Float32Array.from(data, halfToFloat);
      dtype = 'float32';
    }
    return { name: spec.name, dtype, shape: spec.shape, data };
  }

  /** Sample i of every input, each with a batch of 1: [{name, dtype, shape: [1, ...], data}]. */
  function sampleOf(inputs, i) {
    return inputs.map((t) => {
      const size = product(t.shape.slice(1));
      return { name: t.name, dtype: t.dtype, shape: [1, ...t.shape.slice(1)],
        data: t.data.subarray(i * size, (i + 1) * size) };
    });
  }

  function toFloat32(data) {
    if (data instanceof Float32Array) return data.slice(); // a copy: runtimes may reuse their buffers
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float32Array.from(data, Number);
    return Float32Array.from(data);
  }

  /** Stack per-sample outputs along axis 0, as runner.py's np.concatenate does. */
  function stackOutputs(collected) {
    return collected[0].map((first, k) => {
      const parts = collected.map((sample) => sample[k]);
      const rest = first.shape.slice(1);
      const lead = first.shape.length ? parts.reduce((n, p) => n + p.shape[0], 0) : parts.length;
      const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
      let offset = 0;
      for (const p of parts) {
        data.set(p.data, offset);
        offset += p.data.length;
      }
      return { name: first.name, shape: [lead, ...rest], data };
    });
  }

  // --- runtimes ------------------------------------------------------------------------------------------
  // Each adapter mirrors devicelab/runtimes/base.py: init (outside the timed load, like importing the library
  // in Python), load (timed), prepare (per sample, untimed), run (timed), release (untimed) and finish
  // (raw outputs -> [{name, shape, data: Float32Array}], untimed).

  function requestedThreads(job) {
    return job.runtime.threads || 1;
  }

  class TfjsRuntime {
    constructor(job) {
      this.job = job;
      this.backend = job.runtime.backend || 'wasm';
      this.async = false; // switched on when the graph has control flow (execute() refuses it)
    }

    async init() {
      if (!TFJS_BACKENDS.includes(this.backend)) {
        throw new JobError('backend_unavailable', `tfjs has no '${this.backend}' backend`,
          `use one of ${TFJS_BACKENDS.join(', ')}`);
      }
      const scripts = [SCRIPTS.tf];
      if (this.backend === 'wasm') scripts.push(SCRIPTS.wasm);
      if (this.backend === 'webgpu') scripts.push(SCRIPTS.webgpu);
      await loadScripts(scripts);
      if (this.backend === 'wasm') {
        tf.wasm.setWasmPaths(TFJS_WASM_DIR);
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
    }

    prepare(sample) {
      // tfjs has no int8/uint8/int64 tensors: those arrive as int32.
      return sample.map((t) => tf.tensor(t.data, t.shape, ['float32', 'bool'].includes(t.dtype) ? t.dtype : 'int32'));
    }

    async run(feed) {
      const input = feed.length === 1 ? feed[0] : feed;
      let out;
      if (this.async) {
        out = await this.model.executeAsync(input);
      } else {
        try {
          out = this.model.execute(input);
        } catch (err) {
          // Raised before any kernel runs, so the retry costs nothing measurable.
          if (!/executeAsync/.test(errorText(err))) throw err;
          this.async = true;
          out = await this.model.executeAsync(input);
        }
      }
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
      return outputs;
    }

    dispose(feeds) {
      for (const feed of feeds) tf.dispose(feed);
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
  }

  class TfliteWebRuntime {
    constructor(job) {
      this.job = job;
      this.backend = job.runtime.backend || 'wasm';
    }

    async init() {
      if (this.backend !== 'wasm') {
        throw new JobError('backend_unavailable', `tflite-web has no '${this.backend}' backend`,
          'tflite-web runs on wasm only (XNNPACK); use tfjs or ort-web for GPU backends');
      }
      await loadScripts([SCRIPTS.tf, SCRIPTS.tflite]); // the tf-tflite bundle is built against the global `tf`
      await tf.setBackend('cpu'); // no tf tensors are made here: do not let tfjs start WebGL for nothing
      tflite.setWasmPath(TFLITE_WASM_DIR);
      this.features = await tflite.getWasmFeatures(); // {simd, multiThreading}: which binary it will load
    }

    version() {
      return `tfjs-tflite ${TFLITE_VERSION}`;
    }

    threadsUsed() {
      // The threaded binary needs SharedArrayBuffer (a cross-origin isolated page); otherwise one thread.
      return this.features.multiThreading ? requestedThreads(this.job) : 1;
    }

    used() {
      const simd = this.features.simd ? ' SIMD' : '';
      const n = this.threadsUsed();
      return `tflite-web (wasm${simd}, ${n} thread${n === 1 ? '' : 's'})`;
    }

    async load(url) {
      let model;
      try {
        model = await tflite.loadTFLiteModel(url, { numThreads: this.threadsUsed() });
      } catch (err) {
        await this.checkLoaderReachable(); // a missing loader surfaces only as "reading '_malloc'"
        throw err;
      }
      // TFLiteModel.predict() reads its output buffers through pointers taken *before* invoking, and the
      // first invoke (where XNNPACK is applied) moves them: predict's first result is all zeros (checked with
      // LeNet-5, 0.0.1-alpha.10). So drive the TFLiteWebModelRunner behind it (typed in the package's
      // types/tflite_web_model_runner.d.ts) and look the outputs up after each invoke, as they are now.
      this.runner = model.modelRunner;
      if (!this.runner || typeof this.runner.infer !== 'function') {
        throw new JobError('runtime_unavailable', 'this @tensorflow/tfjs-tflite build has no model runner to drive',
          `the web runner was written against tfjs-tflite ${TFLITE_VERSION}; run \`npm ci\` in web_runner/`);
      }
      this.checkIo();
      this.outputNames = this.runner.getOutputs().map((o) => o.name);
    }

    /** tfjs-tflite swallows a failed load of its wasm loader script; name the file the server did not give. */
    async checkLoaderReachable() {
      const { simd, multiThreading } = this.features;
      const name = `tflite_web_api_cc${simd ? '_simd' : ''}${multiThreading ? '_threaded' : ''}.js`;
      const url = TFLITE_WASM_DIR + name;
      const response = await fetch(url, { method: 'HEAD', cache: 'no-store' }).catch(() => null);
      if (!response || !response.ok) {
        throw new JobError('runtime_unavailable', `tflite-web could not load its wasm loader ${url} ` +
          `(${response ? `HTTP ${response.status}` : 'network error'})`,
          'the page server must serve node_modules/@tensorflow/tfjs-tflite/wasm/ (and `npm ci` must have run)');
      }
    }

    /**
     * tfjs-tflite does not expose quantization parameters, so a float sample cannot be quantized for a model
     * with integer I/O (nor its outputs dequantized): say so rather than feed it garbage.
     */
    checkIo() {
      const inputs = this.runner.getInputs().map((i) => i.dataType);
      const outputs = this.runner.getOutputs().map((o) => o.dataType);
      const integer = [...inputs, ...outputs].filter((t) => ['int8', 'uint8', 'int16'].includes(t));
      const floatFed = this.job.inputs.every((spec) => spec.dtype.startsWith('float'));
      if (integer.length && floatFed) {
        throw new JobError('unsupported_io', `tflite-web cannot feed models with integer (${integer[0]}) inputs or ` +
          'outputs: @tensorflow/tfjs-tflite does not expose the quantization parameters needed to quantize float ' +
          `samples and dequantize outputs (model I/O: in [${inputs}], out [${outputs}])`,
          'measure the tflite-dynamic-int8 variant (float I/O) in the browser, or this one on host or android');
      }
      if (inputs.length !== this.job.inputs.length) {
        throw new JobError('model_run', `the model has ${inputs.length} inputs; the job gives ${this.job.inputs.length}`);
      }
    }

    prepare(sample) {
      // Copied into the interpreter's input buffers by run(), which checks nothing: check shapes here.
      const dims = (info) => (info.shape === '' ? [] : info.shape.split(',').map(Number));
      this.runner.getInputs().forEach((info, i) => {
        const want = dims(info);
        const got = sample[i].shape;
        if (want.length !== got.length || want.some((d, k) => d !== -1 && d !== got[k])) {
          throw new JobError('model_run', `input '${info.name}' must be [${want}], the job gives [${got}]`,
            'the job was built for another model');
        }
      });
      return sample.map((t) => t.data);
    }

    run(feed) {
      // What TFLiteModel.predict() does, minus the tf tensors: copy in, invoke, view the outputs.
      const inputs = this.runner.getInputs();
      for (let i = 0; i < inputs.length; i++) inputs[i].data().set(feed[i]);
      if (!this.runner.infer()) throw new Error('TFLite interpreter: invoke failed');
      const outputs = this.runner.getOutputs();
      // Views into wasm memory: finish() copies them before the next run overwrites them.
      return outputs.map((o) => ({ shape: o.shape === '' ? [] : o.shape.split(',').map(Number), data: o.data() }));
    }

    release() {
      // Nothing to free: the buffers belong to the interpreter.
    }

    finish(raw) {
      return raw.map((o, k) => ({ name: this.outputNames[k] || `output_${k}`, shape: o.shape,
        data: toFloat32(o.data) }));
    }

    dispose() {
      this.runner.cleanUp();
    }
  }

  class OrtWebRuntime {
    constructor(job) {
      this.job = job;
      this.backend = job.runtime.backend || 'wasm';
    }

    async init() {
      if (!ORT_BACKENDS.includes(this.backend)) {
        throw new JobError('backend_unavailable', `ort-web has no '${this.backend}' backend`,
          `use one of ${ORT_BACKENDS.join(', ')}`);
      }
      if (this.backend === 'webgpu' && !navigator.gpu) {
        throw new JobError('backend_unavailable', 'ort-web backend \'webgpu\': this browser has no navigator.gpu',
          'Chromium on Linux needs --enable-unsafe-webgpu');
      }
      await loadScripts([SCRIPTS.ort]);
      ort.env.wasm.wasmPaths = ORT_WASM_DIR;
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

  const RUNTIMES = { 'tfjs': TfjsRuntime, 'tflite-web': TfliteWebRuntime, 'ort-web': OrtWebRuntime };

  function createRuntime(job) {
    const Runtime = RUNTIMES[job.runtime.name];
    if (!Runtime) {
      throw new JobError('unknown_runtime', `the web runner has no runtime '${job.runtime.name}'`,
        `use one of ${Object.keys(RUNTIMES).join(', ')}`);
    }
    return new Runtime(job);
  }

  // --- memory: every figure names its method ------------------------------------------------------------

  class MemoryLog {
    constructor() {
      this.entries = [];
      this.tfPeak = null;
    }

    add(metric, value, method, phase) {
      this.entries.push({ metric, value, unit: 'B', method, phase });
    }

    /** What the page can see now: JS heap (Chromium only) and tf tensor bytes (tfjs runtimes). */
    snapshot(phase, runtime) {
      if (performance.memory) {
        this.add('js_heap_used', performance.memory.usedJSHeapSize, 'performance.memory.usedJSHeapSize', phase);
      }
      const bytes = this.watch(runtime);
      if (bytes !== null && phase !== 'before_load') this.add('tf_bytes', bytes, 'tf.memory().numBytes', phase);
    }

    /** Sample tf.memory() between inferences (never inside a timed region) to keep the highest value seen. */
    watch(runtime) {
      if (!runtime || typeof runtime.memoryBytes !== 'function' || typeof tf === 'undefined') return null;
      const bytes = runtime.memoryBytes();
      this.tfPeak = Math.max(this.tfPeak || 0, bytes);
      return bytes;
    }

    addPeaks(inferencePeak) {
      if (this.tfPeak !== null) {
        this.add('tf_bytes_peak', this.tfPeak,
          'tf.memory().numBytes, highest value sampled between inferences (prepared inputs included)', 'run');
      }
      if (inferencePeak !== null) {
        this.add('tf_bytes_peak_inference', inferencePeak,
          'tf.profile() peakBytes of one extra untimed inference after the runs', 'run');
      }
    }
  }

  // --- the measurement (same phases, same order as devicelab/runner.py) ---------------------------------

  /** Reports progress at most every PROGRESS_EVERY_MS and only then yields to the event loop. */
  class Ticker {
    constructor(phase, total, onTick) {
      Object.assign(this, { phase, total, onTick, last: performance.now() });
      setProgress(phase, 0, total);
    }

    async tick(done) {
      // A stray error already ended the job (see main): stop measuring instead of running on unseen.
      if (writing) throw new JobError('aborted', 'the job already ended with an error');
      const now = performance.now();
      if (now - this.last < PROGRESS_EVERY_MS && done < this.total) return;
      this.last = now;
      setProgress(this.phase, done, this.total);
      if (this.onTick) this.onTick();
      await yieldToEventLoop();
    }
  }

  async function measure(job, jobBase, ctx) {
    setState('loading', 'inputs');
    const inputs = [];
    for (const spec of job.inputs) inputs.push(await readTensor(jobBase, spec));
    const samples = inputs[0].shape[0];
    if (!samples) throw new JobError('protocol', 'the job has no samples (input shape starts with 0)');
    ctx.samples = samples;

    setState('loading', 'runtime');
    const runtime = createRuntime(job);
    ctx.runtime = runtime;
    const started = performance.now();
    await runtime.init();
    ctx.runtimeInitMs = performance.now() - started;
    ctx.device.runtime = { name: job.runtime.name, version: runtime.version() };
    ctx.memory.snapshot('before_load', runtime);

    const timings = { load: null, first_inference: null, warmup: [], runs: [], accuracy_total: null };
    timings.load = await loadModel(job, jobBase, runtime);
    ctx.memory.snapshot('after_load', runtime);

    let outputs;
    try {
      outputs = await inferencePhases(job, runtime, inputs, timings, ctx.memory);
    } catch (err) {
      if (err instanceof JobError) throw err;
      throw new JobError('model_run', `${job.runtime.name} failed during ${status.phase}: ${errorText(err)}`,
        'the runtime loaded the model but could not run it; try another runtime or backend');
    }
    return { timings, outputs, runtime };
  }

  /** The timed load; returns its duration in ms. */
  async function loadModel(job, jobBase, runtime) {
    setState('loading', 'model');
    const modelUrl = new URL(job.model.files[0], jobBase).href; // files[0] is what the runtime opens
    const started = performance.now();
    try {
      await runtime.load(modelUrl);
    } catch (err) {
      if (err instanceof JobError) throw err;
      throw new JobError('model_load', `${job.runtime.name} could not load ${job.model.files[0]}: ${errorText(err)}`,
        'check that the variant is one this runtime reads');
    }
    return performance.now() - started;
  }

  /** First inference, accuracy mode, performance mode; fills `timings`, returns the stacked outputs. */
  async function inferencePhases(job, runtime, inputs, timings, memory) {
    setState('running', 'first_inference');
    const samples = inputs[0].shape[0];
    const feeds = [];
    for (let i = 0; i < samples; i++) feeds.push(runtime.prepare(sampleOf(inputs, i)));
    await yieldToEventLoop();
    let started = performance.now();
    const firstRaw = await runtime.run(feeds[0]);
    timings.first_inference = performance.now() - started;
    memory.watch(runtime); // the first outputs are still alive here

    let outputs = [];
    if (job.accuracy.enabled) {
      const collected = [runtime.finish(firstRaw)];
      const ticker = new Ticker('accuracy', samples, () => memory.watch(runtime));
      started = performance.now();
      for (let i = 1; i < samples; i++) {
        collected.push(runtime.finish(await runtime.run(feeds[i])));
        await ticker.tick(i + 1);
      }
      timings.accuracy_total = performance.now() - started;
      outputs = stackOutputs(collected);
    } else {
      runtime.release(firstRaw);
    }

    if (job.performance.enabled) {
      Object.assign(timings, await performanceMode(runtime, feeds, job.performance, memory));
    }

    memory.addPeaks(await inferencePeakBytes(runtime, feeds[0]));
    runtime.dispose(feeds); // first, so tf_bytes after_run is the model plus anything leaked
    memory.snapshot('after_run', runtime);
    return outputs;
  }

  /** The runtime's own peak for one extra, untimed inference (tfjs only), or null. */
  async function inferencePeakBytes(runtime, feed) {
    if (typeof runtime.profilePeakBytes !== 'function') return null;
    try {
      return await runtime.profilePeakBytes(feed);
    } catch (err) {
      console.warn('tf.profile failed; no per-inference peak', err);
      return null;
    }
  }

  async function performanceMode(runtime, feeds, perf, memory) {
    const warmup = [];
    setProgress('warmup', 0, perf.warmup_runs);
    for (let i = 0; i < perf.warmup_runs; i++) {
      const started = performance.now();
      const raw = await runtime.run(feeds[i % feeds.length]);
      warmup.push(performance.now() - started);
      runtime.release(raw);
    }
    const runs = [];
    const ticker = new Ticker('performance', perf.runs, () => memory.watch(runtime));
    const minMs = perf.min_seconds * 1000;
    const maxMs = perf.max_seconds * 1000;
    const begin = performance.now();
    for (let i = 0; ; ) {
      const feed = feeds[i % feeds.length];
      const started = performance.now();
      const raw = await runtime.run(feed);
      const ended = performance.now();
      runs.push(ended - started);
      runtime.release(raw);
      i += 1;
      const elapsed = ended - begin;
      if ((i >= perf.runs && elapsed >= minMs) || elapsed >= maxMs) break;
      await ticker.tick(Math.min(i, perf.runs));
    }
    setProgress('performance', perf.runs, perf.runs);
    return { warmup, runs };
  }

  // --- what the page knows about itself -----------------------------------------------------------------

  function baseDevice() {
    return {
      platform: 'browser',
      model: navigator.userAgent,
      os: navigator.platform || null,
      cpu: `${navigator.hardwareConcurrency} logical cores`,
      abi: null,
    };
  }

  /** The smallest step performance.now() takes: 5 us cross-origin isolated, 100 us otherwise (Chromium). */
  function timerResolutionMs() {
    let smallest = Infinity;
    let last = performance.now();
    const deadline = last + 20;
    let steps = 0;
    while (steps < 200) {
      const now = performance.now();
      if (now !== last) {
        smallest = Math.min(smallest, now - last);
        last = now;
        steps += 1;
      }
      if (now > deadline) break;
    }
    return Number.isFinite(smallest) ? Number(smallest.toFixed(6)) : null;
  }

  function webglRenderer() {
    try {
      const gl = document.createElement('canvas').getContext('webgl2') ||
        document.createElement('canvas').getContext('webgl');
      if (!gl) return null;
      const info = gl.getExtension('WEBGL_debug_renderer_info');
      const renderer = gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
      const lose = gl.getExtension('WEBGL_lose_context');
      if (lose) lose.loseContext(); // give the context back: browsers cap how many a page may hold
      return renderer;
    } catch (err) {
      return null;
    }
  }

  async function webgpuAdapter() {
    if (!navigator.gpu) return null;
    try {
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) return null;
      const info = adapter.info || (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : {});
      const { vendor, architecture, device, description } = info;
      return { vendor, architecture, device, description, fallback: Boolean(adapter.isFallbackAdapter ||
        info.isFallbackAdapter) };
    } catch (err) {
      return null;
    }
  }

  async function pageExtra(job, ctx) {
    const runtime = ctx.runtime;
    let threads = null;
    try {
      threads = runtime ? runtime.threadsUsed() : null;
    } catch (err) { /* the runtime never started */ }
    return {
      crossOriginIsolated: Boolean(window.crossOriginIsolated),
      timer_resolution_ms: ctx.timerResolutionMs,
      webgl_renderer: webglRenderer(),
      webgpu_adapter: await webgpuAdapter(),
      backend_requested: job ? job.runtime.backend || null : null,
      threads,
      threads_requested: job ? job.runtime.threads || null : null,
      runtime_init_ms: ctx.runtimeInitMs,
      // tfjs starts its backend before the timed load; tflite-web and ort-web start theirs inside it.
      load_includes_runtime_init: job ? job.runtime.name !== 'tfjs' : null,
      samples: ctx.samples,
    };
  }

  // --- result folder --------------------------------------------------------------------------------------

  async function writeOutputs(resultBase, outputs) {
    const specs = [];
    for (const [k, out] of outputs.entries()) {
      const file = `outputs/output_${k}.bin`;
      await put(new URL(file, resultBase), out.data); // Float32Array, little-endian on every platform in use
      specs.push({ name: out.name, dtype: 'float32', shape: out.shape, file });
    }
    return specs;
  }

  async function writeResult(resultBase, result) {
    await put(new URL('result.json', resultBase), JSON.stringify(result, null, 2));
    await put(new URL('DONE', resultBase), `${result.status}\n`); // last: the folder is complete
  }

  function jobIdFromUrl(jobBase) {
    const parts = jobBase.pathname.split('/').filter(Boolean);
    return parts[parts.length - 1] || 'unknown';
  }

  // --- main -----------------------------------------------------------------------------------------------

  async function finish(resultBase, result) {
    if (writing) return;
    writing = true;
    if (result.status === 'error') status.error = `${result.error.kind}: ${result.error.message}`;
    let state = result.status === 'ok' ? 'done' : 'error';
    try {
      await writeResult(resultBase, result);
    } catch (err) {
      status.error = `${status.error ? `${status.error}; ` : ''}could not write the result: ${errorText(err)}`;
      state = 'error';
    }
    setState(state, 'written');
    finished = true;
  }

  function errorResult(jobId, ctx, err, extra) {
    const kind = err instanceof JobError ? err.kind : 'runtime_failure';
    const message = err instanceof JobError ? err.message : `${(err && err.name) || 'Error'}: ${errorText(err)}`;
    return {
      schema: 'devicelab.result/1',
      job_id: jobId,
      status: 'error',
      error: { kind, message: message.slice(0, 2000), hint: (err && err.hint) || null },
      device: ctx.device,
      runtime_used: null,
      timings_ms: { load: null, first_inference: null, warmup: [], runs: [], accuracy_total: null },
      memory: ctx.memory.entries,
      outputs: [],
      extra,
      simulated: false,
    };
  }

  async function main() {
    const params = new URLSearchParams(location.search);
    if (!params.get('job') || !params.get('result')) {
      status.error = 'open this page as index.html?job=/jobs/<id>/&result=/results/<id>/';
      setState('error');
      return;
    }
    const jobBase = new URL(params.get('job'), location.href);
    const resultBase = new URL(params.get('result'), location.href);
    const ctx = { device: baseDevice(), memory: new MemoryLog(), runtime: null, runtimeInitMs: null,
      samples: null, timerResolutionMs: null };
    let job = null;

    const fail = async (err) => {
      console.error(err);
      const extra = await pageExtra(job, ctx).catch(() => ({}));
      await finish(resultBase, errorResult(job ? job.id : jobIdFromUrl(jobBase), ctx, err, extra));
    };
    // A runtime can fail outside the awaited chain (a worker, a callback): still answer the host.
    window.addEventListener('error', (event) => fail(event.error || new Error(event.message)));
    window.addEventListener('unhandledrejection', (event) => fail(event.reason));

    try {
      if (!LITTLE_ENDIAN) throw new JobError('unsupported_platform', 'this browser runs big-endian');
      setState('loading', 'job');
      job = await (await fetchOk(new URL('job.json', jobBase), 'job.json')).json();
      if (job.schema !== 'devicelab.job/1') {
        throw new JobError('protocol', `job.json has schema ${job.schema}; this runner reads devicelab.job/1`,
          'the web runner and devicelab are out of step; update both');
      }
      ctx.timerResolutionMs = timerResolutionMs();
      const { timings, outputs, runtime } = await measure(job, jobBase, ctx);
      setState('running', 'writing');
      const outputSpecs = await writeOutputs(resultBase, outputs);
      await finish(resultBase, {
        schema: 'devicelab.result/1',
        job_id: job.id,
        status: 'ok',
        error: null,
        device: ctx.device,
        runtime_used: runtime.used(),
        timings_ms: timings,
        memory: ctx.memory.entries,
        outputs: outputSpecs,
        extra: await pageExtra(job, ctx),
        simulated: false,
      });
    } catch (err) {
      await fail(err);
    }
  }

  main();
})();
