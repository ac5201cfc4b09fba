package dev.devicelab.core;

/** The tensor dtypes the protocol carries, with their item sizes; files are raw little-endian. */
public enum DType {
    FLOAT32("float32", 4),
    FLOAT16("float16", 2),
    INT8("int8", 1),
    UINT8("uint8", 1),
    INT32("int32", 4),
    INT64("int64", 8),
    BOOL("bool", 1);

    public final String jsonName;
    public final int itemSize;

    DType(String jsonName, int itemSize) {
        this.jsonName = jsonName;
        this.itemSize = itemSize;
    }

    /** The dtype named in a job or result, or null when the protocol has no such dtype. */
    public static DType fromName(String name) {
        for (DType d : values()) {
            if (d.jsonName.equals(name)) {
                return d;
            }
        }
        return null;
    }

    /** Every name, for messages: "float32, float16, ...". */
    public static String names() {
        StringBuilder out = new StringBuilder();
        for (DType d : values()) {
            if (out.length() > 0) {
                out.append(", ");
            }
            out.append(d.jsonName);
        }
        return out.toString();
    }

    @Override
    public String toString() {
        return jsonName;
    }
}
