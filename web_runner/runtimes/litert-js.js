/*
 * TFLite models through LiteRT.js (@litertjs/core): wasm (XNNPACK) or WebGPU. Same shape as every runtime
 * module (see tfjs.js).
 *
 * Driven through LiteRT.js's lower-level calls (getGlobalLiteRt().liteRtWasm: loadModel, compileModel,
 * LiteRtTensorBuffer.createManaged, lock/unlock) rather than its Tensor API, because that API knows float32,
 * int32 and uint8 only ("Element type INT8 is not supported"): the tensor buffers carry any element type
 * byte for byte (int8 I/O, int64, bool, float16). int8/uint8 I/O is (de)quantized with the parameters of the
 * artifact's manifest.json, which the job carries next to the model.
 *
 * The accelerator that ran is read from the output tensor's buffer type: LiteRT.js falls back to wasm
 * by itself when a model does not compile for WebGPU, and neither the compile options nor
 * isFullyAccelerated() say so truthfully.
 */
import {
  JobError, castTo, dequantize, errorText, feedOrder, halfToFloat, inSignatureOrder, modulePath, product, quantizationOf,
  quantize, readManifest, requestedThreads, toFloat32,
} from './common.js';

const WASM_DIR = modulePath('@litertjs/core/wasm/');
// litert::ElementType -> typed array, byte width. float16 is carried as its raw bits.
const ELEMENT_TYPES = {
  1: ['float32', Float32Array], 2: ['int32', Int32Array], 3: ['uint8', Uint8Array], 4: ['int64', BigInt64Array],
  6: ['bool', Uint8Array], 7: ['int16', Int16Array], 9: ['int8', Int8Array], 10: ['float16', Uint16Array],
};
const HOST_MEMORY = 1;
const BUFFER_ACCELERATOR = { 1: 'wasm', 20: 'webgpu', 21: 'webgpu', 26: 'webgpu' };

/** One emscripten vector as a JS array, freeing the vector. */
function vectorToArray(vector) {
  const out = [];
  for (let i = 0; i < vector.size(); i++) out.push(vector.get(i));
  vector.delete();
  return out;
}

export class LiteRtJsRuntime {
  static runtimeName = 'litert-js';
  static backends = ['wasm', 'webgpu'];
  static loadIncludesRuntimeInit = false;

  constructor(job) {
    this.job = job;
    this.backend = job.runtime.backend || LiteRtJsRuntime.backends[0];
    this.accelerator = null; // from the first output tensor
  }

  async init() {
    if (!LiteRtJsRuntime.backends.includes(this.backend)) {
      throw new JobError('backend_unavailable', `litert-js has no '${this.backend}' backend`,
        `use one of ${LiteRtJsRuntime.backends.join(', ')}`);
    }
    if (this.backend === 'webgpu' && !navigator.gpu) {
      throw new JobError('backend_unavailable', 'litert-js backend \'webgpu\': this browser has no navigator.gpu',
        'Chromium on Linux needs --enable-unsafe-webgpu');
    }
    try {
      this.lib = await import('@litertjs/core'); // bare name: resolved by the import map in index.html
    } catch (err) {
      throw new JobError('runtime_unavailable', `could not import @litertjs/core: ${errorText(err)}`,
        'run `npm ci` in web_runner/; the page needs its import map for @litertjs/core and @litertjs/wasm-utils');
    }
    // WebGPU runs int8 I/O and partly delegated models only in the JSPI build (without JSPI LiteRT.js silently
    // falls back to wasm); threads need a cross-origin isolated page, and exclude JSPI.
    this.jspi = this.backend === 'webgpu' && await this.lib.supportsFeature('jspi');
    this.threads = !this.jspi && requestedThreads(this.job) > 1 && window.crossOriginIsolated &&
      await this.lib.supportsFeature('threads');
    try {
      this.liteRt = await this.lib.loadLiteRt(WASM_DIR, { threads: this.threads, jspi: this.jspi });
    } catch (err) {
      throw new JobError('runtime_unavailable', `LiteRT.js could not load its wasm from ${WASM_DIR}: ${errorText(err)}`,
        'the page server must serve node_modules/@litertjs/core/wasm/ (and `npm ci` must have run)');
    }
    this.wasm = this.liteRt.liteRtWasm;
    this.environment = this.liteRt.getDefaultEnvironment();
    if (this.backend === 'webgpu' && !this.environment.webGpuDevice) {
      throw new JobError('backend_unavailable', 'litert-js backend \'webgpu\': no WebGPU device could be created',
        'no WebGPU adapter: Chromium on Linux needs --enable-unsafe-webgpu');
    }
  }

  version() {
    return 'litert-js @litertjs/core 2.5.3'; // the package does not export its version: keep in step with package.json
  }

  threadsUsed() {
    if (this.backend !== 'wasm' || !this.wasm) return null;
    // The threaded build's pool (getThreadCount) caps what a compiled model may use; other builds run one.
    return this.threads ? Math.min(requestedThreads(this.job), this.wasm.getThreadCount()) : 1;
  }

  used() {
    // The output tensor's buffer says where the last op ran; a WebGPU model LiteRT could not fully delegate
    // runs its other ops on wasm (JSPI build), so both are named.
    const ran = this.accelerator || this.backend;
    const partly = this.backend === 'webgpu' && this.fullyAccelerated === false && this.jspi;
    const build = this.jspi ? 'JSPI build' : this.threads ? 'threaded build' : '';
    const notes = [partly ? `partly delegated to WebGPU, outputs on ${ran}` : '',
      !partly && ran !== this.backend ? `asked ${this.backend}` : '', build].filter(Boolean);
    return `litert-js-${partly ? 'webgpu+wasm' : ran}${notes.length ? ` (${notes.join(', ')})` : ''}`;
  }

  /** What the result's extra carries about this runtime. */
  details() {
    return { output_accelerator: this.accelerator, fully_accelerated: this.fullyAccelerated ?? null,
      jspi_build: Boolean(this.jspi), threaded_build: Boolean(this.threads) };
  }

  async load(url) {
    const response = await fetch(url, { cache: 'no-store' });
    if (!response.ok) throw new JobError('protocol', `model (${url}): HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    this.quantization = await readManifest(this.job, url);
    const wasm = this.wasm;
    this.modelPtr = wasm._malloc(bytes.byteLength);
    wasm.HEAPU8.set(bytes, this.modelPtr);
    this.model = wasm.loadModel(this.environment.liteRtEnvironment, this.modelPtr, bytes.byteLength);
    const signature = this.model.getSignature(0);
    const inputNames = vectorToArray(signature.inputNames());
    this.outputNames = vectorToArray(signature.outputNames());
    signature.delete();
    this.inputs = inputNames.map((name, i) => this.tensorInfo(name, this.model.getInputTensorType(0, i)));
    this.outputs = this.outputNames.map((name, i) => this.tensorInfo(name, this.model.getOutputTensorType(0, i)));
    for (const info of [...this.inputs, ...this.outputs]) {
      if (info.shape.some((d) => d < 0)) {
        throw new JobError('model_load', `LiteRT.js cannot run a model with a dynamic dimension: '${info.name}' ` +
          `is [${info.shape}]`, 'convert the model with a fixed batch of 1 (devicelab does for TFLite variants)');
      }
    }
    this.compiled = await wasm.compileModel(this.environment.liteRtEnvironment, this.model, {
      environment: this.environment, accelerator: this.backend,
      cpuOptions: { numThreads: this.threadsUsed() || 1 }, gpuOptions: {}, webNNOptions: {},
    });
    this.fullyAccelerated = this.compiled.isFullyAccelerated();
    if (this.backend === 'webgpu' && !this.fullyAccelerated && !this.jspi) {
      // What loadAndCompile does without JSPI: a partly delegated WebGPU model cannot run; compile for wasm.
      this.compiled.delete();
      this.compiled = await wasm.compileModel(this.environment.liteRtEnvironment, this.model, {
        environment: this.environment, accelerator: 'wasm', cpuOptions: { numThreads: 1 }, gpuOptions: {},
        webNNOptions: {},
      });
    }
    this.inputBufferTypes = this.inputs.map((_, i) => {
      const requirements = this.compiled.getInputBufferRequirements(0, i);
      const types = vectorToArray(requirements.supportedTypes()).map((t) => t.value);
      requirements.delete();
      return types;
    });
    this.hostOutputs = this.outputs.map(() => false); // known after the first run
    this.order = feedOrder(this.inputs.map((i) => i.name), this.job, 'litert-js');
  }

  tensorInfo(name, tensorType) {
    const layout = tensorType.layout();
    const shape = vectorToArray(layout.dimensions());
    layout.delete();
    const elementType = tensorType.elementType().value;
    const known = ELEMENT_TYPES[elementType];
    if (!known) {
      tensorType.delete();
      throw new JobError('unsupported_io', `tensor '${name}' has a LiteRT element type (${elementType}) the web ` +
        'runner cannot carry');
    }
    return { name, shape, elementType, dtype: known[0], Typed: known[1], tensorType };
  }

  quantOf(kind, k) {
    const info = this[kind][k];
    return quantizationOf(this.quantization[kind], info.name, k, info.dtype, info.shape);
  }

  /** The sample converted to the model input's element type (quantized for int8/uint8 I/O), as bytes. */
  inputBytes(info, t, i) {
    if (product(t.shape) !== product(info.shape)) {
      throw new JobError('model_run', `input '${info.name}' must be [${info.shape}], the job gives [${t.shape}]`,
        'the job was built for another model');
    }
    let data = t.data;
    if (['int8', 'uint8'].includes(info.dtype) && t.dtype.startsWith('float')) {
      data = quantize(data, this.quantOf('inputs', i), info.dtype, info.Typed, info.name);
    } else if (!(data instanceof info.Typed)) {
      data = castTo(data, info.dtype); // int64 ids for an int32 input, floats for a float16 one...
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  async prepare(sample) {
    const wasm = this.wasm;
    const host = this.inputs.map((info, i) => {
      const t = sample[this.order[i]];
      const bytes = this.inputBytes(info, t, i);
      const buffer = wasm.LiteRtTensorBuffer.createManaged(this.environment.liteRtEnvironment,
        { value: HOST_MEMORY }, info.tensorType, bytes.byteLength);
      const ptr = buffer.lock(wasm.LiteRtTensorBufferLockMode.WRITE);
      try {
        wasm.HEAPU8.set(bytes, ptr);
      } finally {
        buffer.unlock();
      }
      return buffer;
    });
    return this.onAccelerator(host);
  }

  /** Host buffers for WebGPU models that take GPU inputs: copied in prepare, untimed, like ort-web's tensors. */
  async onAccelerator(feed) {
    const moved = [];
    for (let i = 0; i < feed.length; i++) {
      const types = this.inputBufferTypes[i];
      if (!types.length || types.includes(HOST_MEMORY)) {
        moved.push(feed[i]);
        continue;
      }
      const tensor = new this.lib.Tensor(feed[i], this.environment);
      moved.push((await tensor.copyTo(types[0])).liteRtTensorBuffer);
    }
    return moved;
  }

  async run(feed) {
    const buffers = await this.compiled.run(0, feed);
    // Reading the outputs back is part of an inference (on WebGPU it waits for the GPU), as for tfjs; freeing
    // the buffers is not (release()). Host outputs are read without an await: at 60 us a run, a microtask shows.
    const data = new Array(buffers.length);
    for (let k = 0; k < buffers.length; k++) {
      data[k] = this.hostOutputs[k] ? this.readHost(buffers[k], k) : await this.read(buffers[k], k);
    }
    return { buffers, data };
  }

  /** The first read of output k (where it is says which accelerator ran), and every read of a GPU output. */
  async read(buffer, k) {
    const type = buffer.bufferType().value;
    this.accelerator = this.accelerator || BUFFER_ACCELERATOR[type] || `buffer type ${type}`;
    this.hostOutputs[k] = type === HOST_MEMORY;
    if (this.hostOutputs[k]) return this.readHost(buffer, k);
    // WebGPU output: LiteRT.js's own copy to host memory (float32, int32 and uint8 outputs).
    const tensor = new this.lib.Tensor(buffer, this.environment);
    const host = await tensor.copyTo('wasm');
    try {
      return this.readHost(host.liteRtTensorBuffer, k);
    } finally {
      host.delete();
    }
  }

  readHost(buffer, k) {
    const Typed = this.outputs[k].Typed;
    const ptr = buffer.lock(this.wasm.LiteRtTensorBufferLockMode.READ);
    try {
      const bytes = this.wasm.HEAPU8.slice(ptr, ptr + buffer.packedSize());
      return new Typed(bytes.buffer, 0, bytes.byteLength / Typed.BYTES_PER_ELEMENT);
    } finally {
      buffer.unlock();
    }
  }

  release(raw) {
    for (const buffer of raw.buffers) buffer.delete();
  }

  finish(raw) {
    this.release(raw);
    // Signature outputs come in the flatbuffer's map order; the model's own order is output_0, output_1...
    return inSignatureOrder(raw.data.map((data, k) => {
      const info = this.outputs[k];
      const quant = ['int8', 'uint8'].includes(info.dtype) ? this.quantOf('outputs', k) : null;
      let out = info.dtype === 'float16' ? Float32Array.from(data, halfToFloat) : toFloat32(data);
      if (quant) out = dequantize(data, quant);
      return { name: info.name, shape: info.shape.slice(), data: out };
    }));
  }

  dispose(feeds) {
    for (const feed of feeds) for (const buffer of feed) buffer.delete();
  }
}

