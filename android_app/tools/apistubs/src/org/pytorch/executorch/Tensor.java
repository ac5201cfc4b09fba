package org.pytorch.executorch;

public abstract class Tensor {
    Tensor() {}
    public static Tensor fromBlobUnsigned(byte[] data, long[] shape) { return null; }
    public static Tensor fromBlob(byte[] data, long[] shape) { return null; }
    public static Tensor fromBlob(int[] data, long[] shape) { return null; }
    public static Tensor fromBlob(float[] data, long[] shape) { return null; }
    public static Tensor fromBlob(long[] data, long[] shape) { return null; }
    public static Tensor fromBlob(double[] data, long[] shape) { return null; }
    public long numel() { return 0; }
    public long[] shape() { return null; }
    public abstract DType dtype();
    public byte[] getDataAsByteArray() { return null; }
    public byte[] getDataAsUnsignedByteArray() { return null; }
    public int[] getDataAsIntArray() { return null; }
    public float[] getDataAsFloatArray() { return null; }
    public long[] getDataAsLongArray() { return null; }
    public double[] getDataAsDoubleArray() { return null; }
}
