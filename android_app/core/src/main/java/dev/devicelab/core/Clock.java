package dev.devicelab.core;

/** A monotonic nanosecond clock; {@link #SYSTEM} is System.nanoTime, tests pass a fake one. */
public interface Clock {
    long nanoTime();

    Clock SYSTEM = new Clock() {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }
    };
}
