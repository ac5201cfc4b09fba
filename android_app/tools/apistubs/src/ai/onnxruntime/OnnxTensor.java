package ai.onnxruntime;

import java.nio.ByteBuffer;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;

public class OnnxTensor extends OnnxTensorLike {
    public static OnnxTensor createTensor(OrtEnvironment env, FloatBuffer data, long[] shape) throws OrtException { return null; }
    public static OnnxTensor createTensor(OrtEnvironment env, DoubleBuffer data, long[] shape) throws OrtException { return null; }
    public static OnnxTensor createTensor(OrtEnvironment env, IntBuffer data, long[] shape) throws OrtException { return null; }
    public static OnnxTensor createTensor(OrtEnvironment env, LongBuffer data, long[] shape) throws OrtException { return null; }
    public static OnnxTensor createTensor(OrtEnvironment env, ByteBuffer data, long[] shape, OnnxJavaType type)
            throws OrtException { return null; }
    public FloatBuffer getFloatBuffer() { return null; }
    public DoubleBuffer getDoubleBuffer() { return null; }
    public IntBuffer getIntBuffer() { return null; }
    public LongBuffer getLongBuffer() { return null; }
    public ByteBuffer getByteBuffer() { return null; }
    public TensorInfo getInfo() { return null; }
    @Override
    public void close() {}
}
