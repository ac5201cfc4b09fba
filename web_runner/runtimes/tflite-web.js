/*
 * TFLite models through @tensorflow/tfjs-tflite (wasm, XNNPACK). Same shape as every runtime module
 * (see tfjs.js). Unmaintained upstream (0.0.1-alpha.10); litert-js is the default for TFLite variants. Kept for
 * what LiteRT.js refuses: models with a dynamic (-1) batch dimension. It cannot load dynamic-range models
 * (op versions too new for its 2023 TFLite). int8/uint8 I/O is fed the quantized integers (quantization
 * parameters from the artifact's manifest.json, as litert-js does).
 */
import {
  JobError, castTo, dequantize, loadScripts, modulePath, quantizationOf, quantize, readManifest, requestedThreads, toFloat32,
} from './common.js';

const SCRIPTS = {
  tf: modulePath('@tensorflow/tfjs/dist/tf.min.js'),
  tflite: modulePath('@tensorflow/tfjs-tflite/dist/tf-tflite.min.js'),
};
// tfjs-tflite ships its Emscripten loader + .wasm files in wasm/, not dist/.
const WASM_DIR = modulePath('@tensorflow/tfjs-tflite/wasm/');
// The tf-tflite bundle does not export its version: keep this in step with package.json.
const VERSION = '0.0.1-alpha.10';

export class TfliteWebRuntime {
  static runtimeName = 'tflite-web';
  static backends = ['wasm'];
  static loadIncludesRuntimeInit = true;

  constructor(job) {
    this.job = job;
    this.backend = job.runtime.backend || TfliteWebRuntime.backends[0];
  }

  async init() {
    if (this.backend !== 'wasm') {
      throw new JobError('backend_unavailable', `tflite-web has no '${this.backend}' backend`,
        'tflite-web runs on wasm only (XNNPACK); use tfjs or ort-web for GPU backends');
    }
    await loadScripts([SCRIPTS.tf, SCRIPTS.tflite]); // the tf-tflite bundle is built against the global `tf`
    await tf.setBackend('cpu'); // no tf tensors are made here: do not let tfjs start WebGL for nothing
    tflite.setWasmPath(WASM_DIR);
    this.features = await tflite.getWasmFeatures(); // {simd, multiThreading}: which binary it will load
  }

  version() {
    return `tfjs-tflite ${VERSION}`;
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
        `the web runner was written against tfjs-tflite ${VERSION}; run \`npm ci\` in web_runner/`);
    }
    this.quantization = await readManifest(this.job, url);
    this.checkIo();
    this.outputNames = this.runner.getOutputs().map((o) => o.name);
  }

  /** tfjs-tflite swallows a failed load of its wasm loader script; name the file the server did not give. */
  async checkLoaderReachable() {
    const { simd, multiThreading } = this.features;
    const name = `tflite_web_api_cc${simd ? '_simd' : ''}${multiThreading ? '_threaded' : ''}.js`;
    const url = WASM_DIR + name;
    const response = await fetch(url, { method: 'HEAD', cache: 'no-store' }).catch(() => null);
    if (!response || !response.ok) {
      throw new JobError('runtime_unavailable', `tflite-web could not load its wasm loader ${url} ` +
        `(${response ? `HTTP ${response.status}` : 'network error'})`,
        'the page server must serve node_modules/@tensorflow/tfjs-tflite/wasm/ (and `npm ci` must have run)');
    }
  }

  checkIo() {
    const inputs = this.runner.getInputs().length;
    if (inputs !== this.job.inputs.length) {
      throw new JobError('model_run', `the model has ${inputs} inputs; the job gives ${this.job.inputs.length}`);
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
    // tfjs-tflite exposes no quantization parameters: int8/uint8 inputs get the integers quantized with the
    // manifest's, written straight into the interpreter's input buffer (an Int8Array / Uint8Array view).
    return this.runner.getInputs().map((info, i) => {
      const t = sample[i];
      const Typed = { int8: Int8Array, uint8: Uint8Array }[info.dataType];
      if (!Typed || !t.dtype.startsWith('float')) {
        // The interpreter's buffer has the model's dtype: int64 ids for an int32 input are cast, not mixed.
        const known = ['float32', 'int32', 'int64', 'int8', 'uint8', 'bool'].includes(info.dataType);
        return known && info.dataType !== t.dtype ? castTo(t.data, info.dataType) : t.data;
      }
      return quantize(t.data, quantizationOf(this.quantization.inputs, info.name, i), info.dataType, Typed, info.name);
    });
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
    const outputs = this.runner.getOutputs();
    return raw.map((o, k) => {
      const quant = ['int8', 'uint8'].includes(outputs[k].dataType)
        ? quantizationOf(this.quantization.outputs, outputs[k].name, k) : null;
      return { name: this.outputNames[k] || `output_${k}`, shape: o.shape,
        data: quant ? dequantize(o.data, quant) : toFloat32(o.data) };
    });
  }

  dispose() {
    this.runner.cleanUp();
  }
}
