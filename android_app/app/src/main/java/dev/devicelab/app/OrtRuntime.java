package dev.devicelab.app;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import ai.onnxruntime.ValueInfo;
import ai.onnxruntime.providers.NNAPIFlags;
import dev.devicelab.core.DType;
import dev.devicelab.core.InputOrder;
import dev.devicelab.core.Job;
import dev.devicelab.core.JobException;
import dev.devicelab.core.LoadFailures;
import dev.devicelab.core.ModelRuntime;
import dev.devicelab.core.OrtProfile;
import dev.devicelab.core.Profiling;
import dev.devicelab.core.Shapes;
import dev.devicelab.core.Tensor;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime for Android on the CPU execution provider (as devicelab/runtimes/onnxruntime.py on the host:
 * intra-op threads = job threads, one inter-op thread, all graph optimizations), or the NNAPI execution
 * provider when job.runtime.delegate is "nnapi". When NNAPI cannot be added the session runs on the CPU
 * provider and {@link #used()} says so.
 *
 * <p>NNAPI is added with CPU_DISABLED: without it ORT lets NNAPI use its slow CPU reference implementation
 * (nnapi-reference), which TFLite's delegate does not, so "nnapi" would mean different things in the two
 * runtimes. Nodes NNAPI cannot take then run on ORT's own CPU provider; how many ran where is read from one
 * profiled inference after the measurement (extra.nodes_by_provider) and named in {@link #used()}. When the job
 * asks for a profile, {@link #profile} ships ORT's raw per-node profile of 11 more inferences to the host.
 *
 * <p>Inputs are matched by name, fed in the dtype the model declares (float32/16, int8/uint8, int32, int64, bool)
 * with the shape of the job's data, so free dimensions take the data's size. Outputs keep integer and bool
 * dtypes; float16 and double come back as float32.
 */
final class OrtRuntime implements ModelRuntime {
    private final String artifactVersion;
    private final int sdkInt;
    private final Map<String, Object> extra = new LinkedHashMap<String, Object>();
    private final List<OnnxTensor> created = new ArrayList<OnnxTensor>();
    private OrtEnvironment env;
    private String ortVersion;
    private OrtSession.SessionOptions options;
    private OrtSession session;
    private List<String> inputNames = new ArrayList<String>();
    private List<String> outputNames = new ArrayList<String>();
    private Map<String, NodeInfo> inputInfo;
    private int[] inputOrder; // inputOrder[session input] = job input
    private String used;
    private String requested;
    private File modelFile;
    private int threads;
    private boolean profiled;
    private boolean nnapiSession; // the measured session has the NNAPI provider: the profiled one gets it too

    OrtRuntime(String artifactVersion, int sdkInt) {
        this.artifactVersion = artifactVersion;
        this.sdkInt = sdkInt;
        extra.put("ort_artifact", "com.microsoft.onnxruntime:onnxruntime-android:" + artifactVersion);
    }

    @Override
    public String name() {
        return "onnxruntime";
    }

    @Override
    public String version() {
        if (env == null) {
            try {
                env = OrtEnvironment.getEnvironment(); // loads the native library, outside the timed load
            } catch (UnsatisfiedLinkError e) {
                throw new JobException("runtime_unavailable", "ONNX Runtime's native library did not load on this "
                        + "device: " + e.getMessage(), "the APK may lack this device's ABI; build it with every ABI", e);
            }
            ortVersion = nativeVersion(env);
            extra.put("ort_version", ortVersion);
            extra.put("ort_providers", String.valueOf(OrtEnvironment.getAvailableProviders()));
        }
        return "onnxruntime " + ortVersion;
    }

    /** The native library's own version (OrtEnvironment.getVersion), else the version the app was built with. */
    private String nativeVersion(OrtEnvironment environment) {
        String v = environment.getVersion();
        if (v != null && !v.isEmpty()) {
            return v;
        }
        extra.put("ort_version_source", "build pin (the library did not report its version)");
        return artifactVersion;
    }

    @Override
    public void load(File modelFile, Job job) throws Exception {
        requested = job.runtime.delegate == null ? "cpu" : job.runtime.delegate;
        threads = job.runtime.threadsOrDefault();
        this.modelFile = modelFile;
        version();
        if (requested.equals("nnapi")) {
            try {
                session = create(modelFile, threads, true, null);
                nnapiSession = true;
                used = "onnxruntime-NnapiExecutionProvider";
            } catch (Throwable failure) {
                closeSession();
                String reason = LoadFailures.firstLine(messageOf(failure));
                extra.put("execution_provider_error", reason);
                used = "onnxruntime-CPUExecutionProvider (nnapi execution provider failed: " + reason + ")";
            }
        }
        if (session == null) {
            try {
                session = create(modelFile, threads, false, null);
            } catch (OrtException e) {
                throw LoadFailures.onnxRuntime(e.getMessage(), version());
            } catch (RuntimeException e) {
                throw LoadFailures.onnxRuntime(messageOf(e), version());
            }
            if (used == null) {
                used = "onnxruntime-CPUExecutionProvider";
            }
        }
        inputNames = new ArrayList<String>(session.getInputNames());
        outputNames = new ArrayList<String>(session.getOutputNames());
        inputInfo = session.getInputInfo();
        if (inputNames.size() != job.inputs.size()) {
            throw new JobException("model_run", "the model has " + inputNames.size() + " inputs " + inputNames
                    + "; the job gives " + job.inputs.size(), "the job was built for another model");
        }
        List<String> jobNames = new ArrayList<String>();
        for (dev.devicelab.core.TensorSpec spec : job.inputs) {
            jobNames.add(spec.name);
        }
        int[] byName = InputOrder.match(inputNames, jobNames);
        inputOrder = new int[inputNames.size()];
        for (int i = 0; i < inputOrder.length; i++) {
            inputOrder[i] = byName != null ? byName[i] : i;
        }
        extra.put("input_order", byName != null ? "by name" : "by position");
        extra.put("intra_op_threads", Integer.valueOf(threads));
        if (requested.equals("nnapi")) {
            extra.put("nnapi_flags", "CPU_DISABLED (no nnapi-reference)");
        }
    }

    /** A session; {@code profile} (a file prefix) switches ONNX Runtime's profiler on, for the placement run. */
    private OrtSession create(File model, int threadCount, boolean nnapi, String profile) throws OrtException {
        OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
        opts.setIntraOpNumThreads(threadCount);
        opts.setInterOpNumThreads(1);
        opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (nnapi) {
            if (sdkInt < 27) {
                opts.close();
                throw new IllegalStateException("NNAPI needs Android 8.1 (API 27); this is API " + sdkInt);
            }
            opts.addNnapi(EnumSet.of(NNAPIFlags.CPU_DISABLED));
        }
        if (profile != null) {
            opts.enableProfiling(profile);
            try {
                return env.createSession(model.getAbsolutePath(), opts);
            } finally {
                opts.close();
            }
        }
        options = opts;
        return env.createSession(model.getAbsolutePath(), opts);
    }

    /**
     * After the measurement, untimed: one inference in a second, profiled session with the same options, to learn
     * which provider ran each node. A profiler in the measured session would weigh on every timed run.
     */
    @Override
    public void afterMeasurement(Object feed) {
        if (profiled || !requested.equals("nnapi") || !used.startsWith("onnxruntime-NnapiExecutionProvider")) {
            return;
        }
        profiled = true;
        File prefix = new File(modelFile.getParentFile(), "ort-placement");
        OrtSession probe = null;
        String path = null;
        try {
            probe = create(modelFile, threads, true, prefix.getAbsolutePath());
            @SuppressWarnings("unchecked")
            Map<String, OnnxTensor> inputs = (Map<String, OnnxTensor>) feed;
            probe.run(inputs).close();
            path = probe.endProfiling();
            Map<String, Integer> counts = OrtProfile.nodesByProvider(readFile(new File(path)));
            extra.put("nodes_by_provider", counts);
            Double share = OrtProfile.share(counts, "NnapiExecutionProvider");
            extra.put("accelerated_node_share", share);
            int onNnapi = counts.containsKey("NnapiExecutionProvider")
                    ? counts.get("NnapiExecutionProvider").intValue() : 0;
            int total = 0;
            for (Integer n : counts.values()) {
                total += n.intValue();
            }
            used = onNnapi == 0 ? "onnxruntime-CPUExecutionProvider (nnapi took no node of the graph)"
                    : "onnxruntime-NnapiExecutionProvider (" + onNnapi + " of " + total + " nodes on NNAPI)";
        } catch (Exception e) { // placement is a courtesy: the measurement stands without it
            extra.put("nodes_by_provider_error", messageOf(e));
        } finally {
            if (probe != null) {
                try {
                    probe.close();
                } catch (OrtException ignored) {
                    // best effort
                }
            }
            if (path != null && !new File(path).delete()) {
                extra.put("profile_left_at", path);
            }
        }
    }

    /**
     * job.runtime.profile: {@link Profiling#RUNS} inferences over the job's samples in a second session with the
     * measured session's options plus enableProfiling, after everything measured. ONNX Runtime writes its
     * Chrome-trace JSON (one Node event per kernel run with op_name and provider, one model_run per inference) to
     * prefix_TIMESTAMP.json at endProfiling(); it is moved to the result folder, and the host turns it into the
     * same per-operator table as the PC's ONNX Runtime (devicelab.explain.profile.summarize_ort).
     */
    @Override
    public Map<String, Object> profile(List<Object> feeds, File resultDir) throws Exception {
        File folder = new File(resultDir, Profiling.DIR);
        if (!folder.isDirectory() && !folder.mkdirs()) {
            throw new java.io.IOException("cannot create " + folder);
        }
        OrtSession probe = create(modelFile, threads, nnapiSession, new File(folder, "ort").getAbsolutePath());
        String path;
        try {
            for (int r = 0; r < Profiling.RUNS; r++) {
                @SuppressWarnings("unchecked")
                Map<String, OnnxTensor> inputs = (Map<String, OnnxTensor>) feeds.get(Profiling.feedIndex(r,
                        feeds.size()));
                probe.run(inputs).close();
            }
            path = probe.endProfiling();
        } finally {
            probe.close();
        }
        Profiling.claim(new File(path), resultDir, Profiling.ORT_FILE);
        return Profiling.shipped(Profiling.ORT_FILE, Profiling.RUNS, "onnxruntime session profiling (onnxruntime "
                + ortVersion + " on the device, " + (nnapiSession ? "NNAPI execution provider + CPU" : "CPU")
                + " execution provider)");
    }

    private static String readFile(File file) throws java.io.IOException {
        java.io.InputStream in = new java.io.FileInputStream(file);
        try {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            byte[] chunk = new byte[8192];
            int n;
            while ((n = in.read(chunk)) > 0) {
                out.write(chunk, 0, n);
            }
            return out.toString("UTF-8");
        } finally {
            in.close();
        }
    }

    @Override
    public String used() {
        return used;
    }

    @Override
    public Object prepare(List<Tensor> sample) throws OrtException {
        Map<String, OnnxTensor> feed = new LinkedHashMap<String, OnnxTensor>();
        for (int i = 0; i < inputNames.size(); i++) {
            String name = inputNames.get(i);
            Tensor x = sample.get(inputOrder[i]);
            long[] shape = x.shape(); // the data's shape: free dimensions take its size
            ValueInfo info = inputInfo.get(name).getInfo();
            if (!(info instanceof TensorInfo)) {
                throw new JobException("model_run", "input '" + name + "' is not a tensor (" + info + ")");
            }
            TensorInfo tensorInfo = (TensorInfo) info;
            checkShape(name, tensorInfo.getShape(), shape);
            OnnxTensor tensor = tensor(name, tensorInfo.type, x, shape);
            created.add(tensor);
            feed.put(name, tensor);
        }
        return feed;
    }

    /** {@code x} as an ORT tensor of the dtype the model declares (direct little-endian buffers, no float trip). */
    private OnnxTensor tensor(String name, OnnxJavaType type, Tensor x, long[] shape) throws OrtException {
        if (type == OnnxJavaType.FLOAT) {
            return OnnxTensor.createTensor(env, FloatBuffer.wrap(x.toFloatArray()), shape);
        }
        if (type == OnnxJavaType.INT64) {
            return OnnxTensor.createTensor(env, direct(x.toInt64Bytes()).asLongBuffer(), shape);
        }
        if (type == OnnxJavaType.INT32) {
            return OnnxTensor.createTensor(env, direct(x.toInt32Bytes()).asIntBuffer(), shape);
        }
        if (type == OnnxJavaType.FLOAT16) {
            ShortBuffer half = direct(x.toFloat16Bytes()).asShortBuffer();
            return OnnxTensor.createTensor(env, half, shape, OnnxJavaType.FLOAT16);
        }
        if (type == OnnxJavaType.DOUBLE) {
            float[] f = x.toFloatArray();
            double[] d = new double[f.length];
            for (int k = 0; k < f.length; k++) {
                d[k] = f[k];
            }
            return OnnxTensor.createTensor(env, DoubleBuffer.wrap(d), shape);
        }
        if (type == OnnxJavaType.INT8 || type == OnnxJavaType.UINT8 || type == OnnxJavaType.BOOL) {
            DType target = type == OnnxJavaType.INT8 ? DType.INT8 : type == OnnxJavaType.UINT8 ? DType.UINT8
                    : DType.BOOL;
            return OnnxTensor.createTensor(env, direct(x.toBytes8(target)), shape, type);
        }
        throw new JobException("model_run", "input '" + name + "' is " + type + ", which the app does not feed",
                "measure a variant with float, integer or bool inputs");
    }

    /** A direct buffer in native order holding the job's little-endian bytes (Android is little-endian). */
    private static ByteBuffer direct(byte[] littleEndian) {
        ByteBuffer b = ByteBuffer.allocateDirect(littleEndian.length).order(ByteOrder.nativeOrder());
        b.put(ByteBuffer.wrap(littleEndian).order(ByteOrder.LITTLE_ENDIAN));
        b.rewind();
        return b;
    }

    private static void checkShape(String name, long[] want, long[] got) {
        boolean ok = want.length == got.length;
        for (int d = 0; ok && d < want.length; d++) {
            ok = want[d] < 0 || want[d] == got[d];
        }
        if (!ok) {
            throw new JobException("model_run", "input '" + name + "' must be " + Shapes.format(want)
                    + ", the job gives " + Shapes.format(got), "the job was built for another model");
        }
    }

    @Override
    @SuppressWarnings("unchecked")
    public Object run(Object feed) throws OrtException {
        return session.run((Map<String, OnnxTensor>) feed); // outputs come back as native tensors
    }

    @Override
    public List<Tensor> finish(Object raw) throws OrtException {
        OrtSession.Result result = (OrtSession.Result) raw;
        try {
            List<Tensor> out = new ArrayList<Tensor>(result.size());
            for (int k = 0; k < result.size(); k++) {
                OnnxValue value = result.get(k);
                if (!(value instanceof OnnxTensor)) {
                    throw new JobException("model_run", "output " + k + " is not a tensor", null);
                }
                OnnxTensor tensor = (OnnxTensor) value;
                out.add(toTensor(tensor, tensor.getInfo()));
            }
            return out;
        } finally {
            result.close();
        }
    }

    /** An output in its own dtype where the protocol has it (integers, bool); floats as float32. */
    private static Tensor toTensor(OnnxTensor tensor, TensorInfo info) {
        OnnxJavaType type = info.type;
        long[] shape = info.getShape();
        if (type == OnnxJavaType.FLOAT) {
            FloatBuffer b = tensor.getFloatBuffer();
            float[] values = new float[b.remaining()];
            b.get(values);
            return Tensor.ofFloat32(shape, values);
        }
        if (type == OnnxJavaType.DOUBLE || type == OnnxJavaType.FLOAT16) {
            float[] values;
            if (type == OnnxJavaType.DOUBLE) {
                DoubleBuffer b = tensor.getDoubleBuffer();
                values = new float[b.remaining()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) b.get(i);
                }
            } else {
                ShortBuffer b = tensor.getShortBuffer();
                values = new float[b.remaining()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = Tensor.halfToFloat(b.get(i));
                }
            }
            return Tensor.ofFloat32(shape, values);
        }
        if (type == OnnxJavaType.INT64) {
            LongBuffer b = tensor.getLongBuffer();
            long[] values = new long[b.remaining()];
            b.get(values);
            return Tensor.ofInt64(shape, values);
        }
        if (type == OnnxJavaType.INT32) {
            IntBuffer b = tensor.getIntBuffer();
            int[] values = new int[b.remaining()];
            b.get(values);
            return Tensor.ofInt32(shape, values);
        }
        if (type == OnnxJavaType.INT8 || type == OnnxJavaType.UINT8 || type == OnnxJavaType.BOOL) {
            ByteBuffer b = tensor.getByteBuffer();
            byte[] values = new byte[b.remaining()];
            b.get(values);
            DType dtype = type == OnnxJavaType.INT8 ? DType.INT8 : type == OnnxJavaType.UINT8 ? DType.UINT8
                    : DType.BOOL;
            return Tensor.ofBytes8(dtype, shape, values);
        }
        throw new JobException("model_run", "an output is " + type + ", which the app cannot return");
    }

    @Override
    public void release(Object raw) {
        ((OrtSession.Result) raw).close();
    }

    @Override
    public List<String> outputNames() {
        return outputNames;
    }

    @Override
    public Map<String, Object> extra() {
        return extra;
    }

    @Override
    public void close() {
        for (OnnxTensor t : created) {
            t.close();
        }
        created.clear();
        closeSession();
    }

    private void closeSession() {
        if (session != null) {
            try {
                session.close();
            } catch (Exception ignored) {
                // closing is best effort
            }
            session = null;
        }
        if (options != null) {
            options.close();
            options = null;
        }
    }

    private static String messageOf(Throwable t) {
        String message = t.getMessage();
        return t.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }
}
