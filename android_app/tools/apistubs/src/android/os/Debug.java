package android.os;

public final class Debug {
    public static long getNativeHeapAllocatedSize() { return 0; }
}
