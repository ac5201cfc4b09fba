package dev.devicelab.core;

import java.io.File;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * What every runtime adapter implements (the Java twin of devicelab/runtimes/base.py and of the web
 * runner's adapters). Only {@link #run} is timed: {@link #prepare} turns one sample into what the runtime
 * eats (quantized for int8 I/O models) and {@link #finish} turns raw outputs back into float32, both
 * outside the timed region, as TFLite's benchmark_model does.
 *
 * <p>The measurement calls everything from one thread (GPU delegates need that). The raw value a
 * {@link #run} returns is either finished or released before the next run, so a runtime may reuse its
 * output buffers from run to run.
 */
public interface ModelRuntime extends AutoCloseable {
    /** The runtime family, e.g. "tflite" or "onnxruntime" (device.runtime.name). */
    String name();

    /**
     * The runtime and its version, e.g. "onnxruntime 1.29.0". Called before the timed load, so a runtime
     * loads its native library here (as runner.py imports the Python package before timing).
     */
    String version() throws Exception;

    /** Loads {@code modelFile} (job.model.files[0]) with the job's runtime options. Timed. */
    void load(File modelFile, Job job) throws Exception;

    /** What really ran, e.g. "tflite-gpu" or "tflite-xnnpack (gpu delegate failed: ...)". After load. */
    String used();

    /** One sample: every job input with a batch of 1, in job order. Untimed. */
    Object prepare(List<Tensor> sample) throws Exception;

    /** One inference on a prepared feed. The only timed call. */
    Object run(Object feed) throws Exception;

    /** A raw result as float32 tensors with their shapes, in output order. Untimed; releases {@code raw}. */
    List<Tensor> finish(Object raw) throws Exception;

    /** Frees a raw result that will not be finished (warmups and timed runs). Untimed. */
    default void release(Object raw) {}

    /**
     * Called once after the timed runs, untimed, with the first sample's feed: a runtime may look at how it ran
     * (ONNX Runtime profiles one inference to learn which provider ran each node) and refine {@link #used()}.
     * The runtime interface for every adapter (TFLite, ONNX Runtime, ExecuTorch...): only run() is timed.
     */
    default void afterMeasurement(Object feed) {}

    /**
     * Only when job.runtime.profile is true, once, after everything measured (untimed, after the memory readings):
     * per-operator times from {@link Profiling#RUNS} extra inferences over {@code feeds} (prepared feeds, in job
     * sample order). Returns result.extra.profile: {@link Profiling#shipped} naming the raw profile the runtime
     * left in {@code resultDir} (the host makes the table), or {@link Profiling#unavailable} saying why there is
     * none. May throw: the failure is recorded and the job stays ok.
     */
    default Map<String, Object> profile(List<Object> feeds, File resultDir) throws Exception {
        return Profiling.unavailable("the " + name() + " runtime of this app gives no per-operator times");
    }

    /** Output names in output order (empty when unknown: output_k is used then). */
    default List<String> outputNames() {
        return Collections.emptyList();
    }

    /** Runtime facts for result.extra (versions, delegate details); asked after load or after a failure. */
    default Map<String, Object> extra() {
        return Collections.emptyMap();
    }

    /** True only for test fakes: the result then says simulated. */
    default boolean simulated() {
        return false;
    }

    @Override
    void close();
}
