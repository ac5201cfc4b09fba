package org.tensorflow.lite.gpu;

/** In tensorflow-lite-gpu-api. */
public class GpuDelegateFactory {
    public static class Options {
        public Options() {}
        public boolean isPrecisionLossAllowed() { return true; }
        public Options setPrecisionLossAllowed(boolean precisionLossAllowed) { return this; }
    }
}
