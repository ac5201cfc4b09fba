package dev.devicelab.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A tensor in memory: dtype, shape and its raw little-endian bytes, exactly as the protocol's tensor files
 * hold them. Runtimes turn it into what they eat in {@link ModelRuntime#prepare}, outside the timed region.
 */
public final class Tensor {
    public final DType dtype;
    private final long[] shape;
    private final byte[] data;

    private Tensor(DType dtype, long[] shape, byte[] data) {
        long count = Shapes.elementCount(shape);
        if (count < 0 || count * dtype.itemSize != data.length) {
            throw new IllegalArgumentException(
                    dtype + Shapes.format(shape) + " needs " + count * dtype.itemSize + " bytes, got " + data.length);
        }
        this.dtype = dtype;
        this.shape = shape.clone();
        this.data = data;
    }

    /** Wraps little-endian bytes (not copied). */
    public static Tensor ofBytes(DType dtype, long[] shape, byte[] littleEndian) {
        return new Tensor(dtype, shape, littleEndian);
    }

    public static Tensor ofFloat32(long[] shape, float[] values) {
        ByteBuffer b = allocate(values.length * 4);
        for (float v : values) {
            b.putFloat(v);
        }
        return new Tensor(DType.FLOAT32, shape, b.array());
    }

    public static Tensor ofInt32(long[] shape, int[] values) {
        ByteBuffer b = allocate(values.length * 4);
        for (int v : values) {
            b.putInt(v);
        }
        return new Tensor(DType.INT32, shape, b.array());
    }

    public static Tensor ofInt64(long[] shape, long[] values) {
        ByteBuffer b = allocate(values.length * 8);
        for (long v : values) {
            b.putLong(v);
        }
        return new Tensor(DType.INT64, shape, b.array());
    }

    /** int8 or uint8 (or bool) data, one byte per element. */
    public static Tensor ofBytes8(DType dtype, long[] shape, byte[] values) {
        if (dtype.itemSize != 1) {
            throw new IllegalArgumentException(dtype + " is not a one-byte dtype");
        }
        return new Tensor(dtype, shape, values.clone());
    }

    private static ByteBuffer allocate(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public int elementCount() {
        return data.length / dtype.itemSize;
    }

    public int byteCount() {
        return data.length;
    }

    /** A little-endian read-only view of the data, positioned at 0. */
    public ByteBuffer buffer() {
        return ByteBuffer.wrap(data).asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A copy of the raw little-endian bytes. */
    public byte[] toByteArray() {
        return data.clone();
    }

    /** Every element as float32 (float16 widened, integers converted, bool as 0/1). */
    public float[] toFloatArray() {
        int n = elementCount();
        float[] out = new float[n];
        ByteBuffer b = buffer();
        for (int i = 0; i < n; i++) {
            switch (dtype) {
                case FLOAT32:
                    out[i] = b.getFloat(i * 4);
                    break;
                case FLOAT16:
                    out[i] = halfToFloat(b.getShort(i * 2));
                    break;
                case INT8:
                    out[i] = b.get(i);
                    break;
                case UINT8:
                case BOOL:
                    out[i] = b.get(i) & 0xff;
                    break;
                case INT32:
                    out[i] = b.getInt(i * 4);
                    break;
                case INT64:
                    out[i] = b.getLong(i * 8);
                    break;
                default:
                    throw new IllegalStateException("unhandled dtype " + dtype);
            }
        }
        return out;
    }

    /** Every element as a long (integer dtypes; floats are truncated toward zero). */
    public long[] toLongArray() {
        int n = elementCount();
        long[] out = new long[n];
        if (dtype == DType.INT64) {
            ByteBuffer b = buffer();
            for (int i = 0; i < n; i++) {
                out[i] = b.getLong(i * 8);
            }
            return out;
        }
        if (dtype == DType.INT32) {
            ByteBuffer b = buffer();
            for (int i = 0; i < n; i++) {
                out[i] = b.getInt(i * 4);
            }
            return out;
        }
        float[] f = toFloatArray();
        for (int i = 0; i < n; i++) {
            out[i] = (long) f[i];
        }
        return out;
    }

    /**
     * Sample {@code i} along axis 0, with a batch dimension of 1 kept: a [N, 28, 28, 1] tensor gives
     * [1, 28, 28, 1] tensors (what runner.py feeds: {@code x[i : i + 1]}).
     */
    public Tensor sample(int i) {
        if (shape.length == 0) {
            throw new IllegalArgumentException("a scalar has no samples");
        }
        if (i < 0 || i >= shape[0]) {
            throw new IndexOutOfBoundsException("sample " + i + " of " + shape[0]);
        }
        int per = (int) (data.length / shape[0]);
        byte[] slice = new byte[per];
        System.arraycopy(data, i * per, slice, 0, per);
        long[] one = shape.clone();
        one[0] = 1;
        return new Tensor(dtype, one, slice);
    }

    /** Every element as little-endian int32 bytes (ints exact, floats truncated, bool 0/1): an int32 input. */
    public byte[] toInt32Bytes() {
        if (dtype == DType.INT32) {
            return toByteArray();
        }
        long[] values = toLongArray();
        ByteBuffer b = allocate(values.length * 4);
        for (long v : values) {
            b.putInt((int) v);
        }
        return b.array();
    }

    /** Every element as little-endian int64 bytes: an int64 input (token ids above 2^24 stay exact). */
    public byte[] toInt64Bytes() {
        if (dtype == DType.INT64) {
            return toByteArray();
        }
        long[] values = toLongArray();
        ByteBuffer b = allocate(values.length * 8);
        for (long v : values) {
            b.putLong(v);
        }
        return b.array();
    }

    /** Every element as one byte: the bytes themselves for int8/uint8/bool, else values cast (bool: v != 0). */
    public byte[] toBytes8(DType target) {
        if (dtype == target || (dtype.itemSize == 1 && target != DType.BOOL)) {
            return toByteArray();
        }
        long[] values = toLongArray();
        float[] floats = target == DType.BOOL ? toFloatArray() : null;
        byte[] out = new byte[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = target == DType.BOOL ? (byte) (floats[i] != 0 ? 1 : 0) : (byte) values[i];
        }
        return out;
    }

    /** Every element as little-endian IEEE half bits: a float16 input. */
    public byte[] toFloat16Bytes() {
        if (dtype == DType.FLOAT16) {
            return toByteArray();
        }
        float[] values = toFloatArray();
        ByteBuffer b = allocate(values.length * 2);
        for (float v : values) {
            b.putShort(floatToHalf(v));
        }
        return b.array();
    }

    /** Float to IEEE 754 half precision bits, rounding to nearest even (as numpy's astype(float16)). */
    public static short floatToHalf(float value) {
        int bits = Float.floatToIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = (bits >>> 23) & 0xff;
        int mantissa = bits & 0x7fffff;
        if (exponent == 0xff) {
            return (short) (sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0));
        }
        int e = exponent - 127 + 15;
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) {
            if (e < -10) {
                return (short) sign;
            }
            int m = mantissa | 0x800000;
            int shift = 14 - e;
            int half = m >> shift;
            int rest = m & ((1 << shift) - 1);
            int halfway = 1 << (shift - 1);
            if (rest > halfway || (rest == halfway && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (e << 10) | (mantissa >> 13);
        int rest = mantissa & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) {
            half++; // may carry into the exponent, which is what rounding up to the next power of two means
        }
        return (short) (sign | half);
    }

    /** IEEE 754 half precision bits to float. */
    public static float halfToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) != 0 ? -1 : 1;
        int exponent = (h >> 10) & 0x1f;
        int fraction = h & 0x3ff;
        if (exponent == 0) {
            return sign * (float) Math.scalb(fraction / 1024.0, -14);
        }
        if (exponent == 31) {
            return fraction != 0 ? Float.NaN : sign * Float.POSITIVE_INFINITY;
        }
        return sign * (float) Math.scalb(1 + fraction / 1024.0, exponent - 15);
    }

    @Override
    public String toString() {
        return "Tensor(" + dtype + Shapes.format(shape) + ")";
    }
}
