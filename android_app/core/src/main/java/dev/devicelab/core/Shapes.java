package dev.devicelab.core;

/** Small helpers for shapes, written the way numpy prints them in devicelab's messages. */
public final class Shapes {
    private Shapes() {}

    /** The product of the dimensions (1 for a scalar), or -1 on overflow. */
    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                return -1;
            }
            if (d != 0 && n > Long.MAX_VALUE / d) {
                return -1;
            }
            n *= d;
        }
        return n;
    }

    /** "[1, 28, 28, 1]". */
    public static String format(long[] shape) {
        StringBuilder out = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                out.append(", ");
            }
            out.append(shape[i]);
        }
        return out.append(']').toString();
    }

    public static String format(int[] shape) {
        long[] wide = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            wide[i] = shape[i];
        }
        return format(wide);
    }

    public static long[] toLong(int[] shape) {
        long[] wide = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            wide[i] = shape[i];
        }
        return wide;
    }
}
