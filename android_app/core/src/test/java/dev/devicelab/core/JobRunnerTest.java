package dev.devicelab.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.List;
import java.util.Map;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class JobRunnerTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private FakeLinearRuntime runtime;
    private File results;

    @Before
    public void setUp() throws Exception {
        runtime = new FakeLinearRuntime(2);
        results = tmp.newFolder("results");
    }

    private Result run(File jobDir) throws Exception {
        JobRunner runner = new JobRunner(TestJobs.factory(runtime), new ProcStatusMemory(), TestJobs.device(),
                Clock.SYSTEM, Progress.NONE);
        return runner.run(jobDir, new File(results, jobDir.getName()));
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> resultJson(String id) throws Exception {
        File dir = new File(results, id);
        return (Map<String, Object>) Json.parse(Job.readUtf8(new File(dir, "result.json")));
    }

    private String done(String id) throws Exception {
        return Job.readUtf8(new File(new File(results, id), "DONE"));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> error(Map<String, Object> doc) {
        return (Map<String, Object>) doc.get("error");
    }

    private File job(String id, Map<String, Object> doc) throws Exception {
        return TestJobs.write(new File(tmp.getRoot(), "jobs/" + id), doc, 2, 3);
    }

    @Test
    @SuppressWarnings("unchecked")
    public void anOkResultHasEveryFieldThenDone() throws Exception {
        Result result = run(job("ok1", TestJobs.doc("ok1", 2, 3)));
        assertTrue(result.ok());
        Map<String, Object> doc = resultJson("ok1");
        assertEquals("devicelab.result/1", doc.get("schema"));
        assertEquals("ok1", doc.get("job_id"));
        assertEquals("ok", doc.get("status"));
        assertTrue(doc.containsKey("error"));
        assertNull(doc.get("error"));
        Map<String, Object> device = (Map<String, Object>) doc.get("device");
        assertEquals("jvm", device.get("platform"));
        Map<String, Object> rt = (Map<String, Object>) device.get("runtime");
        assertEquals("fake-linear", rt.get("name"));
        assertEquals("fake-linear 1.0", rt.get("version"));
        assertEquals("fake-linear-cpu", doc.get("runtime_used"));
        Map<String, Object> timings = (Map<String, Object>) doc.get("timings_ms");
        assertTrue(((Number) timings.get("load")).doubleValue() >= 0);
        assertEquals(2, ((List<Object>) timings.get("warmup")).size());
        assertTrue(((List<Object>) timings.get("runs")).size() >= 5);
        assertEquals(1, ((List<Object>) doc.get("outputs")).size());
        Map<String, Object> extra = (Map<String, Object>) doc.get("extra");
        assertEquals(Long.valueOf(2), extra.get("threads"));
        assertTrue(extra.containsKey("delegate_requested"));
        assertEquals(Long.valueOf(2), extra.get("samples"));
        assertEquals("1.0", extra.get("fake_version"));
        assertEquals(Boolean.TRUE, doc.get("simulated"));
        assertEquals("ok\n", done("ok1"));
        assertTrue(new File(results, "ok1/outputs/output_0.bin").isFile());
        assertFalse(new File(results, "ok1/result.json.tmp").exists());
        assertTrue(runtime.closed);
    }

    @Test
    public void anUnknownRuntimeIsAnErrorResultWithDone() throws Exception {
        Map<String, Object> doc = TestJobs.doc("unk", 2, 3);
        TestJobs.section(doc, "runtime").put("name", "pytorch-mobile");
        Result result = run(job("unk", doc));
        assertFalse(result.ok());
        Map<String, Object> json = resultJson("unk");
        assertEquals("error", json.get("status"));
        assertEquals("unknown_runtime", error(json).get("kind"));
        assertEquals("use fake-linear", error(json).get("hint"));
        assertNull(json.get("runtime_used"));
        assertEquals("error\n", done("unk"));
    }

    @Test
    public void aJobOfAnotherProtocolVersionIsAProtocolError() throws Exception {
        Map<String, Object> doc = TestJobs.doc("v2", 2, 3);
        doc.put("schema", "devicelab.job/2");
        run(job("v2", doc));
        Map<String, Object> json = resultJson("v2");
        assertEquals("protocol", error(json).get("kind"));
        assertTrue(((String) error(json).get("message")).contains("this app supports devicelab.job/1"));
        assertEquals("error\n", done("v2"));
    }

    @Test
    public void aFolderWithoutJobJsonIsAnsweredUnderTheFolderName() throws Exception {
        File empty = tmp.newFolder("jobs", "nothing-here");
        run(empty);
        Map<String, Object> json = resultJson("nothing-here");
        assertEquals("nothing-here", json.get("job_id"));
        assertEquals("protocol", error(json).get("kind"));
        assertEquals("error\n", done("nothing-here"));
    }

    @Test
    public void anExceptionDuringRunsIsARuntimeFailure() throws Exception {
        runtime.runFailAfter = 3; // fails in the middle of the performance runs
        run(job("boom", TestJobs.doc("boom", 2, 3)));
        Map<String, Object> json = resultJson("boom");
        assertEquals("runtime_failure", error(json).get("kind"));
        assertEquals("IllegalStateException: boom", error(json).get("message"));
        assertTrue(((List<?>) json.get("outputs")).isEmpty());
        assertFalse(new File(results, "boom/outputs").exists()); // written outputs of a failed job are removed
        assertTrue(runtime.closed);
        assertEquals("error\n", done("boom"));
    }

    @Test
    public void aJobExceptionFromTheRuntimeKeepsItsKind() throws Exception {
        runtime.failOn = "load";
        runtime.failure = LoadFailures.tflite("Didn't find op for builtin opcode 'CONV_2D' version '7'", "tflite 2.17.0");
        run(job("op", TestJobs.doc("op", 2, 3)));
        Map<String, Object> json = resultJson("op");
        assertEquals("model_run", error(json).get("kind"));
        assertTrue(((String) error(json).get("message")).contains("CONV_2D version 7"));
        assertEquals("1.0", ((Map<?, ?>) json.get("extra")).get("fake_version")); // runtime facts survive errors
    }

    @Test
    public void aTruncatedInputIsAProtocolError() throws Exception {
        File dir = job("trunc", TestJobs.doc("trunc", 2, 3));
        ResultWriter.writeUtf8(new File(dir, "inputs/x.bin"), "short");
        run(dir);
        assertEquals("protocol", error(resultJson("trunc")).get("kind"));
    }

    @Test
    public void aStaleResultIsReplaced() throws Exception {
        File stale = new File(results, "again");
        stale.mkdirs();
        ResultWriter.writeUtf8(new File(stale, "DONE"), "ok\n");
        new File(stale, "outputs").mkdirs();
        ResultWriter.writeUtf8(new File(stale, "outputs/output_7.bin"), "old");
        Map<String, Object> doc = TestJobs.doc("again", 2, 3);
        TestJobs.section(doc, "runtime").put("name", "nope");
        run(job("again", doc));
        assertEquals("error\n", done("again"));
        assertFalse(new File(stale, "outputs/output_7.bin").exists());
    }

    @Test
    public void nativeErrorsAreCaughtToo() throws Exception {
        FakeLinearRuntime linkFailure = new FakeLinearRuntime(2) {
            @Override
            public String version() {
                throw new UnsatisfiedLinkError("dlopen failed: libtensorflowlite_jni.so not found");
            }
        };
        runtime = linkFailure;
        run(job("link", TestJobs.doc("link", 2, 3)));
        assertEquals("UnsatisfiedLinkError: dlopen failed: libtensorflowlite_jni.so not found",
                error(resultJson("link")).get("message"));
    }
}
