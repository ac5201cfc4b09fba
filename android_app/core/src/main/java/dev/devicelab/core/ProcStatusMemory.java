package dev.devicelab.core;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.FileReader;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * VmRSS and VmHWM from /proc/self/status, with the same metric names and methods as
 * devicelab/metrics/memory.py: "rss" (VmRSS) and "peak_rss" (VmHWM), in MiB. The peak is reset by writing
 * 5 to /proc/self/clear_refs where the kernel allows it.
 */
public class ProcStatusMemory implements MemoryProbe {
    public static final String RSS_METHOD = "VmRSS (/proc/self/status)";
    public static final String HWM_METHOD = "VmHWM (/proc/self/status)";
    public static final String PSS_METHOD = "Pss (/proc/self/smaps_rollup)";

    private final File status;
    private final File clearRefs;
    private final File smapsRollup;

    public ProcStatusMemory() {
        this(new File("/proc/self/status"), new File("/proc/self/clear_refs"), new File("/proc/self/smaps_rollup"));
    }

    public ProcStatusMemory(File status, File clearRefs) {
        this(status, clearRefs, new File(status.getParentFile(), "smaps_rollup"));
    }

    public ProcStatusMemory(File status, File clearRefs, File smapsRollup) {
        this.status = status;
        this.clearRefs = clearRefs;
        this.smapsRollup = smapsRollup;
    }

    @Override
    public boolean resetPeak() {
        try {
            OutputStream out = new FileOutputStream(clearRefs);
            try {
                out.write('5');
            } finally {
                out.close();
            }
            return true;
        } catch (IOException e) {
            return false;
        } catch (SecurityException e) {
            return false;
        }
    }

    @Override
    public List<MemorySample> sample(String phase) {
        List<MemorySample> out = new ArrayList<MemorySample>();
        Double kib = statusKib("VmRSS");
        if (kib != null) {
            out.add(new MemorySample("rss", kib.doubleValue() / 1024, "MiB", RSS_METHOD, phase));
        }
        Double pss = fieldKib(smapsRollup, "Pss");
        if (pss != null) {
            out.add(new MemorySample("pss", pss.doubleValue() / 1024, "MiB", PSS_METHOD, phase));
        }
        return out;
    }

    /** PSS from smaps_rollup (Linux 4.14+, so Android 10+ kernels and most 9s), else VmRSS. */
    @Override
    public List<MemorySample> poll() {
        List<MemorySample> out = new ArrayList<MemorySample>();
        Double pss = fieldKib(smapsRollup, "Pss");
        if (pss != null) {
            out.add(new MemorySample("pss", pss.doubleValue() / 1024, "MiB", PSS_METHOD, "run"));
            return out;
        }
        Double rss = statusKib("VmRSS");
        if (rss != null) {
            out.add(new MemorySample("rss", rss.doubleValue() / 1024, "MiB", RSS_METHOD, "run"));
        }
        return out;
    }

    @Override
    public List<MemorySample> peak(String phase, boolean sinceReset) {
        List<MemorySample> out = new ArrayList<MemorySample>();
        Double kib = statusKib("VmHWM");
        if (kib != null) {
            String method = HWM_METHOD + (sinceReset ? ", reset before load" : ", since process start");
            out.add(new MemorySample("peak_rss", kib.doubleValue() / 1024, "MiB", method, phase));
        }
        return out;
    }

    /** A "Field:   1234 kB" line of the status file, in KiB, or null. */
    public Double statusKib(String field) {
        return fieldKib(status, field);
    }

    /** A "Field:   1234 kB" line of a /proc file, in KiB, or null when the file or the line is missing. */
    static Double fieldKib(File file, String field) {
        try {
            BufferedReader in = new BufferedReader(new FileReader(file));
            try {
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.startsWith(field + ":")) {
                        String[] parts = line.substring(field.length() + 1).trim().split("\\s+");
                        return Double.valueOf(Double.parseDouble(parts[0]));
                    }
                }
            } finally {
                in.close();
            }
        } catch (IOException e) {
            return null;
        } catch (NumberFormatException e) {
            return null;
        }
        return null;
    }
}
