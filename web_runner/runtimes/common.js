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
