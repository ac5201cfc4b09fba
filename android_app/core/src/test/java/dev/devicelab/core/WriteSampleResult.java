package dev.devicelab.core;

import java.io.File;

/**
 * Runs a job folder with the core (JobRunner, ProcStatusMemory, the real clock) and a fake model (job.runtime.name
 * "fake-linear": {@link FakeLinearRuntime}; "fake-tokens": {@link FakeTokenRuntime}, two integer inputs), so
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
        RuntimeFactory factory = new RuntimeFactory() {
            @Override
            public ModelRuntime create(Job job) throws Exception {
                if (job.runtime.name.equals("fake-tokens")) {
                    return new FakeTokenRuntime();
                }
                return TestJobs.factory(new FakeLinearRuntime(3)).create(job);
            }
        };
        Result result = new JobRunner(factory, new ProcStatusMemory(), TestJobs.device(), Clock.SYSTEM,
                Progress.NONE).run(new File(args[0]), new File(args[1]));
        System.out.println(result.status + (result.ok() ? "" : " " + result.errorKind + ": " + result.errorMessage));
    }
}
