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
import dev.devicelab.core.Job;
import dev.devicelab.core.JobException;
import dev.devicelab.core.LoadFailures;
import dev.devicelab.core.ModelRuntime;
import dev.devicelab.core.Shapes;
import dev.devicelab.core.Tensor;
import java.io.File;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime for Android on the CPU execution provider (as devicelab/runtimes/onnxruntime.py on the host:
 * intra-op threads = job threads, one inter-op thread, all graph optimizations), or the NNAPI execution
 * provider when job.runtime.delegate is "nnapi". When NNAPI cannot be added the session runs on the CPU
 * provider and {@link #used()} says so.
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
    private String used;

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

    /**
     * The library's own version where its Java API exposes one (OrtEnvironment.getVersion, static or not
     * depending on the release), else the version the app was built with.
     */
    private String nativeVersion(OrtEnvironment environment) {
        try {
            Method getVersion = OrtEnvironment.class.getMethod("getVersion");
            Object v = getVersion.invoke(Modifier.isStatic(getVersion.getModifiers()) ? null : environment);
            if (v instanceof String && !((String) v).isEmpty()) {
                return (String) v;
            }
        } catch (ReflectiveOperationException e) {
            // older API without getVersion: fall through
        } catch (RuntimeException e) {
            // same
        }
        extra.put("ort_version_source", "build pin (the library does not report its version)");
        return artifactVersion;
    }

    @Override
    public void load(File modelFile, Job job) throws Exception {
        String requested = job.runtime.delegate == null ? "cpu" : job.runtime.delegate;
        int threads = job.runtime.threadsOrDefault();
        version();
        if (requested.equals("nnapi")) {
            try {
                session = create(modelFile, threads, true);
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
                session = create(modelFile, threads, false);
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
        extra.put("intra_op_threads", Integer.valueOf(threads));
    }

    private OrtSession create(File modelFile, int threads, boolean nnapi) throws OrtException {
        options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(threads);
        options.setInterOpNumThreads(1);
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (nnapi) {
            if (sdkInt < 27) {
                throw new IllegalStateException("NNAPI needs Android 8.1 (API 27); this is API " + sdkInt);
            }
            options.addNnapi();
        }
        return env.createSession(modelFile.getAbsolutePath(), options);
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
            Tensor x = sample.get(i);
            long[] shape = x.shape();
            ValueInfo info = inputInfo.get(name).getInfo();
            if (!(info instanceof TensorInfo)) {
                throw new JobException("model_run", "input '" + name + "' is not a tensor (" + info + ")");
            }
            TensorInfo tensorInfo = (TensorInfo) info;
            checkShape(name, tensorInfo.getShape(), shape);
            OnnxJavaType type = tensorInfo.type;
            OnnxTensor tensor;
            if (type == OnnxJavaType.FLOAT) {
                tensor = OnnxTensor.createTensor(env, FloatBuffer.wrap(x.toFloatArray()), shape);
            } else if (type == OnnxJavaType.INT64) {
                tensor = OnnxTensor.createTensor(env, LongBuffer.wrap(x.toLongArray()), shape);
            } else if (type == OnnxJavaType.INT32) {
                long[] wide = x.toLongArray();
                int[] narrow = new int[wide.length];
                for (int k = 0; k < wide.length; k++) {
                    narrow[k] = (int) wide[k];
                }
                tensor = OnnxTensor.createTensor(env, IntBuffer.wrap(narrow), shape);
            } else if (type == OnnxJavaType.DOUBLE) {
                float[] f = x.toFloatArray();
                double[] d = new double[f.length];
                for (int k = 0; k < f.length; k++) {
                    d[k] = f[k];
                }
                tensor = OnnxTensor.createTensor(env, DoubleBuffer.wrap(d), shape);
            } else if (type == OnnxJavaType.INT8 || type.name().equals("UINT8")) {
                ByteBuffer bytes = ByteBuffer.allocateDirect(x.elementCount()).order(ByteOrder.nativeOrder());
                if (x.dtype.itemSize == 1) {
                    bytes.put(x.toByteArray());
                } else {
                    for (long v : x.toLongArray()) {
                        bytes.put((byte) v);
                    }
                }
                bytes.rewind();
                tensor = OnnxTensor.createTensor(env, bytes, shape, type);
            } else {
                throw new JobException("model_run", "input '" + name + "' is " + type + ", which the app does not feed",
                        "measure a variant with float or integer inputs");
            }
            created.add(tensor);
            feed.put(name, tensor);
        }
        return feed;
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
                TensorInfo info = tensor.getInfo();
                out.add(Tensor.ofFloat32(info.getShape(), floats(tensor, info)));
            }
            return out;
        } finally {
            result.close();
        }
    }

    private static float[] floats(OnnxTensor tensor, TensorInfo info) {
        OnnxJavaType type = info.type;
        if (type == OnnxJavaType.FLOAT) {
            FloatBuffer b = tensor.getFloatBuffer();
            float[] values = new float[b.remaining()];
            b.get(values);
            return values;
        }
        if (type == OnnxJavaType.DOUBLE) {
            DoubleBuffer b = tensor.getDoubleBuffer();
            float[] values = new float[b.remaining()];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) b.get(i);
            }
            return values;
        }
        if (type == OnnxJavaType.INT64) {
            LongBuffer b = tensor.getLongBuffer();
            float[] values = new float[b.remaining()];
            for (int i = 0; i < values.length; i++) {
                values[i] = b.get(i);
            }
            return values;
        }
        if (type == OnnxJavaType.INT32) {
            IntBuffer b = tensor.getIntBuffer();
            float[] values = new float[b.remaining()];
            for (int i = 0; i < values.length; i++) {
                values[i] = b.get(i);
            }
            return values;
        }
        if (type == OnnxJavaType.INT8 || type == OnnxJavaType.BOOL || type.name().equals("UINT8")) {
            ByteBuffer b = tensor.getByteBuffer();
            boolean signed = type == OnnxJavaType.INT8;
            float[] values = new float[b.remaining()];
            for (int i = 0; i < values.length; i++) {
                values[i] = signed ? b.get(i) : b.get(i) & 0xff;
            }
            return values;
        }
        throw new JobException("model_run", "an output is " + type + ", which the app cannot return as float32");
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
