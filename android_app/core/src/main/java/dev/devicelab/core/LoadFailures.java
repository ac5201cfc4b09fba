package dev.devicelab.core;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns a runtime's load failure into a result error that says what to do, as devicelab/runtimes/tflite.py
 * does on the host: an op the runtime lacks is named with its version and the runtime's own version.
 */
public final class LoadFailures {
    private static final Pattern TFLITE_BUILTIN =
            Pattern.compile("Didn't find op for builtin opcode '(\\w+)' version '(\\d+)'");
    private static final Pattern TFLITE_CUSTOM = Pattern.compile("Encountered unresolved custom op: ([\\w.-]+)");
    private static final Pattern ORT_KERNEL =
            Pattern.compile("Could not find an implementation for (\\w+)\\((\\d+)\\)");
    private static final Pattern ORT_OPSET = Pattern.compile("(?i)opset (\\d+) is under development");

    private LoadFailures() {}

    /** True when {@code message} says the TFLite runtime lacks an op (no delegate can help then). */
    public static boolean isMissingTfliteOp(String message) {
        return message != null && (TFLITE_BUILTIN.matcher(message).find() || TFLITE_CUSTOM.matcher(message).find());
    }

    /** A TFLite interpreter that could not be created; {@code runtimeVersion} like "litert 1.4.0 (native ...)". */
    public static JobException tflite(String message, String runtimeVersion) {
        String text = message == null ? "" : message;
        Matcher op = TFLITE_BUILTIN.matcher(text);
        if (op.find()) {
            return new JobException("model_run", "this TFLite runtime (" + runtimeVersion + ") cannot run op "
                    + op.group(1) + " version " + op.group(2)
                    + ": the model was converted by a newer TensorFlow than the runtime supports",
                    "update the app's TFLite, or convert with the TensorFlow version the runtime was built with");
        }
        Matcher custom = TFLITE_CUSTOM.matcher(text);
        if (custom.find()) {
            return new JobException("model_run", "this TFLite runtime (" + runtimeVersion + ") has no custom op "
                    + custom.group(1) + " (Flex/SELECT_TF_OPS ops need tensorflow-lite-select-tf-ops)",
                    "convert without SELECT_TF_OPS, or build the app with the select-tf-ops library");
        }
        return new JobException("model_run", "TFLite (" + runtimeVersion + ") could not load the model: "
                + firstLine(text), "the file may be corrupt or not a TFLite flatbuffer");
    }

    /** An ONNX Runtime session that could not be created; {@code runtimeVersion} like "onnxruntime 1.29.0". */
    public static JobException onnxRuntime(String message, String runtimeVersion) {
        String text = message == null ? "" : message;
        Matcher kernel = ORT_KERNEL.matcher(text);
        if (kernel.find()) {
            return new JobException("model_run", "this ONNX Runtime (" + runtimeVersion + ") has no kernel for op "
                    + kernel.group(1) + " version " + kernel.group(2) + " on this execution provider",
                    "export with another opset, or quantize so the op is not needed");
        }
        Matcher opset = ORT_OPSET.matcher(text);
        if (opset.find()) {
            return new JobException("model_run", "this ONNX Runtime (" + runtimeVersion + ") does not support opset "
                    + opset.group(1) + " yet", "export the model with an older opset (devicelab uses 17)");
        }
        return new JobException("model_run", "ONNX Runtime (" + runtimeVersion + ") could not load the model: "
                + firstLine(text), "the file may be corrupt, or use an opset this onnxruntime lacks");
    }

    /** The first line of a message, at most 300 characters. */
    public static String firstLine(String message) {
        if (message == null) {
            return "";
        }
        String line = message.trim();
        int nl = line.indexOf('\n');
        if (nl >= 0) {
            line = line.substring(0, nl).trim();
        }
        return line.length() > 300 ? line.substring(0, 300) + "..." : line;
    }
}
