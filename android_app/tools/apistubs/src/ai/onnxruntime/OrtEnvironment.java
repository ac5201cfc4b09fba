package ai.onnxruntime;

import java.util.EnumSet;

public class OrtEnvironment implements AutoCloseable {
    public static OrtEnvironment getEnvironment() { return null; }
    public static EnumSet<OrtProvider> getAvailableProviders() { return EnumSet.noneOf(OrtProvider.class); }
    public OrtSession createSession(String modelPath, OrtSession.SessionOptions options) throws OrtException { return null; }
    @Override
    public void close() {}
}
