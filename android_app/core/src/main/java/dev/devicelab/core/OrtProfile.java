package dev.devicelab.core;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Where ONNX Runtime really ran a model's nodes, from its session profile (SessionOptions.enableProfiling, then
 * OrtSession.endProfiling): a Chrome-trace JSON array whose "Node" events carry args.provider. A session
 * "on NNAPI" may run part of the graph, or none of it, there; this says how much.
 */
public final class OrtProfile {
    private OrtProfile() {}

    /** Distinct nodes per execution provider, e.g. {NnapiExecutionProvider=12, CPUExecutionProvider=3}. */
    public static Map<String, Integer> nodesByProvider(String profileJson) {
        Object doc = Json.parse(profileJson);
        List<?> events = doc instanceof List ? (List<?>) doc
                : doc instanceof Map && ((Map<?, ?>) doc).get("traceEvents") instanceof List
                ? (List<?>) ((Map<?, ?>) doc).get("traceEvents") : null;
        if (events == null) {
            throw new IllegalArgumentException("not an ONNX Runtime profile (no event array)");
        }
        Map<String, Set<String>> nodes = new HashMap<String, Set<String>>();
        for (Object raw : events) {
            if (!(raw instanceof Map)) {
                continue;
            }
            Map<?, ?> event = (Map<?, ?>) raw;
            Object args = event.get("args");
            if (!"Node".equals(event.get("cat")) || !(args instanceof Map)) {
                continue;
            }
            Object provider = ((Map<?, ?>) args).get("provider");
            Object name = event.get("name");
            if (provider instanceof String && name instanceof String) {
                String node = ((String) name).replaceFirst("_(kernel_time|fence_before|fence_after)$", "");
                Set<String> set = nodes.get(provider);
                if (set == null) {
                    set = new TreeSet<String>();
                    nodes.put((String) provider, set);
                }
                set.add(node);
            }
        }
        Map<String, Integer> counts = new LinkedHashMap<String, Integer>();
        for (String provider : new TreeSet<String>(nodes.keySet())) {
            counts.put(provider, Integer.valueOf(nodes.get(provider).size()));
        }
        return counts;
    }

    /** The share of nodes {@code provider} ran (0..1), or null when the profile holds no node. */
    public static Double share(Map<String, Integer> counts, String provider) {
        int total = 0;
        for (Integer n : counts.values()) {
            total += n.intValue();
        }
        if (total == 0) {
            return null;
        }
        Integer mine = counts.get(provider);
        return Double.valueOf((mine == null ? 0 : mine.intValue()) / (double) total);
    }
}
