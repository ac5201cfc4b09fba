package dev.devicelab.app;

import android.os.Debug;
import dev.devicelab.core.MemorySample;
import dev.devicelab.core.ProcStatusMemory;
import java.util.List;

/**
 * The core's VmRSS / VmHWM (/proc/self/status) plus what Android's runtime knows: the native heap (where
 * TFLite and ONNX Runtime allocate) and the Java heap. Every figure names its method.
 */
final class AndroidMemory extends ProcStatusMemory {
    @Override
    public List<MemorySample> sample(String phase) {
        List<MemorySample> samples = super.sample(phase);
        samples.add(new MemorySample("native_heap_allocated", Debug.getNativeHeapAllocatedSize(), "B",
                "Debug.getNativeHeapAllocatedSize", phase));
        Runtime java = Runtime.getRuntime();
        samples.add(new MemorySample("java_heap_used", java.totalMemory() - java.freeMemory(), "B",
                "Runtime.totalMemory - Runtime.freeMemory", phase));
        return samples;
    }
}
