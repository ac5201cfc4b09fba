package dev.devicelab.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The per-operator profile a job may ask for (job.runtime.profile), the twin of runner.py's profile step: after
 * everything measured (timed runs and memory readings), untimed, the runtime runs {@link #RUNS} extra inferences
 * with its profiler on and leaves the raw profile in the result folder; the host turns it into the table
 * (devicelab.explain.profile.summarize_ort for ONNX Runtime). A runtime without per-operator times says why. The
 * profile never fails the job: any failure becomes {"available": false, "reason": ...} in result.extra.profile.
 */
public final class Profiling {
    private Profiling() {}

    /** 1 run the host's table leaves out (the first inference of a fresh session allocates and plans) + 10. */
    public static final int RUNS = 11;
    /** Where raw profiles go inside the result folder (pulled with it; removed by {@link ResultWriter#prepare}). */
    public static final String DIR = "profile";
    /** ONNX Runtime's Chrome-trace JSON as OrtSession.endProfiling() wrote it, renamed. */
    public static final String ORT_FILE = DIR + "/ort_profile.json";

    public static final String TFLITE_NO_PER_OP = "the TFLite / LiteRT Java API (Interpreter, InterpreterApi) gives "
            + "no per-operator times, only whole inferences; TFLite's benchmark_model tool does "
            + "(--enable_op_profiling=true), outside this app";
    public static final String EXECUTORCH_NO_PER_OP = "the executorch-android AAR from Maven is built without "
            + "ExecuTorch's event tracer (scripts/build_android_library.sh passes EXECUTORCH_ENABLE_EVENT_TRACER="
            + "${EXECUTORCH_ANDROID_PROFILING:-OFF} and the release workflow leaves it off), so Module.etdump() has "
            + "no per-operator events to write; an AAR built from source with EXECUTORCH_ANDROID_PROFILING=ON would";

    /** The feed of profiled run {@code run}: the job's samples in turn, as the timed runs take them. */
    public static int feedIndex(int run, int samples) {
        if (samples <= 0) {
            throw new IllegalArgumentException("no samples to profile");
        }
        return run % samples;
    }

    /** result.extra.profile of a runtime that gives no per-operator times, or of a profile that failed. */
    public static Map<String, Object> unavailable(String reason) {
        Map<String, Object> profile = new LinkedHashMap<String, Object>();
        profile.put("available", Boolean.FALSE);
        profile.put("reason", reason);
        return profile;
    }

    /** result.extra.profile naming the raw profile {@code file} (relative to the result folder) for the host. */
    public static Map<String, Object> shipped(String file, int runs, String method) {
        Map<String, Object> profile = new LinkedHashMap<String, Object>();
        profile.put("file", file);
        profile.put("runs", Integer.valueOf(runs));
        profile.put("method", method);
        return profile;
    }

    /**
     * Runs the runtime's profile when the job asks for one and records what came of it in result.extra.profile;
     * never throws (the measurement stands without the profile). A failed profile leaves no file behind.
     */
    public static void record(Job job, ModelRuntime runtime, List<Object> feeds, File resultDir, Result result) {
        if (!job.runtime.profile) {
            return;
        }
        Map<String, Object> profile;
        try {
            profile = runtime.profile(feeds, resultDir);
            if (profile == null) {
                profile = unavailable(runtime.name() + " returned no profile");
            }
        } catch (Throwable t) { // native failures too: the profile is a courtesy, the result is not
            profile = unavailable("profiling failed: " + JobRunner.describe(t));
        }
        if (!profile.containsKey("file")) {
            try {
                ResultWriter.deleteTree(new File(resultDir, DIR));
            } catch (IOException e) {
                profile.put("cleanup", e.getMessage());
            }
        }
        result.extra.put("profile", profile);
    }

    /**
     * Moves the profile a runtime wrote ({@code produced}, wherever its profiler put it) to {@code relative} in
     * the result folder: a rename when both are on one file system, else a copy.
     */
    public static File claim(File produced, File resultDir, String relative) throws IOException {
        File target = new File(resultDir, relative);
        File parent = target.getParentFile();
        if (parent != null && !parent.isDirectory() && !parent.mkdirs()) {
            throw new IOException("cannot create " + parent);
        }
        if (target.exists() && !target.delete()) {
            throw new IOException("cannot replace " + target);
        }
        if (produced.renameTo(target)) {
            return target;
        }
        InputStream in = new FileInputStream(produced);
        try {
            OutputStream out = new FileOutputStream(target);
            try {
                byte[] chunk = new byte[65536];
                int n;
                while ((n = in.read(chunk)) > 0) {
                    out.write(chunk, 0, n);
                }
            } finally {
                out.close();
            }
        } finally {
            in.close();
        }
        if (!produced.delete()) {
            throw new IOException("copied " + produced + " but cannot remove it");
        }
        return target;
    }
}
