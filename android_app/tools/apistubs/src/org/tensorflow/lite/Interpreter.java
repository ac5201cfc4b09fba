package org.tensorflow.lite;

import java.nio.ByteBuffer;
import java.util.Map;

/** In the real API Options extends InterpreterImpl.Options extends InterpreterApi.Options; setters chain. */
public final class Interpreter implements AutoCloseable {
    public static class Options {
        public Options() {}
        public Options setNumThreads(int numThreads) { return this; }
        public Options setUseXNNPACK(boolean useXNNPACK) { return this; }
        public Options setUseNNAPI(boolean useNNAPI) { return this; }
        public Options addDelegate(Delegate delegate) { return this; }
    }

    public Interpreter(ByteBuffer byteBuffer, Options options) {}
    public void run(Object input, Object output) {}
    public void runForMultipleInputsOutputs(Object[] inputs, Map<Integer, Object> outputs) {}
    public void allocateTensors() {}
    public void resizeInput(int idx, int[] dims) {}
    public int getInputTensorCount() { return 0; }
    public Tensor getInputTensor(int inputIndex) { return null; }
    public int getOutputTensorCount() { return 0; }
    public Tensor getOutputTensor(int outputIndex) { return null; }
    @Override
    public void close() {}
}
