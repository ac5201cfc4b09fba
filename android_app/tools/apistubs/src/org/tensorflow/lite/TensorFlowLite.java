package org.tensorflow.lite;

public final class TensorFlowLite {
    private TensorFlowLite() {}
    public static String runtimeVersion() { return null; }
    public static String schemaVersion() { return null; }
}
