package dev.devicelab.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class JobTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static JobException refused(Map<String, Object> doc) {
        try {
            Job.fromJson(doc);
        } catch (JobException e) {
            assertEquals("protocol", e.kind);
            return e;
        }
        throw new AssertionError("accepted " + Json.write(doc));
    }

    @Test
    public void aValidJobIsParsed() {
        Job job = Job.parse(Json.pretty(TestJobs.doc("lenet5-tflite-fp32", 3, 4)));
        assertEquals("lenet5-tflite-fp32", job.id);
        assertEquals("tflite", job.model.format);
        assertEquals("tflite-fp32", job.model.variant);
        assertEquals(Arrays.asList("model/model.tflite"), job.model.files);
        assertEquals(TestJobs.SHA, job.model.sha256);
        assertEquals(1, job.inputs.size());
        TensorSpec x = job.inputs.get(0);
        assertEquals("x", x.name);
        assertEquals("float32", x.dtype);
        assertEquals(12, x.elementCount());
        assertEquals("inputs/x.bin", x.file);
        assertTrue(job.accuracyEnabled);
        assertTrue(job.performance.enabled);
        assertEquals(2, job.performance.warmupRuns);
        assertEquals(5, job.performance.runs);
        assertEquals(0.0, job.performance.minSeconds, 0);
        assertEquals(30.0, job.performance.maxSeconds, 0);
        assertEquals("fake-linear", job.runtime.name);
        assertEquals(Integer.valueOf(2), job.runtime.threads);
        assertNull(job.runtime.delegate);
        assertEquals(600.0, job.timeoutSeconds, 0);
    }

    @Test
    public void readsJobJsonFromAFolder() throws Exception {
        File dir = TestJobs.write(tmp.newFolder("job1"), TestJobs.doc("job1", 2, 3), 2, 3);
        assertEquals("job1", Job.read(dir).id);
    }

    @Test
    public void aMissingJobJsonSaysSo() throws Exception {
        File dir = tmp.newFolder("empty");
        try {
            Job.read(dir);
            fail();
        } catch (JobException e) {
            assertEquals("protocol", e.kind);
            assertTrue(e.getMessage().startsWith("no job.json in "));
        }
    }

    @Test
    public void invalidJsonIsAProtocolError() {
        try {
            Job.parse("{\"schema\": \"devicelab.job/1\",");
            fail();
        } catch (JobException e) {
            assertEquals("protocol", e.kind);
            assertTrue(e.getMessage(), e.getMessage().startsWith("job.json is not valid JSON"));
        }
    }

    @Test
    public void anotherSchemaNamesTheOneTheAppSupports() {
        Map<String, Object> doc = TestJobs.doc("j", 1, 1);
        doc.put("schema", "devicelab.job/2");
        JobException e = refused(doc);
        assertEquals("job.json has schema \"devicelab.job/2\"; this app supports devicelab.job/1", e.getMessage());
        assertTrue(e.hint.contains("out of step"));

        doc.remove("schema");
        assertTrue(refused(doc).getMessage().startsWith("job.json has no schema; this app supports devicelab.job/1"));
    }

    @Test
    public void theSchemaIsCheckedBeforeAnythingElse() {
        Map<String, Object> doc = TestJobs.doc("j", 1, 1);
        doc.put("schema", "devicelab.job/0");
        doc.remove("model");
        assertTrue(refused(doc).getMessage().contains("supports devicelab.job/1"));
    }

    @Test
    public void missingFieldsAreNamedWithTheirPath() {
        String[][] cases = {{"model", "model"}, {"inputs", "inputs"}, {"accuracy", "accuracy"},
            {"performance", "performance"}, {"runtime", "runtime"}, {"timeout_seconds", "timeout_seconds"},
            {"id", "id"}};
        for (String[] c : cases) {
            Map<String, Object> doc = TestJobs.doc("j", 1, 1);
            doc.remove(c[0]);
            assertEquals("job.json: " + c[1] + " is missing", refused(doc).getMessage());
        }
        String[][] nested = {{"model", "sha256"}, {"model", "files"}, {"performance", "runs"},
            {"performance", "max_seconds"}, {"accuracy", "enabled"}, {"runtime", "name"}};
        for (String[] c : nested) {
            Map<String, Object> doc = TestJobs.doc("j", 1, 1);
            TestJobs.section(doc, c[0]).remove(c[1]);
            assertEquals("job.json: " + c[0] + "." + c[1] + " is missing", refused(doc).getMessage());
        }
    }

    @Test
    public void wrongTypesAndRangesAreRefused() {
        Object[][] cases = {
            {"performance", "runs", Long.valueOf(0), "performance.runs must be >= 1"},
            {"performance", "warmup_runs", Long.valueOf(-1), "performance.warmup_runs must be >= 0"},
            {"performance", "runs", Double.valueOf(2.5), "performance.runs must be an integer"},
            {"performance", "max_seconds", Double.valueOf(0.0), "performance.max_seconds must be > 0"},
            {"performance", "min_seconds", Double.valueOf(-1.0), "performance.min_seconds must be >= 0"},
            {"performance", "enabled", "yes", "performance.enabled must be true or false"},
            {"runtime", "threads", Long.valueOf(0), "runtime.threads must be >= 1"},
            {"runtime", "delegate", Long.valueOf(3), "runtime.delegate must be a string or null"},
            {"runtime", "name", "", "runtime.name must not be empty"},
            {"model", "format", "pytorch", "model.format must be one of"},
            {"model", "sha256", "ABC", "model.sha256 must be 64 lowercase hex digits"},
            {"model", "files", new ArrayList<Object>(), "model.files must name at least one file"},
        };
        for (Object[] c : cases) {
            Map<String, Object> doc = TestJobs.doc("j", 1, 1);
            TestJobs.section(doc, (String) c[0]).put((String) c[1], c[2]);
            String message = refused(doc).getMessage();
            assertTrue(message, message.startsWith("job.json: " + c[3]));
        }
        Map<String, Object> doc = TestJobs.doc("j", 1, 1);
        doc.put("id", "has space");
        assertTrue(refused(doc).getMessage().startsWith("job.json: id must match"));
        doc = TestJobs.doc("j", 1, 1);
        doc.put("timeout_seconds", Long.valueOf(0));
        assertEquals("job.json: timeout_seconds must be > 0", refused(doc).getMessage());
    }

    @Test
    public void integralNumbersCountAsIntegersAndNullThreadsIsAllowed() {
        Map<String, Object> doc = TestJobs.doc("j", 1, 1);
        TestJobs.section(doc, "performance").put("runs", Double.valueOf(7.0));
        TestJobs.section(doc, "runtime").put("threads", null);
        TestJobs.section(doc, "runtime").put("delegate", "gpu");
        Job job = Job.fromJson(doc);
        assertEquals(7, job.performance.runs);
        assertNull(job.runtime.threads);
        assertEquals(1, job.runtime.threadsOrDefault());
        assertEquals("gpu", job.runtime.delegate);
    }

    @Test
    public void unknownKeysAreIgnored() {
        Map<String, Object> doc = TestJobs.doc("j", 1, 1);
        doc.put("future_field", Long.valueOf(1));
        assertEquals("j", Job.fromJson(doc).id);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> firstInput(Map<String, Object> doc) {
        return (Map<String, Object>) ((List<Object>) doc.get("inputs")).get(0);
    }

    @Test
    public void tensorSpecsAreChecked() {
        Object[][] cases = {
            {"dtype", "complex64", "inputs[0].dtype must be one of float32"},
            {"shape", new ArrayList<Object>(Arrays.asList((Object) Long.valueOf(-1))), "inputs[0].shape[0] must be"},
            {"shape", new ArrayList<Object>(Arrays.asList((Object) Double.valueOf(1.5))), "inputs[0].shape[0] must be"},
            {"name", "", "inputs[0].name must not be empty"},
        };
        for (Object[] c : cases) {
            Map<String, Object> doc = TestJobs.doc("j", 1, 1);
            firstInput(doc).put((String) c[0], c[1]);
            String message = refused(doc).getMessage();
            assertTrue(message, message.startsWith("job.json: " + c[2]));
        }
        Map<String, Object> doc = TestJobs.doc("j", 1, 1);
        doc.put("inputs", new ArrayList<Object>());
        assertEquals("job.json: inputs must hold at least one tensor", refused(doc).getMessage());
    }

    @Test
    public void pathsThatEscapeTheFolderAreRefused() {
        String[] bad = {"/sdcard/x.bin", "../x.bin", "inputs/../../x.bin", "inputs/..", "..", "a\\b.bin", ""};
        for (String path : bad) {
            Map<String, Object> doc = TestJobs.doc("j", 1, 1);
            firstInput(doc).put("file", path);
            String message = refused(doc).getMessage();
            assertTrue(message, message.startsWith("job.json: inputs[0].file "));
            doc = TestJobs.doc("j", 1, 1);
            TestJobs.section(doc, "model").put("files", new ArrayList<Object>(Arrays.asList((Object) path)));
            message = refused(doc).getMessage();
            assertTrue(message, message.startsWith("job.json: model.files[0] "));
        }
    }

    @Test
    public void jobIdsThatAreFolderNames() {
        assertTrue(Job.isValidId("lenet5-tflite-int8.gpu_1"));
        assertFalse(Job.isValidId(".."));
        assertFalse(Job.isValidId("."));
        assertFalse(Job.isValidId("a/b"));
        assertFalse(Job.isValidId(""));
        assertFalse(Job.isValidId(null));
    }

    @Test
    public void dotsInsideNamesAreFine() {
        String[] good = {"..x.bin", "inputs/x..bin", "a/./b.bin", "model.tflite", "dir/sub/file"};
        for (String path : good) {
            assertNull(path, Job.relativePathProblem(path));
        }
        assertFalse(Job.relativePathProblem("a/../b") == null);
    }
}
