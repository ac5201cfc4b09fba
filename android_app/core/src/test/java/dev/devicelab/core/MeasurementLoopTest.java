package dev.devicelab.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class MeasurementLoopTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private FakeClock clock;
    private FakeLinearRuntime runtime;
    private final List<String> progress = new ArrayList<String>();
    private double progressCostMs = 500; // reporting is slow: it must never land inside a timed inference

    /** Memory that grows by 10 MiB per sample taken, with a peak of 100 MiB. */
    private static class FakeMemory implements MemoryProbe {
        double rss = 50;
        boolean resetWorks = true;

        @Override
        public boolean resetPeak() {
            return resetWorks;
        }

        @Override
        public List<MemorySample> sample(String phase) {
            rss += 10;
            return Collections.singletonList(new MemorySample("rss", rss, "MiB", ProcStatusMemory.RSS_METHOD, phase));
        }

        @Override
        public List<MemorySample> peak(String phase, boolean sinceReset) {
            return Collections.singletonList(new MemorySample("peak_rss", 100, "MiB",
                    ProcStatusMemory.HWM_METHOD + ", reset before load", phase));
        }
    }

    private FakeMemory memory;

    @Before
    public void setUp() {
        clock = new FakeClock();
        runtime = new FakeLinearRuntime(3);
        runtime.clock = clock;
        runtime.loadMs = 40;
        runtime.runMs = 10;
        runtime.prepareMs = 1000; // untimed work: must show up in no timing
        runtime.finishMs = 0;
        memory = new FakeMemory();
    }

    private Result measure(Map<String, Object> doc, int samples, int features) throws Exception {
        File jobDir = TestJobs.write(tmp.newFolder(), doc, samples, features);
        File resultDir = tmp.newFolder();
        Result result = new Result("x", TestJobs.device());
        Progress recorder = new Progress() {
            @Override
            public void update(String phase, int done, int total) {
                progress.add(phase + " " + done + "/" + total);
                clock.advanceMs(progressCostMs);
            }
        };
        new MeasurementLoop(clock, memory, recorder).measure(Job.fromJson(doc), jobDir, resultDir, runtime, result);
        result.extra.put("result_dir", resultDir.getPath());
        return result;
    }

    private static Map<String, Object> perf(Map<String, Object> doc, int warmups, int runs, double min, double max) {
        Map<String, Object> p = TestJobs.section(doc, "performance");
        p.put("warmup_runs", Long.valueOf(warmups));
        p.put("runs", Long.valueOf(runs));
        p.put("min_seconds", Double.valueOf(min));
        p.put("max_seconds", Double.valueOf(max));
        return doc;
    }

    @Test
    public void phasesRunInRunnerPyOrder() throws Exception {
        Result result = measure(perf(TestJobs.doc("j", 3, 4), 2, 4, 0, 30), 3, 4);
        List<String> expected = TestJobs.list("version", "load", "prepare", "prepare", "prepare",
                "run", "finish", // first inference on sample 0, then its outputs kept (accuracy mode)
                "run", "finish", "run", "finish", // the other samples, once each
                "run", "release", "run", "release", // warmups
                "run", "release", "run", "release", "run", "release", "run", "release"); // timed runs
        assertEquals(expected, runtime.log);
        assertEquals(Arrays.asList(10.0, 10.0), result.timings.warmup);
        assertEquals(Arrays.asList(10.0, 10.0, 10.0, 10.0), result.timings.runs);
        assertEquals("fake-linear-cpu", result.runtimeUsed);
        assertTrue(result.simulated);
    }

    @Test
    public void onlyTheInferenceIsTimed() throws Exception {
        Result result = measure(perf(TestJobs.doc("j", 3, 4), 1, 3, 0, 30), 3, 4);
        assertEquals(40.0, result.timings.load, 0);
        assertEquals(10.0, result.timings.firstInference, 0); // prepare (1 s each) and progress (0.5 s) excluded
        for (double run : result.timings.warmup) {
            assertEquals(10.0, run, 0);
        }
        for (double run : result.timings.runs) {
            assertEquals(10.0, run, 0);
        }
    }

    @Test
    public void accuracyTotalCoversTheOtherSamplesWithTheirFinish() throws Exception {
        // As in runner.py, accuracy_total spans samples 1..N-1 with finish() (and the throttled progress).
        progressCostMs = 0;
        runtime.finishMs = 2;
        Result result = measure(perf(TestJobs.doc("j", 3, 4), 1, 3, 0, 30), 3, 4);
        assertEquals(2 * (10.0 + 2.0), result.timings.accuracyTotal, 1e-9);
        assertEquals(10.0, result.timings.firstInference, 0);
    }

    @Test
    public void runsContinueUntilMinSecondsIsMet() throws Exception {
        runtime.runMs = 10;
        Result result = measure(perf(TestJobs.doc("j", 1, 2), 3, 5, 0.5, 30), 1, 2);
        assertEquals(3, result.timings.warmup.size()); // warmups are timed apart and not counted as runs
        // Progress (0.5 s per report) runs between timed runs and counts towards the wall clock, as on a device;
        // whatever it costs, at least 5 runs and at least 0.5 s passed.
        assertTrue(result.timings.runs.size() >= 5);
        assertTrue(result.timings.runs.size() < 50);
    }

    @Test
    public void minSecondsAloneDecidesWithoutProgressCost() throws Exception {
        File jobDir = TestJobs.write(tmp.newFolder(), perf(TestJobs.doc("j", 1, 2), 0, 5, 0.5, 30), 1, 2);
        Result result = new Result("x", TestJobs.device());
        new MeasurementLoop(clock, memory, null).measure(
                Job.fromJson(perf(TestJobs.doc("j", 1, 2), 0, 5, 0.5, 30)), jobDir, tmp.newFolder(), runtime, result);
        assertEquals(50, result.timings.runs.size()); // 10 ms each: the 50th run ends at 0.5 s
        double total = 0;
        for (double r : result.timings.runs) {
            total += r;
        }
        assertTrue(total >= 500);
    }

    @Test
    public void maxSecondsCapsTheRuns() throws Exception {
        File jobDir = TestJobs.write(tmp.newFolder(), TestJobs.doc("j", 1, 2), 1, 2);
        Result result = new Result("x", TestJobs.device());
        new MeasurementLoop(clock, memory, null).measure(
                Job.fromJson(perf(TestJobs.doc("j", 1, 2), 0, 1000, 0, 0.1)), jobDir, tmp.newFolder(), runtime, result);
        assertEquals(10, result.timings.runs.size()); // 10 ms each: stopped at 0.1 s, far below 1000 runs
    }

    @Test
    public void outputsAreTheModelsAndReadBack() throws Exception {
        int samples = 4;
        int features = 5;
        Result result = measure(TestJobs.doc("j", samples, features), samples, features);
        assertEquals(1, result.outputs.size());
        TensorSpec spec = result.outputs.get(0);
        assertEquals("logits", spec.name);
        assertEquals("float32", spec.dtype);
        assertEquals("outputs/output_0.bin", spec.file);
        assertArrayEquals(new long[] {samples, 3}, spec.shape);
        Tensor y = Tensors.read(new File((String) result.extra.get("result_dir")), spec);
        float[] x = TestJobs.inputs(samples, features);
        float[] expected = new float[samples * 3];
        for (int s = 0; s < samples; s++) {
            float[] one = FakeLinearRuntime.apply(Arrays.copyOfRange(x, s * features, (s + 1) * features), 3);
            System.arraycopy(one, 0, expected, s * 3, 3);
        }
        assertArrayEquals(expected, y.toFloatArray(), 0f);
    }

    @Test
    public void withoutAccuracyTheFirstResultIsReleasedAndNoOutputsWritten() throws Exception {
        Map<String, Object> doc = perf(TestJobs.doc("j", 2, 2), 0, 1, 0, 30);
        TestJobs.section(doc, "accuracy").put("enabled", Boolean.FALSE);
        Result result = measure(doc, 2, 2);
        assertEquals(TestJobs.list("version", "load", "prepare", "prepare", "run", "release", "run", "release"),
                runtime.log);
        assertTrue(result.outputs.isEmpty());
        assertNull(result.timings.accuracyTotal);
    }

    @Test
    public void withoutPerformanceThereAreNoRuns() throws Exception {
        Map<String, Object> doc = TestJobs.doc("j", 2, 2);
        TestJobs.section(doc, "performance").put("enabled", Boolean.FALSE);
        Result result = measure(doc, 2, 2);
        assertTrue(result.timings.warmup.isEmpty());
        assertTrue(result.timings.runs.isEmpty());
        assertEquals(1, result.outputs.size());
    }

    @Test
    public void memoryIsSampledAroundLoadAndRunWithItsMethod() throws Exception {
        Result result = measure(TestJobs.doc("j", 1, 2), 1, 2);
        List<String> seen = new ArrayList<String>();
        for (MemorySample m : result.memory) {
            seen.add(m.metric + "@" + m.phase);
        }
        assertEquals(TestJobs.list("rss@before_load", "rss@after_load", "peak_rss@run", "rss@after_run",
                "peak_over_baseline@run"), seen);
        MemorySample over = result.memory.get(4);
        assertEquals(100 - 60, over.value, 0); // VmHWM minus VmRSS before load
        assertEquals("VmHWM - VmRSS before load", over.method);
    }

    @Test
    public void noBaselineFigureWithoutAPeakReset() throws Exception {
        memory.resetWorks = false;
        Result result = measure(TestJobs.doc("j", 1, 2), 1, 2);
        for (MemorySample m : result.memory) {
            assertTrue(!m.metric.equals("peak_over_baseline"));
        }
    }

    @Test
    public void progressIsThrottledAndEndsAtTheTotal() throws Exception {
        runtime.runMs = 0.001; // 1 us runs: 20000 of them take 20 ms
        File jobDir = TestJobs.write(tmp.newFolder(), TestJobs.doc("j", 1, 2), 1, 2);
        final List<String> calls = new ArrayList<String>();
        Progress recorder = new Progress() {
            @Override
            public void update(String phase, int done, int total) {
                calls.add(phase + " " + done + "/" + total);
            }
        };
        Result result = new Result("x", TestJobs.device());
        new MeasurementLoop(clock, memory, recorder).measure(
                Job.fromJson(perf(TestJobs.doc("j", 1, 2), 0, 20000, 1.0, 30)), jobDir, tmp.newFolder(), runtime,
                result);
        assertTrue(result.timings.runs.size() >= 20000);
        int performanceCalls = 0;
        for (String c : calls) {
            if (c.startsWith("performance")) {
                performanceCalls++;
            }
        }
        // 1 s of runs at most every 0.2 s, plus the start and the moment `runs` is reached: a handful, not 1e6.
        assertTrue(calls.toString(), performanceCalls <= 10);
        assertTrue(calls.contains("performance 0/20000"));
        assertTrue(calls.contains("performance 20000/20000"));
    }

    @Test
    public void samplesMustAgreeAcrossInputs() throws Exception {
        Map<String, Object> doc = TestJobs.doc("j", 0, 2);
        try {
            measure(doc, 0, 2);
            throw new AssertionError("accepted a job without samples");
        } catch (JobException e) {
            assertEquals("protocol", e.kind);
            assertEquals("the job has no samples (input shape starts with 0)", e.getMessage());
        }
    }

    /** Memory readings in the app (issue 12 #2): at most every 0.5 s, never inside a timed inference. */
    @Test
    public void memoryIsPolledRarelyAndOutsideTheTimedCalls() throws Exception {
        progressCostMs = 0;
        final List<Double> polledAt = new ArrayList<Double>();
        memory = new FakeMemory() {
            @Override
            public List<MemorySample> poll() {
                polledAt.add(Double.valueOf(clock.nanoTime() / 1e6));
                clock.advanceMs(300); // a slow reading: it must land in no run's time
                return Collections.singletonList(new MemorySample("pss", 40 + polledAt.size(), "MiB",
                        ProcStatusMemory.PSS_METHOD, "run"));
            }
        };
        Result result = measure(perf(TestJobs.doc("j", 3, 4), 5, 200, 0, 60), 3, 4);
        for (double run : result.timings.runs) {
            assertEquals(10.0, run, 0);
        }
        for (double run : result.timings.warmup) {
            assertEquals(10.0, run, 0);
        }
        int timed = result.timings.runs.size() + result.timings.warmup.size() + 2;
        assertTrue("polled " + polledAt.size() + " times for " + timed + " inferences", polledAt.size() < timed / 3);
        for (int k = 1; k < polledAt.size(); k++) {
            assertTrue(polledAt.get(k) - polledAt.get(k - 1) >= 500.0);
        }
        MemorySample top = null;
        for (MemorySample m : result.memory) {
            if (m.metric.equals("pss_peak")) {
                top = m;
            }
        }
        assertEquals(40.0 + polledAt.size(), top.value, 0);
        assertTrue(top.method.startsWith(ProcStatusMemory.PSS_METHOD + ", largest of readings in the app"));
        assertEquals("run", top.phase);
    }

    /** Issue 12 #7: a runtime may look at how it ran (ORT's placement profile) once, after the timed runs. */
    @Test
    public void afterMeasurementIsCalledOnceAfterTheTimedRuns() throws Exception {
        final List<String> order = new ArrayList<String>();
        runtime = new FakeLinearRuntime(3) {
            @Override
            public Object run(Object feed) {
                order.add("run");
                return super.run(feed);
            }

            @Override
            public void afterMeasurement(Object feed) {
                order.add("after " + ((float[]) feed).length);
                clock.advanceMs(5000); // a slow profiled inference: in no timing
            }

            @Override
            public String used() {
                return order.contains("after 4") ? "fake-linear-cpu (4 of 4 nodes here)" : "not yet";
            }
        };
        runtime.clock = clock;
        runtime.runMs = 10;
        Result result = measure(perf(TestJobs.doc("j", 3, 4), 1, 3, 0, 30), 3, 4);
        assertEquals("after 4", order.get(order.size() - 1));
        assertEquals(1, Collections.frequency(order, "after 4"));
        assertEquals("fake-linear-cpu (4 of 4 nodes here)", result.runtimeUsed);
        for (double run : result.timings.runs) {
            assertEquals(10.0, run, 0);
        }
    }
}
