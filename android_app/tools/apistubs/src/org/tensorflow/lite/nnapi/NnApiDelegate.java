package org.tensorflow.lite.nnapi;

import org.tensorflow.lite.Delegate;

public class NnApiDelegate implements Delegate, AutoCloseable {
    public static final class Options {
        public Options() {}
        public Options setUseNnapiCpu(boolean enable) { return this; }
    }

    public NnApiDelegate(Options options) {}
    public NnApiDelegate() {}
    @Override
    public long getNativeHandle() { return 0; }
    public int getNnapiErrno() { return 0; }
    public boolean hasErrors() { return false; }
    @Override
    public void close() {}
}
