package org.pytorch.executorch;

public class EValue {
    private EValue() {}
    public static EValue from(Tensor tensor) { return null; }
    public static EValue from(boolean value) { return null; }
    public static EValue from(long value) { return null; }
    public static EValue from(double value) { return null; }
    public static EValue from(String value) { return null; }
    public boolean isTensor() { return false; }
    public Tensor toTensor() { return null; }
}
