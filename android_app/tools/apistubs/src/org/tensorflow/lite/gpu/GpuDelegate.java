package org.tensorflow.lite.gpu;

import java.io.Closeable;
import org.tensorflow.lite.Delegate;

public class GpuDelegate implements Delegate, Closeable {
    /** Deprecated alias kept for compatibility. */
    public static class Options extends GpuDelegateFactory.Options {}

    public GpuDelegate(GpuDelegateFactory.Options options) {}
    public GpuDelegate() {}
    @Override
    public long getNativeHandle() { return 0; }
    @Override
    public void close() {}
}
