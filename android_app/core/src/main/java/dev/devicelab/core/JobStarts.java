package dev.devicelab.core;

import java.util.HashSet;
import java.util.Set;

/**
 * Which jobs this process is measuring, and what an entry point does with a launch. An activity can be
 * created again for the same intent (a configuration change, or Android restoring it after the process was
 * killed): the job must then run exactly once, and must not be left unfinished because the new instance
 * assumed the old one was still at work.
 */
public final class JobStarts {
    /** What to do with a launch. */
    public enum Decision {
        /** No job in the launch: show how the app is driven. */
        USAGE,
        /** This process is already measuring the job: show its progress, start nothing. */
        ALREADY_RUNNING,
        /** A recreated instance whose job finished before (DONE is there): nothing left to do. */
        ALREADY_DONE,
        /** Start the job. */
        START
    }

    private final Set<String> running = new HashSet<String>();

    /** Marks {@code key} (the result folder) as running; false when it already was. */
    public synchronized boolean begin(String key) {
        return running.add(key);
    }

    public synchronized void end(String key) {
        running.remove(key);
    }

    public synchronized boolean isRunning(String key) {
        return running.contains(key);
    }

    /**
     * @param hasJob    the launch names a job
     * @param running   this process is measuring that job now
     * @param done      its result folder already holds DONE
     * @param recreated the activity is being recreated (savedInstanceState != null), not launched anew
     */
    public static Decision decide(boolean hasJob, boolean running, boolean done, boolean recreated) {
        if (!hasJob) {
            return Decision.USAGE;
        }
        if (running) {
            return Decision.ALREADY_RUNNING;
        }
        if (recreated && done) {
            return Decision.ALREADY_DONE;
        }
        return Decision.START; // a new launch, or a recreation whose job died with the old process
    }
}
