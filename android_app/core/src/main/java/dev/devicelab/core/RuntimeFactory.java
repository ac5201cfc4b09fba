package dev.devicelab.core;

/** Creates the runtime a job asks for (job.runtime.name); throws JobException("unknown_runtime") otherwise. */
public interface RuntimeFactory {
    ModelRuntime create(Job job) throws Exception;
}
