package dev.devicelab.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A result.json ({@code "schema": "devicelab.result/1"}) being filled in; fields as protocol.Result. */
public final class Result {
    public static final int MAX_MESSAGE = 2000;

    public String jobId;
    public String status = "ok";
    public String errorKind;
    public String errorMessage;
    public String errorHint;
    public final Map<String, Object> device;
    public String runtimeUsed;
    public final Timings timings = new Timings();
    public final List<MemorySample> memory = new ArrayList<MemorySample>();
    public final List<TensorSpec> outputs = new ArrayList<TensorSpec>();
    public final Map<String, Object> extra = new LinkedHashMap<String, Object>();
    public boolean simulated;

    public Result(String jobId, Map<String, Object> device) {
        this.jobId = jobId;
        this.device = new LinkedHashMap<String, Object>(device);
    }

    public boolean ok() {
        return "ok".equals(status);
    }

    /**
     * Turns this into an error result: what was measured so far is dropped (timings, outputs, what ran),
     * what explains the failure is kept (device, memory, extra).
     */
    public void fail(String kind, String message, String hint) {
        status = "error";
        errorKind = kind;
        String text = message == null ? "" : message;
        errorMessage = text.length() > MAX_MESSAGE ? text.substring(0, MAX_MESSAGE) : text;
        errorHint = hint;
        runtimeUsed = null;
        timings.clear();
        outputs.clear();
    }

    /** The document, keys in protocol.Result.to_json order. */
    public Map<String, Object> toJson() {
        Map<String, Object> doc = new LinkedHashMap<String, Object>();
        doc.put("schema", Protocol.RESULT_SCHEMA);
        doc.put("job_id", jobId);
        doc.put("status", status);
        if (ok()) {
            doc.put("error", null);
        } else {
            Map<String, Object> error = new LinkedHashMap<String, Object>();
            error.put("kind", errorKind);
            error.put("message", errorMessage);
            error.put("hint", errorHint);
            doc.put("error", error);
        }
        doc.put("device", device);
        doc.put("runtime_used", runtimeUsed);
        doc.put("timings_ms", timings.toJson());
        List<Object> mem = new ArrayList<Object>();
        for (MemorySample m : memory) {
            mem.add(m.toJson());
        }
        doc.put("memory", mem);
        List<Object> outs = new ArrayList<Object>();
        for (TensorSpec t : outputs) {
            outs.add(t.toJson());
        }
        doc.put("outputs", outs);
        doc.put("extra", extra);
        doc.put("simulated", Boolean.valueOf(simulated));
        return doc;
    }
}
