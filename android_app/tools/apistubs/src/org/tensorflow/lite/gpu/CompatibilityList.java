package org.tensorflow.lite.gpu;

import java.io.Closeable;

public class CompatibilityList implements Closeable {
    public CompatibilityList() {}
    public boolean isDelegateSupportedOnThisDevice() { return false; }
    public GpuDelegateFactory.Options getBestOptionsForThisDevice() { return new GpuDelegateFactory.Options(); }
    @Override
    public void close() {}
}
