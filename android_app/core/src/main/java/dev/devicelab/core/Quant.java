package dev.devicelab.core;

/**
 * Affine (de)quantization for integer-I/O models, as devicelab/runtimes/base.py does it in float32:
 * q = clip(round_half_even(x / scale + zero_point)), x = (q - zero_point) * scale.
 */
public final class Quant {
    private Quant() {}

    public static byte[] quantizeInt8(float[] x, float scale, int zeroPoint) {
        return quantize(x, scale, zeroPoint, -128, 127);
    }

    /** uint8 values 0..255, stored in Java's signed bytes. */
    public static byte[] quantizeUint8(float[] x, float scale, int zeroPoint) {
        return quantize(x, scale, zeroPoint, 0, 255);
    }

    private static byte[] quantize(float[] x, float scale, int zeroPoint, int min, int max) {
        byte[] q = new byte[x.length];
        for (int i = 0; i < x.length; i++) {
            float v = x[i] / scale + zeroPoint; // float32 arithmetic, as numpy on float32 arrays
            double r = Math.rint(v); // numpy's round: half to even
            int clipped = (int) Math.max(min, Math.min(max, r));
            q[i] = (byte) clipped;
        }
        return q;
    }

    public static float[] dequantizeInt8(byte[] q, float scale, int zeroPoint) {
        float[] x = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            x[i] = (float) (q[i] - zeroPoint) * scale;
        }
        return x;
    }

    public static float[] dequantizeUint8(byte[] q, float scale, int zeroPoint) {
        float[] x = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            x[i] = (float) ((q[i] & 0xff) - zeroPoint) * scale;
        }
        return x;
    }
}
