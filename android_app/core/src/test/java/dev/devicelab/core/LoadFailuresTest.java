package dev.devicelab.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class LoadFailuresTest {
    private static final String TFLITE_MESSAGE = "Internal error: Cannot create interpreter: Didn't find op for "
            + "builtin opcode 'FULLY_CONNECTED' version '12'. An older version of this builtin might be supported. "
            + "Are you using an old TFLite binary with a newer model?\nRegistration failed.\n";

    @Test
    public void aMissingTfliteOpNamesTheOpAndBothVersions() {
        JobException e = LoadFailures.tflite(TFLITE_MESSAGE, "tensorflow-lite 2.17.0");
        assertEquals("model_run", e.kind);
        assertEquals("this TFLite runtime (tensorflow-lite 2.17.0) cannot run op FULLY_CONNECTED version 12: the model"
                + " was converted by a newer TensorFlow than the runtime supports", e.getMessage());
        assertTrue(e.hint.contains("convert with the TensorFlow version"));
        assertTrue(LoadFailures.isMissingTfliteOp(TFLITE_MESSAGE));
    }

    @Test
    public void customOpsAndOtherFailuresAreExplained() {
        JobException custom = LoadFailures.tflite("Encountered unresolved custom op: FlexErf.\nSee instructions",
                "tensorflow-lite 2.17.0");
        assertTrue(custom.getMessage(), custom.getMessage().contains("no custom op FlexErf"));
        assertTrue(LoadFailures.isMissingTfliteOp("Encountered unresolved custom op: FlexErf."));

        JobException other = LoadFailures.tflite("The model is not a valid Flatbuffer buffer\nmore", "tensorflow-lite 2.17.0");
        assertEquals("TFLite (tensorflow-lite 2.17.0) could not load the model: The model is not a valid Flatbuffer"
                + " buffer", other.getMessage());
        assertFalse(LoadFailures.isMissingTfliteOp("The model is not a valid Flatbuffer buffer"));
        assertFalse(LoadFailures.isMissingTfliteOp(null));
    }

    @Test
    public void onnxRuntimeKernelAndOpsetFailures() {
        JobException kernel = LoadFailures.onnxRuntime("Could not find an implementation for ConvInteger(10) node "
                + "with name 'conv'", "onnxruntime 1.27.0");
        assertEquals("this ONNX Runtime (onnxruntime 1.27.0) has no kernel for op ConvInteger version 10 on this"
                + " execution provider", kernel.getMessage());
        JobException opset = LoadFailures.onnxRuntime("ONNX Runtime only *guarantees* support for models stamped with "
                + "official released onnx opset versions. Opset 25 is under development", "onnxruntime 1.27.0");
        assertEquals("this ONNX Runtime (onnxruntime 1.27.0) does not support opset 25 yet", opset.getMessage());
        assertEquals("model_run", opset.kind);
    }
}
