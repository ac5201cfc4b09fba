package dev.devicelab.core;

/** A clock that only moves when told to: timings in tests are exact. */
final class FakeClock implements Clock {
    long now = 1000000000L;

    @Override
    public long nanoTime() {
        return now;
    }

    void advanceMs(double ms) {
        now += Math.round(ms * 1e6);
    }
}
