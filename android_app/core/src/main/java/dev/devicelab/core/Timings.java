package dev.devicelab.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** timings_ms: raw samples in milliseconds, never summaries (the host computes those once). */
public final class Timings {
    public Double load;
    public Double firstInference;
    public final List<Double> warmup = new ArrayList<Double>();
    public final List<Double> runs = new ArrayList<Double>();
    public Double accuracyTotal;

    public static double ms(long nanos) {
        return nanos / 1e6;
    }

    public void clear() {
        load = null;
        firstInference = null;
        warmup.clear();
        runs.clear();
        accuracyTotal = null;
    }

    public Map<String, Object> toJson() {
        Map<String, Object> doc = new LinkedHashMap<String, Object>();
        doc.put("load", load);
        doc.put("first_inference", firstInference);
        doc.put("warmup", new ArrayList<Object>(warmup));
        doc.put("runs", new ArrayList<Object>(runs));
        doc.put("accuracy_total", accuracyTotal);
        return doc;
    }
}
