package dev.devicelab.core;

import java.util.List;

/**
 * Which job input feeds which model input. Jobs name their inputs like the model does (input_ids,
 * attention_mask); a TFLite model exported from a SavedModel signature names its tensors
 * "serving_default_input_ids:0". When every model input finds its job input by name, names decide; otherwise
 * the job's order is the model's (as the host runtimes do for single-input models).
 */
public final class InputOrder {
    private InputOrder() {}

    /** order[i] = the job input for model input i, or null when the names do not match one to one. */
    public static int[] match(List<String> modelNames, List<String> jobNames) {
        if (modelNames.size() != jobNames.size()) {
            return null;
        }
        int[] order = new int[modelNames.size()];
        boolean[] taken = new boolean[jobNames.size()];
        for (int i = 0; i < modelNames.size(); i++) {
            String name = bare(modelNames.get(i));
            order[i] = -1;
            for (int k = 0; k < jobNames.size(); k++) {
                if (!taken[k] && jobNames.get(k) != null && jobNames.get(k).equals(name)) {
                    order[i] = k;
                    taken[k] = true;
                    break;
                }
            }
            if (order[i] < 0) {
                return null;
            }
        }
        return order;
    }

    /** "serving_default_input_ids:0" -> "input_ids"; other names unchanged. */
    static String bare(String name) {
        if (name == null) {
            return "";
        }
        String s = name;
        int colon = s.lastIndexOf(':');
        if (colon > 0 && s.substring(colon + 1).matches("\\d+")) {
            s = s.substring(0, colon);
        }
        return s.startsWith("serving_default_") ? s.substring("serving_default_".length()) : s;
    }
}
