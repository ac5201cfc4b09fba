package dev.devicelab.app;

import dev.devicelab.core.DType;
import dev.devicelab.core.InputOrder;
import dev.devicelab.core.Job;
import dev.devicelab.core.JobException;
import dev.devicelab.core.LoadFailures;
import dev.devicelab.core.ModelRuntime;
import dev.devicelab.core.Profiling;
import dev.devicelab.core.Quant;
import dev.devicelab.core.Shapes;
import dev.devicelab.core.Tensor;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.TensorFlowLite;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;
import org.tensorflow.lite.gpu.GpuDelegateFactory;
import org.tensorflow.lite.nnapi.NnApiDelegate;

/**
 * LiteRT (the TFLite runtime, com.google.ai.edge.litert:litert) through org.tensorflow.lite.Interpreter.
 * job.runtime.delegate:
 * <ul>
 *   <li>cpu: the builtin kernels, XNNPACK switched off;
 *   <li>xnnpack (default): TFLite's default CPU delegate;
 *   <li>gpu: GpuDelegate with the options CompatibilityList recommends, when the list supports this device;
 *   <li>nnapi: NnApiDelegate (Android 8.1+) without NNAPI's CPU reference implementation (nnapi-reference), as
 *       ONNX Runtime's NNAPI provider is run with CPU_DISABLED: "nnapi" means an accelerator in both runtimes.
 * </ul>
 * When gpu or nnapi cannot be applied the model runs on XNNPACK and {@link #used()} says so, with the reason:
 * "tflite-xnnpack (gpu delegate failed: ...)". A model the runtime cannot run at all (an op or op version it
 * lacks) is a model_run error naming the op, its version and this TFLite's version.
 *
 * <p>Every input is fed in the dtype the model declares: integer token ids and masks stay integers (exactly, from
 * the job's own int32/int64/bool data), float samples of int8/uint8-I/O models are quantized with the input
 * tensor's (scale, zero point) in {@link #prepare}. Dimensions the model leaves free (-1 in shapeSignature) are
 * sized from the job's data with resizeInput, then allocateTensors. Quantized outputs are dequantized to float32
 * in {@link #finish}, integer and bool outputs keep their dtype; all of it outside the timed region.
 *
 * <p>How much of the graph a delegate took is not reported by the Interpreter API; extra.delegated_nodes says so.
 */
final class TfliteRuntime implements ModelRuntime {
    private final String artifactVersion;
    private final int sdkInt;
    private final Map<String, Object> extra = new LinkedHashMap<String, Object>();
    private String runtimeVersion;
    private Interpreter interpreter;
    private GpuDelegate gpuDelegate;
    private NnApiDelegate nnApiDelegate;
    private String used;
    private int inputCount;
    private List<long[]> dataShapes;
    private List<String> jobInputNames;
    private int[] inputOrder; // inputOrder[model input] = job input
    private ByteBuffer[] outputs;
    private final Map<Integer, Object> outputMap = new HashMap<Integer, Object>();
    private DataType[] outputTypes;
    private List<String> outputNames = new ArrayList<String>();

    /** The delegate could not be applied here; the model falls back to XNNPACK. */
    private static final class DelegateUnavailable extends RuntimeException {
        private static final long serialVersionUID = 1L;

        DelegateUnavailable(String message) {
            super(message);
        }
    }

    TfliteRuntime(String artifactVersion, int sdkInt) {
        this.artifactVersion = artifactVersion;
        this.sdkInt = sdkInt;
        extra.put("litert_artifact", "com.google.ai.edge.litert:litert:" + artifactVersion);
    }

    @Override
    public String name() {
        return "tflite";
    }

    /** "litert 1.4.0 (native runtime 2.x.y)": the artifact the APK carries and what its native library says. */
    @Override
    public String version() {
        return "litert " + artifactVersion + " (native runtime " + runtimeVersion() + ")";
    }

    /** The native library's own version (it loads here, outside the timed load). */
    private String runtimeVersion() {
        if (runtimeVersion == null) {
            try {
                runtimeVersion = TensorFlowLite.runtimeVersion();
                extra.put("tflite_version", runtimeVersion);
                extra.put("tflite_schema_version", TensorFlowLite.schemaVersion());
            } catch (UnsatisfiedLinkError e) {
                throw new JobException("runtime_unavailable", "TFLite's native library did not load on this device: "
                        + e.getMessage(), "the APK may lack this device's ABI; build it with every ABI", e);
            }
        }
        return runtimeVersion;
    }

    @Override
    public void load(File modelFile, Job job) throws IOException {
        String requested = job.runtime.delegate == null ? "xnnpack" : job.runtime.delegate;
        int threads = job.runtime.threadsOrDefault();
        dataShapes = sampleShapes(job);
        jobInputNames = new ArrayList<String>();
        for (dev.devicelab.core.TensorSpec spec : job.inputs) {
            jobInputNames.add(spec.name);
        }
        MappedByteBuffer model = map(modelFile);
        if (requested.equals("gpu") || requested.equals("nnapi")) {
            try {
                interpreter = create(model, threads, requested);
                prepareTensors(); // a delegate may also fail when tensors are allocated
                used = "tflite-" + requested;
            } catch (Throwable failure) { // also NoClassDefFoundError / UnsatisfiedLinkError from delegate libraries
                closeInterpreter();
                closeDelegates();
                String reason = messageOf(failure);
                if (LoadFailures.isMissingTfliteOp(reason)) {
                    throw LoadFailures.tflite(reason, version()); // no delegate helps: the runtime lacks the op
                }
                extra.put("delegate_error", reason);
                used = "tflite-xnnpack (" + requested + " delegate failed: " + LoadFailures.firstLine(reason) + ")";
            }
        }
        if (interpreter == null) {
            String base = requested.equals("cpu") ? "cpu" : "xnnpack";
            try {
                interpreter = create(model, threads, base);
                prepareTensors();
            } catch (RuntimeException e) {
                closeInterpreter();
                throw LoadFailures.tflite(messageOf(e), version());
            }
            if (used == null) {
                used = base.equals("cpu") ? "tflite-cpu (builtin kernels)" : "tflite-xnnpack";
            }
        }
        if (job.inputs.size() != inputCount) {
            throw new JobException("model_run", "the model has " + inputCount + " inputs; the job gives "
                    + job.inputs.size(), "the job was built for another model");
        }
        extra.put("delegated_nodes", requested.equals("gpu") || requested.equals("nnapi")
                ? "not reported by the TFLite Interpreter API (a delegate may take part of the graph)" : null);
        extra.put("delegate_used", used.startsWith("tflite-gpu") ? "gpu" : used.startsWith("tflite-nnapi") ? "nnapi"
                : used.startsWith("tflite-cpu") ? "cpu" : "xnnpack");
        extra.put("threads_used", Integer.valueOf(threads));
        if (nnApiDelegate != null) {
            extra.put("nnapi_errno", Integer.valueOf(nnApiDelegate.getNnapiErrno()));
            extra.put("nnapi_cpu_reference_allowed", Boolean.FALSE);
        }
    }

    /** Each job input's per-sample shape: [1, rest of the data's shape] (a batch of 1, as runner.py feeds). */
    private static List<long[]> sampleShapes(Job job) {
        List<long[]> shapes = new ArrayList<long[]>();
        for (dev.devicelab.core.TensorSpec spec : job.inputs) {
            long[] one = spec.shape.clone();
            if (one.length > 0) {
                one[0] = 1;
            }
            shapes.add(one);
        }
        return shapes;
    }

    private static MappedByteBuffer map(File file) throws IOException {
        FileInputStream in = new FileInputStream(file);
        try {
            FileChannel channel = in.getChannel();
            return channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size()); // stays valid once closed
        } finally {
            in.close();
        }
    }

    private Interpreter create(MappedByteBuffer model, int threads, String delegate) {
        Interpreter.Options options = new Interpreter.Options();
        options.setNumThreads(threads);
        if (delegate.equals("cpu")) {
            options.setUseXNNPACK(false);
        } else if (delegate.equals("xnnpack")) {
            options.setUseXNNPACK(true);
        } else if (delegate.equals("gpu")) {
            CompatibilityList compatibility = new CompatibilityList();
            try {
                if (!compatibility.isDelegateSupportedOnThisDevice()) {
                    throw new DelegateUnavailable("this GPU is not on TFLite's GPU compatibility list");
                }
                GpuDelegateFactory.Options gpuOptions = compatibility.getBestOptionsForThisDevice();
                extra.put("gpu_precision_loss_allowed", Boolean.valueOf(gpuOptions.isPrecisionLossAllowed()));
                gpuDelegate = new GpuDelegate(gpuOptions);
            } finally {
                compatibility.close();
            }
            options.addDelegate(gpuDelegate);
        } else if (delegate.equals("nnapi")) {
            if (sdkInt < 27) {
                throw new DelegateUnavailable("NNAPI needs Android 8.1 (API 27); this is API " + sdkInt);
            }
            // No nnapi-reference: "nnapi" means an accelerator, as ONNX Runtime's CPU_DISABLED flag makes it there.
            nnApiDelegate = new NnApiDelegate(new NnApiDelegate.Options().setUseNnapiCpu(false));
            options.addDelegate(nnApiDelegate);
        }
        return new Interpreter(model, options);
    }

    /**
     * Maps job inputs to model inputs (by name where the names match, else in order), sizes every free dimension
     * from the job's data (resizeInput), allocates, and makes the output buffers run() reuses.
     */
    private void prepareTensors() {
        inputCount = interpreter.getInputTensorCount();
        inputOrder = new int[inputCount];
        List<String> names = new ArrayList<String>();
        for (int i = 0; i < inputCount; i++) {
            names.add(interpreter.getInputTensor(i).name());
        }
        List<String> wanted = new ArrayList<String>();
        for (int k = 0; k < dataShapes.size(); k++) {
            wanted.add(jobInputNames == null ? null : jobInputNames.get(k));
        }
        int[] byName = InputOrder.match(names, wanted);
        boolean resized = false;
        for (int i = 0; i < inputCount; i++) {
            inputOrder[i] = byName != null ? byName[i] : i;
            if (inputOrder[i] >= dataShapes.size()) {
                continue; // more model inputs than job inputs: load() reports it
            }
            int[] signature = interpreter.getInputTensor(i).shapeSignature();
            long[] data = dataShapes.get(inputOrder[i]);
            boolean free = false;
            for (int d : signature) {
                free |= d < 0;
            }
            if (!free) {
                continue;
            }
            if (signature.length != data.length) {
                throw new JobException("model_run", "input '" + names.get(i) + "' has " + signature.length
                        + " dimensions " + Shapes.format(signature) + ", the job's data " + data.length + " "
                        + Shapes.format(data), "the job was built for another model");
            }
            int[] shape = new int[signature.length];
            for (int d = 0; d < signature.length; d++) {
                shape[d] = signature[d] < 0 ? (int) data[d] : signature[d];
            }
            interpreter.resizeInput(i, shape);
            resized = true;
        }
        interpreter.allocateTensors();
        extra.put("resized_inputs_from_data", Boolean.valueOf(resized));
        extra.put("input_order", byName != null ? "by name" : "by position");
        int count = interpreter.getOutputTensorCount();
        outputs = new ByteBuffer[count];
        outputTypes = new DataType[count];
        outputNames = new ArrayList<String>();
        outputMap.clear();
        for (int k = 0; k < count; k++) {
            org.tensorflow.lite.Tensor out = interpreter.getOutputTensor(k);
            outputs[k] = ByteBuffer.allocateDirect(out.numBytes()).order(ByteOrder.nativeOrder());
            outputTypes[k] = out.dataType();
            outputNames.add(out.name());
            outputMap.put(Integer.valueOf(k), outputs[k]);
        }
    }

    @Override
    public String used() {
        return used;
    }

    @Override
    public Object prepare(List<Tensor> sample) {
        Object[] feed = new Object[inputCount];
        for (int i = 0; i < inputCount; i++) {
            org.tensorflow.lite.Tensor input = interpreter.getInputTensor(i);
            Tensor x = sample.get(inputOrder[i]);
            if (x.elementCount() != input.numElements()) {
                throw new JobException("model_run", "input '" + input.name() + "' must be "
                        + Shapes.format(input.shape()) + ", the job gives " + Shapes.format(x.shape()),
                        "the job was built for another model");
            }
            DataType type = input.dataType();
            byte[] bytes;
            if (type == DataType.FLOAT32) {
                bytes = x.dtype == DType.FLOAT32 ? x.toByteArray() : Tensor.ofFloat32(x.shape(), x.toFloatArray())
                        .toByteArray();
            } else if (type == DataType.INT8 || type == DataType.UINT8) {
                bytes = quantized(x, type, input.quantizationParams());
            } else if (type == DataType.INT32) {
                bytes = x.toInt32Bytes();
            } else if (type == DataType.INT64) {
                bytes = x.toInt64Bytes();
            } else if (type == DataType.BOOL) {
                bytes = x.toBytes8(DType.BOOL);
            } else {
                throw new JobException("model_run", "input '" + input.name() + "' is " + type
                        + ", which the app does not feed", "measure a variant with float, integer or bool inputs");
            }
            // The job's bytes are little-endian; the interpreter reads native order (little-endian on Android).
            ByteBuffer buffer = ByteBuffer.allocateDirect(bytes.length).order(ByteOrder.nativeOrder());
            buffer.put(ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN));
            buffer.rewind();
            feed[i] = buffer;
        }
        return feed;
    }

    /** int8/uint8 input bytes: raw when the job already holds that dtype, else quantized float samples. */
    private static byte[] quantized(Tensor x, DataType type, org.tensorflow.lite.Tensor.QuantizationParams q) {
        boolean int8 = type == DataType.INT8;
        if ((int8 && x.dtype == DType.INT8) || (!int8 && x.dtype == DType.UINT8)) {
            return x.toByteArray();
        }
        float[] values = x.toFloatArray();
        if (q.getScale() != 0) {
            return int8 ? Quant.quantizeInt8(values, q.getScale(), q.getZeroPoint())
                    : Quant.quantizeUint8(values, q.getScale(), q.getZeroPoint());
        }
        byte[] cast = new byte[values.length]; // not quantized: a plain cast, as numpy's astype
        for (int i = 0; i < values.length; i++) {
            cast[i] = (byte) (int) values[i];
        }
        return cast;
    }

    @Override
    public Object run(Object feed) {
        for (ByteBuffer out : outputs) {
            out.rewind(); // the interpreter copies outputs in at the buffer's position
        }
        interpreter.runForMultipleInputsOutputs((Object[]) feed, outputMap);
        return outputs;
    }

    @Override
    public List<Tensor> finish(Object raw) {
        ByteBuffer[] buffers = (ByteBuffer[]) raw;
        List<Tensor> result = new ArrayList<Tensor>(buffers.length);
        for (int k = 0; k < buffers.length; k++) {
            org.tensorflow.lite.Tensor out = interpreter.getOutputTensor(k);
            ByteBuffer b = buffers[k].duplicate().order(ByteOrder.nativeOrder());
            b.rewind();
            int n = out.numElements();
            long[] shape = Shapes.toLong(out.shape());
            DataType type = outputTypes[k];
            org.tensorflow.lite.Tensor.QuantizationParams q = out.quantizationParams();
            if (type == DataType.FLOAT32) {
                float[] values = new float[n];
                b.asFloatBuffer().get(values);
                result.add(Tensor.ofFloat32(shape, values));
            } else if ((type == DataType.INT8 || type == DataType.UINT8) && q.getScale() != 0) {
                byte[] bytes = new byte[n];
                b.get(bytes); // quantized: dequantized to float32, as runner.py does
                result.add(Tensor.ofFloat32(shape, type == DataType.INT8
                        ? Quant.dequantizeInt8(bytes, q.getScale(), q.getZeroPoint())
                        : Quant.dequantizeUint8(bytes, q.getScale(), q.getZeroPoint())));
            } else if (type == DataType.INT8 || type == DataType.UINT8 || type == DataType.BOOL) {
                byte[] bytes = new byte[n];
                b.get(bytes);
                DType dtype = type == DataType.INT8 ? DType.INT8 : type == DataType.UINT8 ? DType.UINT8 : DType.BOOL;
                result.add(Tensor.ofBytes8(dtype, shape, bytes));
            } else if (type == DataType.INT32 || type == DataType.INT64) {
                byte[] bytes = new byte[n * (type == DataType.INT32 ? 4 : 8)];
                ByteBuffer little = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < n; i++) {
                    if (type == DataType.INT32) {
                        little.putInt(b.getInt());
                    } else {
                        little.putLong(b.getLong());
                    }
                }
                result.add(Tensor.ofBytes(type == DataType.INT32 ? DType.INT32 : DType.INT64, shape, bytes));
            } else {
                throw new JobException("model_run", "output '" + out.name() + "' is " + type
                        + ", which the app cannot return");
            }
        }
        return result;
    }

    @Override
    public List<String> outputNames() {
        return outputNames;
    }

    /** job.runtime.profile: no table, and why (TFLite's Java API has no per-operator timing (only benchmark_model has)), instead of a guess. */
    @Override
    public Map<String, Object> profile(List<Object> feeds, File resultDir) {
        return Profiling.unavailable(Profiling.TFLITE_NO_PER_OP);
    }

    @Override
    public Map<String, Object> extra() {
        return extra;
    }

    @Override
    public void close() {
        closeInterpreter();
        closeDelegates();
    }

    private void closeInterpreter() {
        if (interpreter != null) {
            interpreter.close();
            interpreter = null;
        }
    }

    private void closeDelegates() {
        if (gpuDelegate != null) {
            gpuDelegate.close();
            gpuDelegate = null;
        }
        if (nnApiDelegate != null) {
            nnApiDelegate.close();
            nnApiDelegate = null;
        }
    }

    private static String messageOf(Throwable t) {
        String message = t.getMessage();
        if (t instanceof DelegateUnavailable) {
            return message;
        }
        return t.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }
}
