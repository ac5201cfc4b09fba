package dev.devicelab.core;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A tiny linear model in plain Java standing in for TFLite/ORT: y = x W + b with x the sample's features
 * flattened, W[i][j] = ((7 i + 3 j) mod 11 - 5) / 10 and b[j] = (j - 1) / 4 (tests/test_android_core.py
 * computes the same in numpy). Each call can advance a {@link FakeClock} and is written to {@link #log}.
 */
class FakeLinearRuntime implements ModelRuntime {
    final int outFeatures;
    final List<String> log = new ArrayList<String>();
    FakeClock clock;
    double loadMs;
    double runMs;
    double prepareMs;
    double finishMs;
    /** Phase names ("version", "load", "prepare", "run", "finish") that throw {@link #failure}. */
    String failOn;
    RuntimeException failure = new IllegalStateException("boom");
    int runFailAfter = -1; // throw from run() once this many runs went well
    boolean closed;
    /** profile(): "file" writes a profile of its runs, "throw" fails, "none" keeps the default (no per-op times). */
    String profileMode = "file";
    final List<Integer> profiledRuns = new ArrayList<Integer>();
    private int runs;

    FakeLinearRuntime(int outFeatures) {
        this.outFeatures = outFeatures;
    }

    static float weight(int i, int j) {
        return ((7 * i + 3 * j) % 11 - 5) / 10f;
    }

    static float bias(int j) {
        return (j - 1) / 4f;
    }

    /** The model on one sample's features, as finish() returns it. */
    static float[] apply(float[] x, int outFeatures) {
        float[] y = new float[outFeatures];
        for (int j = 0; j < outFeatures; j++) {
            float acc = bias(j);
            for (int i = 0; i < x.length; i++) {
                acc += x[i] * weight(i, j);
            }
            y[j] = acc;
        }
        return y;
    }

    private void step(String phase, double ms) {
        log.add(phase);
        if (phase.equals(failOn)) {
            throw failure;
        }
        if (clock != null) {
            clock.advanceMs(ms);
        }
    }

    @Override
    public String name() {
        return "fake-linear";
    }

    @Override
    public String version() {
        step("version", 0);
        return "fake-linear 1.0";
    }

    @Override
    public void load(File modelFile, Job job) {
        if (!modelFile.isFile()) {
            throw new IllegalStateException("no model at " + modelFile);
        }
        step("load", loadMs);
    }

    @Override
    public String used() {
        return "fake-linear-cpu";
    }

    @Override
    public Object prepare(List<Tensor> sample) {
        step("prepare", prepareMs);
        int n = 0;
        for (Tensor t : sample) {
            n += t.elementCount();
        }
        float[] x = new float[n];
        int offset = 0;
        for (Tensor t : sample) {
            float[] f = t.toFloatArray();
            System.arraycopy(f, 0, x, offset, f.length);
            offset += f.length;
        }
        return x;
    }

    @Override
    public Object run(Object feed) {
        if (runFailAfter >= 0 && runs >= runFailAfter) {
            log.add("run");
            throw failure;
        }
        runs++;
        step("run", runMs);
        return apply((float[]) feed, outFeatures);
    }

    @Override
    public List<Tensor> finish(Object raw) {
        step("finish", finishMs);
        float[] y = (float[]) raw;
        return Collections.singletonList(Tensor.ofFloat32(new long[] {1, y.length}, y.clone()));
    }

    @Override
    public void release(Object raw) {
        log.add("release");
    }

    @Override
    public List<String> outputNames() {
        return Arrays.asList("logits");
    }

    @Override
    public Map<String, Object> extra() {
        Map<String, Object> extra = new LinkedHashMap<String, Object>();
        extra.put("fake_version", "1.0");
        return extra;
    }

    /** A profile as a runtime writes one: one line per profiled run, named by the sample it ran. */
    @Override
    public Map<String, Object> profile(List<Object> feeds, File resultDir) throws Exception {
        if (profileMode.equals("none")) {
            return ModelRuntime.super.profile(feeds, resultDir);
        }
        log.add("profile");
        File produced = new File(resultDir.getParentFile(), "fake-profile.tmp");
        StringBuilder text = new StringBuilder();
        for (int r = 0; r < Profiling.RUNS; r++) {
            int sample = Profiling.feedIndex(r, feeds.size());
            apply((float[]) feeds.get(sample), outFeatures);
            profiledRuns.add(Integer.valueOf(sample));
            text.append("run ").append(r).append(" sample ").append(sample).append('\n');
        }
        ResultWriter.writeUtf8(produced, text.toString());
        if (profileMode.equals("throw")) {
            new File(resultDir, Profiling.DIR).mkdirs();
            ResultWriter.writeUtf8(new File(resultDir, Profiling.DIR + "/half-written.json"), "[");
            throw new IllegalStateException("profiler broke");
        }
        Profiling.claim(produced, resultDir, Profiling.DIR + "/fake.txt");
        return Profiling.shipped(Profiling.DIR + "/fake.txt", Profiling.RUNS, "fake profiler");
    }

    @Override
    public boolean simulated() {
        return true;
    }

    @Override
    public void close() {
        closed = true;
        log.add("close");
    }
}
