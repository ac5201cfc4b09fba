package dev.devicelab.app;

import android.os.Build;
import dev.devicelab.core.Job;
import dev.devicelab.core.JobException;
import dev.devicelab.core.ModelRuntime;
import dev.devicelab.core.RuntimeFactory;

/** The runtimes this app carries, by job.runtime.name, with the delegates each accepts. */
final class Runtimes implements RuntimeFactory {
    static final String[] TFLITE_DELEGATES = {"xnnpack", "cpu", "gpu", "nnapi"};
    static final String[] ORT_DELEGATES = {"cpu", "nnapi"};
    static final String[] EXECUTORCH_DELEGATES = {"xnnpack"};

    @Override
    public ModelRuntime create(Job job) {
        String name = job.runtime.name;
        if (name.equals("tflite")) {
            check(job, "tflite", TFLITE_DELEGATES);
            return new TfliteRuntime(BuildConfig.LITERT_VERSION, Build.VERSION.SDK_INT);
        }
        if (name.equals("onnxruntime")) {
            check(job, "onnx", ORT_DELEGATES);
            return new OrtRuntime(BuildConfig.ORT_VERSION, Build.VERSION.SDK_INT);
        }
        if (name.equals("executorch")) {
            check(job, "executorch", EXECUTORCH_DELEGATES);
            return new ExecuTorchRuntime(BuildConfig.EXECUTORCH_VERSION);
        }
        throw new JobException("unknown_runtime", "the Android app has no runtime '" + name + "'",
                "use tflite (delegates xnnpack, cpu, gpu, nnapi), onnxruntime (cpu, nnapi) or executorch (xnnpack)");
    }

    private static void check(Job job, String format, String[] delegates) {
        if (!format.equals(job.model.format)) {
            throw JobException.protocol("runtime '" + job.runtime.name + "' runs " + format + " models; this job's"
                    + " model is " + job.model.format, "pick the runtime that matches the variant");
        }
        String delegate = job.runtime.delegate;
        if (delegate == null) {
            return;
        }
        StringBuilder names = new StringBuilder();
        for (String d : delegates) {
            if (d.equals(delegate)) {
                return;
            }
            names.append(names.length() == 0 ? "" : ", ").append(d);
        }
        throw new JobException("runtime_unavailable", job.runtime.name + " in the Android app has no delegate '"
                + delegate + "'", "use one of " + names);
    }
}
