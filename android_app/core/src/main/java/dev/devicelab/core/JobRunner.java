package dev.devicelab.core;

import java.io.File;
import java.io.IOException;
import java.util.Map;

/**
 * Runs one job folder and writes its result folder, whatever happens: the twin of runner.run_job. Any
 * failure becomes an error result ({@link JobException} gives its kind, anything else is
 * "runtime_failure"), and DONE is always written last, so the host never has to guess.
 */
public final class JobRunner {
    private final RuntimeFactory factory;
    private final MemoryProbe memory;
    private final Map<String, Object> device;
    private final Clock clock;
    private final Progress progress;

    public JobRunner(RuntimeFactory factory, MemoryProbe memory, Map<String, Object> device, Clock clock,
                     Progress progress) {
        this.factory = factory;
        this.memory = memory;
        this.device = device;
        this.clock = clock;
        this.progress = progress;
    }

    /**
     * Measures the job in {@code jobDir} and writes {@code resultDir}. Throws IOException only when the
     * result folder itself cannot be written (then there is no way to answer the host).
     */
    public Result run(File jobDir, File resultDir) throws IOException {
        ResultWriter.prepare(resultDir);
        Result result = new Result(jobDir.getName(), device);
        ModelRuntime runtime = null;
        try {
            Job job = Job.read(jobDir);
            result.jobId = job.id;
            result.extra.put("threads", Integer.valueOf(job.runtime.threadsOrDefault()));
            result.extra.put("delegate_requested", job.runtime.delegate);
            runtime = factory.create(job);
            new MeasurementLoop(clock, memory, progress).measure(job, jobDir, resultDir, runtime, result);
        } catch (JobException e) {
            result.fail(e.kind, e.getMessage(), e.hint);
        } catch (Throwable t) { // native failures (UnsatisfiedLinkError, OOM) must still reach the host
            result.fail("runtime_failure", describe(t), null);
        } finally {
            if (runtime != null) {
                try {
                    result.extra.putAll(runtime.extra());
                } catch (Throwable ignored) {
                    // extra facts are a courtesy; never lose the result over them
                }
                try {
                    runtime.close();
                } catch (Throwable ignored) {
                    // closing after a failure may fail again; the result already says what went wrong
                }
            }
        }
        ResultWriter.write(resultDir, result);
        return result;
    }

    /** "IllegalStateException: message" (the simple class name, as runner.py uses type(exc).__name__). */
    public static String describe(Throwable t) {
        String message = t.getMessage();
        String text = t.getClass().getSimpleName() + (message == null ? "" : ": " + message);
        return text.length() > Result.MAX_MESSAGE ? text.substring(0, Result.MAX_MESSAGE) : text;
    }
}
