package ai.onnxruntime;

import java.util.Iterator;
import java.util.Map;
import java.util.Set;

public class OrtSession implements AutoCloseable {
    public Set<String> getInputNames() { return null; }
    public Set<String> getOutputNames() { return null; }
    public Map<String, NodeInfo> getInputInfo() throws OrtException { return null; }
    public Map<String, NodeInfo> getOutputInfo() throws OrtException { return null; }
    public Result run(Map<String, ? extends OnnxTensorLike> inputs) throws OrtException { return null; }
    @Override
    public void close() throws OrtException {}

    public static class SessionOptions implements AutoCloseable {
        public enum OptLevel { NO_OPT, BASIC_OPT, EXTENDED_OPT, ALL_OPT }

        public SessionOptions() {}
        public void setOptimizationLevel(OptLevel level) throws OrtException {}
        public void setInterOpNumThreads(int numThreads) throws OrtException {}
        public void setIntraOpNumThreads(int numThreads) throws OrtException {}
        public void addNnapi() throws OrtException {}
        @Override
        public void close() {}
    }

    public static class Result implements AutoCloseable, Iterable<Map.Entry<String, OnnxValue>> {
        @Override
        public void close() {}
        @Override
        public Iterator<Map.Entry<String, OnnxValue>> iterator() { return null; }
        public OnnxValue get(int index) { return null; }
        public int size() { return 0; }
    }
}
