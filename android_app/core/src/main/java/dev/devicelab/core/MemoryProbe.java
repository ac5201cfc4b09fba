package dev.devicelab.core;

import java.util.Collections;
import java.util.List;

/** Process memory as the OS reports it; see {@link ProcStatusMemory} (Linux, so Android and the JVM here). */
public interface MemoryProbe {
    /** Resets the kernel's peak mark so a later {@link #peak} belongs to this job alone; true if it worked. */
    boolean resetPeak();

    /** Current figures (resident set size, native heap, ...) tagged with {@code phase}; may be empty. */
    List<MemorySample> sample(String phase);

    /** The peak since the reset (or since process start when the reset did not work); may be empty. */
    List<MemorySample> peak(String phase, boolean sinceReset);

    /**
     * A cheap reading taken in the app while a job runs (PSS from /proc/self/smaps_rollup), at a low rate and
     * always between two inferences, never inside one; the loop keeps the largest of each metric. Unlike
     * `dumpsys meminfo` from the host, reading it forces no garbage collection in the measured process.
     */
    default List<MemorySample> poll() {
        return Collections.emptyList();
    }
}
