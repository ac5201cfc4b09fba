package dev.devicelab.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;

/** Issue 12 #7: how much of a model ONNX Runtime really ran on NNAPI, from its session profile. */
public class OrtProfileTest {
    // The shape of onnxruntime's profile (Chrome trace events; Node events carry args.provider).
    static final String PROFILE = "[\n"
            + "{\"cat\":\"Session\",\"pid\":1,\"tid\":1,\"dur\":812,\"ts\":3,\"ph\":\"X\",\"name\":\"model_loading_uri\","
            + "\"args\":{}},\n"
            + "{\"cat\":\"Node\",\"pid\":1,\"tid\":1,\"dur\":40,\"ts\":900,\"ph\":\"X\",\"name\":\"conv1_kernel_time\","
            + "\"args\":{\"op_name\":\"Conv\",\"provider\":\"NnapiExecutionProvider\"}},\n"
            + "{\"cat\":\"Node\",\"pid\":1,\"tid\":1,\"dur\":1,\"ts\":899,\"ph\":\"X\",\"name\":\"conv1_fence_before\","
            + "\"args\":{\"op_name\":\"Conv\",\"provider\":\"NnapiExecutionProvider\"}},\n"
            + "{\"cat\":\"Node\",\"pid\":1,\"tid\":1,\"dur\":30,\"ts\":950,\"ph\":\"X\",\"name\":\"conv2_kernel_time\","
            + "\"args\":{\"op_name\":\"Conv\",\"provider\":\"NnapiExecutionProvider\"}},\n"
            + "{\"cat\":\"Node\",\"pid\":1,\"tid\":1,\"dur\":9,\"ts\":990,\"ph\":\"X\",\"name\":\"softmax_kernel_time\","
            + "\"args\":{\"op_name\":\"Softmax\",\"provider\":\"CPUExecutionProvider\"}},\n"
            + "{\"cat\":\"Node\",\"pid\":1,\"tid\":1,\"dur\":9,\"ts\":1990,\"ph\":\"X\",\"name\":\"softmax_kernel_time\","
            + "\"args\":{\"op_name\":\"Softmax\",\"provider\":\"CPUExecutionProvider\"}}\n"
            + "]";

    @Test
    public void nodesAreCountedOncePerProvider() {
        Map<String, Integer> counts = OrtProfile.nodesByProvider(PROFILE);
        Map<String, Integer> expected = new LinkedHashMap<String, Integer>();
        expected.put("CPUExecutionProvider", Integer.valueOf(1));
        expected.put("NnapiExecutionProvider", Integer.valueOf(2));
        assertEquals(expected, counts);
        assertEquals(2.0 / 3, OrtProfile.share(counts, "NnapiExecutionProvider"), 1e-12);
        assertEquals(0.0, OrtProfile.share(counts, "XnnpackExecutionProvider"), 0);
        assertNull(OrtProfile.share(OrtProfile.nodesByProvider("[]"), "NnapiExecutionProvider"));
    }
}
