package dev.devicelab.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One tensor as the JSON documents name it: {name, dtype, shape, file}; the data lives in {@code file}. */
public final class TensorSpec {
    public final String name;
    public final String dtype;
    public final long[] shape;
    public final String file;

    public TensorSpec(String name, String dtype, long[] shape, String file) {
        this.name = name;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.file = file;
    }

    /** The number of elements, or -1 if it does not fit in a long. */
    public long elementCount() {
        return Shapes.elementCount(shape);
    }

    public Map<String, Object> toJson() {
        Map<String, Object> doc = new LinkedHashMap<String, Object>();
        doc.put("name", name);
        doc.put("dtype", dtype);
        List<Object> dims = new ArrayList<Object>();
        for (long d : shape) {
            dims.add(Long.valueOf(d));
        }
        doc.put("shape", dims);
        doc.put("file", file);
        return doc;
    }

    @Override
    public String toString() {
        return name + ": " + dtype + Shapes.format(shape) + " in " + file;
    }
}
