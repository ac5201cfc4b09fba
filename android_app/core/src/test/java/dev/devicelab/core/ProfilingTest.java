package dev.devicelab.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.util.Arrays;
import java.util.Map;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** Issue 15: job.runtime.profile asks for per-operator times after the measurement; they never fail the job. */
public class ProfilingTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private FakeLinearRuntime runtime;
    private File results;

    @Before
    public void setUp() throws Exception {
        runtime = new FakeLinearRuntime(2);
        results = tmp.newFolder("results");
    }

    private Result run(String id, Boolean profile) throws Exception {
        Map<String, Object> doc = TestJobs.doc(id, 3, 4);
        if (profile != null) {
            TestJobs.section(doc, "runtime").put("profile", profile);
        }
        File jobDir = TestJobs.write(new File(tmp.getRoot(), "jobs/" + id), doc, 3, 4);
        return new JobRunner(TestJobs.factory(runtime), new ProcStatusMemory(), TestJobs.device(), Clock.SYSTEM,
                Progress.NONE).run(jobDir, new File(results, id));
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> writtenProfile(String id) throws Exception {
        Map<String, Object> doc = (Map<String, Object>) Json.parse(Job.readUtf8(new File(results, id + "/result.json")));
        return (Map<String, Object>) ((Map<String, Object>) doc.get("extra")).get("profile");
    }

    @Test
    public void theProfileRunsLastOverTheSamplesAndItsFileIsNamedInTheResult() throws Exception {
        Result result = run("p1", Boolean.TRUE);
        assertEquals("ok", result.status);
        // After every timed run and before close: nothing measured runs with the profiler.
        int profiled = runtime.log.indexOf("profile");
        assertEquals(runtime.log.size() - 2, profiled);
        assertFalse(runtime.log.subList(profiled, runtime.log.size()).contains("run"));
        assertEquals(Arrays.asList(0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1), runtime.profiledRuns);
        Map<String, Object> profile = writtenProfile("p1");
        assertEquals("profile/fake.txt", profile.get("file"));
        assertEquals(11L, ((Number) profile.get("runs")).longValue());
        assertEquals("fake profiler", profile.get("method"));
        File file = new File(results, "p1/profile/fake.txt");
        assertTrue(Job.readUtf8(file).startsWith("run 0 sample 0\n"));
        assertFalse(new File(results, "fake-profile.tmp").exists()); // moved, not copied
    }

    @Test
    public void withoutTheAskNoProfileRunsAndNothingIsAdded() throws Exception {
        run("p0", null);
        assertFalse(runtime.log.contains("profile"));
        assertNull(writtenProfile("p0"));
        run("pf", Boolean.FALSE);
        assertFalse(runtime.log.contains("profile"));
        assertFalse(new File(results, "pf/" + Profiling.DIR).exists());
    }

    @Test
    public void aFailingProfilerKeepsTheJobOkAndSaysWhy() throws Exception {
        runtime.profileMode = "throw";
        Result result = run("px", Boolean.TRUE);
        assertEquals("ok", result.status);
        assertFalse(result.timings.runs.isEmpty());
        Map<String, Object> profile = writtenProfile("px");
        assertEquals(Boolean.FALSE, profile.get("available"));
        assertEquals("profiling failed: IllegalStateException: profiler broke", profile.get("reason"));
        assertFalse("a failed profile leaves no file", new File(results, "px/" + Profiling.DIR).exists());
    }

    @Test
    public void aRuntimeWithoutPerOpTimesSaysSo() throws Exception {
        runtime.profileMode = "none";
        run("pn", Boolean.TRUE);
        Map<String, Object> profile = writtenProfile("pn");
        assertEquals(Boolean.FALSE, profile.get("available"));
        assertEquals("the fake-linear runtime of this app gives no per-operator times", profile.get("reason"));
    }

    @Test
    public void aStaleProfileFolderIsRemovedBeforeTheNextRun() throws Exception {
        File stale = new File(results, "ps/" + Profiling.DIR + "/ort_profile.json");
        stale.getParentFile().mkdirs();
        ResultWriter.writeUtf8(stale, "[]");
        run("ps", Boolean.FALSE);
        assertFalse(stale.exists());
    }

    @Test
    public void profileMustBeABoolean() {
        Map<String, Object> doc = TestJobs.doc("pb", 1, 1);
        TestJobs.section(doc, "runtime").put("profile", "yes");
        try {
            Job.fromJson(doc);
            fail("a string profile was accepted");
        } catch (JobException e) {
            assertEquals("protocol", e.kind);
            assertTrue(e.getMessage(), e.getMessage().contains("runtime.profile"));
        }
        TestJobs.section(doc, "runtime").remove("profile");
        assertFalse(Job.fromJson(doc).runtime.profile);
        TestJobs.section(doc, "runtime").put("profile", Boolean.TRUE);
        assertTrue(Job.fromJson(doc).runtime.profile);
    }

    @Test
    public void feedsAreTakenInTurnAndClaimMovesTheFile() throws Exception {
        assertEquals(0, Profiling.feedIndex(0, 1));
        assertEquals(0, Profiling.feedIndex(10, 1));
        assertEquals(3, Profiling.feedIndex(10, 7));
        File produced = tmp.newFile("ort_2026-12-01_10-00-00.json");
        ResultWriter.writeUtf8(produced, "[{}]");
        File target = Profiling.claim(produced, results, Profiling.ORT_FILE);
        assertEquals(new File(results, "profile/ort_profile.json"), target);
        assertEquals("[{}]", Job.readUtf8(target));
        assertFalse(produced.exists());
    }
}
