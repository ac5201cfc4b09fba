package dev.devicelab.app;

import dev.devicelab.core.Job;
import dev.devicelab.core.JobException;
import dev.devicelab.core.LoadFailures;
import dev.devicelab.core.ModelRuntime;
import dev.devicelab.core.Profiling;
import dev.devicelab.core.Tensor;
import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.pytorch.executorch.DType;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.MethodMetadata;
import org.pytorch.executorch.Module;

/**
 * ExecuTorch .pte programs through the executorch-android AAR (org.pytorch.executorch Module / Tensor / EValue),
 * as devicelab/runtimes/executorch.py does on the host: {@code Module.load(path, LOAD_MODE_MMAP, threads)}, the
 * forward method loaded inside the timed load, one {@code forward(EValue...)} per inference.
 *
 * <p>The program decides where its ops run: the parts devicelab lowered to XNNPACK run on the AAR's XNNPACK backend,
 * the rest on its portable/optimized kernels. job.runtime.delegate may only be "xnnpack" (the default); {@link
 * #used()} names the backends the forward method really delegates to, as the module reports them.
 *
 * <p>Inputs go in with the job tensor's dtype (float32, int64, int32, int8, uint8; float16 widened to float32):
 * jobs are built in the program's own input dtypes. Outputs come back as float32.
 */
final class ExecuTorchRuntime implements ModelRuntime {
    static final String XNNPACK = "XnnpackBackend"; // the backend id the XNNPACK partitioner writes into a .pte
    private final String artifactVersion;
    private final Map<String, Object> extra = new LinkedHashMap<String, Object>();
    private Module module;
    private String used;
    private boolean nativeLoaded;

    ExecuTorchRuntime(String artifactVersion) {
        this.artifactVersion = artifactVersion;
        extra.put("executorch_artifact", "org.pytorch:executorch-android:" + artifactVersion);
    }

    @Override
    public String name() {
        return "executorch";
    }

    @Override
    public String version() {
        if (!nativeLoaded) {
            try {
                // Module's static initializer loads libexecutorch.so: do it here, outside the timed load.
                Class.forName(Module.class.getName(), true, ExecuTorchRuntime.class.getClassLoader());
            } catch (ClassNotFoundException | LinkageError e) {
                throw new JobException("runtime_unavailable", "ExecuTorch's native library did not load on this "
                        + "device: " + e, "the APK may lack this device's ABI (the AAR ships arm64-v8a and x86_64)");
            }
            nativeLoaded = true;
        }
        // The Java API does not report the runtime's version: this is the AAR the app was built with.
        return "executorch-android " + artifactVersion;
    }

    @Override
    public void load(File modelFile, Job job) {
        version();
        int threads = job.runtime.threadsOrDefault();
        try {
            module = Module.load(modelFile.getAbsolutePath(), Module.LOAD_MODE_MMAP, threads);
        } catch (RuntimeException e) {
            throw new JobException("model_run", "ExecuTorch could not load the program: "
                    + LoadFailures.firstLine(String.valueOf(e.getMessage())),
                    "the file may be corrupt, not a .pte, or made by an ExecuTorch newer than this app's " + version());
        }
        int status = module.loadMethod("forward"); // in the timed load, as the host's load_method is
        if (status != 0) {
            throw new JobException("model_run", "ExecuTorch could not load the program's forward method (error 0x"
                    + Integer.toHexString(status) + ")",
                    "the program may need a backend or operator this app's " + version() + " lacks");
        }
        String[] backends = backends(module);
        if (backends == null) {
            used = "executorch (backends not reported by this AAR)";
        } else if (Arrays.asList(backends).contains(XNNPACK)) {
            used = "executorch-xnnpack";
        } else {
            used = "executorch-portable (no delegate in the program)";
        }
        extra.put("executorch_backends", backends == null ? null : Arrays.asList(backends));
        extra.put("threads", Integer.valueOf(threads));
    }

    /** The backends the forward method delegates to, or null when this AAR does not say. */
    private static String[] backends(Module m) {
        try {
            MethodMetadata meta = m.getMethodMetadata("forward");
            return meta == null ? null : meta.getBackends();
        } catch (RuntimeException e) {
            return null;
        }
    }

    @Override
    public String used() {
        return used;
    }

    @Override
    public Object prepare(List<Tensor> sample) {
        EValue[] feed = new EValue[sample.size()];
        for (int i = 0; i < feed.length; i++) {
            feed[i] = EValue.from(toExecuTorch(sample.get(i), i));
        }
        return feed;
    }

    private static org.pytorch.executorch.Tensor toExecuTorch(Tensor x, int index) {
        long[] shape = x.shape();
        switch (x.dtype) {
            case FLOAT32:
            case FLOAT16:
                return org.pytorch.executorch.Tensor.fromBlob(x.toFloatArray(), shape);
            case INT64:
                return org.pytorch.executorch.Tensor.fromBlob(x.toLongArray(), shape);
            case INT32: {
                long[] wide = x.toLongArray();
                int[] narrow = new int[wide.length];
                for (int k = 0; k < wide.length; k++) {
                    narrow[k] = (int) wide[k];
                }
                return org.pytorch.executorch.Tensor.fromBlob(narrow, shape);
            }
            case INT8:
                return org.pytorch.executorch.Tensor.fromBlob(x.toByteArray(), shape);
            case UINT8:
                return org.pytorch.executorch.Tensor.fromBlobUnsigned(x.toByteArray(), shape);
            default:
                throw new JobException("model_run", "input " + index + " is " + x.dtype + ", which ExecuTorch's Java "
                        + "API cannot feed", "export the program with float or integer inputs");
        }
    }

    @Override
    public Object run(Object feed) {
        return module.forward((EValue[]) feed);
    }

    @Override
    public List<Tensor> finish(Object raw) {
        EValue[] values = (EValue[]) raw;
        List<Tensor> out = new ArrayList<Tensor>(values.length);
        for (int k = 0; k < values.length; k++) {
            if (!values[k].isTensor()) {
                throw new JobException("model_run", "output " + k + " of the program is not a tensor", null);
            }
            org.pytorch.executorch.Tensor t = values[k].toTensor();
            out.add(Tensor.ofFloat32(t.shape(), floats(t, k)));
        }
        return out;
    }

    private static float[] floats(org.pytorch.executorch.Tensor t, int index) {
        DType dtype = t.dtype();
        if (dtype == DType.FLOAT) {
            return t.getDataAsFloatArray();
        }
        float[] values = new float[(int) t.numel()];
        if (dtype == DType.DOUBLE) {
            double[] d = t.getDataAsDoubleArray();
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) d[i];
            }
        } else if (dtype == DType.INT64) {
            long[] l = t.getDataAsLongArray();
            for (int i = 0; i < values.length; i++) {
                values[i] = l[i];
            }
        } else if (dtype == DType.INT32) {
            int[] n = t.getDataAsIntArray();
            for (int i = 0; i < values.length; i++) {
                values[i] = n[i];
            }
        } else if (dtype == DType.INT8) {
            byte[] b = t.getDataAsByteArray();
            for (int i = 0; i < values.length; i++) {
                values[i] = b[i];
            }
        } else if (dtype == DType.UINT8) {
            byte[] b = t.getDataAsUnsignedByteArray();
            for (int i = 0; i < values.length; i++) {
                values[i] = b[i] & 0xff;
            }
        } else {
            throw new JobException("model_run", "output " + index + " is " + dtype + ", which the app cannot return "
                    + "as float32", null);
        }
        return values;
    }

    /** job.runtime.profile: no table, and why (the Maven AAR has no event tracer compiled in), instead of a guess. */
    @Override
    public Map<String, Object> profile(List<Object> feeds, File resultDir) {
        return Profiling.unavailable(Profiling.EXECUTORCH_NO_PER_OP);
    }

    @Override
    public Map<String, Object> extra() {
        return extra;
    }

    @Override
    public void close() {
        if (module != null) {
            module.destroy();
            module = null;
        }
    }
}
