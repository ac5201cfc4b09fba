package dev.devicelab.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;

/** Raw little-endian tensor files: read with the size check of protocol.read_tensor, write for outputs. */
public final class Tensors {
    private Tensors() {}

    /** The tensor {@code spec} names inside {@code root} (a job or result folder). */
    public static Tensor read(File root, TensorSpec spec) throws IOException {
        DType dtype = DType.fromName(spec.dtype);
        if (dtype == null) {
            throw JobException.protocol("tensor '" + spec.name + "' has dtype " + spec.dtype
                    + ", which the protocol does not carry (" + DType.names() + ")");
        }
        File file = inside(root, spec.file);
        if (!file.isFile()) {
            throw JobException.protocol("tensor file '" + spec.file + "' for '" + spec.name + "' is missing in " + root,
                    "push the whole job folder before starting the app");
        }
        long count = spec.elementCount();
        long expected = count < 0 ? -1 : count * dtype.itemSize;
        long actual = file.length();
        if (expected < 0 || actual != expected) {
            throw JobException.protocol("tensor file '" + spec.file + "' holds " + actual + " bytes; "
                            + spec.dtype + Shapes.format(spec.shape) + " needs " + expected,
                    "the file was truncated or written with another shape");
        }
        if (expected > Integer.MAX_VALUE - 16) {
            throw JobException.protocol("tensor file '" + spec.file + "' is too large (" + expected + " bytes)");
        }
        byte[] data = new byte[(int) expected];
        InputStream in = new FileInputStream(file);
        try {
            int done = 0;
            while (done < data.length) {
                int n = in.read(data, done, data.length - done);
                if (n < 0) {
                    throw JobException.protocol("tensor file '" + spec.file + "' ended after " + done + " bytes");
                }
                done += n;
            }
        } finally {
            in.close();
        }
        return Tensor.ofBytes(dtype, spec.shape, data);
    }

    /** Writes {@code tensor} to {@code root/relative} and returns the spec that names it. */
    public static TensorSpec write(File root, String relative, String name, Tensor tensor) throws IOException {
        File file = inside(root, relative);
        File parent = file.getParentFile();
        if (parent != null && !parent.isDirectory() && !parent.mkdirs()) {
            throw new IOException("cannot create " + parent);
        }
        OutputStream out = new FileOutputStream(file);
        try {
            out.write(tensor.toByteArray());
        } finally {
            out.close();
        }
        return new TensorSpec(name, tensor.dtype.jsonName, tensor.shape(), relative);
    }

    /**
     * Stacks per-sample outputs along axis 0, as runner.py's {@code np.concatenate(..., axis=0)}: [1, 10] x N
     * gives [N, 10]; scalar outputs stack to [N]. The dtype is kept (int64 token ids, bool masks and int32
     * counts come back exactly); parts of different dtypes become float32.
     */
    public static Tensor stack(List<Tensor> parts) {
        if (parts.isEmpty()) {
            throw new IllegalArgumentException("nothing to stack");
        }
        long[] first = parts.get(0).shape();
        long lead = 0;
        int total = 0;
        for (Tensor p : parts) {
            long[] s = p.shape();
            if (s.length != first.length || !sameTail(s, first)) {
                throw new JobException("model_run", "the model's output shape changed between samples: "
                        + Shapes.format(first) + " then " + Shapes.format(s));
            }
            lead += s.length == 0 ? 1 : s[0];
            total += p.elementCount();
        }
        long[] shape;
        if (first.length == 0) {
            shape = new long[] {lead};
        } else {
            shape = first.clone();
            shape[0] = lead;
        }
        DType dtype = parts.get(0).dtype;
        for (Tensor p : parts) {
            if (p.dtype != dtype) {
                dtype = null;
                break;
            }
        }
        if (dtype != null) {
            byte[] bytes = new byte[total * dtype.itemSize];
            int at = 0;
            for (Tensor p : parts) {
                byte[] b = p.toByteArray();
                System.arraycopy(b, 0, bytes, at, b.length);
                at += b.length;
            }
            return Tensor.ofBytes(dtype, shape, bytes);
        }
        float[] data = new float[total];
        int offset = 0;
        for (Tensor p : parts) {
            float[] f = p.toFloatArray();
            System.arraycopy(f, 0, data, offset, f.length);
            offset += f.length;
        }
        return Tensor.ofFloat32(shape, data);
    }

    private static boolean sameTail(long[] a, long[] b) {
        for (int i = 1; i < a.length; i++) {
            if (a[i] != b[i]) {
                return false;
            }
        }
        return true;
    }

    /** {@code root/relative}, refusing anything that resolves outside {@code root} (symlinks included). */
    public static File inside(File root, String relative) throws IOException {
        String problem = Job.relativePathProblem(relative);
        if (problem != null) {
            throw JobException.protocol("'" + relative + "' " + problem, "tensor and model files must be relative");
        }
        File rootCanonical = root.getCanonicalFile();
        File file = new File(root, relative).getCanonicalFile();
        String prefix = rootCanonical.getPath().endsWith(File.separator)
                ? rootCanonical.getPath() : rootCanonical.getPath() + File.separator;
        if (!file.getPath().startsWith(prefix)) {
            throw JobException.protocol("'" + relative + "' points outside its folder " + root,
                    "tensor and model files must be relative");
        }
        return file;
    }
}
