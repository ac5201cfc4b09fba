package dev.devicelab.core;

import java.io.File;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The measurement core: the same phases in the same order as devicelab/runner.py (and web_runner/runner.js),
 * so figures from every target mean the same thing.
 *
 * <pre>
 *   load (timed) -&gt; first inference on sample 0 (timed alone) -&gt; accuracy mode (every sample once, outputs
 *   kept) -&gt; performance mode (warmups, then runs until both `runs` and `min_seconds` are met, or `max_seconds`)
 * </pre>
 *
 * Raw per-run times are kept; statistics are computed on the host, once. Everything runs on the calling
 * thread (a GPU delegate must run where it was created).
 */
public final class MeasurementLoop {
    static final long PROGRESS_EVERY_NS = 200000000L; // 0.2 s, as runner.py
    static final long MEMORY_EVERY_NS = 500000000L; // in-app memory readings between inferences: 0.5 s

    private final Clock clock;
    private final MemoryProbe memory;
    private final Progress progress;
    private final Map<String, MemorySample> polledPeaks = new LinkedHashMap<String, MemorySample>();
    private long lastPoll = Long.MIN_VALUE;

    public MeasurementLoop(Clock clock, MemoryProbe memory, Progress progress) {
        this.clock = clock;
        this.memory = memory;
        this.progress = progress == null ? Progress.NONE : progress;
    }

    /**
     * Measures {@code job} (from {@code jobDir}) with {@code runtime} and fills {@code result}; output tensors
     * go to {@code resultDir}/outputs. Throws on any failure; the caller turns that into an error result.
     */
    public void measure(Job job, File jobDir, File resultDir, ModelRuntime runtime, Result result) throws Exception {
        List<Tensor> inputs = new ArrayList<Tensor>();
        for (TensorSpec spec : job.inputs) {
            inputs.add(Tensors.read(jobDir, spec));
        }
        int samples = sampleCount(job, inputs);
        File modelFile = Tensors.inside(jobDir, job.model.files.get(0)); // files[0] is what the runtime opens
        if (!modelFile.exists()) {
            throw JobException.protocol("model file '" + job.model.files.get(0) + "' is missing in " + jobDir,
                    "push the whole job folder before starting the app");
        }

        Map<String, Object> runtimeInfo = new LinkedHashMap<String, Object>();
        runtimeInfo.put("name", runtime.name());
        runtimeInfo.put("version", runtime.version());
        result.device.put("runtime", runtimeInfo);
        result.extra.put("samples", Integer.valueOf(samples));

        List<MemorySample> before = memory.sample("before_load");
        result.memory.addAll(before);
        boolean reset = memory.resetPeak();

        progress.update("load", 0, 1);
        long started = clock.nanoTime();
        runtime.load(modelFile, job);
        result.timings.load = Timings.ms(clock.nanoTime() - started);
        result.memory.addAll(memory.sample("after_load"));

        List<Object> feeds = new ArrayList<Object>(samples);
        for (int i = 0; i < samples; i++) {
            List<Tensor> sample = new ArrayList<Tensor>(inputs.size());
            for (Tensor x : inputs) {
                sample.add(x.sample(i));
            }
            feeds.add(runtime.prepare(sample));
        }
        inputs = null; // the prepared feeds are what stays alive from here on

        progress.update("first_inference", 0, 1);
        started = clock.nanoTime();
        Object firstRaw = runtime.run(feeds.get(0));
        result.timings.firstInference = Timings.ms(clock.nanoTime() - started);

        if (job.accuracyEnabled) {
            List<List<Tensor>> collected = new ArrayList<List<Tensor>>(samples);
            collected.add(runtime.finish(firstRaw));
            Ticker ticker = new Ticker("accuracy", samples);
            started = clock.nanoTime();
            for (int i = 1; i < samples; i++) {
                collected.add(runtime.finish(runtime.run(feeds.get(i))));
                ticker.tick(i + 1);
                pollMemory();
            }
            result.timings.accuracyTotal = Timings.ms(clock.nanoTime() - started);
            writeOutputs(runtime, collected, resultDir, result);
        } else {
            runtime.release(firstRaw);
        }

        if (job.performance.enabled) {
            performance(runtime, feeds, job.performance, result.timings);
        }

        runtime.afterMeasurement(feeds.get(0)); // untimed, after the peak readings' runs and before "after_run"
        List<MemorySample> peak = memory.peak("run", reset);
        result.memory.addAll(peak);
        for (MemorySample m : polledPeaks.values()) {
            result.memory.add(new MemorySample(m.metric + "_peak", m.value, m.unit,
                    m.method + ", largest of readings in the app every 0.5 s between inferences", "run"));
        }
        result.memory.addAll(memory.sample("after_run"));
        MemorySample baseline = find(before, "rss");
        MemorySample top = find(peak, "peak_rss");
        if (reset && baseline != null && top != null && baseline.method.startsWith("VmRSS")
                && top.method.startsWith("VmHWM")) {
            result.memory.add(new MemorySample("peak_over_baseline", top.value - baseline.value, "MiB",
                    "VmHWM - VmRSS before load", "run"));
        }
        // Last, after every reading: a profiled second session would slow the timed runs and raise the peaks.
        Profiling.record(job, runtime, feeds, resultDir, result);
        result.runtimeUsed = runtime.used();
        result.simulated = runtime.simulated();
    }

    private static int sampleCount(Job job, List<Tensor> inputs) {
        long samples = -1;
        for (int k = 0; k < inputs.size(); k++) {
            long[] shape = inputs.get(k).shape();
            String name = job.inputs.get(k).name;
            if (shape.length == 0) {
                throw JobException.protocol("input '" + name + "' is a scalar; inputs are [samples, ...]");
            }
            if (samples >= 0 && shape[0] != samples) {
                throw JobException.protocol("input '" + name + "' has " + shape[0] + " samples, the first input "
                        + samples);
            }
            samples = shape[0];
        }
        if (samples <= 0) {
            throw JobException.protocol("the job has no samples (input shape starts with 0)");
        }
        if (samples > Integer.MAX_VALUE) {
            throw JobException.protocol("the job has too many samples: " + samples);
        }
        return (int) samples;
    }

    private static void writeOutputs(ModelRuntime runtime, List<List<Tensor>> collected, File resultDir,
                                     Result result) throws Exception {
        int count = collected.get(0).size();
        List<String> names = runtime.outputNames();
        for (int k = 0; k < count; k++) {
            List<Tensor> parts = new ArrayList<Tensor>(collected.size());
            for (List<Tensor> sample : collected) {
                if (sample.size() != count) {
                    throw new JobException("model_run", "the model returned " + sample.size() + " outputs for one"
                            + " sample and " + count + " for another");
                }
                parts.add(sample.get(k));
            }
            String name = names != null && k < names.size() && names.get(k) != null && !names.get(k).isEmpty()
                    ? names.get(k) : "output_" + k;
            result.outputs.add(Tensors.write(resultDir, Protocol.outputFile(k), name, Tensors.stack(parts)));
        }
    }

    private void performance(ModelRuntime runtime, List<Object> feeds, Job.Performance perf, Timings timings)
            throws Exception {
        progress.update("warmup", 0, perf.warmupRuns);
        for (int i = 0; i < perf.warmupRuns; i++) {
            long started = clock.nanoTime();
            Object raw = runtime.run(feeds.get(i % feeds.size()));
            timings.warmup.add(Timings.ms(clock.nanoTime() - started));
            runtime.release(raw);
            pollMemory();
        }
        Ticker ticker = new Ticker("performance", perf.runs);
        long begin = clock.nanoTime();
        double minNs = perf.minSeconds * 1e9;
        double maxNs = perf.maxSeconds * 1e9;
        int i = 0;
        while (true) {
            Object feed = feeds.get(i % feeds.size());
            long started = clock.nanoTime();
            Object raw = runtime.run(feed);
            long ended = clock.nanoTime();
            timings.runs.add(Timings.ms(ended - started));
            runtime.release(raw);
            i++;
            long elapsed = ended - begin;
            ticker.tick(Math.min(i, perf.runs));
            pollMemory();
            if ((i >= perf.runs && elapsed >= minNs) || elapsed >= maxNs) {
                break;
            }
        }
    }

    /** An in-app memory reading, at most every 0.5 s and only between inferences; keeps each metric's peak. */
    private void pollMemory() {
        long now = clock.nanoTime();
        if (lastPoll != Long.MIN_VALUE && now - lastPoll < MEMORY_EVERY_NS) {
            return;
        }
        lastPoll = now;
        for (MemorySample m : memory.poll()) {
            MemorySample top = polledPeaks.get(m.metric);
            if (top == null || m.value > top.value) {
                polledPeaks.put(m.metric, m);
            }
        }
    }

    private static MemorySample find(List<MemorySample> samples, String metric) {
        for (MemorySample m : samples) {
            if (m.metric.equals(metric)) {
                return m;
            }
        }
        return null;
    }

    /** Reports progress at most every 0.2 s, so reporting never weighs on what is being timed. */
    private final class Ticker {
        private final String phase;
        private final int total;
        private long last;
        private int lastDone;

        Ticker(String phase, int total) {
            this.phase = phase;
            this.total = total;
            this.last = clock.nanoTime();
            progress.update(phase, 0, total);
        }

        void tick(int done) {
            long now = clock.nanoTime();
            // The first time `done` reaches `total` is always reported; after that (performance runs going on
            // until min_seconds) only every 0.2 s, so a fast model does not report after every run.
            boolean reachedTotal = done >= total && lastDone < total;
            if (reachedTotal || now - last >= PROGRESS_EVERY_NS) {
                last = now;
                lastDone = done;
                progress.update(phase, done, total);
            }
        }
    }
}
