package dev.devicelab.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Arrays;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class TensorsTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private File root() throws IOException {
        return tmp.getRoot();
    }

    private void writeBytes(String relative, byte[] bytes) throws IOException {
        File file = new File(root(), relative);
        file.getParentFile().mkdirs();
        OutputStream out = new FileOutputStream(file);
        out.write(bytes);
        out.close();
    }

    private byte[] readBytes(String relative) throws IOException {
        return Tensors.read(root(), new TensorSpec("raw", "uint8",
                new long[] {new File(root(), relative).length()}, relative)).toByteArray();
    }

    @Test
    public void float32IsWrittenLittleEndian() throws IOException {
        TensorSpec spec = Tensors.write(root(), "outputs/output_0.bin", "y",
                Tensor.ofFloat32(new long[] {1, 2}, new float[] {1.0f, -2.0f}));
        assertEquals("float32", spec.dtype);
        assertArrayEquals(new long[] {1, 2}, spec.shape);
        assertArrayEquals(new byte[] {0, 0, (byte) 0x80, 0x3f, 0, 0, 0, (byte) 0xc0},
                readBytes("outputs/output_0.bin"));
    }

    @Test
    public void everyIntegerDtypeReadsLittleEndian() throws IOException {
        writeBytes("i32.bin", new byte[] {1, 0, 0, 0, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff});
        Tensor i32 = Tensors.read(root(), new TensorSpec("a", "int32", new long[] {2}, "i32.bin"));
        assertArrayEquals(new float[] {1f, -1f}, i32.toFloatArray(), 0f);
        assertArrayEquals(new long[] {1, -1}, i32.toLongArray());

        writeBytes("i64.bin", new byte[] {0, 1, 0, 0, 0, 0, 0, 0, (byte) 0xfe, (byte) 0xff, (byte) 0xff, (byte) 0xff,
            (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff});
        Tensor i64 = Tensors.read(root(), new TensorSpec("b", "int64", new long[] {2}, "i64.bin"));
        assertArrayEquals(new long[] {256, -2}, i64.toLongArray());

        writeBytes("i8.bin", new byte[] {(byte) 0x80, 127, (byte) 0xff});
        assertArrayEquals(new float[] {-128f, 127f, -1f},
                Tensors.read(root(), new TensorSpec("c", "int8", new long[] {3}, "i8.bin")).toFloatArray(), 0f);
        assertArrayEquals(new float[] {128f, 127f, 255f},
                Tensors.read(root(), new TensorSpec("d", "uint8", new long[] {3}, "i8.bin")).toFloatArray(), 0f);
        assertArrayEquals(new float[] {128f, 127f, 255f},
                Tensors.read(root(), new TensorSpec("e", "bool", new long[] {3}, "i8.bin")).toFloatArray(), 0f);
    }

    @Test
    public void float16IsReadAndWidened() throws IOException {
        // 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), +inf, 0.5
        writeBytes("h.bin", new byte[] {0x00, 0x3c, 0x00, (byte) 0xc0, (byte) 0xff, 0x7b, 0x01, 0x00, 0x00, 0x7c,
            0x00, 0x38});
        float[] f = Tensors.read(root(), new TensorSpec("h", "float16", new long[] {6}, "h.bin")).toFloatArray();
        assertArrayEquals(new float[] {1f, -2f, 65504f, (float) Math.pow(2, -24), Float.POSITIVE_INFINITY, 0.5f},
                f, 0f);
        assertTrue(Float.isNaN(Tensor.halfToFloat((short) 0x7e00)));
    }

    @Test
    public void roundTripsEveryWritableDtype() throws IOException {
        Tensor[] tensors = {
            Tensor.ofFloat32(new long[] {2, 2}, new float[] {0.5f, -1.25f, 3e-8f, 1e30f}),
            Tensor.ofInt32(new long[] {3}, new int[] {Integer.MIN_VALUE, 0, Integer.MAX_VALUE}),
            Tensor.ofInt64(new long[] {2}, new long[] {Long.MIN_VALUE, Long.MAX_VALUE}),
            Tensor.ofBytes8(DType.INT8, new long[] {2}, new byte[] {-128, 127}),
            Tensor.ofBytes8(DType.UINT8, new long[] {2}, new byte[] {0, (byte) 255}),
        };
        for (int k = 0; k < tensors.length; k++) {
            TensorSpec spec = Tensors.write(root(), "t" + k + ".bin", "t" + k, tensors[k]);
            Tensor back = Tensors.read(root(), spec);
            assertEquals(tensors[k].dtype, back.dtype);
            assertArrayEquals(tensors[k].shape(), back.shape());
            assertArrayEquals(tensors[k].toByteArray(), back.toByteArray());
        }
    }

    @Test
    public void aTruncatedFileIsRefusedLikeProtocolReadTensor() throws IOException {
        writeBytes("x.bin", new byte[20]);
        try {
            Tensors.read(root(), new TensorSpec("x", "float32", new long[] {2, 3}, "x.bin"));
            fail();
        } catch (JobException e) {
            assertEquals("protocol", e.kind);
            assertEquals("tensor file 'x.bin' holds 20 bytes; float32[2, 3] needs 24", e.getMessage());
            assertEquals("the file was truncated or written with another shape", e.hint);
        }
        writeBytes("long.bin", new byte[28]);
        try {
            Tensors.read(root(), new TensorSpec("x", "float32", new long[] {2, 3}, "long.bin"));
            fail();
        } catch (JobException e) {
            assertTrue(e.getMessage().contains("holds 28 bytes"));
        }
    }

    @Test
    public void aMissingFileIsNamed() throws IOException {
        try {
            Tensors.read(root(), new TensorSpec("x", "float32", new long[] {1}, "inputs/none.bin"));
            fail();
        } catch (JobException e) {
            assertEquals("protocol", e.kind);
            assertTrue(e.getMessage().startsWith("tensor file 'inputs/none.bin' for 'x' is missing in "));
        }
    }

    @Test
    public void pathsOutsideTheFolderAreRefused() throws IOException {
        File outside = tmp.newFile("outside.bin");
        File job = tmp.newFolder("job");
        for (String path : Arrays.asList("../outside.bin", outside.getAbsolutePath())) {
            try {
                Tensors.read(job, new TensorSpec("x", "uint8", new long[] {0}, path));
                fail(path);
            } catch (JobException e) {
                assertEquals("protocol", e.kind);
            }
        }
    }

    @Test
    public void samplesKeepABatchOfOne() {
        Tensor x = Tensor.ofFloat32(new long[] {3, 2}, new float[] {1, 2, 3, 4, 5, 6});
        Tensor s1 = x.sample(1);
        assertArrayEquals(new long[] {1, 2}, s1.shape());
        assertArrayEquals(new float[] {3, 4}, s1.toFloatArray(), 0f);
    }

    @Test
    public void stackingConcatenatesAlongAxis0() {
        Tensor a = Tensor.ofFloat32(new long[] {1, 2}, new float[] {1, 2});
        Tensor b = Tensor.ofFloat32(new long[] {1, 2}, new float[] {3, 4});
        Tensor stacked = Tensors.stack(Arrays.asList(a, b));
        assertArrayEquals(new long[] {2, 2}, stacked.shape());
        assertArrayEquals(new float[] {1, 2, 3, 4}, stacked.toFloatArray(), 0f);
        Tensor s = Tensor.ofFloat32(new long[] {}, new float[] {7});
        assertArrayEquals(new long[] {2}, Tensors.stack(Arrays.asList(s, s)).shape());
        try {
            Tensors.stack(Arrays.asList(a, Tensor.ofFloat32(new long[] {1, 3}, new float[] {1, 2, 3})));
            fail();
        } catch (JobException e) {
            assertEquals("model_run", e.kind);
        }
    }

    /** Issue 11: integer tensors go through files and stacking exactly, whatever their size. */
    @Test
    public void int32AndInt64TensorsRoundTripExactly() throws Exception {
        File root = tmp.newFolder();
        long big = (1L << 40) + 3; // not representable as float32
        Tensor ids = Tensor.ofInt64(new long[] {2, 3}, new long[] {big, -1, 0, 7, Long.MAX_VALUE, Long.MIN_VALUE});
        TensorSpec spec = Tensors.write(root, "inputs/input_ids.bin", "input_ids", ids);
        assertEquals("int64", spec.dtype);
        Tensor back = Tensors.read(root, spec);
        assertEquals(DType.INT64, back.dtype);
        assertArrayEquals(new long[] {big, -1, 0, 7, Long.MAX_VALUE, Long.MIN_VALUE}, back.toLongArray());
        assertArrayEquals(new long[] {big, -1, 0}, back.sample(0).toLongArray());

        Tensor counts = Tensor.ofInt32(new long[] {1, 2}, new int[] {16777217, -5});
        Tensor stacked = Tensors.stack(Arrays.asList(counts, Tensor.ofInt32(new long[] {1, 2}, new int[] {1, 2})));
        assertEquals(DType.INT32, stacked.dtype);
        assertArrayEquals(new long[] {2, 2}, stacked.shape());
        assertArrayEquals(new long[] {16777217, -5, 1, 2}, stacked.toLongArray());
        TensorSpec out = Tensors.write(root, "outputs/output_0.bin", "counts", stacked);
        assertEquals("int32", out.dtype);
        assertEquals(16, new File(root, "outputs/output_0.bin").length());

        Tensor longs = Tensors.stack(Arrays.asList(back.sample(0), back.sample(1)));
        assertEquals(DType.INT64, longs.dtype);
        assertArrayEquals(back.toLongArray(), longs.toLongArray());
        // Mixed dtypes cannot be kept: float32, as before.
        assertEquals(DType.FLOAT32, Tensors.stack(Arrays.asList(counts,
                Tensor.ofFloat32(new long[] {1, 2}, new float[] {1, 2}))).dtype);
    }

    @Test
    public void inputsConvertToWhatTheModelTakes() {
        Tensor ids = Tensor.ofInt64(new long[] {1, 3}, new long[] {1, 70000, -2});
        assertArrayEquals(Tensor.ofInt32(new long[] {1, 3}, new int[] {1, 70000, -2}).toByteArray(),
                ids.toInt32Bytes());
        assertArrayEquals(ids.toByteArray(), Tensor.ofInt32(new long[] {1, 3}, new int[] {1, 70000, -2})
                .toInt64Bytes());
        assertArrayEquals(new byte[] {1, 0, 1}, Tensor.ofFloat32(new long[] {3}, new float[] {2.5f, 0f, -1f})
                .toBytes8(DType.BOOL));
        byte[] half = Tensor.ofFloat32(new long[] {6}, new float[] {1f, 65504f, 0.1f, -2f, 1e-7f, 1e6f})
                .toFloat16Bytes();
        short[] bits = new short[6];
        java.nio.ByteBuffer.wrap(half).order(java.nio.ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(bits);
        // numpy: np.array([1, 65504, 0.1, -2, 1e-7, 1e6], np.float32).astype(np.float16).view(np.uint16)
        assertArrayEquals(new short[] {0x3c00, 0x7bff, 0x2e66, (short) 0xc000, 0x0002, 0x7c00}, bits);
    }
}
