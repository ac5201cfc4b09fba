package dev.devicelab.core;

/**
 * Where the measurement reports how far it got: (phase, done, total). Called at most every 0.2 s during
 * the accuracy and performance phases and never inside a timed region, as runner.py's _Ticker.
 */
public interface Progress {
    void update(String phase, int done, int total);

    Progress NONE = new Progress() {
        @Override
        public void update(String phase, int done, int total) {}
    };
}
