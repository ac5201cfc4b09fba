package org.tensorflow.lite;

import java.nio.ByteBuffer;

public interface Tensor {
    class QuantizationParams {
        public QuantizationParams(float scale, int zeroPoint) {}
        public float getScale() { return 0; }
        public int getZeroPoint() { return 0; }
    }

    DataType dataType();
    int numDimensions();
    int numBytes();
    int numElements();
    int[] shape();
    int[] shapeSignature();
    int index();
    String name();
    QuantizationParams quantizationParams();
    ByteBuffer asReadOnlyBuffer();
}
