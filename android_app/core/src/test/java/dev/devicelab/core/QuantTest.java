package dev.devicelab.core;

import static org.junit.Assert.assertArrayEquals;

import org.junit.Test;

public class QuantTest {
    @Test
    public void int8RoundsHalfToEvenAndClips() {
        // x / 0.5 + 1 = 2.5 -> 2 (half to even, as numpy), 3.5 -> 4, -1000 -> -128, 1000 -> 127
        byte[] q = Quant.quantizeInt8(new float[] {0.75f, 1.25f, -500f, 500f, 0f}, 0.5f, 1);
        assertArrayEquals(new byte[] {2, 4, -128, 127, 1}, q);
    }

    @Test
    public void uint8ClipsTo0And255() {
        byte[] q = Quant.quantizeUint8(new float[] {-1f, 0f, 1f, 300f}, 1f / 255, 0);
        assertArrayEquals(new byte[] {0, 0, (byte) 255, (byte) 255}, q);
    }

    @Test
    public void dequantizeIsTheAffineInverse() {
        assertArrayEquals(new float[] {-64.5f, 0f, 63f},
                Quant.dequantizeInt8(new byte[] {-128, 1, 127}, 0.5f, 1), 0f);
        assertArrayEquals(new float[] {-1f, 254f},
                Quant.dequantizeUint8(new byte[] {0, (byte) 255}, 1f, 1), 0f);
    }
}
