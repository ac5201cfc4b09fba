package org.pytorch.executorch;

public class Module {
    public static final int LOAD_MODE_FILE = 0;
    public static final int LOAD_MODE_MMAP = 1;
    public static final int LOAD_MODE_MMAP_USE_MLOCK = 2;
    public static final int LOAD_MODE_MMAP_USE_MLOCK_IGNORE_ERRORS = 3;

    private Module() {}
    public static Module load(String modelPath) { return null; }
    public static Module load(String modelPath, int loadMode) { return null; }
    public static Module load(String modelPath, int loadMode, int numThreads) { return null; }
    public EValue[] forward(EValue... inputs) { return null; }
    public EValue[] execute(String methodName, EValue... inputs) { return null; }
    public int loadMethod(String methodName) { return 0; }
    public String[] getMethods() { return null; }
    public MethodMetadata getMethodMetadata(String name) { return null; }
    public void destroy() {}
}
