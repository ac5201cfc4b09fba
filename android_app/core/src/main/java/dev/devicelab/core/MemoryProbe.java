package dev.devicelab.core;

import java.util.List;

/** Process memory as the OS reports it; see {@link ProcStatusMemory} (Linux, so Android and the JVM here). */
public interface MemoryProbe {
    /** Resets the kernel's peak mark so a later {@link #peak} belongs to this job alone; true if it worked. */
    boolean resetPeak();

    /** Current figures (resident set size, native heap, ...) tagged with {@code phase}; may be empty. */
    List<MemorySample> sample(String phase);

    /** The peak since the reset (or since process start when the reset did not work); may be empty. */
    List<MemorySample> peak(String phase, boolean sinceReset);
}
