package dev.devicelab.core;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A job.json ({@code "schema": "devicelab.job/1"}), parsed and checked against the rules of
 * devicelab/schemas/job.schema.json: required fields, types, ranges and relative file paths.
 *
 * <p>Unknown keys are ignored rather than refused, so a slightly newer host does not break an installed
 * app; the host validates every job against the schema before pushing it anyway.
 */
public final class Job {
    private static final Pattern ID = Pattern.compile("^[A-Za-z0-9._-]{1,128}$");
    private static final Pattern SHA256 = Pattern.compile("^[0-9a-f]{64}$");
    private static final String[] FORMATS = {"keras", "savedmodel", "tflite", "coreml", "tfjs", "onnx"};

    public final String id;
    public final ModelRef model;
    public final List<TensorSpec> inputs;
    public final boolean accuracyEnabled;
    public final Performance performance;
    public final RuntimeSpec runtime;
    public final double timeoutSeconds;

    /** model {format, variant, files, sha256}; files[0] is what the runtime opens. */
    public static final class ModelRef {
        public final String format;
        public final String variant;
        public final List<String> files;
        public final String sha256;

        ModelRef(String format, String variant, List<String> files, String sha256) {
            this.format = format;
            this.variant = variant;
            this.files = Collections.unmodifiableList(files);
            this.sha256 = sha256;
        }
    }

    /** performance {enabled, warmup_runs, runs, min_seconds, max_seconds}. */
    public static final class Performance {
        public final boolean enabled;
        public final int warmupRuns;
        public final int runs;
        public final double minSeconds;
        public final double maxSeconds;

        public Performance(boolean enabled, int warmupRuns, int runs, double minSeconds, double maxSeconds) {
            this.enabled = enabled;
            this.warmupRuns = warmupRuns;
            this.runs = runs;
            this.minSeconds = minSeconds;
            this.maxSeconds = maxSeconds;
        }
    }

    /**
     * runtime {name, threads, delegate, backend, compute_units, profile}; all but name may be null; profile
     * (per-operator times from extra runs after the measurement) is false when absent, as older hosts write.
     */
    public static final class RuntimeSpec {
        public final String name;
        public final Integer threads;
        public final String delegate;
        public final String backend;
        public final String computeUnits;
        public final boolean profile;

        RuntimeSpec(String name, Integer threads, String delegate, String backend, String computeUnits,
                    boolean profile) {
            this.name = name;
            this.threads = threads;
            this.delegate = delegate;
            this.backend = backend;
            this.computeUnits = computeUnits;
            this.profile = profile;
        }

        /** The thread count asked for, or 1 (runner.py's default). */
        public int threadsOrDefault() {
            return threads == null ? 1 : threads.intValue();
        }
    }

    private Job(String id, ModelRef model, List<TensorSpec> inputs, boolean accuracyEnabled,
                Performance performance, RuntimeSpec runtime, double timeoutSeconds) {
        this.id = id;
        this.model = model;
        this.inputs = Collections.unmodifiableList(inputs);
        this.accuracyEnabled = accuracyEnabled;
        this.performance = performance;
        this.runtime = runtime;
        this.timeoutSeconds = timeoutSeconds;
    }

    // --- reading -----------------------------------------------------------------------------------------

    /** Reads and checks {@code jobDir/job.json}; every problem is a {@link JobException} of kind protocol. */
    public static Job read(File jobDir) throws IOException {
        File file = new File(jobDir, Protocol.JOB_FILE);
        if (!file.isFile()) {
            throw JobException.protocol("no " + Protocol.JOB_FILE + " in " + jobDir,
                    "push the job folder (job.json, model, inputs) before starting the app");
        }
        return parse(readUtf8(file));
    }

    public static Job parse(String text) {
        Object doc;
        try {
            doc = Json.parse(text);
        } catch (Json.ParseException e) {
            throw JobException.protocol("job.json is not valid JSON: " + e.getMessage());
        }
        return fromJson(doc);
    }

    public static Job fromJson(Object doc) {
        Map<String, Object> top = object(doc, "(top level)");
        // The schema first: a job from another protocol version gets that message, not a missing field.
        Object schema = top.get("schema");
        if (!Protocol.JOB_SCHEMA.equals(schema)) {
            String found = schema == null ? "no schema" : "schema " + Json.write(schema);
            throw JobException.protocol("job.json has " + found + "; this app supports " + Protocol.JOB_SCHEMA,
                    "the app and devicelab are out of step: install the app that comes with this devicelab");
        }
        String id = string(top, "id", "id");
        if (!ID.matcher(id).matches()) {
            throw bad("id", "must match " + ID.pattern() + ", got " + Json.write(id));
        }

        Map<String, Object> m = object(required(top, "model", "model"), "model");
        String format = string(m, "format", "model.format");
        boolean known = false;
        for (String f : FORMATS) {
            known |= f.equals(format);
        }
        if (!known) {
            throw bad("model.format", "must be one of keras, savedmodel, tflite, coreml, tfjs, onnx, got "
                    + Json.write(format));
        }
        String variant = nonEmpty(m, "variant", "model.variant");
        List<Object> rawFiles = array(required(m, "files", "model.files"), "model.files");
        if (rawFiles.isEmpty()) {
            throw bad("model.files", "must name at least one file");
        }
        List<String> files = new ArrayList<String>();
        for (int i = 0; i < rawFiles.size(); i++) {
            files.add(relativePath(rawFiles.get(i), "model.files[" + i + "]"));
        }
        String sha256 = string(m, "sha256", "model.sha256");
        if (!SHA256.matcher(sha256).matches()) {
            throw bad("model.sha256", "must be 64 lowercase hex digits");
        }
        ModelRef model = new ModelRef(format, variant, files, sha256);

        List<Object> rawInputs = array(required(top, "inputs", "inputs"), "inputs");
        if (rawInputs.isEmpty()) {
            throw bad("inputs", "must hold at least one tensor");
        }
        List<TensorSpec> inputs = new ArrayList<TensorSpec>();
        for (int i = 0; i < rawInputs.size(); i++) {
            inputs.add(tensor(rawInputs.get(i), "inputs[" + i + "]"));
        }

        Map<String, Object> accuracy = object(required(top, "accuracy", "accuracy"), "accuracy");
        boolean accuracyEnabled = bool(accuracy, "enabled", "accuracy.enabled");

        Map<String, Object> p = object(required(top, "performance", "performance"), "performance");
        boolean perfEnabled = bool(p, "enabled", "performance.enabled");
        int warmupRuns = integer(p, "warmup_runs", "performance.warmup_runs", 0);
        int runs = integer(p, "runs", "performance.runs", 1);
        double minSeconds = number(p, "min_seconds", "performance.min_seconds");
        if (minSeconds < 0) {
            throw bad("performance.min_seconds", "must be >= 0");
        }
        double maxSeconds = number(p, "max_seconds", "performance.max_seconds");
        if (!(maxSeconds > 0)) {
            throw bad("performance.max_seconds", "must be > 0");
        }
        Performance performance = new Performance(perfEnabled, warmupRuns, runs, minSeconds, maxSeconds);

        Map<String, Object> r = object(required(top, "runtime", "runtime"), "runtime");
        String runtimeName = nonEmpty(r, "name", "runtime.name");
        Integer threads = null;
        if (r.get("threads") != null) {
            threads = Integer.valueOf(integer(r, "threads", "runtime.threads", 1));
        }
        RuntimeSpec runtime = new RuntimeSpec(runtimeName, threads, optionalString(r, "delegate", "runtime.delegate"),
                optionalString(r, "backend", "runtime.backend"),
                optionalString(r, "compute_units", "runtime.compute_units"),
                r.get("profile") != null && bool(r, "profile", "runtime.profile"));

        double timeout = number(top, "timeout_seconds", "timeout_seconds");
        if (!(timeout > 0)) {
            throw bad("timeout_seconds", "must be > 0");
        }
        return new Job(id, model, inputs, accuracyEnabled, performance, runtime, timeout);
    }

    private static TensorSpec tensor(Object raw, String where) {
        Map<String, Object> t = object(raw, where);
        String name = nonEmpty(t, "name", where + ".name");
        String dtype = string(t, "dtype", where + ".dtype");
        if (DType.fromName(dtype) == null) {
            throw bad(where + ".dtype", "must be one of " + DType.names() + ", got " + Json.write(dtype));
        }
        List<Object> dims = array(required(t, "shape", where + ".shape"), where + ".shape");
        long[] shape = new long[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            Object d = dims.get(i);
            String at = where + ".shape[" + i + "]";
            if (!isInteger(d) || ((Number) d).longValue() < 0) {
                throw bad(at, "must be an integer >= 0, got " + Json.write(d));
            }
            shape[i] = ((Number) d).longValue();
        }
        String file = relativePath(required(t, "file", where + ".file"), where + ".file");
        return new TensorSpec(name, dtype, shape, file);
    }

    /** True for ids the schema allows ([A-Za-z0-9._-]{1,128}) that are also usable as one folder name. */
    public static boolean isValidId(String id) {
        return id != null && ID.matcher(id).matches() && !id.equals(".") && !id.equals("..");
    }

    // --- paths -------------------------------------------------------------------------------------------

    /**
     * Why {@code path} may not name a file inside a job or result folder, or null when it may: the schema's
     * relpath rule (not empty, not absolute, no ".." segment, no backslash).
     */
    public static String relativePathProblem(String path) {
        if (path == null || path.isEmpty()) {
            return "is empty";
        }
        if (path.startsWith("/")) {
            return "is absolute; files must be relative to the folder";
        }
        if (path.indexOf('\\') >= 0) {
            return "contains a backslash; use '/'";
        }
        if (path.indexOf('\0') >= 0) {
            return "contains a NUL character";
        }
        for (String segment : path.split("/", -1)) {
            if (segment.equals("..")) {
                return "contains a '..' segment; files must stay inside the folder";
            }
        }
        return null;
    }

    private static String relativePath(Object raw, String where) {
        if (!(raw instanceof String)) {
            throw bad(where, "must be a string, got " + Json.write(raw));
        }
        String path = (String) raw;
        String problem = relativePathProblem(path);
        if (problem != null) {
            throw bad(where, Json.write(path) + " " + problem);
        }
        return path;
    }

    // --- typed access with messages that name the field --------------------------------------------------

    private static JobException bad(String where, String what) {
        return JobException.protocol("job.json: " + where + " " + what,
                "the job does not follow devicelab's job schema; write jobs with devicelab (protocol.write_job checks them)");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object raw, String where) {
        if (!(raw instanceof Map)) {
            throw bad(where, "must be an object, got " + Json.write(raw));
        }
        return (Map<String, Object>) raw;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> array(Object raw, String where) {
        if (!(raw instanceof List)) {
            throw bad(where, "must be an array, got " + Json.write(raw));
        }
        return (List<Object>) raw;
    }

    private static Object required(Map<String, Object> map, String key, String where) {
        if (!map.containsKey(key)) {
            throw bad(where, "is missing");
        }
        return map.get(key);
    }

    private static String string(Map<String, Object> map, String key, String where) {
        Object raw = required(map, key, where);
        if (!(raw instanceof String)) {
            throw bad(where, "must be a string, got " + Json.write(raw));
        }
        return (String) raw;
    }

    private static String nonEmpty(Map<String, Object> map, String key, String where) {
        String s = string(map, key, where);
        if (s.isEmpty()) {
            throw bad(where, "must not be empty");
        }
        return s;
    }

    private static String optionalString(Map<String, Object> map, String key, String where) {
        Object raw = map.get(key);
        if (raw == null) {
            return null;
        }
        if (!(raw instanceof String)) {
            throw bad(where, "must be a string or null, got " + Json.write(raw));
        }
        return (String) raw;
    }

    private static boolean bool(Map<String, Object> map, String key, String where) {
        Object raw = required(map, key, where);
        if (!(raw instanceof Boolean)) {
            throw bad(where, "must be true or false, got " + Json.write(raw));
        }
        return ((Boolean) raw).booleanValue();
    }

    private static double number(Map<String, Object> map, String key, String where) {
        Object raw = required(map, key, where);
        if (!(raw instanceof Number)) {
            throw bad(where, "must be a number, got " + Json.write(raw));
        }
        return ((Number) raw).doubleValue();
    }

    /** An integer as JSON Schema counts them: 5 and 5.0 are, 5.5 is not. */
    private static boolean isInteger(Object raw) {
        if (raw instanceof Long) {
            return true;
        }
        if (raw instanceof Double) {
            double d = ((Double) raw).doubleValue();
            return d == Math.rint(d) && !Double.isInfinite(d) && Math.abs(d) < 9.0e15;
        }
        return false;
    }

    private static int integer(Map<String, Object> map, String key, String where, int minimum) {
        Object raw = required(map, key, where);
        if (!isInteger(raw)) {
            throw bad(where, "must be an integer, got " + Json.write(raw));
        }
        long value = ((Number) raw).longValue();
        if (value < minimum) {
            throw bad(where, "must be >= " + minimum + ", got " + value);
        }
        if (value > Integer.MAX_VALUE) {
            throw bad(where, "is too large: " + value);
        }
        return (int) value;
    }

    static String readUtf8(File file) throws IOException {
        InputStream in = new FileInputStream(file);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buffer = new byte[8192];
            int n;
            while ((n = in.read(buffer)) > 0) {
                out.write(buffer, 0, n);
            }
            return new String(out.toByteArray(), "UTF-8");
        } finally {
            in.close();
        }
    }
}
