package dev.devicelab.core;

import java.io.File;

/**
 * Runs a job folder with the core (JobRunner, ProcStatusMemory, the real clock) and the fake linear model, so
 * tests/test_android_core.py can check what the core writes with the Python protocol code and schema:
 * {@code java dev.devicelab.core.WriteSampleResult <job_dir> <result_dir>}. Prints the status.
 */
public final class WriteSampleResult {
    private WriteSampleResult() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: WriteSampleResult <job_dir> <result_dir>");
            System.exit(2);
        }
        Result result = new JobRunner(TestJobs.factory(new FakeLinearRuntime(3)), new ProcStatusMemory(),
                TestJobs.device(), Clock.SYSTEM, Progress.NONE).run(new File(args[0]), new File(args[1]));
        System.out.println(result.status + (result.ok() ? "" : " " + result.errorKind + ": " + result.errorMessage));
    }
}
