package dev.devicelab.core;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Builds job folders on disk for tests: job.json (as devicelab writes it), a model file and inputs. */
final class TestJobs {
    private TestJobs() {}

    static final String SHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /** A valid job document: one float32 input [samples, features], runtime fake-linear. */
    static Map<String, Object> doc(String id, int samples, int features) {
        Map<String, Object> doc = new LinkedHashMap<String, Object>();
        doc.put("schema", "devicelab.job/1");
        doc.put("id", id);
        Map<String, Object> model = new LinkedHashMap<String, Object>();
        model.put("format", "tflite");
        model.put("variant", "tflite-fp32");
        model.put("files", new ArrayList<Object>(Arrays.asList("model/model.tflite")));
        model.put("sha256", SHA);
        doc.put("model", model);
        Map<String, Object> input = new LinkedHashMap<String, Object>();
        input.put("name", "x");
        input.put("dtype", "float32");
        input.put("shape", new ArrayList<Object>(Arrays.asList((Object) Long.valueOf(samples), Long.valueOf(features))));
        input.put("file", "inputs/x.bin");
        doc.put("inputs", new ArrayList<Object>(Arrays.asList((Object) input)));
        Map<String, Object> accuracy = new LinkedHashMap<String, Object>();
        accuracy.put("enabled", Boolean.TRUE);
        doc.put("accuracy", accuracy);
        Map<String, Object> perf = new LinkedHashMap<String, Object>();
        perf.put("enabled", Boolean.TRUE);
        perf.put("warmup_runs", Long.valueOf(2));
        perf.put("runs", Long.valueOf(5));
        perf.put("min_seconds", Double.valueOf(0.0));
        perf.put("max_seconds", Double.valueOf(30.0));
        doc.put("performance", perf);
        Map<String, Object> runtime = new LinkedHashMap<String, Object>();
        runtime.put("name", "fake-linear");
        runtime.put("threads", Long.valueOf(2));
        runtime.put("delegate", null);
        runtime.put("backend", null);
        runtime.put("compute_units", null);
        doc.put("runtime", runtime);
        doc.put("timeout_seconds", Double.valueOf(600.0));
        return doc;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> section(Map<String, Object> doc, String key) {
        return (Map<String, Object>) doc.get(key);
    }

    /** The sample values: x[s][i] = (s + 1) * 0.5 - i * 0.25. */
    static float[] inputs(int samples, int features) {
        float[] x = new float[samples * features];
        for (int s = 0; s < samples; s++) {
            for (int i = 0; i < features; i++) {
                x[s * features + i] = (s + 1) * 0.5f - i * 0.25f;
            }
        }
        return x;
    }

    /** Writes the folder for {@code doc} (which must keep the default file names) and returns it. */
    static File write(File dir, Map<String, Object> doc, int samples, int features) throws IOException {
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        ResultWriter.writeUtf8(new File(dir, "job.json"), Json.pretty(doc));
        File model = new File(dir, "model/model.tflite");
        model.getParentFile().mkdirs();
        ResultWriter.writeUtf8(model, "not a real model: the fake runtime only checks that it exists");
        Tensors.write(dir, "inputs/x.bin", "x",
                Tensor.ofFloat32(new long[] {samples, features}, inputs(samples, features)));
        return dir;
    }

    static Map<String, Object> device() {
        Map<String, Object> device = new LinkedHashMap<String, Object>();
        device.put("platform", "jvm");
        device.put("model", "unit test");
        device.put("os", System.getProperty("os.name"));
        device.put("cpu", System.getProperty("os.arch"));
        device.put("abi", System.getProperty("os.arch"));
        return device;
    }

    /** A factory that hands out {@code runtime} for "fake-linear" and refuses anything else. */
    static RuntimeFactory factory(final ModelRuntime runtime) {
        return new RuntimeFactory() {
            @Override
            public ModelRuntime create(Job job) {
                if (!job.runtime.name.equals("fake-linear")) {
                    throw new JobException("unknown_runtime", "no runtime '" + job.runtime.name + "'",
                            "use fake-linear");
                }
                return runtime;
            }
        };
    }

    static List<String> list(String... items) {
        return new ArrayList<String>(Arrays.asList(items));
    }
}
