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
 * This module holds the protocol and the phases; each runtime is a module of its own under runtimes/ (same
 * shape each, see runtimes/tfjs.js), imported only when a job asks for it. No bundler: ES modules, an import
 * map in index.html, and each runtime's dist files loaded from node_modules.
 */
import { JobError, errorText, halfToFloat, product, toFloat32 } from './runtimes/common.js';
import { createRuntime } from './runtimes/index.js';

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

// --- small helpers -----------------------------------------------------------------------------------

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

// --- tensors: raw little-endian files, dtype and shape from the JSON ----------------------------------

// Typed arrays use the platform's byte order; every browser platform in use is little-endian.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const TYPED_ARRAYS = {
  float32: Float32Array, float16: Uint16Array /* raw bits, widened below */, int8: Int8Array,
  uint8: Uint8Array, int32: Int32Array, int64: BigInt64Array, bool: Uint8Array,
};

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

  async tick(done, total = this.total) {
    // A stray error already ended the job (see main): stop measuring instead of running on unseen.
    if (writing) throw new JobError('aborted', 'the job already ended with an error');
    this.total = total;
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
  const runtime = await createRuntime(job, ctx.page);
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
    outputs = await inferencePhases(job, runtime, inputs, timings, ctx);
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
async function inferencePhases(job, runtime, inputs, timings, ctx) {
  const memory = ctx.memory;
  setState('running', 'first_inference');
  const samples = inputs[0].shape[0];
  const feeds = [];
  for (let i = 0; i < samples; i++) feeds.push(await runtime.prepare(sampleOf(inputs, i)));
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
  if (ctx.page.profile || job.runtime.profile) ctx.profile = await profileNodes(job, runtime, feeds);
  if (job.capture) ctx.capture = await captureTensors(job, runtime, feeds);
  runtime.dispose(feeds); // first, so tf_bytes after_run is the model plus anything leaked
  memory.snapshot('after_run', runtime);
  return outputs;
}

/** Per-node times when asked (job.runtime.profile, or ?profile=1), after every timed phase; never fails the job. */
async function profileNodes(job, runtime, feeds) {
  setProgress('profile', 0, 1);
  if (typeof runtime.profile !== 'function') {
    return { available: false, reason: `${job.runtime.name} has no per-node profiling in the page` };
  }
  try {
    return { available: true, ...(await runtime.profile(feeds)) };
  } catch (err) {
    return { available: false, reason: `${job.runtime.name} profiling failed: ${errorText(err)}` };
  }
}

/**
 * The intermediate tensors job.capture names (devicelab explain), after every timed phase: one untimed pass
 * per sample through runtime.capture(feed, names) -> [{name, dtype, shape, data}] (non-float tensors are left
 * out: shapes and indices are no layer's activations). Keeps as many samples as fit in capture.max_bytes (an
 * error when not even one does), and says how many.
 */
async function captureTensors(job, runtime, feeds) {
  if (typeof runtime.capture !== 'function') {
    throw new JobError('unsupported', `${job.runtime.name} cannot return intermediate tensors in the page`,
      'explain this variant on the host (--target host), or a tfjs or onnx variant in the browser');
  }
  const names = job.capture.tensors;
  const ticker = new Ticker('capture', feeds.length);
  const collected = [];
  let keep = feeds.length;
  let skipped = [];
  for (let i = 0; i < keep; i++) {
    let got;
    try {
      got = await runtime.capture(feeds[i], names);
    } catch (err) {
      if (err instanceof JobError) throw err;
      throw new JobError('capture', `${job.runtime.name} could not return the intermediate tensors: ` +
        errorText(err), 'the variant may not carry the node names devicelab read from it');
    }
    const floats = got.filter((t) => t.dtype === 'float32');
    if (i === 0) {
      skipped = got.filter((t) => t.dtype !== 'float32').map((t) => t.name);
      const perSample = floats.reduce((n, t) => n + t.data.length * 4, 0);
      if (perSample > job.capture.max_bytes) {
        const size = (n) => (n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB`
          : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
        throw new JobError('capture', `one sample's intermediate tensors take ${size(perSample)}, more than the ` +
          `${size(job.capture.max_bytes)} the page may return`, 'explain this model on the host (--target host)');
      }
      keep = Math.min(feeds.length, Math.floor(job.capture.max_bytes / Math.max(perSample, 1)));
    }
    collected.push(floats.map(({ name, shape, data }) => ({ name, shape, data: toFloat32(data) })));
    await ticker.tick(i + 1, keep);
  }
  return { tensors: stackOutputs(collected), samples: keep, of: feeds.length, skipped,
    max_bytes: job.capture.max_bytes, method: `${runtime.used()}: ${runtime.captureMethod || 'capture()'}` };
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
    // Past --runs the bar counts toward the runs --min-seconds will take at this pace (capped by
    // --max-seconds), as runner.py does on the host, instead of standing at runs/runs while thousands go on.
    await ticker.tick(i, i < perf.runs ? perf.runs : expectedRuns(i, elapsed, minMs, maxMs));
  }
  setProgress('performance', runs.length, runs.length);
  return { warmup, runs };
}

function expectedRuns(done, elapsed, minMs, maxMs) {
  if (elapsed <= 0) return done + 1;
  return Math.max(done + 1, Math.floor((done * Math.min(Math.max(minMs, elapsed), maxMs)) / elapsed));
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
    // tfjs and litert-js start their runtime (backend, wasm) before the timed load; tflite-web and ort-web inside it.
    load_includes_runtime_init: runtime ? Boolean(runtime.constructor.loadIncludesRuntimeInit) : null,
    samples: ctx.samples,
    // What a runtime says about itself beyond runtime_used (LiteRT.js: where the outputs were, delegation).
    runtime_details: runtime && typeof runtime.details === 'function' ? runtime.details() : null,
    ...(ctx.profile ? { profile: ctx.profile } : {}),
    ...(ctx.capture ? { capture: (({ tensors, ...facts }) => facts)(ctx.capture) } : {}),
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

async function writeIntermediates(resultBase, captured) {
  const specs = [];
  for (const [k, t] of (captured ? captured.tensors : []).entries()) {
    const file = `intermediates/tensor_${k}.bin`;
    await put(new URL(file, resultBase), t.data);
    specs.push({ name: t.name, dtype: 'float32', shape: t.shape, file });
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
  // The page's own options (not the job's): profile=1 adds per-node times; ort_bundle is for one test only.
  const page = { profile: params.get('profile') === '1', ort_bundle: params.get('ort_bundle') || undefined };
  const ctx = { device: baseDevice(), memory: new MemoryLog(), runtime: null, runtimeInitMs: null,
    samples: null, timerResolutionMs: null, page, profile: null, capture: null };
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
    const intermediates = await writeIntermediates(resultBase, ctx.capture);
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
      ...(intermediates.length ? { intermediates } : {}),
    });
  } catch (err) {
    await fail(err);
  }
}

main();
