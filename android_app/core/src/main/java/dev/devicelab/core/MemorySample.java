package dev.devicelab.core;

import java.util.LinkedHashMap;
import java.util.Map;

/** One memory figure, always with the method that produced it (numbers differ between methods). */
public final class MemorySample {
    public final String metric;
    public final double value;
    public final String unit; // B, KiB or MiB
    public final String method;
    public final String phase;

    public MemorySample(String metric, double value, String unit, String method, String phase) {
        this.metric = metric;
        this.value = value;
        this.unit = unit;
        this.method = method;
        this.phase = phase;
    }

    public Map<String, Object> toJson() {
        Map<String, Object> doc = new LinkedHashMap<String, Object>();
        doc.put("metric", metric);
        doc.put("value", Double.valueOf(value));
        doc.put("unit", unit);
        doc.put("method", method);
        doc.put("phase", phase);
        return doc;
    }

    @Override
    public String toString() {
        return metric + "=" + value + " " + unit + " (" + method + ", " + phase + ")";
    }
}
