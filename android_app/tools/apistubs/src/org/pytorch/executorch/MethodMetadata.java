package org.pytorch.executorch;

public class MethodMetadata {
    public String getName() { return null; }
    public String[] getBackends() { return null; }
}
