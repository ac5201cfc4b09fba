package dev.devicelab.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** Issue 11: a job with two integer inputs (int32 ids, int64 mask) and three outputs of their own dtypes. */
public class MultiInputTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static Map<String, Object> spec(String name, String dtype, int samples, int tokens) {
        Map<String, Object> input = new LinkedHashMap<String, Object>();
        input.put("name", name);
        input.put("dtype", dtype);
        input.put("shape", new ArrayList<Object>(Arrays.asList((Object) Long.valueOf(samples), Long.valueOf(tokens))));
        input.put("file", "inputs/" + name + ".bin");
        return input;
    }

    @Test
    @SuppressWarnings("unchecked")
    public void everyInputKeepsItsDtypeAndEveryOutputIsWritten() throws Exception {
        int samples = 3;
        int tokens = 4;
        Map<String, Object> doc = TestJobs.doc("tokens", samples, tokens);
        doc.put("inputs", new ArrayList<Object>(Arrays.asList((Object) spec("input_ids", "int32", samples, tokens),
                spec("attention_mask", "int64", samples, tokens))));
        TestJobs.section(doc, "runtime").put("name", "fake-tokens");
        File jobDir = TestJobs.write(tmp.newFolder("jobs", "tokens"), doc, samples, tokens);
        int[] ids = {101, 7592, 2088, 102, 101, 16777217, 0, 0, 101, 5, 6, 102};
        long[] mask = {1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1};
        Tensors.write(jobDir, "inputs/input_ids.bin", "input_ids", Tensor.ofInt32(new long[] {samples, tokens}, ids));
        Tensors.write(jobDir, "inputs/attention_mask.bin", "attention_mask",
                Tensor.ofInt64(new long[] {samples, tokens}, mask));
        File resultDir = new File(tmp.getRoot(), "results/tokens");
        RuntimeFactory factory = new RuntimeFactory() {
            @Override
            public ModelRuntime create(Job job) {
                return new FakeTokenRuntime();
            }
        };
        Result result = new JobRunner(factory, new ProcStatusMemory(), TestJobs.device(), Clock.SYSTEM, Progress.NONE)
                .run(jobDir, resultDir);
        assertTrue(result.errorMessage, result.ok());

        Map<String, Object> written = (Map<String, Object>) Json.parse(ResultWriterTestAccess.read(resultDir));
        List<Object> outputs = (List<Object>) written.get("outputs");
        assertEquals(3, outputs.size());
        TensorSpec sum = spec((Map<String, Object>) outputs.get(0));
        TensorSpec kept = spec((Map<String, Object>) outputs.get(1));
        TensorSpec mean = spec((Map<String, Object>) outputs.get(2));
        assertEquals("masked_sum int64", sum.name + " " + sum.dtype);
        assertEquals("kept bool", kept.name + " " + kept.dtype);
        assertEquals("mean_id float32", mean.name + " " + mean.dtype);
        assertArrayEquals(new long[] {samples, 1}, sum.shape);
        // 101+7592+2088+102, 101+16777217 (exact: above 2^24), 101+6+102
        assertArrayEquals(new long[] {9883, 16777318, 209}, Tensors.read(resultDir, sum).toLongArray());
        assertArrayEquals(new long[] {1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1}, Tensors.read(resultDir, kept).toLongArray());
        assertArrayEquals(new float[] {9883 / 4f, 16777318 / 2f, 209 / 3f}, Tensors.read(resultDir, mean)
                .toFloatArray(), 1f);
    }

    private static TensorSpec spec(Map<String, Object> doc) {
        List<Object> dims = asList(doc.get("shape"));
        long[] shape = new long[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = ((Number) dims.get(i)).longValue();
        }
        return new TensorSpec((String) doc.get("name"), (String) doc.get("dtype"), shape, (String) doc.get("file"));
    }

    @SuppressWarnings("unchecked")
    private static List<Object> asList(Object o) {
        return (List<Object>) o;
    }

    /** Reads result.json as text. */
    static final class ResultWriterTestAccess {
        private ResultWriterTestAccess() {}

        static String read(File resultDir) throws java.io.IOException {
            return new String(java.nio.file.Files.readAllBytes(new File(resultDir, Protocol.RESULT_FILE).toPath()),
                    "UTF-8");
        }
    }
}
