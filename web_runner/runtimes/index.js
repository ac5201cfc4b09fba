/*
 * The web runner's runtimes, by job.runtime.name. Each module is imported only when a job asks for it, so a
 * page pays for (and is measured with) one runtime only. Every module exports one class of the same shape
 * (documented in tfjs.js); keep this table in step with WEB_RUNTIMES in devicelab/targets/browser.py.
 */
import { JobError, errorText } from './common.js';

const MODULES = {
  'tfjs': ['./tfjs.js', 'TfjsRuntime'],
  'litert-js': ['./litert-js.js', 'LiteRtJsRuntime'],
  'tflite-web': ['./tflite-web.js', 'TfliteWebRuntime'],
  'ort-web': ['./ort-web.js', 'OrtWebRuntime'],
};

/** The runtime of the job; `page` holds the page's own options (from its URL: profile, ort_bundle). */
export async function createRuntime(job, page = {}) {
  const entry = MODULES[job.runtime.name];
  if (!entry) {
    throw new JobError('unknown_runtime', `the web runner has no runtime '${job.runtime.name}'`,
      `use one of ${Object.keys(MODULES).join(', ')}`);
  }
  let module;
  try {
    module = await import(entry[0]);
  } catch (err) {
    throw new JobError('runtime_unavailable', `could not load the ${job.runtime.name} module: ${errorText(err)}`,
      'run `npm ci` in web_runner/ (make setup)');
  }
  return new module[entry[1]](job, page);
}
