package dev.devicelab.core;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;

/**
 * A stand-in for a text model with two integer inputs, as an ONNX sentence encoder has them: input_ids (int32)
 * and attention_mask (int64), each [1, T] per sample. Outputs: "masked_sum" (int64 [1, 1], the sum of ids where
 * the mask is 1, exact even above 2^24), "kept" (bool [1, T], mask != 0) and "mean_id" (float32 [1]).
 * tests/test_android_core.py computes the same in numpy.
 */
class FakeTokenRuntime implements ModelRuntime {
    @Override
    public String name() {
        return "fake-tokens";
    }

    @Override
    public String version() {
        return "fake-tokens 1.0";
    }

    @Override
    public void load(File modelFile, Job job) {
        if (job.inputs.size() != 2) {
            throw new JobException("model_run", "the model has 2 inputs; the job gives " + job.inputs.size());
        }
    }

    @Override
    public String used() {
        return "fake-tokens-cpu";
    }

    /** The feed keeps each input's own dtype: no float round trip. */
    @Override
    public Object prepare(List<Tensor> sample) {
        Tensor ids = sample.get(0);
        Tensor mask = sample.get(1);
        if (ids.dtype != DType.INT32 || mask.dtype != DType.INT64) {
            throw new JobException("model_run", "expected int32 input_ids and int64 attention_mask, got "
                    + ids.dtype + " and " + mask.dtype);
        }
        return new long[][] {ids.toLongArray(), mask.toLongArray()};
    }

    @Override
    public Object run(Object feed) {
        long[][] f = (long[][]) feed;
        long sum = 0;
        int kept = 0;
        byte[] keep = new byte[f[0].length];
        for (int i = 0; i < f[0].length; i++) {
            if (f[1][i] != 0) {
                sum += f[0][i];
                kept++;
                keep[i] = 1;
            }
        }
        return new Object[] {Long.valueOf(sum), keep, Float.valueOf(kept == 0 ? 0f : (float) sum / kept)};
    }

    @Override
    public List<Tensor> finish(Object raw) {
        Object[] r = (Object[]) raw;
        byte[] keep = (byte[]) r[1];
        ByteBuffer sum = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(((Long) r[0]).longValue());
        return Arrays.asList(Tensor.ofBytes(DType.INT64, new long[] {1, 1}, sum.array()),
                Tensor.ofBytes8(DType.BOOL, new long[] {1, keep.length}, keep),
                Tensor.ofFloat32(new long[] {1}, new float[] {((Float) r[2]).floatValue()}));
    }

    @Override
    public List<String> outputNames() {
        return Arrays.asList("masked_sum", "kept", "mean_id");
    }

    @Override
    public boolean simulated() {
        return true;
    }

    @Override
    public void close() {}
}
